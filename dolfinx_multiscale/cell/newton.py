"""The micro Newton: the nonlinear cell problem for one macro strain.

Starting from a first-order predictor, Newton's method on the reduced residual
``r̃ = Pᵀ ∫ B(v)·σ(E + B(w)) dx`` with the condensed operator's factorization, a
backtracking line search on ``‖r̃‖`` (the full step is tried first, so the quadratic
regime is untouched) and, with an iterative linear solver, inexact corrections: each is
solved to the Eisenstat–Walker tolerance ``0.9 (r_k/r_{k−1})²``, at most
``SolverPolicy.newton_forcing`` and tight enough to land at ``0.1 tol``. Converged when
``‖r̃‖ ≤ max(rtol, 1e-14) max(‖r‖, f₀)`` (``r`` the unconstrained internal-force vector,
``f₀`` the force floor: that of a macro strain of ``FORCE_FLOOR_STRAIN`` in the elastic
cell, so that a stress-free solution, e.g. a hyperelastic cell back at ``F̄ = I``, is
reached to a meaningful absolute accuracy instead of a relative one of zero).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ..errors import RVEConvergenceError
from .condensation import CondensedOperator
from .discretisation import CellDiscretisation

__all__ = ["FORCE_FLOOR_STRAIN", "MicroNewton"]

_log = logging.getLogger(__name__)
#: tolerance factor of a Newton started from a close guess (see :meth:`MicroNewton.iterate`)
GUESS_TIGHTENING = 1e-3
#: the macro strain whose elastic internal force is the floor of the residual scale
FORCE_FLOOR_STRAIN = 1e-3


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

    Attributes:
        scale: the residual scale ``max(‖r‖, f₀)`` of the last iterate of :meth:`iterate`.
    """

    def __init__(self, discretisation: CellDiscretisation, operator: CondensedOperator, rtol: float,
                 max_iterations: int, line_search_cuts: int, forcing: float):
        self.disc, self.operator = discretisation, operator
        self.rtol, self.max_iterations = rtol, max_iterations
        self.line_search_cuts, self.forcing = line_search_cuts, forcing
        self.force_floor = 0.0  # f₀ of the module docstring, set by the RVE once it knows its elastic loads
        self.scale = 0.0
        self._r = discretisation.create_vector()
        self._r_reduced = operator.solver.P.createVecRight()
        self._dw = discretisation.create_vector()

    def predict(self, w_start: npt.NDArray[np.float64], dE: npt.NDArray[np.float64],
                W: npt.NDArray) -> None:
        """Set ``disc.w`` to the first-order predictor ``w_0 + Σ_k dE_k W_k``.

        Args:
            w_start: the start state's fluctuation dofs (local, with ghosts).
            dE: the macro strain increment from the start state ``(n,)``.
            W: the start state's unit fluctuations ``(n, n_owned)`` (the elastic ones if
                it was not solved with a tangent). An increment that stays elastic
                everywhere is then exact; a plastic one is one Newton step in ``E``.
        """
        w = self.disc.w
        w.x.array[:] = w_start
        w.x.array[: W.shape[1]] += dE @ W
        w.x.scatter_forward()

    def iterate(self, E: npt.NDArray[np.float64],
                evaluate: Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray, npt.NDArray]],
                from_guess: bool = False):
        """Newton iterations from the current ``disc.w``.

        Args:
            E: the macro strain ``(n,)`` (for the error message).
            evaluate: ``evaluate(w_array) -> (sigma, D)``: the point stresses and
                tangents for the fluctuation dofs, written into the quadrature Functions.
            from_guess: ``disc.w`` is a close guess (predicted from the previous macro
                iteration's solution): it is accepted as it is only below
                ``GUESS_TIGHTENING`` times the tolerance, and an iterate that converged
                above that gets one polishing step with the factorization it already has
                (kept only if it lowers the residual: round-off never fails the solve).
                An answer accepted just below the tolerance near its guess would lag
                behind small changes of ``E`` and put a floor under the macro Newton's
                residual; from close by, the extra accuracy is one solve.

        Returns:
            ``(sigma (N, n), D (N, n, n), iterations, residuals, factorized_at)`` at the
            solution (``disc.w`` holds it); ``factorized_at`` is the relative residual
            (over ``‖r‖``) of the iterate whose tangents the operator was last factorized
            with in this solve, ``None`` if it was not (the condensed tangent with that
            factorization is off by about that much: :meth:`RVE.solve` reuses it when small).

        Raises:
            RVEConvergenceError: no convergence within ``max_iterations``.
        """
        disc, operator, solver = self.disc, self.operator, self.operator.solver
        w = disc.w

        def residual_norm():
            sigma, D = evaluate(w.x.array)
            r = disc.assemble_vector(disc.residual, self._r)
            r_red = solver.restrict(r, self._r_reduced)
            return sigma, D, r_red, solver.projected_norm(r_red), max(r.norm(), self.force_floor)

        w0 = w.x.petsc_vec.copy()
        sigma, D, r_red, res, scale = residual_norm()
        residuals = [res]
        converged = polishing = False
        factorized_at = None
        for it in range(self.max_iterations + 1):
            tol = max(self.rtol, 1e-14) * scale
            tight = max(self.rtol * GUESS_TIGHTENING, 1e-14) * scale if from_guess else tol
            converged = res <= tol
            # from a guess: one polishing step past tol unless already below the tight tolerance
            done = converged and (polishing or res <= tight)
            _log.debug("RVE Newton %d: |r| = %.3e (scale %.3e)", it, res, scale)
            if done or it == self.max_iterations or not np.isfinite(res):
                break
            polishing = converged
            if not polishing or factorized_at is None:
                operator.factorize(D)
                factorized_at = res / scale
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
        self.scale = scale
        if not converged:
            raise RVEConvergenceError(
                f"RVE Newton did not converge in {it} iterations at "
                f"E = {E.tolist()}; residuals {[f'{x:.2e}' for x in residuals]}", E, residuals)
        return sigma, D, it, residuals, factorized_at
