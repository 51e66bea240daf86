"""The RVE cell problem: downscaling a macro strain, solving, upscaling stress and tangent.

For elasticity the micro displacement is split as ``u = E·(x − x_c) + w``, with the
macro strain ``E`` and the fluctuation ``w`` constrained by the boundary condition
(:mod:`~dolfinx_multiscale.boundary`). The cell problem in UFL is

    find w:  ∫_Y ε(v) : σ(E + ε(w)) dx = 0   for all admissible v,

and the upscaling is ``Σ = ⟨σ⟩ = |Y|⁻¹ ∫_Y σ dx`` (``|Y|`` the box volume, so pores count
as zero stress). For conduction, ``θ = G·(x − x_c) + w``, the flux is ``j = K ∇θ`` and
``J = ⟨j⟩``. Both are written once with a generalized strain ``B(w)`` (the Mandel
strain vector or the gradient) and a generalized stress.

The micro stress and tangent live in quadrature-space Functions filled by the materials'
vectorised ``update`` (:mod:`~dolfinx_multiscale.materials`), so linear and
elastoplastic phases share one code path. The consistent macro tangent comes from static
condensation with the factorized reduced stiffness ``K̃ = Pᵀ K P``:

    C_eff = ⟨D⟩ + |Y|⁻¹ Gᵀ W,   K̃ W = −F,

where column ``k`` of ``F`` is the load of the unit macro strain ``e_k``
(``∫ B(v)·D e_k``) and ``G`` the adjoint load (``∫ B(v)·Dᵀ e_k``). One factorization
serves all ``n`` right-hand sides; a linear RVE is factorized once in its lifetime.
"""

from __future__ import annotations

import logging

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

import basix.ufl
import dolfinx.fem as fem
import dolfinx.fem.petsc
import ufl

from .boundary import BOUNDARY_CONDITIONS
from .solver import ReducedSolver
from ..errors import RVEConvergenceError
from ..kinematics import SMALL_STRAIN
from ..tensors import von_mises

__all__ = ["RVE"]

_log = logging.getLogger(__name__)
#: elastic RVEs above this many dofs (per dimension) default to CG + GAMG (design §4:
#: in 3-D MUMPS takes 25 s on 82 k dofs where CG + GAMG takes 5 s for the same tensor)
ITERATIVE_DOFS = {2: 10**12, 3: 30_000}
#: ... and those with a varying tangent (plasticity) above this many: the operator
#: changes at every Newton iteration, and an inexact CG + GAMG solve beats a new
#: factorization (J2 load path: 1.12x at 4 k dofs and 1.45x at 8 k in 2-D, 1.3x at 1.1 k
#: and 3.3x at 3.9 k in 3-D); FE² cells, smaller, keep the direct solver
ITERATIVE_DOFS_VARYING = {2: 3_000, 3: 3_000}
#: largest relative tolerance of an iterative solve of a micro Newton correction (the
#: inexact Newton forcing term, see ``RVE._solve_newton``); direct solvers ignore it
NEWTON_FORCING = 1e-2
#: relative tolerance of iterative unit-load solves for ``tangent="approximate"`` (that
#: tangent is already ~1e-5 off: it is condensed with an older operator). 2-D J2 path,
#: Krylov iterations of these solves at 1e-5 / 1e-6 / 1e-8: 739 / 953 / 1 380
APPROXIMATE_TANGENT_RTOL = 1e-6


class RVE:
    """A representative volume element: cell problem, homogenized response and fields.

    Args:
        micro: the :class:`~dolfinx_multiscale.microstructures.Microstructure` (mesh,
            cell tags = phases, periodic cell ``box``).
        materials: phase tag → material (``LinearElastic``, ``Conductivity``,
            ``J2Plasticity`` or any object with the material protocol of
            :mod:`~dolfinx_multiscale.materials`). Every tag of the mesh needs one and
            every key must be a tag of the mesh.
        bc: ``"periodic"``, ``"kubc"`` or ``"subc"`` (:mod:`~dolfinx_multiscale.boundary`).
        degree: Lagrange degree of the fluctuation (1 or 2 typically).
        petsc_options_prefix: prefix of the PETSc options of the linear solver (default
            MUMPS LU: ``-<prefix>ksp_type preonly -<prefix>pc_type lu``; CG + GAMG with
            the rigid-body near-null space at ``ksp_rtol 1e-12`` for 3-D elastic RVEs
            above ``ITERATIVE_DOFS[3]`` dofs and for RVEs with a ``varying_tangent``
            material (plasticity) above ``ITERATIVE_DOFS_VARYING[d]``; MUMPS LDLᵀ,
            ``pc_type cholesky``, when every material has ``spd_tangent``); any of these
            can be set in ``PETSc.Options()``.
            With an iterative solver the micro Newton is inexact: each correction is
            solved to the Eisenstat–Walker tolerance ``0.9 (r_k/r_{k−1})²`` (at most
            ``NEWTON_FORCING``, and tight enough to land at ``0.1 rtol``), unit loads of
            an approximate tangent to ``APPROXIMATE_TANGENT_RTOL``, each starting from
            the previous unit fluctuation; the converged answer is the same.
        rtol: relative tolerance of the micro Newton (projected residual over the norm of
            the unconstrained internal-force vector).
        max_iterations: Newton iteration bound; exceeding it raises
            :class:`RVEConvergenceError`.
        line_search_cuts: halvings of a Newton step whose residual norm does not
            decrease (backtracking; the full step is tried first, so the quadratic
            regime is untouched).

    The generalized strain/stress have ``n`` components: the Mandel order of design §3
    for elasticity (``n = 3`` in 2-D plane strain, 6 in 3-D) and ``n = d`` for
    conduction. The mesh communicator is the RVE's: a single RVE may be distributed.
    """

    def __init__(self, micro, materials: dict, bc: str = "periodic", degree: int = 1,
                 petsc_options_prefix: str = "rve_", rtol: float = 1e-10,
                 max_iterations: int = 25, line_search_cuts: int = 4):
        if bc not in BOUNDARY_CONDITIONS:
            raise ValueError(f"bc must be one of {sorted(BOUNDARY_CONDITIONS)}; got {bc!r}")
        if not (isinstance(degree, int) and degree >= 1):
            raise ValueError(f"degree must be an integer >= 1; got {degree!r}")
        self.micro = micro
        self.mesh = mesh = micro.mesh
        self.comm = mesh.comm
        self.bc = bc
        self.degree = degree
        self.dim = d = mesh.geometry.dim
        self.materials = dict(materials)
        self.kinematics = self._check_materials(micro)
        self.rtol = rtol
        self.max_iterations = max_iterations
        self.line_search_cuts = line_search_cuts
        self.n = self.kinematics.size(d)
        lo, hi = (np.asarray(b, dtype=float)[:d] for b in micro.box)
        self.volume = float(np.prod(hi - lo))
        self.centre = 0.5 * (lo + hi)

        self.V = fem.functionspace(mesh, ("Lagrange", degree, self.kinematics.field_shape(d)))
        self.w = fem.Function(self.V, name="fluctuation")
        self.B = self.kinematics.strain
        self._setup_quadrature(max(2 * (degree - 1), 1))
        self._setup_forms()

        self.constraint = BOUNDARY_CONDITIONS[bc](self.V, micro.box)
        varying = any(getattr(m, "varying_tangent", not m.is_linear) for m in self.materials.values())
        threshold = (ITERATIVE_DOFS_VARYING if varying else ITERATIVE_DOFS)[d]
        iterative = self.kinematics is SMALL_STRAIN and self.n_dofs > threshold
        self._solver = ReducedSolver(self.constraint, self.comm, petsc_options_prefix,
                                     self._rigid_modes() if iterative else None,
                                     block_size=self.constraint.block_size,
                                     spd=all(getattr(m, "spd_tangent", False)
                                             for m in self.materials.values()))
        self._unit_work: dict = {}  # work vectors: unit loads, reduced unit fluctuations
        self._reduced_work = self._solver.P.createVecRight()
        self._r_reduced = self._solver.P.createVecRight()
        self._dw = dolfinx.fem.petsc.create_vector(self.V)
        if self.constraint.average_constraint:
            self._solver.set_constraints(self._unit_vectors(self._avg_form))
        self.is_linear = all(m.is_linear for m in self.materials.values())

        self._committed = self._initial_state()
        self._trial = None
        self._initial = None  # (C, unit fluctuations W, point tangents D) at the initial state
        self._factorized_D = None  # point tangents of the current factorization
        self.eps = self.sigma = None  # point arrays of the last solve, (N, n)

    # -- set-up ---------------------------------------------------------------------
    def _check_materials(self, micro) -> str:
        tags = {int(t) for t in micro.volume_fractions}
        keys = set(self.materials)
        if tags != keys:
            raise ValueError(f"phases and materials differ: mesh phase tags {sorted(tags)}, "
                             f"material keys {sorted(keys)}")
        kinds = {m.kinematics for m in self.materials.values()}
        if len(kinds) != 1:
            raise ValueError(f"all materials must share one physics; got {sorted(k.name for k in kinds)}")
        return kinds.pop()

    def _setup_quadrature(self, q: int) -> None:
        mesh, n = self.mesh, self.n
        cell = mesh.basix_cell()
        self._dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": q})
        Qs = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(), degree=q))
        Qv = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(n,), degree=q))
        Qt = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(n, n), degree=q))
        self._points = Qs.element.interpolation_points
        imap = mesh.topology.index_map(mesh.topology.dim)
        self._cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
        self._dofs = Qs.dofmap.list[self._cells].reshape(-1)  # point p (cell-major) → dof
        self.sig_q = fem.Function(Qv, name="stress")
        self.D_q = fem.Function(Qt, name="tangent")
        # w_p |det J| at every point (zero on ghost cells, which are not integrated)
        weights = dolfinx.fem.petsc.assemble_vector(fem.form(ufl.TestFunction(Qs) * self._dx))
        with weights.localForm() as local:
            self.weights = local.array_r[self._dofs].copy()
        weights.destroy()
        n_local_cells = self._cells.size
        nq = self._dofs.size // max(n_local_cells, 1)
        self._n_points_owned = imap.size_local * nq
        self.weights[self._n_points_owned:] = 0.0
        tag_of_cell = np.full(n_local_cells, -1, dtype=np.int64)
        tag_of_cell[self.micro.cell_tags.indices] = self.micro.cell_tags.values
        if (tag_of_cell < 0).any():
            raise ValueError("every cell of the mesh must carry a phase tag")
        tag_of_point = np.repeat(tag_of_cell, nq)
        self._phase_points = {t: np.flatnonzero(tag_of_point == t) for t in self.materials}

    def _setup_forms(self) -> None:
        B, dx = self.B, self._dx
        v, du = ufl.TestFunction(self.V), ufl.TrialFunction(self.V)
        self._Ebar = fem.Constant(self.mesh, np.zeros(self.n))
        self._a = fem.form(ufl.inner(ufl.dot(self.D_q, B(du)), B(v)) * dx)
        self._residual = fem.form(ufl.inner(self.sig_q, B(v)) * dx)
        self._load = fem.form(ufl.inner(ufl.dot(self.D_q, self._Ebar), B(v)) * dx)
        self._adjoint_load = fem.form(ufl.inner(ufl.dot(ufl.transpose(self.D_q), self._Ebar), B(v)) * dx)
        self._avg_form = fem.form(ufl.inner(self._Ebar, B(v)) * dx)
        self._strain_expr = fem.Expression(B(self.w), self._points)
        self.K = fem.create_matrix(self._a)  # local CSR (owned + ghost rows), see ReducedSolver
        self._r = dolfinx.fem.petsc.create_vector(self.V)

    def _rigid_modes(self) -> list[PETSc.Vec]:
        """Rigid body modes as full-space vectors (the GAMG near-null space): the ``d``
        translations and the ``d(d−1)/2`` rotations about the cell centre."""
        d = self.dim
        x = self.V.tabulate_dof_coordinates()[: self.V.dofmap.index_map.size_local, :d] - self.centre
        pairs = [(0, 1)] if d == 2 else [(1, 2), (0, 2), (0, 1)]
        modes = []
        for k in range(d + len(pairs)):
            vec = dolfinx.fem.petsc.create_vector(self.V)
            a = vec.array.reshape(-1, d)
            a[:] = 0.0
            if k < d:
                a[:, k] = 1.0
            else:
                i, j = pairs[k - d]
                a[:, i], a[:, j] = -x[:, j], x[:, i]
            modes.append(vec)
        return modes

    # -- helpers --------------------------------------------------------------------
    def _assemble_vector(self, form, out: PETSc.Vec) -> PETSc.Vec:
        with out.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(out, form)
        out.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return out

    def _unit_vectors(self, form) -> list[PETSc.Vec]:
        """Assemble ``form`` for every unit macro strain ``e_k``: ``n`` full vectors
        (work vectors of this form, overwritten by the next call)."""
        if id(form) not in self._unit_work:
            self._unit_work[id(form)] = [self._dw.duplicate() for _ in range(self.n)]
        out = self._unit_work[id(form)]
        for k in range(self.n):
            self._Ebar.value[:] = np.eye(self.n)[k]
            self._assemble_vector(form, out[k])
        self._Ebar.value[:] = 0.0
        return out

    def _restricted_unit_vectors(self, form) -> list[PETSc.Vec]:
        """:meth:`_unit_vectors` restricted to the reduced unknowns (work vectors)."""
        key = (id(form), "reduced")
        if key not in self._unit_work:
            self._unit_work[key] = [self._reduced_work.duplicate() for _ in range(self.n)]
        out = self._unit_work[key]
        for f, r in zip(self._unit_vectors(form), out):
            self._solver.restrict(f, r)
        return out

    def average(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Volume average ``|Y|⁻¹ ∫_Y f dx`` of point values ``(N, ...)``, on all ranks."""
        values = np.asarray(values)
        local = (self.weights @ values.reshape(values.shape[0], -1)).reshape(values.shape[1:])
        if self.comm.size > 1:
            local = self.comm.allreduce(local, op=MPI.SUM)
        return local / self.volume

    def _fluctuation_strain(self, w_array: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self.w.x.array[:] = w_array
        vals = self._strain_expr.eval(self.mesh, self._cells)
        return vals.reshape(-1, self.n)

    def _constitutive(self, eps, need_tangent: bool):
        """Stress/tangent at every point from the committed history; fills sig_q, D_q."""
        N = eps.shape[0]
        sigma = np.empty((N, self.n))
        D = np.empty((N, self.n, self.n)) if need_tangent else None
        trial = {}
        self.sigma33 = np.zeros(N)
        for tag, mat in self.materials.items():
            idx = self._phase_points[tag]
            s, t, trial[tag] = mat.update(eps[idx], self._committed["phases"][tag], need_tangent)
            sigma[idx] = s
            if "sigma33" in trial[tag]:
                self.sigma33[idx] = trial[tag]["sigma33"]
            if need_tangent:
                D[idx] = t
        self.sig_q.x.array.reshape(-1, self.n)[self._dofs] = sigma
        if need_tangent:
            self.D_q.x.array.reshape(-1, self.n * self.n)[self._dofs] = D.reshape(N, -1)
        return sigma, D, trial

    def _factorize(self, D) -> None:
        """Assemble and factorize ``K̃`` for the point tangents ``D`` (already in
        ``D_q``); skipped when ``D`` equals the tangents of the current factorization,
        since ``K`` depends on nothing else."""
        if self._factorized_D is not None and np.array_equal(D, self._factorized_D):
            return
        self.K.set_value(0.0)
        fem.assemble_matrix(self.K, self._a)
        self._solver.set_operator(self.K)
        self._factorized_D = np.array(D)

    def _condensed_tangent(self, D, rtol: float | None = None) -> tuple[npt.NDArray[np.float64], list[PETSc.Vec]]:
        """``C = ⟨D⟩ + |Y|⁻¹ Gᵀ W`` with ``K̃ W = −F``; returns C and the full ``W_k``.

        Iterative solvers start each ``W_k`` from the previous condensation's (the unit
        fluctuations change little from one solve to the next) and solve to ``rtol``
        (default: the KSP's own)."""
        F = self._restricted_unit_vectors(self._load)
        symmetric = self._solver.spd or np.abs(D - np.swapaxes(D, 1, 2)).max() <= 1e-13 * np.abs(D).max()
        G = F if symmetric else self._restricted_unit_vectors(self._adjoint_load)
        C = self.average(D)
        W_full = []
        if "W_reduced" not in self._unit_work:
            self._unit_work["W_reduced"] = [self._reduced_work.duplicate() for _ in range(self.n)]
            for wk in self._unit_work["W_reduced"]:
                wk.set(0.0)
        for k, f in enumerate(F):  # W_k = −K̃⁻¹ F_k
            wk = self._solver.solve(f, self._unit_work["W_reduced"][k], rtol=rtol, initial_guess=True)
            C[:, k] -= np.array([g.dot(wk) for g in G]) / self.volume
            full = self._dw.duplicate()
            self._solver.P.mult(wk, full)
            full.scale(-1.0)
            W_full.append(full)
        return C, W_full

    # -- public API -----------------------------------------------------------------
    def solve(self, E: npt.ArrayLike, tangent: bool = True, warm_start: bool = False):
        """Downscale ``E``, solve the cell problem from the committed state, upscale.

        Args:
            E: macro strain (Mandel, shape ``(n,)``: ``(3,)`` 2-D, ``(6,)`` 3-D) or macro
                gradient ``(d,)`` for conduction.
            tangent: also return the consistent macro tangent: ``True`` (exact) or
                ``"approximate"``: condensed with the factorization of the last Newton
                iteration, i.e. the tangent at the second-to-last iterate, which differs
                from the exact one by about the size of the last Newton correction
                (relative ~1e-5 for ``rtol = 1e-10`` at quadratic convergence) and costs
                no factorization; enough for predictors and outer iterations (mixed
                control in :meth:`load_path`), not for a macro Newton (FE²). A solve
                that needed no Newton iteration gives the exact tangent either way.
            warm_start: start the micro Newton from the last (uncommitted) solve of this
                step instead of the committed state, e.g. in an outer iteration on
                ``E`` (mixed control); the answer is the same, the iterations fewer.

        The micro Newton starts from a first-order predictor: the start state's unit
        fluctuations times the strain increment if that state was solved with a
        tangent, else one solve with the current operator (an elastic increment is then
        exact and needs no new operator).

        Returns:
            ``(Σ, C)``: the macro stress ``Σ = ⟨σ⟩`` ``(n,)`` and the tangent
            ``C = ∂Σ/∂E`` ``(n, n)`` (``None`` unless ``tangent``). The solution is a trial
            state: :meth:`commit` makes it the start of the next solve.

        Raises:
            RVEConvergenceError: the micro Newton did not converge.
        """
        if tangent not in (True, False, "approximate"):
            raise ValueError(f"tangent must be True, False or 'approximate'; got {tangent!r}")
        E = np.asarray(E, dtype=float).reshape(-1)
        if E.shape != (self.n,):
            raise ValueError(f"E must have {self.n} components (Mandel, design §3); got {E.shape}")
        if self.is_linear:
            return self._solve_linear(E, tangent)
        return self._solve_newton(E, tangent, warm_start)

    def _initial_state(self) -> dict:
        return {"E": np.zeros(self.n), "w": np.zeros_like(self.w.x.array),
                "phases": {t: m.initial_state(self._phase_points[t].size) for t, m in self.materials.items()}}

    def _initial_tangent(self):
        """``(C, W, D)`` at the initial state: condensed tangent, unit fluctuations and
        point tangents. Computed once (one factorization) and cached."""
        if self._initial is None:
            saved = self._committed
            self._committed = self._initial_state()
            try:
                _, D, _ = self._constitutive(np.zeros((self.weights.size, self.n)), True)
                self._factorize(D)
                C, W = self._condensed_tangent(D)
                self._initial = (C, W, np.array(D))
            finally:
                self._committed = saved
        return self._initial

    def _solve_linear(self, E, tangent):
        C, W, _ = self._initial_tangent()
        self._set_fluctuation_from(W, E)
        self._finish(E, self.w.x.array.copy(), need_tangent=False)
        return C @ E, (C.copy() if tangent else None)

    def _set_fluctuation_from(self, W: list[PETSc.Vec], E) -> None:
        x = self.w.x.petsc_vec
        x.set(0.0)
        for Ek, Wk in zip(E, W):
            x.axpy(float(Ek), Wk)
        self.w.x.scatter_forward()

    def _finish(self, E, w_array, need_tangent):
        eps = E + self._fluctuation_strain(w_array)
        sigma, D, trial = self._constitutive(eps, need_tangent)
        self.eps, self.sigma = eps, sigma
        self._trial = {"E": E.copy(), "w": w_array.copy(), "phases": trial}
        return sigma, D

    def _solve_newton(self, E, tangent, warm_start=False):
        w = self.w
        C_init, W_init, D_init = self._initial_tangent()
        # first-order predictor from the committed state (or, warm, from the last trial
        # solution of this step): w ≈ w_0 + Σ_k (E − E_0)_k W_k with its unit fluctuations
        # if it has them (a solve with a tangent), else one solve K̃ δ = −Pᵀ F(E − E_0)
        # with the current operator and the last point tangents, or the initial (elastic)
        # unit fluctuations while the operator is the elastic one. An increment that
        # stays elastic everywhere is then exact. The history is always integrated from
        # the committed state; only the initial guess differs.
        start = self._trial if warm_start and self._trial is not None else self._committed
        w.x.array[:] = start["w"]
        dE = E - start["E"]
        if "W" not in start and self._factorized_D is not None and not np.array_equal(self._factorized_D, D_init):
            self._Ebar.value[:] = dE
            f = self._solver.restrict(self._assemble_vector(self._load, self._r), self._r_reduced)
            self._Ebar.value[:] = 0.0
            f.scale(-1.0)
            self._solver.P.mult(self._solver.solve(f, self._reduced_work, rtol=NEWTON_FORCING), self._dw)
            w.x.petsc_vec.axpy(1.0, self._dw)
        else:
            for dEk, Wk in zip(dE, start.get("W") or W_init):
                w.x.petsc_vec.axpy(float(dEk), Wk)
        w.x.scatter_forward()
        dw_full = self._dw
        w0 = w.x.petsc_vec.copy()

        def residual_norm():
            sigma, D = self._finish(E, w.x.array, need_tangent=True)
            r = self._assemble_vector(self._residual, self._r)
            r_red = self._solver.restrict(r, self._r_reduced)
            return sigma, D, r_red, self._solver.projected_norm(r_red), r.norm()

        sigma, D, r_red, res, scale = residual_norm()
        residuals = [res]
        converged = False
        for it in range(self.max_iterations + 1):
            tol = max(self.rtol, 1e-14) * scale
            converged = res <= tol
            _log.debug("RVE Newton %d: |r| = %.3e (scale %.3e)", it, res, scale)
            if converged or it == self.max_iterations or not np.isfinite(res):
                break
            self._factorize(D)
            r_red.scale(-1.0)
            # inexact Newton (iterative solvers only), Eisenstat–Walker forcing term
            # 0.9 (r_k / r_{k-1})²: the correction is only as accurate as the last
            # contraction suggests Newton can use, and no more than needed to land at 0.1 tol
            contraction = res / residuals[-2] if len(residuals) > 1 else 1.0
            forcing = min(NEWTON_FORCING, max(0.9 * contraction**2, 0.1 * tol / res))
            self._solver.P.mult(self._solver.solve(r_red, self._reduced_work, rtol=forcing), dw_full)
            w0.array[:] = w.x.petsc_vec.array_r
            alpha = 1.0
            for _ in range(self.line_search_cuts + 1):  # backtracking on the residual norm
                w.x.petsc_vec.waxpy(alpha, dw_full, w0)
                w.x.scatter_forward()
                sigma, D, r_red, res_try, scale = residual_norm()
                if res_try < res or not np.isfinite(res):
                    break
                alpha /= 2.0
            res = res_try
            residuals.append(res)
        self.newton_iterations = it
        self.residuals = residuals
        if not converged:
            raise RVEConvergenceError(
                f"RVE Newton did not converge in {it} iterations at "
                f"E = {E.tolist()}; residuals {[f'{x:.2e}' for x in residuals]}", E, residuals)
        C = None
        if tangent:
            if np.array_equal(D, D_init):  # same point tangents: same K, F and condensation
                C, self._trial["W"] = C_init.copy(), W_init
            else:
                if tangent != "approximate" or it == 0:
                    self._factorize(D)
                rtol = APPROXIMATE_TANGENT_RTOL if tangent == "approximate" else None
                C, self._trial["W"] = self._condensed_tangent(D, rtol)
        return self.average(sigma), C

    def commit(self) -> None:
        """Accept the last solve: its fluctuation and history start the next one."""
        if self._trial is None:
            raise RuntimeError("nothing to commit: call solve() first")
        self._committed = self._trial

    @property
    def committed_state(self) -> dict:
        """The committed state: macro strain ``"E"``, fluctuation dofs ``"w"`` and the
        history of every phase (``"phases"``). Assign a state saved earlier to restart
        from it (FE² keeps one per macro point)."""
        return self._committed

    @committed_state.setter
    def committed_state(self, state: dict) -> None:
        self._committed = state
        self._trial = None

    def _phase_average(self, per_phase) -> float:
        """``⟨f⟩`` of a point quantity given per phase by ``per_phase(tag, material,
        point_indices) -> (n_phase_points,) | None`` (``None``: zero in that phase)."""
        values = np.zeros(self.weights.size)
        for tag, mat in self.materials.items():
            idx = self._phase_points[tag]
            v = per_phase(tag, mat, idx)
            if v is not None:
                values[idx] = v
        return float(self.average(values))

    def mean_plastic_strain(self) -> float:
        """``⟨p⟩``: volume average of the equivalent plastic strain of the last solve
        (0 in phases without plasticity)."""
        return self._phase_average(lambda t, m, idx: self._trial["phases"][t].get("p"))

    def step_dissipation(self) -> float:
        """``⟨D⟩``: energy dissipated per unit cell volume from the committed state to
        the last solve (``Σ_phases`` of the materials' ``dissipation``; linear: 0)."""
        return self._phase_average(lambda t, m, idx: None if m.is_linear else m.dissipation(
            self._committed["phases"][t], self._trial["phases"][t]))

    def free_energy(self) -> float:
        """``ψ̄ = ⟨ψ⟩``: stored energy per unit cell volume of the last solve."""
        return self._phase_average(lambda t, m, idx: m.free_energy(self.eps[idx], self._trial["phases"][t]))

    def incremental_work(self) -> float:
        """``⟨σ_{n+1} : (ε_{n+1} − ε_n)⟩``: micro work of the step from the committed
        state to the last solve. Hill–Mandel in increments makes it ``Σ_{n+1} : ΔE``."""
        eps_n = self._committed["E"] + self._fluctuation_strain(self._committed["w"])
        self.w.x.array[:] = self._trial["w"]
        return float(self.average(np.einsum("pi,pi->p", self.sigma, self.eps - eps_n)))

    def average_sigma33(self) -> float:
        """``Σ33 = ⟨σ33⟩`` of the last 2-D solve (plane strain out-of-plane stress)."""
        return float(self.average(self.sigma33))

    def effective_tensor(self) -> npt.NDArray[np.float64]:
        """Effective (tangent) tensor at zero macro strain from the initial state.

        Returns:
            ``C_eff`` (Mandel, ``(3, 3)`` 2-D plane strain or ``(6, 6)`` 3-D) or the
            effective conductivity ``(d, d)``; by static condensation, one factorization
            in the RVE's lifetime (cached).
        """
        return self._initial_tangent()[0].copy()

    @property
    def macro_strain(self) -> npt.NDArray[np.float64]:
        """The macro strain ``E`` (Mandel ``(n,)``) of the last solve."""
        if self._trial is None:
            raise RuntimeError("no solve yet: call solve(E) first")
        return self._trial["E"]

    def macro_strain_tensor(self) -> npt.NDArray[np.float64]:
        """The macro strain of the last solve as a ``(d, d)`` tensor (or ``(d,)`` gradient)."""
        E = self.macro_strain
        return self.kinematics.as_tensor(E)

    def cell_fields(self) -> dict[str, npt.NDArray[np.float64]]:
        """Cell averages of the last solve's point fields, for output.

        Returns:
            ``"strain"`` and ``"stress"`` ``(n_cells, n)`` (Mandel / gradient, flux) and,
            for elasticity, ``"von_mises"`` ``(n_cells,)`` (2-D: with the materials'
            ``σ33`` — plane strain — where they provide it, else ``σ33 = 0``) and, for
            inelastic RVEs, ``"p"`` (equivalent plastic strain, 0 in elastic phases).
            Rows cover the local cells (owned first, then ghosts).
        """
        nc = self._cells.size
        w = self.weights.reshape(nc, -1)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        w = w / w.sum(axis=1, keepdims=True)

        def cellwise(values):
            return np.einsum("cq,cq...->c...", w, values.reshape((nc, w.shape[1]) + values.shape[1:]))

        out = {"strain": cellwise(self.eps), "stress": cellwise(self.sigma)}
        if self.kinematics.has_out_of_plane_stress:
            out["von_mises"] = cellwise(von_mises(self.sigma, self.sigma33))
        if not self.is_linear:
            p = np.zeros(self.weights.size)
            for tag in self.materials:
                if "p" in self._trial["phases"][tag]:
                    p[self._phase_points[tag]] = self._trial["phases"][tag]["p"]
            out["p"] = cellwise(p)
        return out

    def average_strain(self) -> npt.NDArray[np.float64]:
        """``⟨ε⟩`` (or ``⟨∇θ⟩``) of the last solve, shape ``(n,)``."""
        return self.average(self.eps)

    def average_stress(self) -> npt.NDArray[np.float64]:
        """``Σ = ⟨σ⟩`` (or ``⟨j⟩``) of the last solve, shape ``(n,)``."""
        return self.average(self.sigma)

    def hill_mandel_residual(self) -> float:
        """Hill–Mandel residual of the last solve: ``|⟨σ:ε⟩ − Σ:E| / (‖Σ‖ ‖E‖)``.

        The denominator bounds ``|Σ:E|`` from above and stays meaningful when ``Σ ⟂ E``
        (e.g. at the end of an unloading path), where ``|Σ:E|`` alone would not; for
        proportional states the two coincide. 0 when ``Σ`` or ``E`` vanishes.
        """
        E = self._trial["E"]
        Sigma = self.average_stress()
        micro = float(self.average(np.einsum("pi,pi->p", self.sigma, self.eps)))
        scale = float(np.linalg.norm(Sigma) * np.linalg.norm(E))
        return abs(micro - float(Sigma @ E)) / scale if scale > 0 else 0.0

    @property
    def physics(self) -> str:
        """The physics name of the cell problem, ``"elasticity"`` or ``"conduction"``."""
        return self.kinematics.name

    @property
    def n_dofs(self) -> int:
        """Global number of finite element dofs of the fluctuation field."""
        imap = self.V.dofmap.index_map
        return imap.size_global * self.V.dofmap.index_map_bs
