"""Finite-strain homogenization against independent references.

* a homogeneous cell: ``P̄`` and ``Ā`` equal the law's closed form at ``F̄``;
* two- and three-layer laminates (2-D and 3-D, layer normal along any axis): ``P̄``
  equals the rank-one laminate solution (``F_i = F̄ + a_i ⊗ N``, ``Σ f_i a_i = 0``,
  ``P_i N`` continuous), solved here with scipy from the laws' ``P`` alone, along a
  general ``F̄`` path and under uniaxial mixed control; the ellipticity indicator of the
  RVE's ``Ā`` matches that of the laminate's tangent (central differences of the
  reference).
"""

from __future__ import annotations

import json
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest
import scipy.optimize

import dolfinx_multiscale as dm
from dolfinx_multiscale.cli import main
from dolfinx_multiscale.studies.loading import load_path, ramp

COMM = MPI.COMM_WORLD
SOFT = dm.NeoHookean(E=1.0, nu=0.3)
STIFF = dm.NeoHookean(E=10.0, nu=0.25)
SVK = dm.SaintVenantKirchhoff(E=4.0, nu=0.2)
MESHES = Path(__file__).resolve().parents[1] / "meshes"


def law_P(law, F: np.ndarray) -> np.ndarray:
    """The law's first Piola–Kirchhoff stress at one ``(d, d)`` gradient."""
    d = F.shape[0]
    return law.update((F - np.eye(d)).reshape(1, -1), {}, False)[0].reshape(d, d)


def laminate_P(laws, fractions, normal_axis: int, F: np.ndarray) -> np.ndarray:
    """``P̄`` of the rank-one laminate at ``F̄`` (layers ``F_i = F̄ + a_i ⊗ N``)."""
    d = F.shape[0]
    N = np.eye(d)[normal_axis]
    f = np.asarray(fractions)
    m = len(laws)

    def layer_gradients(x):
        a = x.reshape(m - 1, d)
        a = np.vstack([a, -(f[:-1] @ a) / f[-1]])  # Σ f_i a_i = 0
        return [F + np.outer(ai, N) for ai in a]

    def traction_jump(x):
        t = [law_P(law, Fi) @ N for law, Fi in zip(laws, layer_gradients(x))]
        return np.concatenate([ti - t[-1] for ti in t[:-1]])

    sol = scipy.optimize.root(traction_jump, np.zeros((m - 1) * d), method="hybr", tol=1e-15)
    assert np.abs(traction_jump(sol.x)).max() <= 1e-13
    return sum(fi * law_P(law, Fi) for fi, law, Fi in zip(f, laws, layer_gradients(sol.x)))


def laminate_uniaxial(laws, fractions, normal_axis: int, F11: float, d: int,
                      fixed: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(F̄, P̄)`` of the laminate with ``F̄11`` given, the components ``fixed`` (row-major
    indices) of ``F̄`` held at the identity's and every other ``P̄`` component 0."""
    free = [k for k in range(d * d) if k != 0 and k not in fixed]

    def F_of(x):
        F = np.eye(d).ravel()
        F[0] = F11
        F[free] += x
        return F.reshape(d, d)

    def residual(x):
        return laminate_P(laws, fractions, normal_axis, F_of(x)).ravel()[free]

    sol = scipy.optimize.root(residual, np.zeros(len(free)), method="hybr", tol=1e-14)
    F = F_of(sol.x)
    return F, laminate_P(laws, fractions, normal_axis, F)


def fd_tangent(fun, F: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """``∂P/∂F`` ``(d², d²)`` by central differences of ``fun(F) -> P``."""
    d = F.shape[0]
    A = np.empty((d * d, d * d))
    for k in range(d * d):
        e = np.zeros(d * d)
        e[k] = h
        A[:, k] = (fun(F + e.reshape(d, d)) - fun(F - e.reshape(d, d))).ravel() / (2 * h)
    return A


@pytest.fixture(scope="module")
def square():
    return dm.microstructures.circular_inclusion(0.2, h=0.2, comm=COMM)


@pytest.mark.parametrize("bc", ["periodic", "kubc", "subc"])
def test_homogeneous_cell_equals_the_law(square, bc):
    """One law in every phase, every boundary condition (periodic, w = 0 on ∂Y, minimal
    kinematic ⟨Grad w⟩ = 0): P̄(F̄) = P(F̄), Ā = A(F̄), P̄33 = P33 (plane strain), to 1e-10."""
    F = np.array([[1.2, 0.15], [-0.05, 0.9]])
    for law in (SOFT, SVK):
        rve = dm.RVE(square, {1: law, 2: law}, bc=bc)
        P, A = rve.solve((F - np.eye(2)).ravel())
        P_ref, A_ref, extra = law.update((F - np.eye(2)).reshape(1, -1), {}, True)
        assert np.abs(P - P_ref[0]).max() <= 1e-10 * np.abs(P_ref).max()
        assert np.abs(A - A_ref[0]).max() <= 1e-10 * np.abs(A_ref).max()
        assert abs(rve.average_sigma33() - extra["sigma33"][0]) <= 1e-10 * np.abs(P_ref).max()
        assert rve.hill_mandel_residual() <= 1e-12


def test_homogeneous_cell_3d():
    cube = dm.microstructures.laminate([0.5, 0.5], direction=0, dim=3, h=0.5, comm=COMM)
    F = np.array([[1.1, 0.05, 0.0], [0.02, 0.95, 0.03], [-0.04, 0.0, 1.05]])
    rve = dm.RVE(cube, {1: SOFT, 2: SOFT})
    P, A = rve.solve((F - np.eye(3)).ravel())
    P_ref, A_ref, _ = SOFT.update((F - np.eye(3)).reshape(1, -1), {}, True)
    assert A.shape == (9, 9)
    assert np.abs(P - P_ref[0]).max() <= 1e-10 * np.abs(P_ref).max()
    assert np.abs(A - A_ref[0]).max() <= 1e-10 * np.abs(A_ref).max()


@pytest.mark.parametrize("fractions, axis, laws", [
    ([0.4, 0.6], 0, (SOFT, STIFF)),
    ([0.25, 0.35, 0.4], 1, (STIFF, SOFT, SVK)),
])
def test_laminate_along_a_general_path_2d(fractions, axis, laws):
    """P̄ of the periodic laminate cell equals the rank-one laminate to 1e-8 along a
    non-proportional F̄ path (F12 ≠ F21); the ellipticity indicator of Ā equals the
    laminate tangent's."""
    micro = dm.microstructures.laminate(fractions, direction=axis, dim=2, h=0.25, comm=COMM)
    rve = dm.RVE(micro, dict(enumerate(laws, start=1)))
    path = [{"F": {"11": 1.1, "12": 0.1, "21": -0.05, "22": 0.95}},
            {"F": {"11": 1.25, "12": 0.2, "21": 0.05, "22": 0.85}},
            {"F": {"11": 1.1, "12": 0.3, "21": 0.1, "22": 0.9}}]
    records = load_path(rve, {"steps": path}, progress=False)
    for rec in records:
        F = np.array(rec["F"])
        P_ref = laminate_P(laws, fractions, axis, F)
        assert np.abs(np.array(rec["P"]) - P_ref).max() <= 1e-8 * np.abs(P_ref).max()
        assert rec["hill_mandel_residual"] <= 1e-10
    A_ref = fd_tangent(lambda F: laminate_P(laws, fractions, axis, F), F)
    ref = dm.ellipticity(A_ref)
    assert abs(records[-1]["ellipticity"]["min"] - ref.minimum) <= 1e-6 * abs(ref.minimum)
    assert np.abs(np.abs(np.array(records[-1]["ellipticity"]["n"]) @ ref.normal) - 1) <= 1e-6


def test_laminate_3d_along_a_general_path():
    """Three layers stacked along e2 in 3-D, a general F̄ (all nine components): P̄ equals the
    rank-one laminate to 1e-8."""
    fractions, laws = [0.3, 0.3, 0.4], (SOFT, STIFF, SVK)
    micro = dm.microstructures.laminate(fractions, direction=1, dim=3, h=0.5, comm=COMM)
    rve = dm.RVE(micro, dict(enumerate(laws, start=1)))
    F = np.array([[1.1, 0.05, -0.03], [0.02, 0.95, 0.04], [0.01, -0.06, 1.05]])
    keys = [f"{i + 1}{j + 1}" for i in range(3) for j in range(3)]
    records = load_path(rve, {"steps": [{"F": dict(zip(keys, (0.5 * (np.eye(3) + F)).ravel().tolist()))},
                                        {"F": dict(zip(keys, F.ravel().tolist()))}]}, progress=False)
    P_ref = laminate_P(laws, fractions, 1, F)
    assert np.abs(np.array(records[-1]["F"]) - F).max() <= 1e-14
    assert np.abs(np.array(records[-1]["P"]) - P_ref).max() <= 1e-8 * np.abs(P_ref).max()


def test_laminate_uniaxial_mixed_control_2d():
    """F11 prescribed, P22 = P12 = P21 = 0: the prescribed stresses hold to 1e-10 and F̄, P̄11
    equal the laminate's to 1e-8 (compression and tension)."""
    fractions, laws = [0.3, 0.7], (STIFF, SOFT)
    micro = dm.microstructures.laminate(fractions, direction=0, dim=2, h=0.25, comm=COMM)
    rve = dm.RVE(micro, {1: laws[0], 2: laws[1]})
    path = ramp({"11": 0.8}, {"22": 0.0, "12": 0.0, "21": 0.0}, steps=4, physics="finite", dim=2)
    records = load_path(rve, path, progress=False)
    for rec in records:
        F, P = np.array(rec["F"]), np.array(rec["P"])
        F_ref, P_ref = laminate_uniaxial(laws, fractions, 0, F[0, 0], 2)
        assert abs(F[0, 0] - (1 - 0.2 * rec["step"] / 4)) <= 1e-14
        assert np.abs(P.ravel()[1:]).max() <= 1e-10 * abs(P[0, 0])
        assert np.abs(F - F_ref).max() <= 1e-8 and abs(P[0, 0] - P_ref[0, 0]) <= 1e-8 * abs(P_ref[0, 0])


def test_laminate_3d_mixed_control():
    """3-D two-layer laminate, normal e3: uniaxial tension along e1 equals the laminate's to
    1e-8. Seven P̄ components are 0; F̄32 stays 0, since a rotation about the loading axis
    leaves ``P̄ = P11 e1⊗e1`` unchanged and must be fixed by one F̄ component."""
    fractions, laws = [0.5, 0.5], (SOFT, STIFF)
    micro = dm.microstructures.laminate(fractions, direction=2, dim=3, h=0.5, comm=COMM)
    rve = dm.RVE(micro, {1: laws[0], 2: laws[1]})
    free = ("12", "13", "21", "22", "23", "31", "33")
    records = load_path(rve, ramp({"11": 1.15}, dict.fromkeys(free, 0.0), steps=2, physics="finite", dim=3),
                        progress=False)
    F, P = np.array(records[-1]["F"]), np.array(records[-1]["P"])
    F_ref, P_ref = laminate_uniaxial(laws, fractions, 2, 1.15, 3, fixed=(7,))
    assert F[2, 1] == 0.0
    assert max(abs(P[int(k[0]) - 1, int(k[1]) - 1]) for k in free) <= 1e-10 * abs(P[0, 0])
    # all eight other P̄ components free: the rotation about e1 is undetermined, said clearly
    rve.committed_state = rve.initial_state(1) and {k: v[0] for k, v in rve.initial_state(1).items()}
    with pytest.raises(ValueError, match="prescribe one skew F component"):
        load_path(rve, ramp({"11": 1.15}, dict.fromkeys((*free, "32"), 0.0), steps=2, physics="finite", dim=3),
                  progress=False)
    assert np.abs(F - F_ref).max() <= 1e-8 and abs(P[0, 0] - P_ref[0, 0]) <= 1e-8 * abs(P_ref[0, 0])


def test_loss_of_ellipticity_is_flagged():
    """Saint Venant–Kirchhoff in strong uniaxial compression loses rank-one convexity: the
    homogeneous cell flags the first step whose indicator is ≤ 0, and the indicator equals
    the law's own (closed-form tangent) at every step."""
    micro = dm.microstructures.laminate([0.5, 0.5], direction=0, dim=2, h=0.5, comm=COMM)
    rve = dm.RVE(micro, {1: SVK, 2: SVK})
    records = load_path(rve, ramp({"11": 0.3}, {"22": 0.0, "12": 0.0, "21": 0.0}, steps=7, physics="finite",
                                  dim=2), progress=False)
    indicator = []
    for rec in records:
        F = np.array(rec["F"])
        _, A, _ = SVK.update((F - np.eye(2)).reshape(1, -1), {}, True)
        ref = dm.ellipticity(A[0])
        assert abs(rec["ellipticity"]["min"] - ref.minimum) <= 1e-8 * np.abs(A).max()
        indicator.append(ref.minimum)
    signs = np.array(indicator) > 0
    assert signs[0] and not signs[-1]
    first = int(np.argmin(signs))
    assert [r["loss_of_ellipticity"] for r in records] == [i == first for i in range(len(records))]


def test_cli_rve_path_finite(tmp_path):
    out = tmp_path / "finite.json"
    status = main(["rve-path", str(MESHES / "square_circle.msh"), "--kinematics", "finite", "--bc", "periodic",
                   "--phase", "1:model=neo-hookean,E=1,nu=0.3", "--phase", "2:model=neo-hookean,E=10,nu=0.3",
                   "--F", "11=1.2", "--F", "12=0.1", "--P", "22=0", "--P", "21=0", "--steps", "2",
                   "--json", str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    assert data["kinematics"] == "finite" and data["dim"] == 2 and data["bc"] == "periodic"
    assert {"n_dofs", "n_ranks", "wall_s", "steps"} <= set(data)
    last = data["steps"][-1]
    assert {"step", "F", "P", "P33", "newton_iterations", "hill_mandel_residual", "ellipticity"} <= set(last)
    F, P = np.array(last["F"]), np.array(last["P"])
    assert F.shape == P.shape == (2, 2)
    assert F[0, 0] == pytest.approx(1.2, abs=1e-14) and F[0, 1] == pytest.approx(0.1, abs=1e-14)  # row-major
    assert abs(P[1, 1]) <= 1e-10 * abs(P[0, 0]) and abs(P[1, 0]) <= 1e-10 * abs(P[0, 0])
    assert last["ellipticity"]["min"] > 0 and len(last["ellipticity"]["n"]) == 2


@pytest.mark.parametrize("extra, message", [
    (["--phase", "1:E=1,nu=0.3", "--F", "11=1.1"], "model=neo-hookean or model=svk"),
    (["--phase", "1:model=neo-hookean,E=1,nu=0.3", "--strain", "11=0.1"], "do not go with --kinematics finite"),
    (["--phase", "1:model=neo-hookean,E=1,nu=0.3", "--F", "13=1.1"], "tensor component must be one of"),
    (["--phase", "1:model=neo-hookean,E=1,nu=0.6", "--F", "11=1.1"], "nu"),
    (["--phase", "1:model=neo-hookean,E=1,nu=0.3,sy0=0.01", "--F", "11=1.1"], "needs exactly E and nu"),
    (["--phase", "1:model=neo-hookean,E=1,nu=0.3", "--F", "11=-0.5"], "the prescribed F gives det F"),
])
def test_cli_rve_path_finite_bad_input(tmp_path, capsys, extra, message):
    out = tmp_path / "o.json"
    status = main(["rve-path", str(MESHES / "square_circle.msh"), "--kinematics", "finite",
                   "--phase", "2:model=neo-hookean,E=10,nu=0.3", *extra, "--json", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1 and not out.exists()


def neo_hookean_ufl(u, law):
    """DOLFINx's hyperelasticity-demo P (plane strain, ``F33 = 1``) in plain UFL."""
    import ufl

    F = ufl.variable(ufl.Identity(2) + ufl.grad(u))
    J = ufl.det(F)
    psi = law.mu / 2 * (ufl.tr(F.T * F) + 1 - 3) - law.mu * ufl.ln(J) + law.lmbda / 2 * ufl.ln(J) ** 2
    return ufl.diff(psi, F)


def test_fe2_plate_stretched_30_percent():
    """A clamped plate stretched by 30 % (total Lagrangian): FE² with a homogeneous
    neo-Hookean cell = the single-scale quadrature material = plain DOLFINx + SNES with the
    demo's UFL energy, to 1e-9; the FE² material also runs under SNES (attach)."""
    import dolfinx.fem as fem
    import dolfinx.fem.petsc
    import ufl

    from dolfinx_multiscale.macro.fe2 import FE2Material
    from dolfinx_multiscale.macro.problems import Beam, cantilever_bcs
    from dolfinx_multiscale.macro.quadrature import LocalMaterial

    cell = dm.microstructures.circular_inclusion(0.2, h=0.25, comm=MPI.COMM_SELF)
    loads = [0.3, 0.6]  # end displacement of a plate of length 2: 15 %, 30 %
    single = Beam(lambda m: LocalMaterial(SOFT, m), mode="tension", cells=4)
    fe2 = Beam(lambda m: FE2Material(dm.RVE(cell, {1: SOFT, 2: SOFT}), m), mode="tension", cells=4)
    h_single, h_fe2 = single.run(loads), fe2.run(loads)
    scale = np.abs(single.u.x.array).max()
    assert scale >= 0.6 - 1e-12
    assert np.abs(fe2.u.x.array - single.u.x.array).max() <= 1e-9 * scale
    assert abs(h_fe2[-1]["reaction"] - h_single[-1]["reaction"]) <= 1e-9 * abs(h_single[-1]["reaction"])
    assert max(h_fe2[-1]["newton_iterations"]) <= 8  # the consistent Ā: quadratic macro Newton

    # plain DOLFINx: the demo's energy, SNES
    V = single.V
    u = fem.Function(V)
    end = fem.Constant(V.mesh, 0.0)
    bcs, _ = cantilever_bcs(V, 2.0, end, component=0)
    v = ufl.TestFunction(V)
    dx = ufl.Measure("dx", metadata={"quadrature_degree": 1})
    residual = ufl.inner(neo_hookean_ufl(u, SOFT), ufl.grad(v)) * dx
    options = {"snes_type": "newtonls", "snes_linesearch_type": "none", "snes_rtol": 1e-12, "snes_atol": 1e-14,
               "ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    problem = dolfinx.fem.petsc.NonlinearProblem(residual, u, bcs=bcs, petsc_options_prefix="nh_ref_",
                                                 petsc_options=options)
    for load in loads:
        end.value = load
        problem.solve()
        assert problem.solver.getConvergedReason() > 0
    assert np.abs(u.x.array - single.u.x.array).max() <= 1e-9 * scale

    # the FE² material under SNES
    snes_beam = Beam(lambda m: FE2Material(dm.RVE(cell, {1: SOFT, 2: SOFT}), m), mode="tension", cells=4)
    fe2_problem = dolfinx.fem.petsc.NonlinearProblem(snes_beam.F, snes_beam.u, J=snes_beam.J, bcs=snes_beam.bcs,
                                                     petsc_options_prefix="fe2_finite_snes_", petsc_options=options)
    snes_beam.material.attach(fe2_problem)
    for load in loads:
        snes_beam.set_load(load)
        fe2_problem.solve()
        assert fe2_problem.solver.getConvergedReason() > 0
        snes_beam.material.commit()
    assert np.abs(snes_beam.u.x.array - single.u.x.array).max() <= 1e-9 * scale


@pytest.fixture(scope="module")
def composite(square):
    return dm.RVE(square, {1: SOFT, 2: STIFF})


def test_objectivity_and_balance_of_angular_momentum(composite):
    """P̄(QF̄) = Q P̄(F̄) for a rotation Q, and P̄ F̄ᵀ symmetric, to 1e-10."""
    F = np.array([[1.15, 0.2], [-0.1, 0.92]])
    P, _ = composite.solve((F - np.eye(2)).ravel(), tangent=False)
    P = P.reshape(2, 2)
    c, s = np.cos(0.7), np.sin(0.7)
    Q = np.array([[c, -s], [s, c]])
    PQ, _ = composite.solve((Q @ F - np.eye(2)).ravel(), tangent=False)
    assert np.abs(PQ.reshape(2, 2) - Q @ P).max() <= 1e-10 * np.abs(P).max()
    tau = P @ F.T
    assert abs(tau[0, 1] - tau[1, 0]) <= 1e-10 * np.abs(tau).max()


def test_linearization_at_identity_is_the_small_strain_tensor(square, composite):
    """Ā at F̄ = I equals the small-strain C_eff of the same cell (same E, ν) in full index
    form, to 1e-8."""
    from dolfinx_multiscale.tensors import from_mandel

    _, A = composite.solve(np.zeros(4))
    C = dm.RVE(square, {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.25)}).effective_tensor()
    full = np.empty((2, 2, 2, 2))
    for k, (i, j) in enumerate([(0, 0), (1, 1), (0, 1)]):  # Mandel columns → the tensor C_ijkl
        col = from_mandel(C[:, k]) / (1.0 if i == j else np.sqrt(2.0))
        full[:, :, i, j] = full[:, :, j, i] = col
    assert np.abs(A - full.reshape(4, 4)).max() <= 1e-8 * np.abs(A).max()


def test_tangent_equals_finite_differences_and_newton_is_quadratic(composite):
    """Ā = central differences of P̄(F̄) to 1e-6; the micro Newton converges quadratically."""
    F = np.array([[1.2, 0.1], [0.05, 0.85]])
    H = (F - np.eye(2)).ravel()
    _, A = composite.solve(H)
    h = 1e-6
    A_fd = np.column_stack([(composite.solve(H + h * e, tangent=False)[0] - composite.solve(H - h * e, tangent=False)[0])
                            / (2 * h) for e in np.eye(4)])
    assert np.abs(A - A_fd).max() <= 1e-6 * np.abs(A).max()
    composite.committed_state = {k: v[0] for k, v in composite.initial_state(1).items()}
    composite.solve(H, tangent=False)
    r = np.array(composite.residuals)  # 3.2e-2, 4.0e-4, 4.8e-7, 3.2e-14
    assert r.size >= 4 and r[-1] <= 1e-12 * r[0]
    ratios = r[1:] / r[:-1] ** 2  # r_{k+1} = C r_k²: C bounded, while r drops 9 decades
    assert ratios.max() <= 30 * ratios.min()


def test_bad_finite_strain_paths(composite):
    """det F̄ ≤ 0 prescribed, a component both F- and P-controlled: clear ValueErrors naming
    the step; a step that inverts micro elements is cut, then fails naming the step and F̄."""
    from dolfinx_multiscale.errors import LoadPathError

    with pytest.raises(ValueError, match=r"step 2: .*det F = -0.5"):
        load_path(composite, {"steps": [{"F": {"11": 1.1}}, {"F": {"11": -0.5}}]}, progress=False)
    with pytest.raises(ValueError, match="step 1: component 22 is both F- and P-controlled"):
        load_path(composite, {"steps": [{"F": {"22": 1.1}, "P": {"22": 0.0}}]}, progress=False)
    composite.committed_state = {k: v[0] for k, v in composite.initial_state(1).items()}
    with pytest.raises(LoadPathError, match=r"load step 1 failed after 1 step cuts \(target F \[0\.02"):
        load_path(composite, {"steps": [{"F": {"11": 0.02, "22": 1.0, "12": 0.9}}]}, max_cuts=1, progress=False)


def test_fe2_composite_macro_newton_is_quadratic():
    """FE² with a two-phase neo-Hookean cell: the macro Newton with the condensed Ā
    converges quadratically (r_{k+1} ≤ C r_k² with C bounded, down to round-off)."""
    from dolfinx_multiscale.macro.fe2 import FE2Material
    from dolfinx_multiscale.macro.problems import Beam

    cell = dm.microstructures.circular_inclusion(0.2, h=0.25, comm=MPI.COMM_SELF)
    fe2 = Beam(lambda m: FE2Material(dm.RVE(cell, {1: SOFT, 2: STIFF}), m), mode="tension", cells=4)
    for h in fe2.run([0.3, 0.6]):  # e.g. 5.3e-1, 9.1e-3, 4.2e-5, 8.9e-10, 1.7e-16
        r = np.array(h["residuals"]) / h["residuals"][0]
        assert r[-1] <= 1e-14 and len(r) <= 6
        above = r[:-1][r[:-1] > 1e-8]
        assert (above[1:] / above[:-1] ** 2).max() <= 10.0


def test_load_unload_back_to_identity(composite):
    """Stretch and return to F̄ = I: the stress-free end state (‖r‖ → 0) is reached (the
    residual scale has a floor), with P̄ = 0 and w = 0 to round-off (elastic: no memory)."""
    composite.committed_state = {k: v[0] for k, v in composite.initial_state(1).items()}
    records = load_path(composite, ramp({"11": 1.2, "12": 0.1}, None, steps=2, unload=True, physics="finite", dim=2),
                        progress=False)
    assert np.abs(np.array(records[-1]["F"]) - np.eye(2)).max() <= 1e-15
    assert np.abs(np.array(records[-1]["P"])).max() <= 1e-12 * np.abs(np.array(records[1]["P"])).max()
    assert np.abs(composite.committed_state["w"]).max() <= 1e-12
