"""Linear micro materials: elasticity and conductivity.

Both follow the material protocol (:mod:`~dolfinx_multiscale.materials.protocol`) with
a constant tangent ``D``: ``σ = D ε`` (``is_linear = True``, no history).

Conduction uses the flux ``j = K ∇θ`` (sign dropped), so that the effective
conductivity is ``K_eff = ∂⟨j⟩/∂⟨∇θ⟩``, symmetric positive definite like ``C_eff``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .protocol import real_parameter
from ..kinematics import CONDUCTION, SMALL_STRAIN, Kinematics
from ..tensors import isotropic_stiffness, lame_parameters, mandel_size

__all__ = ["Conductivity", "LinearElastic"]


def _spd(M: npt.ArrayLike, name: str, shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    """Check that ``M`` is a finite symmetric positive definite matrix of the given shape."""
    M = np.asarray(M, dtype=float)
    if M.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {M.shape}")
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"{name} must be finite; got {name}[{i}, {j}] = {M[i, j]}")
    if not np.allclose(M, M.T, rtol=1e-12, atol=1e-14 * np.abs(M).max()):
        raise ValueError(f"{name} must be symmetric")
    if np.linalg.eigvalsh(M).min() <= 0:
        raise ValueError(f"{name} must be positive definite; eigenvalues {np.linalg.eigvalsh(M)}")
    return M


class _LinearMaterial:
    """Shared part of the linear materials: ``σ = D ε`` with a constant matrix ``D``."""

    is_linear = True
    spd_tangent = True  # D is checked symmetric positive definite
    varying_tangent = False
    kinematics: Kinematics

    def matrix(self, dim: int) -> npt.NDArray[np.float64]:  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_state(self, n_points: int) -> dict[str, npt.NDArray[np.float64]]:
        """No history: an empty dict."""
        return {}

    def update(self, eps, state, need_tangent: bool = True, out=None, guess=None):
        """``σ = D ε`` at every point.

        Args:
            eps: generalized strain, shape ``(N, n)``.
            state: ignored (no history).
            need_tangent: return the tangent ``(N, n, n)`` (a broadcast view) or ``None``.
            out, guess: ignored (the protocol's spare state and initial guess).

        Returns:
            ``(sigma (N, n), tangent (N, n, n) | None, extra)``; ``extra`` holds
            ``"sigma33"`` ``(N,)`` for isotropic 2-D elasticity (plane strain
            ``λ(ε11 + ε22)``, plane stress 0), else nothing.
        """
        eps = np.asarray(eps, dtype=float)
        D = self.matrix(self._dim_of(eps.shape[-1]))
        tangent = np.broadcast_to(D, eps.shape[:1] + D.shape) if need_tangent else None
        return eps @ D.T, tangent, self._out_of_plane(eps)

    def _out_of_plane(self, eps) -> dict:
        return {}

    def free_energy(self, eps, state) -> npt.NDArray[np.float64]:
        """Stored energy density ``ψ = ½ ε·D ε`` per point, ``(N,)``."""
        eps = np.asarray(eps, dtype=float)
        D = self.matrix(self._dim_of(eps.shape[-1]))
        return 0.5 * np.einsum("pi,pi->p", eps @ D, eps)  # one matrix product: 5x the 3-operand einsum


class LinearElastic(_LinearMaterial):
    """Linear elastic material, isotropic or anisotropic.

    Give exactly one of ``(E, nu)``, ``(lmbda, mu)`` or ``C`` (all finite):

    * ``E`` [Pa] and ``nu`` [-], with ``E > 0`` and ``-1 < nu < 0.5``;
    * Lamé parameters ``lmbda``, ``mu`` [Pa], with ``mu > 0`` and ``lmbda > -2mu/3``;
    * ``C``: a symmetric positive definite Mandel stiffness, ``(3, 3)`` for 2-D or
      ``(6, 6)`` for 3-D (it then fixes the dimension).

    2-D is plane strain (``C = λ I⊗I + 2μ I_s`` restricted to the plane) unless
    ``plane_stress=True`` (isotropic only): ``λ* = 2λμ/(λ + 2μ)``.

    Raises:
        TypeError: not exactly one of the three forms, or a parameter is not a real
            number.
        ValueError: a parameter (or an entry of ``C``) is not finite or out of range.
    """

    kinematics = SMALL_STRAIN

    def __init__(self, E=None, nu=None, *, lmbda=None, mu=None, C=None, plane_stress=False):
        given = [E is not None or nu is not None, lmbda is not None or mu is not None, C is not None]
        if sum(given) != 1:
            raise TypeError("give exactly one of (E, nu), (lmbda, mu) or C")
        self.plane_stress = bool(plane_stress)
        self._C = None
        if C is not None:
            C = np.asarray(C, dtype=float)
            n = C.shape[0] if C.ndim == 2 else -1
            if n not in (3, 6):
                raise ValueError(f"C must be a (3, 3) or (6, 6) Mandel matrix; got shape {C.shape}")
            if plane_stress:
                raise ValueError("plane_stress applies to isotropic (E, nu) materials only")
            self._C = _spd(C, "C", (n, n))
            self.lmbda = self.mu = None
        elif lmbda is not None or mu is not None:
            if lmbda is None or mu is None:
                raise TypeError("give both lmbda and mu")
            lmbda, mu = real_parameter("lmbda", lmbda), real_parameter("mu", mu)
            if not mu > 0:
                raise ValueError(f"mu must be > 0; got {mu}")
            if not lmbda + 2.0 * mu / 3.0 > 0:
                raise ValueError(f"lmbda must be > -2 mu / 3 (positive bulk modulus); got {lmbda}")
            self.lmbda, self.mu = float(lmbda), float(mu)
        else:
            if E is None or nu is None:
                raise TypeError("give both E and nu")
            self.lmbda, self.mu = lame_parameters(real_parameter("E", E), real_parameter("nu", nu))

    def __repr__(self) -> str:
        if self._C is not None:
            return f"LinearElastic(C=<{self._C.shape[0]}x{self._C.shape[0]}>)"
        return f"LinearElastic(lmbda={self.lmbda:g}, mu={self.mu:g})"

    @staticmethod
    def _dim_of(n: int) -> int:
        return {3: 2, 6: 3}[n]

    def matrix(self, dim: int) -> npt.NDArray[np.float64]:
        """Mandel stiffness, ``(3, 3)`` (2-D) or ``(6, 6)`` (3-D), in Pa."""
        n = mandel_size(dim)
        if self._C is not None:
            if self._C.shape[0] != n:
                raise ValueError(f"material has a {self._C.shape[0]}x{self._C.shape[0]} C; "
                                 f"a {dim}-D problem needs {n}x{n}")
            return self._C
        lmbda = self.lmbda
        if self.plane_stress:
            if dim != 2:
                raise ValueError("plane_stress applies to 2-D problems only")
            lmbda = 2.0 * self.lmbda * self.mu / (self.lmbda + 2.0 * self.mu)
        return isotropic_stiffness(lmbda, self.mu, dim)

    stiffness = matrix

    def _out_of_plane(self, eps) -> dict:
        if eps.shape[-1] != 3 or self._C is not None:
            return {}
        lmbda = 0.0 if self.plane_stress else self.lmbda
        return {"sigma33": lmbda * (eps[:, 0] + eps[:, 1])}


class Conductivity(_LinearMaterial):
    """Linear (Fourier/Fick/Darcy-like) conductivity ``j = K ∇θ``.

    Args:
        k: a finite scalar ``> 0`` (isotropic) or a finite symmetric positive definite
            ``(d, d)`` tensor [W/(m·K) for heat, or the analogous unit].

    Raises:
        TypeError: ``k`` is not a real number or an array of them.
        ValueError: ``k`` (or an entry) is not finite, or ``k`` is not positive
            (definite).
    """

    kinematics = CONDUCTION

    def __init__(self, k):
        if np.ndim(k) == 0:
            k = real_parameter("k", k)
            if not k > 0:
                raise ValueError(f"k must be > 0; got {k}")
            self.k = k
        else:
            k = np.asarray(k, dtype=float)
            n = k.shape[0] if k.ndim == 2 else -1
            if n not in (2, 3):
                raise ValueError(f"k must be a scalar or a (2, 2) / (3, 3) tensor; got shape {k.shape}")
            self.k = _spd(k, "k", (n, n))

    def __repr__(self) -> str:
        return f"Conductivity(k={self.k!r})"

    @staticmethod
    def _dim_of(n: int) -> int:
        return n

    def matrix(self, dim: int) -> npt.NDArray[np.float64]:
        """Conductivity tensor, shape ``(d, d)``."""
        if isinstance(self.k, float):
            return self.k * np.eye(dim)
        if self.k.shape[0] != dim:
            raise ValueError(f"material has a {self.k.shape[0]}-D conductivity; the problem is {dim}-D")
        return self.k
