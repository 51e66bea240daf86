"""The one cut-and-retry stepping driver, shared by the macro load stepping
(:func:`~dolfinx_multiscale.macro.newton.incremental_solve`) and the RVE load path
(:func:`~dolfinx_multiscale.studies.loading.load_path`).

A step from the last converged state to a target is reached through sub-steps: the
fraction ``a`` of the step is attempted; if the solver raises a
:class:`~dolfinx_multiscale.errors.ConvergenceError`, the trial is rolled back and the
remaining part is halved; after ``max_cuts`` halvings the step has failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from ..errors import ConvergenceError

__all__ = ["cut_and_retry"]

_log = logging.getLogger(__name__)
T = TypeVar("T")


def cut_and_retry(attempt: Callable[[float], T], accept: Callable[[float, T], None], max_cuts: int,
                  failure: Callable[[ConvergenceError, float], Exception],
                  rollback: Callable[[], None] | None = None, label: str = "step") -> int:
    """Reach the end (fraction 1) of a step, halving sub-steps that fail.

    Args:
        attempt: ``attempt(a) -> result`` solves from the last accepted state to the
            fraction ``a ∈ (0, 1]`` of the step; raises ``ConvergenceError`` on failure.
        accept: ``accept(a, result)`` commits a converged sub-step.
        max_cuts: how many halvings the step may take.
        failure: ``failure(exc, a) -> Exception``: the exception to raise (chained to
            ``exc``) once ``max_cuts`` is exceeded, ``a`` the last fraction tried.
        rollback: called after every failed attempt (forget trial states).
        label: names the step in the log.

    Returns:
        The number of cuts.
    """
    done, fraction, cuts = 0.0, 1.0, 0
    while done < 1.0:
        a = min(done + fraction, 1.0)
        try:
            result = attempt(a)
        except ConvergenceError as exc:
            if rollback is not None:
                rollback()
            cuts += 1
            if cuts > max_cuts:
                raise failure(exc, a) from exc
            fraction /= 2.0
            _log.info("%s: cut, retrying with %.4g of the step: %s", label, fraction, exc)
            continue
        accept(a, result)
        done = a
    return cuts
