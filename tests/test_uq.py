"""Statistics and uncertainty (issue 6): confidence intervals, RVE-size study, Monte
Carlo, interval propagation, the ``rve-size`` command.

References: Student-t table values, coverage of a known mean on synthetic normal
samples, a homogeneous cell (C_eff = the sampled material tensor, exactly), the
KUBC/periodic/SUBC ordering, analytic functions with known extrema, monotonicity.
"""

import json

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale import uq
from dolfinx_multiscale.cli import main
from dolfinx_multiscale.viz import plot_monte_carlo, plot_rve_size_study

COMM = MPI.COMM_SELF
MATS = {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.3)}


# -- confidence intervals ---------------------------------------------------------------
def test_student_t_interval_against_table():
    x = np.array([1.0, 2.0, 4.0, 3.0, 5.0])  # mean 3, s = sqrt(2.5)
    ci = uq.mean_confidence_interval(x)
    assert ci["mean"] == pytest.approx(3.0) and ci["std"] == pytest.approx(np.sqrt(2.5))
    assert ci["half_width"] == pytest.approx(2.776445 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)  # t_{.975,4}
    ci90 = uq.mean_confidence_interval(x, level=0.90)
    assert ci90["half_width"] == pytest.approx(2.131847 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)  # t_{.95,4}
    two = uq.mean_confidence_interval(np.arange(6.0).reshape(2, 3))  # per component, n = 2
    assert two["half_width"].shape == (3,)
    assert np.allclose(two["half_width"], 12.706205 * 3 / np.sqrt(2) / np.sqrt(2), rtol=1e-6)
    assert np.allclose(two["lower"] + two["half_width"], two["mean"])


@pytest.mark.parametrize("bad,match", [(np.ones(1), "at least 2"), (np.array([1.0, np.inf]), "finite")])
def test_interval_rejects_bad_samples(bad, match):
    with pytest.raises(ValueError, match=match):
        uq.mean_confidence_interval(bad)
    with pytest.raises(ValueError, match="level"):
        uq.mean_confidence_interval(np.ones(3), level=1.5)


def test_monte_carlo_interval_covers_known_mean_at_stated_rate():
    """100 Monte Carlo runs (seeds 0..99) of 12 normal samples: the 95 % interval of each
    component must cover the known mean in at least 90 of them (expected 95)."""
    mu, sigma = np.array([1.3, -4.0]), np.array([0.7, 2.5])
    covered = np.zeros(2, dtype=int)
    widths = []
    for seed in range(100):
        res = uq.monte_carlo(lambda rng: rng.normal(mu, sigma), 12, seed=seed, comm=COMM)
        covered += (res["lower"] <= mu) & (mu <= res["upper"])
        widths.append(res["half_width"])
    assert np.all(covered >= 90), covered
    assert np.all(covered <= 100)
    # the mean half-width is t s/sqrt(n) with E[s] ≈ 0.978 sigma (n = 12)
    assert np.allclose(np.mean(widths, axis=0), 2.200985 * 0.9776 * sigma / np.sqrt(12), rtol=0.1)


def test_monte_carlo_streams_running_interval_and_dict_samples():
    n, seed = 40, 7
    res = uq.monte_carlo(lambda rng: {"x": rng.uniform(), "v": rng.normal(size=3)}, n, seed=seed, comm=COMM)
    streams = np.random.SeedSequence(seed).spawn(n)
    first = np.random.default_rng(streams[0])
    assert res["samples"]["x"][0] == first.uniform()  # the documented stream of sample 0
    assert res["samples"]["v"].shape == (n, 3)
    assert res["n_running"] == list(range(2, n + 1))
    hw = res["running_half_width"]["x"]
    assert hw.shape == (n - 1,) and hw[-1] == pytest.approx(res["half_width"]["x"])
    assert hw[-1] < hw[4]  # shrinks like 1/sqrt(n)
    assert res["mean"]["x"] == pytest.approx(res["samples"]["x"].mean())


def test_monte_carlo_failing_sample_raises():
    def bad(rng):
        raise ValueError("no good")

    with pytest.raises(ValueError, match="sample 0: no good"):
        uq.monte_carlo(bad, 3, comm=COMM)
    with pytest.raises(ValueError, match="n must be"):
        uq.monte_carlo(lambda rng: 1.0, 1, comm=COMM)


# -- aleatory: random phase properties and random microstructures ------------------------
@pytest.fixture(scope="module")
def cell():
    return dm.microstructures.circular_inclusion(0.3, h=0.2, comm=COMM)


def test_random_properties_homogeneous_cell_is_exact(cell, tmp_path):
    """Both phases share one random E: every sample is that material's tensor, exactly,
    and the macro quantity E_eff = 1/S11 is the plane-strain modulus E/(1 − ν²)."""
    nu = 0.3

    def materials(rng):
        E = rng.lognormal(0.0, 0.25)
        return {1: dm.LinearElastic(E=E, nu=nu), 2: dm.LinearElastic(E=E, nu=nu)}

    sampler = uq.random_properties_sampler(cell, materials)

    def sample(rng):
        C = sampler(rng)
        return {"C": C, "E_eff": 1.0 / np.linalg.inv(C)[0, 0]}

    n, seed = 16, 3
    res = uq.monte_carlo(sample, n, seed=seed, comm=COMM)
    streams = np.random.SeedSequence(seed).spawn(n)
    E = np.array([np.random.default_rng(s).lognormal(0.0, 0.25) for s in streams])
    C_unit = dm.LinearElastic(E=1.0, nu=nu).matrix(2)
    assert np.allclose(res["samples"]["C"], E[:, None, None] * C_unit, rtol=1e-10, atol=1e-12)
    assert np.allclose(res["samples"]["E_eff"], E / (1 - nu**2), rtol=1e-10)
    Ep = E / (1 - nu**2)  # the estimator's interval, by hand (t_{.975,15} = 2.131450)
    assert res["mean"]["E_eff"] == pytest.approx(Ep.mean(), rel=1e-10)
    assert res["half_width"]["E_eff"] == pytest.approx(2.131450 * Ep.std(ddof=1) / 4.0, rel=1e-6)
    plot_monte_carlo(res, tmp_path / "mc.png", comm=COMM)
    assert (tmp_path / "mc.png").stat().st_size > 10_000


def test_random_microstructure_sampler_within_bounds():
    sampler = uq.random_microstructure_sampler(3, 0.3, MATS, h=0.1)
    res = uq.monte_carlo(sampler, 3, seed=1, comm=COMM)
    C = res["samples"]
    assert C.shape == (3, 3, 3)
    assert not np.allclose(C[0], C[1])  # different microstructures
    from dolfinx_multiscale.studies import references as hom

    f2 = 0.3
    voigt = hom.voigt_bound([MATS[1].matrix(2), MATS[2].matrix(2)], [1 - f2, f2])
    reuss = hom.reuss_bound([MATS[1].matrix(2), MATS[2].matrix(2)], [1 - f2, f2])
    for Ck in C:  # measured fraction ≈ 0.3 on this mesh: generous margin
        assert reuss[0, 0] * 0.95 <= Ck[0, 0] <= voigt[0, 0] * 1.05


# -- the RVE-size study -----------------------------------------------------------------
@pytest.fixture(scope="module")
def size_study():
    return uq.rve_size_study([1, 4, 16], 3, 0.3, MATS, h_factor=0.6, comm=COMM, tolerance={"bracket": 0.2})


def test_rve_size_bracket_ordering_and_closing(size_study, tmp_path):
    rows = size_study["sizes_report"]
    assert [r["size"] for r in rows] == [1, 4, 16]
    for r in rows:
        assert r["ordering_ok"]
        for j in range(3):  # independent check of C_SUBC ≤ C_PBC ≤ C_KUBC, every member
            K, P, S = (np.array(r["C"][bc][j]) for bc in ("kubc", "periodic", "subc"))
            scale = np.abs(K).max()
            assert np.linalg.eigvalsh(K - P).min() >= -1e-10 * scale
            assert np.linalg.eigvalsh(P - S).min() >= -1e-10 * scale
        for i in range(3):  # the means keep the order on the diagonal
            assert r["mean"]["subc"][i][i] <= r["mean"]["periodic"][i][i] <= r["mean"]["kubc"][i][i]
        # reported statistics agree with the members
        P = np.array(r["C"]["periodic"])
        assert np.allclose(r["mean"]["periodic"], P.mean(axis=0))
        K, S = np.array(r["mean"]["kubc"]), np.array(r["mean"]["subc"])
        assert r["bracket_width"] == pytest.approx(np.linalg.norm(K - S) / np.linalg.norm(P.mean(axis=0)))
        assert np.allclose(r["volume_fractions"], 0.3, atol=0.02)
    widths = [r["bracket_width"] for r in rows]
    assert widths[0] > widths[1] > widths[2], widths  # the bracket closes with size
    assert widths[2] < 0.5 * widths[0]
    # the smallest size meeting the tolerance is the first whose bracket is below it
    assert size_study["smallest_size"] == next(r["size"] for r in rows if r["bracket_width"] <= 0.2)
    assert [r["meets_tolerance"] for r in rows] == [w <= 0.2 for w in widths]
    plot_rve_size_study(size_study, tmp_path / "size.png", comm=COMM)
    assert (tmp_path / "size.png").stat().st_size > 10_000
    json.dumps(size_study)  # JSON-ready as returned


def test_rve_size_study_rejects_bad_input():
    for kwargs, match in [(dict(sizes=[4, 1]), "sizes"), (dict(n_seeds=1), "n_seeds"),
                          (dict(bcs=["kubc", "dirichlet"]), "bcs"), (dict(h_factor=0.0), "h_factor"),
                          (dict(tolerance={"width": 0.1}), "tolerance"), (dict(tolerance=-1.0), "tolerance"),
                          (dict(materials={1: MATS[1]}), "materials"),
                          (dict(bcs=["periodic"], tolerance=0.1), "bracket needs")]:
        args = dict(sizes=[1, 4], n_seeds=2, volume_fraction=0.3, materials=MATS, comm=COMM)
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            uq.rve_size_study(**args)
    with pytest.raises(ValueError, match="size 2, seed 0: volume_fraction"):  # 60 % > RSA limit
        uq.rve_size_study([2], 2, 0.6, MATS, comm=COMM)


# -- epistemic: interval propagation ----------------------------------------------------
def test_interval_of_monotone_quantity_is_its_endpoint_values(cell):
    """C11 of the two-phase cell grows with the inclusion's modulus: the optimization
    (without the corner check) finds exactly the values at the interval's ends."""
    def c11(x):
        mats = {1: MATS[1], 2: dm.LinearElastic(E=float(x[0]), nu=0.3)}
        return dm.RVE(cell, mats).effective_tensor()[0, 0]

    res = uq.interval_propagation(c11, [(5.0, 20.0)], corners=False, comm=COMM)
    assert res["lower"] == pytest.approx(c11([5.0]), rel=1e-12)
    assert res["upper"] == pytest.approx(c11([20.0]), rel=1e-12)
    assert res["argmin"][0] == 5.0 and res["argmax"][0] == 20.0
    with_corners = uq.interval_propagation(c11, [(5.0, 20.0)], comm=COMM)
    assert with_corners["corner_lower"] == res["lower"] and with_corners["corner_upper"] == res["upper"]


def test_interval_finds_the_homogeneous_poisson_ratio_inside_the_box(cell):
    """ν_eff = −S12/S11 of the fibre cell (both phases ν = 0.3) is largest where the cell
    is homogeneous, E2 = E1: plane strain ν/(1 − ν) = 3/7. Corners miss it."""
    def nu_eff(x):
        mats = {1: MATS[1], 2: dm.LinearElastic(E=float(x[0]), nu=0.3)}
        S = np.linalg.inv(dm.RVE(cell, mats).effective_tensor())
        return -S[0, 1] / S[0, 0]

    res = uq.interval_propagation(nu_eff, [(0.5, 4.0)], comm=COMM)
    assert res["upper"] == pytest.approx(3 / 7, abs=1e-7)
    assert res["argmax"][0] == pytest.approx(1.0, abs=1e-2)
    assert res["corner_upper"] < 3 / 7 - 0.005
    assert res["lower"] == res["corner_lower"] == min(nu_eff([0.5]), nu_eff([4.0]))


def test_interval_finds_interior_extremum_that_corners_miss():
    def f(x):
        return np.sin(np.pi * x[0]) * np.cos(0.5 * np.pi * x[1]) + 0.1 * x[1]

    res = uq.interval_propagation(f, [(0.0, 1.0), (0.0, 1.0)], x0=[0.2, 0.8], comm=COMM)
    # exact maximum: x = 1/2, y solving (π/2) sin(πy/2) = 0.1
    y = 2.0 / np.pi * np.arcsin(0.2 / np.pi)
    fmax = np.cos(0.5 * np.pi * y) + 0.1 * y
    assert res["upper"] == pytest.approx(fmax, abs=1e-8)
    assert np.allclose(res["argmax"], [0.5, y], atol=1e-3)
    assert res["corner_upper"] == pytest.approx(0.1)  # corners alone miss it by 10×
    assert res["lower"] == pytest.approx(0.0, abs=1e-12)
    # an interior minimum
    g = uq.interval_propagation(lambda x: (x[0] - 0.3) ** 2, [(0.0, 1.0)], comm=COMM)
    assert g["lower"] == pytest.approx(0.0, abs=1e-10) and g["corner_lower"] == pytest.approx(0.09)
    assert g["upper"] == pytest.approx(0.49)


def test_interval_propagation_rejects_bad_bounds():
    with pytest.raises(ValueError, match="bounds"):
        uq.interval_propagation(lambda x: 0.0, [(1.0, 0.0)], comm=COMM)
    with pytest.raises(ValueError, match="x0"):
        uq.interval_propagation(lambda x: 0.0, [(0.0, 1.0)], x0=[2.0], comm=COMM)


# -- the command line -------------------------------------------------------------------
PHASES = ["--phase", "1:E=1,nu=0.3", "--phase", "2:E=10,nu=0.3"]


def test_cli_rve_size_equals_api(tmp_path):
    out, png = tmp_path / "size.json", tmp_path / "size.png"
    args = ["rve-size", "--sizes", "1,4", "--seeds", "2", "--vf", "0.3", *PHASES, "--h-factor", "0.6",
            "--tolerance", "0.3", "--criterion", "bracket", "--json", str(out), "--png", str(png)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    ref = uq.rve_size_study([1, 4], 2, 0.3, MATS, h_factor=0.6, comm=COMM, tolerance={"bracket": 0.3})
    for got, want in zip(data["sizes_report"], ref["sizes_report"]):
        for bc in ("kubc", "periodic", "subc"):
            assert np.array_equal(got["C"][bc], want["C"][bc])
    assert data["smallest_size"] == ref["smallest_size"] and data["notation"] == "mandel"
    assert png.stat().st_size > 10_000


BASE = {"--sizes": "1,4", "--seeds": "2", "--vf": "0.3", "--h-factor": "0.6"}


@pytest.mark.parametrize("change", [
    {"--sizes": "1,x"}, {"--sizes": "4,1"}, {"--seeds": "1"}, {"--vf": "1.5"}, {"--bc": "kubc,dirichlet"},
    {"--h-factor": "0"}, {"--tolerance": "-0.1"}, {"--phase": "3:E=10,nu=0.3"}, {"--phase": "2:E=1,nu=0.5"},
    {"--png": "x.jpg"}, {"--vf": "0.6", "--sizes": "2"}, {"--phase": "2:model=j2,E=1,nu=0.3,sy0=0.1"}])
def test_cli_rve_size_bad_input_exits_2_without_file(tmp_path, change, capsys):
    opts = {**BASE, **{k: v for k, v in change.items() if k != "--phase"}}
    if "--png" in opts:
        opts["--png"] = str(tmp_path / opts["--png"])
    second = change.get("--phase", "2:E=10,nu=0.3")
    out = tmp_path / "out.json"
    args = ["rve-size", *[x for kv in opts.items() for x in kv], "--phase", "1:E=1,nu=0.3",
            "--phase", second, "--json", str(out)]
    assert main(args) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
