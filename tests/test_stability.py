"""The acoustic tensor and the strong-ellipticity indicator (``ellipticity.py``) against
closed forms (isotropy, a shear-band rank-one term, a prestressed solid, skew terms that
``sym Q`` must ignore) and against brute-force dense scans of the unit circle / sphere."""

import itertools

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.stability import Ellipticity, acoustic_tensor, ellipticity


# -- independent references ---------------------------------------------------------------
def flat(A4: np.ndarray) -> np.ndarray:
    """A_ijkl (d, d, d, d) → the (d², d²) matrix A[i*d + j, k*d + l]."""
    d = A4.shape[0]
    return A4.reshape(d * d, d * d)


def isotropic(d: int, lam: float, mu: float) -> np.ndarray:
    """A = λ δ_ij δ_kl + μ (δ_ik δ_jl + δ_il δ_jk)."""
    I = np.eye(d)
    return flat(lam * np.einsum("ij,kl->ijkl", I, I)
                + mu * (np.einsum("ik,jl->ijkl", I, I) + np.einsum("il,jk->ijkl", I, I)))


def shear_band(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    """c a_i b_j a_k b_l: Q(n) = c (b·n)² a⊗a."""
    return flat(c * np.einsum("i,j,k,l->ijkl", a, b, a, b))


def prestress(tau: np.ndarray) -> np.ndarray:
    """δ_ik τ_jl (the geometric stiffness of a stress τ): Q(n) = (n·τ·n) I."""
    return flat(np.einsum("ik,jl->ijkl", np.eye(len(tau)), tau))


def skew(d: int, w) -> np.ndarray:
    """A term without major symmetry whose Q(n) = |n|² W is skew (W = w ε in 2-D, [w]×
    in 3-D), so it changes Q but not sym Q."""
    if d == 2:
        W = w * np.array([[0.0, 1.0], [-1.0, 0.0]])
    else:
        W = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])
    return flat(np.einsum("ik,jl->ijkl", W, np.eye(d)))


def rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def q_by_index_sum(A: np.ndarray, N: np.ndarray) -> np.ndarray:
    """Q_ik = Σ_jl A[i*d + j, k*d + l] n_j n_l term by term, N (M, d) → (M, d, d)."""
    d = N.shape[1]
    Q = np.zeros((len(N), d, d))
    for i, j, k, l in itertools.product(range(d), repeat=4):
        Q[:, i, k] += A[i * d + j, k * d + l] * N[:, j] * N[:, l]
    return Q


def lambda_min(A: np.ndarray, N: np.ndarray) -> np.ndarray:
    """λ_min(sym Q(n)) of each row of N (M, d), by LAPACK."""
    Q = q_by_index_sum(A, N)
    return np.linalg.eigvalsh(0.5 * (Q + Q.transpose(0, 2, 1)))[:, 0]


def brute_force_2d(A: np.ndarray) -> float:
    theta = np.linspace(0.0, np.pi, 100_000, endpoint=False)
    return float(lambda_min(A, np.column_stack([np.cos(theta), np.sin(theta)])).min())


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def brute_force_3d(A: np.ndarray, seed: int = 0) -> float:
    """2·10⁵ random unit vectors, then (the scan's spacing, ~0.005 rad, leaves ~1e-5 of the
    minimum) random zooms: 2·10⁴ vectors in a cap of 0.05 rad and 2·10⁴ in one of 0.002
    rad around each of the 3 best well-separated samples."""
    rng = np.random.default_rng(seed)
    N = _unit(rng.normal(size=(200_000, 3)))
    values = lambda_min(A, N)
    starts = []
    for k in np.argsort(values):
        if all(abs(N[k] @ s) < np.cos(0.2) for s in starts):
            starts.append(N[k])
        if len(starts) == 3:
            break
    best = float(values.min())
    for n0 in starts:
        for radius in (0.05, 0.002):
            t1 = _unit(np.cross(n0, rng.normal(size=3)))
            t2 = np.cross(n0, t1)
            r = radius * np.sqrt(rng.random(20_000))
            phi = 2 * np.pi * rng.random(20_000)
            cap = _unit(n0 + np.outer(r * np.cos(phi), t1) + np.outer(r * np.sin(phi), t2))
            cap_values = lambda_min(A, cap)
            n0 = cap[np.argmin(cap_values)]
            best = min(best, float(cap_values.min()))
    return best


def assert_normal(result: Ellipticity, expected: np.ndarray, tol: float = 1e-6):
    n = result.normal
    assert n.shape == expected.shape
    assert np.linalg.norm(n) == pytest.approx(1.0, abs=1e-14)
    assert n[np.flatnonzero(np.abs(n) > 1e-6)[0]] > 0  # sign convention
    assert min(np.linalg.norm(n - expected), np.linalg.norm(n + expected)) < tol, (n, expected)


# -- the acoustic tensor ------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3])
def test_acoustic_tensor_is_the_index_sum(d):
    rng = np.random.default_rng(d)
    A = rng.normal(size=(d * d, d * d))  # no symmetry at all
    N = rng.normal(size=(7, d))  # not unit: Q is quadratic in n
    Q = acoustic_tensor(A, N)
    assert Q.shape == (7, d, d)
    np.testing.assert_allclose(Q, q_by_index_sum(A, N), rtol=0, atol=1e-13)
    assert acoustic_tensor(A, N[3]).shape == (d, d)
    np.testing.assert_allclose(acoustic_tensor(A, N[3]), Q[3], rtol=0, atol=1e-13)
    assert not np.allclose(Q, Q.transpose(0, 2, 1))  # returned as is, not symmetrized


@pytest.mark.parametrize("d", [2, 3])
def test_acoustic_tensor_isotropic(d):
    lam, mu = 1.7, 0.6
    n = _unit(np.arange(1.0, d + 1.0))
    expected = (lam + mu) * np.outer(n, n) + mu * np.eye(d)
    np.testing.assert_allclose(acoustic_tensor(isotropic(d, lam, mu), n), expected, rtol=0, atol=1e-14)


# -- closed forms ---------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("lam, mu", [(2.0, 1.0), (-1.5, 1.0), (0.0, 3e9), (-1.8e9, 1e9), (-2.5e9, 1e9)])
def test_isotropic_indicator_is_min_of_mu_and_lambda_plus_two_mu(d, lam, mu):
    """Q(n) = (λ+μ) n⊗n + μ I has the eigenvalues μ and λ + 2μ for every n (so the normal
    is arbitrary): μ when λ + 2μ > μ, λ + 2μ (here 0.5μ, 0.2μ, −0.5μ) otherwise."""
    result = ellipticity(isotropic(d, lam, mu))
    assert isinstance(result, Ellipticity)
    assert isinstance(result.minimum, float)
    assert result.minimum == pytest.approx(min(mu, lam + 2 * mu), rel=0, abs=1e-12 * max(abs(lam), mu))
    assert result.normal.shape == (d,)
    assert np.linalg.norm(result.normal) == pytest.approx(1.0, abs=1e-14)


# 2-D band normals at 0°, 30°, 90° and 179.95° (between the last scanned angle and π)
NORMALS_2D = [np.array([np.cos(t), np.sin(t)]) for t in np.radians([0.0, 30.0, 90.0, 179.95])]
NORMALS_3D = [_unit(np.array(v)) for v in ([0.3, -0.5, 0.8], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0], [1e-3, 2e-3, -1.0])]


def _orthogonal(b: np.ndarray, seed: int) -> np.ndarray:
    if len(b) == 2:
        return np.array([-b[1], b[0]])
    return _unit(np.cross(b, np.random.default_rng(seed).normal(size=3)))


@pytest.mark.parametrize("b", NORMALS_2D + NORMALS_3D, ids=lambda b: np.array2string(b, precision=2))
@pytest.mark.parametrize("with_skew", [False, True])
def test_shear_band_term(b, with_skew):
    """A = isotropic(λ, μ) + c a⊗b⊗a⊗b, a ⊥ b unit, c < 0, λ + μ > 0:
    m·Q(n)·m = μ + (λ+μ)(n·m)² + c (b·n)²(a·m)² ≥ μ + c, with equality only at n = ±b,
    m = ±a: the indicator is μ + c and the band normal b (a skew term changes neither)."""
    d = len(b)
    lam, mu, c = 1.3, 1.0, -0.7
    A = isotropic(d, lam, mu) + shear_band(_orthogonal(b, 1), b, c)
    if with_skew:
        A = A + skew(d, 0.8 if d == 2 else np.array([0.4, -0.9, 0.6]))
        assert not np.allclose(A, A.T)  # no major symmetry
    result = ellipticity(A)
    assert result.minimum == pytest.approx(mu + c, rel=0, abs=1e-10)
    assert_normal(result, b)


@pytest.mark.parametrize("axis", [(1, 0), (0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_normal_sign_convention_on_the_axes(axis):
    """A zero component of the exact normal comes out as ~1e-8 of noise, which must not
    flip the sign: an axis band normal is returned as +e_k."""
    b = np.array(axis, dtype=float)
    result = ellipticity(isotropic(len(b), 0.2, 1.0) + shear_band(_orthogonal(b, 2), b, -0.3))
    np.testing.assert_allclose(result.normal, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_prestressed_isotropic_solid(d, seed):
    """A = isotropic(λ, μ) + δ_ik τ_jl, λ + μ > 0: Q(n) = (λ+μ) n⊗n + (μ + n·τ·n) I, so
    the indicator is μ + τ_min at the eigenvector of τ's smallest eigenvalue."""
    R = rotation(d, seed)
    tau_values = np.array([-0.4, 0.3, 0.9])[:d]
    tau = R @ np.diag(tau_values) @ R.T
    A = isotropic(d, 0.5, 1.0) + prestress(tau) + skew(d, 0.3 if d == 2 else np.array([0.1, 0.2, -0.3]))
    result = ellipticity(A)
    assert result.minimum == pytest.approx(1.0 - 0.4, rel=0, abs=1e-10)
    assert_normal(result, R[:, 0])


@pytest.mark.parametrize("d", [2, 3])
def test_indicator_changes_sign_where_ellipticity_is_lost(d):
    """Compressive prestress t·τ₀ (τ₀ = R diag(−1, 0.3, 0.5) Rᵀ) on μ = 1: the indicator
    1 − t crosses zero at t = 1 (a compressive stress equal to the shear modulus); and an
    isotropic tensor with λ + 2μ = −s (μ = 1) crosses at s = 0."""
    R = rotation(d, 5)
    tau0 = R @ np.diag([-1.0, 0.3, 0.5][:d]) @ R.T
    for t in [0.0, 0.5, 0.9, 0.999, 1.001, 1.1, 2.0]:
        result = ellipticity(isotropic(d, 0.7, 1.0) + prestress(t * tau0))
        assert np.sign(result.minimum) == np.sign(1.0 - t)
        assert result.minimum == pytest.approx(1.0 - t, rel=0, abs=1e-10)
        if t > 0:
            assert_normal(result, R[:, 0])
    for s in [-0.1, -1e-3, 1e-3, 0.1]:
        result = ellipticity(isotropic(d, -2.0 - s, 1.0))
        assert np.sign(result.minimum) == np.sign(-s)
        assert result.minimum == pytest.approx(-s, rel=0, abs=1e-12)


def test_scaling_and_zero():
    A = isotropic(3, 0.5, 1.0) + shear_band(np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), -0.4)
    for s in (1e-6, 7.0, 2e11):
        assert ellipticity(s * A).minimum == pytest.approx(s * 0.6, rel=1e-12)
    zero = ellipticity(np.zeros((4, 4)))
    assert zero.minimum == 0.0 and np.linalg.norm(zero.normal) == 1.0


# -- brute force ----------------------------------------------------------------------------
def random_tensor(d: int, kind: str, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(d * d, d * d))
    if kind == "spd":  # positive definite: strongly elliptic
        return X @ X.T / d
    if kind == "symmetric":  # major symmetry, usually not elliptic
        return X + X.T + 2.0 * np.eye(d * d)
    return X + 1.5 * np.eye(d * d)  # no symmetry


KINDS = ["spd", "symmetric", "general"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_2d_against_brute_force(kind, seed):
    A = random_tensor(2, kind, seed)
    scale = np.abs(A).max()
    result = ellipticity(A)
    reference = brute_force_2d(A)
    assert reference - 1e-6 * scale <= result.minimum <= reference + 1e-12 * scale
    # attained at the returned normal
    assert result.minimum == pytest.approx(lambda_min(A, result.normal[None])[0], rel=0, abs=1e-12 * scale)
    assert_normal(result, result.normal)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_3d_against_brute_force(kind, seed):
    A = random_tensor(3, kind, seed)
    scale = np.abs(A).max()
    result = ellipticity(A)
    reference = brute_force_3d(A, seed)
    assert reference - 1e-6 * scale <= result.minimum <= reference + 1e-12 * scale
    assert result.minimum == pytest.approx(lambda_min(A, result.normal[None])[0], rel=0, abs=1e-12 * scale)
    assert_normal(result, result.normal)


# -- input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, match", [((3, 3), "Mandel"), ((6, 6), "Mandel"), ((4, 5), r"got shape \(4, 5\)"),
                                          ((16,), r"\(4, 4\) in 2-D or \(9, 9\) in 3-D"),
                                          ((2, 2, 2, 2), r"\(d², d²\)")])
def test_bad_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        ellipticity(np.ones(shape))
    with pytest.raises(ValueError, match=match):
        acoustic_tensor(np.ones(shape), np.ones(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(bad):
    A = isotropic(3, 1.0, 1.0)
    A[4, 2] = bad
    with pytest.raises(ValueError, match="A must be finite; got 1 non-finite"):
        ellipticity(A)
    with pytest.raises(ValueError, match="n must be finite"):
        acoustic_tensor(isotropic(2, 1.0, 1.0), [1.0, bad])


def test_bad_direction_and_type():
    with pytest.raises(ValueError, match=r"n must have shape \(3,\) or \(M, 3\).*got shape \(2,\)"):
        acoustic_tensor(isotropic(3, 1.0, 1.0), [1.0, 0.0])
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        acoustic_tensor(isotropic(2, 1.0, 1.0), np.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="real"):
        ellipticity(isotropic(2, 1.0, 1.0) * (1 + 1j))
    with pytest.raises(TypeError, match="real"):
        ellipticity([["a"] * 4] * 4)


def test_public_names():
    assert dm.ellipticity is ellipticity
    assert dm.acoustic_tensor is acoustic_tensor
    assert dm.Ellipticity is Ellipticity
