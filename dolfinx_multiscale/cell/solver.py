"""The reduced linear solver of the cell problem and the policy that configures it.

:class:`SolverPolicy` holds every tunable of the RVE's linear algebra (when to switch
from a direct factorization to CG + GAMG, the inexact-Newton forcing term, ...) as one
dataclass passed to the RVE, with the measurements behind each default.
:class:`ReducedSolver` solves ``K w = b`` on the constrained subspace ``w = P w̃`` of a
boundary condition (:mod:`~dolfinx_multiscale.cell.boundary`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

import dolfinx.la

from ..linalg import DIRECT_DEFAULTS, default_options, make_ksp
from .boundary import CellConstraint

__all__ = ["ReducedSolver", "SolverPolicy"]

#: MUMPS LDLᵀ for symmetric positive definite operators (half the flops of LU)
CHOLESKY_DEFAULTS = (("ksp_type", "preonly"), ("pc_type", "cholesky"), ("pc_factor_mat_solver_type", "mumps"))
#: CG + smoothed aggregation AMG, tight enough for condensed tangents symmetric to 1e-10
ITERATIVE_DEFAULTS = (("ksp_type", "cg"), ("pc_type", "gamg"), ("ksp_rtol", "1e-12"),
                      ("ksp_atol", "1e-300"), ("ksp_max_it", "2000"))
#: CG + a preconditioner given as a petsc4py python context (the Fourier one of linear voxel
#: cells, whose tangent is condensed in its stationary form, exact to second order in the
#: solves' errors: 64² / 16³ random images, tensor error 2.6e-12 / 1.6e-12 at rtol 1e-6,
#: 6.5e-16 / 6.7e-16 at 1e-8, with 79 / 163 CG iterations for all load cases instead of
#: 123 / 250 at 1e-12)
PYTHON_PC_DEFAULTS = tuple((k, {"pc_type": "python", "ksp_rtol": "1e-8"}.get(k, v)) for k, v in ITERATIVE_DEFAULTS)


@dataclasses.dataclass(frozen=True)
class SolverPolicy:
    """How the RVE chooses and drives its linear solver (defaults measured on a 2-core machine).

    Every choice can still be overridden through the PETSc options of the RVE's prefix.

    Attributes:
        iterative_dofs: per dimension, elasticity RVEs with a constant tangent above this
            many dofs use CG + GAMG with the rigid-body near-null space instead of a
            direct factorization (3-D, 82 k dofs: MUMPS LU 25 s, CG + GAMG 5 s for the
            same tensor to 1e-14; in 2-D, 15–60 k dofs, MUMPS wins).
        iterative_dofs_varying: the same for RVEs with a ``varying_tangent`` material
            (plasticity): the operator changes at every Newton iteration and an inexact
            CG + GAMG solve beats a new factorization (J2 load path: 1.12× at 4 k dofs
            and 1.45× at 8 k in 2-D, 1.3× at 1.1 k and 3.3× at 3.9 k in 3-D); FE² cells,
            smaller, keep the direct solver.
        newton_forcing: largest relative tolerance of an iterative solve of a micro
            Newton correction (the inexact-Newton forcing term); direct solvers ignore it.
        approximate_tangent_rtol: relative tolerance of iterative unit-load solves for
            ``approximate_tangent=True`` (that tangent is already ~1e-5 off). 2-D J2 path,
            Krylov iterations of these solves at 1e-5 / 1e-6 / 1e-8: 739 / 953 / 1 380.
        tangent_reuse_rtol: in :meth:`RVE.update` (FE²), a point's tangent is condensed
            with the factorization of its last micro Newton iteration when that iteration
            started within this relative residual of the solution (its tangents differ
            from the solution's by about as much: a macro Newton keeps converging
            quadratically, since near its solution this residual shrinks with the macro
            correction); above it, the operator is factorized once more at the solution.
            Bending step of the issue-15 part (256 points, 1 636-dof J2 cell):
            factorizations 3 703 → 2 076 with the stored unit fluctuations as predictor,
            same macro residuals to 3 digits.
        native_factor_size: serial systems up to this many unknowns use PETSc's own
            sparse factorization (nested dissection), which has less per-call overhead
            than MUMPS: 0.31 vs 0.74 ms per factorization + solve at 314 dofs; MUMPS is
            faster from ~800 dofs (1.1 vs 1.6 ms).
        amg_reuse_growth: the AMG hierarchy is rebuilt once CG needs this many times its
            iterations (per decade of residual reduction) right after the last build
            (0: rebuild at every new operator).
        fourier_preconditioner: periodic voxel cells (:func:`~dolfinx_multiscale.geometry.microstructures.from_image`)
            of linear elastic or conducting phases are solved by CG preconditioned with
            the Green operator of the reference medium ``⟨D⟩`` (:mod:`.fourier`) instead
            of MUMPS (2-D) or GAMG (3-D): 26–27 CG iterations per load case at every
            size (``PYTHON_PC_DEFAULTS``), each one ``MatMult`` and two FFTs, no set-up
            but the inverse symbol. 40³ voxels, 2 ranks: 5.5 s and 10.5 KiB/voxel
            against GAMG's 34 s and 16.7 KiB/voxel; 100³ in 45–82 s, 1024² in 10–22 s,
            where MUMPS took 125 s and 7.1 GB (``benchmarks/README.md``, ``image.py``).
            ``False``: the generic choice.
        coo_assembly_dofs: cells with at most this many dofs assemble ``K`` into a local
            DOLFINx CSR matrix and copy its entries into ``K̃`` through a COO map
            (:meth:`ReducedSolver.set_operator`): DOLFINx's CSR insertion is 2.5–3× faster
            than PETSc's ``MatSetValuesLocal`` (2-D P1, 2.9 k dofs: 0.9 vs 2.3 ms; 3-D
            P1, 2.8 k dofs: 4.9 vs 17 ms; a J2 load path 1.55 vs 2.0 s), which counts
            for FE² cells re-assembled at every micro Newton iteration. Larger cells
            are assembled straight into ``K̃`` (:meth:`ReducedSolver.reduced_operator`):
            the CSR copy and the COO maps cost 24 B per nonzero more than ``K̃`` (3 GB
            per rank for a 100³-voxel cell on 2 ranks) and their set-up as much again.
    """

    iterative_dofs: Mapping[int, int] = dataclasses.field(default_factory=lambda: {2: 10**12, 3: 30_000})
    iterative_dofs_varying: Mapping[int, int] = dataclasses.field(default_factory=lambda: {2: 3_000, 3: 3_000})
    newton_forcing: float = 1e-2
    approximate_tangent_rtol: float = 1e-6
    tangent_reuse_rtol: float = 1e-4
    native_factor_size: int = 500
    amg_reuse_growth: float = 1.5
    coo_assembly_dofs: int = 50_000
    fourier_preconditioner: bool = True

    def iterative(self, dim: int, n_dofs: int, varying_tangent: bool) -> bool:
        """Whether an elasticity RVE of ``n_dofs`` dofs in ``dim`` dimensions uses CG + GAMG."""
        threshold = (self.iterative_dofs_varying if varying_tangent else self.iterative_dofs)[dim]
        return n_dofs > threshold


def _reduced_row_counts(pattern: dolfinx.la.SparsityPattern, red: np.ndarray, ownership: tuple[int, int],
                        comm: MPI.Comm) -> tuple[np.ndarray, np.ndarray]:
    """Nonzeros per owned row of ``K̃ = Pᵀ K P``, in its diagonal and off-diagonal
    parts, from the node graph of ``K``.

    Args:
        pattern: finalized sparsity of ``K`` (owned node rows, local node columns).
        red: ``(n_local_nodes, bs)`` reduced index of every local dof (−1: removed).
        ownership: ``K̃``'s owned row range ``[start, end)``.
        comm: the communicator.

    A node is named by the reduced index of its last free component (a periodic image by
    its master's); its free components have consecutive reduced indices. Every row of a
    node holds ``bs`` entries per distinct neighbour node (exact but where a neighbour
    lost components: the few pinned nodes of SUBC). The node pairs of rows owned by
    another rank (periodic images of its nodes) are sent there. Collective.
    """
    links, offsets = pattern.graph
    bs = red.shape[1]
    key = red.max(axis=1)  # -1: every component removed
    n_nodes = offsets.size - 1  # the owned nodes
    rows = np.repeat(key[:n_nodes], np.diff(offsets))
    cols = key[links]
    keep = (rows >= 0) & (cols >= 0)
    rows, cols = rows[keep], cols[keep]
    del keep
    start, end = ownership
    if comm.size > 1:
        remote = (rows < start) | (rows >= end)
        owner = np.searchsorted(np.array(comm.allgather(start)), rows[remote], side="right") - 1
        order = np.argsort(owner, kind="stable")
        sent = np.stack([rows[remote], cols[remote]], axis=1)[order]
        got = np.concatenate(comm.alltoall(np.split(sent, np.cumsum(np.bincount(owner, minlength=comm.size))[:-1])))
        rows, cols = np.concatenate([rows[~remote], got[:, 0]]), np.concatenate([cols[~remote], got[:, 1]])
    n_global = comm.allreduce(end - start) if comm.size > 1 else end
    pairs = np.sort((rows - start) * n_global + cols)
    distinct = np.ones(pairs.size, dtype=bool)
    np.not_equal(pairs[1:], pairs[:-1], out=distinct[1:])
    # distinct node pairs (not np.unique: its hashing takes 23 s for the 13.5 M pairs of a
    # rank of a 100³-voxel cell, sorting 1.1 s; numpy 2.5)
    rows, cols = np.divmod(pairs[distinct], n_global)
    diagonal = (cols >= start) & (cols < end)
    n = end - start
    per_node = [bs * np.bincount(rows[part], minlength=n) for part in (diagonal, ~diagonal)]
    free = np.zeros(n, dtype=np.int64)  # at each node's last reduced index: its free components
    own = (key[:n_nodes] >= start) & (key[:n_nodes] < end)
    free[key[:n_nodes][own] - start] = (red[:n_nodes][own] >= 0).sum(axis=1)
    last = np.flatnonzero(free)
    f = free[last]
    row = np.repeat(last, f) - (np.arange(f.sum()) - np.repeat(np.cumsum(f) - f, f))  # last − j, j < f
    counts = []
    for c in per_node:
        out = np.zeros(n, dtype=np.int64)
        out[row] = np.repeat(c[last], f)
        counts.append(out)
    return counts[0].astype(PETSc.IntType), counts[1].astype(PETSc.IntType)


def _with_ghosts(imap, bs: int, owned: np.ndarray) -> np.ndarray:
    """Extend an int array over the owned dofs of ``imap`` to its owned + ghost dofs
    (a forward scatter; collective unless serial)."""
    if imap.comm.size == 1:
        return owned.astype(np.int64)
    vec = dolfinx.la.vector(imap, bs)
    vec.array[: owned.size] = owned  # exact in float64 below 2**53
    vec.scatter_forward()
    return np.rint(vec.array).astype(np.int64)


class ReducedSolver:
    """Solves ``K w = b`` on the subspace ``w = P w̃`` (optionally with ``⟨B(w)⟩ = 0``).

    ``K̃ = Pᵀ K P`` never goes through a PETSc matrix of the full space or a ``PᵀKP``
    product, and keeps its sparsity (the direct solver its symbolic analysis). Small
    cells (``policy.coo_assembly_dofs``) copy the entries ``K_ij`` of a local CSR
    matrix into ``K̃`` at the reduced indices of ``i`` and ``j`` (PETSc's COO assembly,
    :meth:`set_operator`); large ones are assembled straight into ``K̃`` through a
    local-to-global map that sends every dof to its reduced index
    (:meth:`reduced_operator`, then :meth:`update_operator`).
    For the average-strain constraint ``bⱼᵀ w̃ = 0`` (SUBC) the multipliers are
    eliminated with the Schur complement ``S = bᵀ K̃⁻¹ b`` (``n`` extra solves per
    factorization).

    Args:
        constraint: the boundary condition (``P`` and the reduced dof numbering).
        comm: the RVE's communicator.
        prefix: PETSc options prefix of the KSP.
        near_nullspace: full-space near-null-space vectors: use CG + GAMG
            (``ITERATIVE_DEFAULTS``) with them restricted to the reduced space; ``None``:
            a direct solver.
        block_size: the block size of ``K̃`` (see :class:`CellConstraint`).
        spd: ``K̃`` is symmetric positive definite (every point tangent is): flag it, and
            factorize with LDLᵀ (``pc_type cholesky``) instead of LU.
        symmetric: ``K̃`` is symmetric but maybe indefinite (hyperelastic tangents):
            flag it symmetric and factorize with MUMPS's symmetric indefinite LDLᵀ (half
            the flops of LU); an iterative solver is GMRES instead of CG.
        policy: the :class:`SolverPolicy` (default: ``SolverPolicy()``).
        preconditioner: a petsc4py ``PC`` python context (e.g. the
            :class:`~.fourier.GreenPreconditioner` of a voxel cell): CG with it
            (``PYTHON_PC_DEFAULTS``) instead of ``near_nullspace``'s GAMG or a direct
            solver, unless the options of ``prefix`` choose another ``pc_type``.

    The direct solver is MUMPS, or PETSc's own for serial systems of at most
    ``policy.native_factor_size`` unknowns (small FE² RVEs).

    Attributes:
        spd, policy: as given.
        in_place: ``K̃`` is assembled straight (:meth:`reduced_operator`), not copied
            from a local CSR matrix (:meth:`set_operator`): cells above
            ``policy.coo_assembly_dofs`` and cells with a ``preconditioner``.
        Kr: ``K̃`` (``None`` before the first operator).
        preconditioner: as given.
        n_factorizations: factorizations (or AMG set-ups) so far.
        n_krylov_iterations: Krylov iterations so far (iterative KSPs; ``preonly``
            counts one per solve).
    """

    def __init__(self, constraint: CellConstraint, comm: MPI.Comm, prefix: str,
                 near_nullspace: list[PETSc.Vec] | None = None, block_size: int = 1,
                 spd: bool = False, policy: SolverPolicy | None = None, symmetric: bool = False,
                 preconditioner=None):
        self.P = constraint.P
        self._reduced_index = constraint.reduced_index
        self._near_nullspace = near_nullspace
        self._block_size = block_size
        self.spd = spd
        self.symmetric = symmetric = spd or symmetric
        self.policy = policy = SolverPolicy() if policy is None else policy
        if preconditioner is not None:
            defaults = PYTHON_PC_DEFAULTS
        elif near_nullspace is not None:
            defaults = tuple((k, "gmres" if k == "ksp_type" and not spd else v) for k, v in ITERATIVE_DEFAULTS)
        else:
            defaults = CHOLESKY_DEFAULTS if symmetric else DIRECT_DEFAULTS
            if comm.size == 1 and constraint.n_reduced <= policy.native_factor_size:
                defaults = tuple((k, "petsc" if k == "pc_factor_mat_solver_type" else v) for k, v in defaults)
                defaults += (("pc_factor_mat_ordering_type", "nd"),)
        self.ksp = make_ksp(comm, prefix, defaults)
        self.preconditioner = preconditioner
        # K̃ in node blocks (BAIJ) only for the python PC (GAMG and MUMPS want AIJ)
        self._blocked = preconditioner is not None and self.ksp.getPC().getType() == PETSc.PC.Type.PYTHON
        if self._blocked:
            self.ksp.getPC().setPythonContext(preconditioner)
        self.Kr: PETSc.Mat | None = None
        # a python preconditioner (a linear voxel cell) is assembled once: no refill to speed up
        self.in_place = preconditioner is not None or constraint.P.getSize()[0] > policy.coo_assembly_dofs
        self.b: list[PETSc.Vec] = []  # reduced constraint vectors (SUBC)
        self._Z: list[PETSc.Vec] = []
        self._S_inv: npt.NDArray[np.float64] | None = None
        self.n_factorizations = 0
        self.n_krylov_iterations = 0
        self._baseline_rate = 0.0  # iterative: CG iterations per decade right after the last set-up
        self._stale = False  # iterative: the AMG hierarchy was built for earlier values
        self._rebuild = True

    def reduced_operator(self, pattern: Callable[[], dolfinx.la.SparsityPattern]) -> PETSc.Mat:
        """``K̃``, the PETSc matrix into which the full-space stiffness is assembled.

        Created at the first call from the sparsity of ``K`` (``pattern()``: a finalized
        pattern of the full space, owned node rows, local node columns), preallocated for
        ``Pᵀ K P`` exactly, with the local-to-global map that sends every local (owned or
        ghost) dof of the full space to its reduced index (−1, i.e. ignored, where it is
        removed). Adding the element matrices of ``K`` through that map
        (``MatSetValuesLocal``, as DOLFINx's assembler does) thus assembles ``Pᵀ K P``
        itself: a periodic image's rows and columns land on its master's, removed dofs
        nowhere; there is no matrix of the full space and no ``PᵀKP`` product.
        Fill it, then call :meth:`update_operator`."""
        if self.Kr is None:
            self._adopt(self._create_reduced(pattern()))
        return self.Kr

    def _adopt(self, Kr: PETSc.Mat) -> None:
        """Make the new ``Kr`` the KSP's operator (with its symmetry flags and near-null space)."""
        if self.spd:
            Kr.setOption(PETSc.Mat.Option.SPD, True)
        elif self.symmetric:
            Kr.setOption(PETSc.Mat.Option.SYMMETRIC, True)
            Kr.setOption(PETSc.Mat.Option.SYMMETRY_ETERNAL, True)
        self.Kr = Kr
        if self._near_nullspace is not None:
            self._set_near_nullspace()
        self.ksp.setOperators(Kr)

    def set_operator(self, K: dolfinx.la.MatrixCSR) -> None:
        """Fill ``K̃ = Pᵀ K P`` from the entries of the local matrix ``K`` of the full
        space (a :class:`dolfinx.la.MatrixCSR`, owned and ghost rows, not finalized, the
        same sparsity at every call) by PETSc's COO assembly (pattern set once, values
        refilled in place), then :meth:`update_operator`. The small cells' route
        (``policy.coo_assembly_dofs``; :meth:`reduced_operator` is the large cells')."""
        if self.Kr is None:
            self._adopt(self._create_reduced_coo(K))
        self.Kr.setValuesCOO(K.data, PETSc.InsertMode.INSERT_VALUES)
        self.Kr.assemble()
        self.update_operator()

    def update_operator(self) -> None:
        """The values of :meth:`reduced_operator` changed (same sparsity): factorize.

        Iterative solver: the AMG hierarchy of an earlier ``K̃`` is kept as long as CG
        converges in at most ``policy.amg_reuse_growth`` times the iterations it needed right
        after that set-up, and rebuilt (and the solve repeated) when CG fails with it
        (the operator itself is always the current ``K̃``, so the answer is the same;
        only the preconditioner is older)."""
        if self._near_nullspace is None or self._rebuild:
            self._set_up()
        else:
            self._stale = True
        if self.b:
            self._Z = [self._raw_solve(bj) for bj in self.b]
            S = np.array([[bi.dot(zj) for zj in self._Z] for bi in self.b])
            self._S_inv = np.linalg.inv(S)

    def _set_up(self) -> None:
        """Factorize (or build the AMG hierarchy of) the current ``K̃``."""
        self.ksp.getPC().setReusePreconditioner(False)
        with default_options(self.ksp.getOptionsPrefix(), self._analysis_defaults()):
            self.ksp.setUp()
        if self._near_nullspace is not None:
            self.ksp.getPC().setReusePreconditioner(True)  # until _rebuild says otherwise
        self.n_factorizations += 1
        self._baseline_rate, self._stale, self._rebuild = 0.0, False, False

    def _analysis_defaults(self) -> tuple:
        """MUMPS with node blocks (``block_size > 1``): order the graph of the nodes
        instead of the dofs (``-mat_mumps_icntl_15 −block_size``), about 40 % less
        analysis time on 2-D cells, same factors; set for the factorization only."""
        pc = self.ksp.getPC()
        if (self._block_size > 1 and pc.getType() in ("lu", "cholesky")
                and pc.getFactorSolverType() == "mumps"):
            return (("mat_mumps_icntl_15", str(-self._block_size)),)
        return ()

    def _create_reduced(self, pattern: dolfinx.la.SparsityPattern) -> PETSc.Mat:
        """``K̃`` preallocated from the node graph of ``K`` mapped to reduced indices, with
        the local-to-global map of the full space's local dofs (see :meth:`reduced_operator`)."""
        col_map = pattern.index_map(1)  # the space's index map with extra ghosts appended
        bs = self._reduced_index.size // col_map.size_local
        rbs = self._block_size
        local = _with_ghosts(col_map, bs, self._reduced_index)
        comm = self.P.comm.tompi4py()
        Kr = PETSc.Mat().create(comm)
        Kr.setSizes((self.P.getSizes()[1],) * 2, bsize=rbs)
        blocked = self._blocked and rbs > 1
        # node blocks (BAIJ) for the python PC: one index per bs × bs block, MatMult 3.3×
        # faster than AIJ with I-nodes (30³ voxels, 81 k dofs, serial: 6.3 vs 21 ms)
        Kr.setType(PETSc.Mat.Type.BAIJ if blocked else PETSc.Mat.Type.AIJ)
        counts = _reduced_row_counts(pattern, local.reshape(-1, bs), Kr.getOwnershipRange(), comm)
        Kr.setPreallocationNNZ(tuple(c[::rbs] // rbs for c in counts) if blocked else counts)
        index = local[::rbs] // rbs if rbs > 1 else local  # node blocks: -1 stays -1
        Kr.setLGMap(PETSc.LGMap().create(index.astype(PETSc.IntType), bsize=rbs, comm=comm))
        Kr.setOption(PETSc.Mat.Option.SUBSET_OFF_PROC_ENTRIES, True)  # same communication every assembly
        return Kr

    def _create_reduced_coo(self, K: dolfinx.la.MatrixCSR) -> PETSc.Mat:
        """``K̃`` with the COO pattern of ``K``'s entries mapped to reduced indices."""
        bs = K.block_size[0]
        # reduced index of every local row / column (the column map has extra ghosts)
        red_row, red_col = (_with_ghosts(K.index_map(i), bs, self._reduced_index) for i in (0, 1))
        rows = np.repeat(np.arange(K.indptr.size - 1), np.diff(K.indptr))
        comp = np.arange(bs)
        # K.data holds one row-major bs × bs block per (block) entry
        I = red_row[(rows * bs)[:, None, None] + comp[None, :, None]]
        J = red_col[(K.indices * bs)[:, None, None] + comp[None, None, :]]
        I, J = (np.broadcast_to(a, (rows.size, bs, bs)).reshape(-1).astype(PETSc.IntType)
                for a in (I, J))
        Kr = PETSc.Mat().create(self.P.comm)
        Kr.setSizes((self.P.getSizes()[1],) * 2)
        Kr.setType(PETSc.Mat.Type.AIJ)
        if self._block_size > 1:
            Kr.setBlockSize(self._block_size)
        Kr.setPreallocationCOO(I, J)  # negative (removed) indices are dropped
        return Kr

    def _set_near_nullspace(self) -> None:
        """Rigid modes of the full space restricted to the reduced one: ``t̃ = Pᵀt ⊘ Pᵀ1``
        (a periodic image's value is the average of its copies, i.e. the value)."""
        ones = self.P.createVecLeft()
        ones.set(1.0)
        count = self.restrict(ones)
        with count.localForm() as c:
            c.array[c.array == 0] = 1.0
        modes = []
        for t in self._near_nullspace:
            m = self.restrict(t)
            m.pointwiseDivide(m, count)
            modes.append(m)
        for i, m in enumerate(modes):  # modified Gram–Schmidt
            for q in modes[:i]:
                m.axpy(-m.dot(q), q)
            m.normalize()
        self.Kr.setNearNullSpace(PETSc.NullSpace().create(vectors=modes, comm=self.Kr.comm))

    def set_constraints(self, b_full: list[PETSc.Vec]) -> None:
        self.b = [self.restrict(bj) for bj in b_full]

    def restrict(self, v_full: PETSc.Vec, out: PETSc.Vec | None = None) -> PETSc.Vec:
        """``Pᵀ v``: a full-space vector (e.g. a residual) on the reduced unknowns
        (into ``out`` if given, else a new vector)."""
        out = self.P.createVecRight() if out is None else out
        self.P.multTranspose(v_full, out)
        return out

    @property
    def iterative(self) -> bool:
        """The KSP iterates (e.g. CG + GAMG) rather than applying a factorization once."""
        return self.ksp.getType() != PETSc.KSP.Type.PREONLY

    def _raw_solve(self, rhs: PETSc.Vec, out: PETSc.Vec | None = None, rtol: float | None = None,
                   initial_guess: bool = False) -> PETSc.Vec:
        x = rhs.duplicate() if out is None else out
        if not self.iterative:  # a factorization: no tolerance, no initial guess
            self.ksp.solve(rhs, x)
        else:
            base_rtol = self.ksp.getTolerances()[0]
            used_rtol = base_rtol if rtol is None else max(rtol, base_rtol)
            self.ksp.setTolerances(rtol=used_rtol)
            self.ksp.setInitialGuessNonzero(initial_guess)
            try:
                self.ksp.solve(rhs, x)
                if self._stale and self.ksp.getConvergedReason() < 0:  # an older hierarchy failed
                    self._set_up()
                    x.set(0.0)
                    self.ksp.solve(rhs, x)
            finally:
                self.ksp.setTolerances(rtol=base_rtol)
                self.ksp.setInitialGuessNonzero(False)
            if self._near_nullspace is not None:  # the AMG hierarchy: keep or rebuild it
                rate = self.ksp.getIterationNumber() / max(-np.log10(used_rtol), 1.0)
                self._baseline_rate = self._baseline_rate or rate
                self._rebuild = rate > self.policy.amg_reuse_growth * self._baseline_rate
        self.n_krylov_iterations += self.ksp.getIterationNumber()
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"RVE linear solve failed (KSPConvergedReason {reason})")
        return x

    def solve(self, rhs: PETSc.Vec, out: PETSc.Vec | None = None, rtol: float | None = None,
              initial_guess: bool = False) -> PETSc.Vec:
        """Reduced ``δ`` with ``K̃ δ + b λ = rhs`` and ``bᵀ δ = 0`` (λ eliminated), into
        ``out`` if given (not ``rhs``), else a new vector.

        For an iterative KSP (direct solvers ignore both): ``rtol`` is this solve's
        relative tolerance (e.g. an inexact Newton's forcing term), never below the KSP's
        own ``ksp_rtol``; ``initial_guess`` starts from the values in ``out`` (e.g. the
        solution of a nearby system) instead of zero. The convergence test stays relative
        to the right-hand side, so a good guess saves iterations, not accuracy.

        Newton iterates start from a state that satisfies ``bᵀ w̃ = 0``, so a correction
        with ``bᵀ δ = 0`` keeps it.
        """
        y = self._raw_solve(rhs, out, rtol, initial_guess and out is not None)
        if self.b:
            lam = self._S_inv @ np.array([bj.dot(y) for bj in self.b])
            for zj, lj in zip(self._Z, lam):
                y.axpy(-lj, zj)
        return y

    def projected_norm(self, r: PETSc.Vec) -> float:
        """Norm of ``r`` with its component in span(b) removed (the multipliers' part)."""
        if not self.b:
            return r.norm()
        B = np.array([bj.dot(bk) for bj in self.b for bk in self.b]).reshape(len(self.b), -1)
        lam = np.linalg.solve(B, np.array([bj.dot(r) for bj in self.b]))
        rr = r.copy()
        for bj, lj in zip(self.b, lam):
            rr.axpy(-lj, bj)
        return rr.norm()
