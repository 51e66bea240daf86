"""Tests of the analytic homogenization references against independent facts."""

from math import comb, factorial, pi

import numpy as np
import pytest

from dolfinx_multiscale.studies.references import (
    bulk_shear_from_isotropic,
    hashin_shtrikman_conductivity,
    hashin_shtrikman_elastic,
    isotropic_from_bulk_shear,
    laminate_conductivity,
    laminate_stiffness,
    rayleigh_square_array,
    reuss_bound,
    voigt_bound,
)
from dolfinx_multiscale.tensors import isotropic_stiffness, lame_parameters, mandel_index_pairs


def random_spd(rng, n, shift=0.5):
    A = rng.standard_normal((n, n))
    return A @ A.T + shift * np.eye(n)


def min_eig(A):
    return np.linalg.eigvalsh(0.5 * (A + A.T)).min()


def iso(E, nu, dim):
    return isotropic_stiffness(*lame_parameters(E, nu), dim)


# --------------------------------------------------------------------- Voigt / Reuss
@pytest.mark.parametrize("n", [2, 3, 6])
def test_voigt_dominates_reuss(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        Cs = [random_spd(rng, n) for _ in range(3)]
        f = rng.dirichlet(np.ones(3))
        V, R = voigt_bound(Cs, f), reuss_bound(Cs, f)
        assert min_eig(V - R) > -1e-12 * np.linalg.norm(V)
        np.testing.assert_allclose(V, sum(fi * C for fi, C in zip(f, Cs)), rtol=1e-14)


def test_voigt_reuss_equal_phases():
    C = iso(3.0, 0.25, 3)
    f = [0.2, 0.3, 0.5]
    np.testing.assert_allclose(voigt_bound([C, C, C], f), C, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(reuss_bound([C, C, C], f), C, rtol=1e-13, atol=1e-13)


def test_reuss_scalar_harmonic_mean():
    f = [0.25, 0.75]
    R = reuss_bound([np.eye(2) * 1.0, np.eye(2) * 4.0], f)
    np.testing.assert_allclose(R, np.eye(2) / (0.25 / 1.0 + 0.75 / 4.0), rtol=1e-14)


@pytest.mark.parametrize(
    "fractions", [[0.5, 0.6], [1.2, -0.2], [1.0], [0.3, 0.3, 0.4], [np.nan, 1.0]]
)
def test_bad_fractions(fractions):
    C = [np.eye(3), 2 * np.eye(3)]
    for fun in (voigt_bound, reuss_bound):
        with pytest.raises(ValueError):
            fun(C, fractions)
    with pytest.raises(ValueError):
        laminate_stiffness(C, fractions, 0, 2)


def test_shape_mismatch():
    with pytest.raises(ValueError):
        voigt_bound([np.eye(3), np.eye(6)], [0.5, 0.5])
    with pytest.raises(ValueError):
        laminate_stiffness([np.eye(6), np.eye(6)], [0.5, 0.5], 0, 2)
    with pytest.raises(ValueError):
        laminate_stiffness([np.eye(3), np.eye(3)], [0.5, 0.5], 2, 2)


# ------------------------------------------------------------ isotropic bulk / shear
def test_bulk_shear_round_trip_and_textbook_moduli():
    E, nu = 2.0, 0.3
    lam, mu = lame_parameters(E, nu)
    # 3-D: K = E / (3 (1 − 2ν)), G = E / (2 (1 + ν))
    K3, G = E / (3 * (1 - 2 * nu)), E / (2 * (1 + nu))
    np.testing.assert_allclose(isotropic_from_bulk_shear(K3, G, 3), iso(E, nu, 3), rtol=1e-14)
    np.testing.assert_allclose(bulk_shear_from_isotropic(iso(E, nu, 3), 3), (K3, G), rtol=1e-14)
    # plane strain: κ = E / (2 (1 + ν)(1 − 2ν))
    k2 = E / (2 * (1 + nu) * (1 - 2 * nu))
    np.testing.assert_allclose(isotropic_from_bulk_shear(k2, G, 2), iso(E, nu, 2), rtol=1e-14)
    np.testing.assert_allclose(bulk_shear_from_isotropic(iso(E, nu, 2), 2), (k2, G), rtol=1e-14)


# ------------------------------------------------------------------- Hashin–Shtrikman
def test_hs_3d_bulk_lower_hand_value():
    # K1 = 1, G1 = 0.5, K2 = 10, G2 = 5, f2 = 0.3:
    # K_L = 1 + 0.3 / (1/9 + 3·0.7/(3 + 2)) = 1 + 0.3 / (0.1111… + 0.42) = 1.564853556…
    b = hashin_shtrikman_elastic(1.0, 0.5, 10.0, 5.0, 0.3, 3)
    assert b.bulk_lower == pytest.approx(1.5648535564853556, rel=1e-14)
    # K_U = 10 + 0.7 / (1/(1 − 10) + 3·0.3/(30 + 20)) = 10 + 0.7/(−0.1111… + 0.018)
    assert b.bulk_upper == pytest.approx(10.0 + 0.7 / (-1.0 / 9.0 + 0.018), rel=1e-14)
    # G_L = G1 + f2 / (1/(G2 − G1) + 6 f1 (K1 + 2G1) / (5 G1 (3K1 + 4G1)))
    assert b.shear_lower == pytest.approx(0.5 + 0.3 / (1 / 4.5 + 6 * 0.7 * 2.0 / (5 * 0.5 * 5.0)))


def test_hs_2d_hashin_1965_closed_form():
    k1, m1, k2, m2, f2 = 1.3, 0.4, 9.0, 3.0, 0.35
    f1 = 1 - f2
    b = hashin_shtrikman_elastic(k1, m1, k2, m2, f2, 2)
    assert b.bulk_lower == pytest.approx(k1 + f2 / (1 / (k2 - k1) + f1 / (k1 + m1)), rel=1e-14)
    assert b.bulk_upper == pytest.approx(k2 + f1 / (1 / (k1 - k2) + f2 / (k2 + m2)), rel=1e-14)
    ref = m1 + f2 / (1 / (m2 - m1) + f1 * (k1 + 2 * m1) / (2 * m1 * (k1 + m1)))
    assert b.shear_lower == pytest.approx(ref, rel=1e-14)
    ref = m2 + f1 / (1 / (m1 - m2) + f2 * (k2 + 2 * m2) / (2 * m2 * (k2 + m2)))
    assert b.shear_upper == pytest.approx(ref, rel=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
def test_hs_collapse_and_order(dim):
    p1, p2 = (1.0, 0.7), (12.0, 4.0)
    b0 = hashin_shtrikman_elastic(*p1, *p2, 0.0, dim)
    b1 = hashin_shtrikman_elastic(*p1, *p2, 1.0, dim)
    np.testing.assert_allclose(b0, (p1[0], p1[0], p1[1], p1[1]), rtol=1e-14)
    np.testing.assert_allclose(b1, (p2[0], p2[0], p2[1], p2[1]), rtol=1e-14)
    be = hashin_shtrikman_elastic(*p2, *p2, 0.4, dim)
    np.testing.assert_allclose(be, (p2[0], p2[0], p2[1], p2[1]), rtol=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("p1, p2", [((1.0, 0.7), (12.0, 4.0)), ((1.0, 3.0), (8.0, 0.5))])
def test_hs_within_voigt_reuss(dim, p1, p2):
    # the second case is not well ordered (K2 > K1 but G2 < G1)
    for f2 in np.linspace(0.05, 0.95, 7):
        b = hashin_shtrikman_elastic(*p1, *p2, f2, dim)
        Cs = [isotropic_from_bulk_shear(*p, dim) for p in (p1, p2)]
        f = [1 - f2, f2]
        kV, gV = bulk_shear_from_isotropic(voigt_bound(Cs, f), dim)
        kR, gR = bulk_shear_from_isotropic(reuss_bound(Cs, f), dim)
        # Voigt/Reuss of isotropic phases: arithmetic/harmonic means of the moduli
        assert kV == pytest.approx((1 - f2) * p1[0] + f2 * p2[0], rel=1e-13)
        assert kR == pytest.approx(1 / ((1 - f2) / p1[0] + f2 / p2[0]), rel=1e-13)
        tol = 1e-12
        assert kR - tol <= b.bulk_lower <= b.bulk_upper <= kV + tol
        assert gR - tol <= b.shear_lower <= b.shear_upper <= gV + tol
        assert b.bulk_lower < b.bulk_upper and b.shear_lower < b.shear_upper


@pytest.mark.parametrize("dim", [2, 3])
def test_hs_conductivity(dim):
    k1, k2 = 1.0, 7.0
    for f2 in np.linspace(0.0, 1.0, 11):
        lo, up = hashin_shtrikman_conductivity(k1, k2, f2, dim)
        # textbook form, phase 1 (softer) as reference for the lower bound
        if 0 < f2 < 1:
            assert lo == pytest.approx(k1 + f2 / (1 / (k2 - k1) + (1 - f2) / (dim * k1)))
            assert up == pytest.approx(k2 + (1 - f2) / (1 / (k1 - k2) + f2 / (dim * k2)))
        harm, arith = 1 / ((1 - f2) / k1 + f2 / k2), (1 - f2) * k1 + f2 * k2
        assert harm - 1e-12 <= lo <= up <= arith + 1e-12
    assert hashin_shtrikman_conductivity(k1, k2, 0.0, dim) == pytest.approx((k1, k1))
    assert hashin_shtrikman_conductivity(k1, k2, 1.0, dim) == pytest.approx((k2, k2))
    assert hashin_shtrikman_conductivity(k2, k1, 0.3, dim) == pytest.approx(
        hashin_shtrikman_conductivity(k1, k2, 0.7, dim)
    )


def test_hs_rejects_bad_input():
    with pytest.raises(ValueError):
        hashin_shtrikman_elastic(1, 1, 2, 2, 1.5, 3)
    with pytest.raises(ValueError):
        hashin_shtrikman_elastic(1, -1, 2, 2, 0.5, 3)
    with pytest.raises(ValueError):
        hashin_shtrikman_conductivity(1, 2, 0.5, 4)


# -------------------------------------------------------------------------- laminates
def brute_force_laminate(mats, fractions, T, P):
    """Second method: solve the per-layer unknowns directly for each unit macro load.

    Unknowns: ε_T of every layer and the common stress Σ_T. Equations: for each layer
    C_TT ε_T + C_TP E_P − Σ_T = 0, and Σ f_i ε_T,i = E_T. Then Σ = ⟨C ε⟩.
    """
    n, nl, nt = mats[0].shape[0], len(mats), len(T)
    C_eff = np.zeros((n, n))
    for col in range(n):
        Emac = np.zeros(n)
        Emac[col] = 1.0
        A = np.zeros((nl * nt + nt, nl * nt + nt))
        b = np.zeros(nl * nt + nt)
        for i, C in enumerate(mats):
            r = slice(i * nt, (i + 1) * nt)
            A[r, r] = C[np.ix_(T, T)]
            A[r, nl * nt :] = -np.eye(nt)
            b[r] = -C[np.ix_(T, P)] @ Emac[P]
            A[nl * nt :, r] = fractions[i] * np.eye(nt)
        b[nl * nt :] = Emac[T]
        x = np.linalg.solve(A, b)
        for i, C in enumerate(mats):
            eps = Emac.copy()
            eps[T] = x[i * nt : (i + 1) * nt]
            C_eff[:, col] += fractions[i] * C @ eps
    return C_eff


def normal_sets(direction, dim):
    pairs = mandel_index_pairs(dim)
    T = [k for k, p in enumerate(pairs) if direction in p]
    P = [k for k, p in enumerate(pairs) if direction not in p]
    return T, P


@pytest.mark.parametrize("dim", [2, 3])
def test_laminate_matches_direct_solve_anisotropic(dim):
    rng = np.random.default_rng(7 + dim)
    n = 3 if dim == 2 else 6
    mats = [random_spd(rng, n) for _ in range(4)]
    f = rng.dirichlet(np.ones(4))
    for d in range(dim):
        T, P = normal_sets(d, dim)
        ref = brute_force_laminate(mats, f, T, P)
        np.testing.assert_allclose(laminate_stiffness(mats, f, d, dim), ref, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dim", [2, 3])
def test_laminate_symmetric_between_bounds(dim):
    rng = np.random.default_rng(11 + dim)
    n = 3 if dim == 2 else 6
    for _ in range(10):
        mats = [random_spd(rng, n) for _ in range(3)]
        f = rng.dirichlet(np.ones(3))
        for d in range(dim):
            L = laminate_stiffness(mats, f, d, dim)
            scale = np.linalg.norm(L)
            assert np.linalg.norm(L - L.T) < 1e-13 * scale
            assert min_eig(L - reuss_bound(mats, f)) > -1e-12 * scale
            assert min_eig(voigt_bound(mats, f) - L) > -1e-12 * scale


@pytest.mark.parametrize("dim", [2, 3])
def test_laminate_equal_phases(dim):
    rng = np.random.default_rng(3)
    C = random_spd(rng, 3 if dim == 2 else 6)
    for d in range(dim):
        L = laminate_stiffness([C, C, C], [0.1, 0.6, 0.3], d, dim)
        np.testing.assert_allclose(L, C, rtol=1e-14, atol=1e-14 * np.abs(C).max())


def test_laminate_2d_isotropic_backus():
    # plane strain, layers normal to x: Backus (1962) averages
    layers = [(1.0, 0.3), (20.0, 0.2)]
    f = np.array([0.35, 0.65])
    lm = np.array([lame_parameters(E, nu) for E, nu in layers])
    lam, mu = lm[:, 0], lm[:, 1]
    M = lam + 2 * mu
    C11 = 1 / np.sum(f / M)  # normal–normal: harmonic mean of λ + 2μ
    C12 = C11 * np.sum(f * lam / M)
    C22 = np.sum(f * (M - lam**2 / M)) + C11 * np.sum(f * lam / M) ** 2
    G12 = 1 / np.sum(f / mu)  # shear across the layers: harmonic mean of μ
    ref = np.array([[C11, C12, 0], [C12, C22, 0], [0, 0, 2 * G12]])
    L = laminate_stiffness([iso(E, nu, 2) for E, nu in layers], f, 0, 2)
    np.testing.assert_allclose(L, ref, rtol=1e-13, atol=1e-14)
    # transverse Young's modulus across the layers in plane strain E_T' = 1 / S_11
    S = np.linalg.inv(L)
    assert 1 / S[0, 0] == pytest.approx(C11 - C12**2 / C22, rel=1e-13)


def test_laminate_3d_isotropic_backus_transverse_isotropy():
    layers = [(3.0, 0.35), (70.0, 0.22), (10.0, 0.0)]
    f = np.array([0.5, 0.2, 0.3])
    lm = np.array([lame_parameters(E, nu) for E, nu in layers])
    lam, mu = lm[:, 0], lm[:, 1]
    M = lam + 2 * mu
    avg = lambda a: np.sum(f * a)  # noqa: E731
    C33 = 1 / avg(1 / M)
    C13 = C33 * avg(lam / M)
    C11 = avg(4 * mu * (lam + mu) / M) + C33 * avg(lam / M) ** 2
    C12 = avg(2 * mu * lam / M) + C33 * avg(lam / M) ** 2
    C44 = 1 / avg(1 / mu)
    C66 = avg(mu)
    ref = np.array(
        [
            [C11, C12, C13, 0, 0, 0],
            [C12, C11, C13, 0, 0, 0],
            [C13, C13, C33, 0, 0, 0],
            [0, 0, 0, 2 * C44, 0, 0],
            [0, 0, 0, 0, 2 * C44, 0],
            [0, 0, 0, 0, 0, 2 * C66],
        ]
    )
    L = laminate_stiffness([iso(E, nu, 3) for E, nu in layers], f, 2, 3)
    np.testing.assert_allclose(L, ref, rtol=1e-13, atol=1e-13)
    # transverse isotropy: C66 = (C11 − C12)/2
    assert L[5, 5] == pytest.approx(L[0, 0] - L[0, 1], rel=1e-13)


def test_laminate_direction_permutation():
    rng = np.random.default_rng(5)
    # swapping x and y permutes the Mandel components (no sign changes)
    perms = {2: [1, 0, 2], 3: [1, 0, 2, 4, 3, 5]}
    for dim, perm in perms.items():
        Q = np.eye(len(perm))[perm]
        mats = [random_spd(rng, len(perm)) for _ in range(3)]
        f = [0.2, 0.45, 0.35]
        Lx = laminate_stiffness(mats, f, 0, dim)
        Ly = laminate_stiffness([Q @ C @ Q.T for C in mats], f, 1, dim)
        np.testing.assert_allclose(Ly, Q @ Lx @ Q.T, rtol=1e-12, atol=1e-12)


def test_laminate_3d_restricts_to_2d_plane_strain():
    # layers with a mirror plane x3 = 0 (no coupling of 23, 13 with the rest): the
    # 3-D laminate under plane strain equals the 2-D laminate of the plane-strain blocks
    rng = np.random.default_rng(17)
    inplane = [0, 1, 5]
    mats = []
    for _ in range(3):
        C = np.zeros((6, 6))
        C[np.ix_([0, 1, 2, 5], [0, 1, 2, 5])] = random_spd(rng, 4)
        C[np.ix_([3, 4], [3, 4])] = random_spd(rng, 2)
        mats.append(C)
    f = [0.3, 0.3, 0.4]
    for d in (0, 1):
        L3 = laminate_stiffness(mats, f, d, 3)
        L2 = laminate_stiffness([C[np.ix_(inplane, inplane)] for C in mats], f, d, 2)
        np.testing.assert_allclose(L3[np.ix_(inplane, inplane)], L2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dim", [2, 3])
def test_laminate_layer_order_irrelevant(dim):
    A, B = iso(1.0, 0.3, dim), iso(10.0, 0.25, dim)
    for d in range(dim):
        L3 = laminate_stiffness([A, B, A], [0.2, 0.5, 0.3], d, dim)
        L2 = laminate_stiffness([A, B], [0.5, 0.5], d, dim)
        np.testing.assert_allclose(L3, L2, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
def test_laminate_conductivity_means(dim):
    k = [1.0, 5.0, 2.0]
    f = [0.3, 0.5, 0.2]
    harm, arith = 1 / sum(fi / ki for fi, ki in zip(f, k)), sum(fi * ki for fi, ki in zip(f, k))
    for d in range(dim):
        K = laminate_conductivity(k, f, d, dim)
        ref = np.eye(dim) * arith
        ref[d, d] = harm
        np.testing.assert_allclose(K, ref, rtol=1e-14, atol=1e-15)


def test_laminate_conductivity_anisotropic_direct_solve():
    rng = np.random.default_rng(23)
    mats = [random_spd(rng, 3) for _ in range(3)]
    f = rng.dirichlet(np.ones(3))
    for d in range(3):
        ref = brute_force_laminate(mats, f, [d], [a for a in range(3) if a != d])
        np.testing.assert_allclose(laminate_conductivity(mats, f, d, 3), ref, rtol=1e-12)


# -------------------------------------------------------------------------- Rayleigh
def _eisenstein_square(k):
    """Lattice sum S_k = Σ' (m + i n)^(−k), k ≡ 0 mod 4, k ≥ 4 (q-expansion of G_k(i))."""
    q = np.exp(-2 * pi)
    s = sum(sum(d ** (k - 1) for d in range(1, n + 1) if n % d == 0) * q**n for n in range(1, 80))
    zeta_k = sum(j ** (-float(k)) for j in range(1, 2000))
    return 2 * zeta_k + 2 * (2 * pi) ** k / factorial(k - 1) * s


def multipole_square_array(beta, f, n_orders=25):
    """Independent reference: Rayleigh's multipole system, solved with many orders.

    Potential about a cylinder Re Σ_odd (A_n z^n + B_n z^-n), B_n = −β a^{2n} A_n, the
    regular part A_n from the other cylinders' multipoles via lattice sums S_{n+m}
    (S_2 = π for the square array: its dipole-only truncation is Maxwell–Garnett), and
    k_eff / k_m = 1 − 2π B_1 / E.
    """
    a = np.sqrt(f / pi)
    ns = list(range(1, 2 * n_orders, 2))
    S = {k: _eisenstein_square(k) for k in range(4, 4 * n_orders + 1, 4)}
    A = np.zeros((n_orders, n_orders))
    for i, n in enumerate(ns):
        for j, m in enumerate(ns):
            s = pi if n + m == 2 else S.get(n + m, 0.0)
            A[i, j] = comb(m + n - 1, n) * s * a ** (m + n)
        A[i, i] -= 1.0 / beta
    rhs = np.zeros(n_orders)
    rhs[0] = a
    y = np.linalg.solve(A, rhs)
    return 1.0 - 2.0 * pi * a * y[0]


def test_lattice_sum_constant():
    # 0.305827 = 3 S_4² / π⁴ with S_4 = 3.15121 (Rayleigh 1892; Perrins et al. 1979)
    S4 = _eisenstein_square(4)
    assert S4 == pytest.approx(3.151212, abs=1e-6)
    assert 3 * S4**2 / pi**4 == pytest.approx(0.305827, abs=1e-6)


# Perrins, McKenzie & McPhedran (1979), square array of perfectly conducting cylinders:
# converged multipole values of ε_eff (also reproduced by multipole_square_array above).
PERRINS_PERFECT = [
    (0.1, 1.222),
    (0.2, 1.500),
    (0.3, 1.860),
    (0.4, 2.351),
    (0.5, 3.080),
    (0.6, 4.342),
]


@pytest.mark.parametrize("f, ref", PERRINS_PERFECT)
def test_rayleigh_published_values(f, ref):
    assert rayleigh_square_array(1.0, np.inf, f) == pytest.approx(ref, abs=1.2e-3)
    assert multipole_square_array(1.0, f) == pytest.approx(ref, abs=5e-4)


@pytest.mark.parametrize("ratio", [np.inf, 10.0, 0.1, 0.0])
def test_rayleigh_against_converged_multipoles(ratio):
    beta = 1.0 if np.isinf(ratio) else (ratio - 1) / (ratio + 1)
    for f, rtol in [(0.1, 1e-8), (0.3, 1e-7), (0.5, 1e-5), (0.6, 3e-4)]:
        ref = 2.0 * multipole_square_array(beta, f)
        assert rayleigh_square_array(2.0, 2.0 * ratio, f) == pytest.approx(ref, rel=rtol)


def test_rayleigh_dilute_limit_and_orders():
    km, kf = 1.5, 15.0
    beta = (kf - km) / (kf + km)
    for f in (0.01, 0.02, 0.04):
        mg = hashin_shtrikman_conductivity(km, kf, f, 2).lower  # Maxwell–Garnett
        assert rayleigh_square_array(km, kf, f, order=1) == pytest.approx(mg, rel=1e-14)
        # the first correction is 2β f·0.305827 β² f⁴ / (1 − βf)² = O(f⁵)
        diff = rayleigh_square_array(km, kf, f) / km - mg / km
        assert diff / f**5 == pytest.approx(2 * 0.305827 * beta**3, rel=0.1)
        lo, up = hashin_shtrikman_conductivity(km, kf, f, 2)
        assert lo <= rayleigh_square_array(km, kf, f, order=2) <= up
    assert rayleigh_square_array(km, kf, 0.0) == km
    assert rayleigh_square_array(km, km, 0.5) == pytest.approx(km, rel=1e-15)


def test_rayleigh_keller_interchange():
    # Keller (1964): k_eff(k_m, k_f) · k_eff(k_f, k_m) = k_m k_f for the square array
    for f in (0.2, 0.5, 0.7):
        for order in (1, 2, 3):
            a = rayleigh_square_array(2.0, 30.0, f, order=order)
            b = rayleigh_square_array(30.0, 2.0, f, order=order)
            assert a * b == pytest.approx(60.0, rel=1e-13)


def test_rayleigh_within_hs_bounds():
    for ratio in (0.05, 3.0, 50.0):
        for f in np.linspace(0.05, 0.75, 8):
            lo, up = hashin_shtrikman_conductivity(1.0, ratio, f, 2)
            k = rayleigh_square_array(1.0, ratio, f)
            assert lo - 1e-14 <= k <= up + 1e-14


def test_rayleigh_rejects_bad_input():
    with pytest.raises(ValueError):
        rayleigh_square_array(1.0, 2.0, 0.8)
    with pytest.raises(ValueError):
        rayleigh_square_array(0.0, 2.0, 0.3)
    with pytest.raises(ValueError):
        rayleigh_square_array(1.0, 2.0, 0.3, order=4)
