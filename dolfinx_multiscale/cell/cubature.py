"""Empirical cubature: a few micro points with non-negative weights that integrate a set
of functions sampled at all points.

Given ``J`` sampled integrands ``g_j(x_p)`` at the ``P`` quadrature points of a cell with
weights ``w_p``, the *empirical cubature method* (ECM; Hernández, Caicedo & Ferrer, "Dimensional
hyper-reduction of nonlinear finite element models via empirical cubature", CMAME 313,
2017) looks for a subset ``S`` of the points and weights ``ω_s ≥ 0`` with

    Σ_{s∈S} ω_s g_j(x_s) ≈ Σ_p w_p g_j(x_p)   for every j.

**Algorithm.**

1. Orthogonal basis of the integrands: with ``A_pj = √w_p g_j(x_p)`` (the caller scales
   families of integrands of different units to comparable norms), the SVD ``A = U Σ Vᵀ`` (``U`` from
   the eigenvectors of ``A Aᵀ``, or ``A V Σ⁻¹`` from those of ``AᵀA`` when there are
   fewer integrands than points) truncated to
   the ``k`` left singular vectors that keep all but ``svd_tolerance²`` of ``‖A‖²_F``; the
   functions ``φ_i(x_p) = U_pi / √w_p`` are ``w``-orthonormal and span the integrands to
   that tolerance. Their exact integrals are ``b_i = Σ_p √w_p U_pi``.
2. Greedy selection (the ECM's Algorithm 1): with the residual ``r = b − Φ_Sᵀ ω``,
   add the point whose normalized column ``φ(x_p)/‖φ(x_p)‖`` is most positively aligned
   with ``r`` (points where every integrand vanishes, or whose column is in the span of
   those chosen, never), re-solve the least-squares weights on ``S`` (a QR factorization
   of ``Φ_S`` updated column by column: ``O(k m)`` per point, not ``O(k m²)``), drop
   points whose weight turned negative (then non-negative least squares on the rest), until
   ``‖r‖ ≤ tolerance ‖b‖`` (at most ``k`` points: the integrals of ``k`` functions).

Because the weights are non-negative, a cubature that integrates the elastic stiffness
of the reduced basis keeps the reduced tangent ``Σ_s ω_s (BΦ)_sᵀ D_s (BΦ)_s`` positive
(semi-)definite for positive (semi-)definite micro tangents ``D_s``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.optimize

__all__ = ["empirical_cubature", "integrand_basis", "integrand_modes"]


def integrand_modes(samples: npt.ArrayLike, weights: npt.ArrayLike
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Every ``w``-orthonormal mode of sampled integrands above round-off (step 1 of the
    module docstring, before the truncation): compute it once for cubatures of several
    tolerances (:func:`empirical_cubature`'s ``modes``).

    Args:
        samples: integrands as columns ``(P, J)``: ``samples[p, j] = g_j(x_p)``.
        weights: quadrature weights ``(P,)`` (``> 0`` where a point may be chosen; ``0``
            marks points that take no part, e.g. ghost points).

    Returns:
        ``(Φ (P, K), b (K,), s² (K,))``: the basis functions at the points, their exact
        integrals and the squared singular values (decreasing).
    """
    g = np.asarray(samples, dtype=float)
    w = np.asarray(weights, dtype=float)
    A = np.sqrt(w)[:, None] * g
    if not A.any():
        raise ValueError("every integrand sample is zero: nothing to integrate")
    # the left singular vectors from the smaller Gram matrix, P × P or J × J (much cheaper
    # than the SVD of the P × J samples)
    P, J = A.shape
    s2, V = np.linalg.eigh(A @ A.T if P <= J else A.T @ A)
    s2, V = np.maximum(s2[::-1], 0.0), V[:, ::-1]
    rank = max(int(np.sum(s2 > 1e-13 * s2[0])), 1)  # the Gram matrix resolves singular values to ~1e-7
    U = V[:, :rank] if P <= J else (A @ V[:, :rank]) / np.sqrt(s2[:rank])
    safe = np.where(w > 0, np.sqrt(np.where(w > 0, w, 1.0)), np.inf)
    return U / safe[:, None], U.T @ np.sqrt(w), s2[:rank]


def integrand_basis(samples: npt.ArrayLike, weights: npt.ArrayLike, svd_tolerance: float, modes: tuple | None = None
                    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The ``w``-orthonormal basis of sampled integrands (step 1 of the module docstring):
    the modes of :func:`integrand_modes` (or ``modes``, its result for these samples)
    that keep all but ``svd_tolerance²`` of ``‖A‖²_F``.

    Returns:
        ``(Φ (P, k), b (k,))``: the basis functions at the points and their exact integrals.
    """
    Phi, b, s2 = integrand_modes(samples, weights) if modes is None else modes
    left = np.cumsum(s2[::-1])[::-1] / float(s2.sum())  # energy left out from mode k on
    k = max(min(int(np.sum(left > svd_tolerance**2)), s2.size), 1)
    return Phi[:, :k], b[:k]


def empirical_cubature(samples: npt.ArrayLike, weights: npt.ArrayLike, tolerance: float,
                       svd_tolerance: float | None = None, modes: tuple | None = None
                       ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Points and non-negative weights that integrate the sampled integrands (ECM).

    Args:
        samples: integrands as columns ``(P, J)`` at the ``P`` points.
        weights: the full rule's weights ``(P,)`` (``w_p |det J|``; 0: never chosen).
        tolerance: relative error ``‖b − Φ_Sᵀ ω‖ / ‖b‖`` of the integrals of the basis
            functions at which the greedy selection stops.
        svd_tolerance: truncation of the integrand basis (default ``tolerance``).
        modes: :func:`integrand_modes` of these samples, if computed already (the
            decomposition costs most for large cells: share it between tolerances).

    Returns:
        ``(points (m,), omega (m,))``: indices into the ``P`` points (sorted) and their
        weights ``ω > 0``; empty when every sample is zero.

    Raises:
        ValueError: bad tolerances or shapes.
    """
    for name, value in (("tolerance", tolerance), ("svd_tolerance", svd_tolerance)):
        if value is not None and not (np.isfinite(value) and 0 < value < 1):
            raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
    w = np.asarray(weights, dtype=float)
    g = np.asarray(samples, dtype=float)
    if g.ndim != 2 or g.shape[0] != w.size:
        raise ValueError(f"samples must have shape ({w.size}, J); got {g.shape}")
    if not np.any(g[w > 0]):  # nothing to integrate (e.g. no inelastic stress anywhere)
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    Phi, b = integrand_basis(g, w, tolerance if svd_tolerance is None else svd_tolerance, modes)
    Phi = Phi.T  # (k, P): column p holds the basis functions at point p
    k, P = Phi.shape
    col_norm = np.linalg.norm(Phi, axis=0)
    # only points where some integrand is non-zero: elsewhere the basis holds round-off
    # (~1e-15), whose direction is noise, and a point chosen for it takes a weight of ~1e13
    allowed = (w > 0) & (g != 0).any(axis=1) & (col_norm > 1e-8 * col_norm.max())
    chosen: list[int] = []
    omega = np.zeros(0)
    Q, R = np.zeros((k, 0)), np.zeros((0, 0))  # Φ_S = Q R, updated one column at a time
    r = b.copy()
    target = tolerance * np.linalg.norm(b)
    for _ in range(4 * k + 10):  # each pass adds a point; NNLS may drop some again
        if np.linalg.norm(r) <= target:
            break
        score = np.where(allowed, (Phi.T @ r) / np.where(col_norm > 0, col_norm, 1.0), -np.inf)
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        if not np.isfinite(score[best]) or score[best] <= 0:
            break  # nothing left that reduces the residual
        a = Phi[:, best]
        h = Q.T @ a
        v = a - Q @ h
        h2 = Q.T @ v  # Gram–Schmidt twice: orthogonal to round-off
        v -= Q @ h2
        rho = np.linalg.norm(v)
        if rho <= 1e-10 * np.linalg.norm(a):  # in the span of the points chosen: adds nothing
            allowed[best] = False
            continue
        chosen.append(best)
        Q = np.column_stack([Q, v / rho])
        R = np.block([[R, (h + h2)[:, None]], [np.zeros((1, R.shape[1])), np.array([[rho]])]])
        omega = scipy.linalg.solve_triangular(R, Q.T @ b)  # the least-squares weights
        if (omega < 0).any():  # keep the weights non-negative
            omega = scipy.optimize.nnls(Phi[:, chosen], b)[0]
            keep = omega > 0
            chosen = [p for p, kept in zip(chosen, keep) if kept]
            omega = omega[keep]
            Q, R = np.linalg.qr(Phi[:, chosen])
        r = b - Phi[:, chosen] @ omega
    order = np.argsort(chosen)
    return np.asarray(chosen, dtype=np.int64)[order], np.asarray(omega)[order]
