"""Every constitutive law: one validation of its parameters, the material protocol, and
the plane-strain embedding shared by the laws with a history."""

import math
import re

import numpy as np
import pytest

from dolfinx_multiscale.materials import (Conductivity, GeneralizedMaxwell, J2Plasticity, LinearElastic,
                                          Material)
from dolfinx_multiscale.materials.protocol import check_state, real_parameter
from dolfinx_multiscale.tensors import IN_PLANE, embed_plane_strain, isotropic_stiffness, lame_parameters

NON_FINITE = [math.inf, -math.inf, math.nan]

#: each law with valid scalar parameters (keyword arguments)
LAWS = {
    "LinearElastic(E, nu)": (LinearElastic, dict(E=2.0, nu=0.3)),
    "LinearElastic(lmbda, mu)": (LinearElastic, dict(lmbda=1.5, mu=0.8)),
    "Conductivity": (Conductivity, dict(k=3.0)),
    "J2Plasticity": (J2Plasticity, dict(E=2.0, nu=0.3, sy0=0.01, H=0.2, Hk=0.1)),
    "GeneralizedMaxwell": (GeneralizedMaxwell, dict(E=2.0, nu=0.3, branches=[(3.0, 0.2, 1.5)], dt=0.5)),
}
SCALARS = [(law, name) for law, (_, kwargs) in LAWS.items() for name in kwargs if name != "branches"]
BRANCH_VALUES = {3: ("E_i", "nu_i", "tau_i"), 2: ("E_i", "tau_i")}


def _build(law, **change):
    cls, kwargs = LAWS[law]
    return cls(**(kwargs | change))


def _expected(name, value):
    """The one message of a non-finite parameter: ``dt`` accepts inf and has its range."""
    if name == "dt":
        return f"dt must be >= 0 (math.inf allowed); got {value!r}"
    return f"{name} must be finite; got {value!r}"


# -- (a) one validation of the real parameters ------------------------------------------
@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("law,name", SCALARS, ids=[f"{law}-{name}" for law, name in SCALARS])
def test_non_finite_scalar_parameter_is_rejected_by_name(law, name, value):
    if name == "dt" and value == math.inf:
        assert _build(law, dt=value).dt == math.inf  # a fully relaxed step is allowed
        return
    with pytest.raises(ValueError, match=re.escape(_expected(name, value))):
        _build(law, **{name: value})


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("length,position", [(n, i) for n in (3, 2) for i in range(n)])
def test_non_finite_branch_value_is_rejected_by_name(length, position, value):
    branch = [3.0, 0.2, 1.5] if length == 3 else [3.0, 1.5]
    branch[position] = value
    name = f"branches[1]: {BRANCH_VALUES[length][position]}"
    with pytest.raises(ValueError, match=re.escape(f"{name} must be finite; got {value!r}")):
        GeneralizedMaxwell(E=2.0, nu=0.3, branches=[(1.0, 1.0), branch])


def test_non_finite_matrix_entry_is_rejected():
    C = isotropic_stiffness(1.0, 1.0, 3)
    LinearElastic(C=C)
    C[4, 4] = math.inf
    with pytest.raises(ValueError, match=re.escape("C must be finite; got C[4, 4] = inf")):
        LinearElastic(C=C)
    C[4, 4], C[0, 1] = 2.0, math.nan
    with pytest.raises(ValueError, match=re.escape("C must be finite; got C[0, 1] = nan")):
        LinearElastic(C=C)
    k = np.array([[2.0, 0.5], [0.5, 1.0]])
    Conductivity(k)
    for bad in (math.inf, -math.inf, math.nan):
        k[1, 1] = bad
        with pytest.raises(ValueError, match=re.escape(f"k must be finite; got k[1, 1] = {bad}")):
            Conductivity(k)


def test_time_step_accepts_inf_never_nan():
    mat = _build("GeneralizedMaxwell")
    eps = np.array([[1e-3, -4e-4, 2e-4]])
    with pytest.raises(ValueError, match=re.escape("dt must be >= 0 (math.inf allowed); got nan")):
        mat.dt = math.nan
    assert mat.dt == 0.5  # unchanged by the rejected value
    mat.dt = math.inf
    sigma, tangent, _ = mat.update(eps, mat.initial_state(1))
    relaxed = mat.relaxed().matrix(2)
    assert np.allclose(tangent[0], relaxed, rtol=1e-14) and np.allclose(sigma[0], relaxed @ eps[0], rtol=1e-14)
    for bad in (math.nan, -math.inf, -1.0):
        with pytest.raises(ValueError, match=re.escape(f"t must be >= 0 (math.inf allowed); got {bad!r}")):
            mat.relaxation_stiffness(bad)
        with pytest.raises(ValueError, match=re.escape(f"dt must be >= 0 (math.inf allowed); got {bad!r}")):
            mat.algorithmic_tangent(bad)
    assert np.array_equal(mat.relaxation_stiffness(math.inf, 2), relaxed)
    assert np.array_equal(mat.algorithmic_tangent(math.inf, 2), relaxed)


def test_real_parameter():
    assert real_parameter("x", np.float32(0.5)) == 0.5 and type(real_parameter("x", 2)) is float
    assert real_parameter("dt", math.inf, allow_inf=True) == math.inf
    for bad in (True, np.bool_(False), "a", None, [1.0]):
        with pytest.raises(TypeError, match="x must be a real number"):
            real_parameter("x", bad)
    with pytest.raises(ValueError, match=re.escape("x must be finite; got -inf")):
        real_parameter("x", -math.inf)
    with pytest.raises(ValueError, match=re.escape("dt must be a number, not nan; got nan")):
        real_parameter("dt", math.nan, allow_inf=True)


def test_lame_parameters_reject_non_finite():
    for E in NON_FINITE:
        with pytest.raises(ValueError, match=re.escape(f"E must be finite; got {E}")):
            lame_parameters(E, 0.3)
    for nu in NON_FINITE:
        with pytest.raises(ValueError, match=re.escape(f"nu must be in (-1, 0.5); got {nu}")):
            lame_parameters(1.0, nu)


# -- (b) the material protocol ----------------------------------------------------------
@pytest.mark.parametrize("law", list(LAWS))
def test_every_law_is_a_material(law):
    mat = _build(law)
    assert isinstance(mat, Material)
    for attr in ("kinematics", "is_linear", "spd_tangent", "varying_tangent"):
        assert attr in dir(type(mat)), f"{law}.{attr} is not a class attribute"
        assert isinstance(getattr(type(mat), attr), bool) or attr == "kinematics"
    assert mat.is_linear == (law.split("(")[0] in ("LinearElastic", "Conductivity"))


def test_protocol_check_is_not_vacuous():
    class NoUpdate:
        kinematics, is_linear, spd_tangent, varying_tangent = None, True, True, False

        def initial_state(self, n):
            return {}

    assert not isinstance(NoUpdate(), Material)
    assert not isinstance(object(), Material)


def test_check_state():
    state = {"eps_p": np.zeros((4, 6)), "p": np.zeros(4), "other": None}
    eps_p, p = check_state(state, {"eps_p": ("N", 6), "p": ("N",)}, 4)
    assert eps_p is state["eps_p"] and p is state["p"]
    with pytest.raises(ValueError, match=re.escape("state must have keys 'eps_p' and 'q'; missing 'q'")):
        check_state(state, {"eps_p": ("N", 6), "q": ("N",)})
    with pytest.raises(ValueError, match=re.escape(
            "state['eps_p'] must have shape (N, 6) and state['p'] shape (N, 2); got (4, 6) and (4,)")):
        check_state(state, {"eps_p": ("N", 6), "p": ("N", 2)})
    with pytest.raises(ValueError, match=re.escape("state['p'] must have shape (N,); got ()")):
        check_state({"p": 0.0}, {"p": ("N",)})
    with pytest.raises(ValueError, match="state has 4 points but the strain has 5"):
        check_state(state, {"eps_p": ("N", 6), "p": ("N",)}, 5)


# -- (c) numbers: elastic steps, and 2-D plane strain = the 3-D law restricted ------------
def _strains(n, dim, scale, seed):
    return np.random.default_rng(seed).normal(scale=scale, size=(n, 3 if dim == 2 else 6))


@pytest.mark.parametrize("law", list(LAWS))
@pytest.mark.parametrize("dim", [2, 3])
def test_small_step_from_the_initial_state_is_linear(law, dim):
    """At a small (elastic) strain from the virgin state, ``σ = T ε`` to round-off, and
    for the laws with a history ``T`` is the expected closed form (not just any matrix)."""
    mat = _build(law)
    n = 7
    if law == "Conductivity":
        eps = np.random.default_rng(1).normal(size=(n, dim))
        expected = 3.0 * np.eye(dim)
    else:
        eps = _strains(n, dim, 1e-4, 1)  # J2: von Mises stress ~3e-4 << sy0 = 1e-2
        lmbda, mu = lame_parameters(2.0, 0.3) if law != "LinearElastic(lmbda, mu)" else (1.5, 0.8)
        if law == "GeneralizedMaxwell":  # C_alg = C_inf + g C_1, g = (1 - e^-x)/x, x = dt/tau
            g = -math.expm1(-0.5 / 1.5) / (0.5 / 1.5)
            lm1, mu1 = lame_parameters(3.0, 0.2)
            lmbda, mu = lmbda + g * lm1, mu + g * mu1
        expected = isotropic_stiffness(lmbda, mu, dim)
    sigma, tangent, new = mat.update(eps, mat.initial_state(n))
    assert sigma.shape == eps.shape and tangent.shape == (n,) + expected.shape
    assert np.abs(tangent - expected).max() <= 1e-14 * np.abs(expected).max()
    linear = np.einsum("pij,pj->pi", tangent, eps)
    assert np.linalg.norm(sigma - linear) <= 1e-14 * np.linalg.norm(sigma)
    if law == "J2Plasticity":
        assert np.all(new["p"] == 0) and np.all(new["eps_p"] == 0)


@pytest.mark.parametrize("law", ["J2Plasticity", "GeneralizedMaxwell"])
@pytest.mark.parametrize("scale", [1e-4, 2e-2], ids=["elastic", "inelastic"])
def test_plane_strain_is_the_3d_law_restricted(law, scale):
    """Two steps in 2-D equal two steps of the 3-D law with ε33 = ε13 = ε23 = 0."""
    mat = _build(law)
    n = 9
    s2, s3 = mat.initial_state(n), mat.initial_state(n)
    for step in range(2):
        eps2 = _strains(n, 2, scale, 10 + step)
        eps3, dim = embed_plane_strain(eps2)
        assert dim == 2 and np.array_equal(eps3[:, IN_PLANE], eps2)
        assert not eps3[:, [2, 3, 4]].any()
        sig2, T2, new2 = mat.update(eps2, s2)
        sig3, T3, new3 = mat.update(eps3, s3)
        scale_s = np.abs(sig3).max()
        assert np.abs(sig2 - sig3[:, IN_PLANE]).max() <= 1e-14 * scale_s
        assert np.abs(T2 - T3[:, IN_PLANE][:, :, IN_PLANE]).max() <= 1e-14 * np.abs(T3).max()
        assert np.abs(new2["sigma33"] - sig3[:, 2]).max() <= 1e-14 * scale_s
        for key in new3:
            assert np.allclose(new2[key], new3[key], rtol=1e-14, atol=1e-14 * np.abs(new3[key]).max())
        s2, s3 = new2, new3
    if law == "J2Plasticity":  # the inelastic case really yields, the elastic one does not
        assert (s2["p"].max() > 0) == (scale > 1e-3)
    else:
        assert np.abs(s2["alpha"]).max() > 0
