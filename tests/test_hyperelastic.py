"""Tests of dolfinx_multiscale.materials.hyperelastic (neo-Hookean, Saint Venant–Kirchhoff)
against independent references: finite differences of the energy and of the stress,
closed forms, the small-strain limit, 2-D plane strain as 3-D with ``F33 = 1``, and
frame indifference."""

import math
import warnings

import numpy as np
import pytest

from dolfinx_multiscale.kinematics import FINITE_STRAIN
from dolfinx_multiscale.materials import Material, NeoHookean, SaintVenantKirchhoff

E, NU = 3.0, 0.3
LMBDA = E * NU / ((1 + NU) * (1 - 2 * NU))  # independent of tensors.lame_parameters
MU = E / (2 * (1 + NU))
LAWS = {"neo-Hookean": NeoHookean, "SVK": SaintVenantKirchhoff}


@pytest.fixture(params=list(LAWS))
def law(request):
    return LAWS[request.param](E, NU)


def _random_F(rng, n, d, amp=0.3, min_det=0.3):
    """``n`` random gradients ``(n, d, d)`` near ``I`` with ``det F ≥ min_det``."""
    out = []
    while len(out) < n:
        F = np.eye(d) + rng.uniform(-amp, amp, size=(d, d))
        if np.linalg.det(F) >= min_det:
            out.append(F)
    return np.array(out)


def _H(F):
    """Row-major ``H = F − I`` ``(N, d²)`` of gradients ``(N, d, d)``."""
    d = F.shape[-1]
    return (F - np.eye(d)).reshape(len(F), d * d)


def _P(law, F):
    P, _, _ = law.update(_H(F), law.initial_state(len(F)), need_tangent=False)
    return P.reshape(F.shape)


def _rotation(rng, d):
    Q, R = np.linalg.qr(rng.normal(size=(d, d)))
    Q = Q * np.sign(np.diag(R))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    return Q


def _isotropic(d):
    I = np.eye(d)
    return (LMBDA * np.einsum("ij,kl->ijkl", I, I)
            + MU * (np.einsum("ik,jl->ijkl", I, I) + np.einsum("il,jk->ijkl", I, I)))


# ------------------------------------------------------------------ protocol
def test_protocol_attributes(law):
    assert isinstance(law, Material)
    assert law.kinematics is FINITE_STRAIN
    assert (law.is_linear, law.spd_tangent, law.varying_tangent, law.history_keys) == (False, False, True, ())
    assert law.initial_state(5) == {}
    assert math.isclose(law.lmbda, LMBDA, rel_tol=1e-15) and math.isclose(law.mu, MU, rel_tol=1e-15)
    assert (law.E, law.nu) == (E, NU)
    d = law.dissipation({}, {})
    assert np.shape(d) == () and d == 0.0


def test_repr():
    assert repr(NeoHookean(1, 0.3)) == "NeoHookean(E=1, nu=0.3)"
    assert repr(SaintVenantKirchhoff(2.5e9, 0.25)) == "SaintVenantKirchhoff(E=2.5e+09, nu=0.25)"
    assert repr(NeoHookean(1, 0.123456789)) == "NeoHookean(E=1, nu=0.123456789)"


@pytest.mark.parametrize("d", [2, 3])
def test_shapes_and_out_of_plane_key(law, d):
    F = _random_F(np.random.default_rng(0), 4, d)
    P, A, new = law.update(_H(F), {})
    assert P.shape == (4, d * d) and A.shape == (4, d * d, d * d)
    assert set(new) == ({"sigma33"} if d == 2 else set())
    if d == 2:
        assert new["sigma33"].shape == (4,)
    assert law.update(_H(F), {}, need_tangent=False)[1] is None
    assert law.free_energy(_H(F), {}).shape == (4,)


@pytest.mark.parametrize("d", [2, 3])
def test_no_points(law, d):
    P, A, new = law.update(np.zeros((0, d * d)), {})
    assert P.shape == (0, d * d) and A.shape == (0, d * d, d * d)
    if d == 2:
        assert new["sigma33"].shape == (0,)
    assert law.free_energy(np.zeros((0, d * d)), {}).shape == (0,)


# ------------------------------------------------------------------ derivatives
@pytest.mark.parametrize("d", [2, 3])
def test_stress_is_derivative_of_energy(law, d):
    F = _random_F(np.random.default_rng(d), 6, d)
    H = _H(F)
    P, _, _ = law.update(H, {}, need_tangent=False)
    h = 1e-5
    fd = np.empty_like(P)
    for c in range(d * d):
        dH = np.zeros(d * d)
        dH[c] = h
        fd[:, c] = (law.free_energy(H + dH, {}) - law.free_energy(H - dH, {})) / (2 * h)
    assert np.abs(fd - P).max() <= 1e-7 * np.abs(P).max()


@pytest.mark.parametrize("d", [2, 3])
def test_tangent_is_derivative_of_stress(law, d):
    F = _random_F(np.random.default_rng(10 + d), 6, d)
    H = _H(F)
    _, A, new = law.update(H, {})
    h = 1e-5
    fd = np.empty_like(A)
    fd33 = np.empty(A.shape[:2])
    for c in range(d * d):
        dH = np.zeros(d * d)
        dH[c] = h
        Pp, _, newp = law.update(H + dH, {}, need_tangent=False)
        Pm, _, newm = law.update(H - dH, {}, need_tangent=False)
        fd[:, :, c] = (Pp - Pm) / (2 * h)
        if d == 2:
            fd33[:, c] = (newp["sigma33"] - newm["sigma33"]) / (2 * h)
    assert np.abs(fd - A).max() <= 1e-6 * np.abs(A).max()
    if d == 2:  # P33 depends on F: its derivative is a nonzero, smooth function
        assert np.abs(fd33).max() > 0.1 * MU


@pytest.mark.parametrize("d", [2, 3])
def test_tangent_major_symmetry(law, d):
    F = _random_F(np.random.default_rng(20 + d), 8, d)
    _, A, _ = law.update(_H(F), {})
    assert np.abs(A - A.transpose(0, 2, 1)).max() <= 1e-12 * np.abs(A).max()
    # and not the minor symmetry (the full ∂P/∂F, not a symmetric reduction)
    A5 = A.reshape((8,) + (d,) * 4)
    assert np.abs(A5 - A5.transpose(0, 2, 1, 3, 4)).max() > 1e-3 * MU


# ------------------------------------------------------------------ references
@pytest.mark.parametrize("d", [2, 3])
def test_small_strain_limit(law, d):
    P, A, new = law.update(np.zeros((3, d * d)), {})
    assert np.abs(P).max() <= 1e-12
    expected = _isotropic(d).reshape(d * d, d * d)
    assert np.abs(A - expected).max() <= 1e-12 * MU
    assert law.free_energy(np.zeros((3, d * d)), {}) == pytest.approx(0.0, abs=1e-15)
    if d == 2:
        assert np.abs(new["sigma33"]).max() <= 1e-12


@pytest.mark.parametrize("stretch", [0.7, 1.0, 1.4, 2.5])
def test_uniaxial_stretch_neo_hookean(stretch):
    F = np.diag([stretch, 1.0, 1.0])[None]
    P = _P(NeoHookean(E, NU), F)[0]
    s = stretch
    P11 = MU * (s - 1 / s) + LMBDA * math.log(s) / s
    P22 = LMBDA * math.log(s)
    assert P[0, 0] == pytest.approx(P11, abs=1e-12)
    assert P[1, 1] == pytest.approx(P22, abs=1e-12)
    assert P[2, 2] == pytest.approx(P22, abs=1e-12)
    assert np.abs(P - np.diag(np.diag(P))).max() <= 1e-12
    psi = NeoHookean(E, NU).free_energy(_H(F), {})[0]
    assert psi == pytest.approx(0.5 * MU * (s * s - 1) - MU * math.log(s) + 0.5 * LMBDA * math.log(s) ** 2,
                                abs=1e-12)


@pytest.mark.parametrize("stretch", [0.7, 1.0, 1.4, 2.5])
def test_uniaxial_stretch_saint_venant_kirchhoff(stretch):
    F = np.diag([stretch, 1.0, 1.0])[None]
    P = _P(SaintVenantKirchhoff(E, NU), F)[0]
    e = 0.5 * (stretch**2 - 1)
    assert P[0, 0] == pytest.approx(stretch * (LMBDA + 2 * MU) * e, abs=1e-12)
    assert P[1, 1] == pytest.approx(LMBDA * e, abs=1e-12)
    assert P[2, 2] == pytest.approx(LMBDA * e, abs=1e-12)
    assert np.abs(P - np.diag(np.diag(P))).max() <= 1e-12
    psi = SaintVenantKirchhoff(E, NU).free_energy(_H(F), {})[0]
    assert psi == pytest.approx(0.5 * (LMBDA + 2 * MU) * e * e, abs=1e-12)


def test_plane_strain_is_3d_with_unit_F33(law):
    F2 = _random_F(np.random.default_rng(30), 7, 2)
    F3 = np.zeros((7, 3, 3))
    F3[:, :2, :2] = F2
    F3[:, 2, 2] = 1.0
    P2, A2, new = law.update(_H(F2), {})
    P3, A3, new3 = law.update(_H(F3), {})
    assert new3 == {}
    P3 = P3.reshape(7, 3, 3)
    A3 = A3.reshape(7, 3, 3, 3, 3)
    assert np.abs(P2.reshape(7, 2, 2) - P3[:, :2, :2]).max() <= 1e-12
    assert np.abs(new["sigma33"] - P3[:, 2, 2]).max() <= 1e-12
    assert np.abs(A2.reshape(7, 2, 2, 2, 2) - A3[:, :2, :2, :2, :2]).max() <= 1e-12
    assert np.abs(P3[:, :2, 2]).max() <= 1e-12 and np.abs(P3[:, 2, :2]).max() <= 1e-12
    assert np.abs(law.free_energy(_H(F2), {}) - law.free_energy(_H(F3), {})).max() <= 1e-12


@pytest.mark.parametrize("d", [2, 3])
def test_frame_indifference(law, d):
    rng = np.random.default_rng(40 + d)
    F = _random_F(rng, 5, d)
    Q = _rotation(rng, d)
    QF = np.einsum("ij,pjk->pik", Q, F)
    assert np.abs(law.free_energy(_H(QF), {}) - law.free_energy(_H(F), {})).max() <= 1e-12
    assert np.abs(_P(law, QF) - np.einsum("ij,pjk->pik", Q, _P(law, F))).max() <= 1e-12


def test_neo_hookean_nan_where_J_not_positive():
    law = NeoHookean(E, NU)
    F = np.array([np.eye(3), np.diag([-1.0, 1.0, 1.0]), np.diag([0.0, 1.0, 1.0]),
                  np.array([[1.0, 2.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), np.diag([1.2, 1.0, 1.0])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither an exception nor a RuntimeWarning
        P, A, _ = law.update(_H(F), {})
        psi = law.free_energy(_H(F), {})
        P2, A2, new2 = law.update(_H(F[:, :2, :2]), {})
    bad = np.array([False, True, True, True, False])
    assert np.isnan(P[bad]).all() and np.isnan(A[bad]).all() and np.isnan(psi[bad]).all()
    assert np.isfinite(P[~bad]).all() and np.isfinite(A[~bad]).all() and np.isfinite(psi[~bad]).all()
    assert np.isnan(P2[bad]).all() and np.isnan(A2[bad]).all() and np.isnan(new2["sigma33"][bad]).all()
    assert np.isfinite(P2[~bad]).all() and np.isfinite(new2["sigma33"][~bad]).all()


def test_saint_venant_kirchhoff_defined_for_any_F():
    F = np.diag([-0.5, 1.0, 1.0])[None]
    P, A, _ = SaintVenantKirchhoff(E, NU).update(_H(F), {})
    assert np.isfinite(P).all() and np.isfinite(A).all()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", list(LAWS.values()))
@pytest.mark.parametrize("args, error, match", [
    ((0.0, 0.3), ValueError, r"E must be > 0; got 0"),
    ((-2.0, 0.3), ValueError, r"E must be > 0; got -2"),
    ((math.inf, 0.3), ValueError, r"E must be finite; got inf"),
    ((math.nan, 0.3), ValueError, r"E must be finite; got nan"),
    ((1.0, 0.5), ValueError, r"nu must be in \(-1, 0.5\); got 0.5"),
    ((1.0, -1.0), ValueError, r"nu must be in \(-1, 0.5\); got -1"),
    ((1.0, math.nan), ValueError, r"nu must be finite; got nan"),
    (("stiff", 0.3), TypeError, r"E must be a real number; got 'stiff'"),
    ((1 + 2j, 0.3), TypeError, r"E must be a real number; got \(1\+2j\)"),
    ((1.0, None), TypeError, r"nu must be a real number; got None"),
    ((True, 0.3), TypeError, r"E must be a real number; got True"),
])
def test_bad_parameters(cls, args, error, match):
    with pytest.raises(error, match=match):
        cls(*args)


@pytest.mark.parametrize("shape", [(4,), (3, 3), (2, 6), (2, 2, 2), (1, 16)])
def test_bad_strain_shape(law, shape):
    with pytest.raises(ValueError, match=r"strain must be the displacement gradient H = F - I flattened row-major, "
                                         r"shape \(N, 4\) \(2-D plane strain\) or \(N, 9\) \(3-D\); got shape "
                                         + _escaped(shape)):
        law.update(np.zeros(shape), {})
    with pytest.raises(ValueError, match="strain must be"):
        law.free_energy(np.zeros(shape), {})


def _escaped(shape):
    """The escaped text of a shape in a message."""
    return str(shape).replace("(", r"\(").replace(")", r"\)")
