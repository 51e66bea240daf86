"""``dolfinx-multiscale reduce``: a trained model and its report, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cli import main

MESHES = Path(__file__).resolve().parents[1] / "meshes"
J2_PHASES = ["--phase", "1:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05", "--phase", "2:E=10,nu=0.3"]


def test_reduce_writes_a_model_the_run_files_load(tmp_path):
    """The model and its report (modes, cubature points, safety factor, validation error,
    the check's CG iterations);
    loaded for the same cell it answers a point of a load path like the full RVE to the
    report's validation error."""
    out, report = tmp_path / "m.npz", tmp_path / "r.json"
    assert main(["reduce", str(MESHES / "square_circle.msh"), *J2_PHASES, "--paths", "6", "--steps", "3",
                 "--validation-paths", "6", "--out", str(out), "--json", str(report), "--quiet"]) == 0
    r = json.loads(report.read_text())
    assert r["modes"] >= 3 and 0 < r["cubature_points"] < r["cell_points"] and r["safety"] >= 1
    assert r["validation_steps"] > 0 and r["training_s"] > 0 and r["tolerance"] == 1e-3
    micro = dm.read_msh(MESHES / "square_circle.msh", comm=MPI.COMM_SELF)
    materials = {1: dm.J2Plasticity(E=1, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10, nu=0.3)}
    model = dm.ReducedRVE.load(out, dm.RVE(micro, materials))
    assert model.modes == r["modes"] and model.cubature_points == r["cubature_points"]
    assert model.check_iterations == r["check_iterations"] and r["check_cuts"]  # the check's CG count travels
    assert r["history_range"] == model.history_range and r["history_range"]["1:p"] > 0  # J2's p was trained
    E = np.array([0.004, -0.001, 0.002])
    model.fallback = False
    Sigma, _ = model.solve(E, tangent=False)
    exact, _ = dm.RVE(micro, materials).solve(E, tangent=False)
    assert np.linalg.norm(Sigma - exact) <= 2 * r["validation_error"]["max"] * np.linalg.norm(exact)


@pytest.mark.parametrize("bad,message", [
    (["--tolerance", "0"], "--tolerance must be a number in (0, 1); got 0.0"),
    (["--tolerance=-1e-3"], "--tolerance must be a number in (0, 1)"),
    (["--tolerance", "nan"], "--tolerance must be a number in (0, 1); got nan"),
    (["--tolerance", "inf"], "--tolerance must be a number in (0, 1); got inf"),
    (["--strain-amplitude=-0.1"], "--strain-amplitude must be a number > 0"),
    (["--paths", "0"], "--paths must be >= 1"),
    (["--candidates", "0"], "--candidates must be >= 1"),
    (["--enrichment-rounds", "-1"], "--enrichment-rounds must be >= 0"),
])
def test_reduce_bad_numbers(tmp_path, capsys, bad, message):
    out, report = tmp_path / "m.npz", tmp_path / "r.json"
    assert main(["reduce", str(MESHES / "square_circle.msh"), *J2_PHASES, *bad, "--out", str(out),
                 "--json", str(report)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists() and not report.exists()


def test_reduce_linear_cell_and_bad_output(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["reduce", str(MESHES / "square_circle.msh"), "--phase", "1:E=1,nu=0.3", "--phase",
                 "2:E=10,nu=0.3", "--out", str(out)]) == 2
    assert "nothing to reduce" in capsys.readouterr().err and not out.exists()
    assert main(["reduce", str(MESHES / "square_circle.msh"), *J2_PHASES, "--out", str(tmp_path / "m.json")]) == 2
    assert "--out must end in .npz" in capsys.readouterr().err
