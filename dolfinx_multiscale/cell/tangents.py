r"""The micro tangents of ``M`` cells as linear maps of their strain fields, and the
preconditioned CG with them (:func:`tangent_correction`: the Galerkin part of the reduced
cell's error estimate).

The batched cell (:mod:`.batch`) holds the strain fields of ``M`` macro points as
columns, ``(N n, M)`` (``B`` times fluctuations ``(n_dofs, M)``). A tangent operator maps
such strain fields to the stress fields ``δσ_p = D_p δε_p`` in the same layout, so that
``Bᵀ W`` applies to its result as it is:

* :func:`full_tangents` from every point's tangent ``D`` ``(M, N, n, n)``;
* :func:`tangents_in_parts` from the elastic tangents ``D_el`` ``(N, n, n)`` and the
  laws' changes in parts, ``D − D_el = −a P − b m⊗m`` with ``P`` the deviatoric
  projector (:meth:`PhaseLaws.evaluate_in_parts
  <dolfinx_multiscale.cell.phases.PhaseLaws.evaluate_in_parts>`, e.g. J2): no ``(M, N,
  n, n)`` array is formed and the strains are not transposed,

  .. math::

      δσ = D_el δε − a (δε − ⅓ tr(δε) 1) − b m (m·δε).

  On the 3-D benchmark cell (8 116 points, 97 % of them plastic) the check's law, CG
  and ``ΔΣ`` took 5.7 ms per macro point this way against 7.7 ms with the full tangents;
  applied in blocks of ``BLOCK_POINTS`` points, and with ``ΔΣ`` summed from the CG's
  own products (:func:`tangent_correction`), 4.6 ms.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ..tensors import deviatoric_projector

__all__ = ["full_tangents", "tangent_correction", "tangents_in_parts"]

#: points per block of :func:`tangents_in_parts`' operator: its five passes over a block's
#: ``(block, n, M)`` arrays then stay in the cache (3-D benchmark cell, 16 macro points:
#: 3.5 ms per application against 9.5 ms unblocked)
BLOCK_POINTS = 1024

#: a tangent operator: strain fields ``(N n, M)`` → stress fields ``(N n, M)``
TangentOperator = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def full_tangents(D: npt.NDArray[np.float64]) -> TangentOperator:
    """The operator of the tangents ``D`` ``(M, N, n, n)`` of ``M`` cells."""
    M, N, n, _ = D.shape

    def apply(strain):
        s = np.ascontiguousarray(strain.T).reshape(M, N, n)  # C-ordered strains: the einsum is 3x faster
        return np.einsum("mpij,mpj->mpi", D, s).reshape(M, N * n).T

    return apply


def tangents_in_parts(D_el: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64],
                      m: npt.NDArray[np.float64], dim: int) -> TangentOperator:
    """The operator of the tangents ``D = D_el − a P − b m⊗m`` of ``M`` cells.

    Args:
        D_el: the elastic tangents ``(N, n, n)``.
        a, b: the changes' coefficients ``(M, N)`` (zero where a point stays elastic).
        m: their directions ``(M, N, n)``.
        dim: the cell's dimension (``P``: :func:`~dolfinx_multiscale.tensors.deviatoric_projector`;
            the first ``dim`` Mandel components are the normal ones).
    """
    M, N, n = m.shape
    normal = np.flatnonzero(np.diag(deviatoric_projector(dim)) != 1.0)  # P = I − ⅓ 1⊗1 on these
    aT, bT = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)  # (N, M)
    a3 = aT / 3.0
    mT = np.ascontiguousarray(m.transpose(1, 2, 0))  # (N, n, M)

    def apply(strain):
        x = strain.reshape(N, n, M)
        out = np.empty_like(x)
        for s in range(0, N, BLOCK_POINTS):  # a block's arrays stay in the cache through every pass
            at = slice(s, s + BLOCK_POINTS)
            xs, ms = x[at], mT[at]
            y = np.matmul(D_el[at], xs, out=out[at])
            y -= aT[at, None, :] * xs
            trace = xs[:, normal].sum(axis=1)  # (block, M)
            trace *= a3[at]
            y[:, normal] += trace[:, None, :]
            along = np.einsum("pim,pim->pm", ms, xs)
            along *= bT[at]
            y -= ms * along[:, None, :]
        return out.reshape(N * n, M)

    return apply


def tangent_correction(cell, tangent: TangentOperator, rhs: npt.NDArray[np.float64],
                       iterations: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``δ ≈ K̃_t⁻¹ rhs`` ``(n_reduced, M)`` for ``M`` points of the batched ``cell``
    (:class:`~.batch.BatchedCell`) with the tangent operator ``tangent``, and the integral
    of its stress change ``∫ D ε(δ) = Σ_p w_p D_p B_p P δ`` ``(M, n)``.

    ``iterations`` conjugate-gradient iterations on each point's ``Pᵀ Bᵀ W D B P``,
    preconditioned by the elastic ``K̃`` (:meth:`BatchedCell.elastic_solve
    <.batch.BatchedCell.elastic_solve>`: one factorization for all points; the two differ
    in the plastic zone only, so few iterations capture what the elastic solve misses).
    With ``δ = Σ_k α_k p_k``, the integral is ``Σ_k α_k ∫ D ε(p_k)``: the CG's own
    products ``D ε(p_k)``, summed, so it costs no tangent application of its own."""
    w = cell.disc.weights
    N, n = w.size, cell.n
    x = np.zeros_like(rhs)
    moment = np.zeros((rhs.shape[1], n))
    r = rhs.copy()
    z = cell.elastic_solve(r)
    p = z.copy()
    rz = np.einsum("im,im->m", r, z)
    for k in range(iterations):
        stress = tangent(cell.B @ (cell.Pt.T @ p))  # (N n, M)
        Ap = cell.Pt @ (cell.BtW @ stress)
        pAp = np.einsum("im,im->m", p, Ap)
        alpha = rz / np.where(pAp != 0, pAp, 1.0)
        x += alpha * p
        moment += alpha[:, None] * np.einsum("pim,p->mi", stress.reshape(N, n, -1), w)
        if k + 1 == iterations:  # the next direction is not needed
            break
        r -= alpha * Ap
        z = cell.elastic_solve(r)
        rz_new = np.einsum("im,im->m", r, z)
        p = z + (rz_new / np.where(rz != 0, rz, 1.0)) * p
        rz = rz_new
    return x, moment
