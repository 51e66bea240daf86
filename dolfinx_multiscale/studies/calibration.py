r"""Calibration of micro parameters from macro curves, and validation on a held-out path.

The forward model maps a parameter vector ``p`` (e.g. the matrix Young's modulus ``E``,
the yield stress ``σ_y0`` and the hardening modulus ``H`` of a J2 matrix) to the macro
response of a virtual test: the RVE driven along a load path with mixed control
(:func:`dolfinx_multiscale.studies.loading.load_path`). For a homogeneous specimen the macro
stress–strain curve ``Σ(E)`` *is* the force–displacement curve (force / area against
displacement / length), so "macro force–displacement data" are Σ–E data here.

**Calibration** is nonlinear least squares (``scipy.optimize.least_squares``, trust
region reflective) on the scaled residual

.. math::

    r_i(z) = \frac{f_i(p(z)) - y_i}{s_i},\qquad
    z = \log p \;(\text{default})\quad\text{or}\quad z = p / |p_0|,

with ``s_i`` the noise standard deviation when it is known and the RMS of the data
otherwise (so that the residuals are O(1) and the solver tolerances are relative). The
log-parameters make the Jacobian columns ``∂f/∂\log p_j = p_j ∂f/∂p_j`` of comparable
size whatever the units (``E ≈ 1``, ``σ_y0 ≈ 5·10⁻³``), so ``JᵀJ`` is well conditioned,
and keep every parameter positive. The Jacobian is a one-sided finite difference in
``z`` with the step ``h = 10⁻⁶`` (≈ √ of the relative accuracy of a forward run with the
RVE Newton at ``rtol = 10⁻¹²``; forward and central differences agree to 6–7 digits on
the J2 fibre composite); its columns are independent forward runs and may be shared out
over the ranks of a communicator.

**Uncertainty.** At the optimum ``ẑ``, with ``J = ∂r/∂z`` and ``m`` data, ``k``
parameters, the linearised (Gauss–Newton) covariance is

.. math::

    \operatorname{Cov}(ẑ) = \hat σ^2 (J^T J)^{-1},\qquad
    \hat σ^2 = \begin{cases} 1 & \text{noise σ known (residuals scaled by it)}\\
                              \lVert r \rVert^2 / (m - k) & \text{otherwise,}\end{cases}

and ``Cov(p̂) = D Cov(ẑ) D`` with ``D = diag(∂p/∂z)`` (``diag(p̂)`` for log-parameters;
delta method). The ``(1-α)`` confidence interval of ``p_j`` is
``p̂_j ± q \sqrt{Cov_{jj}}`` with ``q`` the normal quantile (σ known) or Student's ``t``
with ``m − k`` degrees of freedom (σ estimated).

**Validation** predicts a load path that was not used in the calibration (e.g. shear
after calibrating in uniaxial tension) and compares with its data through the relative
RMS error ``‖f − y‖ / ‖y‖``; the prediction passes when that is at most a stated
tolerance. The noise alone contributes ``≈ σ / RMS(y)`` (reported as ``noise_floor``), so
a meaningful tolerance is larger than that.

**MPI.** A model whose RVE lives on ``MPI.COMM_SELF`` computes the same numbers, bit for
bit, on every rank; :func:`calibrate` with ``comm=MPI.COMM_WORLD`` then computes the
finite-difference columns of the Jacobian on different ranks and gathers them, so the
optimiser sees identical numbers on every rank and the result does not depend on the
number of ranks. A model whose RVE is distributed (micro on ``COMM_WORLD``) also works
(``comm=None``): every evaluation is then a collective solve.

Typical use::

    from dolfinx_multiscale import calibration as cal
    model = cal.RVEModel(micro, cal.j2_matrix({2: dm.LinearElastic(10.0, 0.3)},
                                              E=1.0, nu=0.3, sy0=0.005, H=0.05))
    path = ramp({"11": 0.012}, {"22": 0.0, "12": 0.0}, steps=4, unload=True)
    data = cal.synthetic_data(model, {"E": 1.0, "sy0": 0.005, "H": 0.05}, path, 1e-4, seed=0)
    fit = cal.calibrate(model, data, {"E": 0.7, "sy0": 0.008, "H": 0.1}, noise_sigma=1e-4)
    print(fit.summary())
    check = cal.validate(model, fit.estimates, shear_data, tolerance=0.05)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

from mpi4py import MPI

import numpy as np
import numpy.typing as npt

from ..cell.rve import RVE
from ..errors import LoadPathError, RVEConvergenceError
from ..tensors import SQRT2, mandel_index_pairs, tensor_component_index
from .cache import ResultCache, cached
from .loading import load_path, parse_path

__all__ = [
    "CalibrationResult",
    "Dataset",
    "RVEModel",
    "ValidationResult",
    "calibrate",
    "default_observables",
    "j2_matrix",
    "relative_rms",
    "synthetic_data",
    "validate",
]

_log = logging.getLogger(__name__)
_SCALARS = ("Sigma33", "p_mean", "dissipation", "free_energy")


# -- observables ----------------------------------------------------------------------
def _observable(name: str, dim: int) -> Callable[[dict], float]:
    """Reader of one observable from a load-path record (see :meth:`RVEModel.predict`)."""
    if name in _SCALARS and (name != "Sigma33" or dim == 2):  # 3-D: Σ33 is a component
        return lambda record: float(record[name])
    for prefix, key in (("Sigma", "Sigma"), ("E", "E")):
        if name.startswith(prefix) and len(name) == len(prefix) + 2:
            try:
                k = tensor_component_index(name[len(prefix):], dim)
            except ValueError as exc:
                raise ValueError(f"observable {name!r}: {exc}") from None
            i, j = mandel_index_pairs(dim)[k]
            div = 1.0 if i == j else SQRT2  # Mandel → tensor component
            return lambda record, k=k, key=key, div=div: float(record[key][k]) / div
    raise ValueError(f"observable must be 'Sigma<ij>' or 'E<ij>' (tensor components, e.g. "
                     f"'Sigma11', 'E22') or one of {list(_SCALARS)}; got {name!r}")


def default_observables(path, dim: int = 2) -> tuple[str, ...]:
    """The "reaction forces" of a path: ``Sigma<ij>`` of every component that is
    strain-controlled and non-zero in some step (tensor components).

    ``ramp({"11": e}, {"22": 0, "12": 0})`` gives ``("Sigma11",)``; a biaxial strain
    path ``("Sigma11", "Sigma22")``; a shear path ``("Sigma12",)``.
    """
    steps = parse_path(path, dim)
    names = []
    for k, (i, j) in enumerate(mandel_index_pairs(dim)):
        if any(not s.stress_controlled[k] and s.strain[k] != 0.0 for s in steps):
            names.append(f"Sigma{i + 1}{j + 1}")
    if not names:
        raise ValueError("the path prescribes no non-zero strain component: give observe=")
    return tuple(names)


# -- forward model --------------------------------------------------------------------
def j2_matrix(others: Mapping[int, object], *, E: float, nu: float, sy0: float, H: float = 0.0,
              Hk: float = 0.0, matrix_tag: int = 1) -> Callable[[Mapping[str, float]], dict]:
    """Material factory of a composite with a J2 matrix: ``params → {tag: material}``.

    Args:
        others: the materials of the other phases (tag → material), held fixed.
        E, nu, sy0, H, Hk: reference values of the matrix parameters
            (:class:`~dolfinx_multiscale.materials.plasticity.J2Plasticity`); a parameter dict
            passed to the factory overrides any of them (those not calibrated stay fixed).
        matrix_tag: the matrix phase tag.

    Returns:
        ``materials(params)`` with ``params`` a dict over ``{"E", "nu", "sy0", "H", "Hk"}``;
        its attribute ``parameter_names`` lists the accepted names.
    """
    from ..materials.plasticity import J2Plasticity

    defaults = {"E": float(E), "nu": float(nu), "sy0": float(sy0), "H": float(H), "Hk": float(Hk)}
    if matrix_tag in others:
        raise ValueError(f"matrix_tag {matrix_tag} is also a key of others ({sorted(others)})")
    fixed = dict(others)
    J2Plasticity(**defaults)  # validate the reference values now

    def materials(params: Mapping[str, float]) -> dict:
        unknown = set(params) - set(defaults)
        if unknown:
            raise ValueError(f"unknown matrix parameter(s) {sorted(unknown)}; accepted: {list(defaults)}")
        return {matrix_tag: J2Plasticity(**{**defaults, **{k: float(v) for k, v in params.items()}}), **fixed}

    materials.parameter_names = tuple(defaults)
    materials.defaults = dict(defaults)
    return materials


class RVEModel:
    """Forward model: parameters → macro response of an RVE virtual test along a path.

    Each evaluation builds a fresh :class:`~dolfinx_multiscale.cell.rve.RVE` on the stored
    microstructure with ``materials(params)``, in its initial (virgin) state, and drives
    it along the path. Rebuilding costs little (≈ 15 ms on a 500-cell 2-D cell: the
    forms come from the FFCx cache, the periodic constraint is rebuilt) and guarantees
    that no history, predictor or cached factorization of another parameter set leaks
    into an evaluation — the same parameters give the same numbers, bit for bit,
    whatever was evaluated before (which the MPI distribution of :func:`calibrate`
    relies on).

    Args:
        micro: the :class:`~dolfinx_multiscale.geometry.microstructures.Microstructure`. On
            ``MPI.COMM_SELF`` every rank runs its own copy; on a larger communicator the
            RVE is distributed and every evaluation is collective.
        materials: ``materials(params: dict[str, float]) -> {tag: material}``, e.g.
            :func:`j2_matrix`.
        bc, degree: the RVE boundary condition and Lagrange degree (:class:`RVE`).
        rtol: RVE Newton tolerance; tight (default ``1e-12``) so that finite-difference
            Jacobians with a step of ~``1e-6`` are accurate.
        petsc_options_prefix: PETSc options prefix of the RVE solver.
        load_path_options: extra keyword arguments of
            :func:`~dolfinx_multiscale.studies.loading.load_path` (``max_cuts``, ``stress_rtol``...).

    Attributes:
        n_evaluations: forward runs made by this object on this rank.
        comm: the RVE communicator.
    """

    def __init__(self, micro, materials: Callable[[Mapping[str, float]], dict], bc: str = "periodic",
                 degree: int = 1, rtol: float = 1e-12, petsc_options_prefix: str = "calib_",
                 load_path_options: Mapping | None = None):
        if not callable(materials):
            raise TypeError(f"materials must be a callable params -> {{tag: material}}; got {materials!r}")
        if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
            raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
        self.micro = micro
        self.materials = materials
        self.comm = micro.mesh.comm
        self.dim = micro.mesh.geometry.dim
        self.bc, self.degree, self.rtol = bc, degree, float(rtol)
        self.petsc_options_prefix = petsc_options_prefix
        self.load_path_options = {"progress": False, **dict(load_path_options or {})}
        self.n_evaluations = 0

    def rve(self, params: Mapping[str, float]) -> RVE:
        """A fresh RVE with ``materials(params)``, in the initial state."""
        return RVE(self.micro, self.materials(dict(params)), bc=self.bc, degree=self.degree,
                   petsc_options_prefix=self.petsc_options_prefix, rtol=self.rtol)

    def run(self, params: Mapping[str, float], path) -> list[dict]:
        """The load-path records (:func:`~dolfinx_multiscale.studies.loading.load_path`) for ``params``.

        Raises:
            LoadPathError: the path could not be followed with these parameters.
        """
        records = load_path(self.rve(params), path, **self.load_path_options)
        self.n_evaluations += 1
        return records

    def predict(self, params: Mapping[str, float], path, observe: Sequence[str] | None = None
                ) -> npt.NDArray[np.float64]:
        """Observed quantities along ``path``: array ``(n_steps, n_observables)``.

        Args:
            params: parameter name → value (passed to ``materials``).
            path: a load path (JSON form, :func:`~dolfinx_multiscale.studies.loading.parse_path`).
            observe: observable names (default :func:`default_observables`):
                ``"Sigma<ij>"`` / ``"E<ij>"`` macro stress / strain tensor components
                (``Sigma12`` is ``Σ12``, not the Mandel ``√2 Σ12``), ``"Sigma33"`` (2-D
                plane strain), ``"p_mean"``, ``"dissipation"``, ``"free_energy"``.
        """
        observe = tuple(observe) if observe is not None else default_observables(path, self.dim)
        readers = [_observable(name, self.dim) for name in observe]
        return np.array([[read(r) for read in readers] for r in self.run(params, path)])


# -- data -----------------------------------------------------------------------------
@dataclasses.dataclass
class Dataset:
    """Macro data along one load path.

    Attributes:
        path: the load path (JSON form).
        observe: names of the observed quantities (:meth:`RVEModel.predict`).
        values: ``(n_steps, n_observables)`` observed values (with noise).
        strain: ``(n_steps, n)`` macro strain (Mandel) of every step of the run that
            produced the data (the abscissa of plots).
        clean: the noise-free values, when known (synthetic data).
        noise_sigma: standard deviation of the added noise (``None``: unknown).
        seed: seed of the noise generator.
        true_params: the parameters that produced the data, when known.
        source: a description of where the data come from.
    """

    path: dict
    observe: tuple[str, ...]
    values: npt.NDArray[np.float64]
    strain: npt.NDArray[np.float64]
    clean: npt.NDArray[np.float64] | None = None
    noise_sigma: float | None = None
    seed: int | None = None
    true_params: dict | None = None
    source: str = ""

    @property
    def y(self) -> npt.NDArray[np.float64]:
        """The observations as one flat vector (step-major)."""
        return np.asarray(self.values, dtype=float).reshape(-1)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"path": self.path, "observe": list(self.observe), "values": np.asarray(self.values).tolist(),
                "strain": np.asarray(self.strain).tolist(),
                "clean": None if self.clean is None else np.asarray(self.clean).tolist(),
                "noise_sigma": self.noise_sigma, "seed": self.seed, "true_params": self.true_params,
                "source": self.source}


def synthetic_data(model: RVEModel, true_params: Mapping[str, float], path, noise_sigma: float = 0.0,
                   seed: int = 0, observe: Sequence[str] | None = None, source: str | None = None) -> Dataset:
    """Synthetic "experimental" data: a forward run plus Gaussian noise of fixed seed.

    The run is the "DNS": pass a higher-fidelity model (the same cell on a finer mesh, a
    larger cell with more fibres) than the one calibrated to include model-form error,
    or the calibrated model itself for a pure test of the identification (noise-free data
    are then fitted exactly).

    Args:
        model: the forward model that makes the data.
        true_params: parameter name → value.
        path: the load path (JSON form).
        noise_sigma: standard deviation of the i.i.d. Gaussian noise added to every
            observed value (absolute, in the units of the observable), ``≥ 0``.
        seed: seed of ``numpy.random.default_rng`` (the same noise on every rank).
        observe: observables (default :func:`default_observables`).
        source: description stored in the dataset.

    Returns:
        A :class:`Dataset` with ``values = clean + noise``.
    """
    if not (isinstance(noise_sigma, (int, float)) and noise_sigma >= 0 and math.isfinite(noise_sigma)):
        raise ValueError(f"noise_sigma must be a finite number >= 0; got {noise_sigma!r}")
    observe = tuple(observe) if observe is not None else default_observables(path, model.dim)
    readers = [_observable(name, model.dim) for name in observe]
    records = model.run(dict(true_params), path)
    clean = np.array([[read(r) for read in readers] for r in records])
    noise = np.random.default_rng(seed).normal(0.0, 1.0, clean.shape) * float(noise_sigma)
    return Dataset(path=path, observe=observe, values=clean + noise,
                   strain=np.array([r["E"] for r in records]), clean=clean,
                   noise_sigma=float(noise_sigma), seed=seed, true_params=dict(true_params),
                   source=source or f"{type(model).__name__} run, Gaussian noise "
                                    f"sigma={noise_sigma:g}, seed={seed}")


# -- calibration ----------------------------------------------------------------------
@dataclasses.dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    Attributes:
        names: parameter names, in order.
        x: ``(k,)`` estimates.
        covariance: ``(k, k)`` covariance of the estimates (delta method, see the module).
        std: ``(k,)`` standard errors ``√diag(covariance)``.
        ci: ``(k, 2)`` lower / upper confidence bounds at ``level``.
        level: confidence level (0.95).
        quantile: the normal or Student quantile used for ``ci``.
        correlation: ``(k, k)`` correlation matrix.
        noise_sigma: the noise standard deviation used (given, or estimated from the
            residuals: ``σ̂ = ‖f − y‖ / √(m − k)`` for scalar noise).
        noise_estimated: whether ``noise_sigma`` was estimated.
        residual_norm: ``‖f(p̂) − y‖`` (data units), ``rms`` its RMS per point.
        relative_rms: ``‖f(p̂) − y‖ / ‖y‖``.
        n_data, dof: ``m`` and ``m − k``.
        n_evaluations: forward-model runs (residuals plus Jacobian columns over all ranks).
        cache_hits: forward runs of this rank read from the ``cache`` instead of computed.
        nfev, njev: residual and Jacobian evaluations of the optimiser.
        jacobian_condition: condition number of the scaled Jacobian at the optimum.
        prediction: ``(n_steps, n_observables)`` model response at the estimates.
        at_bound: names of the parameters that ended on a bound (their intervals, from
            an unconstrained linearisation, are then only indicative).
        success, status, message: the optimiser's verdict.
        wall_s: wall time.
        transform: ``"log"`` or ``"linear"``.
    """

    names: tuple[str, ...]
    x: npt.NDArray[np.float64]
    covariance: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    ci: npt.NDArray[np.float64]
    level: float
    quantile: float
    correlation: npt.NDArray[np.float64]
    noise_sigma: float | npt.NDArray[np.float64]
    noise_estimated: bool
    residual_norm: float
    rms: float
    relative_rms: float
    n_data: int
    dof: int
    n_evaluations: int
    nfev: int
    njev: int
    jacobian_condition: float
    prediction: npt.NDArray[np.float64]
    at_bound: tuple[str, ...]
    success: bool
    status: int
    message: str
    wall_s: float
    transform: str
    cache_hits: int = 0

    @property
    def estimates(self) -> dict[str, float]:
        """Parameter name → estimate."""
        return {n: float(v) for n, v in zip(self.names, self.x)}

    def covers(self, truth: Mapping[str, float]) -> dict[str, bool]:
        """For every parameter in ``truth``: does its confidence interval contain it?"""
        return {n: bool(lo <= truth[n] <= hi) for n, (lo, hi) in zip(self.names, self.ci) if n in truth}

    def summary(self, truth: Mapping[str, float] | None = None) -> str:
        """A table of estimates ± half-widths and intervals (and the truth if given)."""
        pct = f"{100 * self.level:g} %"
        lines = [f"{'param':>8} {'estimate':>12} {'± (' + pct + ')':>12} {pct + ' interval':>28}"
                 + (f" {'truth':>10} {'inside':>6}" if truth else "")]
        for n, v, (lo, hi) in zip(self.names, self.x, self.ci):
            row = f"{n:>8} {v:12.6g} {0.5 * (hi - lo):12.3g} [{lo:12.6g}, {hi:12.6g}]"
            if truth and n in truth:
                row += f" {truth[n]:10.6g} {'yes' if lo <= truth[n] <= hi else 'NO':>6}"
            lines.append(row)
        sigma = self.noise_sigma if np.ndim(self.noise_sigma) == 0 else float(np.mean(self.noise_sigma))
        lines.append(f"residual norm {self.residual_norm:.3e} (relative RMS {self.relative_rms:.2e}), "
                     f"noise sigma {sigma:.3e} ({'estimated' if self.noise_estimated else 'given'}), "
                     f"{self.n_evaluations} model runs, cond(J) {self.jacobian_condition:.2e}, "
                     f"{self.wall_s:.1f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"names": list(self.names), "estimates": self.estimates, "std": self.std.tolist(),
                "ci": self.ci.tolist(), "level": self.level, "quantile": self.quantile,
                "covariance": self.covariance.tolist(), "correlation": self.correlation.tolist(),
                "noise_sigma": np.asarray(self.noise_sigma).tolist(), "noise_estimated": self.noise_estimated,
                "residual_norm": self.residual_norm, "rms": self.rms, "relative_rms": self.relative_rms,
                "n_data": self.n_data, "dof": self.dof, "n_evaluations": self.n_evaluations,
                "nfev": self.nfev, "njev": self.njev, "jacobian_condition": self.jacobian_condition,
                "at_bound": list(self.at_bound), "success": self.success, "status": self.status,
                "message": self.message,
                "wall_s": self.wall_s, "transform": self.transform, "cache_hits": self.cache_hits}


def _as_named(x0, names) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    if isinstance(x0, Mapping):
        if names is not None and list(names) != list(x0):
            raise ValueError(f"names {list(names)} differ from the keys of x0 {list(x0)}")
        names = tuple(x0)
        x0 = [x0[n] for n in names]
    if names is None:
        raise ValueError("names is required when x0 is a sequence (or pass x0 as a dict)")
    names = tuple(str(n) for n in names)
    x0 = np.asarray(x0, dtype=float).reshape(-1)
    if x0.size != len(names) or len(set(names)) != len(names):
        raise ValueError(f"x0 has {x0.size} values for the {len(names)} names {list(names)} "
                         "(names must be distinct and match x0)")
    if x0.size == 0 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be finite with at least one parameter; got {x0.tolist()}")
    return names, x0


def _bounds(bounds, names, transform) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    k = len(names)
    lo, hi = np.full(k, 0.0 if transform == "log" else -np.inf), np.full(k, np.inf)
    if bounds is None:
        return lo, hi
    if isinstance(bounds, Mapping):
        for n, pair in bounds.items():
            if n not in names:
                raise ValueError(f"bounds names an unknown parameter {n!r}; parameters: {list(names)}")
            lo[names.index(n)], hi[names.index(n)] = pair
    else:
        lower, upper = bounds
        lo[:] = np.broadcast_to(np.asarray(lower, float), (k,))
        hi[:] = np.broadcast_to(np.asarray(upper, float), (k,))
    if np.any(lo >= hi):
        raise ValueError(f"bounds must have lower < upper; got lower {lo.tolist()}, upper {hi.tolist()}")
    if transform == "log" and np.any(lo < 0):
        raise ValueError(f"with transform='log' the lower bounds must be >= 0; got {lo.tolist()}")
    return lo, hi


def calibrate(model, data: Dataset, x0: Mapping[str, float] | Sequence[float],
              bounds: Mapping[str, tuple[float, float]] | tuple | None = None,
              names: Sequence[str] | None = None, noise_sigma: float | npt.ArrayLike | None = None, *,
              fixed: Mapping[str, float] | None = None, transform: str = "log", fd_step: float = 1e-6,
              level: float = 0.95, comm: MPI.Comm | None = None, ftol: float = 1e-8,
              xtol: float = 1e-8, gtol: float = 1e-8, max_nfev: int = 60,
              cache: ResultCache | str | None = None, cache_key: Mapping | None = None) -> CalibrationResult:
    """Identify parameters from macro data by nonlinear least squares, with confidence intervals.

    Minimises ``½ Σ_i r_i²``, ``r_i = (f_i(p) − y_i) / s_i`` (module docstring) with
    ``scipy.optimize.least_squares`` (``"trf"``) over ``z = log p`` (or ``p / |p_0|``),
    the Jacobian by one-sided finite differences of step ``fd_step`` in ``z``.

    Args:
        model: the forward model: ``model.predict(params: dict, path, observe) ->
            (n_steps, n_observables)`` (e.g. :class:`RVEModel`; an FE² or any other model
            with that method works too) and optionally ``model.comm``.
        data: the :class:`Dataset` to fit (its ``path`` and ``observe``).
        x0: initial guess, a dict name → value (or a sequence with ``names``).
        bounds: name → ``(lower, upper)`` or ``(lowers, uppers)`` like scipy; default
            ``(0, ∞)`` for log-parameters, unbounded otherwise. The initial guess is
            clipped into them.
        names: parameter names when ``x0`` is a sequence.
        noise_sigma: standard deviation of the data noise (scalar or one per value,
            data units); ``None``: estimated from the residuals, ``σ̂² = ‖r‖²/(m − k)``.
        fixed: parameters passed to the model but not calibrated.
        transform: ``"log"`` (parameters must be positive) or ``"linear"``.
        fd_step: finite-difference step in ``z`` (relative parameter change for
            ``"log"``); ~``√ε`` with ``ε`` the relative accuracy of a forward run.
        level: confidence level of the intervals, in ``(0, 1)``.
        comm: share the Jacobian columns out over this communicator's ranks (each rank
            evaluates the columns ``j ≡ rank (mod size)``; the model must compute the
            same numbers on every rank, i.e. run on ``MPI.COMM_SELF``). ``None``: every
            rank evaluates everything (required for a distributed model).
        ftol, xtol, gtol, max_nfev: ``least_squares`` stopping criteria.
        cache: a :class:`~dolfinx_multiscale.studies.cache.ResultCache` (or its
            directory) keeping every forward run, keyed by ``cache_key``, the parameters
            and the data's path and observables. The optimiser is deterministic, so a
            calibration run again after a crash or a stop replays its trajectory from the
            cache and computes only the runs it had not finished (``cache_hits``).
        cache_key: with ``cache``, a JSON-able description of the model (a model object
            cannot be hashed): two models given the same key share entries.

    Returns:
        A :class:`CalibrationResult` (estimates, covariance, intervals, residuals, cost).

    Raises:
        ValueError: inconsistent arguments (named), or the model fails at ``x0``.
    """
    from scipy import optimize, stats

    t0 = time.perf_counter()
    if transform not in ("log", "linear"):
        raise ValueError(f"transform must be 'log' or 'linear'; got {transform!r}")
    if not (0 < level < 1):
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    if not (isinstance(fd_step, (int, float)) and 0 < fd_step < 0.1):
        raise ValueError(f"fd_step must be in (0, 0.1); got {fd_step!r}")
    store = ResultCache.of(cache)
    if store is not None and cache_key is None:
        raise ValueError("a calibration cache needs cache_key: a JSON-able description of the model")
    names, x0 = _as_named(x0, names)
    fixed = dict(fixed or {})
    if set(fixed) & set(names):
        raise ValueError(f"parameters {sorted(set(fixed) & set(names))} are both fixed and calibrated")
    lo, hi = _bounds(bounds, names, transform)
    if transform == "log" and np.any(x0 <= 0):
        raise ValueError(f"transform='log' needs a positive x0; got {dict(zip(names, x0.tolist()))} "
                         "(use transform='linear')")
    x0 = np.clip(x0, np.where(lo > 0, lo, -np.inf), hi)
    k = len(names)
    y = data.y
    m = y.size
    if m < k:
        raise ValueError(f"{m} data values cannot determine {k} parameters")
    if noise_sigma is None:
        scale = np.full(m, max(float(np.sqrt(np.mean(y ** 2))), 1e-300))
    else:
        scale = np.broadcast_to(np.asarray(noise_sigma, dtype=float).reshape(-1) if np.ndim(noise_sigma)
                                else float(noise_sigma), (m,)).astype(float)
        if not np.all(scale > 0) or not np.all(np.isfinite(scale)):
            raise ValueError("noise_sigma must be positive and finite (scalar or one per data value)")
    if noise_sigma is None and m == k:
        raise ValueError("estimating the noise needs more data than parameters (m > k); give noise_sigma")
    if comm is not None and comm.size > 1 and getattr(model, "comm", MPI.COMM_SELF).size > 1:
        raise ValueError("comm distributes Jacobian columns over ranks; it needs a model on "
                         "MPI.COMM_SELF (this model is distributed): pass comm=None")

    p_ref = np.where(x0 != 0, np.abs(x0), 1.0)
    if transform == "log":
        to_p, to_z, dp_dz = np.exp, np.log, np.exp
    else:
        to_p, to_z, dp_dz = (lambda z: z * p_ref), (lambda p: p / p_ref), (lambda z: p_ref)
    with np.errstate(divide="ignore"):
        z_lo, z_hi = to_z(lo), to_z(hi)
    z0 = to_z(x0)

    def params(z) -> dict:
        return {**fixed, **dict(zip(names, to_p(np.asarray(z, dtype=float)).tolist()))}

    cache: dict[bytes, npt.NDArray[np.float64]] = {}
    counts = {"runs": 0, "failures": 0, "cache_hits": 0}

    def forward(z) -> npt.NDArray[np.float64]:
        p = params(z)
        out, hit = cached(store, lambda: {"study": "calibrate", "model": cache_key, "params": p, "path": data.path,
                                          "observe": list(data.observe)},
                          lambda: np.asarray(model.predict(p, data.path, data.observe), dtype=float).reshape(-1))
        counts["cache_hits"] += hit
        out = np.asarray(out, dtype=float)
        if out.size != m:
            raise ValueError(f"the model returned {out.size} values for {m} data values")
        return out

    def residual(z):
        key = np.asarray(z, dtype=float).tobytes()
        if key not in cache:
            counts["runs"] += 1
            try:
                cache[key] = forward(z)
            except (LoadPathError, RVEConvergenceError) as exc:
                if not cache:
                    raise ValueError(f"the model fails at x0 = {params(z)}: {exc}") from exc
                counts["failures"] += 1
                _log.warning("model failed at %s (%s): step rejected", params(z), exc)
                return np.full(m, 1e6)  # a huge cost: the trust region shrinks
        return (cache[key] - y) / scale

    def jacobian(z):
        z = np.asarray(z, dtype=float)
        if z.tobytes() not in cache:
            residual(z)
        f0 = cache.get(z.tobytes())
        if f0 is None:
            raise RuntimeError(f"Jacobian requested where the model fails: {params(z)}")
        size, rank = (comm.size, comm.rank) if comm is not None else (1, 0)
        local = {}
        for j in range(rank, k, size):
            h = fd_step if z[j] + fd_step <= z_hi[j] else -fd_step
            zj = z.copy()
            zj[j] += h
            try:
                local[j] = (True, (forward(zj) - f0) / h)
            except Exception as exc:  # noqa: BLE001 -- reported on every rank below, no hang
                local[j] = (False, f"column {names[j]}: {type(exc).__name__}: {exc}")
        columns = {}
        for part in (comm.allgather(local) if comm is not None and comm.size > 1 else [local]):
            columns.update(part)
        failed = [msg for ok, msg in columns.values() if not ok]
        if failed:
            raise RuntimeError("finite-difference Jacobian failed: " + "; ".join(failed))
        counts["runs"] += k
        return np.column_stack([columns[j][1] for j in range(k)]) / scale[:, None]

    residual(z0)  # fails loudly at x0
    fit = optimize.least_squares(residual, z0, jac=jacobian, bounds=(z_lo, z_hi), method="trf",
                                 x_scale=1.0, ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev)
    z = fit.x
    f = cache.get(z.tobytes())
    if f is None:
        f = forward(z)
        counts["runs"] += 1
    r = f - y
    rw = r / scale
    J = fit.jac
    if J is None or not np.array_equal(np.asarray(J).shape, (m, k)):
        J = jacobian(z)
    J = np.asarray(J, dtype=float)

    _, s, Vt = np.linalg.svd(J, full_matrices=False)
    cond = float(s[0] / s[-1]) if s[-1] > 0 else math.inf
    dof = m - k
    if noise_sigma is None:
        s2 = float(rw @ rw) / dof
        sigma_used = float(np.sqrt(s2)) * scale[0]
        q = float(stats.t.ppf(0.5 + level / 2, dof))
    else:
        s2 = 1.0
        sigma_used = float(scale[0]) if np.all(scale == scale[0]) else scale.copy()
        q = float(stats.norm.ppf(0.5 + level / 2))
    tiny = s[0] * max(m, k) * np.finfo(float).eps
    if s[-1] <= tiny:
        _log.warning("the Jacobian is rank deficient (cond %.2e): some parameters are not identifiable", cond)
        inv_s2 = np.where(s > tiny, 1.0 / np.maximum(s, tiny) ** 2, np.inf)
    else:
        inv_s2 = 1.0 / s ** 2
    with np.errstate(invalid="ignore"):
        cov_z = s2 * (Vt.T * inv_s2) @ Vt
    D = np.broadcast_to(dp_dz(z), (k,))
    cov = cov_z * np.outer(D, D)
    std = np.sqrt(np.abs(np.diag(cov)))
    x = to_p(z)
    ci = np.column_stack([x - q * std, x + q * std])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(std, std)
    norm_y = float(np.linalg.norm(y))
    at_bound = tuple(n for n, a in zip(names, fit.active_mask) if a != 0)
    if at_bound:
        _log.warning("parameters %s ended on a bound: their intervals are only indicative", at_bound)
    result = CalibrationResult(
        names=names, x=x, covariance=cov, std=std, ci=ci, level=float(level), quantile=q,
        correlation=corr, noise_sigma=sigma_used, noise_estimated=noise_sigma is None,
        residual_norm=float(np.linalg.norm(r)), rms=float(np.sqrt(np.mean(r ** 2))),
        relative_rms=float(np.linalg.norm(r) / norm_y) if norm_y > 0 else math.inf,
        n_data=m, dof=dof, n_evaluations=counts["runs"], nfev=int(fit.nfev),
        njev=int(fit.njev) if fit.njev is not None else 0, jacobian_condition=cond,
        prediction=f.reshape(np.shape(data.values)), at_bound=at_bound, success=bool(fit.success),
        status=int(fit.status), message=str(fit.message), wall_s=time.perf_counter() - t0,
        transform=transform, cache_hits=counts["cache_hits"])
    _log.info("calibration: %s", result.estimates)
    return result


# -- validation -----------------------------------------------------------------------
def relative_rms(prediction: npt.ArrayLike, observed: npt.ArrayLike) -> float:
    """``‖f − y‖ / ‖y‖`` = RMS(f − y) / RMS(y) over all values."""
    f, y = np.asarray(prediction, dtype=float).ravel(), np.asarray(observed, dtype=float).ravel()
    if f.shape != y.shape:
        raise ValueError(f"prediction and observed differ in size: {f.size} vs {y.size}")
    ny = float(np.linalg.norm(y))
    if ny == 0:
        raise ValueError("observed data are all zero: the relative RMS is undefined")
    return float(np.linalg.norm(f - y) / ny)


@dataclasses.dataclass
class ValidationResult:
    """Outcome of :func:`validate`.

    Attributes:
        relative_rms: ``‖f − y‖ / ‖y‖`` (the metric compared with the tolerance).
        rms: ``RMS(f − y)`` (data units); ``max_abs``: ``max |f − y|``.
        tolerance: the stated tolerance on ``relative_rms``.
        passed: ``relative_rms ≤ tolerance``.
        noise_floor: ``σ / RMS(y)`` when the data's noise is known (the error a perfect
            model would show), else ``None``.
        chi2_per_point: ``mean(((f − y)/σ)²)`` when the noise is known (≈ 1 for a
            model as good as the data), else ``None``.
        prediction: ``(n_steps, n_observables)`` predicted values.
        observe: the observables compared.
    """

    relative_rms: float
    rms: float
    max_abs: float
    tolerance: float
    passed: bool
    noise_floor: float | None
    chi2_per_point: float | None
    prediction: npt.NDArray[np.float64]
    observe: tuple[str, ...]

    def summary(self) -> str:
        floor = f", noise floor {self.noise_floor:.2e}" if self.noise_floor is not None else ""
        return (f"validation on {', '.join(self.observe)}: relative RMS error {self.relative_rms:.3e} "
                f"(tolerance {self.tolerance:g}{floor}) -> {'PASS' if self.passed else 'FAIL'}")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"relative_rms": self.relative_rms, "rms": self.rms, "max_abs": self.max_abs,
                "tolerance": self.tolerance, "passed": self.passed, "noise_floor": self.noise_floor,
                "chi2_per_point": self.chi2_per_point, "observe": list(self.observe),
                "prediction": np.asarray(self.prediction).tolist()}


def validate(model, params: Mapping[str, float], data: Dataset, tolerance: float) -> ValidationResult:
    """Predict a held-out path with ``params`` and compare with its data.

    Args:
        model: the forward model (``model.predict(params, path, observe)``).
        params: parameter name → value (e.g. :attr:`CalibrationResult.estimates`, merged
            with any fixed parameters).
        data: the held-out :class:`Dataset` (a path not used in the calibration).
        tolerance: pass when the relative RMS error is at most this, ``> 0``.

    Returns:
        A :class:`ValidationResult` with the error metrics and the verdict.
    """
    if not (isinstance(tolerance, (int, float)) and tolerance > 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number > 0; got {tolerance!r}")
    prediction = np.asarray(model.predict(dict(params), data.path, data.observe), dtype=float)
    y = np.asarray(data.values, dtype=float)
    if prediction.shape != y.shape:
        raise ValueError(f"the model returned shape {prediction.shape} for data of shape {y.shape}")
    err = relative_rms(prediction, y)
    d = prediction - y
    rms_y = float(np.sqrt(np.mean(y ** 2)))
    sigma = data.noise_sigma
    known = sigma is not None and sigma > 0
    return ValidationResult(
        relative_rms=err, rms=float(np.sqrt(np.mean(d ** 2))), max_abs=float(np.abs(d).max()),
        tolerance=float(tolerance), passed=bool(err <= tolerance),
        noise_floor=float(sigma / rms_y) if known else None,
        chi2_per_point=float(np.mean((d / sigma) ** 2)) if known else None,
        prediction=prediction, observe=tuple(data.observe))
