"""The RVE: a microstructure's homogenized response, the façade of the cell problem.

Downscaling a macro strain ``E`` (Mandel ``(n,)``; a gradient for conduction), solving
the cell problem for the fluctuation ``w`` and upscaling ``Σ = ⟨σ⟩ = |Y|⁻¹ ∫_Y σ dx``
(``|Y|`` the box volume, so pores count as zero stress) with the consistent tangent
``C = ∂Σ/∂E`` by static condensation. The work is split by job
(``docs/architecture.md``):

* :mod:`.discretisation` — spaces, compiled forms, quadrature weights;
* :mod:`.phases` — every phase's material at its points;
* :mod:`.boundary` and :mod:`.solver` — the boundary condition as a prolongation
  ``w = P w̃`` and the reduced linear solver, configured by a :class:`SolverPolicy`;
* :mod:`.condensation` — the reduced operator, its factorization and ``C_eff``;
* :mod:`.newton` — the micro Newton;
* :mod:`.response` — the fields, averages and energies of a solve.

Seen from outside, an :class:`RVE` is a material (:mod:`~dolfinx_multiscale.materials.protocol`):
``update(E (N, n), state, need_tangent)`` solves ``N`` points, each from its own state
(fluctuation and micro history), so FE² is the quadrature material of this law.
"""

from __future__ import annotations

import contextlib

import numpy as np
import numpy.typing as npt

from ..errors import RVEConvergenceError
from ..kinematics import CONDUCTION, SMALL_STRAIN
from ..materials.protocol import put, repeat, take
from .batch import BatchedCell
from .boundary import BOUNDARY_CONDITIONS
from .condensation import CondensedOperator
from .discretisation import CellDiscretisation
from .fourier import GreenPreconditioner
from .newton import FORCE_FLOOR_STRAIN, MicroNewton
from .phases import PhaseLaws, check_materials
from .response import CellResponse
from .solver import ReducedSolver, SolverPolicy

__all__ = ["ELASTIC_TANGENT", "NO_TANGENT", "RVE", "STORED_TANGENT", "elastic_shortcut", "newton_tolerance"]

#: per-point results of :meth:`RVE.update` kept in the state next to ``"E"``, ``"w"`` and
#: the micro history
_POINT_RECORD = ("elastic_shortcut", "free_energy", "micro_work", "newton_iterations", "residual",
                 "residual_scale", "sigma33", "step_dissipation", "tangent_kind")
#: ``"tangent_kind"`` of a point state: no tangent known, the elastic one (its unit
#: fluctuations are not stored per point), or the stored unit fluctuations ``"W"``
NO_TANGENT, ELASTIC_TANGENT, STORED_TANGENT = 0, 1, 2
#: macro points per call of the elastic shortcut: their copied micro histories stay a few MB,
#: memory the allocator reuses (one call for 5 000 points spent half its time on the page
#: faults of a 300 MB copy)
SHORTCUT_CHUNK = 64


class RVE:
    """A representative volume element: cell problem, homogenized response and fields.

    Args:
        micro: the :class:`~dolfinx_multiscale.geometry.Microstructure` (mesh, cell tags
            = phases, periodic cell ``box``).
        materials: phase tag → material (:class:`~dolfinx_multiscale.materials.Material`:
            ``LinearElastic``, ``Conductivity``, ``J2Plasticity``, ``GeneralizedMaxwell``
            or any object with the protocol). Every tag of the mesh needs one and every
            key must be a tag of the mesh; all share one kinematics.
        bc: ``"periodic"``, ``"kubc"`` or ``"subc"`` (:mod:`~dolfinx_multiscale.cell.boundary`).
        degree: Lagrange degree of the fluctuation (1 or 2 typically).
        petsc_options_prefix: prefix of the PETSc options of the linear solver. Default
            MUMPS LU (``-<prefix>ksp_type preonly -<prefix>pc_type lu``), MUMPS LDLᵀ
            (``pc_type cholesky``) when every material has ``spd_tangent``, PETSc's own
            factorization for small serial cells, CG + GAMG with the rigid-body
            near-null space at ``ksp_rtol 1e-12`` for large elasticity cells (thresholds
            in ``solver_policy``), CG with the Fourier (reference-medium Green operator)
            preconditioner for periodic voxel cells of linear phases (:mod:`.fourier`); any of these can be set in ``PETSc.Options()``. With an
            iterative solver the micro Newton is inexact (:mod:`.newton`); the converged
            answer is the same.
        rtol: relative tolerance of the micro Newton (projected residual over the norm of
            the unconstrained internal-force vector).
        max_iterations: Newton iteration bound; exceeding it raises
            :class:`~dolfinx_multiscale.errors.RVEConvergenceError`.
        line_search_cuts: halvings of a Newton step whose residual norm does not
            decrease (backtracking; the full step is tried first).
        solver_policy: the :class:`~dolfinx_multiscale.cell.solver.SolverPolicy`
            (default ``SolverPolicy()``).
        batch: in :meth:`update` (FE²), evaluate the elastic shortcut of all points at
            once (:mod:`.batch`; serial small-strain cells) and solve only the others one
            by one; ``False``: every point by the micro Newton. Same answers to round-off.

    The generalized strain/stress have ``n`` components: Mandel for elasticity (``n = 3``
    in 2-D plane strain, 6 in 3-D, ``docs/conventions.md``) and ``n = d`` for conduction.
    The mesh communicator is the RVE's: a single RVE may be distributed.

    Attributes:
        micro, materials, bc, degree, dim, n, comm, mesh: as given / derived.
        kinematics: the materials' kinematics.
        is_linear, spd_tangent, varying_tangent: the material protocol's flags of the
            homogenized law.
        discretisation, laws, constraint, operator: the units of the cell problem.
        V, w, volume, centre, weights: the discretisation's (for convenience).
        response: the :class:`~dolfinx_multiscale.cell.response.CellResponse` of the
            last solve (``None`` before the first).
        eps, sigma, sigma33: its point strains, stresses ``(N, n)`` and ``σ33`` ``(N,)``.
        newton_iterations, residuals: of the last micro Newton.
        micro_newton: the :class:`~dolfinx_multiscale.cell.newton.MicroNewton` (its
            ``rtol``: :func:`newton_tolerance`).
    """

    def __init__(self, micro, materials: dict, bc: str = "periodic", degree: int = 1,
                 petsc_options_prefix: str = "rve_", rtol: float = 1e-10,
                 max_iterations: int = 25, line_search_cuts: int = 4,
                 solver_policy: SolverPolicy | None = None, batch: bool = True):
        if bc not in BOUNDARY_CONDITIONS:
            raise ValueError(f"bc must be one of {sorted(BOUNDARY_CONDITIONS)}; got {bc!r}")
        if not (isinstance(degree, int) and degree >= 1):
            raise ValueError(f"degree must be an integer >= 1; got {degree!r}")
        policy = SolverPolicy() if solver_policy is None else solver_policy
        self.micro, self.bc, self.degree = micro, bc, degree
        self.materials = dict(materials)
        self.kinematics = check_materials(self.materials, micro)
        self.discretisation = disc = CellDiscretisation(micro, self.kinematics, degree, self.materials)
        self.mesh, self.comm, self.dim, self.n = disc.mesh, disc.comm, disc.dim, disc.n
        self.V, self.w, self.volume, self.centre, self.weights = disc.V, disc.w, disc.volume, disc.centre, disc.weights
        self.laws = laws = PhaseLaws(self.materials, disc.phase_points, disc.n)
        self.is_linear, self.spd_tangent = laws.is_linear, laws.spd_tangent
        self.varying_tangent = laws.varying_tangent

        self.constraint = BOUNDARY_CONDITIONS[bc](self.V, micro.box)
        fourier = (policy.fourier_preconditioner and micro.image is not None and bc == "periodic" and degree == 1
                   and laws.is_linear and laws.spd_tangent and self.kinematics in (SMALL_STRAIN, CONDUCTION))
        elasticity = self.kinematics.field_shape(self.dim) == (self.dim,)  # small or finite strain
        iterative = not fourier and elasticity and policy.iterative(self.dim, self.n_dofs, laws.varying_tangent)
        solver = ReducedSolver(self.constraint, self.comm, petsc_options_prefix,
                               disc.rigid_modes() if iterative else None,
                               block_size=self.constraint.block_size, spd=laws.spd_tangent, policy=policy,
                               symmetric=laws.symmetric_tangent,
                               preconditioner=GreenPreconditioner(self.V, self.constraint, micro.image.shape,
                                                                  micro.image.voxel_size, micro.box[0],
                                                                  self.kinematics) if fourier else None)
        self.operator = CondensedOperator(disc, solver, self.constraint.average_constraint)
        self.micro_newton = MicroNewton(disc, self.operator, rtol, max_iterations, line_search_cuts,
                                        policy.newton_forcing)
        self._approximate_rtol = policy.approximate_tangent_rtol
        self._reuse_rtol = policy.tangent_reuse_rtol

        # the virgin state of one point (never modified in place: solves make new arrays)
        self._virgin = {"E": np.zeros(self.n), "w": np.zeros_like(self.w.x.array), **laws.initial_state()}
        self._committed = self._virgin
        self._committed_W = None  # unit fluctuations of the committed state, if solved with a tangent
        self._initial = None  # (C, unit fluctuations W, point tangents D) at the virgin state
        self._linear = None  # linear RVE: (C_eff, the Σ33 row or None)
        self.batch = batch and self.comm.size == 1 and not self.is_linear and self.kinematics.affine_elastic_range
        self._batched: BatchedCell | None = None  # built at the first batched update
        self.response: CellResponse | None = None
        self.eps = self.sigma = self.sigma33 = None
        self.newton_iterations = 0
        self.residuals: list[float] = []

    # -- properties -----------------------------------------------------------------
    @property
    def n_dofs(self) -> int:
        """Global number of finite element dofs of the fluctuation field."""
        return self.discretisation.n_dofs

    @property
    def batched_cell(self) -> BatchedCell:
        """The cell's linear maps acting on many macro points at once (:mod:`.batch`;
        serial cells), built at first use."""
        if self._batched is None:
            C_init, W_init, D_init = self.initial_tangent()
            self._batched = BatchedCell(self.discretisation, self.laws, self.constraint.P,
                                        self.operator.solver.b, W_init, D_init, C_init, self.micro_newton.rtol,
                                        self.micro_newton.force_floor)
        return self._batched

    @property
    def linear_solver(self) -> ReducedSolver:
        """The reduced linear solver (its ``ksp``, ``n_factorizations``, ``n_krylov_iterations``)."""
        return self.operator.solver

    # -- one point ------------------------------------------------------------------
    def solve(self, E: npt.ArrayLike, tangent: bool = True, warm_start: bool = False,
              approximate_tangent: bool = False, initial_guess: dict | None = None,
              tangent_reuse_rtol: float = 0.0, tangent_rtol: float | None = None):
        """Downscale ``E``, solve the cell problem from the committed state, upscale.

        Args:
            E: macro strain (Mandel, shape ``(n,)``: ``(3,)`` 2-D, ``(6,)`` 3-D) or macro
                gradient ``(d,)`` for conduction.
            tangent: also return the consistent macro tangent ``C = ∂Σ/∂E``.
            warm_start: start the micro Newton from the last (uncommitted) solve of this
                step instead of the committed state, e.g. in an outer iteration on
                ``E`` (mixed control); the answer is the same, the iterations fewer.
            approximate_tangent: always condense the tangent with the factorization of
                the last Newton iteration (however far from the solution it started) and
                solve its unit loads to ``SolverPolicy.approximate_tangent_rtol`` with an
                iterative solver; costs no factorization; enough for predictors and outer
                iterations (mixed control in :func:`~dolfinx_multiscale.studies.loading.load_path`),
                not for a macro Newton (FE²). A solve that needed no Newton iteration
                gives the exact tangent either way.
            initial_guess: a state (``"E"``, ``"w"``, optionally its unit fluctuations
                ``"W"`` ``(n, n_owned)`` with ``"tangent_kind"``, see :meth:`initial_state`)
                to start the micro Newton from instead of the committed state, e.g. the
                same point's solution in the previous macro iteration. The prediction from
                it is accepted only below ``GUESS_TIGHTENING`` times the tolerance; else
                the Newton converges tighter
                (:meth:`~dolfinx_multiscale.cell.newton.MicroNewton.iterate`). The history
                is integrated from the committed state either way.

            tangent_reuse_rtol: condense the tangent with the factorization of the last
                Newton iteration when that iteration started within this relative
                residual of the solution (the tangent is then off by about as much; FE²
                uses ``SolverPolicy.tangent_reuse_rtol``), else factorize once more at
                the solution; 0: always the exact tangent.
            tangent_rtol: relative tolerance of the iterative unit-load solves of the
                tangent (default: the KSP's own, or ``SolverPolicy.approximate_tangent_rtol``
                with ``approximate_tangent``); direct solvers ignore it.

        The micro Newton starts from the first-order predictor ``w_0 + Σ_k ΔE_k W_k``
        with the start state's unit fluctuations (:meth:`MicroNewton.predict`).

        Returns:
            ``(Σ, C)``: the macro stress ``Σ = ⟨σ⟩`` ``(n,)`` and the tangent
            ``(n, n)`` (``None`` unless ``tangent``). The solution is a trial state:
            :meth:`commit` makes it the start of the next solve.

        Raises:
            RVEConvergenceError: the micro Newton did not converge.
        """
        if not isinstance(tangent, (bool, np.bool_)):
            raise ValueError(f"tangent must be True or False (see approximate_tangent); got {tangent!r}")
        E = np.asarray(E, dtype=float).reshape(-1)
        if E.shape != (self.n,):
            raise ValueError(f"E must have {self.n} components (Mandel, docs/conventions.md); got {E.shape}")
        C_init, W_init, D_init = self.initial_tangent()
        if self.is_linear:
            self.w.x.array[:] = 0.0
            self.w.x.array[: W_init.shape[1]] = E @ W_init
            self.w.x.scatter_forward()
            self._evaluate(E, self.w.x.array, need_tangent=False)
            self.newton_iterations = 1  # one linear solve: one (exact) Newton step
            return C_init @ E, (C_init.copy() if tangent else None)

        if initial_guess is not None:
            start = initial_guess
            start_W = {ELASTIC_TANGENT: W_init, STORED_TANGENT: start.get("W")}.get(
                int(start.get("tangent_kind", NO_TANGENT)))
        elif warm_start and self.response is not None:
            start, start_W = self.response.state(), self.response.W
        else:
            start, start_W = self._committed, self._committed_W
        self.micro_newton.predict(start["w"], E - start["E"], W_init if start_W is None else start_W)
        try:
            _, D, self.newton_iterations, self.residuals, factorized_at = self.micro_newton.iterate(
                E, lambda w: self._evaluate(E, w, need_tangent=True), from_guess=initial_guess is not None)
        except RVEConvergenceError as exc:
            self.newton_iterations, self.residuals = len(exc.residuals) - 1, exc.residuals
            raise
        C = None
        if tangent:
            if np.array_equal(D, D_init):  # same point tangents: same K, F and condensation
                C, self.response.W = C_init.copy(), W_init
            else:
                reuse = factorized_at is not None and (approximate_tangent or factorized_at <= tangent_reuse_rtol)
                if not reuse:
                    self.operator.factorize(D)
                rtol = tangent_rtol if tangent_rtol is not None else (self._approximate_rtol if approximate_tangent
                                                                      else None)
                C, self.response.W = self.operator.tangent(D, rtol)
        return self.response.average_stress(), C

    def _evaluate(self, E, w_array, need_tangent: bool):
        """Point strains, stresses and tangents for the fluctuation dofs ``w_array``
        from the committed history; becomes the trial :attr:`response`."""
        eps = E + self.discretisation.fluctuation_strain(w_array)
        sigma, D, history, sigma33 = self.laws.update(eps, self._committed, need_tangent)
        self.discretisation.set_point_values(sigma, D)
        self.response = CellResponse(self.discretisation, self.laws, E.copy(), w_array.copy(), eps, sigma,
                                     sigma33, history)
        self.eps, self.sigma, self.sigma33 = eps, sigma, sigma33
        return sigma, D

    def initial_tangent(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(C, W, D)`` at the virgin state: the condensed tangent ``(n, n)``, the unit
        fluctuations ``(n, n_owned)`` (row ``k``: the fluctuation of ``E = e_k``) and the
        point tangents ``(N, n, n)``. Computed once (one factorization) and cached; do not
        modify the arrays."""
        if self._initial is None:
            saved = self._committed
            self._committed = self._virgin
            try:
                # a linear cell's tangents never change: stored once, in the forms' D_q
                # (2.3 KiB per hexahedron), not also in an array of the laws
                into = self.discretisation.tangent_values() if self.is_linear else None
                sigma, D, _, _ = self.laws.update(np.zeros((self.discretisation.n_points, self.n)),
                                                  self._committed, True, tangent_out=into)
                self.discretisation.set_point_values(sigma, None if into is not None else D)
                voxels = self.is_linear and self.discretisation.voxel_size is not None and self.degree == 1
                self.operator.factorize(D, self.laws.constant_tangents(D) if voxels else None)
                C, W = self.operator.tangent(D)
                self._initial = (C, W, D)  # D: a new array of the laws, kept by the operator too
                self.micro_newton.force_floor = FORCE_FLOOR_STRAIN * self.operator.load_norm
            finally:
                self._committed = saved
        return self._initial

    def commit(self) -> None:
        """Accept the last solve: its fluctuation and history start the next one."""
        if self.response is None:
            raise RuntimeError("nothing to commit: call solve() first")
        self._committed, self._committed_W = self.response.state(), self.response.W

    @property
    def committed_state(self) -> dict:
        """The committed state of this one point: macro strain ``"E"`` ``(n,)``,
        fluctuation dofs ``"w"`` and the micro history (``"<tag>:<key>"``). Assign a
        state saved earlier (or one point of :meth:`update`'s states) to restart from
        it; its unit fluctuations ``"W"`` (with ``"tangent_kind"`` ``STORED_TANGENT``)
        serve the predictor, other keys are ignored."""
        return self._committed

    @committed_state.setter
    def committed_state(self, state: dict) -> None:
        self._committed = state
        self._committed_W = state["W"] if state.get("tangent_kind", NO_TANGENT) == STORED_TANGENT else None
        self.response = None

    def effective_tensor(self) -> npt.NDArray[np.float64]:
        """Effective (tangent) tensor at zero macro strain from the virgin state.

        Returns:
            ``C_eff`` (Mandel, ``(3, 3)`` 2-D plane strain or ``(6, 6)`` 3-D) or the
            effective conductivity ``(d, d)``; by static condensation, one factorization
            in the RVE's lifetime (cached).
        """
        return self.initial_tangent()[0].copy()

    # -- the material protocol: many points --------------------------------------------
    def initial_state(self, n_points: int) -> dict:
        """The virgin state of ``n_points`` points (the protocol's).

        Returns:
            ``{}`` for a linear RVE (no history); else ``"E"`` ``(N, n)``, ``"w"``
            ``(N, n_local_dofs)``, the micro history ``"<tag>:<key>"`` ``(N, ...)``, the
            unit fluctuations ``"W"`` ``(N, n, n_owned)`` of the last update's tangent
            (float32, float64 for SUBC: they only predict the next solve), valid where ``"tangent_kind"``
            is ``STORED_TANGENT`` (``ELASTIC_TANGENT``: the elastic ones, not copied;
            ``NO_TANGENT``: none computed), and the per-point results of the last
            update: ``"Sigma"`` ``(N, n)`` (``Σ = ⟨σ⟩``) and, each ``(N,)``,
            ``"free_energy"`` ``⟨ψ⟩``, ``"step_dissipation"`` ``⟨D⟩``, ``"micro_work"``,
            ``"sigma33"`` ``⟨σ33⟩``, ``"residual"`` and ``"residual_scale"`` (the micro
            Newton's projected residual ``‖Pᵀ r‖`` and scale ``max(‖r‖, f₀)`` at the
            solution; after an elastic check an upper and a lower bound: the next check
            starts from them, :mod:`.batch`), ``"newton_iterations"``,
            ``"elastic_shortcut"`` (1 where the batched elastic shortcut solved the point).
        """
        if self.is_linear:
            return {}
        # float32 rounding keeps periodic images equal and boundary zeros zero, not SUBC's
        # ⟨B(w)⟩ = 0, which the Newton iterates must satisfy exactly
        dtype = np.float64 if self.constraint.average_constraint else np.float32
        record = {k: np.zeros(()) for k in _POINT_RECORD} | {"tangent_kind": np.array(float(ELASTIC_TANGENT)),
                                                             "Sigma": np.zeros(self.n)}
        return repeat({**self._virgin, "W": self.initial_tangent()[1].astype(dtype), **record}, n_points)

    def update(self, strain: npt.ArrayLike, state: dict, need_tangent: bool = True, out: dict | None = None,
               guess: dict | None = None):
        """The homogenized response at ``N`` points, each from its own committed state.

        A linear RVE answers all points at once (``Σ = C_eff E``). Otherwise the points
        whose increment is elastic everywhere in the cell get the exact elastic-shortcut
        solution, all at once (``batch``, :mod:`.batch`); every other point is one
        :meth:`solve` from its state (the RVE's own committed state is left at the last
        such point's).

        Args:
            strain: macro strains ``(N, n)``.
            state: the points' committed states (:meth:`initial_state`), not modified.
            need_tangent: also compute the consistent tangents.
            out: a spare state shaped like ``state`` to fill and return (no new
                allocation: fresh memory costs more than the copy itself).
            guess: the points' states from an earlier evaluation of this increment (the
                previous macro Newton iteration): with ``batch``, a point's micro Newton
                starts from its guess (``"E"``, ``"w"``) instead of the committed state
                (:meth:`solve`'s ``initial_guess``); the history is integrated from the
                committed state either way.

        Returns:
            ``(Σ (N, n), C (N, n, n) | None, new_state)``; a linear 2-D elasticity RVE's
            ``new_state`` holds ``"sigma33"`` ``(N,)``.

        Raises:
            RVEConvergenceError: a point did not converge (its index is ``exc.point``).
        """
        strain = np.asarray(strain, dtype=float)
        if strain.ndim != 2 or strain.shape[1] != self.n:
            raise ValueError(f"strain must have shape (N, {self.n}); got {strain.shape}")
        N = strain.shape[0]
        if self.is_linear:
            if self._linear is None:  # plane strain: Σ33 = c33 · E, from the unit strains
                c33 = (np.array([(self.solve(e, tangent=False), self.response.average_sigma33())[1]
                                 for e in np.eye(self.n)])
                       if self.kinematics.has_out_of_plane_stress and self.dim == 2 else None)
                self._linear = (self.effective_tensor(), c33)
            C, c33 = self._linear
            tangent = np.broadcast_to(C, (N, self.n, self.n)).copy() if need_tangent else None
            return strain @ C.T, tangent, ({} if c33 is None else {"sigma33": strain @ c33})
        sigma = np.empty((N, self.n))
        tangent = np.empty((N, self.n, self.n)) if need_tangent else None
        new = out if out is not None and out is not state else {k: np.empty_like(v) for k, v in state.items()}
        remaining = range(N)
        W_init = self.initial_tangent()[1]  # cached: the same in every update
        if self.batch and N:
            remaining = np.flatnonzero(~elastic_shortcut(self, strain, state, new, sigma, tangent))
        without_W = {k: v for k, v in new.items() if k != "W"}
        for i in remaining:
            self.committed_state = committed = take(state, i)
            start = take(guess, i) if self.batch and guess is not None else None
            try:
                sigma[i], C = self.solve(strain[i], tangent=need_tangent, initial_guess=start,
                                         tangent_reuse_rtol=self._reuse_rtol)
            except RVEConvergenceError as exc:
                exc.point = int(i)
                raise exc
            if need_tangent:
                tangent[i] = C
            r = self.response
            kind = NO_TANGENT if r.W is None else ELASTIC_TANGENT if r.W is W_init else STORED_TANGENT
            if kind == STORED_TANGENT and "W" in new:
                new["W"][i] = r.W
            put(without_W, i, {**r.state(), "tangent_kind": kind, "elastic_shortcut": 0.0, "Sigma": sigma[i],
                               "free_energy": r.free_energy(), "micro_work": r.incremental_work(committed),
                               "newton_iterations": self.newton_iterations, "residual": self.residuals[-1],
                               "residual_scale": self.micro_newton.scale,
                               "sigma33": r.average_sigma33(), "step_dissipation": r.dissipation(committed)})
        return sigma, tangent, new

    def average_history(self, state: dict, key: str, tag: int | None = None) -> npt.NDArray[np.float64]:
        """A micro history variable averaged over each point's cell, ``(N,)``.

        Args:
            state: states of ``N`` points (:meth:`update`).
            key: e.g. ``"p"`` (equivalent plastic strain).
            tag: one phase (default: the volume average over all phases, 0 where absent).
        """
        N = next(iter(state.values())).shape[0] if state else 0
        out = np.zeros(N)
        for t, idx in self.discretisation.phase_points.items():
            if (tag is None or t == tag) and f"{t}:{key}" in state:
                out += state[f"{t}:{key}"] @ self.weights[idx] / self.volume
        return out

    # -- the last solve -------------------------------------------------------------
    def _last(self) -> CellResponse:
        if self.response is None:
            raise RuntimeError("no solve yet: call solve(E) first")
        return self.response

    @property
    def macro_strain(self) -> npt.NDArray[np.float64]:
        """The macro strain ``E`` (Mandel ``(n,)``) of the last solve."""
        return self._last().E

    def macro_strain_tensor(self) -> npt.NDArray[np.float64]:
        """The macro strain of the last solve as a ``(d, d)`` tensor (or ``(d,)`` gradient)."""
        return self.kinematics.as_tensor(self.macro_strain)

    def average(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Volume average ``|Y|⁻¹ ∫_Y f dx`` of point values ``(N, ...)``, on all ranks."""
        return self.discretisation.average(values)

    def average_stress(self) -> npt.NDArray[np.float64]:
        """``Σ = ⟨σ⟩`` (or ``⟨j⟩``) of the last solve, shape ``(n,)``."""
        return self._last().average_stress()

    def average_strain(self) -> npt.NDArray[np.float64]:
        """``⟨ε⟩`` (or ``⟨∇θ⟩``) of the last solve, shape ``(n,)``."""
        return self._last().average_strain()

    def average_sigma33(self) -> float:
        """``Σ33 = ⟨σ33⟩`` of the last 2-D solve (plane strain out-of-plane stress)."""
        return self._last().average_sigma33()

    def hill_mandel_residual(self) -> float:
        """Hill–Mandel residual of the last solve: ``|⟨σ:ε⟩ − Σ:E| / (‖Σ‖ ‖E‖)``
        (:meth:`~dolfinx_multiscale.cell.response.CellResponse.hill_mandel_residual`)."""
        return self._last().hill_mandel_residual()

    def mean_plastic_strain(self) -> float:
        """``⟨p⟩``: volume average of the equivalent plastic strain of the last solve
        (0 in phases without plasticity)."""
        return self._last().mean_history("p")

    def free_energy(self) -> float:
        """``ψ̄ = ⟨ψ⟩``: stored energy per unit cell volume of the last solve."""
        return self._last().free_energy()

    def step_dissipation(self) -> float:
        """``⟨D⟩``: energy dissipated per unit cell volume from the committed state to
        the last solve (``Σ_phases`` of the materials' ``dissipation``; linear: 0)."""
        return self._last().dissipation(self._committed)

    def incremental_work(self) -> float:
        """``⟨σ_{n+1} : (ε_{n+1} − ε_n)⟩``: micro work of the step from the committed
        state to the last solve. Hill–Mandel in increments makes it ``Σ_{n+1} : ΔE``."""
        return self._last().incremental_work(self._committed)

    def cell_fields(self) -> dict[str, npt.NDArray[np.float64]]:
        """Cell averages of the last solve's point fields, for output
        (:meth:`~dolfinx_multiscale.cell.response.CellResponse.cell_fields`)."""
        return self._last().cell_fields()


def elastic_shortcut(rve: RVE, strain: npt.NDArray[np.float64], state: dict, new: dict,
                     sigma: npt.NDArray[np.float64], tangent: npt.NDArray[np.float64] | None
                     ) -> npt.NDArray[np.bool_]:
    """The points of an :meth:`RVE.update` whose increment is elastic in the whole cell,
    solved exactly and all at once (:meth:`BatchedCell.elastic_candidates
    <dolfinx_multiscale.cell.batch.BatchedCell.elastic_candidates>`; serial cells): the
    elastic check (the laws' trial yield functions at the points of the inelastic phases,
    ``Σ = Σ_n + C_eff ΔE``) where every inelastic law has ``elastic_trial``, else every
    law on the whole cell.

    Writes their stress into ``sigma`` ``(N, n)``, ``C_eff`` into ``tangent`` ``(N, n, n)``
    (if not ``None``) and every entry of the RVE's state but ``"W"`` into ``new`` (their
    unit fluctuations are the elastic ones: ``"tangent_kind"`` ``ELASTIC_TANGENT``, not
    copied); other keys of ``new`` (those of a law built on the RVE, e.g. a reduced RVE)
    are left to the caller.

    Returns:
        The ``(N,)`` mask of those points.
    """
    N = len(strain)
    accepted = np.zeros(N, dtype=bool)
    keys = (set(rve.initial_state(0)) - {"W"}) & set(new)
    for start in range(0, N, SHORTCUT_CHUNK):
        rows = slice(start, start + SHORTCUT_CHUNK)
        ok, records = rve.batched_cell.elastic_candidates(strain[rows], {k: v[rows] for k, v in state.items()})
        accepted[rows] = ok
        if ok.any():
            sigma[rows][ok] = records["Sigma"]
            if tangent is not None:
                tangent[rows][ok] = rve.initial_tangent()[0]
            ones = np.ones(int(ok.sum()))
            put({k: new[k][rows] for k in keys}, ok,
                {**records, "elastic_shortcut": ones, "tangent_kind": ELASTIC_TANGENT * ones})
    return accepted


@contextlib.contextmanager
def newton_tolerance(rve: RVE, rtol: float):
    """``rve`` solves with the micro Newton's relative tolerance ``rtol`` inside the ``with``
    block, then with its own again: e.g. a reference ``Σ`` needed to a small fraction of a
    coarser tolerance (the reduced RVE's audit).

    Raises:
        ValueError: ``rtol`` not in ``(0, 1)``.
    """
    if not (np.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
    own = rve.micro_newton.rtol
    rve.micro_newton.rtol = float(rtol)
    try:
        yield rve
    finally:
        rve.micro_newton.rtol = own
