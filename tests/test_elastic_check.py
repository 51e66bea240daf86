"""The elastic check of FE² (issue 23, item 4): J2's trial yield function against its return
mapping, and the batched check of an RVE against the per-point micro Newton."""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.materials.viscoelasticity import GeneralizedMaxwell

COMM = MPI.COMM_SELF
FIBRE = dm.LinearElastic(E=10.0, nu=0.25)


@pytest.fixture(scope="module")
def cell2d():
    return dm.microstructures.circular_inclusion(0.3, h=0.15, comm=COMM)


@pytest.fixture(scope="module")
def cell3d():
    return dm.microstructures.spherical_inclusion(0.2, h=0.4, comm=COMM)


@pytest.mark.parametrize("n", [3, 6])
@pytest.mark.parametrize("Hk", [0.0, 0.4])
def test_j2_elastic_trial_is_the_return_mappings_elastic_set(n, Hk):
    """``elastic_trial`` is True exactly where the return mapping leaves the history
    unchanged (and then its stress is the trial stress and its tangent ``C``), from
    plastic states, in 2-D plane strain and 3-D, with kinematic hardening; points on the
    yield surface (the strain of their last plastic step again) count as elastic."""
    law = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05, Hk=Hk)
    rng = np.random.default_rng(3)
    N = 4000
    eps_n = 6e-3 * rng.standard_normal((N, n))
    _, _, state = law.update(eps_n, law.initial_state(N), False)
    assert (state["p"] > 0).mean() > 0.5
    assert law.elastic_trial(eps_n, state).all()  # on the surface, no load change: elastic
    eps = eps_n + 3e-3 * rng.standard_normal((N, n))
    trial = law.elastic_trial(eps, state)
    sigma, C, new = law.update(eps, state, True)
    unchanged = (new["p"] == state["p"]) & (new["eps_p"] == state["eps_p"]).all(axis=1)
    assert 0.1 < trial.mean() < 0.9
    assert np.array_equal(trial, unchanged)
    assert np.array_equal(C[trial], np.broadcast_to(law.stiffness(2 if n == 3 else 3), C[trial].shape))
    with pytest.raises(ValueError, match="shape"):
        law.elastic_trial(np.zeros((2, 4)), law.initial_state(2))


def _load_unload(n, n_points, seed):
    """Macro strains ``(n,)`` of ``n_points`` points along a random load–unload–reload
    path ``(steps, n_points, n)`` (amplitudes around the cell's first yield)."""
    rng = np.random.default_rng(seed)
    direction = rng.uniform(-1, 1, size=(n_points, n))
    factors = np.array([0.6, 1.2, 0.9, 0.2, -0.5, -0.55])[:, None, None]
    wobble = 2e-4 * rng.uniform(-1, 1, size=(len(factors), n_points, n))
    return 8e-3 * factors * direction + wobble


@pytest.mark.parametrize("bc, dim, N", [("periodic", 2, 40), ("subc", 2, 40), ("periodic", 3, 24)])
def test_check_accepts_exactly_the_points_whose_micro_solution_stays_elastic(cell2d, cell3d, bc, dim, N,
                                                                             monkeypatch):
    """Along a J2 load–unload path of random macro points, from the exact committed
    states: the check accepts exactly the points whose exact micro solution (the micro
    Newton of ``RVE(batch=False)``) has Δp = 0 everywhere, nearly all without the full
    evaluation; their Σ equals the exact one to 1e-12, their tangent is ``C_eff``, and
    their records (fluctuation, energy, micro work, σ33) the exact ones. Both stages of
    the check decide (in 2-D too, where they are not used by default): candidates yield
    at the sentinel points (the largest localization) and, in the periodic 2-D case, some
    only at the rest (elsewhere the sentinels caught every yielding candidate)."""
    from dolfinx_multiscale.cell import batch

    monkeypatch.setattr(batch, "SENTINEL_MIN_COST", 0 if dim == 2 else batch.SENTINEL_MIN_COST)
    mats = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05, Hk=0.02), 2: FIBRE}
    cell = cell2d if dim == 2 else cell3d
    exact = dm.RVE(cell, mats, bc=bc, batch=False, rtol=1e-12)
    checked = dm.RVE(cell, mats, bc=bc, rtol=1e-12)
    cell = checked.batched_cell
    assert cell.checked
    full_points = []
    full_candidates = cell.full_candidates

    def counting(strain, state):  # the points the check handed to the full evaluation
        full_points.append(len(strain))
        return full_candidates(strain, state)

    cell.full_candidates = counting
    rejected = {"sentinel": 0, "rest": 0}
    trial_many = cell.laws.elastic_trial_many

    def trial_counting(tag, eps, committed, positions=None):
        ok = trial_many(tag, eps, committed, positions)
        rejected["sentinel" if positions is not None else "rest"] += int((~ok).sum())
        return ok

    cell.laws.elastic_trial_many = trial_counting
    C_eff = checked.effective_tensor()
    state = exact.initial_state(N)
    accepted_total = yielded_total = 0
    for E in _load_unload(exact.n, N, seed=7):
        s_ex, C_ex, new_ex = exact.update(E, state)
        s_ch, C_ch, new_ch = checked.update(E, state)
        elastic = ((new_ex["1:p"] == state["1:p"]).all(axis=1)
                   & (new_ex["1:eps_p"] == state["1:eps_p"]).all(axis=(1, 2)))
        accepted = new_ch["elastic_shortcut"] == 1
        assert np.array_equal(accepted, elastic)
        scale = np.abs(s_ex).max()
        assert np.abs(s_ch[accepted] - s_ex[accepted]).max(initial=0) <= 1e-12 * scale
        assert (C_ch[accepted] == C_eff).all()
        assert np.abs(C_ex[accepted] - C_eff).max(initial=0) <= 1e-12 * np.abs(C_eff).max()
        assert np.abs(new_ch["Sigma"][accepted] - s_ex[accepted]).max(initial=0) <= 1e-12 * scale
        w_scale = np.abs(new_ex["w"]).max()
        assert np.abs(new_ch["w"][accepted] - new_ex["w"][accepted]).max(initial=0) <= 1e-10 * w_scale
        for key in ("free_energy", "micro_work", "sigma33"):
            ref = new_ex[key][accepted]
            assert np.abs(new_ch[key][accepted] - ref).max(initial=0) <= 1e-9 * np.abs(new_ex[key]).max(), key
        assert (new_ch["step_dissipation"][accepted] == 0).all() and (new_ex["step_dissipation"][accepted] == 0).all()
        accepted_total += accepted.sum()
        yielded_total += (~accepted).sum()
        state = {k: v.copy() for k, v in new_ex.items()}
    assert accepted_total >= N and yielded_total >= N
    assert sum(full_points) <= 0.2 * accepted_total  # the check itself decided nearly all
    assert rejected["sentinel"] > 0 and ((bc, dim) != ("periodic", 2) or rejected["rest"] > 0), rejected


def test_inherited_residual_gets_the_elastic_correction(cell2d):
    """A committed state whose residual is above the tolerance (here: its fluctuation
    perturbed, its stored residual and Σ those of the perturbed state) is not accepted
    by the check alone: the full evaluation corrects it with one elastic Newton
    iteration, and Σ is the micro Newton's from the same state."""
    mats = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05), 2: FIBRE}
    exact = dm.RVE(cell2d, mats, batch=False, rtol=1e-12)
    checked = dm.RVE(cell2d, mats, rtol=1e-12)
    cell = checked.batched_cell
    rng = np.random.default_rng(11)
    E0 = 2e-3 * rng.uniform(-1, 1, size=(6, 3))  # elastic everywhere
    _, _, state = exact.update(E0, exact.initial_state(6))
    state = {k: v.copy() for k, v in state.items()}
    state["w"] += 1e-5 * (rng.uniform(-1, 1, size=(6, 3)) @ cell.W_elastic)  # admissible, off equilibrium
    eps = cell.strains(state["E"], state["w"])
    sigma = checked.laws.update_many(eps, state, cell.D_elastic)[0]
    _, _, state["residual"], state["residual_scale"] = cell.residuals(sigma)
    state["Sigma"] = np.einsum("mpi,p->mi", sigma, checked.weights) / checked.volume
    assert (state["residual"] > 1e-6 * state["residual_scale"]).all()
    E1 = 0.5 * E0
    s_ex, _, new_ex = exact.update(E1, state)
    s_ch, _, new_ch = checked.update(E1, state)
    assert (new_ch["elastic_shortcut"] == 1).all() and (new_ch["newton_iterations"] == 1).all()
    assert np.abs(s_ch - s_ex).max() <= 1e-12 * np.abs(s_ex).max()
    assert (new_ch["residual"] <= 1e-12 * new_ch["residual_scale"]).all()


def test_laws_without_elastic_trial_take_the_full_evaluation(cell2d):
    """A cell with a rate-dependent phase (no ``elastic_trial``) is not checked; its
    elastic-in-increment points still get the batched full evaluation."""
    visco = GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(2.0, 1.0)], dt=0.1)
    rve = dm.RVE(cell2d, {1: visco, 2: FIBRE}, rtol=1e-12)
    assert not rve.batched_cell.checked
    reference = dm.RVE(cell2d, {1: visco, 2: FIBRE}, batch=False, rtol=1e-12)
    E = 1e-3 * np.random.default_rng(0).uniform(-1, 1, size=(5, 3))
    s0, _, _ = reference.update(E, reference.initial_state(5))
    s1, _, new = rve.update(E, rve.initial_state(5))
    assert (new["elastic_shortcut"] == 1).all()
    assert np.abs(s1 - s0).max() <= 1e-10 * np.abs(s0).max()


def test_sparse_cholesky_equals_a_dense_solve():
    """The batched cell's elastic solves (MUMPS Cholesky, many right-hand sides at once)
    against LAPACK on the same SPD matrix (a 2-D Laplacian plus a random SPD coupling),
    for a block of right-hand sides in either memory order and a single vector."""
    import scipy.sparse as sp

    from dolfinx_multiscale.linalg import SparseCholesky

    rng = np.random.default_rng(3)
    T = sp.diags([-np.ones(14), 2 * np.ones(15), -np.ones(14)], [-1, 0, 1])
    R = sp.random(225, 225, density=0.01, random_state=4)
    K = (sp.kronsum(T, T) + R @ R.T).tocsr()
    rhs = rng.standard_normal((225, 7))
    exact = np.linalg.solve(K.toarray(), rhs)
    factor = SparseCholesky(K)
    for block in (rhs, np.asfortranarray(rhs)):
        assert np.abs(factor.solve(block) - exact).max() <= 1e-12 * np.abs(exact).max()
    assert np.abs(factor.solve(rhs[:, 2]) - exact[:, 2]).max() <= 1e-12 * np.abs(exact).max()
