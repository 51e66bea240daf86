"""Calibration and validation (issue 6): parameter recovery, intervals, pass/fail."""

import math

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale import calibration as cal
from dolfinx_multiscale.studies.loading import ramp

COMM = MPI.COMM_SELF
TRUTH = {"E": 1.0, "sy0": 0.005, "H": 0.05}
X0 = {"E": 0.7, "sy0": 0.008, "H": 0.1}
TENSION = ramp({"11": 0.012}, {"22": 0.0, "12": 0.0}, steps=4, unload=True)
SHEAR = ramp({"12": 0.008}, {"11": 0.0, "22": 0.0}, steps=3, unload=True)
NOISE = 1e-4


@pytest.fixture(scope="module")
def model():
    micro = dm.microstructures.circular_inclusion(0.3, h=0.1, comm=COMM)
    return cal.RVEModel(micro, cal.j2_matrix({2: dm.LinearElastic(E=10.0, nu=0.3)},
                                             E=1.0, nu=0.3, sy0=0.005, H=0.05))


@pytest.fixture(scope="module")
def noisy_fit(model):
    data = cal.synthetic_data(model, TRUTH, TENSION, NOISE, seed=0)
    return data, cal.calibrate(model, data, X0, noise_sigma=NOISE)


class Poly:
    """Analytic model f(x) = a x + b x² (linear in the parameters): least squares and
    its covariance σ² (XᵀX)⁻¹ are known in closed form."""

    dim = 2
    comm = COMM

    def predict(self, params, path, observe):
        x = np.asarray(path["x"])
        return (params["a"] * x + params["b"] * x ** 2)[:, None]


def poly_data(values, x):
    return cal.Dataset(path={"x": list(x)}, observe=("y",), values=np.asarray(values)[:, None],
                       strain=np.asarray(x)[:, None])


def test_noise_free_recovery(model):
    """Data from the same model without noise: the parameters come back to 1e-4 (in
    fact to round-off: the residual vanishes)."""
    data = cal.synthetic_data(model, TRUTH, TENSION, 0.0, seed=0)
    assert np.array_equal(data.values, data.clean)
    fit = cal.calibrate(model, data, X0, bounds={"E": (0.1, 10), "sy0": (1e-4, 0.05), "H": (1e-3, 1)})
    assert fit.success
    for name, value in TRUTH.items():
        assert abs(fit.estimates[name] / value - 1) < 1e-4, (name, fit.estimates)
    assert fit.relative_rms < 1e-8
    assert fit.n_evaluations == fit.nfev + 3 * fit.njev
    assert fit.jacobian_condition < 100  # log-parameters: a well-conditioned problem


def test_noisy_data_within_interval(model, noisy_fit):
    """Noisy data (fixed seed): the truth lies inside the reported 95 % intervals, with
    the noise known and with the noise estimated from the residuals."""
    data, fit = noisy_fit
    assert fit.covers(TRUTH) == {"E": True, "sy0": True, "H": True}, fit.summary(TRUTH)
    # the noise moves the estimates (they are not the truth) by about the standard error
    errors = np.array([fit.estimates[n] - TRUTH[n] for n in fit.names])
    assert np.all(np.abs(errors) > 1e-6 * fit.x) and np.all(np.abs(errors) < fit.ci[:, 1] - fit.x)
    assert np.allclose(fit.ci[:, 1] - fit.x, fit.quantile * fit.std)
    assert math.isclose(fit.quantile, 1.959963984540054)
    assert not fit.noise_estimated and fit.noise_sigma == NOISE
    est = cal.calibrate(model, data, fit.estimates)  # σ̂ from the residuals (warm start)
    assert np.allclose(est.x, fit.x, rtol=1e-6)
    assert est.noise_estimated and est.dof == data.y.size - 3
    assert math.isclose(est.noise_sigma, est.residual_norm / math.sqrt(est.dof), rel_tol=1e-12)
    assert all(est.covers(TRUTH).values()), est.summary(TRUTH)


def test_linear_model_covariance_is_exact():
    """For a model linear in the parameters, the estimates are the linear least-squares
    solution and the delta-method covariance of the log-parameter fit is σ² (XᵀX)⁻¹."""
    x = np.linspace(0.1, 1.0, 12)
    X = np.column_stack([x, x ** 2])
    rng = np.random.default_rng(3)
    y = X @ [2.0, 0.5] + rng.normal(0, 0.01, x.size)
    fit = cal.calibrate(Poly(), poly_data(y, x), {"a": 1.0, "b": 1.0})
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.allclose(fit.x, beta, rtol=1e-7)
    s2 = np.sum((X @ beta - y) ** 2) / (x.size - 2)
    assert np.allclose(fit.covariance, s2 * np.linalg.inv(X.T @ X), rtol=1e-5)
    from scipy import stats

    assert math.isclose(fit.quantile, stats.t.ppf(0.975, x.size - 2))
    lin = cal.calibrate(Poly(), poly_data(y, x), [1.0, 1.0], names=["a", "b"], transform="linear")
    assert np.allclose(lin.x, beta, rtol=1e-7) and np.allclose(lin.covariance, fit.covariance, rtol=1e-5)
    # one parameter, the other fixed: the one-column least-squares solution
    one = cal.calibrate(Poly(), poly_data(y, x), {"a": 1.0}, fixed={"b": 0.5})
    a = x @ (y - 0.5 * x ** 2) / (x @ x)
    assert one.names == ("a",) and np.isclose(one.x[0], a, rtol=1e-7) and not one.at_bound
    # an active bound is reported
    capped = cal.calibrate(Poly(), poly_data(y, x), {"a": 1.0, "b": 1.0}, bounds={"a": (0.1, 1.5)})
    assert capped.at_bound == ("a",) and np.isclose(capped.x[0], 1.5)


def test_interval_coverage_rate():
    """100 noise seeds with the noise known: the 95 % intervals cover the true
    parameters at the stated rate (≥ 90 of 100 for each parameter)."""
    x = np.linspace(0.1, 1.0, 10)
    clean = 2.0 * x + 0.5 * x ** 2
    hits = np.zeros(2, dtype=int)
    for seed in range(100):
        y = clean + np.random.default_rng(seed).normal(0, 0.05, x.size)
        fit = cal.calibrate(Poly(), poly_data(y, x), {"a": 1.0, "b": 1.0}, noise_sigma=0.05,
                            transform="linear")
        hits += [fit.covers({"a": 2.0, "b": 0.5})[n] for n in ("a", "b")]
    assert np.all(hits >= 90) and np.all(hits <= 100), hits


def test_validation_pass_and_fail(model, noisy_fit):
    """The calibrated parameters predict the held-out shear path within the tolerance;
    a deliberately wrong parameter set fails; the metric is the relative RMS error."""
    _, fit = noisy_fit
    shear = cal.synthetic_data(model, TRUTH, SHEAR, NOISE, seed=5)
    assert shear.observe == ("Sigma12",)
    good = cal.validate(model, fit.estimates, shear, tolerance=0.05)
    assert good.passed, good.summary()
    assert good.relative_rms == pytest.approx(cal.relative_rms(good.prediction, shear.values))
    assert good.relative_rms == pytest.approx(np.linalg.norm(good.prediction - shear.values)
                                              / np.linalg.norm(shear.values))
    assert good.noise_floor == pytest.approx(NOISE / np.sqrt(np.mean(shear.values ** 2)))
    bad = cal.validate(model, {**fit.estimates, "sy0": 1.5 * fit.estimates["sy0"]}, shear, tolerance=0.05)
    assert not bad.passed and bad.relative_rms > 2 * good.relative_rms
    assert "FAIL" in bad.summary() and "PASS" in good.summary()
    # the truth predicts the noise-free curve exactly: only the noise remains
    exact = cal.validate(model, TRUTH, shear, tolerance=0.05)
    assert np.allclose(exact.prediction, shear.clean, rtol=0, atol=1e-14)


def test_observables_and_determinism(model):
    """Default observables are the reactions of the strain-controlled components;
    ``Sigma12`` is the tensor component (Mandel / √2); a forward run does not depend
    on what was evaluated before (fresh RVE per run)."""
    assert cal.default_observables(TENSION) == ("Sigma11",)
    assert cal.default_observables(SHEAR) == ("Sigma12",)
    assert cal.default_observables(ramp({"11": 0.01, "22": 0.005}, {"12": 0.0}, 2)) == ("Sigma11", "Sigma22")
    records = model.run(TRUTH, SHEAR)
    values = model.predict(TRUTH, SHEAR, ["Sigma12", "E11", "p_mean", "Sigma33"])
    assert np.allclose(values[:, 0], [r["Sigma"][2] / np.sqrt(2) for r in records], rtol=0, atol=0)
    assert np.allclose(values[:, 1], [r["E"][0] for r in records], rtol=0, atol=0)
    assert np.all(np.abs(values[:, 1]) > 0)  # E11 free under Σ11 = 0: dilatancy of the plastic matrix
    first = model.predict(TRUTH, TENSION)
    model.predict(X0, TENSION)
    assert np.array_equal(model.predict(TRUTH, TENSION), first)


def test_bad_arguments(model):
    data = poly_data(np.arange(1.0, 6.0), np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match="transform"):
        cal.calibrate(Poly(), data, {"a": 1.0, "b": 1.0}, transform="exp")
    with pytest.raises(ValueError, match="positive x0"):
        cal.calibrate(Poly(), data, {"a": -1.0, "b": 1.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        cal.calibrate(Poly(), data, {"a": 1.0, "b": 1.0}, bounds={"c": (0, 1)})
    with pytest.raises(ValueError, match="lower < upper"):
        cal.calibrate(Poly(), data, {"a": 1.0, "b": 1.0}, bounds={"a": (2, 1)})
    with pytest.raises(ValueError, match="names"):
        cal.calibrate(Poly(), data, [1.0, 1.0])
    with pytest.raises(ValueError, match="level"):
        cal.calibrate(Poly(), data, {"a": 1.0, "b": 1.0}, level=95)
    with pytest.raises(ValueError, match="noise_sigma"):
        cal.calibrate(Poly(), data, {"a": 1.0, "b": 1.0}, noise_sigma=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        cal.validate(Poly(), {"a": 1.0, "b": 1.0}, data, tolerance=0.0)
    with pytest.raises(ValueError, match="noise_sigma"):
        cal.synthetic_data(model, TRUTH, TENSION, -1.0)
    with pytest.raises(ValueError, match="observable"):
        model.predict(TRUTH, TENSION, ["Stress11"])
    with pytest.raises(ValueError, match="unknown matrix parameter"):
        model.predict({"Young": 1.0}, TENSION)


class CountingPoly(Poly):
    """``Poly`` that counts its runs and, like a killed process, stops after ``crash_after``."""

    def __init__(self, crash_after=None):
        self.calls, self.crash_after = 0, crash_after

    def predict(self, params, path, observe):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt  # the run is killed here
        self.calls += 1
        return super().predict(params, path, observe)


def test_calibration_resumes_from_its_cache(tmp_path):
    x = np.linspace(0.1, 1.0, 12)
    y = 2.0 * x + 0.5 * x ** 2 + np.random.default_rng(4).normal(0, 0.01, x.size)
    data, x0, key = poly_data(y, x), {"a": 1.0, "b": 1.0}, {"model": "a x + b x^2"}
    reference_model = CountingPoly()
    reference = cal.calibrate(reference_model, data, x0)
    n = reference_model.calls
    assert n > 6
    with pytest.raises(KeyboardInterrupt):
        cal.calibrate(CountingPoly(crash_after=n // 2), data, x0, cache=tmp_path, cache_key=key)
    resumed_model = CountingPoly()
    resumed = cal.calibrate(resumed_model, data, x0, cache=tmp_path, cache_key=key)
    # the finished runs are read back, not recomputed; the same trajectory, the same estimates
    assert resumed_model.calls == n - n // 2 and resumed.cache_hits == n // 2
    assert np.array_equal(resumed.x, reference.x) and np.array_equal(resumed.covariance, reference.covariance)
    again = CountingPoly()
    assert np.array_equal(cal.calibrate(again, data, x0, cache=tmp_path, cache_key=key).x, reference.x)
    assert again.calls == 0
    with pytest.raises(ValueError, match="cache_key"):
        cal.calibrate(CountingPoly(), data, x0, cache=tmp_path)
