"""Scale separation (FE²/homogenized vs DNS) and time-scale separation (issue 6)."""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx.fem as fem
import ufl

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.macro.quadrature import LocalMaterial
from dolfinx_multiscale.studies.scale_separation import dns_vs_homogenized, tile_microstructure, time_scale_separation
from dolfinx_multiscale.studies.verification import observed_rate

COMM = MPI.COMM_SELF


@pytest.fixture(scope="module")
def cell():
    return dm.microstructures.circular_inclusion(0.3, h=0.15, comm=COMM)


@pytest.fixture(scope="module")
def study(cell):
    return dns_vs_homogenized([1 / 4, 1 / 8, 1 / 16], micro=cell, comm=COMM)


def test_tiled_mesh_repeats_the_cell(cell):
    tiled = tile_microstructure(cell, (3, 2), scale=0.5, comm=COMM)
    mesh = tiled.mesh
    area = lambda tag: fem.assemble_scalar(fem.form(  # noqa: E731
        fem.Constant(mesh, 1.0) * ufl.Measure("dx", domain=mesh, subdomain_data=tiled.cell_tags)(tag)))
    assert area(1) + area(2) == pytest.approx(1.5 * 1.0, rel=1e-12)
    assert area(2) / 1.5 == pytest.approx(cell.volume_fractions[2], rel=1e-12)
    n_cell = cell.mesh.topology.index_map(2).size_local
    assert mesh.topology.index_map(2).size_global == 6 * n_cell
    assert np.bincount(tiled.tile).tolist() == [n_cell] * 6
    assert np.allclose(tiled.tile_centres()[[0, 1, 5]], [[0.25, 0.25], [0.25, 0.75], [1.25, 0.75]])
    # merged nodes: each interior face of the 3 x 2 grid shares its nodes
    n_nodes = cell.mesh.geometry.x.shape[0]
    assert mesh.geometry.index_map().size_global < 6 * n_nodes


def test_tiling_rejects_bad_input(cell):
    with pytest.raises(ValueError, match="repeats must be 2 integers >= 1"):
        tile_microstructure(cell, (0, 2), comm=COMM)
    with pytest.raises(ValueError, match="scale must be > 0"):
        tile_microstructure(cell, (2, 2), scale=-1.0, comm=COMM)
    with pytest.raises(ValueError, match="whole cells"):
        dns_vs_homogenized([1 / 3, 0.3], micro=cell, comm=COMM, fe2_cells=None)
    with pytest.raises(ValueError, match="at least 2"):
        dns_vs_homogenized([1 / 4], micro=cell, comm=COMM)


def test_homogeneous_body_has_no_homogenization_error(cell):
    """Both phases the same: the DNS is the homogenized problem, whatever ε."""
    same = dm.LinearElastic(E=2.0, nu=0.3)
    r = dns_vs_homogenized([1 / 2, 1 / 4], micro=cell, materials={1: same, 2: same}, comm=COMM,
                           fe2_cells=None)
    assert np.allclose(r["C_eff"], same.matrix(2), rtol=1e-10)
    assert max(r["reaction_error"]) < 1e-10 and max(r["l2_error"]) < 1e-10
    assert max(r["boundary_stress_error"]) < 1e-9


def test_error_falls_with_epsilon_except_in_the_boundary_layer(study):
    r = study
    for key in ("reaction_error", "l2_error", "interior_stress_error"):
        e = r[key]
        assert e[0] > e[1] > e[2] > 0, (key, e)  # monotone over three ε
        assert 0.8 <= r["rates"][key] <= 1.5, (key, r["rates"][key])  # O(ε)
    # measured (h = 0.15 cells): reaction 2.58e-2, 1.06e-2, 4.86e-3; L2 6.6e-3, 3.2e-3, 1.6e-3
    assert r["reaction_error"][-1] == pytest.approx(4.86e-3, rel=0.05)
    # the outer layer of cells (clamp, free edges) does not converge: O(1) error, no rate
    for key in ("boundary_stress_error", "clamped_stress_error"):
        assert r["rates"][key] < 0.2, (key, r["rates"][key])
        assert r[key][-1] > 5 * r["interior_stress_error"][-1]
    # at a fixed distance from the boundary (0.375 H) the cell-averaged error falls
    at = [np.interp(0.375, d, e) for d, e in zip(r["layer_distance"], r["layer_error"])]
    assert at[0] > at[1] > at[2]
    assert r["reaction_dns"][0] < r["reaction_dns"][1] < r["reaction_dns"][2] < r["reaction_homogenized"][-1]


def test_fe2_is_the_homogenized_solve(study, cell):
    """FE² with the linear RVE = the macro solve with C_eff (same coarse mesh), and its gap to
    the fine homogenized answer is the coarse macro mesh's discretisation error."""
    C = np.array(study["C_eff"])
    ref = Beam(lambda m: LocalMaterial(dm.LinearElastic(C=C), m, quadrature_degree=2), cells=8,
               length=2.0, height=1.0, degree=2, comm=COMM)
    R = ref.run([0.01])[-1]["reaction"]
    assert study["fe2"]["reaction"] == pytest.approx(R, rel=1e-9)
    assert max(study["fe2"]["gap_to_homogenized"]) < 0.01


def test_observed_rate():
    h = np.array([0.1, 0.05, 0.025])
    assert observed_rate(h, 3 * h**2) == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(ValueError, match="> 0"):
        observed_rate(h, [1.0, 0.0, 1.0])


def test_time_scale_separation_error_grows_with_tau_over_T(cell):
    """Quasi-static micro (instantaneous relaxed equilibrium) vs the time-resolved
    viscoelastic references: the error grows monotonically with τ/T, like τ/T when small;
    the transient FE² stays at the ε-level error for every ratio."""
    r = time_scale_separation([0.01, 0.1, 1.0], epsilon=1 / 4, micro=cell, steps=3, fe2_cells=2, comm=COMM)
    ts, qs, fe2 = r["error_time_scale"], r["error_quasi_static"], r["error_fe2"]
    assert ts[0] < ts[1] < ts[2]
    assert qs[0] < qs[1] < qs[2]
    assert 0.7 < r["rate_small_ratio"] < 1.1
    assert ts[2] > 0.4  # saturating towards the glassy/relaxed gap
    assert max(fe2) < 0.12 and max(fe2) - min(fe2) < 0.05  # no growth with τ/T
    # the glassy and relaxed effective tensors bracket the response
    assert np.all(np.linalg.eigvalsh(np.array(r["C_eff_instantaneous"]) - np.array(r["C_eff_relaxed"])) > 0)
    # the time-stepping error is small next to the model error: halve dt
    fine = time_scale_separation([0.1], epsilon=1 / 4, micro=cell, steps=6, fe2_cells=2, comm=COMM)
    assert fine["error_time_scale"][0] == pytest.approx(ts[1], rel=0.1)
