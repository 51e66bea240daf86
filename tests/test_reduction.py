"""Hyper-reduced RVEs with error control, against the full RVE."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest
import scipy.sparse as sp

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.studies.loading import load_path
from dolfinx_multiscale.cell.training import training_paths
from dolfinx_multiscale.studies.loading import LoadStep


def strain_steps(path, n):
    return [LoadStep(np.asarray(E, dtype=float), np.zeros(n), np.zeros(n, dtype=bool)) for E in path]

J2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
FIBRE = dm.LinearElastic(E=10.0, nu=0.25)
PATH = [np.array([0.004, -0.001, 0.001]) * k for k in (1, 2, 3, 4, 5, 3, 1, -1)]  # load, unload, reverse


@pytest.fixture(scope="module")
def cell():
    return dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)


def full_path(cell, path, materials=None):
    rve = dm.RVE(cell, materials or {1: J2, 2: FIBRE})
    return np.array([r["Sigma"] for r in load_path(rve, strain_steps(path, 3), progress=False)])


def reduced_path(model, path):
    model.committed_state = {}
    out = []
    for E in path:
        out.append(model.solve(E, tangent=False)[0])
        model.commit()
    return np.array(out)


def test_full_basis_equals_the_full_rve(cell):
    """The whole constrained space as the basis and every micro point as a cubature point
    (the default): the Galerkin problem is the full one, so the reduced model (no shortcut,
    no fallback) gives the full Σ to 1e-10 along a J2 load–unload–reverse path."""
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    indptr, indices, values = rve.constraint.P.getValuesCSR()
    P = sp.csr_matrix((values, indices, indptr), shape=rve.constraint.P.getSize()).toarray()
    model = dm.ReducedRVE(rve, P, tolerance=1.0)
    assert model.cubature_points == rve.discretisation.n_points
    model.shortcut = model.fallback = False
    reference = full_path(cell, PATH)
    assert np.abs(reduced_path(model, PATH) - reference).max() <= 1e-10 * np.abs(reference).max()
    assert model.stats["reduced"] == len(PATH) and model.stats["fallback"] == 0


def test_linear_micro_is_exact_with_the_elastic_modes(cell):
    """A micro model that never yields: training keeps only the d(d+1)/2 = 3 elastic modes and
    no cubature point (nothing inelastic to integrate), and the reduced model alone (no
    shortcut) is exact to 1e-10 with its indicator ~0."""
    never = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=1e6), 2: FIBRE}
    model = dm.ReducedRVE.train(dm.RVE(cell, never), tolerance=1e-3, strain_amplitude=0.05, paths=3, steps=3,
                                validation_paths=3)
    assert model.modes == 3 and model.cubature_points == 0
    model.shortcut = False
    reference = full_path(cell, PATH, never)
    assert np.abs(reduced_path(model, PATH) - reference).max() <= 1e-10 * np.abs(reference).max()
    assert model.stats["reduced"] == len(PATH) and model.stats["max_indicator"] <= 1e-8


@pytest.fixture(scope="module")
def trained(cell):
    return dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), tolerance=1e-3, paths=12, steps=4,
                               validation_paths=30, seed=0)


def test_indicator_bounds_the_error_off_training(cell, trained):
    """On random paths used neither for training nor for the safety factor, the true
    relative error of Σ is at most safety × η on ≥ 95 % of the steps; the model is
    hyper-reduced (fewer cubature points than micro points) and its safety factor was
    measured on ≥ 200 held-out steps."""
    model = trained
    model.fallback = False
    ok = total = 0
    try:
        for path in training_paths(3, model.info["amplitude"], 6, 4, seed=7):
            reference = full_path(cell, path)
            model.committed_state = {}
            for E, ref in zip(path, reference):
                Sigma, _ = model.solve(E, tangent=False)
                model.commit()
                error = np.linalg.norm(Sigma - ref) / np.linalg.norm(ref)
                eta = float(model.committed_state["indicator"])
                if model.committed_state["reduced"] > 0 and error > 1e-12:
                    total += 1
                    ok += error <= model.safety * eta
    finally:
        model.fallback = True
    assert total >= 20 and ok >= 0.95 * total
    assert model.info["samples"] > 0 and model.info["training_s"] > 0 and model.safety >= 1
    assert model.info["validation_steps"] >= 200
    assert 0 < model.cubature_points < model.rve.discretisation.n_points


def test_far_path_falls_back_and_stays_within_tolerance(cell):
    """Trained up to |E| = 0.004, driven to |E| ≈ 0.03: points fall back to the full RVE
    and every step's Σ is within the tolerance of the full RVE's."""
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    model = dm.ReducedRVE.train(rve, tolerance=1e-3, strain_amplitude=0.004, paths=4, steps=3, validation_paths=2)
    path = [np.array([0.006, -0.002, 0.004]) * k for k in range(1, 6)]
    reference = full_path(cell, path)
    errors = np.linalg.norm(reduced_path(model, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert model.stats["fallback"] >= 1
    assert errors.max() <= model.tolerance


def test_fe2_with_reduced_rve_and_save_load(cell, trained, tmp_path):
    """Plastic load–unload bending: FE² with the reduced RVE gives the exact FE² reactions to
    3 × tolerance without step cuts, its answers checked after every converged macro step
    and audited; a saved and loaded model gives identical numbers."""
    loads = [0.02, 0.04, 0.0]
    exact = Beam(lambda m: FE2Material(dm.RVE(cell, {1: J2, 2: FIBRE}), m), cells=4)
    r_exact = np.array([h["reaction"] for h in exact.run(loads)])
    runs = {}
    path = trained.save(tmp_path / "reduced.npz")
    for name in ("trained", "loaded"):
        model = trained if name == "trained" else dm.ReducedRVE.load(path, dm.RVE(cell, {1: J2, 2: FIBRE}))
        beam = Beam(lambda m: FE2Material(model, m), cells=4)
        history = beam.run(loads)
        assert all(h["cuts"] == 0 for h in history)
        runs[name] = (np.array([h["reaction"] for h in history]), beam.u.x.array.copy())
        stats = beam.material.stats
        assert stats["reduced"] + stats["fallback"] > 0
        assert stats["checked"] > 0 and stats["audited"] > 0 and 0 < stats["audit_bound"] <= 1
    r_red = runs["trained"][0]
    assert np.abs(r_red - r_exact).max() <= 3 * trained.tolerance * np.abs(r_exact).max()
    assert np.array_equal(runs["trained"][0], runs["loaded"][0]) and np.array_equal(runs["trained"][1], runs["loaded"][1])


def test_bad_input(cell, trained, tmp_path):
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    with pytest.raises(ValueError, match="strain_amplitude"):
        dm.ReducedRVE.train(rve, strain_amplitude=-1.0)
    for bad in (0.0, -1e-3, float("nan"), 1.5):
        with pytest.raises(ValueError, match="tolerance"):
            dm.ReducedRVE.train(rve, tolerance=bad)
    with pytest.raises(ValueError, match="basis must have shape"):
        dm.ReducedRVE(rve, np.ones((3, 2)), 1e-3)
    with pytest.raises(ValueError, match="tolerance"):
        dm.ReducedRVE(rve, np.ones((rve.w.x.array.size, 1)), -1.0)
    with pytest.raises(ValueError, match="linear"):
        dm.ReducedRVE(dm.RVE(cell, {1: FIBRE, 2: FIBRE}), np.ones((rve.w.x.array.size, 1)), 1e-3)
    other = dm.RVE(dm.microstructures.circular_inclusion(0.3, h=0.1, comm=MPI.COMM_SELF), {1: J2, 2: FIBRE})
    with pytest.raises(ValueError, match="trained on another cell"):
        dm.ReducedRVE.load(trained.save(tmp_path / "m.npz"), other)
    with pytest.raises(ValueError, match="over twice the cell volume"):  # an ill-conditioned cubature
        trained.set_cubature(trained.points[:2], np.array([1.0, 1e12]))
    (tmp_path / "junk.npz").write_text("not a model")
    with pytest.raises(ValueError, match="not a reduced RVE model"):
        dm.ReducedRVE.load(tmp_path / "junk.npz", rve)


@pytest.mark.parametrize("bc", ["kubc", "subc"])
def test_other_boundary_conditions(cell, bc):
    """KUBC and SUBC cells (the modes satisfy w = 0 on ∂Y, resp. ⟨B(w)⟩ = 0, being
    combinations of solutions): the reduced RVE with fallback stays within the tolerance
    of the full RVE along a load–unload path, and the reduced model answers some steps."""
    materials = {1: J2, 2: FIBRE}
    model = dm.ReducedRVE.train(dm.RVE(cell, materials, bc=bc), tolerance=1e-3, strain_amplitude=0.02, paths=4,
                                steps=3, validation_paths=2)
    path = [np.array([0.004, -0.001, 0.002]) * k for k in (1, 2, 3, 4, 2, 0)]
    rve = dm.RVE(cell, materials, bc=bc)
    reference = np.array([r["Sigma"] for r in load_path(rve, strain_steps(path, 3), progress=False)])
    errors = np.abs(reduced_path(model, path) - reference).max(axis=1) / np.abs(reference).max()
    assert errors.max() <= model.tolerance
    assert model.stats["reduced"] >= 1


def test_clopper_pearson_bound():
    """With no audited answer above the tolerance the one-sided 95 % bound has the closed
    form 1 − 0.05^(1/n); with k of n it is the beta quantile B⁻¹(0.95; k + 1, n − k)."""
    from scipy.stats import beta

    from dolfinx_multiscale.cell.reduced import clopper_pearson_upper

    for n in (1, 10, 300):
        assert abs(clopper_pearson_upper(0, n) - (1 - 0.05 ** (1 / n))) <= 1e-12
    assert abs(clopper_pearson_upper(3, 100) - beta.ppf(0.95, 4, 97)) <= 1e-12
    assert clopper_pearson_upper(0, 0) == 1.0 and clopper_pearson_upper(5, 5) == 1.0


def test_flagged_increments_enrich_the_next_training(cell):
    """A model trained up to |E| = 0.004 and driven (range check off) to |E| ≈ 0.02: the
    check flags points and keeps their increments; trained again with them added, the
    model flags fewer points on the same path, and both stay within the tolerance."""
    options = dict(tolerance=1e-3, strain_amplitude=0.004, paths=4, steps=3, validation_paths=4)
    model = dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), **options)
    path = [np.array([0.004, -0.001, 0.002]) * k for k in range(1, 6)]
    reference = full_path(cell, path)
    flagged = []
    for m in (model, None):
        if m is None:
            m = dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), user_paths=model.fallback_paths, **options)
        m.strain_range = None
        errors = np.linalg.norm(reduced_path(m, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
        assert errors.max() <= m.tolerance
        flagged.append(m.stats["flagged"])
    assert flagged[0] >= 1 and len(model.fallback_paths) == flagged[0]
    assert flagged[1] < flagged[0]


def test_three_dimensional_cell():
    """A 3-D cell: the full space and all points reproduce the full RVE to 1e-10 along a
    J2 load–unload path; a hyper-reduced model (fewer cubature than micro points) with
    fallback stays within 3 × its tolerance of it (the bound s η is statistical: ≥ 95 %
    of held-out steps, not every step)."""
    cell3 = dm.microstructures.spherical_inclusion(0.2, h=0.4, comm=MPI.COMM_SELF)
    materials = {1: J2, 2: FIBRE}
    rve = dm.RVE(cell3, materials)
    path = [np.array([0.004, -0.001, -0.001, 0.001, 0.0, 0.002]) * k for k in (1, 2, 3, 1)]
    steps = [LoadStep(E, np.zeros(6), np.zeros(6, dtype=bool)) for E in path]
    reference = np.array([r["Sigma"] for r in load_path(dm.RVE(cell3, materials), steps, progress=False)])
    indptr, indices, values = rve.constraint.P.getValuesCSR()
    P = sp.csr_matrix((values, indices, indptr), shape=rve.constraint.P.getSize()).toarray()
    full = dm.ReducedRVE(rve, P, tolerance=1.0)
    full.shortcut = full.fallback = False
    assert np.abs(reduced_path(full, path) - reference).max() <= 1e-10 * np.abs(reference).max()
    model = dm.ReducedRVE.train(dm.RVE(cell3, materials), tolerance=1e-2, strain_amplitude=0.02, paths=6, steps=3,
                                validation_paths=6)
    assert model.cubature_points < rve.discretisation.n_points
    errors = np.linalg.norm(reduced_path(model, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert errors.max() <= 3 * model.tolerance and model.stats["reduced"] >= 1
