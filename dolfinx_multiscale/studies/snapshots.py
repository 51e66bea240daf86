"""Training data of reduced cell models: random load paths, fluctuation snapshots, POD.

* :func:`random_paths` — strain paths that cover a ball of the macro strain space,
  proportional load–unload and non-proportional (two directions) ones, from a seed;
* :func:`fluctuation_snapshots` — the full RVE's fluctuation at every converged step of
  such paths (:func:`~dolfinx_multiscale.studies.loading.load_path`);
* :func:`pod_basis` — the elastic unit fluctuations plus the proper orthogonal
  decomposition (SVD) of what the snapshots hold beyond them, truncated by energy.

Used by :class:`~dolfinx_multiscale.studies.reduction.ReducedRVE`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..materials.protocol import take
from .loading import LoadStep, load_path

__all__ = ["fluctuation_snapshots", "pod_basis", "random_paths", "strain_steps"]


def random_paths(n: int, amplitude: float, count: int, steps: int, seed: int) -> list[list[npt.NDArray]]:
    """Random strain paths (Mandel, ``(n,)`` per step).

    Even paths are proportional load–unload (to ``a₁ d₁`` and back to 0), odd ones
    non-proportional (to ``a₁ d₁``, then to ``a₂ d₂``, then back to 0); ``d`` uniform on the
    unit sphere, ``a`` uniform in ``[amplitude/2, amplitude]``; ``steps`` steps per segment.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        d1, d2 = (v / np.linalg.norm(v) for v in rng.normal(size=(2, n)))
        a1, a2 = amplitude * rng.uniform(0.5, 1.0, size=2)
        corners = [np.zeros(n), a1 * d1] + ([a2 * d2] if k % 2 else []) + [np.zeros(n)]
        path = []
        for A, B in zip(corners[:-1], corners[1:]):
            path += [A + (B - A) * t for t in np.linspace(0, 1, steps + 1)[1:]]
        out.append(path)
    return out


def strain_steps(path: list[npt.ArrayLike], n: int) -> list[LoadStep]:
    """Strain-controlled :class:`~dolfinx_multiscale.studies.loading.LoadStep` objects of a
    list of Mandel strains ``(n,)``."""
    return [LoadStep(np.asarray(E, dtype=float), np.zeros(n), np.zeros(n, dtype=bool)) for E in path]


def fluctuation_snapshots(rve, paths: list[list[npt.ArrayLike]]) -> npt.NDArray[np.float64]:
    """The fluctuation dofs of ``rve`` at every converged step of every path, each path from
    the virgin state, as columns ``(n_dofs, n_snapshots)``; ``rve`` is left virgin."""
    virgin = take(rve.initial_state(1), 0)
    snapshots: list[npt.NDArray] = []
    for path in paths:
        rve.committed_state = virgin
        load_path(rve, strain_steps(path, rve.n), progress=False,
                  on_step=lambda record, cell: snapshots.append(cell.response.w.copy()))
    rve.committed_state = virgin
    return np.column_stack(snapshots)


def pod_basis(S: npt.NDArray[np.float64], elastic: npt.NDArray[np.float64], tolerance: float,
              max_modes: int | None = None) -> npt.NDArray[np.float64]:
    """The elastic modes and the POD modes of the snapshots outside their span.

    Args:
        S: snapshots ``(n_dofs, m)``.
        elastic: the elastic unit fluctuations ``(n_dofs, n)`` (always kept).
        tolerance: POD modes are added until what is left carries at most ``tolerance²``
            of the snapshots' energy ``‖S‖²_F``.
        max_modes: bound on the total number of modes.

    Returns:
        ``(n_dofs, n + k)``: the orthonormalized elastic modes, then ``k`` POD modes.
    """
    Q = np.linalg.qr(elastic)[0]
    U, s, _ = np.linalg.svd(S - Q @ (Q.T @ S), full_matrices=False)
    left = np.cumsum(s[::-1] ** 2)[::-1] / max(float((S**2).sum()), 1e-300)  # left out from mode k on
    keep = int(np.sum(left > tolerance**2))
    if max_modes is not None:
        keep = min(keep, max(max_modes - Q.shape[1], 0))
    return np.column_stack([Q, U[:, :keep]])
