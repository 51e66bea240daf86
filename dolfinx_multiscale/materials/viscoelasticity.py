r"""Small-strain linear viscoelasticity: the generalized Maxwell (Wiechert) model.

A rate-dependent micro material with the material protocol of
:mod:`~dolfinx_multiscale.materials.protocol` (``is_linear = False``,
:data:`~dolfinx_multiscale.kinematics.SMALL_STRAIN`), so an
:class:`~dolfinx_multiscale.cell.rve.RVE`, an
:class:`~dolfinx_multiscale.macro.fe2.FE2Material` or a
:class:`~dolfinx_multiscale.macro.quadrature.LocalMaterial` use it unchanged. Tensors
are in Mandel notation (``docs/conventions.md``): 2-D ``[11, 22, 12]`` (plane strain),
3-D ``[11, 22, 33, 23, 13, 12]``, shear components × √2.

The model: an equilibrium spring ``C_∞`` in parallel with ``m`` Maxwell branches, each a
spring ``C_i`` in series with a dashpot of relaxation time ``τ_i`` (all isotropic):

.. math::

    σ = C_∞ : ε + \sum_i C_i : α_i, \qquad
    \dot α_i = \dot ε − α_i / τ_i,

where ``α_i = ε − ε_v,i`` is the elastic strain of branch ``i`` (its viscous strain rate is
``ε̇_v,i = α_i / τ_i``, i.e. dashpot viscosity ``η_i = τ_i C_i``). Free energy and
dissipation rate:

.. math::

    ψ = ½ ε : C_∞ : ε + \sum_i ½ α_i : C_i : α_i,\qquad
    \mathcal D = \sum_i α_i : C_i : α_i / τ_i \ge 0 .

Under a constant strain ``ε_0`` applied at ``t = 0`` the stress relaxes as
``σ(t) = (C_∞ + Σ_i C_i e^{−t/τ_i}) : ε_0`` (:meth:`GeneralizedMaxwell.relaxation_stiffness`).

**Time integration** (exact exponential integration). Over a step ``[t_n, t_n + Δt]`` the
strain is taken linear in time, ``ε̇ = Δε/Δt``; the branch equation is then integrated
exactly:

.. math::

    α_{i,n+1} = a_i α_{i,n} + g_i Δε, \qquad
    a_i = e^{−x_i},\quad g_i = (1 − e^{−x_i}) / x_i,\quad x_i = Δt / τ_i .

The step is exact for piecewise-linear strain histories (relaxation, ramps) and
second-order accurate otherwise; it is unconditionally stable and valid for any
``Δt/τ`` (``Δt = 0``: instantaneous, glassy response; ``Δt = ∞``: fully relaxed). The
stress is affine in ``ε_{n+1}``, and the consistent tangent is the constant

.. math::

    C_{alg} = ∂σ_{n+1}/∂ε_{n+1} = C_∞ + \sum_i g_i C_i

(symmetric, positive definite); a micro Newton converges in one iteration.

**The time step.** The material needs ``Δt``: it is the attribute :attr:`dt`, set by
the driver before each step (``material.dt = t_{n+1} − t_n``), e.g.::

    visco = GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(3.0, 1.0)])   # E_1 = 3, τ_1 = 1
    rve = dm.RVE(micro, {1: visco, 2: dm.LinearElastic(E=10, nu=0.25)})
    dt = T / n_steps
    for k in range(1, n_steps + 1):
        visco.dt = dt                   # every RVE / FE² point using it sees this step
        Sigma, C = rve.solve(E_of(k * dt))
        rve.commit()

With equal steps, assign the same float every time (``dt = T/n``, not differences of
``linspace`` times): the tangent is then bit-identical from step to step, which lets the
RVE and a macro solver reuse their factorizations. The step ``Δt`` of each update is
stored in the new state (``"dt"``), so
:meth:`GeneralizedMaxwell.dissipation` of that step does not depend on later changes
of :attr:`dt`. Note that the RVE caches its tangent at the initial state on first use
(its :meth:`~dolfinx_multiscale.cell.rve.RVE.effective_tensor` is the *algorithmic* tangent
for the ``dt`` of that moment); the long-term and instantaneous effective tensors are
those of RVEs made with :meth:`GeneralizedMaxwell.relaxed` and
:meth:`GeneralizedMaxwell.instantaneous`.

**Dissipation of a step.** For the same linear strain path the dissipated energy
``D = ∫ \mathcal D dt`` over the step is evaluated in closed form (per branch, with
``|v|²_C = v : C : v``, ``h = (1 − g)/x`` and ``c = (1 − e^{−2x})/2 − (1 − e^{−x})²/x``):

.. math::

    D_i = x\,|h Δε + g α_{i,n}|^2_{C_i} + c\,|α_{i,n} − Δε/x|^2_{C_i},

a sum of two non-negative terms (``c ≥ 0`` by Cauchy–Schwarz), so ``D ≥ 0`` holds
exactly, and the step obeys the exact energy balance ``∫ σ : ε̇ dt = Δψ + D``
(:meth:`GeneralizedMaxwell.step_work`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .linear import LinearElastic
from .protocol import check_state, real_parameter
from ..kinematics import SMALL_STRAIN
from ..tensors import IN_PLANE, embed_plane_strain, isotropic_stiffness, lame_parameters

__all__ = ["GeneralizedMaxwell"]

_Array = npt.NDArray[np.float64]
_SERIES_X = 0.03  # below this x = dt/τ, the cancelling closed forms use their Taylor series


def _time(name: str, value: object) -> float:
    """A time or time step: a real number ``≥ 0``, ``math.inf`` allowed, never ``nan``."""
    try:
        x = real_parameter(name, value, allow_inf=True)  # TypeError unless a real number
    except ValueError:  # nan: reported with the range
        x = math.nan
    if not x >= 0:
        raise ValueError(f"{name} must be >= 0 (math.inf allowed); got {value!r}")
    return x


def _factors(x: _Array) -> tuple[_Array, _Array, _Array, _Array]:
    """Integrator and energy factors of ``x = Δt/τ ≥ 0`` (``∞`` allowed), elementwise.

    Returns ``(a, g, h, c)``: ``a = e^{−x}``, ``g = (1 − e^{−x})/x``,
    ``h = (1 − g)/x = (x − 1 + e^{−x})/x²`` and
    ``c = (1 − e^{−2x})/2 − (1 − e^{−x})²/x ≥ 0``, with their limits at ``x = 0``
    (``1, 1, ½, 0``) and ``x = ∞`` (``0, 0, 0, ½``); below ``x = 0.03`` the cancelling
    ``h`` and ``c`` use their Taylor series (relative accuracy ~1e-13 everywhere).
    """
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x)
    xf = np.where(finite, x, 1.0)
    small = xf < _SERIES_X
    xs = np.where(small, xf, 0.0)
    xl = np.where(small, 1.0, xf)
    a = np.where(finite, np.exp(-xf), 0.0)
    xp = np.where(xf > 0, xf, 1.0)
    g = np.where(finite, np.where(xf > 0, -np.expm1(-xp) / xp, 1.0), 0.0)
    # h = 1/2 − x/6 + x²/24 − x³/120 + x⁴/720 − x⁵/5040 + x⁶/40320
    h_series = 1 / 2 - xs * (1 / 6 - xs * (1 / 24 - xs * (1 / 120 - xs * (1 / 720 - xs * (
        1 / 5040 - xs / 40320)))))
    h = np.where(finite, np.where(small, h_series, (xl + np.expm1(-xl)) / xl**2), 0.0)
    # c = x³/12 − x⁴/12 + 17x⁵/360 − 7x⁶/360 + 43x⁷/6720 − 107x⁸/60480
    c_series = xs**3 * (1 / 12 - xs * (1 / 12 - xs * (17 / 360 - xs * (7 / 360 - xs * (
        43 / 6720 - xs * 107 / 60480)))))
    i1 = -np.expm1(-xl)
    c = np.where(finite, np.where(small, c_series, -0.5 * np.expm1(-2.0 * xl) - i1 * i1 / xl), 0.5)
    return a, g, h, np.maximum(c, 0.0)


class GeneralizedMaxwell:
    """Generalized Maxwell (Wiechert) viscoelastic solid, isotropic branches.

    ``σ = C_∞ ε + Σ_i C_i α_i``, ``α̇_i = ε̇ − α_i/τ_i`` (module docstring), integrated
    exactly over each time step :attr:`dt`. With one branch it is the standard linear
    solid (Zener): instantaneous modulus ``E + E_1``, long-term modulus ``E``,
    relaxation time ``τ_1``.

    Args:
        E: long-term (equilibrium-branch) Young's modulus, ``E > 0``.
        nu: Poisson's ratio of the equilibrium branch, ``-1 < ν < 0.5``.
        branches: the Maxwell branches, each ``(E_i, tau_i)`` (Poisson's ratio ``nu``)
            or ``(E_i, nu_i, tau_i)``, with ``E_i > 0``, ``-1 < ν_i < 0.5`` and
            relaxation time ``τ_i > 0`` (all finite). Zero branches give linear
            elasticity.
        dt: the time step ``Δt ≥ 0`` of the next update (``math.inf`` allowed: fully
            relaxed step; ``nan`` never); may be left ``None`` and set later through
            :attr:`dt`.

    Raises:
        ValueError: a parameter is not finite (``dt``: is ``nan``) or out of range (the
            message names it and the range).
        TypeError: a parameter is not a real number or a branch is malformed.

    Attributes:
        is_linear: ``False`` (the response depends on the history and the rate).
        varying_tangent: ``False``: the tangent depends on the time step only, so the
            RVE factorizes once per time-step size.
        kinematics: :data:`~dolfinx_multiscale.kinematics.SMALL_STRAIN`.
        spd_tangent: ``True``: the algorithmic tangent is an isotropic elasticity tensor
            with positive (relaxed) moduli.
        E, nu: the equilibrium branch.
        moduli, poisson, tau: ``(m,)`` arrays of the branch parameters.
    """

    is_linear = False
    #: the history (``"sigma"``, ``"sigma33"`` of a new state are outputs; ``"dt"`` is
    #: read by :meth:`dissipation`)
    history_keys = ("eps", "alpha", "dt")
    varying_tangent = False
    spd_tangent = True
    kinematics = SMALL_STRAIN

    def __init__(self, E: float, nu: float, branches: Sequence[Sequence[float]] = (),
                 dt: float | None = None):
        E, nu = real_parameter("E", E), real_parameter("nu", nu)
        self._lame_inf = lame_parameters(E, nu)  # validates E > 0, -1 < nu < 0.5
        self.E, self.nu = E, nu
        moduli, poisson, tau = [], [], []
        for k, branch in enumerate(branches):
            try:
                values = list(branch)
            except TypeError:
                values = []
            names = {2: ("E_i", "tau_i"), 3: ("E_i", "nu_i", "tau_i")}.get(len(values))
            if names is None:
                raise TypeError(f"branches[{k}] must be (E_i, tau_i) or (E_i, nu_i, tau_i); got {branch!r}")
            values = [real_parameter(f"branches[{k}]: {name}", v) for name, v in zip(names, values)]
            if len(values) == 2:
                values = [values[0], nu, values[1]]
            Ei, nui, ti = values
            if not Ei > 0:
                raise ValueError(f"branches[{k}]: E_i must be > 0; got {Ei:g}")
            if not -1.0 < nui < 0.5:
                raise ValueError(f"branches[{k}]: nu_i must be in (-1, 0.5); got {nui:g}")
            if not ti > 0:
                raise ValueError(f"branches[{k}]: tau_i must be > 0; got {ti:g}")
            moduli.append(Ei)
            poisson.append(nui)
            tau.append(ti)
        self.moduli = np.array(moduli, dtype=float)
        self.poisson = np.array(poisson, dtype=float)
        self.tau = np.array(tau, dtype=float)
        lame = [lame_parameters(Ei, nui) for Ei, nui in zip(moduli, poisson)]
        self._lmbda = np.array([lm for lm, _ in lame], dtype=float)
        self._mu = np.array([mu for _, mu in lame], dtype=float)
        self._dt: float | None = None
        self._cache: tuple | None = None  # (dt, a, g, {dim: tangent}) of the last step size
        if dt is not None:
            self.dt = dt

    def __repr__(self) -> str:
        branches = [(float(Ei), float(nui), float(ti))
                    for Ei, nui, ti in zip(self.moduli, self.poisson, self.tau)]
        return f"GeneralizedMaxwell(E={self.E!r}, nu={self.nu!r}, branches={branches!r}, dt={self._dt!r})"

    @classmethod
    def standard_linear_solid(cls, E_inf: float, E_1: float, tau: float, nu: float,
                              dt: float | None = None) -> GeneralizedMaxwell:
        """The standard linear solid (Zener): long-term ``E_inf``, one branch ``(E_1, τ)``,
        common Poisson's ratio ``nu``; instantaneous modulus ``E_inf + E_1``."""
        return cls(E_inf, nu, [(E_1, tau)], dt=dt)

    # ------------------------------------------------------------------ time step
    @property
    def dt(self) -> float | None:
        """The time step ``Δt`` of the next :meth:`update` (``≥ 0``; ``math.inf`` allowed).

        Set by the driver before each step; ``None`` until set (then :meth:`update`
        raises ``ValueError``).
        """
        return self._dt

    @dt.setter
    def dt(self, value: float | None) -> None:
        if value is None:
            self._dt = None
            return
        self._dt = _time("dt", value)

    def _step_factors(self, dt: float) -> tuple[_Array, _Array]:
        """``(a_i, g_i)`` of the exponential integrator for the step ``dt``, ``(m,)`` each."""
        cached = self._cache
        if cached is None or cached[0] != dt:
            a, g, _, _ = _factors(dt / self.tau)
            self._cache = cached = (dt, a, g, {})
        return cached[1], cached[2]

    def _tangent(self, dt: float, dim: int) -> _Array:
        """``C_∞ + Σ g_i C_i`` for the step ``dt`` (cached per step size and dimension)."""
        _, g = self._step_factors(dt)
        matrices = self._cache[3]
        if dim not in matrices:
            matrices[dim] = self._combined(g, dim)
        return matrices[dim]

    # ------------------------------------------------------------------ stiffness
    @property
    def n_branches(self) -> int:
        """Number ``m`` of Maxwell branches."""
        return int(self.tau.size)

    def relaxation_stiffness(self, t: float, dim: int = 3) -> _Array:
        """Relaxation stiffness ``C(t) = C_∞ + Σ_i C_i e^{−t/τ_i}`` (Mandel).

        ``σ(t) = C(t) ε_0`` after a strain step ``ε_0`` at ``t = 0``.

        Args:
            t: time since the strain step, ``t ≥ 0`` (``math.inf``: long term).
            dim: 2 (plane strain ``(3, 3)``) or 3 (``(6, 6)``).
        """
        t = _time("t", t)
        w = np.exp(-t / self.tau) if math.isfinite(t) else np.zeros(self.n_branches)
        return self._combined(w, dim)

    def _combined(self, weights: _Array, dim: int) -> _Array:
        """``C_∞ + Σ_i w_i C_i`` (Mandel, ``dim``)."""
        lmbda, mu = self._lame_inf
        return isotropic_stiffness(lmbda + float(weights @ self._lmbda), mu + float(weights @ self._mu), dim)

    def algorithmic_tangent(self, dt: float | None = None, dim: int = 3) -> _Array:
        """Consistent tangent ``C_∞ + Σ_i g_i(Δt) C_i`` of a step ``dt`` (default :attr:`dt`)."""
        dt = self._require_dt() if dt is None else _time("dt", dt)
        return self._combined(self._step_factors(dt)[1], dim)

    def relaxed(self) -> LinearElastic:
        """The long-term (fully relaxed, equilibrium) elastic material ``C_∞``."""
        return LinearElastic(E=self.E, nu=self.nu)

    def instantaneous(self) -> LinearElastic:
        """The instantaneous (glassy) elastic material ``C_∞ + Σ_i C_i``."""
        lmbda, mu = self._lame_inf
        return LinearElastic(lmbda=lmbda + float(self._lmbda.sum()), mu=mu + float(self._mu.sum()))

    # ------------------------------------------------------------------ state
    def initial_state(self, n_points: int) -> dict[str, _Array]:
        """Virgin (unstrained, relaxed) state of ``n_points`` points.

        Returns:
            ``{"eps": (N, 6), "alpha": (N, m, 6), "sigma": (N, 6), "sigma33": (N,),
            "dt": (N,)}`` zeros: total strain and branch elastic strains (3-D Mandel),
            stress (3-D Mandel) and its 33 component, and the step of the state.
        """
        n = int(n_points)
        if n < 0:
            raise ValueError(f"n_points must be >= 0; got {n_points}")
        m = self.n_branches
        return {"eps": np.zeros((n, 6)), "alpha": np.zeros((n, m, 6)), "sigma": np.zeros((n, 6)),
                "sigma33": np.zeros(n), "dt": np.zeros(n)}

    def _check_state(self, state: dict, n: int | None = None) -> tuple[_Array, _Array]:
        """``(eps (N, 6), alpha (N, m, 6))`` of a state (:func:`.protocol.check_state`)."""
        return check_state(state, {"eps": ("N", 6), "alpha": ("N", self.n_branches, 6)}, n)

    def _require_dt(self) -> float:
        if self._dt is None:
            raise ValueError("dt (the time step) is not set: assign material.dt = t_new - t_old "
                             "(>= 0, math.inf allowed) before the update")
        return self._dt

    @staticmethod
    def _iso(lmbda, mu, v: _Array) -> _Array:
        """``λ tr(v) I + 2μ v`` for 3-D Mandel ``v (..., 6)``; λ, μ broadcast on ``...``."""
        out = 2.0 * np.asarray(mu)[..., None] * v
        out[..., :3] += (np.asarray(lmbda) * (v[..., 0] + v[..., 1] + v[..., 2]))[..., None]
        return out

    # ------------------------------------------------------------ constitutive
    def update(self, eps: npt.ArrayLike, state: dict, need_tangent: bool = True, out: dict | None = None,
               guess: dict | None = None):
        """Exact exponential step from the committed ``state`` to the strain ``eps``.

        ``α_{n+1} = e^{−Δt/τ} α_n + g Δε``, ``σ = C_∞ ε + Σ C_i α_i`` with ``Δt`` =
        :attr:`dt` (module docstring).

        Args:
            eps: ``(N, 3)`` total strain, 2-D Mandel ``[11, 22, 12]`` (plane strain),
                or ``(N, 6)`` 3-D Mandel ``[11, 22, 33, 23, 13, 12]``, at the end of the step.
            state: the committed state at the start of the step (from
                :meth:`initial_state` or a previous update); not modified.
            need_tangent: compute the consistent tangent (else ``None``).
            out, guess: ignored (the protocol's spare state and initial guess).

        Returns:
            ``(sigma, tangent, trial)``: the stress ``(N, n)`` (in-plane part in 2-D),
            the consistent tangent ``(N, n, n)`` (the same constant matrix
            ``C_∞ + Σ g_i C_i`` at every point) or ``None``, and the new state (new
            arrays: ``"eps"`` ``(N, 6)``, ``"alpha"`` ``(N, m, 6)``, ``"sigma"``
            ``(N, 6)`` full 3-D stress, ``"sigma33"`` ``(N,)``, ``"dt"`` ``(N,)``).

        Raises:
            ValueError: :attr:`dt` is not set, or bad shapes.
        """
        dt = self._require_dt()
        e3, dim = embed_plane_strain(eps)
        n_pts = e3.shape[0]
        eps_n, alpha_n = self._check_state(state, n_pts)
        a, g = self._step_factors(dt)
        alpha = a[None, :, None] * alpha_n + g[None, :, None] * (e3 - eps_n)[:, None, :]
        lmbda, mu = self._lame_inf
        sigma3 = self._iso(lmbda, mu, e3)
        if self.n_branches:
            sigma3 += self._iso(self._lmbda[None, :], self._mu[None, :], alpha).sum(axis=1)
        sigma = sigma3[:, IN_PLANE] if dim == 2 else sigma3.copy()
        tangent = None
        if need_tangent:
            C = self._tangent(dt, dim)
            tangent = np.empty((n_pts,) + C.shape)
            tangent[...] = C
        trial = {"eps": e3.copy(), "alpha": alpha, "sigma": sigma3, "sigma33": sigma3[:, 2].copy(),
                 "dt": np.full(n_pts, dt)}
        return sigma, tangent, trial

    # ------------------------------------------------------------------ energy
    def free_energy(self, eps: npt.ArrayLike, state: dict) -> _Array:
        """``ψ = ½ ε : C_∞ : ε + Σ_i ½ α_i : C_i : α_i`` per point, ``(N,)``.

        Args:
            eps: ``(N, 3)`` plane-strain 2-D or ``(N, 6)`` 3-D Mandel strain.
            state: a state with ``"alpha"`` ``(N, m, 6)`` (e.g. the trial of :meth:`update`).
        """
        e3, _ = embed_plane_strain(eps)
        _, alpha = self._check_state({"eps": e3, "alpha": state["alpha"]}, e3.shape[0])
        lmbda, mu = self._lame_inf
        psi = 0.5 * np.einsum("pi,pi->p", e3, self._iso(lmbda, mu, e3))
        if self.n_branches:
            psi += 0.5 * self._branch_norm2(alpha).sum(axis=1)
        return psi

    def dissipation(self, state_old: dict, state_new: dict) -> _Array:
        r"""Energy dissipated by the dashpots over the step ``state_old → state_new``.

        ``D = Σ_i ∫ α_i : C_i : α_i / τ_i dt`` along the step's linear strain path, in
        closed form: with ``x = Δt/τ_i`` and the factors ``g, h, c`` of the module
        docstring (``g = (1 − e^{−x})/x``, ``h = (1 − g)/x``),

        .. math::

            D_i = x\,|h Δε + g α_n|^2_{C_i} + c\,|α_n − Δε/x|^2_{C_i},

        a sum of non-negative terms, so ``D ≥ 0`` exactly (evaluated without
        cancellation for small and large ``x``). The step size is ``state_new["dt"]``.

        Returns:
            ``(N,)`` array, per unit volume.
        """
        eps0, alpha0 = self._check_state(state_old)
        eps1, _ = self._check_state(state_new, eps0.shape[0])
        n_pts = eps0.shape[0]
        if not self.n_branches:
            return np.zeros(n_pts)
        x = self._step_ratio(state_new, n_pts)  # (N, m)
        _, g, h, c = _factors(x)
        finite = np.isfinite(x)
        xf = np.where(finite, x, 1.0)
        de = (eps1 - eps0)[:, None, :]  # (N, 1, 6)
        v = h[..., None] * de + g[..., None] * alpha0
        term1 = np.where(finite, xf * self._branch_norm2(v), 0.0)
        # c |α − Δε/x|² = (c/x²) |x α − Δε|² for x < 1 (finite as x → 0, c ~ x³/12)
        near = xf < 1.0
        xn = np.where(near & (xf > 0), xf, 1.0)
        w = np.where(near, xf, 1.0)[..., None] * alpha0 - np.where(
            finite, np.where(near, 1.0, 1.0 / np.where(xf > 0, xf, 1.0)), 0.0)[..., None] * de
        cx = np.where(near, np.where(xf > 0, c / xn**2, 0.0), c)
        term2 = cx * self._branch_norm2(w)
        return (term1 + term2).sum(axis=1)

    def _branch_norm2(self, v: _Array) -> _Array:
        """``v_i : C_i : v_i`` for branch strains ``v (N, m, 6)`` → ``(N, m)``."""
        return np.einsum("pki,pki->pk", v, self._iso(self._lmbda[None, :], self._mu[None, :], v))

    def _step_ratio(self, state_new: dict, n_pts: int) -> _Array:
        dt = np.asarray(state_new["dt"], dtype=float).reshape(-1)
        if dt.shape != (n_pts,):
            raise ValueError(f"state_new['dt'] must have shape ({n_pts},); got {dt.shape}")
        return dt[:, None] / self.tau[None, :]

    def step_work(self, state_old: dict, state_new: dict) -> _Array:
        """Exact work ``∫ σ : ε̇ dt`` of the step along its linear strain path, ``(N,)``.

        ``= Δψ + D`` (energy balance of the step); given for checks and bookkeeping.
        The mean branch strain over the step is ``h Δε + g α_n``.
        """
        eps0, alpha0 = self._check_state(state_old)
        eps1, _ = self._check_state(state_new, eps0.shape[0])
        de = eps1 - eps0
        lmbda, mu = self._lame_inf
        work = np.einsum("pi,pi->p", de, self._iso(lmbda, mu, 0.5 * (eps0 + eps1)))
        if self.n_branches:
            _, g, h, _ = _factors(self._step_ratio(state_new, eps0.shape[0]))
            mean = h[..., None] * de[:, None, :] + g[..., None] * alpha0
            work += np.einsum("pi,pki->p", de, self._iso(self._lmbda[None, :], self._mu[None, :], mean))
        return work
