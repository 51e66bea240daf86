"""Tests of dolfinx_multiscale.materials.plasticity.J2Plasticity against independent references."""

import math

import numpy as np
import pytest

from dolfinx_multiscale.materials.plasticity import J2Plasticity

E, NU, SY0 = 200.0, 0.3, 0.25
IN_PLANE = [0, 1, 5]
MATERIALS = {
    "perfect": dict(H=0.0, Hk=0.0),
    "iso": dict(H=20.0, Hk=0.0),
    "kin": dict(H=0.0, Hk=15.0),
    "mixed": dict(H=10.0, Hk=25.0),
}


def _mat(kind):
    return J2Plasticity(E=E, nu=NU, sy0=SY0, **MATERIALS[kind])


def _random_plastic_state(mat, n, rng, scale=2e-3):
    """A committed state with some (deviatoric) plastic strain and matching p."""
    eps_p = rng.normal(scale=scale, size=(n, 6))
    eps_p[:, :3] -= eps_p[:, :3].mean(axis=1, keepdims=True)
    p = math.sqrt(2.0 / 3.0) * np.linalg.norm(eps_p, axis=1) * (1.0 + rng.random(n))
    st = mat.initial_state(n)
    st["eps_p"], st["p"] = eps_p, p
    return st


def _uniaxial_stress(mat, eps11_path, tol=1e-13):
    """Drive σ22 = σ33 = 0 (shears 0) with a Newton on the lateral strains."""
    state = mat.initial_state(1)
    lat = np.zeros(2)
    out = []
    for e11 in eps11_path:
        for _ in range(50):
            eps = np.array([[e11, lat[0], lat[1], 0.0, 0.0, 0.0]])
            sig, tan, trial = mat.update(eps, state)
            r = sig[0, 1:3]
            if np.linalg.norm(r) < tol * SY0:
                break
            lat -= np.linalg.solve(tan[0, 1:3, 1:3], r)
        else:
            raise AssertionError("uniaxial Newton did not converge")
        state = trial
        out.append(sig[0, 0])
    return np.array(out)


# ------------------------------------------------------------------ references
@pytest.mark.parametrize("kind", ["iso", "kin", "mixed"])
def test_uniaxial_bilinear(kind):
    mat = _mat(kind)
    Hsum = mat.H + mat.Hk
    Et = E * Hsum / (E + Hsum)
    ey = SY0 / E
    path = np.linspace(0.0, 12 * ey, 37)[1:]
    sig = _uniaxial_stress(mat, path)
    ref = np.where(path <= ey, E * path, SY0 + Et * (path - ey))
    np.testing.assert_allclose(sig, ref, rtol=1e-10, atol=1e-12 * SY0)


def test_uniaxial_bauschinger_kinematic():
    """Pure kinematic hardening: reverse yielding at σ_max − 2 σ_y0."""
    mat = _mat("kin")
    Et = E * mat.Hk / (E + mat.Hk)
    ey = SY0 / E
    e_max = 6 * ey
    s_max = SY0 + Et * (e_max - ey)
    up = np.linspace(0, e_max, 13)[1:]
    down = np.linspace(e_max, -e_max, 49)[1:]
    sig = _uniaxial_stress(mat, np.concatenate([up, down]))[len(up) :]
    e_rev = e_max - 2 * SY0 / E  # reverse yield strain
    ref = np.where(down >= e_rev, s_max - E * (e_max - down), s_max - 2 * SY0 - Et * (e_rev - down))
    np.testing.assert_allclose(sig, ref, rtol=1e-10, atol=1e-12 * SY0)


def test_pure_shear_perfect_plasticity_saturates():
    mat = _mat("perfect")
    mu = mat.lame[1]
    state = mat.initial_state(1)
    gam = np.linspace(0, 10 * SY0 / mu, 41)[1:]  # tensor shear strain ε12
    s12 = []
    for g in gam:
        eps = np.zeros((1, 6))
        eps[0, 5] = math.sqrt(2.0) * g
        sig, _, state = mat.update(eps, state)
        s12.append(sig[0, 5] / math.sqrt(2.0))
        np.testing.assert_allclose(sig[0, :5], 0.0, atol=1e-14 * SY0)
    ref = np.minimum(2 * mu * gam, SY0 / math.sqrt(3.0))
    np.testing.assert_allclose(s12, ref, rtol=1e-12)
    assert s12[-1] == pytest.approx(SY0 / math.sqrt(3.0), rel=1e-13)


# ------------------------------------------------------------------ tangent
def _fd_tangent(mat, eps, state, h):
    n = eps.shape[1]
    T = np.empty((eps.shape[0], n, n))
    for j in range(n):
        ep, em = eps.copy(), eps.copy()
        ep[:, j] += h
        em[:, j] -= h
        T[:, :, j] = (
            mat.update(ep, state, need_tangent=False)[0]
            - mat.update(em, state, need_tangent=False)[0]
        ) / (2 * h)
    return T


@pytest.mark.parametrize("kind", list(MATERIALS))
@pytest.mark.parametrize("dim", [2, 3])
def test_consistent_tangent_fd(kind, dim):
    rng = np.random.default_rng(11 + dim)
    mat = _mat(kind)
    n = 3 if dim == 2 else 6
    N = 40
    state = _random_plastic_state(mat, N, rng, scale=0.3 * SY0 / E)
    # Non-proportional increment: from the plastic strain, a random direction and size.
    e_p_in = state["eps_p"][:, IN_PLANE] if dim == 2 else state["eps_p"]
    size = np.geomspace(0.1, 4.0, N)[:, None] * SY0 / E
    eps = e_p_in + size * rng.normal(size=(N, n))
    sig, tan, trial = mat.update(eps, state)
    plastic = trial["p"] > state["p"]
    assert 5 < plastic.sum() < N - 5  # both kinds of points are tested
    T_fd = _fd_tangent(mat, eps, state, h=1e-8 * SY0 / E * 1e3)
    scale = np.linalg.norm(tan, axis=(1, 2))
    err = np.linalg.norm(T_fd - tan, axis=(1, 2)) / scale
    assert err.max() < 1e-6, err.max()
    # associative J2: symmetric tangent; plastic points are softer than C
    np.testing.assert_array_equal(tan, np.swapaxes(tan, 1, 2))
    C = mat.stiffness(dim)
    assert np.all(np.linalg.eigvalsh(C - tan[plastic]) > -1e-9 * E)
    assert np.all(np.linalg.eigvalsh(C - tan[plastic]).max(axis=1) > 1e-3 * E)


@pytest.mark.parametrize("kind", list(MATERIALS))
@pytest.mark.parametrize("dim", [2, 3])
def test_update_in_parts_rebuilds_the_tangent(kind, dim):
    """``update_in_parts`` gives the stress and state of ``update`` (bit for bit) and
    ``D = C − a P − b m⊗m`` with P the deviatoric projector, equal to the consistent
    tangent to 1e-12 at plastic and elastic points of a non-proportional increment; zero at
    elastic points."""
    from dolfinx_multiscale.tensors import deviatoric_projector

    rng = np.random.default_rng(21 + dim)
    mat = _mat(kind)
    n, N = (3 if dim == 2 else 6), 40
    state = _random_plastic_state(mat, N, rng, scale=0.3 * SY0 / E)
    e_p_in = state["eps_p"][:, IN_PLANE] if dim == 2 else state["eps_p"]
    eps = e_p_in + np.geomspace(0.1, 4.0, N)[:, None] * SY0 / E * rng.normal(size=(N, n))
    _, tangent, trial = mat.update(eps, state)
    plastic = trial["p"] > state["p"]
    assert 5 < plastic.sum() < N - 5
    sigma_parts, (a, b, m), trial_parts = mat.update_in_parts(eps, state)
    assert np.array_equal(sigma_parts, mat.update(eps, state, False)[0])
    assert all(np.array_equal(trial_parts[k], trial[k]) for k in trial)
    rebuilt = mat.stiffness(dim) - a[:, None, None] * deviatoric_projector(dim) - b[:, None, None] * (
        m[:, :, None] * m[:, None, :])
    assert np.abs(rebuilt - tangent).max() <= 1e-12 * np.abs(tangent).max()
    assert (a[~plastic] == 0).all() and (b[~plastic] == 0).all() and (a[plastic] > 0).all()
    if dim == 3:  # the flow direction (2-D: its in-plane components only)
        assert np.abs(np.linalg.norm(m[plastic], axis=1) - 1.0).max() <= 1e-14
    # as operators on strain fields of M cells (columns (N n, M)): the parts equal the tangents
    from dolfinx_multiscale.cell.tangents import full_tangents, tangents_in_parts

    M = 4  # the 40 points as 4 cells of 10
    cells = lambda v: v.reshape((M, N // M) + v.shape[1:])  # noqa: E731
    C = np.broadcast_to(mat.stiffness(dim), (N // M, n, n))
    strain = rng.normal(size=(N // M * n, M))
    full = full_tangents(cells(tangent))(strain)
    parts = tangents_in_parts(C, cells(a), cells(b), cells(m), dim)(strain)
    assert np.abs(parts - full).max() <= 1e-12 * np.abs(full).max()


@pytest.mark.parametrize("kind", list(MATERIALS))
def test_tangent_is_symmetric_positive_semidefinite(kind):
    """spd_tangent: the algorithmic tangent is symmetric with the eigenvalues 3κ, 2μθ and
    2μ H_t/(3μ + H_t) (H_t = H + H_k), so PSD (PD when H_t > 0); 2-D blocks too."""
    mat = _mat(kind)
    assert mat.spd_tangent
    rng = np.random.default_rng(5)
    state = _random_plastic_state(mat, 200, rng)
    eps = state["eps_p"] + rng.normal(scale=5e-3, size=(200, 6))
    _, tangent, trial = mat.update(eps, state)
    assert np.any(trial["p"] > state["p"])
    mu = E / (2 * (1 + NU))
    Ht = mat.H + mat.Hk
    for T in (tangent, mat.update(eps[:, IN_PLANE], state)[1]):
        assert np.array_equal(T, np.swapaxes(T, 1, 2))
        lowest = np.linalg.eigvalsh(T).min(axis=1)
        assert lowest.min() >= 2 * mu * Ht / (3 * mu + Ht) - 1e-9 * E


def test_plane_strain_tangent_is_block_of_3d():
    rng = np.random.default_rng(5)
    mat = _mat("mixed")
    state = _random_plastic_state(mat, 30, rng)
    e2 = rng.normal(scale=2 * SY0 / E, size=(30, 3))
    e3 = np.zeros((30, 6))
    e3[:, IN_PLANE] = e2
    s2, t2, tr2 = mat.update(e2, state)
    s3, t3, tr3 = mat.update(e3, state)
    np.testing.assert_array_equal(s2, s3[:, IN_PLANE])
    np.testing.assert_array_equal(t2, t3[:, IN_PLANE][:, :, IN_PLANE])
    for k in tr2:
        np.testing.assert_array_equal(tr2[k], tr3[k])
    np.testing.assert_array_equal(tr2["sigma33"], tr2["sigma"][:, 2])


@pytest.mark.parametrize("dim", [2, 3])
def test_elastic_points(dim):
    rng = np.random.default_rng(1)
    mat = _mat("mixed")
    n = 3 if dim == 2 else 6
    eps = rng.normal(scale=0.1 * SY0 / E, size=(25, n))
    state = mat.initial_state(25)
    sig, tan, trial = mat.update(eps, state)
    C = mat.stiffness(dim)
    assert np.array_equal(tan, np.broadcast_to(C, tan.shape))
    np.testing.assert_allclose(sig, eps @ C.T, rtol=1e-14, atol=1e-16 * E)
    np.testing.assert_array_equal(trial["eps_p"], 0.0)
    np.testing.assert_array_equal(trial["p"], 0.0)
    assert mat.update(eps, state, need_tangent=False)[1] is None


@pytest.mark.parametrize("kind", list(MATERIALS))
def test_consistency_after_return(kind):
    rng = np.random.default_rng(3)
    mat = _mat(kind)
    state = _random_plastic_state(mat, 200, rng)
    eps = state["eps_p"] + rng.normal(scale=3 * SY0 / E, size=(200, 6))
    _, _, trial = mat.update(eps, state)
    plastic = trial["p"] > state["p"]
    assert plastic.sum() > 50
    f_new = mat.yield_function(trial["sigma"], trial)
    sy = SY0 + mat.H * trial["p"]
    np.testing.assert_allclose(f_new[plastic] / sy[plastic], 0.0, atol=1e-10)
    assert np.all(f_new[~plastic] <= 1e-12 * sy[~plastic])
    # plastic flow is deviatoric; p grows by √(2/3)‖Δε_p‖
    de = trial["eps_p"] - state["eps_p"]
    np.testing.assert_allclose(de[:, :3].sum(axis=1), 0.0, atol=1e-16)
    np.testing.assert_allclose(
        trial["p"] - state["p"], math.sqrt(2 / 3) * np.linalg.norm(de, axis=1), rtol=1e-12
    )


@pytest.mark.parametrize("dim", [2, 3])
def test_reapplying_converged_strain_is_elastic(dim):
    """A returned state lies on the yield surface to round-off: no spurious flow."""
    rng = np.random.default_rng(4)
    mat = _mat("mixed")
    n = 3 if dim == 2 else 6
    state = _random_plastic_state(mat, 50, rng, scale=0.3 * SY0 / E)
    e_p_in = state["eps_p"][:, IN_PLANE] if dim == 2 else state["eps_p"]
    eps = e_p_in + rng.normal(scale=3 * SY0 / E, size=(50, n))
    sig, _, trial = mat.update(eps, state)
    assert (trial["p"] > state["p"]).sum() > 30
    sig2, tan2, trial2 = mat.update(eps, trial)
    np.testing.assert_array_equal(trial2["p"], trial["p"])
    np.testing.assert_array_equal(trial2["eps_p"], trial["eps_p"])
    np.testing.assert_allclose(sig2, sig, rtol=0, atol=1e-14 * SY0)
    assert np.array_equal(tan2, np.broadcast_to(mat.stiffness(dim), tan2.shape))


def test_plane_strain_sigma33_and_incompressibility():
    mat = _mat("iso")
    rng = np.random.default_rng(8)
    # elastic range
    eps = rng.normal(scale=0.1 * SY0 / E, size=(20, 3))
    sig, _, trial = mat.update(eps, mat.initial_state(20))
    np.testing.assert_allclose(trial["sigma33"], NU * (sig[:, 0] + sig[:, 1]), rtol=1e-13)
    # plastic range, several steps
    state = mat.initial_state(20)
    for t in np.linspace(0, 8, 9)[1:]:
        sig, _, state = mat.update(t * 10 * eps, state)
    assert np.all(state["p"] > 0)
    tr = state["eps_p"][:, :3].sum(axis=1)
    np.testing.assert_allclose(tr, 0.0, atol=1e-15 * np.abs(state["eps_p"]).max())
    assert not np.allclose(state["eps_p"][:, 2], 0.0)  # ε_p33 ≠ 0 in plane strain
    np.testing.assert_array_equal(state["sigma"][:, IN_PLANE], sig)


@pytest.mark.parametrize("dim", [2, 3])
def test_vectorised_equals_single_points(dim):
    rng = np.random.default_rng(21)
    mat = _mat("mixed")
    n = 3 if dim == 2 else 6
    N = 30
    state = _random_plastic_state(mat, N, rng)
    eps = rng.normal(scale=2 * SY0 / E, size=(N, n))
    sig, tan, trial = mat.update(eps, state)
    for i in range(N):
        st_i = {k: v[i : i + 1] for k, v in state.items()}
        s_i, t_i, tr_i = mat.update(eps[i : i + 1], st_i)
        np.testing.assert_allclose(s_i[0], sig[i], rtol=1e-15, atol=1e-18)
        np.testing.assert_allclose(t_i[0], tan[i], rtol=1e-15, atol=1e-15)
        for k in trial:
            np.testing.assert_allclose(tr_i[k][0], trial[k][i], rtol=1e-15, atol=1e-18)


def test_state_not_modified_and_keys():
    rng = np.random.default_rng(2)
    mat = _mat("mixed")
    state = _random_plastic_state(mat, 10, rng)
    copy = {k: v.copy() for k, v in state.items()}
    _, _, trial = mat.update(rng.normal(scale=3 * SY0 / E, size=(10, 6)), state)
    for k in state:
        np.testing.assert_array_equal(state[k], copy[k])
        assert not np.shares_memory(state[k], trial[k])
    assert set(trial) == set(mat.initial_state(1)) == {"eps_p", "p", "sigma", "sigma33"}
    assert mat.is_linear is False


# ------------------------------------------------------------------ energy
@pytest.mark.parametrize("kind", list(MATERIALS))
@pytest.mark.parametrize("dim", [2, 3])
def test_dissipation_and_energy_identity(kind, dim):
    """Backward Euler: σ_{n+1}:Δε = Δψ + D + ½ Δε_e:C:Δε_e exactly, with D ≥ 0."""
    rng = np.random.default_rng(31 + dim)
    mat = _mat(kind)
    n = 3 if dim == 2 else 6
    N = 16
    C3 = mat.stiffness(3)
    # random load–unload path: random walk with reversals, amplitude a few ε_y
    steps = rng.normal(scale=0.8 * SY0 / E, size=(60, N, n))
    steps[20:40] *= -1.5
    eps_old = np.zeros((N, n))
    state = mat.initial_state(N)
    psi_old = mat.free_energy(eps_old, state)
    work = D_tot = num_tot = 0.0
    n_plastic = 0
    for de in steps:
        eps = eps_old + de
        sig, _, trial = mat.update(eps, state, need_tangent=False)
        D = mat.dissipation(state, trial, trial["sigma"])
        assert np.all(D >= 0.0)
        n_plastic += int((D > 0).sum())
        # definition: D = σ:Δε_p − Δψ_h
        Wp = mat.plastic_work(state, trial, trial["sigma"])
        dpsi_h = mat.hardening_energy(trial) - mat.hardening_energy(state)
        np.testing.assert_allclose(D, Wp - dpsi_h, rtol=1e-9, atol=1e-14 * SY0**2 / E)
        # step identity
        psi_new = mat.free_energy(eps, trial)
        w = np.einsum("ij,ij->i", sig, de)
        de3 = np.zeros((N, 6))
        de3[:, IN_PLANE if dim == 2 else slice(None)] = de
        dee = de3 - (trial["eps_p"] - state["eps_p"])
        num = 0.5 * np.einsum("ij,jk,ik->i", dee, C3, dee)
        lhs_scale = np.abs(w) + np.abs(psi_new) + np.abs(psi_old) + 1e-3 * SY0**2 / E
        np.testing.assert_allclose((w - (psi_new - psi_old) - D - num) / lhs_scale, 0.0, atol=1e-12)
        work, D_tot, num_tot = work + w, D_tot + D, num_tot + num
        eps_old, state, psi_old = eps, trial, psi_new
    assert n_plastic > 50
    psi_end = mat.free_energy(eps_old, state)
    np.testing.assert_allclose(work, psi_end + D_tot + num_tot, rtol=1e-10)
    assert np.all(work >= psi_end + D_tot)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(E=0.0), "E must be > 0"),
        (dict(E=-1.0), "E must be > 0"),
        (dict(nu=0.5), r"nu must be in \(-1, 0.5\)"),
        (dict(nu=-1.0), r"nu must be in \(-1, 0.5\)"),
        (dict(sy0=0.0), "sy0 must be > 0; got 0"),
        (dict(sy0=-2.0), "sy0 must be > 0; got -2"),
        (dict(H=-1.0), "H must be >= 0; got -1"),
        (dict(Hk=-0.5), "Hk must be >= 0; got -0.5"),
        (dict(H=float("nan")), "H must be finite"),
        (dict(sy0=float("inf")), "sy0 must be finite"),
    ],
)
def test_bad_parameters(kwargs, match):
    args = dict(E=E, nu=NU, sy0=SY0, H=0.0, Hk=0.0) | kwargs
    with pytest.raises(ValueError, match=match):
        J2Plasticity(**args)


def test_bad_inputs():
    mat = _mat("iso")
    with pytest.raises(TypeError, match="sy0 must be a real number"):
        J2Plasticity(E=E, nu=NU, sy0="a")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        mat.update(np.zeros((4, 4)), mat.initial_state(4))
    with pytest.raises(ValueError, match="state has 3 points"):
        mat.update(np.zeros((4, 6)), mat.initial_state(3))
    with pytest.raises(ValueError, match="full 3-D"):
        mat.plastic_work(mat.initial_state(4), mat.initial_state(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dim must be 2 or 3"):
        mat.stiffness(4)
