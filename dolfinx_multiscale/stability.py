"""Macroscopic stability: the acoustic tensor and the strong-ellipticity indicator.

The first elasticity tensor ``A_ijkl = ∂P_ij/∂F_kl`` of a finite-strain material (``P``
the first Piola–Kirchhoff stress, ``F`` the deformation gradient), or of a homogenized
one, is stored as a ``(d², d²)`` matrix, row-major in each index pair:
``A[i*d + j, k*d + l] = A_ijkl``, ``d`` = 2 or 3. (This is the full tensor, not the
Mandel matrix of ``docs/conventions.md``; a small-strain tangent ``C_ijkl`` in the same
layout works the same way.)

For a direction ``n`` the **acoustic tensor** is

    Q_ik(n) = n_j A_ijkl n_l        (a d × d matrix).

The problem is **strongly elliptic** (Legendre–Hadamard) at ``A`` when
``m·Q(n)·m = (m⊗n) : A : (m⊗n) > 0`` for all unit ``m`` and ``n``. The quadratic form only
sees the symmetric part of ``Q``, so the package never assumes major symmetry
``A_ijkl = A_klij``: the indicator is

    e(A) = min over unit n of λ_min(sym Q(n)),   sym Q = (Q + Qᵀ)/2,

which is positive while the macroscopic problem is strongly elliptic; along a load path
its first sign change marks the loss of ellipticity (macroscopic localization, material
instability, microbuckling of the microstructure), and its minimizing ``n`` is the
normal of the localization band (and the minimizing eigenvector ``m`` its jump).
``Q(−n) = Q(n)``, so ``n`` is defined up to sign: the package returns the unit normal
whose first nonzero component is positive (components below 1e-6 in magnitude count as
zero: the computed normal carries ~1e-8 of noise where the exact one has a zero).

The minimum over the unit circle / sphere is found by a dense scan followed by local
refinement of the best few candidates (:func:`ellipticity`).

References:
    G. Geymonat, S. Müller, N. Triantafyllidis, Homogenization of nonlinearly elastic
    materials, microscopic bifurcation and macroscopic loss of rank-one convexity,
    Arch. Ration. Mech. Anal. 122 (1993) 231–290.

    C. Miehe, J. Schröder, M. Becker, Computational homogenization analysis in finite
    elasticity: material and structural instabilities on the micro- and macro-scales of
    periodic composites and their interaction, Comput. Methods Appl. Mech. Engrg. 191
    (2002) 4971–5005.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import optimize

__all__ = ["Ellipticity", "acoustic_tensor", "ellipticity"]

#: scan of the 2-D half circle θ ∈ [0, π): number of angles
_N_ANGLES = 720
#: scan of the 3-D hemisphere: number of Fibonacci-lattice directions
_N_DIRECTIONS = 4000
#: number of scanned candidates refined by a local minimization
_N_REFINE = 4
#: components below this do not decide the sign of a unit normal: the normal is accurate
#: to ~1e-8 (2-D) / ~1e-10 (3-D), so a zero component comes out as noise of that size
_SIGN_TOL = 1e-6


class Ellipticity(NamedTuple):
    """The strong-ellipticity indicator of a first elasticity tensor.

    Attributes:
        minimum: ``min over unit n of λ_min(sym Q(n))``, in the units of ``A`` (e.g.
            Pa); > 0 while strongly elliptic.
        normal: the minimizing unit direction ``n``, shape ``(d,)``, sign chosen so that
            its first nonzero component is positive (components below 1e-6 in magnitude,
            the level of the normal's accuracy, count as zero). Where the
            minimum is attained on a whole set of directions (e.g. isotropy) it is one of
            them.
    """

    minimum: float
    normal: npt.NDArray[np.float64]


def _dimension(A: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], int]:
    """``A`` as a finite float ``(d², d²)`` array, and ``d``."""
    if np.iscomplexobj(A):
        raise TypeError("A must be real; got a complex array")
    try:
        A = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"A must be a real (d², d²) array; could not convert it: {exc}") from exc
    shapes = {(4, 4): 2, (9, 9): 3}
    if A.shape not in shapes:
        raise ValueError(
            "A must be the first elasticity tensor as a (d², d²) matrix, A[i*d + j, k*d + l] = A_ijkl: "
            f"(4, 4) in 2-D or (9, 9) in 3-D; got shape {A.shape}"
            + (" (a Mandel tangent? expand it to the full tensor first)" if A.shape in ((3, 3), (6, 6)) else ""))
    if not np.all(np.isfinite(A)):
        raise ValueError(f"A must be finite; got {np.count_nonzero(~np.isfinite(A))} non-finite entries")
    return A, shapes[A.shape]


def _normal_form(A: npt.NDArray[np.float64], d: int) -> npt.NDArray[np.float64]:
    """``A`` rearranged to ``Ã[j*d + l, i*d + k] = A_ijkl``, so that ``Q(n) = (n⊗n) Ã``."""
    return A.reshape(d, d, d, d).transpose(1, 3, 0, 2).reshape(d * d, d * d)


def acoustic_tensor(A: npt.ArrayLike, n: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The acoustic tensor ``Q_ik(n) = n_j A_ijkl n_l`` of one or many directions.

    ``Q`` is returned as is (not symmetrized; it is symmetric when ``A`` has major
    symmetry). It is quadratic in ``n``, which need not be a unit vector.

    Args:
        A: the first elasticity tensor, shape ``(d², d²)`` with
            ``A[i*d + j, k*d + l] = A_ijkl``, ``d`` = 2 or 3.
        n: a direction, shape ``(d,)``, or a batch of ``M`` directions, shape ``(M, d)``.

    Returns:
        ``Q``, shape ``(d, d)`` for one direction, ``(M, d, d)`` for a batch.

    Raises:
        ValueError: ``A`` is not ``(4, 4)`` / ``(9, 9)``, ``n`` does not have ``d``
            components, or either has non-finite entries.
    """
    A, d = _dimension(A)
    n = np.asarray(n, dtype=np.float64)
    if n.ndim not in (1, 2) or n.shape[-1] != d:
        raise ValueError(f"n must have shape ({d},) or (M, {d}) for a {d}-D tensor A; got shape {n.shape}")
    if not np.all(np.isfinite(n)):
        raise ValueError("n must be finite")
    nn = np.einsum("...j,...l->...jl", n, n).reshape(*n.shape[:-1], d * d)
    return (nn @ _normal_form(A, d)).reshape(*n.shape[:-1], d, d)


def _canonical(n: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``n / |n|`` with the sign that makes its first nonzero component positive."""
    n = n / np.linalg.norm(n)
    first = np.flatnonzero(np.abs(n) > _SIGN_TOL)
    if first.size and n[first[0]] < 0:
        n = -n
    return n + 0.0  # no negative zeros


# -- 2-D ----------------------------------------------------------------------------------
def _ellipticity_2d(At: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
    """Minimum and normal of a 2-D tensor in the form ``Ã`` of :func:`_normal_form`.

    ``sym Q(θ)`` for ``n = (cos θ, sin θ)`` has entries ``a, b, c`` (11, 12, 22), each a
    quadratic form ``α cos²θ + β cos θ sin θ + γ sin²θ``; its smallest eigenvalue is
    ``(a + c)/2 − hypot((a − c)/2, b)``.
    """
    # rows of At: (j, l) = 00, 01, 10, 11; columns: (i, k) = 00, 01, 10, 11
    coef = np.array([At[0], At[1] + At[2], At[3]])  # cos², cos sin, sin²  ×  (i, k)
    a, b, c = coef[:, 0], 0.5 * (coef[:, 1] + coef[:, 2]), coef[:, 3]

    def lam(theta):
        cs, sn = np.cos(theta), np.sin(theta)
        basis = (cs * cs, cs * sn, sn * sn)
        qa = a[0] * basis[0] + a[1] * basis[1] + a[2] * basis[2]
        qb = b[0] * basis[0] + b[1] * basis[1] + b[2] * basis[2]
        qc = c[0] * basis[0] + c[1] * basis[1] + c[2] * basis[2]
        return 0.5 * (qa + qc) - np.hypot(0.5 * (qa - qc), qb)

    def lam_scalar(theta: float) -> float:
        cs, sn = math.cos(theta), math.sin(theta)
        c2, cssn, s2 = cs * cs, cs * sn, sn * sn
        qa = a[0] * c2 + a[1] * cssn + a[2] * s2
        qb = b[0] * c2 + b[1] * cssn + b[2] * s2
        qc = c[0] * c2 + c[1] * cssn + c[2] * s2
        return 0.5 * (qa + qc) - math.hypot(0.5 * (qa - qc), qb)

    a, b, c = (tuple(float(v) for v in x) for x in (a, b, c))
    step = np.pi / _N_ANGLES
    theta = step * np.arange(_N_ANGLES)
    values = lam(theta)
    # discrete local minima of the π-periodic scan, best first
    local = np.flatnonzero((values <= np.roll(values, 1)) & (values <= np.roll(values, -1)))
    local = local[np.argsort(values[local], kind="stable")][:_N_REFINE]
    best_theta, best = float(theta[local[0]]), float(values[local[0]])
    for k in local:
        res = optimize.minimize_scalar(lam_scalar, bounds=(theta[k] - step, theta[k] + step), method="bounded",
                                       options={"xatol": 1e-12})
        if res.fun < best:
            best_theta, best = float(res.x), float(res.fun)
    return best, np.array([math.cos(best_theta), math.sin(best_theta)])


# -- 3-D ----------------------------------------------------------------------------------
def _fibonacci_hemisphere(count: int) -> npt.NDArray[np.float64]:
    """``count`` nearly uniform unit vectors with ``z > 0``, shape ``(count, 3)``."""
    i = np.arange(count)
    z = 1.0 - (i + 0.5) / count  # uniform in z ⇔ uniform in area
    r = np.sqrt(1.0 - z * z)
    phi = i * (np.pi * (3.0 - np.sqrt(5.0)))  # the golden angle
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


_HEMISPHERE = _fibonacci_hemisphere(_N_DIRECTIONS)
#: candidates closer than this angle (rad, ≈ 4 lattice spacings) are one basin
_SEPARATION = 4.0 * np.sqrt(2.0 * np.pi / _N_DIRECTIONS)
#: every direction is within this angle (rad) of ±(a lattice direction): 0.031 measured
#: for 4000 directions (the worst of 10⁶ random ones), rounded up
_COVERING = 0.04


def _lambda_min_3d(At: npt.NDArray[np.float64], x: npt.NDArray[np.float64]):
    """``λ_min(sym Q(x))`` (not divided by ``|x|²``) and its eigenvector."""
    Q = (np.outer(x, x).reshape(9) @ At).reshape(3, 3)
    w, v = np.linalg.eigh(0.5 * (Q + Q.T))
    return w[0], v[:, 0]


def _ellipticity_3d(At: npt.NDArray[np.float64], Am: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
    """Minimum and normal of a 3-D tensor; ``At`` as in :func:`_normal_form` and
    ``Am[i*3 + k, j*3 + l] = A_ijkl`` (so ``B(m)_jl = m_i A_ijkl m_k = ((m⊗m) Am)_jl``).

    Only scanned directions within ``2‖Am‖₂ sin²h`` of the best scanned value (``h`` the
    lattice's covering angle) are refined: at the minimizer ``n*`` with eigenvector
    ``m*``, ``q(n) = m*·Q(n)·m* ≥ λ_min(sym Q(n))`` with equality at ``n*``, so ``n*`` is a
    critical point of ``q = n·S·n`` on the sphere (``S = sym B(m*)``) and along a great
    circle at angle ``s`` from it ``q = minimum + sin²s (t·S·t − n*·S·n*) ≤ minimum +
    2‖S‖₂ sin²s``, with ``‖S‖₂ ≤ ‖B(m*)‖_F ≤ ‖Am‖₂``. The lattice point nearest ``n*`` is
    therefore at most that margin above the minimum.

    The refinement minimizes ``g(x) = λ_min(sym Q(x)) / |x|²`` (= ``λ_min(sym Q(x/|x|))``)
    over the tangent plane ``x = n₀ + u t₁ + v t₂`` of each candidate ``n₀`` (no pole
    singularity) by BFGS, with the gradient ``∇g = (B + Bᵀ) x / |x|² − 2 g x / |x|²``
    (``B = B(m)``, ``m`` the unit eigenvector of ``λ_min``).
    """
    Q = (np.einsum("mj,ml->mjl", _HEMISPHERE, _HEMISPHERE).reshape(-1, 9) @ At).reshape(-1, 3, 3)
    values = np.linalg.eigvalsh(0.5 * (Q + Q.transpose(0, 2, 1)))[:, 0]
    # Every direction lies within _COVERING of the lattice, and near the minimizer n*
    # λ_min(n) ≤ m*·Q(n)·m* ≤ minimum + 2‖Am‖₂ sin²(angle to n*) (see the
    # docstring): lattice points above best + margin cannot lead to a lower minimum.
    margin = 2.0 * np.linalg.norm(Am, 2) * math.sin(_COVERING) ** 2
    order = np.argsort(values, kind="stable")
    order = order[values[order] <= values[order[0]] + margin]
    cos_sep = math.cos(_SEPARATION)
    chosen: list[int] = []
    for k in order:
        if all(abs(float(_HEMISPHERE[k] @ _HEMISPHERE[c])) < cos_sep for c in chosen):
            chosen.append(int(k))
            if len(chosen) == _N_REFINE:
                break
    best_n, best = _HEMISPHERE[chosen[0]].copy(), float(values[chosen[0]])
    for k in chosen:
        n0 = _HEMISPHERE[k]
        t1 = np.cross(n0, np.eye(3)[np.argmin(np.abs(n0))])
        t1 /= np.linalg.norm(t1)
        T = np.column_stack([t1, np.cross(n0, t1)])

        def fun(uv, n0=n0, T=T):
            x = n0 + T @ uv
            xx = x @ x
            lam, m = _lambda_min_3d(At, x)
            B = (np.outer(m, m).reshape(9) @ Am).reshape(3, 3)
            g = lam / xx
            grad = ((B + B.T) @ x - 2.0 * g * x) / xx
            return g, T.T @ grad

        res = optimize.minimize(fun, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 200})
        n = n0 + T @ res.x
        n /= np.linalg.norm(n)
        value = float(_lambda_min_3d(At, n)[0])  # at the unit vector, not through |x|²
        if value < best:
            best_n, best = n, value
    return best, best_n


def ellipticity(A: npt.ArrayLike) -> Ellipticity:
    """The strong-ellipticity indicator ``min over unit n of λ_min(sym Q(n))``.

    ``Q(n)`` is the acoustic tensor (:func:`acoustic_tensor`); its symmetric part
    ``(Q + Qᵀ)/2`` is used because ``m·Q·m`` only sees it, so ``A`` need not have major
    symmetry. The indicator is positive while the problem is strongly elliptic; its sign
    change along a load path marks loss of ellipticity, its minimizing ``n`` is the normal
    of the localization band.

    2-D: ``n = (cos θ, sin θ)`` is scanned at 720 angles of ``[0, π)``, and the best four
    discrete local minima are refined by bounded Brent (``scipy.optimize.minimize_scalar``)
    within ± one scan step: the minimum is accurate to about 1e-15 relative to ``max |A|``.
    3-D: a Fibonacci lattice of 4000 directions on the hemisphere (≈ 2.3° apart, every
    direction within 0.04 rad of ± one of them) is scanned; the scan's best value is
    provably within ``2‖A‖ sin²(0.04) ≈ 3.2e-3 ‖A‖`` of the minimum, so only the directions
    within that margin of it are candidates, and the best four of them at least ≈ 9°
    apart are refined by BFGS (``scipy.optimize.minimize``, exact gradient) on the
    sphere: accurate to better than 1e-12 relative. The returned minimum is never above
    the best scanned value. (A global minimum can only be missed where a second basin
    lies within 9° of a better-scanned one and within the margin of it.)

    Args:
        A: the first elasticity tensor ``A_ijkl = ∂P_ij/∂F_kl``, shape ``(d², d²)`` with
            ``A[i*d + j, k*d + l] = A_ijkl``: ``(4, 4)`` in 2-D, ``(9, 9)`` in 3-D.

    Returns:
        ``Ellipticity(minimum, normal)``: the indicator (a float, in the units of ``A``)
        and the minimizing unit normal, shape ``(d,)``, first nonzero component (above
        1e-6) positive.

    Raises:
        ValueError: ``A`` is not ``(4, 4)`` or ``(9, 9)``, or has non-finite entries.
        TypeError: ``A`` is complex or not numeric.
    """
    A, d = _dimension(A)
    scale = float(np.max(np.abs(A)))
    if scale == 0.0:
        return Ellipticity(0.0, np.eye(d)[0])
    A = A / scale  # unit scale: the optimizers' tolerances are relative
    if d == 2:
        minimum, normal = _ellipticity_2d(_normal_form(A, 2))
    else:
        Am = A.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)
        minimum, normal = _ellipticity_3d(_normal_form(A, 3), Am)
    return Ellipticity(float(minimum * scale), _canonical(normal))
