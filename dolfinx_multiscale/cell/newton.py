"""The micro Newton: the nonlinear cell problem for one macro strain.

Starting from a first-order predictor, Newton's method on the reduced residual
``r̃ = Pᵀ ∫ B(v)·σ(E + B(w)) dx`` with the condensed operator's factorization, a
backtracking line search on ``‖r̃‖`` (the full step is tried first, so the quadratic
regime is untouched) and, with an iterative linear solver, inexact corrections: each is
solved to the Eisenstat–Walker tolerance ``0.9 (r_k/r_{k−1})²``, at most
``SolverPolicy.newton_forcing`` and tight enough to land at ``0.1 tol``. Converged when
``‖r̃‖ ≤ max(rtol, 1e-14) ‖r‖`` (``r`` the unconstrained internal-force vector).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

from ..errors import RVEConvergenceError
from .condensation import CondensedOperator
from .discretisation import CellDiscretisation

__all__ = ["MicroNewton"]

_log = logging.getLogger(__name__)
#: tolerance factor of a Newton started from a close guess (see :meth:`MicroNewton.iterate`)
GUESS_TIGHTENING = 1e-3


class MicroNewton:
    """Newton's method for the fluctuation of one cell.

    Args:
        discretisation: the cell's :class:`~dolfinx_multiscale.cell.discretisation.CellDiscretisation`.
        operator: its :class:`~dolfinx_multiscale.cell.condensation.CondensedOperator`.
        rtol: relative tolerance (projected residual over the norm of the unconstrained
            internal-force vector).
        max_iterations: iteration bound; exceeding it raises :class:`RVEConvergenceError`.
        line_search_cuts: halvings of a step whose residual norm does not decrease.
        forcing: largest relative tolerance of an iterative correction solve.
    """

    def __init__(self, discretisation: CellDiscretisation, operator: CondensedOperator, rtol: float,
                 max_iterations: int, line_search_cuts: int, forcing: float):
        self.disc, self.operator = discretisation, operator
        self.rtol, self.max_iterations = rtol, max_iterations
        self.line_search_cuts, self.forcing = line_search_cuts, forcing
        self._r = discretisation.create_vector()
        self._r_reduced = operator.solver.P.createVecRight()
        self._dw = discretisation.create_vector()

    def predict(self, w_start: npt.NDArray[np.float64], dE: npt.NDArray[np.float64],
                W: list[PETSc.Vec] | None, W_elastic: list[PETSc.Vec], D_elastic: npt.NDArray[np.float64]) -> None:
        """Set ``disc.w`` to the first-order predictor from a start state.

        ``w ≈ w_0 + Σ_k dE_k W_k`` with the start state's unit fluctuations ``W`` if it
        has them (it was solved with a tangent), else one solve ``K̃ δ = −Pᵀ F dE`` with
        the current operator and its point tangents, or the elastic unit fluctuations
        while the operator is the elastic one. An increment that stays elastic
        everywhere is then exact.
        """
        w = self.disc.w
        w.x.array[:] = w_start
        factorized = self.operator.factorized_D
        if W is None and factorized is not None and not np.array_equal(factorized, D_elastic):
            w.x.petsc_vec.axpy(1.0, self.operator.solve_load(dE, self._dw, rtol=self.forcing))
        else:
            for dEk, Wk in zip(dE, W or W_elastic):
                w.x.petsc_vec.axpy(float(dEk), Wk)
        w.x.scatter_forward()

    def iterate(self, E: npt.NDArray[np.float64],
                evaluate: Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray, npt.NDArray]],
                from_guess: bool = False):
        """Newton iterations from the current ``disc.w``.

        Args:
            E: the macro strain ``(n,)`` (for the error message).
            evaluate: ``evaluate(w_array) -> (sigma, D)``: the point stresses and
                tangents for the fluctuation dofs, written into the quadrature Functions.
            from_guess: ``disc.w`` is a close guess (the previous macro iteration's
                solution): take at least one iteration and, once below the tolerance,
                one polishing step towards ``GUESS_TIGHTENING`` times it unless already
                there (kept only if it lowers the residual: round-off never fails the
                solve). An answer accepted just below the tolerance near its guess would
                lag behind small changes of ``E`` and put a floor under the macro
                Newton's residual; from close by, quadratic convergence makes the extra
                accuracy cheap.

        Returns:
            ``(sigma (N, n), D (N, n, n), iterations, residuals)`` at the solution
            (``disc.w`` holds it).

        Raises:
            RVEConvergenceError: no convergence within ``max_iterations``.
        """
        disc, operator, solver = self.disc, self.operator, self.operator.solver
        w = disc.w

        def residual_norm():
            sigma, D = evaluate(w.x.array)
            r = disc.assemble_vector(disc.residual, self._r)
            r_red = solver.restrict(r, self._r_reduced)
            return sigma, D, r_red, solver.projected_norm(r_red), r.norm()

        w0 = w.x.petsc_vec.copy()
        sigma, D, r_red, res, scale = residual_norm()
        residuals = [res]
        converged = polishing = False
        for it in range(self.max_iterations + 1):
            tol = max(self.rtol, 1e-14) * scale
            tight = max(self.rtol * GUESS_TIGHTENING, 1e-14) * scale if from_guess else tol
            converged = res <= tol
            # from a guess: at least one iteration, and one polishing step past tol if
            # the answer is not yet below the tight tolerance
            done = converged and (not from_guess or polishing or (it >= 1 and res <= tight))
            _log.debug("RVE Newton %d: |r| = %.3e (scale %.3e)", it, res, scale)
            if done or it == self.max_iterations or not np.isfinite(res):
                break
            polishing = converged
            operator.factorize(D)
            # inexact Newton (iterative solvers only), Eisenstat–Walker forcing term
            # 0.9 (r_k / r_{k-1})²: the correction is only as accurate as the last
            # contraction suggests Newton can use, and no more than needed to land at 0.1 tol
            contraction = res / residuals[-2] if len(residuals) > 1 else 1.0
            forcing = min(self.forcing, max(0.9 * contraction**2, 0.1 * tight / res))
            dw = operator.solve_correction(r_red, self._dw, rtol=forcing)
            w0.array[:] = w.x.petsc_vec.array_r
            alpha = 1.0
            for _ in range(self.line_search_cuts + 1):  # backtracking on the residual norm
                w.x.petsc_vec.waxpy(alpha, dw, w0)
                w.x.scatter_forward()
                sigma, D, r_red, res_try, scale = residual_norm()
                if res_try < res or not np.isfinite(res):
                    break
                alpha /= 2.0
            if polishing and not res_try < res:  # at round-off already: keep the converged iterate
                w.x.petsc_vec.array[:] = w0.array_r
                w.x.scatter_forward()
                sigma, D, r_red, res_try, scale = residual_norm()
            res = res_try
            residuals.append(res)
        if not converged:
            raise RVEConvergenceError(
                f"RVE Newton did not converge in {it} iterations at "
                f"E = {E.tolist()}; residuals {[f'{x:.2e}' for x in residuals]}", E, residuals)
        return sigma, D, it, residuals
