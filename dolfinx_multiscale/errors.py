"""The package's exceptions, in one module that imports nothing from the package.

Every solver that can fail to converge raises a :class:`ConvergenceError`; the one
stepping driver (:func:`~dolfinx_multiscale.macro.stepping.cut_and_retry`) catches it,
rolls back and halves the step. Bad input raises the built-in ``ValueError`` /
``TypeError`` with what was wrong and what is accepted (``docs/conventions.md``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ConvergenceError", "Interrupted", "LoadPathError", "MacroConvergenceError", "NotPeriodicError",
           "RVEConvergenceError"]


class ConvergenceError(RuntimeError):
    """A nonlinear solve did not converge; a driver may cut its step and retry."""


class RVEConvergenceError(ConvergenceError):
    """The micro Newton did not converge; the macro driver should cut its step.

    Attributes:
        E: the macro strain (generalized, Mandel) of the failed solve.
        residuals: the residual norms of the Newton iterations.
        point: the index of the failed point when several were solved at once
            (``RVE.update``), else ``None``.
    """

    def __init__(self, message: str, E: npt.NDArray[np.float64], residuals: list[float],
                 point: int | None = None):
        super().__init__(message)
        self.E = E
        self.residuals = residuals
        self.point = point


class MacroConvergenceError(ConvergenceError):
    """The macro Newton did not converge (or a micro solve failed inside it)."""


class LoadPathError(RuntimeError):
    """A load step failed even after the allowed number of step cuts."""


class NotPeriodicError(ValueError):
    """The mesh has a node on a high face without a partner on the opposite face."""


class Interrupted(RuntimeError):
    """A long loop stopped on SIGINT/SIGTERM after finishing a step
    (:func:`~dolfinx_multiscale.progress.graceful_stop`); the message says where it
    stopped and what was kept.

    Attributes:
        exit_status: the shell's status for the signal (130 SIGINT, 143 SIGTERM).
    """

    def __init__(self, message: str, exit_status: int = 130):
        super().__init__(message)
        self.exit_status = exit_status
