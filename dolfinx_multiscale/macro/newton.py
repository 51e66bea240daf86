"""A small macro Newton solver and an incremental load driver with step cutting.

:class:`NewtonSolver` solves ``F(u) = 0`` for a form whose stress comes from one or
more :class:`~dolfinx_multiscale.macro.quadrature.QuadratureMaterial` (single-scale or FE²),
updating them before every residual and reporting each iteration (``logging``); with a
consistent tangent it converges quadratically. :func:`incremental_solve` applies a load
history step by step, commits the materials' histories after each converged step and,
when a step fails (macro Newton or a micro solve), rolls back, halves the step and
retries, up to a bound (the one stepping driver, :mod:`.stepping`).
"""

from __future__ import annotations

import logging
import time

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np

import dolfinx.fem as fem
import dolfinx.fem.petsc

from ..errors import ConvergenceError, MacroConvergenceError
from ..linalg import make_ksp
from .stepping import cut_and_retry

__all__ = ["NewtonSolver", "incremental_solve"]

_log = logging.getLogger(__name__)


class NewtonSolver:
    """Newton's method for ``F(u) = 0`` with quadrature materials.

    Args:
        F: residual form (contains ``material.stress(u)``).
        J: Jacobian form (e.g. ``material.derivative(F, u, du)``).
        u: the unknown displacement Function (updated in place).
        bcs: Dirichlet conditions on ``u`` (the values ``u`` must reach).
        materials: the quadrature materials appearing in ``F``.
        rtol, atol: converged when ``‖r‖ ≤ max(atol, rtol ‖r₀‖)`` (``r`` without the
            Dirichlet rows), tested from the second iteration on.
        max_iterations: iteration bound.
        petsc_options_prefix: prefix of the linear solver options (default MUMPS LU).
    """

    def __init__(self, F, J, u, bcs, materials, rtol=1e-10, atol=1e-14, max_iterations=15,
                 petsc_options_prefix="macro_newton_"):
        self.F, self.J = fem.form(F), fem.form(J)
        self.u, self.bcs, self.materials = u, list(bcs), list(materials)
        self.rtol, self.atol, self.max_iterations = rtol, atol, max_iterations
        self.A = dolfinx.fem.petsc.create_matrix(self.J)
        self.b = dolfinx.fem.petsc.create_vector(u.function_space)
        self.du = dolfinx.fem.petsc.create_vector(u.function_space)
        self.ksp = make_ksp(u.function_space.mesh.comm, petsc_options_prefix)
        self.ksp.setOperators(self.A)
        self.residuals: list[float] = []
        self._bc_mask = None

    def _free_norm(self, b) -> float:
        """Norm of the residual without the Dirichlet rows."""
        if self._bc_mask is None:
            self._bc_mask = np.ones(b.getLocalSize(), dtype=bool)
            for bc in self.bcs:
                dofs, n_owned = bc.dof_indices()
                self._bc_mask[dofs[:n_owned]] = False
        local = float(np.sum(b.array_r[self._bc_mask] ** 2))
        return float(np.sqrt(self.u.function_space.mesh.comm.allreduce(local)))

    def _assemble_residual(self) -> None:
        x = self.u.x.petsc_vec
        with self.b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(self.b, self.F)
        dolfinx.fem.petsc.apply_lifting(self.b, [self.J], bcs=[self.bcs], x0=[x], alpha=-1.0)
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(self.b, self.bcs, x, -1.0)

    def _check_materials(self) -> bool:
        """The materials' post-convergence hooks (:meth:`QuadratureMaterial.check
        <dolfinx_multiscale.macro.quadrature.QuadratureMaterial.check>`): whether one of
        them, on any rank, changed points, so the Newton must iterate on. Collective."""
        changed = [m.check() for m in self.materials]  # every hook runs (no short-circuit)
        return bool(self.u.function_space.mesh.comm.allreduce(any(changed), op=MPI.LOR))

    def solve(self) -> int:
        """Iterate from the current ``u``; returns the number of iterations.

        Raises:
            MacroConvergenceError: no convergence within ``max_iterations``, or a micro
                solve failed (the micro error is chained and its message included).
        """
        self.residuals = []
        u = self.u
        for it in range(self.max_iterations + 1):
            try:
                for m in self.materials:
                    m.update()
            except ConvergenceError as exc:
                raise MacroConvergenceError(f"micro solve failed at macro iteration {it}: {exc}") from exc
            self._assemble_residual()
            res = self._free_norm(self.b)
            self.residuals.append(res)
            _log.info("  macro Newton %2d: |r| = %.3e", it, res)
            if not np.isfinite(res):
                break
            if res <= max(self.atol, self.rtol * self.residuals[0]) and it > 0:
                if not self._check_materials():
                    return it
                _log.info("  macro Newton: a material's post-convergence check changed some points; iterating on")
                continue
            if it == self.max_iterations:
                break
            self.A.zeroEntries()
            dolfinx.fem.petsc.assemble_matrix(self.A, self.J, bcs=self.bcs)
            self.A.assemble()
            self.ksp.solve(self.b, self.du)
            u.x.petsc_vec.axpy(-1.0, self.du)
            u.x.scatter_forward()
        raise MacroConvergenceError(
            f"macro Newton did not converge in {self.max_iterations} iterations; residuals "
            f"{[f'{r:.2e}' for r in self.residuals]}")


def incremental_solve(solver: NewtonSolver, set_load, loads, max_cuts: int = 6, on_step=None, start: float = 0.0,
                      first_step: int = 1):
    """Apply ``loads`` one after the other, cutting failing steps.

    Args:
        solver: the :class:`NewtonSolver` of the macro problem.
        set_load: ``set_load(t)`` sets the load (Dirichlet values, tractions, ...) of the
            load parameter ``t`` (a float).
        loads: the increasing or decreasing sequence of load parameters to reach.
        max_cuts: how many times one step may be halved before giving up.
        on_step: ``on_step(step, t)`` called after every committed (sub)step that ends a
            requested step, e.g. to write output.
        start: the load parameter of the current (committed) state, from which the
            first step's sub-steps are interpolated (a restart: the checkpoint's load).
        first_step: the number of the first step (records, messages), e.g. ``k + 1``
            when continuing a run after step ``k``.

    Returns:
        One dict per requested step: ``step``, ``load``, ``substeps`` (the loads of the
        converged sub-steps, the last one is ``load``), ``newton_iterations`` (per
        sub-step), ``residuals`` (last sub-step), ``cuts``, ``wall_s``.

    Raises:
        MacroConvergenceError: a step still failed after ``max_cuts`` halvings; the
            message names the step and the load (and, from the micro solver, the point
            and its macro strain).
    """
    u = solver.u
    committed_u = u.x.array.copy()
    t_n = float(start)
    history = []
    for step, target in enumerate(loads, start=first_step):
        t0 = time.perf_counter()
        iterations, substeps = [], []
        t_begin = t_n

        def attempt(a, t_begin=t_begin, target=target):
            t = t_begin + a * (target - t_begin)
            set_load(t)
            return t, solver.solve()

        def accept(a, result, iterations=iterations, substeps=substeps):
            nonlocal committed_u, t_n
            t, its = result
            iterations.append(its)
            for m in solver.materials:
                m.commit()
            committed_u = u.x.array.copy()
            t_n = t
            substeps.append(float(t))

        def rollback():
            for m in solver.materials:
                m.rollback()
            u.x.array[:] = committed_u

        def failure(exc, a, step=step, t_begin=t_begin, target=target):
            return MacroConvergenceError(
                f"load step {step} (load {target:g}) failed after {max_cuts} step cuts, "
                f"last try at load {t_begin + a * (target - t_begin):g}: {exc}")

        cuts = cut_and_retry(attempt, accept, max_cuts, failure, rollback, label=f"step {step}")
        record = {"step": step, "load": float(target), "substeps": substeps, "newton_iterations": iterations,
                  "residuals": list(solver.residuals), "cuts": cuts,
                  "wall_s": time.perf_counter() - t0}
        history.append(record)
        _log.info("load step %d: load %g, %s Newton iterations, %d cuts, %.2f s", step, target,
                  iterations, cuts, record["wall_s"])
        if on_step is not None:
            on_step(step, target)
    return history
