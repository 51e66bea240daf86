r"""Small-strain J2 (von Mises) plasticity, vectorised over many material points.

The model (all tensors 3-D, symmetric, stored in Mandel notation, ``docs/conventions.md``:
3-D order ``[11, 22, 33, 23, 13, 12]``, 2-D order ``[11, 22, 12]``, shear components
scaled by √2):

* additive split ``ε = ε_e + ε_p`` and elasticity ``σ = C : (ε − ε_p)``,
  ``C = λ I⊗I + 2μ I_s``;
* yield function ``f = √(3/2) ‖s − X‖ − σ_y(p)`` with ``s = dev σ``;
* linear isotropic hardening ``σ_y(p) = σ_y0 + H p``;
* linear kinematic (Prager) hardening ``X = (2/3) H_k ε_p``;
* associative flow ``ε̇_p = ṗ √(3/2) n``, ``n = (s − X)/‖s − X‖``, so that
  ``ṗ = √(2/3) ‖ε̇_p‖`` (``tr ε_p = 0``: plastic incompressibility);
* free energy ``ψ = ½ (ε − ε_p) : C : (ε − ε_p) + ½ H p² + (1/3) H_k ε_p : ε_p``.

Time integration is backward Euler, which for this model is the closed-form radial
return: with the trial state ``η_tr = 2μ dev(ε − ε_p,n) − X_n``,
``q_tr = √(3/2) ‖η_tr‖`` and ``f_tr = q_tr − σ_y(p_n)``,

.. math::

    Δp = f_tr / (3μ + H + H_k),\quad
    Δε_p = √(3/2) Δp\, n,\quad n = η_tr / ‖η_tr‖,\quad
    σ = σ_tr − 2μ Δε_p.

The consistent (algorithmic) tangent at a yielding point is

.. math::

    C_alg = C − \frac{6μ² Δp}{q_tr} I_dev
              − 6μ² \Big(\frac{1}{3μ + H + H_k} − \frac{Δp}{q_tr}\Big) n ⊗ n,

and ``C`` at an elastic point. 2-D is plane strain: the in-plane strain is embedded in
3-D with ``ε_33 = ε_13 = ε_23 = 0``; the returned stress and tangent are the in-plane
components (rows/columns ``[11, 22, 12]`` of the 3-D quantities); ``σ_33`` is reported
in the new state. The internal variables are always 3-D.

Energy bookkeeping of one backward-Euler step (exact algebraic identity, see
:meth:`J2Plasticity.dissipation`):

.. math::

    σ_{n+1} : Δε = Δψ + D + ½ Δε_e : C : Δε_e,\qquad
    D = σ_y0 Δp + ½ H Δp² + (1/3) H_k Δε_p : Δε_p ≥ 0,

where ``Δε_e = Δε − Δε_p``; the last term is the (non-negative, second-order in the
step) numerical dissipation of backward Euler.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .protocol import check_state, real_parameter
from ..kinematics import SMALL_STRAIN
from ..tensors import IN_PLANE, embed_plane_strain, isotropic_stiffness, lame_parameters

__all__ = ["J2Plasticity"]

_Array = npt.NDArray[np.float64]
_SQ32 = math.sqrt(1.5)


def _dev(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Deviatoric part of 3-D Mandel vectors ``(N, 6)`` (new array)."""
    out = v.copy()
    out[:, :3] -= ((v[:, 0] + v[:, 1] + v[:, 2]) / 3.0)[:, None]
    return out


def _norm(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise Euclidean (= tensor Frobenius in Mandel) norm of ``(N, m)``."""
    return np.sqrt(np.einsum("ij,ij->i", v, v))


class J2Plasticity:
    """Von Mises plasticity with linear isotropic and kinematic hardening.

    ``σ_y(p) = σ_y0 + H p`` (isotropic), ``X = (2/3) H_k ε_p`` (Prager kinematic).
    With ``H = H_k = 0`` it is perfect plasticity; in uniaxial stress the
    elastoplastic modulus is ``E_t = E (H + H_k) / (E + H + H_k)``.

    All tensors are in Mandel notation (module docstring). :meth:`update` treats all
    points at once with numpy (no Python loop per point); elastic points cost only
    the trial evaluation and a broadcast copy of ``C`` into the tangent.

    Args:
        E: Young's modulus, ``E > 0``.
        nu: Poisson's ratio, ``-1 < ν < 0.5``.
        sy0: initial yield stress (uniaxial), ``σ_y0 > 0``.
        H: isotropic hardening modulus, ``H ≥ 0``.
        Hk: kinematic hardening modulus, ``H_k ≥ 0``.

    Raises:
        ValueError: a parameter is not finite or out of range (the message names it and
            the range).
        TypeError: a parameter is not a real number.

    Attributes:
        kinematics: :data:`~dolfinx_multiscale.kinematics.SMALL_STRAIN`.
        is_linear: ``False`` (linear materials have ``True``).
        varying_tangent: ``True``: the tangent changes with the plastic state.
        spd_tangent: ``True``: the algorithmic tangent is symmetric, with eigenvalues
            ``3κ``, ``2μθ`` and ``2μ H_t/(3μ + H_t)`` (``H_t = H + H_k``, ``θ ∈ (0, 1]``),
            positive semidefinite (definite when ``H_t > 0``).
        yield_rtol: a point yields when ``f_tr > yield_rtol · σ_y(p_n)``; the default
            ``1e-12`` lets stress states on the yield surface up to round-off stay
            elastic (no spurious plastic step of size ~1e-16), while any real plastic
            excursion is returned.
    """

    is_linear = False
    #: the history (``"sigma"``, ``"sigma33"`` of a new state are outputs)
    history_keys = ("eps_p", "p")
    varying_tangent = True
    spd_tangent = True
    kinematics = SMALL_STRAIN
    yield_rtol = 1e-12

    def __init__(self, E: float, nu: float, sy0: float, H: float = 0.0, Hk: float = 0.0):
        E, nu = real_parameter("E", E), real_parameter("nu", nu)
        sy0, H, Hk = real_parameter("sy0", sy0), real_parameter("H", H), real_parameter("Hk", Hk)
        self._lame = lame_parameters(E, nu)  # validates E > 0, -1 < nu < 0.5
        if not sy0 > 0:
            raise ValueError(f"sy0 must be > 0; got {sy0:g}")
        if not H >= 0:
            raise ValueError(f"H must be >= 0; got {H:g}")
        if not Hk >= 0:
            raise ValueError(f"Hk must be >= 0; got {Hk:g}")
        self.E, self.nu, self.sy0, self.H, self.Hk = E, nu, sy0, H, Hk
        lmbda, mu = self._lame
        self._C3 = isotropic_stiffness(lmbda, mu, 3)
        self._C2 = isotropic_stiffness(lmbda, mu, 2)

    def __repr__(self) -> str:
        return (
            f"J2Plasticity(E={self.E!r}, nu={self.nu!r}, sy0={self.sy0!r}, "
            f"H={self.H!r}, Hk={self.Hk!r})"
        )

    @property
    def lame(self) -> tuple[float, float]:
        """Lamé parameters ``(λ, μ)``."""
        return self._lame

    def stiffness(self, dim: int) -> npt.NDArray[np.float64]:
        """Elastic stiffness ``C = λ I⊗I + 2μ I_s`` in Mandel notation.

        Args:
            dim: 2 (plane strain, ``[11, 22, 12]``) or 3 (``[11, 22, 33, 23, 13, 12]``).

        Returns:
            A new array of shape ``(3, 3)`` or ``(6, 6)``.
        """
        return isotropic_stiffness(*self._lame, dim)

    # ------------------------------------------------------------------ state
    def initial_state(self, n_points: int) -> dict[str, npt.NDArray[np.float64]]:
        """Virgin state of ``n_points`` points.

        Returns:
            ``{"eps_p": (N, 6) zeros, "p": (N,) zeros, "sigma": (N, 6) zeros,
            "sigma33": (N,) zeros}``: plastic strain (3-D Mandel), equivalent plastic
            strain, and the stress of the state (3-D Mandel, and its 33 component),
            i.e. the same keys as the new state returned by :meth:`update`.
        """
        n = int(n_points)
        if n < 0:
            raise ValueError(f"n_points must be >= 0; got {n_points}")
        return {
            "eps_p": np.zeros((n, 6)),
            "p": np.zeros(n),
            "sigma": np.zeros((n, 6)),
            "sigma33": np.zeros(n),
        }

    @staticmethod
    def _check_state(state: dict, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(eps_p (N, 6), p (N,))`` of a state (:func:`.protocol.check_state`)."""
        return check_state(state, {"eps_p": ("N", 6), "p": ("N",)}, n)

    # ------------------------------------------------------------ constitutive
    def yield_function(self, sigma: npt.ArrayLike, state: dict) -> npt.NDArray[np.float64]:
        """Yield function ``f = √(3/2) ‖dev σ − X‖ − σ_y(p)``.

        ``X = (2/3) H_k ε_p``, ``σ_y(p) = σ_y0 + H p``.

        Args:
            sigma: ``(N, 6)`` full 3-D Mandel stress (e.g. ``state["sigma"]``).
            state: dict with ``"eps_p"`` ``(N, 6)`` and ``"p"`` ``(N,)``.

        Returns:
            ``(N,)`` values of ``f`` (``≤ 0`` admissible; ``≈ 0`` after a plastic step).
        """
        sigma = np.asarray(sigma, dtype=float)
        if sigma.ndim != 2 or sigma.shape[1] != 6:
            raise ValueError(f"sigma must be (N, 6) 3-D Mandel; got {sigma.shape}")
        eps_p, p = self._check_state(state, sigma.shape[0])
        eta = _dev(sigma) - (2.0 / 3.0) * self.Hk * eps_p
        return _SQ32 * _norm(eta) - (self.sy0 + self.H * p)

    def elastic_trial(self, eps: npt.ArrayLike, state: dict) -> npt.NDArray[np.bool_]:
        """Whether :meth:`update` from ``state`` to ``eps`` is elastic, point by point.

        The trial yield function of the elastic predictor ``σ_tr = C (ε − ε_p,n)``,
        ``f_tr = √(3/2) ‖dev σ_tr − X_n‖ − σ_y(p_n)``, against half the tolerance of the
        return mapping: where ``f_tr ≤ ½ yield_rtol σ_y(p_n)``, :meth:`update` answers
        elastically (history unchanged, ``σ = C (ε − ε_p,n)``, tangent ``C``) whatever
        the round-off of its own evaluation order. No stress and no tangent are
        formed, so it costs a fraction of an update.

        Args:
            eps: ``(N, 3)`` plane-strain 2-D Mandel or ``(N, 6)`` 3-D Mandel strain at the
                end of the increment.
            state: the committed state (``"eps_p"`` ``(N, 6)``, ``"p"`` ``(N,)``).

        Returns:
            ``(N,)`` bool, ``True`` where the increment is elastic.
        """
        eps = np.asarray(eps, dtype=float)
        if eps.ndim != 2 or eps.shape[1] not in (3, 6):
            raise ValueError("strain must have shape (N, 3) (2-D Mandel [11, 22, 12]) or (N, 6) "
                             f"(3-D Mandel [11, 22, 33, 23, 13, 12]); got {eps.shape}")
        eps_p, p = self._check_state(state, eps.shape[0])
        column = dict(zip(IN_PLANE, range(3))) if eps.shape[1] == 3 else {i: i for i in range(6)}
        # dev σ_tr − X = 2μ d with d = ε − (1 + κ) ε_p − ⅓ tr(ε − ε_p) I, κ = H_k / (3μ)
        # (ε_p is deviatoric: it only enters the trace as round-off, which is kept)
        a = 1.0 + self.Hk / (3.0 * self._lame[1])
        shifted = eps_p if a == 1.0 else a * eps_p
        mean = eps_p[:, 0] + eps_p[:, 1]
        mean += eps_p[:, 2]
        np.subtract(eps[:, column[0]], mean, out=mean)
        mean += eps[:, column[1]]
        if 2 in column:
            mean += eps[:, column[2]]
        mean *= 1.0 / 3.0
        norm2, d = np.zeros(eps.shape[0]), np.empty(eps.shape[0])
        for i in range(6):  # ‖d‖², component by component (no (N, 6) temporaries)
            if i in column:
                np.subtract(eps[:, column[i]], shifted[:, i], out=d)
            else:
                np.negative(shifted[:, i], out=d)
            if i < 3:
                d -= mean
            d *= d
            norm2 += d
        # f_tr ≤ ½ yield_rtol σ_y  ⇔  ‖d‖ ≤ σ_y (1 + ½ yield_rtol) / (√6 μ)
        c = (1.0 + 0.5 * self.yield_rtol) / (math.sqrt(6.0) * self._lame[1])
        limit = (c * self.H) * p
        limit += c * self.sy0
        limit *= limit
        return norm2 <= limit

    def update(
        self, eps: npt.ArrayLike, state: dict, need_tangent: bool = True, out: dict | None = None,
        guess: dict | None = None
    ) -> tuple[_Array, _Array | None, dict[str, _Array]]:
        """Backward-Euler return mapping at ``N`` points at once.

        Args:
            eps: ``(N, 3)`` total strain, 2-D Mandel ``[11, 22, 12]`` (plane strain:
                ``ε_33 = ε_13 = ε_23 = 0``), or ``(N, 6)`` 3-D Mandel
                ``[11, 22, 33, 23, 13, 12]``, at the end of the increment.
            state: the committed state at the start of the increment (from
                :meth:`initial_state` or a previous :meth:`update`): ``"eps_p"``
                ``(N, 6)``, ``"p"`` ``(N,)``. It is not modified; other keys are ignored.
            need_tangent: compute the consistent tangent (else ``None`` is returned).
            out, guess: ignored (the protocol's spare state and initial guess).

        Returns:
            ``(sigma, tangent, trial)``:

            * ``sigma``: ``(N, n)`` Mandel stress (in-plane part in 2-D), ``n = 3, 6``;
            * ``tangent``: ``(N, n, n)`` consistent tangent ``∂σ/∂ε`` (the in-plane
              block in 2-D plane strain), or ``None``; equals ``C`` exactly at
              elastic points;
            * ``trial``: the new state, new arrays with keys ``"eps_p"`` ``(N, 6)``,
              ``"p"`` ``(N,)``, ``"sigma"`` ``(N, 6)`` (full 3-D Mandel stress) and
              ``"sigma33"`` ``(N,)`` (the out-of-plane stress in 2-D).
        """
        sigma, trial, (dim, plastic, dp, nT, norm_eta) = self._return_mapping(eps, state)
        tangent = None
        if need_tangent:
            lmbda, mu = self._lame
            C = self._C2 if dim == 2 else self._C3
            n = C.shape[0]
            tangent = np.empty((len(sigma), n, n))
            tangent[...] = C
            if plastic.size:
                # C_alg = C − a I_dev − b n⊗n = (2μ − a) I + (λ + a/3) 1⊗1 − b n⊗n,
                # a = 6μ²Δp/q_tr, b = 6μ²/h − a; in-plane block in 2-D.
                a, b = self._parts(dp, norm_eta[plastic])
                nk = nT[IN_PLANE] if dim == 2 else nT
                bn = b * nk
                diag = 2.0 * mu - a
                vol = lmbda + a / 3.0
                Tp = np.empty((n, n, plastic.size))
                for i in range(n):  # upper triangle, mirrored: exactly symmetric
                    np.multiply(nk[i], bn[i:], out=Tp[i, i:])
                    np.negative(Tp[i, i:], out=Tp[i, i:])
                    Tp[i, i] += diag
                    if i < dim:
                        Tp[i, i:dim] += vol
                    Tp[i, :i] = Tp[:i, i]
                tangent[plastic] = Tp.transpose(2, 0, 1)
        return sigma, tangent, trial

    def update_in_parts(self, eps: npt.ArrayLike, state: dict):
        """:meth:`update` without the tangent, with its change from ``C`` in parts instead:
        ``D − C = −a P − b m⊗m``.

        With the flow direction ``m`` (the unit relative stress ``η = dev σ − X``, of the
        trial and so of the new state: radial return), ``h = 3μ + H + H_k`` and
        ``q_tr = √(3/2) ‖η_tr‖ = σ_y(p_n) + h Δp``: ``a = 6μ² Δp / q_tr``, ``b = 6μ²/h − a``;
        ``P`` the deviatoric projector (:func:`~dolfinx_multiscale.tensors.deviatoric_projector`);
        ``a = b = 0``, ``m = 0`` where the update is elastic. In 2-D plane strain the in-plane
        blocks. They come from the return mapping itself, at a fraction of a tangent's cost
        (the hyper-reduced cell's 3-D reduced stiffness and step check use them).

        Args:
            eps, state: as :meth:`update`.

        Returns:
            ``(sigma, (a (N,), b (N,), m (N, n)), trial)``: ``sigma`` and ``trial`` as
            :meth:`update`'s, ``n`` the strain size.
        """
        sigma, trial, (dim, plastic, dp, nT, norm_eta) = self._return_mapping(eps, state)
        n_pts, n = sigma.shape
        a, b, m = np.zeros(n_pts), np.zeros(n_pts), np.zeros((n_pts, n))
        if plastic.size:
            a[plastic], b[plastic] = self._parts(dp, norm_eta[plastic])
            m[plastic] = (nT[IN_PLANE] if dim == 2 else nT).T
        return sigma, (a, b, m), trial

    def _parts(self, dp: npt.NDArray[np.float64], norm_eta: npt.NDArray[np.float64]):
        """``(a, b)`` of the tangent change at plastic points (:meth:`update_in_parts`)."""
        mu = self._lame[1]
        a = (6.0 * mu * mu) * dp / (_SQ32 * norm_eta)
        return a, (6.0 * mu * mu) / (3.0 * mu + self.H + self.Hk) - a

    def _return_mapping(self, eps: npt.ArrayLike, state: dict):
        """The radial return of :meth:`update`: ``(sigma, trial, (dim, plastic, Δp, n,
        ‖η_tr‖))`` with the plastic points' indices, their ``Δp`` and flow directions
        ``n`` ``(6, M)`` (component-major), and ``‖η_tr‖`` at every point."""
        e3, dim = embed_plane_strain(eps)
        n_pts = e3.shape[0]
        eps_p_n, p_n = self._check_state(state, n_pts)
        lmbda, mu = self._lame
        H, Hk = self.H, self.Hk

        # Work on component-major ("structure of arrays") copies, (6, N): every numpy
        # operation then runs over long contiguous rows instead of 6-long ones.
        # Trial (elastic predictor) at all points; rows are the 3-D Mandel components.
        sT = np.ascontiguousarray((e3 - eps_p_n).T)  # elastic strain, then stress
        tr = sT[0] + sT[1] + sT[2]
        sT *= 2.0 * mu
        etaT = sT.copy()  # η = s − X = 2μ dev ε_e − (2/3) H_k ε_p
        etaT[:3] -= (2.0 * mu / 3.0) * tr
        sT[:3] += lmbda * tr
        if Hk != 0.0:
            etaT -= (2.0 / 3.0 * Hk) * np.ascontiguousarray(eps_p_n.T)
        norm_eta = etaT[0] * etaT[0]
        for i in range(1, 6):
            norm_eta += etaT[i] * etaT[i]
        np.sqrt(norm_eta, out=norm_eta)
        sy_n = self.sy0 + H * p_n
        f_tr = _SQ32 * norm_eta - sy_n
        plastic = np.flatnonzero(f_tr > self.yield_rtol * sy_n)

        # Radial return on the yielding points only.
        eps_p = eps_p_n.copy()
        p = p_n.copy()
        h = 3.0 * mu + H + Hk
        dp = nT = None
        if plastic.size:
            dp = f_tr[plastic] / h
            nT = etaT[:, plastic] / norm_eta[plastic]  # flow direction n, (6, M)
            depsT = (_SQ32 * dp) * nT  # Δε_p = √(3/2) Δp n
            eps_p[plastic] += depsT.T
            p[plastic] += dp
            sT[:, plastic] -= (2.0 * mu) * depsT

        sigma3 = np.ascontiguousarray(sT.T)
        sigma = sigma3[:, IN_PLANE] if dim == 2 else sigma3.copy()
        trial = {"eps_p": eps_p, "p": p, "sigma": sigma3, "sigma33": sT[2].copy()}
        return sigma, trial, (dim, plastic, dp, nT, norm_eta)

    # ------------------------------------------------------------------ energy
    def free_energy(self, eps: npt.ArrayLike, state: dict) -> npt.NDArray[np.float64]:
        """Helmholtz free energy density per point.

        ``ψ = ½ (ε − ε_p) : C : (ε − ε_p) + ½ H p² + (1/3) H_k ε_p : ε_p``.

        Args:
            eps: ``(N, 3)`` plane-strain 2-D Mandel or ``(N, 6)`` 3-D Mandel strain.
            state: dict with ``"eps_p"`` ``(N, 6)`` and ``"p"`` ``(N,)``.

        Returns:
            ``(N,)`` array.
        """
        e3, _ = embed_plane_strain(eps)
        eps_p, p = self._check_state(state, e3.shape[0])
        ee = e3 - eps_p
        lmbda, mu = self._lame
        trace = ee[:, 0] + ee[:, 1] + ee[:, 2]
        # ½ ε_e : C : ε_e = μ ‖ε_e‖² + ½ λ tr(ε_e)² (isotropic C, Mandel: ‖·‖ is the Frobenius norm)
        psi = mu * np.einsum("ij,ij->i", ee, ee) + (0.5 * lmbda) * trace * trace
        return psi + self.hardening_energy(state)

    def hardening_energy(self, state: dict) -> npt.NDArray[np.float64]:
        """Stored hardening energy ``ψ_h = ½ H p² + (1/3) H_k ε_p : ε_p``, ``(N,)``."""
        eps_p, p = self._check_state(state)
        return 0.5 * self.H * p**2 + (self.Hk / 3.0) * np.einsum("ij,ij->i", eps_p, eps_p)

    def plastic_work(
        self, state_old: dict, state_new: dict, sigma_new_full: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Plastic work of an increment, ``W_p = σ_{n+1} : Δε_p``, per unit volume.

        Args:
            state_old: committed state at the start (``"eps_p"`` ``(N, 6)``, ``"p"``).
            state_new: state at the end (the ``trial`` of :meth:`update`).
            sigma_new_full: ``(N, 6)`` full 3-D Mandel stress at the end
                (``trial["sigma"]``; the in-plane 2-D stress is not enough since
                ``Δε_p,33 ≠ 0`` in plane strain).

        Returns:
            ``(N,)`` array.
        """
        e0, _ = self._check_state(state_old)
        e1, _ = self._check_state(state_new, e0.shape[0])
        sig = np.asarray(sigma_new_full, dtype=float)
        if sig.shape != e1.shape:
            raise ValueError(
                f"sigma_new_full must be the (N, 6) full 3-D Mandel stress (trial['sigma']); "
                f"got shape {sig.shape} for N = {e1.shape[0]}"
            )
        return np.einsum("ij,ij->i", sig, e1 - e0)

    def dissipation(
        self, state_old: dict, state_new: dict, sigma_new_full: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]:
        """Intrinsic dissipation of a backward-Euler increment, per unit volume.

        ``D = σ_{n+1} : Δε_p − Δψ_h`` with ``ψ_h = ½ H p² + (1/3) H_k ε_p : ε_p``.
        At the end of a return, ``σ_{n+1} : Δε_p = (σ_y0 + H p_{n+1}) Δp
        + (2/3) H_k ε_p,n+1 : Δε_p`` (``Δε_p`` is deviatoric, parallel to
        ``s − X`` and ``√(3/2)‖s − X‖ = σ_y(p_{n+1})``), and
        ``Δψ_h = H p_{n+1} Δp − ½ H Δp² + (2/3) H_k ε_p,n+1 : Δε_p
        − (1/3) H_k Δε_p : Δε_p``, so

        .. math::

            D = σ_y0 Δp + ½ H Δp² + (1/3) H_k Δε_p : Δε_p ≥ 0,

        which is what is evaluated (exactly non-negative, no round-off sign errors).
        Together with ``Δψ_e = σ_{n+1} : Δε_e − ½ Δε_e : C : Δε_e`` this gives the
        exact step identity ``σ_{n+1} : Δε = Δψ + D + ½ Δε_e : C : Δε_e``.

        Args:
            state_old: committed state at the start of the increment.
            state_new: state at its end (the ``trial`` of :meth:`update`).
            sigma_new_full: ``(N, 6)`` full 3-D Mandel stress at the end; accepted for
                interface uniformity (``D = W_p − Δψ_h`` with :meth:`plastic_work`),
                not needed by the closed form.

        Returns:
            ``(N,)`` array.
        """
        e0, p0 = self._check_state(state_old)
        e1, p1 = self._check_state(state_new, e0.shape[0])
        if sigma_new_full is not None and np.shape(sigma_new_full) != e1.shape:
            raise ValueError(
                f"sigma_new_full must be the (N, 6) full 3-D Mandel stress (trial['sigma']); "
                f"got shape {np.shape(sigma_new_full)} for N = {e1.shape[0]}"
            )
        dp = p1 - p0
        de = e1 - e0
        de_sq = np.einsum("ij,ij->i", de, de)
        return self.sy0 * dp + 0.5 * self.H * dp**2 + (self.Hk / 3.0) * de_sq
