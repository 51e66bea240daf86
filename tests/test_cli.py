"""The ``dolfinx-multiscale`` command line: JSON contract, MPI agreement, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dolfinx_multiscale.studies import references as hom
from dolfinx_multiscale.cli import main

MESHES = Path(__file__).resolve().parents[1] / "meshes"
BIN = Path(sys.executable).parent
PHASES = ["--phase", "1:E=1,nu=0.3", "--phase", "2:E=10,nu=0.3"]


def run_cli(args, nproc=1):
    """Run the console script (under ``mpiexec -n nproc`` if > 1); return the process."""
    cmd = [str(BIN / "dolfinx-multiscale"), *args]
    if nproc > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(nproc), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("mesh", ["square_circle.msh", "sphere.msh"])
def test_cli_two_ranks_equal_serial(tmp_path, mesh):
    for bc in ("periodic", "kubc", "subc"):
        serial, parallel = tmp_path / f"s_{bc}.json", tmp_path / f"p_{bc}.json"
        assert main(["homogenize", str(MESHES / mesh), "--bc", bc, *PHASES, "--json", str(serial)]) == 0
        proc = run_cli(["homogenize", str(MESHES / mesh), "--bc", bc, *PHASES, "--json", str(parallel)], 2)
        assert proc.returncode == 0, proc.stderr
        s, p = json.loads(serial.read_text()), json.loads(parallel.read_text())
        assert (s["n_ranks"], p["n_ranks"]) == (1, 2)
        C_s, C_p = np.array(s["C"]), np.array(p["C"])
        assert np.abs(C_s - C_p).max() <= 1e-10 * np.abs(C_s).max()
        assert p["hill_mandel_residual"] <= 1e-10 and p["symmetry_error"] <= 1e-10
        assert s["n_dofs"] == p["n_dofs"]


def test_cli_json_contract_laminate_conduction(tmp_path):
    out = tmp_path / "k.json"
    args = ["homogenize", str(MESHES / "laminate.msh"), "--physics", "conduction", "--bc", "periodic",
            "--phase", "1:k=1", "--phase", "2:k=10", "--json", str(out), "--png", str(tmp_path / "k.png")]
    assert main(args) == 0
    data = json.loads(out.read_text())
    for key in ("bc", "physics", "dim", "notation", "K", "volume_fractions", "n_dofs", "n_ranks",
                "hill_mandel_residual", "symmetry_error", "wall_s"):
        assert key in data
    assert data["notation"] == "mandel" and data["physics"] == "conduction" and data["dim"] == 2
    # shipped laminate: two layers of 0.5 stacked along x
    exact = hom.laminate_conductivity([1.0, 10.0], [0.5, 0.5], 0, 2)
    assert np.abs(np.array(data["K"]) - exact).max() <= 1e-8 * exact.max()
    assert (tmp_path / "k.png").stat().st_size > 10_000


def test_cli_mesh_command(tmp_path):
    out = tmp_path / "cell.msh"
    assert main(["mesh", "fibre_array", "--vf", "0.4", "--packing", "hexagonal", "--h", "0.1",
                 "-o", str(out), "--json", str(tmp_path / "m.json")]) == 0
    assert out.read_text().startswith("$MeshFormat")
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["volume_fractions"]["2"] == pytest.approx(0.4, abs=0.01)


@pytest.mark.parametrize("bad,message", [
    (["--phase", "1:E=1,nu=0.5", "--phase", "2:E=10,nu=0.3"], "nu must be in (-1, 0.5); got 0.5"),
    (["--phase", "1:E=1,nu=-1", "--phase", "2:E=10,nu=0.3"], "nu must be in (-1, 0.5); got -1"),
    (["--phase", "1:E=0,nu=0.3", "--phase", "2:E=10,nu=0.3"], "E must be > 0; got 0"),
    (["--physics", "conduction", "--phase", "1:k=-1", "--phase", "2:k=1"], "k must be > 0; got -1"),
    (["--phase", "1:E=inf,nu=0.3", "--phase", "2:E=10,nu=0.3"], "phase 1: E must be finite; got inf"),
    (["--phase", "1:E=1,nu=0.3", "--phase", "2:E=10,nu=nan"], "phase 2: nu must be finite; got nan"),
    (["--phase", "1:lmbda=1,mu=inf", "--phase", "2:E=10,nu=0.3"], "phase 1: mu must be finite; got inf"),
    (["--physics", "conduction", "--phase", "1:k=1", "--phase", "2:k=inf"], "phase 2: k must be finite; got inf"),
    (["--phase", "1:model=j2,E=1,nu=0.3,sy0=inf", "--phase", "2:E=10,nu=0.3"],
     "phase 1: sy0 must be finite; got inf"),
    (["--phase", "1E=1,nu=0.3"], "--phase must look like TAG:key=value"),
    (["--phase", "1:E=1,nu"], "'nu' is not key=value"),
    (["--phase", "1:E=1,nu=0.3"], "material keys [1]"),
    (["--phase", "1:E=1,nu=0.3,k=3", "--phase", "2:E=10,nu=0.3"], "needs E=..,nu=.."),
])
def test_cli_bad_input_writes_nothing(tmp_path, capsys, bad, message):
    out = tmp_path / "out.json"
    status = main(["homogenize", str(MESHES / "square_circle.msh"), *bad, "--json", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err  # one line, no traceback
    assert not out.exists()


@pytest.mark.parametrize("phase,message", [
    ("1:model=j2,E=1,nu=0.3,sy0=inf", "phase 1: sy0 must be finite; got inf"),
    ("1:model=j2,E=1,nu=0.3,sy0=0.01,H=nan", "phase 1: H must be finite; got nan"),
    ("1:model=j2,E=-inf,nu=0.3,sy0=0.01", "phase 1: E must be finite; got -inf"),
])
def test_cli_rve_path_non_finite_parameter_writes_nothing(tmp_path, capsys, phase, message):
    out = tmp_path / "out.json"
    status = main(["rve-path", str(MESHES / "square_circle.msh"), "--phase", phase, "--phase", "2:E=10,nu=0.3",
                   "--strain", "11=0.02", "--steps", "2", "--json", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_cli_unknown_bc_and_missing_mesh(tmp_path, capsys):
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exc:
        main(["homogenize", str(MESHES / "square_circle.msh"), "--bc", "mixed", *PHASES, "--json", str(out)])
    assert exc.value.code == 2 and "invalid choice: 'mixed'" in capsys.readouterr().err
    assert main(["homogenize", str(tmp_path / "nope.msh"), *PHASES, "--json", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_cli_non_periodic_mesh(tmp_path, capsys):
    """A mesh without periodic node matching is refused under --bc periodic only."""
    import gmsh

    path = tmp_path / "skew.msh"
    gmsh.initialize(["-noenv"])
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
    gmsh.model.occ.synchronize()
    gmsh.model.addPhysicalGroup(2, [1], 1)
    gmsh.model.mesh.setSize(gmsh.model.getEntities(0), 0.2)
    gmsh.model.mesh.setSize([(0, 2)], 0.05)  # refine one corner: faces do not match
    gmsh.model.mesh.generate(2)
    gmsh.write(str(path))
    gmsh.finalize()
    out = tmp_path / "out.json"
    assert main(["homogenize", str(path), "--phase", "1:E=1,nu=0.3", "--json", str(out)]) == 2
    assert "mesh is not periodic" in capsys.readouterr().err and not out.exists()
    assert main(["homogenize", str(path), "--bc", "kubc", "--phase", "1:E=1,nu=0.3", "--json", str(out)]) == 0
