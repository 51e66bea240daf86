"""FE²: an RVE solved at every macro quadrature point.

:class:`FE2Material` is a :class:`~dolfinx_multiscale.quadrature.QuadratureMaterial`
whose point response is the homogenized RVE response (downscaling ``E`` → cell problem
→ upscaling ``Σ = ⟨σ⟩`` and the condensed consistent tangent ``∂Σ/∂E``). One RVE
workspace is built per rank on ``MPI.COMM_SELF`` (compiled forms, sparsity pattern and
factorization reused by every point); each rank solves the points of the cells it owns.

* A linear RVE is factorized once: ``Σ = C_eff E`` at every point, vectorised.
* An inelastic RVE keeps every point's history (fluctuation dofs and micro internal
  variables) in stacked arrays; :meth:`~FE2Material.update` solves each point from its
  committed state, :meth:`~FE2Material.commit` accepts the trial states.

Thermodynamic bookkeeping per point and converged step (Clausius–Duhem, Hill–Mandel in
increments): the macro work ``Σ_{n+1}:ΔE``, the micro work ``⟨σ_{n+1}:Δε⟩`` (equal by
Hill–Mandel), the change of stored energy ``Δψ̄`` and the intrinsic micro dissipation
``⟨D⟩ ≥ 0``. ``Σ:ΔE − Δψ̄ − ⟨D⟩ ≥ 0`` is the backward-Euler algorithmic dissipation,
``O(ΔE²)``.

Load balance: each rank solves the points of its own cells, and inelastic points cost
several times more than elastic ones, so a partition into compact halves is unbalanced
when plasticity localizes (near a clamp, a notch). :func:`cyclic_partitioner` deals many
small compact blocks to the ranks round-robin, so every rank gets a share of every region.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import numpy.typing as npt

from .quadrature import QuadratureMaterial
from ..errors import RVEConvergenceError

__all__ = ["FE2Material", "cyclic_partitioner"]

_log = logging.getLogger(__name__)


def cyclic_partitioner(blocks_per_rank: int = 8, ghost_mode=None):
    """A macro-mesh cell partitioner that balances localized FE² work over the ranks.

    The mesh's dual graph is partitioned (DOLFINx's default graph partitioner) into
    ``blocks_per_rank × n_ranks`` compact blocks, and block ``b`` goes to rank
    ``b mod n_ranks``. Every rank then owns blocks spread over the whole domain, so a
    region where the RVEs are expensive (plastic) is shared by all ranks instead of
    landing on one. The price is more ghost cells and halo communication in the macro
    solve, which is cheap next to the RVE solves.

    Args:
        blocks_per_rank: blocks per rank (1 gives DOLFINx's default partition).
        ghost_mode: a :class:`dolfinx.mesh.GhostMode` (default ``shared_facet``, like
            :func:`dolfinx.mesh.create_rectangle`).

    Returns:
        A ``partitioner`` for :func:`dolfinx.mesh.create_mesh`,
        :func:`~dolfinx.mesh.create_rectangle` or :func:`~dolfinx.mesh.create_box`.

    Example::

        mesh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [[0, 0], [2, 1]], [40, 20],
                                             partitioner=cyclic_partitioner())
    """
    import dolfinx.graph
    import dolfinx.mesh

    if not isinstance(blocks_per_rank, int) or blocks_per_rank < 1:
        raise ValueError(f"blocks_per_rank must be an integer >= 1; got {blocks_per_rank!r}")
    mode = dolfinx.mesh.GhostMode.shared_facet if ghost_mode is None else ghost_mode
    graph_partitioner = dolfinx.mesh.create_cell_partitioner(mode, 2)

    def partition(comm, n_parts, cell_types, cells):
        blocks = graph_partitioner(comm, n_parts * blocks_per_rank, cell_types, cells)
        dest, offsets = blocks.array % n_parts, blocks.offsets
        n = offsets.size - 1
        # per cell: the owner first, then its ghost ranks, each once and not the owner
        cell = np.repeat(np.arange(n), np.diff(offsets))
        owner = dest[offsets[:-1]]
        ghost = np.ones(dest.size, dtype=bool)
        ghost[offsets[:-1]] = False
        ghost &= dest != owner[cell]
        pairs = np.unique(np.column_stack([cell[ghost], dest[ghost]]), axis=0).reshape(-1, 2)
        out_cell = np.concatenate([np.arange(n), pairs[:, 0]])
        out_rank = np.concatenate([owner, pairs[:, 1]])
        order = np.lexsort((np.arange(out_cell.size) >= n, out_cell))  # by cell, owner first
        out_offsets = np.concatenate([[0], np.cumsum(np.bincount(out_cell, minlength=n))])
        return dolfinx.graph.adjacencylist(out_rank[order].astype(np.int32),
                                           out_offsets.astype(np.int32))._cpp_object

    return partition


def _stack(state: dict, n: int) -> dict:
    """Stacked copies (leading axis n) of a nested dict of arrays."""
    return {k: _stack(v, n) if isinstance(v, dict) else np.repeat(np.asarray(v)[None], n, axis=0)
            for k, v in state.items()}


def _view(stacked: dict, i: int) -> dict:
    return {k: _view(v, i) if isinstance(v, dict) else v[i] for k, v in stacked.items()}


def _store(stacked: dict, i: int, state: dict) -> None:
    for k, v in stacked.items():
        if isinstance(v, dict):
            _store(v, i, state[k])
        else:
            v[i] = state[k]


class FE2Material(QuadratureMaterial):
    """An FE² material: the RVE's homogenized response at every macro quadrature point.

    Args:
        rve: the :class:`~dolfinx_multiscale.rve.RVE` prototype; its mesh must live on
            ``MPI.COMM_SELF`` (every rank owns one workspace). Its committed state is
            the initial state of every point.
        mesh: the macro mesh (same dimension as the RVE; 2-D is plane strain).
        quadrature_degree: 1 for P1 macro displacements, 2 for P2.
        subdomain: ``(cell_tags, tag)`` to use the material on some cells only.

    Attributes:
        micro_iterations: micro Newton iterations of the last update, per point ``(N,)``.
        sigma33: plane strain (2-D): the upscaled out-of-plane stress ``⟨σ33⟩`` of the
            last update, per point ``(N,)``.
        solves: number of RVE solves done by this rank (all updates).
    """

    def __init__(self, rve, mesh, quadrature_degree: int = 1, subdomain=None):
        if rve.comm.size != 1:
            raise ValueError("the RVE prototype must live on MPI.COMM_SELF: each rank solves its own points")
        if rve.physics != "elasticity":
            raise ValueError(f"FE2Material needs an elasticity RVE; got {rve.physics!r}")
        super().__init__(mesh, quadrature_degree, subdomain)
        if rve.dim != self.dim:
            raise ValueError(f"RVE is {rve.dim}-D but the macro mesh is {self.dim}-D")
        self.rve = rve
        self.solves = 0
        N = self.n_points
        self.micro_iterations = np.zeros(N, dtype=np.int64)
        self.sigma33 = np.zeros(N)
        if rve.is_linear:
            self.C_eff = rve.effective_tensor()
            # plane strain: Σ33 = c33 · E, from the unit macro strains (factorization reused)
            self._c33 = np.array([(rve.solve(e, tangent=False), rve.average_sigma33())[1]
                                  for e in np.eye(self.n)]) if self.dim == 2 else None
            return
        init = {k: v for k, v in rve.committed_state.items() if k in ("E", "w", "phases")}
        self._committed = _stack(init, N)
        self._trial = _stack(init, N)
        zeros = np.zeros(N)
        self.psi_committed = zeros.copy()
        self.stress_committed = np.zeros((N, self.n))
        self.strain_committed = np.zeros((N, self.n))
        self.psi, self.dissipation, self.micro_work = zeros.copy(), zeros.copy(), zeros.copy()

    def _respond(self, strain):
        N = len(strain)
        if self.rve.is_linear:
            self.solves += N
            if self._c33 is not None:
                self.sigma33 = strain @ self._c33
            return strain @ self.C_eff.T, np.broadcast_to(self.C_eff, (N, self.n, self.n)).copy()
        rve = self.rve
        sigma = np.empty((N, self.n))
        tangent = np.empty((N, self.n, self.n))
        t0 = time.perf_counter()
        for i in range(N):
            rve.committed_state = _view(self._committed, i)
            try:
                sigma[i], tangent[i] = rve.solve(strain[i])
            except RVEConvergenceError as exc:
                x = self._point_coordinates(i)
                raise RVEConvergenceError(f"RVE at macro point {i} (x = {np.round(x, 6).tolist()}, cell "
                                          f"{self.cells[i // self.n_per_cell]}), macro strain "
                                          f"{strain[i].tolist()}: {exc}", exc.E, exc.residuals) from exc
            self.micro_iterations[i] = rve.newton_iterations
            trial = rve._trial
            _store(self._trial, i, trial)
            self.psi[i] = rve.free_energy()
            if self.dim == 2:
                self.sigma33[i] = rve.average_sigma33()
            self.dissipation[i] = rve.step_dissipation()
            self.micro_work[i] = rve.incremental_work()
        self.solves += N
        _log.info("    FE2 update: %d RVE solves on this rank, %d micro Newton iterations, %.2f s", N,
                  int(self.micro_iterations.sum()), time.perf_counter() - t0)
        return sigma, tangent

    def _point_coordinates(self, i: int) -> npt.NDArray[np.float64]:
        import dolfinx.mesh

        cell = self.cells[i // self.n_per_cell]
        return dolfinx.mesh.compute_midpoints(self.mesh, self.dim, np.array([cell], dtype=np.int32))[0]

    def commit(self) -> None:
        """Accept every point's trial state (the macro step converged)."""
        if self.rve.is_linear:
            return
        self._committed, self._trial = self._trial, self._committed
        self.step_energy = {
            "macro_work": np.einsum("pi,pi->p", self.stress_values, self.strain - self.strain_committed),
            "micro_work": self.micro_work.copy(),
            "delta_psi": self.psi - self.psi_committed,
            "dissipation": self.dissipation.copy(),
        }
        self.psi_committed = self.psi.copy()
        self.stress_committed = self.stress_values.copy()
        self.strain_committed = self.strain.copy()

    def rollback(self) -> None:
        """Nothing to undo: the next update starts again from the committed states."""

    def rve_at(self, i: int):
        """The RVE workspace holding point ``i``'s committed state and fields.

        Re-solves the point at its committed macro strain (already converged: no
        iterations), so ``rve.w``, ``rve.cell_fields()``, :func:`~dolfinx_multiscale.viz.plot_rve`
        and :meth:`write_rve` show that point. Local to this rank (``i < n_points``).
        """
        if not 0 <= i < self.n_points:
            raise ValueError(f"point index must be in [0, {self.n_points}); got {i}")
        rve = self.rve
        if rve.is_linear:
            rve.solve(self.strain[i], tangent=False)
            return rve
        rve.committed_state = _view(self._committed, i)
        rve.solve(self._committed["E"][i], tangent=False)
        return rve

    def write_rve(self, i: int, path) -> None:
        """Write point ``i``'s RVE fluctuation, stress and equivalent plastic strain (cell
        averages) to a VTX (ADIOS2 ``.bp``) folder. Local to this rank."""
        import dolfinx.fem
        import dolfinx.io

        rve = self.rve_at(i)
        fields = rve.cell_fields()
        W = dolfinx.fem.functionspace(rve.mesh, ("DG", 0, (rve.n,)))
        stress = dolfinx.fem.Function(W, name="stress")
        stress.x.array[:] = fields["stress"].reshape(-1)
        out = [stress]
        if "p" in fields:
            P = dolfinx.fem.functionspace(rve.mesh, ("DG", 0))
            p = dolfinx.fem.Function(P, name="p")
            p.x.array[:] = fields["p"]
            out.append(p)
        V1 = dolfinx.fem.functionspace(rve.mesh, ("Lagrange", 1, rve.w.ufl_shape))
        w = dolfinx.fem.Function(V1, name="fluctuation")
        w.interpolate(rve.w)
        with dolfinx.io.VTXWriter(rve.mesh.comm, str(path), [w]) as vtx:
            vtx.write(0.0)
        with dolfinx.io.VTXWriter(rve.mesh.comm, str(path).replace(".bp", "_cells.bp"), out) as vtx:
            vtx.write(0.0)

    def committed_history(self, key: str, tag: int | None = None) -> npt.NDArray[np.float64]:
        """A committed micro history variable averaged over each point's RVE, ``(N,)``.

        Args:
            key: e.g. ``"p"`` (equivalent plastic strain).
            tag: phase (default: the volume average over all phases, 0 where absent).
        """
        rve = self.rve
        out = np.zeros(self.n_points)
        if rve.is_linear:
            return out
        for t, states in self._committed["phases"].items():
            if (tag is None or t == tag) and key in states:
                idx = rve._phase_points[t]
                out += states[key] @ rve.weights[idx] / rve.volume
        return out
