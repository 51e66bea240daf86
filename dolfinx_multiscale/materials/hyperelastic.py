r"""Finite-strain isotropic hyperelasticity: neo-Hookean and Saint Venant–Kirchhoff.

Both laws follow the material protocol (:mod:`~dolfinx_multiscale.materials.protocol`)
in total Lagrangian finite strain
(:data:`~dolfinx_multiscale.kinematics.FINITE_STRAIN`), without history:

* generalized strain: the displacement gradient ``H = F − I`` flattened row-major,
  ``(N, d²)``: ``[H11, H12, H21, H22]`` in 2-D (``n = 4``), ``[H11, H12, H13, H21, …,
  H33]`` in 3-D (``n = 9``);
* generalized stress: the first Piola–Kirchhoff stress ``P = ∂ψ/∂F`` [Pa] in the same
  row-major order, ``(N, d²)``;
* tangent: the full (not symmetric-reduced) ``A = ∂P/∂F``, ``(N, d², d²)`` with
  ``A[p, i·d + j, k·d + l] = ∂P_ij/∂F_kl``. It has the major symmetry
  ``A_ijkl = A_klij`` (hyperelastic) but not the minor ones, and need not be positive
  definite.

2-D is plane strain: ``F`` is the in-plane ``2 × 2`` block of the 3-D gradient with
``F33 = 1`` and ``F13 = F31 = F23 = F32 = 0``. Both energies below are then evaluated
on that 3-D ``F``; ``P`` and ``A`` are its in-plane components (the same formulas with
``d = 2``, since ``F`` is block diagonal), and the out-of-plane ``P33`` is reported in
the new state as ``"sigma33"``.

With the Lamé parameters ``λ``, ``μ`` of ``(E, ν)``
(:func:`~dolfinx_multiscale.tensors.lame_parameters`), ``J = det F``, ``C = FᵀF``:

**Neo-Hookean** (compressible, as in DOLFINx's hyperelasticity demo):

.. math::

    ψ = \frac{μ}{2}(I_1 − 3) − μ \ln J + \frac{λ}{2}(\ln J)^2,\qquad I_1 = \operatorname{tr} C,

    P = μ (F − F^{-T}) + λ \ln J\, F^{-T},

    A_{ijkl} = μ δ_{ik} δ_{jl} + λ F^{-T}_{ij} F^{-T}_{kl}
               + (μ − λ \ln J) F^{-1}_{li} F^{-1}_{jk}.

In plane strain ``I_1 = tr(F₂ᵀF₂) + 1``, ``J = det F₂`` and ``P33 = λ ln J``. The energy
is undefined for ``J ≤ 0``: ``P``, ``A``, ``P33`` and ``ψ`` are NaN at such points (no
exception, no warning), so that a Newton line search can reject the step.

**Saint Venant–Kirchhoff** (Green–Lagrange strain ``E = ½(C − I)``, second
Piola–Kirchhoff stress ``S``):

.. math::

    ψ = \frac{λ}{2} (\operatorname{tr} E)^2 + μ\, E : E,\qquad
    S = λ \operatorname{tr}(E)\, I + 2μ E,\qquad P = F S,

    A_{ijkl} = δ_{ik} S_{lj} + λ F_{ij} F_{kl} + μ F_{il} F_{kj} + μ (F F^T)_{ik} δ_{jl}.

In plane strain ``E33 = 0`` and ``P33 = S33 = λ tr E``. Defined for every ``F`` (it
loses rank-one convexity in strong compression).

At ``F = I`` both give ``P = 0`` and ``A_ijkl = λ δ_ij δ_kl + μ(δ_ik δ_jl + δ_il δ_jk)``,
the small-strain isotropic stiffness.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .protocol import State, real_parameter
from ..kinematics import FINITE_STRAIN
from ..tensors import lame_parameters

__all__ = ["NeoHookean", "SaintVenantKirchhoff"]

_Array = npt.NDArray[np.float64]
#: the dimension of a row-major ``(N, d²)`` gradient by its number of columns
_DIM = {4: 2, 9: 3}


def _number_text(x: float) -> str:
    """``1.0`` → ``"1"``, ``0.3`` → ``"0.3"``; the exact ``repr`` if ``:g`` would round."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _det_and_cofactor(F: _Array) -> tuple[_Array, _Array]:
    """``J = det F`` ``(N,)`` and the cofactor matrix ``cof F = J F⁻ᵀ`` ``(N, d, d)``.

    Closed forms for ``d = 2, 3``: defined for singular ``F`` too (no exception).
    """
    if F.shape[-1] == 2:
        cof = np.empty_like(F)
        cof[:, 0, 0] = F[:, 1, 1]
        cof[:, 0, 1] = -F[:, 1, 0]
        cof[:, 1, 0] = -F[:, 0, 1]
        cof[:, 1, 1] = F[:, 0, 0]
    else:
        # cof_ij = (F_{i+1} × F_{i+2})_j with the rows F_i of F (indices mod 3)
        cof = np.cross(F[:, [1, 2, 0], :], F[:, [2, 0, 1], :])
    J = np.einsum("pj,pj->p", F[:, 0], cof[:, 0])  # expansion along the first row
    return J, cof


class _Hyperelastic:
    """Shared part of the hyperelastic laws: parameters, shapes, 2-D/3-D dispatch.

    A subclass gives :meth:`_stress` and :meth:`_energy` on ``(N, d, d)`` gradients
    ``F`` (``d = 2``: the in-plane block of a plane-strain gradient with ``F33 = 1``).
    """

    kinematics = FINITE_STRAIN
    is_linear = False
    spd_tangent = False  # A = ∂P/∂F is not symmetric in (ij) nor definite in general
    #: but it has the major symmetry A_ijkl = A_klij (hyperelastic): symmetric stiffnesses
    symmetric_tangent = True
    varying_tangent = True
    #: no history (``"sigma33"`` of a new state is an output)
    history_keys: tuple[str, ...] = ()

    def __init__(self, E: float, nu: float):
        E, nu = real_parameter("E", E), real_parameter("nu", nu)
        self.lmbda, self.mu = lame_parameters(E, nu)  # validates E > 0, -1 < nu < 0.5
        self.E, self.nu = E, nu

    def __repr__(self) -> str:
        return f"{type(self).__name__}(E={_number_text(self.E)}, nu={_number_text(self.nu)})"

    def _stress(self, F: _Array, need_tangent: bool
                ) -> tuple[_Array, _Array | None, _Array]:  # pragma: no cover - abstract
        """``(P (N, d, d), A (N, d, d, d, d) | None, P33 (N,))`` of gradients ``F``;
        ``P33`` is the out-of-plane stress of plane strain (``F33 = 1``), used in 2-D."""
        raise NotImplementedError

    def _energy(self, F: _Array) -> _Array:  # pragma: no cover - abstract
        """``ψ`` ``(N,)`` of gradients ``F`` ``(N, d, d)`` (plane strain in 2-D)."""
        raise NotImplementedError

    @staticmethod
    def _deformation_gradient(strain: npt.ArrayLike) -> _Array:
        """``F = I + H`` ``(N, d, d)`` from the row-major ``H`` ``(N, d²)``, checked."""
        H = np.asarray(strain, dtype=float)
        if H.ndim != 2 or H.shape[1] not in _DIM:
            raise ValueError(
                "strain must be the displacement gradient H = F - I flattened row-major, "
                f"shape (N, 4) (2-D plane strain) or (N, 9) (3-D); got shape {H.shape}")
        d = _DIM[H.shape[1]]
        return H.reshape(-1, d, d) + np.eye(d)

    def initial_state(self, n_points: int) -> State:
        """No history: an empty dict."""
        return {}

    def update(self, strain: npt.ArrayLike, state: State, need_tangent: bool = True,
               out: State | None = None, guess: State | None = None
               ) -> tuple[_Array, _Array | None, State]:
        """First Piola–Kirchhoff stress and tangent at ``N`` points.

        Args:
            strain: displacement gradient ``H = F − I`` flattened row-major,
                ``(N, 4)`` (2-D plane strain) or ``(N, 9)`` (3-D).
            state: ignored (no history).
            need_tangent: compute ``A = ∂P/∂F`` (else ``None`` is returned).
            out, guess: ignored (the protocol's spare state and initial guess).

        Returns:
            ``(P, A, new)``: ``P`` ``(N, d²)`` row-major [Pa]; ``A`` ``(N, d², d²)``
            with ``A[p, i·d + j, k·d + l] = ∂P_ij/∂F_kl`` [Pa], or ``None``; ``new`` is
            ``{"sigma33": P33 (N,)}`` in 2-D (out-of-plane stress of plane strain) and
            ``{}`` in 3-D. Where the energy is undefined (neo-Hookean, ``J ≤ 0``) the
            point's values are NaN.

        Raises:
            ValueError: ``strain`` is not a 2-D array with 4 or 9 columns.
        """
        F = self._deformation_gradient(strain)
        N, d = F.shape[0], F.shape[1]
        P, A, P33 = self._stress(F, need_tangent)
        tangent = None if A is None else A.reshape(N, d * d, d * d)
        return P.reshape(N, d * d), tangent, ({"sigma33": P33} if d == 2 else {})

    def free_energy(self, strain: npt.ArrayLike, state: State) -> _Array:
        """Stored energy density ``ψ(F)`` [J/m³ = Pa] per point, ``(N,)``.

        Args:
            strain: ``H = F − I`` row-major, ``(N, 4)`` or ``(N, 9)`` (as :meth:`update`).
            state: ignored (no history).

        Raises:
            ValueError: ``strain`` is not a 2-D array with 4 or 9 columns.
        """
        return self._energy(self._deformation_gradient(strain))

    def dissipation(self, state_old: State, state_new: State) -> _Array:
        """Energy dissipated over an increment: none (elastic).

        Returns:
            ``np.zeros(())``, a 0-d zero that broadcasts to any number of points (the
            states are empty, so they do not tell ``N``).
        """
        return np.zeros(())


class NeoHookean(_Hyperelastic):
    r"""Compressible neo-Hookean law of DOLFINx's hyperelasticity demo.

    ``ψ = μ/2 (I₁ − 3) − μ ln J + λ/2 (ln J)²``, ``P = μ (F − F⁻ᵀ) + λ ln J F⁻ᵀ``,
    ``A_ijkl = μ δ_ik δ_jl + λ F⁻ᵀ_ij F⁻ᵀ_kl + (μ − λ ln J) F⁻¹_li F⁻¹_jk`` (module
    docstring; plane strain in 2-D with ``P33 = λ ln J``). At points with ``J ≤ 0``
    ``P``, ``A``, ``P33`` and ``ψ`` are NaN.

    Args:
        E: Young's modulus of the linearization at ``F = I`` [Pa], ``E > 0``.
        nu: its Poisson's ratio [-], ``-1 < ν < 0.5``.

    Raises:
        TypeError: a parameter is not a real number.
        ValueError: a parameter is not finite or out of range (the message names it).

    Attributes:
        E, nu: the given parameters (floats).
        lmbda, mu: Lamé parameters ``λ``, ``μ`` [Pa].
        kinematics: :data:`~dolfinx_multiscale.kinematics.FINITE_STRAIN`.
        is_linear, spd_tangent: ``False``.
        varying_tangent: ``True``.
        history_keys: ``()`` (no history).
    """

    @staticmethod
    def _log_det(F: _Array) -> tuple[_Array, _Array]:
        """``(ln J, F⁻ᵀ)``, both NaN at the points where ``J ≤ 0`` (no warning)."""
        J, cof = _det_and_cofactor(F)
        J = np.where(J > 0, J, np.nan)  # nan > 0 is False: a NaN gradient stays NaN
        return np.log(J), cof / J[:, None, None]

    def _stress(self, F, need_tangent):
        lmbda, mu = self.lmbda, self.mu
        lnJ, FinvT = self._log_det(F)
        P = mu * (F - FinvT) + (lmbda * lnJ)[:, None, None] * FinvT
        A = None
        if need_tangent:
            d = F.shape[1]
            Finv = FinvT.transpose(0, 2, 1)
            A = lmbda * np.einsum("pij,pkl->pijkl", FinvT, FinvT)
            A += (mu - lmbda * lnJ)[:, None, None, None, None] * np.einsum("pli,pjk->pijkl", Finv, Finv)
            A += mu * np.einsum("ik,jl->ijkl", np.eye(d), np.eye(d))
        return P, A, lmbda * lnJ

    def _energy(self, F):
        lnJ, _ = self._log_det(F)
        d = F.shape[1]
        I1_minus_3 = np.einsum("pij,pij->p", F, F) - d  # plane strain: + F33² − 1 = 0
        return 0.5 * self.mu * I1_minus_3 - self.mu * lnJ + 0.5 * self.lmbda * lnJ**2


class SaintVenantKirchhoff(_Hyperelastic):
    r"""Saint Venant–Kirchhoff law: linear isotropic elasticity in ``(E_GL, S)``.

    ``E_GL = ½(FᵀF − I)``, ``S = λ tr(E_GL) I + 2μ E_GL``, ``P = F S``,
    ``ψ = λ/2 (tr E_GL)² + μ E_GL : E_GL``,
    ``A_ijkl = δ_ik S_lj + λ F_ij F_kl + μ F_il F_kj + μ (F Fᵀ)_ik δ_jl`` (module
    docstring; plane strain in 2-D with ``E_GL,33 = 0`` and ``P33 = λ tr E_GL``).

    Args:
        E: Young's modulus [Pa], ``E > 0``.
        nu: Poisson's ratio [-], ``-1 < ν < 0.5``.

    Raises:
        TypeError: a parameter is not a real number.
        ValueError: a parameter is not finite or out of range (the message names it).

    Attributes:
        E, nu: the given parameters (floats).
        lmbda, mu: Lamé parameters ``λ``, ``μ`` [Pa].
        kinematics: :data:`~dolfinx_multiscale.kinematics.FINITE_STRAIN`.
        is_linear, spd_tangent: ``False``.
        varying_tangent: ``True``.
        history_keys: ``()`` (no history).
    """

    @staticmethod
    def _green_lagrange(F: _Array) -> tuple[_Array, _Array]:
        """``(E_GL (N, d, d), tr E_GL (N,))``; ``FᵀF`` is exactly symmetric."""
        Egl = 0.5 * (np.einsum("pki,pkj->pij", F, F) - np.eye(F.shape[1]))
        return Egl, np.einsum("pii->p", Egl)

    def _stress(self, F, need_tangent):
        lmbda, mu = self.lmbda, self.mu
        d = F.shape[1]
        Egl, trE = self._green_lagrange(F)
        S = 2.0 * mu * Egl + (lmbda * trE)[:, None, None] * np.eye(d)
        P = F @ S
        A = None
        if need_tangent:
            eye = np.eye(d)
            A = np.einsum("ik,plj->pijkl", eye, S)
            A += lmbda * np.einsum("pij,pkl->pijkl", F, F)
            A += mu * np.einsum("pil,pkj->pijkl", F, F)
            A += mu * np.einsum("pik,jl->pijkl", F @ F.transpose(0, 2, 1), eye)
        return P, A, lmbda * trE

    def _energy(self, F):
        Egl, trE = self._green_lagrange(F)
        return 0.5 * self.lmbda * trE**2 + self.mu * np.einsum("pij,pij->p", Egl, Egl)
