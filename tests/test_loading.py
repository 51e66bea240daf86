"""Virtual testing (issue 8): the RVE along load paths, against independent references."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell import SolverPolicy
from dolfinx_multiscale.cli import main
from dolfinx_multiscale.errors import LoadPathError
from dolfinx_multiscale.studies.loading import load_path, parse_path, ramp

COMM = MPI.COMM_SELF
MESHES = Path(__file__).resolve().parents[1] / "meshes"
E_M, NU, SY0, H, HK = 1.0, 0.3, 0.005, 0.05, 0.02


@pytest.fixture(scope="module")
def cell2d():
    return dm.read_msh(MESHES / "hex_fibres.msh", comm=COMM)


@pytest.fixture(scope="module")
def coarse2d():
    return dm.microstructures.circular_inclusion(0.3, h=0.08, comm=COMM)


def reference_j2(strains, E, nu, sy0, H, Hk):
    """Independent strain-driven radial return on full 3x3 tensors (isotropic + Prager
    kinematic hardening), returning the stress tensors of every step."""
    mu, lmbda = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
    eps_p, X, p = np.zeros((3, 3)), np.zeros((3, 3)), 0.0
    out = []
    for eps in strains:
        sig_tr = lmbda * np.trace(eps - eps_p) * np.eye(3) + 2 * mu * (eps - eps_p)
        xi = sig_tr - np.trace(sig_tr) / 3 * np.eye(3) - X
        q = np.sqrt(1.5 * np.sum(xi * xi))
        f = q - (sy0 + H * p)
        if f > 0:
            dp = f / (3 * mu + H + Hk)
            n = 1.5 * xi / q
            eps_p = eps_p + dp * n
            X = X + (2.0 / 3.0) * Hk * dp * n
            p += dp
            sig_tr = sig_tr - 2 * mu * dp * n
        out.append(sig_tr)
    return out


def mandel2d(t):
    return np.array([t[0, 0], t[1, 1], np.sqrt(2) * t[0, 1]])


def mandel3d(t):
    r2 = np.sqrt(2)
    return np.array([t[0, 0], t[1, 1], t[2, 2], r2 * t[1, 2], r2 * t[0, 2], r2 * t[0, 1]])


def test_elastic_limit_equals_effective_tensor(coarse2d):
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=1e6, H=H)
    rve = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.2)})
    C = rve.effective_tensor()
    path = {"steps": [{"strain": {"11": 0.01}}, {"strain": {"22": -0.004, "12": 0.003}},
                      {"strain": {"11": -0.002}}]}
    for rec in load_path(rve, path):
        E, S = np.array(rec["E"]), np.array(rec["Sigma"])
        assert np.abs(S - C @ E).max() <= 1e-10 * np.abs(S).max()
        assert rec["p_mean"] == 0.0 and rec["dissipation"] == 0.0


@pytest.mark.parametrize("dim", [2, 3])
def test_homogeneous_j2_cell_equals_single_point(dim):
    micro = (dm.microstructures.circular_inclusion(0.3, h=0.1, comm=COMM) if dim == 2
             else dm.microstructures.spherical_inclusion(0.2, h=0.3, comm=COMM))
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H, Hk=HK)
    rve = dm.RVE(micro, {1: j2, 2: j2})
    # non-proportional load and unload, tensor components
    amp = [0.002, 0.006, 0.01, 0.006, 0.0, -0.004]
    steps, tensors = [], []
    for k, a in enumerate(amp):
        e = np.zeros((3, 3))
        e[0, 0], e[1, 1], e[0, 1] = a, -0.3 * a, 0.2 * a * (k % 3)
        e[1, 0] = e[0, 1]
        if dim == 3:
            e[2, 2], e[1, 2] = 0.1 * a, -0.15 * a
            e[2, 1] = e[1, 2]
        tensors.append(e)
        keys = ["11", "22", "12"] + (["33", "23", "13"] if dim == 3 else [])
        steps.append({"strain": {k_: float(e[int(k_[0]) - 1, int(k_[1]) - 1]) for k_ in keys}})
    ref = reference_j2(tensors, E_M, NU, SY0, H, HK)
    records = load_path(rve, {"steps": steps})
    to_mandel = mandel2d if dim == 2 else mandel3d
    assert any(r["p_mean"] > 0 for r in records)
    for rec, sig in zip(records, ref):
        S = np.array(rec["Sigma"])
        assert np.abs(S - to_mandel(sig)).max() <= 1e-10 * np.abs(sig).max()
        if dim == 2:
            assert rec["Sigma33"] == pytest.approx(sig[2, 2], rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
def test_mixed_control_uniaxial_stress_poisson(dim):
    micro = (dm.microstructures.circular_inclusion(0.3, h=0.1, comm=COMM) if dim == 2
             else dm.microstructures.spherical_inclusion(0.2, h=0.3, comm=COMM))
    mat = dm.LinearElastic(E=2.0, nu=0.3)
    rve = dm.RVE(micro, {1: mat, 2: mat})
    free = {"22": 0.0, "12": 0.0} if dim == 2 else {"22": 0.0, "33": 0.0, "12": 0.0, "13": 0.0, "23": 0.0}
    records = load_path(rve, ramp({"11": 0.01}, free, steps=3))
    ratio = -0.3 / 0.7 if dim == 2 else -0.3
    for rec in records:
        E, S = np.array(rec["E"]), np.array(rec["Sigma"])
        assert E[1] / E[0] == pytest.approx(ratio, rel=1e-10)
        assert np.abs(S[1:]).max() <= 1e-10 * abs(S[0])


def test_path_plastic_quadratic_dissipative_elastic_unloading(cell2d):
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H)
    rve = dm.RVE(cell2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)})
    C_el = rve.effective_tensor()
    up = [{"strain": {"11": 0.004 * k}, "stress": {"22": 0.0, "12": 0.0}} for k in range(1, 5)]
    down = [{"strain": {"11": 0.016 - 0.0005}, "stress": {"22": 0.0, "12": 0.0}}]
    records = load_path(rve, {"steps": up + down})
    assert records[-2]["p_mean"] > 1e-3
    assert min(r["dissipation"] for r in records) >= -1e-14
    assert sum(r["dissipation"] for r in records) > 0
    for rec in records:
        assert abs(rec["Sigma"][1]) <= 1e-10 * abs(rec["Sigma"][0])
        assert rec["hill_mandel_residual"] <= 1e-10
    # unloading is elastic: no point re-yields, ΔΣ = C_el ΔE, no dissipation
    dE = np.array(records[-1]["E"]) - np.array(records[-2]["E"])
    dS = np.array(records[-1]["Sigma"]) - np.array(records[-2]["Sigma"])
    assert records[-1]["p_mean"] == records[-2]["p_mean"] and records[-1]["dissipation"] == 0.0
    assert np.abs(dS - C_el @ dE).max() <= 1e-8 * np.abs(C_el @ dE).max()
    # quadratic convergence of the micro Newton on a plastic step
    rve.solve(np.array(records[-2]["E"]) + np.array([0.003, -0.001, 0.0]), tangent=False)
    r = np.array(rve.residuals)
    r = r[r > 1e-12 * r[0]]
    assert r.size >= 3
    ratios = r[1:] / r[:-1] ** 2
    assert ratios.max() <= 20 * ratios.min()


def test_condensed_tangent_matches_finite_differences(coarse2d):
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H, Hk=HK)
    rve = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)}, rtol=1e-13)
    rve.solve(np.array([0.02, 0.0, 0.0]))
    rve.commit()
    for E0 in (np.array([0.021, 0.003, 0.002]), np.array([0.019, 0.0, 0.0])):  # plastic / elastic
        _, C = rve.solve(E0)
        h = 1e-7  # a micro point lies within 1e-6 of its yield surface at the first E0
        C_fd = np.column_stack([(rve.solve(E0 + h * e, tangent=False)[0] - rve.solve(E0 - h * e, tangent=False)[0])
                                / (2 * h) for e in np.eye(3)])
        assert np.abs(C_fd - C).max() <= 1e-6 * np.abs(C).max()


def test_step_cut_and_failure(coarse2d):
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H)
    rve = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)}, max_iterations=3)
    records = load_path(rve, {"steps": [{"strain": {"11": 0.03}}]}, max_cuts=8)
    substeps = records[0]["substeps"]
    assert records[0]["cuts"] >= 1 and len(substeps) > 1 and substeps[-1] == 1.0
    # the cut path reaches the same state as the same sub-steps taken directly
    reference = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)})
    direct = load_path(reference, {"steps": [{"strain": {"11": 0.03 * a}} for a in substeps]})
    assert np.allclose(records[0]["Sigma"], direct[-1]["Sigma"], rtol=1e-9)
    rve2 = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)}, max_iterations=1)
    with pytest.raises(LoadPathError, match=r"load step 1 failed after 2 step cuts"):
        load_path(rve2, {"steps": [{"strain": {"11": 0.05}}]}, max_cuts=2)


@pytest.mark.parametrize("steps,message", [
    ([{"strain": {"11": 0.01}, "stress": {"11": 0.0}}], "both strain- and stress-controlled"),
    ([{"strain": {"14": 0.01}}], "tensor component must be one of 11, 22, 12"),
    ([{"strain": {"11": "a lot"}}], "must be a finite number"),
    ([{"strains": {"11": 0.01}}], "step 1: must be an object with 'strain' and/or 'stress'"),
    ([], "at least one step"),
])
def test_parse_path_errors(steps, message):
    with pytest.raises(ValueError, match=message):
        parse_path({"steps": steps}, 2)


def test_parse_path_shear_is_tensor_component():
    (step,) = parse_path({"steps": [{"strain": {"21": 0.01}, "stress": {"22": 1.0}}]}, 2)
    assert step.strain[2] == pytest.approx(np.sqrt(2) * 0.01)
    assert step.stress_controlled.tolist() == [False, True, False]


J2_PHASES = ["--phase", "1:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05", "--phase", "2:E=10,nu=0.3"]


def test_cli_rve_path_two_ranks_equal_serial(tmp_path):
    mesh = str(MESHES / "square_circle.msh")
    args = ["rve-path", mesh, *J2_PHASES, "--strain", "11=0.01", "--stress", "22=0", "--steps", "3", "--unload"]
    assert main([*args, "--json", str(tmp_path / "s.json"), "--png", str(tmp_path / "c.png")]) == 0
    proc = subprocess.run([str(Path(sys.executable).parent / "mpiexec"), "-n", "2",
                           str(Path(sys.executable).parent / "dolfinx-multiscale"), *args,
                           "--json", str(tmp_path / "p.json")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    s, p = (json.loads((tmp_path / f).read_text()) for f in ("s.json", "p.json"))
    assert p["n_ranks"] == 2 and len(s["steps"]) == 6
    for a, b in zip(s["steps"], p["steps"]):
        scale = np.abs(a["Sigma"]).max()
        assert np.abs(np.array(a["Sigma"]) - b["Sigma"]).max() <= 1e-10 * scale
        assert np.abs(np.array(a["E"]) - b["E"]).max() <= 1e-10 * np.abs(a["E"]).max()
        assert {"E", "Sigma", "Sigma33", "p_mean", "newton_iterations", "hill_mandel_residual",
                "dissipation"} <= set(a)
    assert (tmp_path / "c.png").stat().st_size > 10_000 and (tmp_path / "c_step6.png").exists()


@pytest.mark.parametrize("phase,extra,message", [
    ("1:model=vm,E=1,nu=0.3", [], "unknown model='vm'"),
    ("1:model=j2,E=1,nu=0.3,sy0=0", [], "sy0 must be > 0"),
    ("1:model=j2,E=1,nu=0.3,sy0=0.01,H=-1", [], "H must be >= 0"),
    ("1:E=1,nu=0.3,sy0=0.01", [], "plastic parameters; add model=j2"),
    ("1:model=j2,E=1,nu=0.3,sy0=0.01", ["--stress", "11=0"], "both strain- and stress-controlled"),
])
def test_cli_rve_path_bad_input(tmp_path, capsys, phase, extra, message):
    out = tmp_path / "o.json"
    status = main(["rve-path", str(MESHES / "square_circle.msh"), "--phase", phase, "--phase", "2:E=10,nu=0.3",
                   "--strain", "11=0.01", *extra, "--json", str(out)])
    assert status == 2 and message in capsys.readouterr().err and not out.exists()


def test_cli_rve_path_malformed_path_file(tmp_path, capsys):
    path = tmp_path / "path.json"
    path.write_text(json.dumps({"steps": [{"strain": {"11": 0.01}}, {"strain": [0.01]}]}))
    out = tmp_path / "o.json"
    assert main(["rve-path", str(MESHES / "square_circle.msh"), *J2_PHASES, "--path", str(path),
                 "--json", str(out)]) == 2
    assert "step 2" in capsys.readouterr().err and not out.exists()


def test_approximate_tangent_costs_no_factorization(coarse2d):
    """approximate_tangent=True condenses with the last Newton factorization: close to the
    exact tangent (to about the last Newton correction) and no extra factorization."""
    j2 = dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H, Hk=HK)
    rve = dm.RVE(coarse2d, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.3)})
    E0 = np.array([0.02, 0.004, 0.001])
    _, C_exact = rve.solve(E0)
    before = rve.linear_solver.n_factorizations
    _, C_approx = rve.solve(E0, approximate_tangent=True)
    assert rve.newton_iterations > 0 and rve.linear_solver.n_factorizations - before == rve.newton_iterations
    assert 0 < np.abs(C_approx - C_exact).max() <= 1e-4 * np.abs(C_exact).max()
    with pytest.raises(ValueError, match="tangent must be"):
        rve.solve(E0, tangent="exact")


def test_iterative_solver_path_equals_direct():
    """With CG + GAMG (3-D) the AMG hierarchy of an earlier tangent is reused while CG
    converges quickly and the Newton corrections are solved inexactly (Eisenstat–Walker);
    the operator is always the current one and the Newton tolerance the same, so the load
    path equals the MUMPS one."""
    micro = dm.microstructures.spherical_inclusion(0.2, h=0.25, comm=COMM)
    mats = {1: dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H, Hk=HK), 2: dm.LinearElastic(E=10.0, nu=0.3)}
    path = ramp({"11": 0.01}, None, steps=3, unload=True)
    direct = load_path(dm.RVE(micro, mats), path, progress=False)
    assert dm.RVE(micro, mats).linear_solver.ksp.getType() == "preonly"  # below iterative_dofs_varying
    iterative_policy = SolverPolicy(iterative_dofs_varying={2: 0, 3: 0})
    rve = dm.RVE(micro, mats, petsc_options_prefix="amg_path_", solver_policy=iterative_policy)
    iterative = load_path(rve, path, progress=False)
    newton = sum(r["newton_iterations"] for r in iterative)
    assert rve.linear_solver.ksp.getType() == "cg" and newton > 5
    assert rve.linear_solver.n_factorizations < newton  # hierarchies were reused
    S_d, S_i = (np.array([r["Sigma"] for r in recs]) for recs in (direct, iterative))
    assert np.abs(S_i - S_d).max() <= 1e-9 * np.abs(S_d).max()
    rebuilt = dm.RVE(micro, mats, petsc_options_prefix="amg_rebuilt_",  # rebuild every time
                     solver_policy=dataclasses.replace(iterative_policy, amg_reuse_growth=0.0))
    S_r = np.array([r["Sigma"] for r in load_path(rebuilt, path, progress=False)])
    assert rebuilt.linear_solver.n_factorizations > 2 * rve.linear_solver.n_factorizations
    assert np.abs(S_r - S_d).max() <= 1e-9 * np.abs(S_d).max()
    # inexact Newton: without the forcing term every correction is solved to ksp_rtol
    exact = dm.RVE(micro, mats, petsc_options_prefix="amg_exact_",
                   solver_policy=dataclasses.replace(iterative_policy, newton_forcing=0.0))
    S_e = np.array([r["Sigma"] for r in load_path(exact, path, progress=False)])
    assert np.abs(S_e - S_d).max() <= 1e-9 * np.abs(S_d).max()
    assert rve.linear_solver.n_krylov_iterations < 0.8 * exact.linear_solver.n_krylov_iterations


def test_strain_path_predicts_with_one_solve(coarse2d):
    """Strain-only steps ask no tangent: each step's predictor is one solve with the last
    operator (not n unit-load solves), and every factorization is a Newton iteration's."""
    mats = {1: dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H), 2: dm.LinearElastic(E=10.0, nu=0.3)}
    rve = dm.RVE(coarse2d, mats)
    records = load_path(rve, ramp({"11": 0.02}, None, steps=4, unload=True), progress=False)
    newton = sum(r["newton_iterations"] for r in records)
    assert newton > 10
    assert rve.linear_solver.n_factorizations == 1 + newton  # the initial (elastic) one + Newton's
    solves = rve.linear_solver.n_krylov_iterations  # preonly: one per solve
    assert solves <= rve.n + newton + len(records)  # unit loads of C_eff, Newton, predictors


def test_solver_choice_by_tangent_variation():
    """Above SolverPolicy.iterative_dofs_varying a J2 cell (new operator at every Newton iteration)
    uses CG + GAMG; a viscoelastic (tangent fixed per time step) or elastic one keeps
    the direct solver."""
    micro = dm.microstructures.circular_inclusion(0.3, h=0.025, comm=COMM)
    fibre = dm.LinearElastic(E=10.0, nu=0.3)
    kinds = {"cg": dm.J2Plasticity(E=E_M, nu=NU, sy0=SY0, H=H),
             "preonly": dm.GeneralizedMaxwell(E=E_M, nu=NU, branches=[(1.0, 1.0)])}
    for ksp_type, matrix in [*kinds.items(), ("preonly", dm.LinearElastic(E=E_M, nu=NU))]:
        rve = dm.RVE(micro, {1: matrix, 2: fibre}, petsc_options_prefix=f"choice_{ksp_type}_")
        assert rve.n_dofs > SolverPolicy().iterative_dofs_varying[2]
        assert rve.linear_solver.ksp.getType() == ksp_type, type(matrix).__name__
