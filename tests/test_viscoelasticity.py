"""GeneralizedMaxwell viscoelasticity against analytic solutions, FD and thermodynamics."""

import math

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.studies.references import laminate_stiffness
from dolfinx_multiscale.tensors import isotropic_stiffness, lame_parameters
from dolfinx_multiscale.materials.viscoelasticity import GeneralizedMaxwell

IN_PLANE = [0, 1, 5]


def two_branch():
    return GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(3.0, 0.7), (0.8, 0.2, 5.0)])


def iso(E, nu, dim=3):
    return isotropic_stiffness(*lame_parameters(E, nu), dim)


def random_state(mat, n, rng, scale=1e-2):
    st = mat.initial_state(n)
    st["eps"] = rng.normal(scale=scale, size=(n, 6))
    st["alpha"] = rng.normal(scale=scale, size=(n, mat.n_branches, 6))
    return st


def test_relaxation_under_constant_strain_is_exact():
    """A strain step at t = 0 (dt = 0: glassy jump), then hold: σ(t) = (C∞ + Σ C_i e^{-t/τ_i}) ε0."""
    mat = two_branch()
    C_inf, C1, C2 = iso(1.0, 0.3), iso(3.0, 0.3), iso(0.8, 0.2)
    eps0 = np.array([[1e-2, -2e-3, 5e-3, 1e-3, 0.0, 4e-3]])
    mat.dt = 0.0
    sig, _, state = mat.update(eps0, mat.initial_state(1))
    assert np.allclose(sig[0], (C_inf + C1 + C2) @ eps0[0], rtol=1e-14, atol=0)
    t = 0.0
    for dt in [0.05, 0.3, 0.3, 1.0, 2.5, 10.0]:  # any step sizes: exact for constant strain
        mat.dt = dt
        t += dt
        sig, _, state = mat.update(eps0, state)
        exact = (C_inf + C1 * math.exp(-t / 0.7) + C2 * math.exp(-t / 5.0)) @ eps0[0]
        assert np.allclose(sig[0], exact, rtol=1e-13, atol=1e-16)
        assert np.allclose(mat.relaxation_stiffness(t) @ eps0[0], exact, rtol=1e-14)
    mat.dt = math.inf  # fully relaxed
    sig, _, _ = mat.update(eps0, state)
    assert np.allclose(sig[0], C_inf @ eps0[0], rtol=1e-14)


def test_plane_strain_is_the_in_plane_part_of_3d():
    mat = two_branch()
    rng = np.random.default_rng(1)
    st = random_state(mat, 7, rng)
    st["eps"][:, [2, 3, 4]] = 0.0  # a plane-strain history
    e2 = rng.normal(scale=1e-2, size=(7, 3))
    e3 = np.zeros((7, 6))
    e3[:, IN_PLANE] = e2
    mat.dt = 0.4
    s2, t2, tr2 = mat.update(e2, st)
    s3, t3, tr3 = mat.update(e3, st)
    assert np.allclose(s2, s3[:, IN_PLANE], rtol=0, atol=1e-16)
    assert np.allclose(t2, t3[:, IN_PLANE][:, :, IN_PLANE], rtol=0, atol=1e-15)
    assert np.allclose(tr2["sigma33"], s3[:, 2], rtol=0, atol=1e-16)
    assert np.allclose(mat.free_energy(e2, tr2), mat.free_energy(e3, tr3), rtol=1e-14)


def test_strain_ramp_is_exact():
    """ε = r t: σ = C∞ r t + Σ C_i r τ_i (1 − e^{−t/τ_i}), exact for any dt."""
    mat = GeneralizedMaxwell.standard_linear_solid(E_inf=2.0, E_1=5.0, tau=0.5, nu=0.25)
    rate = np.array([1e-3, -3e-4, 0.0, 0.0, 2e-4, 0.0])
    C_inf, C1 = iso(2.0, 0.25), iso(5.0, 0.25)
    state, t = mat.initial_state(1), 0.0
    for dt in [0.1, 0.7, 0.02, 3.0]:
        mat.dt = dt
        t += dt
        sig, _, state = mat.update((rate * t)[None], state)
        exact = C_inf @ rate * t + C1 @ rate * 0.5 * (1 - math.exp(-t / 0.5))
        assert np.allclose(sig[0], exact, rtol=1e-13)


def test_creep_under_constant_stress_second_order():
    """Uniaxial stress σ0 (3-D, common ν): ε11(t) = σ0 J(t), the SLS creep compliance
    J(t) = 1/E∞ − E1/(E∞(E∞+E1)) e^{−t/τ_c}, τ_c = τ (E∞+E1)/E∞. The exponential
    integrator assumes linear strain in a step: error O(dt²)."""
    E_inf, E1, tau, nu, s0 = 1.0, 3.0, 1.0, 0.3, 0.01
    mat = GeneralizedMaxwell.standard_linear_solid(E_inf, E1, tau, nu)
    tau_c = tau * (E_inf + E1) / E_inf

    def creep(n_steps, t_end=3.0):
        state = mat.initial_state(1)
        eps = np.zeros(6)
        target = np.array([s0, 0, 0, 0, 0, 0])
        out = []
        for k, dt in enumerate([0.0] + [t_end / n_steps] * n_steps):
            mat.dt = dt
            for _ in range(3):  # affine in ε: one Newton step is exact; check it
                sig, tan, trial = mat.update(eps[None], state)
                eps = eps - np.linalg.solve(tan[0], sig[0] - target)
            sig, _, trial = mat.update(eps[None], state)
            assert np.allclose(sig[0], target, rtol=0, atol=1e-15)
            state = trial
            out.append(eps[0])
        return np.array(out)

    J = lambda t: 1 / E_inf - E1 / (E_inf * (E_inf + E1)) * np.exp(-t / tau_c)  # noqa: E731
    e_coarse = creep(10)
    e_fine = creep(20)
    assert e_coarse[0] == pytest.approx(s0 / (E_inf + E1), rel=1e-14)  # glassy jump
    err_c = np.abs(e_coarse - s0 * J(np.linspace(0, 3, 11))).max()
    err_f = np.abs(e_fine - s0 * J(np.linspace(0, 3, 21))).max()
    assert err_f < 2e-3 * s0 / E_inf
    assert 3.5 < err_c / err_f < 4.5  # second order
    assert e_fine[-1] == pytest.approx(s0 * J(3.0), rel=1e-3)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("dt", [0.0, 0.05, 1.3, 40.0])
def test_tangent_matches_finite_differences(dim, dt):
    mat = two_branch()
    mat.dt = dt
    rng = np.random.default_rng(2)
    n = 3 if dim == 2 else 6
    st = random_state(mat, 4, rng)
    eps = rng.normal(scale=1e-2, size=(4, n))
    _, T, _ = mat.update(eps, st)
    h = 1e-6
    for k in range(n):
        ep, em = eps.copy(), eps.copy()
        ep[:, k] += h
        em[:, k] -= h
        fd = (mat.update(ep, st, False)[0] - mat.update(em, st, False)[0]) / (2 * h)
        assert np.abs(fd - T[:, :, k]).max() <= 1e-6 * np.abs(T).max()
    assert np.allclose(T, np.swapaxes(T, 1, 2))
    assert np.allclose(T[0], mat.algorithmic_tangent(dt, dim))


@pytest.mark.parametrize("dt", [0.0, 1e-9, 1e-4, 0.02, 0.5, 3.0, 200.0, math.inf])
def test_dissipation_nonnegative_and_energy_balance(dt):
    """D ≥ 0 and the exact step balance ∫σ:ε̇ dt = Δψ + D, the work computed independently
    by 4000 sub-steps (trapezoidal rule on the material's own stress)."""
    mat = two_branch()
    rng = np.random.default_rng(3)
    st = random_state(mat, 50, rng)
    e1 = st["eps"] + rng.normal(scale=1e-2, size=(50, 6))
    mat.dt = dt
    _, _, trial = mat.update(e1, st)
    D = mat.dissipation(st, trial)
    assert D.min() >= 0.0
    dpsi = mat.free_energy(e1, trial) - mat.free_energy(st["eps"], st)
    W = mat.step_work(st, trial)
    assert np.abs(W - dpsi - D).max() <= 1e-13 * np.abs(W).max()
    if 0 < dt < math.inf:
        K = 4000
        mat.dt = dt / K
        s, W_num, D_sum = st, 0.0, 0.0
        sig_prev = np.einsum("ij,pj->pi", iso(1.0, 0.3), st["eps"])
        sig_prev += np.einsum("ij,pj->pi", iso(3.0, 0.3), st["alpha"][:, 0])
        sig_prev += np.einsum("ij,pj->pi", iso(0.8, 0.2), st["alpha"][:, 1])
        de = (e1 - st["eps"]) / K
        for k in range(1, K + 1):
            sig, _, trk = mat.update(st["eps"] + k * de, s, False)
            W_num = W_num + np.einsum("pi,pi->p", 0.5 * (sig + sig_prev), de)
            D_sum = D_sum + mat.dissipation(s, trk)
            s, sig_prev = trk, sig
        assert np.allclose(s["alpha"], trial["alpha"], rtol=0, atol=1e-14)  # same exact path
        assert np.abs(W_num - W).max() <= 1e-5 * np.abs(W).max()  # trapezoid, O((dt/K/τ)²)
        assert np.abs(D_sum - D).max() <= 1e-10 * np.abs(D).max()  # additive over sub-steps


def test_limits_and_elastic_twins():
    mat = two_branch()
    eps = np.array([[1e-2, 3e-3, -2e-3]])
    mat.dt = 0.0
    sig0, _, _ = mat.update(eps, mat.initial_state(1))
    glassy = mat.instantaneous()
    assert np.allclose(sig0, glassy.update(eps, {})[0], rtol=1e-14)
    mat.dt = math.inf
    sig_inf, T_inf, _ = mat.update(eps, mat.initial_state(1))
    assert np.allclose(sig_inf, mat.relaxed().update(eps, {})[0], rtol=1e-14)
    assert np.allclose(T_inf[0], mat.relaxed().matrix(2), rtol=1e-14)
    assert np.allclose(mat.relaxation_stiffness(0.0, 2), glassy.matrix(2), rtol=1e-14)
    elastic = GeneralizedMaxwell(E=2.0, nu=0.2, dt=1.0)  # no branches: linear elasticity
    s, T, st = elastic.update(eps, elastic.initial_state(1))
    assert np.allclose(s[0], iso(2.0, 0.2, 2) @ eps[0])
    assert elastic.dissipation(elastic.initial_state(1), st)[0] == 0


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="E must be > 0"):
        GeneralizedMaxwell(E=0.0, nu=0.3)
    with pytest.raises(ValueError, match="tau_i must be > 0"):
        GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(1.0, 0.0)])
    with pytest.raises(ValueError, match="nu_i must be in"):
        GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(1.0, 0.5, 1.0)])
    with pytest.raises(TypeError, match="branches"):
        GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(1.0,)])
    mat = GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(1.0, 1.0)])
    with pytest.raises(ValueError, match="dt .* is not set"):
        mat.update(np.zeros((1, 3)), mat.initial_state(1))
    with pytest.raises(ValueError, match="dt must be >= 0"):
        mat.dt = -1.0
    with pytest.raises(ValueError, match="dt must be >= 0"):
        mat.dt = float("nan")
    mat.dt = 1.0
    with pytest.raises(ValueError, match="strain must have shape"):
        mat.update(np.zeros((1, 4)), mat.initial_state(1))


# -- the RVE and FE² use it unchanged ---------------------------------------------------
@pytest.fixture(scope="module")
def layers():
    return dm.microstructures.laminate([0.4, 0.6], direction=0, h=0.2, comm=MPI.COMM_SELF)


def test_rve_of_a_homogeneous_viscoelastic_cell_is_the_material(layers):
    mat = two_branch()
    rve = dm.RVE(layers, {1: mat, 2: mat})
    point = mat.initial_state(1)
    rng = np.random.default_rng(4)
    for dt in [0.0, 0.3, 0.3, 2.0]:
        mat.dt = dt
        E = rng.normal(scale=1e-2, size=3)
        Sigma, C = rve.solve(E)
        diss = rve.step_dissipation()
        rve.commit()
        s, T, trial = mat.update(E[None], point)
        assert np.allclose(Sigma, s[0], rtol=1e-10, atol=1e-14)
        assert np.allclose(C, T[0], rtol=1e-10)
        assert diss == pytest.approx(mat.dissipation(point, trial)[0], rel=1e-9, abs=1e-18)
        point = trial


def test_rve_tangent_is_the_laminate_of_algorithmic_tangents(layers):
    """Each step is a linear elastic cell problem with C_alg per phase: the exact laminate
    formula applies to it; the relaxation ends on the relaxed laminate."""
    visco = GeneralizedMaxwell(E=1.0, nu=0.3, branches=[(3.0, 1.0)])
    fibre = dm.LinearElastic(E=10.0, nu=0.25)
    rve = dm.RVE(layers, {1: visco, 2: fibre})
    E = np.array([1e-2, 0.0, 0.0])
    for dt in [0.0, 0.25, 1.0, math.inf]:
        visco.dt = dt
        Sigma, C = rve.solve(E)
        rve.commit()
        exact = laminate_stiffness([visco.algorithmic_tangent(dt, 2), fibre.matrix(2)], [0.4, 0.6], 0, 2)
        assert np.allclose(C, exact, rtol=1e-9)
    relaxed = laminate_stiffness([visco.relaxed().matrix(2), fibre.matrix(2)], [0.4, 0.6], 0, 2)
    assert np.allclose(Sigma, relaxed @ E, rtol=1e-9)
