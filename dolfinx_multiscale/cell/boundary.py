"""The three RVE boundary conditions on the fluctuation field ``w``.

Each condition is expressed as a linear map from a *reduced* set of unknowns to the full
finite element vector, ``w = P w̃`` (the design's prolongation matrix; no dolfinx_mpc):

* :func:`kubc` — kinematically uniform: ``w = 0`` on ∂Y. ``P`` drops the boundary dofs.
* :func:`periodic` — ``w`` periodic: a dof on a high face (``x_i = max``) is the copy
  of its image on the low face (edges and corners map to the lowest corner); one node
  is pinned to remove the rigid translation.
* :func:`subc` — statically uniform, in its *minimal kinematic* form: the only
  constraint is ``⟨ε(w)⟩ = 0`` (``⟨∇w⟩ = 0`` for conduction), imposed by Lagrange
  multipliers that equal the macro stress; the Euler–Lagrange equations give the
  uniform traction ``t = Σ·n`` on ∂Y. ``P`` only pins the rigid modes (3 dofs in 2-D,
  6 in 3-D, 1 for conduction) so that the Neumann operator is invertible; a
  self-equilibrated load has no reaction there, so the pins change nothing.

The solver (:mod:`~dolfinx_multiscale.cell.solver`) solves ``Pᵀ K P w̃ = Pᵀ f``, with
``Pᵀ K P`` assembled through :attr:`CellConstraint.reduced_index` (equal to
``K.ptap(P)``, without a PETSc matrix of the full space: from the entries of a local
``K``, or the element matrices straight into the reduced matrix), and, for SUBC, adds
the average-strain constraint by a Schur complement.
The reduced unknowns are numbered node by node, rank by rank, so results do not depend
on the number of MPI ranks.
"""

from __future__ import annotations

import dataclasses

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
from scipy.spatial import cKDTree

import dolfinx.fem

from ..errors import NotPeriodicError

__all__ = ["BOUNDARY_CONDITIONS", "CellConstraint", "kubc", "periodic", "subc"]

_FACE_TOL = 1e-8  # relative to the cell size: a node closer than this to a face is on it


@dataclasses.dataclass
class CellConstraint:
    """A boundary condition of the cell problem as a prolongation ``w = P w̃``.

    Attributes:
        kind: ``"kubc"``, ``"periodic"`` or ``"subc"``.
        P: PETSc AIJ matrix, ``(n_full, n_reduced)``, entries 0/1, one per row at most.
        average_constraint: ``True`` for SUBC: ``⟨B(w)⟩ = 0`` must be added by multipliers.
        periodicity_error: worst node mismatch across opposite faces relative to the
            cell size (periodic only, else 0).
        reduced_index: ``(n_owned * bs,)`` int64: the global reduced index of every
            owned dof (``-1``: removed, i.e. fixed to 0), the column of its entry in
            ``P``; ``K̃ = Pᵀ K P`` is assembled with it straight from ``K``'s entries.
        block_size: the space's block size when every node keeps all or none of its
            components in the reduced space (so ``K̃`` keeps the node blocks), else 1.
    """

    kind: str
    P: PETSc.Mat
    average_constraint: bool
    reduced_index: np.ndarray
    periodicity_error: float = 0.0
    block_size: int = 1

    @property
    def n_reduced(self) -> int:
        """Global number of reduced unknowns."""
        return self.P.getSize()[1]


def _owned_nodes(V: dolfinx.fem.FunctionSpace, box) -> tuple[np.ndarray, float]:
    """Coordinates ``(n_owned, d)`` of the owned dof nodes and the largest cell length."""
    d = V.mesh.geometry.dim
    n_own = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:n_own, :d]
    lo, hi = (np.asarray(b, dtype=float)[:d] for b in box)
    return x, float((hi - lo).max())


def _nearest_global(comm: MPI.Comm, x: np.ndarray, point: np.ndarray, candidates: np.ndarray) -> int:
    """Local index of the node nearest to ``point`` among ``candidates`` if this rank owns
    the globally nearest one (ties: lowest rank), else -1. Collective."""
    idx = np.flatnonzero(candidates)
    if idx.size:
        dist = np.linalg.norm(x[idx] - point, axis=1)
        k = int(np.argmin(dist))
        best = (float(dist[k]), comm.rank)
    else:
        k, best = -1, (np.inf, comm.rank)
    winner = comm.allreduce(best, op=MPI.MINLOC)[1]
    return int(idx[k]) if winner == comm.rank and idx.size else -1


def _build(V, kind: str, zero: np.ndarray, L: float, average: bool,
           periodic_images: tuple[np.ndarray, np.ndarray] | None = None) -> CellConstraint:
    """Number the free dofs node by node and assemble ``P``.

    Args:
        zero: ``(n_owned, bs)`` bool, dofs fixed to 0.
        L: largest cell length (for the relative mismatch).
        periodic_images: for periodic BCs, ``(canon, candidate)``: the ``(n_owned, d)``
            low-face image of every node (itself unless it lies on a high face) and the
            ``(n_owned,)`` mask of the nodes that may serve as images (non-slaves on a
            low face).
    """
    comm = V.mesh.comm
    bs = V.dofmap.index_map_bs
    imap = V.dofmap.index_map
    n_own = imap.size_local
    d = V.mesh.geometry.dim
    x = V.tabulate_dof_coordinates()[:n_own, :d]
    slave = np.zeros(n_own, dtype=bool)
    if periodic_images is not None:
        canon, candidate = periodic_images
        slave = np.any(canon != x, axis=1)
    free = ~zero & ~slave[:, None]
    n_free = int(free.sum())
    offset = comm.exscan(n_free) or 0
    n_red = comm.allreduce(n_free)
    red = np.full((n_own, bs), -1, dtype=np.int64)
    red[free] = offset + np.arange(n_free)

    worst = 0.0
    if periodic_images is not None:
        masters = _gather_rows(comm, np.hstack([x[candidate], red[candidate]]))
        if slave.any():
            if masters.shape[0] == 0:
                dist, j = np.full(int(slave.sum()), np.inf), np.zeros(int(slave.sum()), int)
            else:
                dist, j = cKDTree(masters[:, :d]).query(canon[slave])
            worst = float(dist.max()) / L
            red[slave] = masters[j, d:].astype(np.int64)
        worst = comm.allreduce(worst, op=MPI.MAX)
        if worst > 1e-6:
            raise NotPeriodicError(
                f"mesh is not periodic: a node on a high face is {worst:.3e} (relative to the "
                f"cell size {L:g}) away from its nearest image on the opposite face; "
                "use bc='kubc' or 'subc', or a periodic mesh (gmsh setPeriodic)")

    cols = red.reshape(-1)
    keep = cols >= 0
    indptr = np.concatenate([[0], np.cumsum(keep)]).astype(PETSc.IntType)
    P = PETSc.Mat().createAIJ(((n_own * bs, PETSc.DETERMINE), (n_free, n_red)), comm=comm,
                              csr=(indptr, cols[keep].astype(PETSc.IntType),
                                   np.ones(int(keep.sum()))))
    P.assemble()
    whole_nodes = comm.allreduce(bool(np.all(free == free[:, :1])), op=MPI.LAND)
    return CellConstraint(kind, P, average, cols, worst, bs if whole_nodes else 1)


def _gather_rows(comm: MPI.Comm, a: np.ndarray) -> np.ndarray:
    """Concatenate the rows of ``a`` (float, 2-D) from all ranks, in rank order."""
    parts = comm.allgather(np.ascontiguousarray(a, dtype=float))
    return np.vstack(parts)


def _on_faces(x: np.ndarray, box, L: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(n, d)`` arrays: node on the low / high face of each axis."""
    d = x.shape[1]
    lo, hi = (np.asarray(b, dtype=float)[:d] for b in box)
    return np.abs(x - lo) < tol * L, np.abs(x - hi) < tol * L


def kubc(V: dolfinx.fem.FunctionSpace, box) -> CellConstraint:
    """Kinematically uniform BC: ``w = 0`` on every face of the box ``box = (lo, hi)``."""
    x, L = _owned_nodes(V, box)
    low, high = _on_faces(x, box, L, _FACE_TOL)
    on_boundary = (low | high).any(axis=1)
    zero = np.repeat(on_boundary[:, None], V.dofmap.index_map_bs, axis=1)
    return _build(V, "kubc", zero, L, False)


def periodic(V: dolfinx.fem.FunctionSpace, box) -> CellConstraint:
    """Periodic fluctuation: ``w(x + L_i e_i) = w(x)``; one corner node pinned.

    Raises:
        NotPeriodicError: a node on a high face has no image on the low face (the
            message gives the worst mismatch relative to the cell size).
    """
    x, L = _owned_nodes(V, box)
    d = x.shape[1]
    lo, hi = (np.asarray(b, dtype=float)[:d] for b in box)
    low, high = _on_faces(x, box, L, _FACE_TOL)
    canon = np.where(high, lo, x)
    slave = high.any(axis=1)
    pin = _nearest_global(V.mesh.comm, x, lo, ~slave)
    zero = np.zeros((x.shape[0], V.dofmap.index_map_bs), dtype=bool)
    if pin >= 0:
        zero[pin] = True
    return _build(V, "periodic", zero, L, False, (canon, low.any(axis=1) & ~slave))


def subc(V: dolfinx.fem.FunctionSpace, box) -> CellConstraint:
    """Statically uniform BC (minimal kinematic form, ``⟨B(w)⟩ = 0``); rigid modes pinned.

    Pins (elasticity): every component of the node nearest the low corner ``A``; in 2-D
    ``w_y`` of the node nearest ``A + L_x e_x``; in 3-D ``w_y, w_z`` there and ``w_z`` of
    the node nearest ``A + L_y e_y``. Conduction (one component): the node nearest ``A``.
    """
    x, L = _owned_nodes(V, box)
    d = x.shape[1]
    bs = V.dofmap.index_map_bs
    lo, hi = (np.asarray(b, dtype=float)[:d] for b in box)
    zero = np.zeros((x.shape[0], bs), dtype=bool)
    everywhere = np.ones(x.shape[0], dtype=bool)
    pins = [(lo, list(range(bs)))]
    if bs > 1:
        ex = lo.copy()
        ex[0] = hi[0]
        pins.append((ex, list(range(1, bs))))
        if d == 3:
            ey = lo.copy()
            ey[1] = hi[1]
            pins.append((ey, [2]))
    for point, comps in pins:
        k = _nearest_global(V.mesh.comm, x, point, everywhere)
        if k >= 0:
            zero[k, comps] = True
    return _build(V, "subc", zero, L, True)


BOUNDARY_CONDITIONS = {"kubc": kubc, "periodic": periodic, "subc": subc}
