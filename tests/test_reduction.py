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
from dolfinx_multiscale.cell.sampling import training_paths
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
    no fallback, its Newton as tight as the RVE's) gives the full Σ to 1e-10 along a J2
    load–unload–reverse path."""
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    indptr, indices, values = rve.constraint.P.getValuesCSR()
    P = sp.csr_matrix((values, indices, indptr), shape=rve.constraint.P.getSize()).toarray()
    model = dm.ReducedRVE(rve, P, tolerance=1.0, newton_rtol=1e-10)
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


def test_training_cuts_the_check_iterations_only_while_the_estimate_stays_sharp(trained):
    """Training tries fewer CG iterations for the check's estimate and keeps the fewest
    whose ``s_k η_k`` stays within ``CHECK_SHARPNESS`` of the 4 iterations' on 90 % of the
    validation steps: the recorded tries follow that rule, the safety factor is the 99 %
    quantile of the effectivities of the chosen estimate, and the iterations reach the
    check (η of one plastic step differs between 1 and 4 iterations)."""
    from dolfinx_multiscale.cell.training import CHECK_SHARPNESS, SAFETY_QUANTILE

    model = trained
    info, k = model.info, model.check_iterations
    assert info["check_iterations"] == k and info["check_cuts"]  # at least 3 iterations was tried
    for tried in info["check_cuts"]:
        assert (tried["sharpness"] <= CHECK_SHARPNESS) == (tried["iterations"] >= k)
    assert [t["iterations"] for t in info["check_cuts"]] == list(range(3, max(k - 1, 1) - 1, -1))
    assert model.safety == pytest.approx(max(1.0, np.quantile(info["effectivity"], SAFETY_QUANTILE)), rel=1e-12)
    eta = {}
    try:
        for iterations in (1, 4):
            model.check_iterations = iterations
            model.committed_state = {}
            model.solve(np.array([0.012, -0.004, 0.003]), tangent=False)
            model.commit()
            eta[iterations] = float(model.committed_state["indicator"])
    finally:
        model.check_iterations = k
    assert abs(eta[1] - eta[4]) > 0.01 * eta[4] > 0


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
    with pytest.raises(ValueError, match="enrichment_rounds"):
        dm.ReducedRVE.train(rve, enrichment_rounds=-1)
    with pytest.raises(ValueError, match="candidates"):
        dm.ReducedRVE.train(rve, enrichment_rounds=1, candidates=0)
    with pytest.raises(ValueError, match="basis must have shape"):
        dm.ReducedRVE(rve, np.ones((3, 2)), 1e-3)
    with pytest.raises(ValueError, match="tolerance"):
        dm.ReducedRVE(rve, np.ones((rve.w.x.array.size, 1)), -1.0)
    with pytest.raises(ValueError, match="newton_rtol"):
        dm.ReducedRVE(rve, np.ones((rve.w.x.array.size, 1)), 1e-3, newton_rtol=0.0)
    for bad in (0, 5, 2.0):
        with pytest.raises(ValueError, match="check_iterations"):
            dm.ReducedRVE(rve, np.ones((rve.w.x.array.size, 1)), 1e-3, check_iterations=bad)
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
    """A model trained up to |E| = 0.004 and driven (range checks off) to |E| ≈ 0.02: the
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
        m.strain_range, m.history_range = None, {}
        errors = np.linalg.norm(reduced_path(m, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
        assert errors.max() <= m.tolerance
        flagged.append(m.stats["flagged"])
    assert flagged[0] >= 1 and len(model.fallback_paths) == flagged[0]
    assert flagged[1] < flagged[0]


def test_three_dimensional_cell(monkeypatch):
    """A 3-D cell: the full space and all points reproduce the full RVE to 1e-10 along a
    J2 load–unload path; a hyper-reduced model (fewer cubature than micro points) with
    fallback stays within 3 × its tolerance of it (the bound s η is statistical: ≥ 95 %
    of held-out steps, not every step), and its reduced stiffness from J2's tangent parts
    equals the two batched products (Σ, C, ∂q/∂E at plastic points to 1e-12)."""
    cell3 = dm.microstructures.spherical_inclusion(0.2, h=0.4, comm=MPI.COMM_SELF)
    materials = {1: J2, 2: FIBRE}
    rve = dm.RVE(cell3, materials)
    path = [np.array([0.004, -0.001, -0.001, 0.001, 0.0, 0.002]) * k for k in (1, 2, 3, 1)]
    steps = [LoadStep(E, np.zeros(6), np.zeros(6, dtype=bool)) for E in path]
    reference = np.array([r["Sigma"] for r in load_path(dm.RVE(cell3, materials), steps, progress=False)])
    indptr, indices, values = rve.constraint.P.getValuesCSR()
    P = sp.csr_matrix((values, indices, indptr), shape=rve.constraint.P.getSize()).toarray()
    full = dm.ReducedRVE(rve, P, tolerance=1.0, newton_rtol=1e-10)
    full.shortcut = full.fallback = False
    assert np.abs(reduced_path(full, path) - reference).max() <= 1e-10 * np.abs(reference).max()
    model = dm.ReducedRVE.train(dm.RVE(cell3, materials), tolerance=1e-2, strain_amplitude=0.02, paths=6, steps=3,
                                validation_paths=6)
    assert model.cubature_points < rve.discretisation.n_points
    errors = np.linalg.norm(reduced_path(model, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert errors.max() <= 3 * model.tolerance and model.stats["reduced"] >= 1

    from dolfinx_multiscale.cell import galerkin

    E = 0.01 * np.random.default_rng(5).uniform(-1, 1, size=(6, 6))
    committed = model.initial_state(6)
    answers = []  # (the packed map is not used in 3-D: more flops than the batched products)
    for parts in (True, False):
        if not parts:
            monkeypatch.delattr(dm.J2Plasticity, "update_in_parts")
        cell = galerkin.HyperReducedCell(model.rve, model.basis, (model.points, model.weights), model.galerkin.rtol)
        assert cell.structured_stiffness == parts and not cell.packed_stiffness
        answers.append(cell.solve(E, committed, cell.predict(E, committed, tangent=False)))
    assert answers[0][6].all() and (answers[0][5] >= 1).all()  # converged after iterating: plastic
    for x, y in zip(answers[0][:5], answers[1][:5]):  # Σ, C, Σ33, q, ∂q/∂E
        assert np.abs(x - y).max() <= 1e-12 * np.abs(y).max()


def test_history_beyond_training_goes_to_the_full_rve(cell, trained):
    """Cycling at 0.8 × the largest training strain (the strain range check never fires)
    accumulates J2's plastic strain: the steps whose history at the cubature points exceeds
    COVERAGE × the training's largest value there — counted on the full RVE along the
    same path — are exactly the ones the cheap history check sends to the full RVE, and
    every step stays within the tolerance of the full RVE."""
    from dolfinx_multiscale.cell.reduced import COVERAGE

    model = trained
    limit = COVERAGE * model.history_range["1:p"]
    d = np.array([1.0, -1.0, 0.5]) / 1.5
    path = [(-1) ** k * 0.8 * model.strain_range * d for k in range(8)]
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    columns = rve.laws.subset(model.points)[1]["1:p"]
    reference, p = [], []
    for E in path:
        reference.append(rve.solve(E, tangent=False)[0])
        rve.commit()
        p.append(rve.committed_state["1:p"][columns].max())
    ratio = np.array(p) / limit
    assert np.all(np.diff(p) > 0) and np.all(np.abs(ratio - 1) > 0.1)  # every step plastic, none borderline
    before = dict(model.stats)
    errors = np.linalg.norm(reduced_path(model, path) - reference, axis=1) / np.linalg.norm(reference, axis=1)
    counts = {k: model.stats[k] - before[k] for k in ("reduced", "fallback", "uncovered", "shortcut")}
    beyond = int((ratio > 1).sum())
    assert 2 <= beyond < len(path)
    assert counts["uncovered"] == beyond and counts["fallback"] >= beyond and counts["shortcut"] == 0
    assert counts["reduced"] + counts["fallback"] == len(path)
    assert errors.max() <= model.tolerance


def test_model_file_without_history_range_loads(cell, trained, tmp_path):
    """A model file of an older version (no ``history_range``, no ``check_iterations``)
    loads, without the history check (nothing sent to the full RVE by it along a path far
    beyond the training's history) and with the check's CG iterations it was trained with
    (4); a saved model keeps its range and its check's iterations."""
    from dolfinx_multiscale.cell.galerkin import CG_ITERATIONS

    trained.check_iterations, kept = 2, trained.check_iterations  # not what the old files had
    try:
        saved = trained.save(tmp_path / "new.npz")
    finally:
        trained.check_iterations = kept
    again = dm.ReducedRVE.load(saved, dm.RVE(cell, {1: J2, 2: FIBRE}))
    assert again.history_range == trained.history_range and again.check_iterations == 2
    with np.load(saved) as data:
        old = {k: data[k] for k in data.files if k not in ("history_range", "check_iterations")}
    np.savez(tmp_path / "old.npz", **old)
    model = dm.ReducedRVE.load(tmp_path / "old.npz", dm.RVE(cell, {1: J2, 2: FIBRE}))
    assert model.history_range == {} and model.modes == trained.modes
    assert model.check_iterations == CG_ITERATIONS == 4
    d = np.array([1.0, -1.0, 0.5]) / 1.5
    reduced_path(model, [(-1) ** k * 0.8 * model.strain_range * d for k in range(6)])
    assert model.stats["uncovered"] == 0 and model.stats["reduced"] + model.stats["fallback"] == 6


def test_enrichment_rounds_fix_an_undertrained_model(cell):
    """Trained on 3 paths only, the model misses some held-out loads (one-step radial and
    two-step non-proportional, not among the candidates) by more than its tolerance — the
    full RVE says so, and its indicator s η flags each of them; two greedy enrichment
    rounds over 64 candidate loads (at most ENRICHMENT_BATCH added per round) bring every
    held-out load within half the tolerance of the full RVE."""
    from dolfinx_multiscale.cell.sampling import candidate_loads
    from dolfinx_multiscale.cell.training import ENRICHMENT_BATCH, indicators

    options = dict(tolerance=1e-2, strain_amplitude=0.024, paths=3, steps=3, validation_paths=6, candidates=64)
    held_out = candidate_loads(3, 0.024, 24, seed=11)
    rve = dm.RVE(cell, {1: J2, 2: FIBRE})
    virgin, reference = dict(rve.committed_state), []
    for load in held_out:
        rve.committed_state = virgin
        for E in load:
            Sigma, _ = rve.solve(E, tangent=False)
            rve.commit()
        reference.append(Sigma)
    reference = np.array(reference)
    errors = {}
    for rounds in (0, 2):
        model = dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), enrichment_rounds=rounds, **options)
        model.fallback, answers = False, []
        for load in held_out:
            answers.append(reduced_path(model, load)[-1])
        errors[rounds] = np.linalg.norm(np.array(answers) - reference, axis=1) / np.linalg.norm(reference, axis=1)
        if rounds == 0:
            assert np.all(indicators(model, held_out)[errors[0] > model.tolerance] > model.tolerance)
    assert errors[0].max() > options["tolerance"] and errors[2].max() <= options["tolerance"] / 2
    record = model.info["enrichment"]
    assert record["candidates"] == 64 and 1 <= record["added"] <= 2 * ENRICHMENT_BATCH
    assert all(r["added"] == min(r["above"], ENRICHMENT_BATCH) for r in record["rounds"])


def test_reduced_stiffness_packed_and_from_tangent_parts_equal_the_batched_products(cell, trained, monkeypatch):
    """The reduced stiffness three ways — one product with the packed map of the symmetric
    tangent changes (2-D, the default), from J2's tangent changes in parts (``−a P −
    b m⊗m``: where the packed map is not used, 3-D), and the two batched products (laws
    without ``update_in_parts`` and non-symmetric ones) — give the same Σ, macro tangent
    and ∂q/∂E at plastic points to 1e-12."""
    from dolfinx_multiscale.cell import galerkin

    E = 0.01 * np.random.default_rng(3).uniform(-1, 1, size=(8, 3))  # 2-4x first yield: plastic
    committed = trained.initial_state(8)
    cubature = (trained.points, trained.weights)

    def solve():
        model = galerkin.HyperReducedCell(trained.rve, trained.basis, cubature, trained.galerkin.rtol)
        q0 = model.predict(E, committed, tangent=False)
        return model, model.solve(E, committed, q0)

    packed, a = solve()
    monkeypatch.setattr(galerkin, "PACKED_BYTES", 1 << 20)  # the part's packed map: 1.7 MB, the parts' 0.3 MB
    structured, b = solve()
    monkeypatch.delattr(dm.J2Plasticity, "update_in_parts")
    batched, c = solve()
    assert packed.packed_stiffness and not packed.structured_stiffness
    assert structured.structured_stiffness and not structured.packed_stiffness
    assert not (batched.packed_stiffness or batched.structured_stiffness)
    assert a[6].all() and (a[5] >= 1).all()  # converged, plastic: the reduced stiffness was used
    for x, y, z in zip(a[:5], b[:5], c[:5]):  # Σ, C, Σ33, q, ∂q/∂E
        assert np.abs(x - z).max() <= 1e-12 * np.abs(z).max()
        assert np.abs(y - z).max() <= 1e-12 * np.abs(z).max()


def test_check_with_tangents_in_parts_equals_the_full_tangents(trained):
    """The check's Galerkin estimate with J2's tangents in parts (the 3-D default) and with
    the full tangent arrays (the 2-D default) gives the same errors (1e-12) and the same
    reconstructed states at plastic points."""
    model = trained.galerkin
    E = 0.01 * np.random.default_rng(9).uniform(-1, 1, size=(6, 3))
    committed = trained.initial_state(6)
    q = model.solve(E, committed, model.predict(E, committed, tangent=False))[3]
    default = model.check_in_parts
    answers = []
    try:
        for parts in (True, False):
            model.check_in_parts = parts
            answers.append(model.reconstruct(E, committed, q, 0.0))
    finally:
        model.check_in_parts = default
    (e1, s1, r1), (e2, s2, r2) = answers
    assert (r1["1:p"] > 0).any() and np.abs(e1 - e2).max() <= 1e-12 * e2.max() and e2.min() > 0
    assert np.array_equal(s1, s2) and all(np.array_equal(r1[k], r2[k]) for k in r2)


def test_tangent_correction_and_its_stress_change_against_a_direct_solve(trained):
    """The check's CG (:func:`~dolfinx_multiscale.cell.tangents.tangent_correction`) with
    enough iterations solves each point's tangent system ``Pᵀ Bᵀ W D B P δ = rhs`` as the
    sparse direct solve of the assembled matrix does (1e-8), and the stress change it sums
    from its own products, ``∫ D ε(δ)``, equals the one of its ``δ`` applied afresh (1e-12,
    for 2 iterations as the check takes and for the converged ones)."""
    from dolfinx_multiscale.cell.tangents import full_tangents, tangent_correction

    rve = trained.rve
    cell, disc = rve.batched_cell, rve.discretisation
    E = 0.012 * np.random.default_rng(4).uniform(-1, 1, size=(3, 3))
    q = trained.galerkin.solve(E, trained.initial_state(3), trained.galerkin.predict(E, trained.initial_state(3),
                                                                                   tangent=False))[3]
    eps = cell.strains(E, q @ trained.galerkin.basis.T)
    sigma, D, _, _ = rve.laws.evaluate_many(eps, trained.initial_state(3))
    rhs = -cell.residuals(sigma)[1]
    tangent = full_tangents(D)
    N, n = disc.n_points, rve.n
    for iterations in (2, 400):
        delta, moment = tangent_correction(cell, tangent, rhs, iterations)
        direct = np.einsum("pim,p->mi", tangent(cell.B @ (cell.Pt.T @ delta)).reshape(N, n, -1), disc.weights)
        assert np.abs(moment - direct).max() <= 1e-12 * np.abs(direct).max()
    assert all((np.abs(D[m] - cell.D_elastic) > 1e-6).any() for m in range(len(E)))  # plastic: not D_el
    for m in range(len(E)):
        weighted = disc.weights[:, None, None] * D[m]
        Dm = sp.bsr_matrix((weighted, np.arange(N), np.arange(N + 1)), shape=(N * n, N * n))
        K = (cell.Pt @ (cell.B.T @ (Dm @ cell.B)) @ cell.Pt.T).tocsc()
        exact = sp.linalg.spsolve(K, rhs[:, m])
        assert np.linalg.norm(delta[:, m] - exact) <= 1e-8 * np.linalg.norm(exact)


def test_check_with_a_reference_stress_per_point_equals_single_points(cell, trained):
    """The check with one σ_ref per point (training validates many paths at once this way)
    gives every point the Σ and the indicator η of its own single-point solve with that
    σ_ref (Σ to 1e-12, η to 1e-9: its CG sums in another order); the σ_ref matter here
    (η differs between them by > 10 %)."""
    model = trained
    E = np.array([[0.012, -0.004, 0.003], [0.012, -0.004, 0.003], [-0.006, 0.01, 0.004], [0.002, 0.002, 0.011]])
    references = np.array([0.0, 0.05, 0.0, 0.08])
    model.fallback, model.audit = False, 0
    try:
        state = model.initial_state(len(E))
        Sigma, _, trial = model.update(E, state, need_tangent=False)
        model.check_converged(E, state, trial, references)
        assert np.all(trial["reduced"] > 0)
        for i, reference in enumerate(references):
            model.committed_state, model.reference_stress = {}, reference
            single, _ = model.solve(E[i], tangent=False)
            model.commit()
            assert np.abs(single - Sigma[i]).max() <= 1e-12 * np.abs(Sigma[i]).max()
            assert abs(model.committed_state["indicator"] - trial["indicator"][i]) <= 1e-9 * trial["indicator"][i]
    finally:
        model.fallback, model.audit, model.reference_stress = True, 2, 0.0
    assert trial["indicator"][0] > 1.1 * trial["indicator"][1]


def test_first_yield_strain_of_a_homogeneous_cell_is_the_closed_form(cell, monkeypatch):
    """A cell whose phases share one J2 law has no strain localization: a macro strain
    ``a d`` (``‖d‖ = 1``, plane strain) first yields at ``a = σ_y0 / (√6 μ ‖dev d‖)``; the
    training's first-yield strain is the median of that over its directions (to the
    bisection's 1e-5), by the laws' trial test and, without it, by the full law on the
    heterogeneous cell alike (same value to 1e-5)."""
    from dolfinx_multiscale.cell.sampling import directions, first_yield_strain

    mu = J2.E / (2 * (1 + J2.nu))
    d = directions(3, 64, np.random.default_rng(0))
    full = np.column_stack([d[:, 0], d[:, 1], np.zeros(len(d))])  # the normal components, ε33 = 0
    dev = np.hypot(np.linalg.norm(full - full.mean(axis=1, keepdims=True), axis=1), d[:, 2])
    expected = np.median(J2.sy0 / (np.sqrt(6) * mu * dev))
    homogeneous = first_yield_strain(dm.RVE(cell, {1: J2, 2: J2}))
    assert homogeneous == pytest.approx(expected, rel=2e-5)
    trial = first_yield_strain(dm.RVE(cell, {1: J2, 2: FIBRE}))
    monkeypatch.delattr(dm.J2Plasticity, "elastic_trial")
    assert first_yield_strain(dm.RVE(cell, {1: J2, 2: FIBRE})) == pytest.approx(trial, rel=2e-5)
    assert trial < 0.9 * homogeneous  # the stiff fibre concentrates the matrix strain
