"""Verification tools (issue 6): observed order, Richardson, FD tangent, Hill–Mandel, report.

References: analytic sequences ``q* + c h^p`` (exact order and limit), the smoothly
graded cell whose theoretical order is 2 for P1 and P2 (see ``graded_cell``), a finer
P2 reference, the FD derivative of the RVE stress, round-off Hill–Mandel residuals.
"""

import json

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale import verification as vf
from dolfinx_multiscale.viz import plot_mesh_convergence

COMM = MPI.COMM_SELF
DIAGONAL = [(0, 0), (1, 1), (2, 2)]  # energies e_iᵀ C e_i: their error is the energy error


# -- analytic sequences -----------------------------------------------------------------
@pytest.mark.parametrize("p", [1.0, 2.0, 4.0])
def test_order_and_limit_of_analytic_sequences(p):
    h = np.array([0.4, 0.2, 0.1, 0.05])
    q = 3.0 + 0.7 * h**p
    assert vf.convergence_order(h[:3], q[:3]) == pytest.approx(p, abs=1e-9)  # three-level formula
    assert vf.convergence_order(h, q) == pytest.approx(p, abs=1e-6)  # four levels, least squares
    assert vf.convergence_order(h, q, reference=3.0) == pytest.approx(p, abs=1e-9)
    assert vf.richardson_extrapolation(h, q, p) == pytest.approx(3.0, abs=1e-12)
    # non-constant refinement ratio, shuffled input
    hh = np.array([0.07, 0.3, 0.2])
    assert vf.convergence_order(hh, 3.0 - 2.0 * hh**p) == pytest.approx(p, abs=1e-9)
    # the three-level formula by hand
    r = 2.0
    assert vf.convergence_order(h[:3], q[:3]) == pytest.approx(
        np.log((q[0] - q[1]) / (q[1] - q[2])) / np.log(r), abs=1e-12)


def test_order_per_component_and_undefined_orders():
    h = np.array([0.2, 0.1, 0.05])
    q = np.stack([1.0 + h**2, 2.0 - 5.0 * h, np.full(3, 4.0), 1.0 + (-h) ** 1 * np.array([1, -1, 1])], axis=1)
    p = vf.convergence_order(h, q.reshape(3, 2, 2))
    assert p.shape == (2, 2)
    assert p[0, 0] == pytest.approx(2.0) and p[0, 1] == pytest.approx(1.0)
    assert np.isnan(p[1, 0])  # exact component: no order
    assert np.isnan(p[1, 1])  # oscillating differences: no monotone order
    R = vf.richardson_extrapolation(h, q[:, :2], [2.0, 1.0])
    assert np.allclose(R, [1.0, 2.0], rtol=0, atol=1e-12)


def test_richardson_beats_the_finest_mesh_on_a_perturbed_sequence():
    h = np.array([0.1, 0.05, 0.025])
    q = np.pi + 0.3 * h**2 + 0.8 * h**3  # higher-order term: the order is only observed
    p = vf.convergence_order(h, q)
    assert abs(p - 2.0) < 0.2
    assert abs(vf.richardson_extrapolation(h, q, p) - np.pi) < 0.1 * abs(q[-1] - np.pi)


@pytest.mark.parametrize("bad", [dict(hs=[0.1, 0.05], values=[1, 2]), dict(hs=[0.1, 0.1, 0.05], values=[1, 2, 3]),
                                 dict(hs=[0.2, -0.1, 0.05], values=[1, 2, 3]),
                                 dict(hs=[0.2, 0.1, 0.05], values=[1, 2]),
                                 dict(hs=[0.2, 0.1, 0.05], values=[1, np.nan, 3])])
def test_convergence_order_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="hs|values"):
        vf.convergence_order(**bad)


def test_richardson_rejects_bad_order():
    with pytest.raises(ValueError, match="order must be positive"):
        vf.richardson_extrapolation([0.2, 0.1], [1.0, 1.1], 0.0)


# -- a smooth problem through the real RVE ----------------------------------------------
def graded_study(degree):
    return vf.effective_tensor_study(lambda h, comm: vf.graded_cell(round(1 / h), comm=comm),
                                     degree=degree, components=DIAGONAL, comm=COMM)


@pytest.fixture(scope="module")
def p2_report():
    """P2 on the graded cell with n = 16, 32, 64 (n = 8 is pre-asymptotic for P2's C33)."""
    return vf.mesh_convergence(graded_study(2), [1 / 16, 1 / 32, 1 / 64], theoretical_order=2)


def test_graded_cell_p2_observed_order_is_theoretical(p2_report):
    """Smooth modulus field sampled per cell: P2's energy error is O(h⁴) but the sampling
    of the field is O(h²), so C_ii converges like h²."""
    for (i, j) in DIAGONAL:
        p = p2_report["quantities"][f"C{i + 1}{j + 1}"]["observed_order"]
        assert abs(p - 2.0) <= 0.2, (i, p)


def test_graded_cell_p1_observed_order_and_richardson(p2_report, tmp_path):
    """P1: C_ii converges like h² (energy error and sampling); the Richardson value beats
    the finest mesh against a finer reference (P2, n = 64), with the reference or without."""
    ns = (8, 16, 32)
    report = vf.mesh_convergence(graded_study(1), [1 / n for n in ns], theoretical_order=2)
    assert report["h"] == [1 / n for n in ns] and len(report["n_dofs"]) == 3
    reference = {}
    for (i, j) in DIAGONAL:
        name = f"C{i + 1}{j + 1}"
        data = report["quantities"][name]
        q = np.array(data["values"])
        reference[name] = ref = p2_report["quantities"][name]["values"][-1]
        assert abs(data["observed_order"] - 2.0) <= 0.2, (name, data["observed_order"])
        assert abs(data["richardson"] - ref) < 0.5 * abs(q[-1] - ref), (name, data["richardson"], q[-1], ref)
    # the same study with the reference: least-squares slope of the errors
    with_ref = vf.mesh_convergence(graded_study(1), [1 / n for n in ns], theoretical_order=2,
                                   reference=reference)
    for name in reference:
        assert abs(with_ref["quantities"][name]["observed_order"] - 2.0) <= 0.2
    reports = {"P1": report, "P1 vs reference": with_ref, "P2": p2_report}
    vf.write_report(reports, tmp_path / "r.json", comm=COMM)
    plot_mesh_convergence(reports, tmp_path / "r.png", comm=COMM)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["P1"]["quantities"]["C11"]["error_kind"] == "richardson"
    assert data["P1 vs reference"]["quantities"]["C11"]["error_kind"] == "reference"
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_mesh_convergence_of_tensor_components_and_fe2_reaction(tmp_path):
    """Every C_eff entry (including ones zero by symmetry: order undefined → None) and the
    FE² macro reaction, whose limit is the reaction of the homogenized beam."""
    def cell(h, comm):
        return vf.graded_cell(round(1 / h), comm=comm)

    hs = [1 / 4, 1 / 8, 1 / 16]
    report = vf.mesh_convergence(vf.effective_tensor_study(cell, comm=COMM), hs, atol=1e-13)
    assert set(report["quantities"]) == {"C11", "C12", "C13", "C22", "C23", "C33"}
    for name in ("C13", "C23"):  # zero by the cell's symmetry (to round-off): no order
        assert np.abs(report["quantities"][name]["values"]).max() < 1e-14
        assert report["quantities"][name]["observed_order"] is None
        assert report["quantities"][name]["richardson"] is None
    assert all(report["quantities"][name]["observed_order"] > 1.5 for name in ("C11", "C22", "C33"))
    fe2 = vf.mesh_convergence(vf.fe2_reaction_study(cell, load=0.01, cells=2, comm=COMM), hs,
                              theoretical_order=2)
    reaction = fe2["quantities"]["reaction"]
    assert np.isfinite(reaction["observed_order"]) and reaction["observed_order"] > 1.5
    # the reaction of a linear FE² beam is that of the beam with the homogenized tensor
    from dolfinx_multiscale.macro.problems import Beam
    from dolfinx_multiscale.macro.quadrature import LocalMaterial

    micro, mats = cell(hs[-1], COMM)
    C = dm.RVE(micro, mats).effective_tensor()
    beam = Beam(lambda m: LocalMaterial(dm.LinearElastic(C=C), m), cells=2, mode="tension", comm=COMM)
    beam.run([0.01])
    assert reaction["values"][-1] == pytest.approx(beam.reaction(), rel=1e-9)
    vf.write_report(fe2, tmp_path / "fe2.json", comm=COMM)
    plot_mesh_convergence(fe2, tmp_path / "fe2.png", comm=COMM)
    assert json.loads((tmp_path / "fe2.json").read_text())["quantities"]["reaction"]["richardson"] > 0


def test_mesh_convergence_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        vf.mesh_convergence(lambda h: h, [0.1, 0.05])
    with pytest.raises(ValueError, match="richardson_order"):
        vf.mesh_convergence(lambda h: h, [0.2, 0.1, 0.05], richardson_order="best")
    with pytest.raises(ValueError, match="different quantities"):
        vf.mesh_convergence(lambda h: {"a": 1.0} if h > 0.1 else {"b": 1.0}, [0.2, 0.1, 0.05])
    report = vf.mesh_convergence(lambda h: 2.0 + h**2, [0.2, 0.1, 0.05], reference=2.0)
    assert report["quantities"]["q"]["observed_order"] == pytest.approx(2.0)


# -- checks on one RVE ------------------------------------------------------------------
@pytest.fixture(scope="module")
def cell():
    return dm.microstructures.circular_inclusion(0.3, h=0.15, comm=COMM)


def test_tangent_check_linear_and_plastic(cell):
    fibre = dm.LinearElastic(E=10.0, nu=0.25)
    linear = dm.RVE(cell, {1: dm.LinearElastic(E=1.0, nu=0.3), 2: fibre})
    assert vf.tangent_check(linear, [0.01, -0.004, 0.003], h=1e-6) < 1e-8
    j2 = dm.RVE(cell, {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05, Hk=0.02), 2: fibre}, rtol=1e-12)
    E = np.array([0.02, -0.005, 0.004])
    j2.solve(E)
    assert j2.mean_plastic_strain() > 1e-3  # on the plastic branch
    err = vf.tangent_check(j2, E, h=1e-7)
    assert err < 1e-5
    # the check is sensitive: the elastic tangent is far off on the plastic branch
    C_el = linear.effective_tensor()
    _, C = j2.solve(E)
    assert np.abs(C_el - C).max() / np.abs(C).max() > 100 * err


@pytest.mark.parametrize("bc", ["periodic", "kubc", "subc"])
def test_hill_mandel_check(cell, bc):
    rve = dm.RVE(cell, {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.25)}, bc=bc)
    assert vf.hill_mandel_check(rve) < 1e-10
    assert vf.hill_mandel_check(rve, [0.01, 0.002, -0.003]) < 1e-10


def test_write_report_rejects_unknown_structure(tmp_path):
    with pytest.raises(ValueError, match="mesh_convergence"):
        vf.write_report({"a": 1}, tmp_path / "x.json", comm=COMM)
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ValueError, match="mesh_convergence"):
        plot_mesh_convergence({"a": 1}, tmp_path / "x.png", comm=COMM)
    assert not (tmp_path / "x.png").exists()
