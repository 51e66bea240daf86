"""``dolfinx-multiscale fe2 RUN.toml``: run files, checkpoints, restart, clean stops.

References: the same problem written in Python with the package's API (``Beam``), and an
uninterrupted run for every restarted one (same rank count and 1 → 2 ranks)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cli import main
from dolfinx_multiscale.runs import RunFileError, read_run, run

MESHES = Path(__file__).resolve().parents[1] / "meshes"
BIN = Path(sys.executable).parent
J2 = "model=j2,E=1,nu=0.3,sy0=0.005,H=0.05"

#: a 2 × 1 plate of 4 × 2 cells, clamped left, right end bent down and back: FE² J2 fibre cell
RUN = f"""
[macro]
mesh = "rectangle"
corners = [[0, 0], [2, 1]]
cells = [4, 2]

[[material]]
where = "all"
rve = "{MESHES / 'square_circle.msh'}"
bc = "periodic"
phases = {{ 1 = "{J2}", 2 = "E=10,nu=0.3" }}

[[dirichlet]]
boundary = "left"
value = [0, 0]

[[dirichlet]]
boundary = "right"
component = 1
value = -0.02
scale_with_load = true

[loading]
ramp = {{ to = 1.0, steps = 4, unload = true }}

[output]
reactions = ["left", "right"]
"""


def write_run(tmp_path: Path, text: str = RUN, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(args, nproc=1, wait=True):
    """The console script (under ``mpiexec -n nproc`` if > 1): the finished process, or
    the running one if not ``wait``."""
    cmd = [str(BIN / "dolfinx-multiscale"), *map(str, args)]
    if nproc > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(nproc), *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def fe2(*args) -> int:
    """``dolfinx-multiscale fe2 ARGS`` in this process; the exit status."""
    return main(["fe2", *map(str, args)])


def steps_of(path: Path) -> list[dict]:
    return json.loads(path.read_text())["steps"]


def assert_same_steps(a: list[dict], b: list[dict], rtol: float) -> None:
    """Same steps, loads, iterations and reactions (to ``rtol`` of the largest)."""
    assert [(s["step"], s["load"], s["cuts"]) for s in a] == [(s["step"], s["load"], s["cuts"]) for s in b]
    ra = np.array([[s["reactions"][k] for k in sorted(s["reactions"])] for s in a])
    rb = np.array([[s["reactions"][k] for k in sorted(s["reactions"])] for s in b])
    assert np.abs(ra - rb).max() <= rtol * np.abs(ra).max()


#: the same plate in 24 steps: long enough (~10 s) that a signal sent after its first steps
#: always lands before its end, however loaded the machine
LONG_RUN = RUN.replace("steps = 4", "steps = 12")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run: the JSON of an uninterrupted ``fe2`` run."""
    tmp = tmp_path_factory.mktemp("full")
    out = tmp / "full.json"
    assert fe2(str(write_run(tmp)), "--json", str(out), "--quiet") == 0
    return steps_of(out)


@pytest.fixture(scope="module")
def uninterrupted_long(tmp_path_factory):
    """The reference of the signal tests: an uninterrupted run of ``LONG_RUN``."""
    tmp = tmp_path_factory.mktemp("long")
    out = tmp / "long.json"
    assert fe2(str(write_run(tmp, LONG_RUN)), "--json", str(out), "--quiet") == 0
    return steps_of(out)


def test_run_file_equals_python_problem(uninterrupted):
    # the same plate in Python: Beam (clamped at x = 0, u_y prescribed at x = L) with an FE² material
    from mpi4py import MPI

    micro = dm.read_msh(MESHES / "square_circle.msh", comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, {1: dm.J2Plasticity(E=1, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10, nu=0.3)})
    from dolfinx_multiscale.macro.problems import Beam

    beam = Beam(lambda mesh: dm.FE2Material(rve, mesh), dim=2, cells=4, mode="bending", length=2.0, height=1.0)
    factors = [s["load"] for s in uninterrupted]
    history = beam.run([-0.02 * f for f in factors])
    python = np.array([rec["reaction"] for rec in history])
    from_file = np.array([s["reactions"]["right"][1] for s in uninterrupted])
    assert np.abs(python - from_file).max() <= 1e-12 * np.abs(python).max()
    assert [sum(rec["newton_iterations"]) for rec in history] == [s["newton_iterations"] for s in uninterrupted]
    # the supports hold the body in equilibrium: left + right reactions = 0
    for s in uninterrupted:
        assert np.abs(np.add(s["reactions"]["left"], s["reactions"]["right"])).max() <= 1e-10 * 2e-2
    assert np.abs(python).max() > 1e-4  # the plate was loaded (plastic fibre cell: 4 Newton iterations)


def _kill_after(proc, json_path: Path, steps: int, sig) -> None:
    """Send ``sig`` once ``json_path`` holds ``steps`` steps."""
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if len(steps_of(json_path)) >= steps:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    proc.send_signal(sig)


@pytest.mark.parametrize("restart_ranks", [1, 2])
def test_sigkill_then_restart_equals_uninterrupted(tmp_path, uninterrupted_long, restart_ranks):
    uninterrupted = uninterrupted_long
    run_file, out, ck = write_run(tmp_path, LONG_RUN), tmp_path / "out.json", tmp_path / "ck"
    rng = np.random.default_rng(restart_ranks)
    kill_at = int(rng.integers(1, 4))
    proc = cli(["fe2", run_file, "--json", out, "--checkpoint", ck], wait=False)
    _kill_after(proc, out, kill_at, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = len(steps_of(out))
    assert kill_at <= done < len(uninterrupted)
    result = cli(["fe2", run_file, "--json", out, "--checkpoint", ck, "--restart", ck], nproc=restart_ranks)
    assert result.returncode == 0, result.stderr
    restarted = json.loads(out.read_text())
    assert restarted["complete"] and restarted["n_ranks"] == restart_ranks
    assert "restarted from" in result.stderr
    assert_same_steps(uninterrupted, restarted["steps"], 1e-12 if restart_ranks == 1 else 1e-10)


def test_sigterm_finishes_the_step_and_says_so(tmp_path, uninterrupted_long):
    uninterrupted = uninterrupted_long
    run_file, out, ck = write_run(tmp_path, LONG_RUN), tmp_path / "out.json", tmp_path / "ck"
    proc = cli(["fe2", run_file, "--json", out, "--checkpoint", ck], wait=False)
    _kill_after(proc, out, 1, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("fe2: step")]
    assert len(lines) == 1 and "stopped by SIGTERM after step" in lines[0] and "Traceback" not in stderr
    data = json.loads(out.read_text())
    k = len(data["steps"])
    assert not data["complete"] and f"after step {k}/24" in lines[0] and str(ck) in lines[0]
    assert json.loads((ck / "checkpoint.json").read_text())["step"] == k
    assert_same_steps(uninterrupted[:k], data["steps"], 1e-12)


def test_cut_checkpoint_falls_back_or_fails_clearly(tmp_path, uninterrupted):
    run_file, out, ck = write_run(tmp_path), tmp_path / "out.json", tmp_path / "ck"
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--quiet") == 0
    newest, previous = sorted(ck.glob("step_*"))[::-1]
    npz = newest / "rank_00000.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])  # cut mid-write
    spec = read_run(run_file)
    report = run(spec, restart=ck, progress=False)  # restarts from the previous one: recomputes the last step
    assert report["complete"]
    assert_same_steps(uninterrupted, report["steps"], 1e-12)
    # cut both: a clear error, nothing written
    for target in ck.glob("step_*"):
        (target / "manifest.json").write_text("{")
    result = cli(["fe2", run_file, "--json", tmp_path / "bad.json", "--restart", ck])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "no complete checkpoint" in result.stderr
    assert not (tmp_path / "bad.json").exists()


def _macro_msh(path: Path) -> None:
    """A 2 × 1 rectangle meshed by gmsh: cell groups "soft" (x < 1) and "stiff", facet
    groups "clamp" (x = 0) and "load" (x = 2)."""
    import gmsh

    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add("macro")
    a = gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
    b = gmsh.model.occ.addRectangle(1, 0, 0, 1, 1)
    gmsh.model.occ.fragment([(2, a)], [(2, b)])
    gmsh.model.occ.synchronize()
    gmsh.model.addPhysicalGroup(2, [a], 1, name="soft")
    gmsh.model.addPhysicalGroup(2, [b], 2, name="stiff")
    curves = gmsh.model.getEntities(1)
    com = {c: gmsh.model.occ.getCenterOfMass(1, c[1]) for c in curves}
    gmsh.model.addPhysicalGroup(1, [c[1] for c in curves if abs(com[c][0]) < 1e-9], 11, name="clamp")
    gmsh.model.addPhysicalGroup(1, [c[1] for c in curves if abs(com[c][0] - 2) < 1e-9], 12, name="load")
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.5)
    gmsh.model.mesh.generate(2)
    gmsh.write(str(path))
    gmsh.finalize()


MSH_RUN = f"""
[macro]
mesh = "macro.msh"

[[material]]
where = "soft"
law = "{J2}"

[[material]]
where = 2
law = "E=10,nu=0.3"

[[dirichlet]]
boundary = "clamp"
value = [0, 0]

[[traction]]
boundary = 12
value = [0.002, 0]
scale_with_load = true

[loading]
factors = [0.5, 1.0]

[output]
reactions = ["clamp"]
"""


def test_msh_macro_mesh_groups_by_name_and_tag(tmp_path):
    _macro_msh(tmp_path / "macro.msh")
    out = tmp_path / "out.json"
    assert fe2(write_run(tmp_path, MSH_RUN), "--json", out, "--quiet",
                 "--xdmf", tmp_path / "u.xdmf") == 0
    steps = steps_of(out)
    # equilibrium: the clamp holds the traction t · height (1) in x, nothing in y
    for s in steps:
        fx, fy = s["reactions"]["clamp"]
        assert abs(fx + 0.002 * s["load"]) <= 1e-10 and abs(fy) <= 1e-10
    xdmf = (tmp_path / "u.xdmf").read_text()
    assert xdmf.count('Attribute Name="displacement"') == 2  # both steps
    assert xdmf.count('Attribute Name="equivalent_plastic_strain"') == 2


BAD = [
    ("[macro]\nmesh = \"rectangle\"", "[macro]\nmesh = \"rectangle\"\ncell = [4, 2]", "[macro] cell: unknown key"),
    ("cells = [4, 2]", "cells = \"4, 2\"", "[macro] cells: expected 2 integers >= 1"),
    ("cells = [4, 2]", "cells = [4, 0]", "[macro] cells"),
    ("boundary = \"left\"", "boundary = \"middle\"", "[[dirichlet]] #1 boundary: the mesh has no boundary 'middle'"),
    ("component = 1", "component = 2", "[[dirichlet]] #2 component"),
    ("value = [0, 0]", "value = [0, 0, 0]", "[[dirichlet]] #1 value"),
    ("bc = \"periodic\"", "bc = \"dirichlet\"", "[[material]] #1 bc: expected one of kubc, periodic, subc"),
    (", 2 = \"E=10,nu=0.3\"", "", "[[material]] #1 phases: phases and materials differ"),
    ("2 = \"E=10,nu=0.3\"", "2 = \"E=10,nu=0.7\"", "[[material]] #1 phases.2"),
    ("2 = \"E=10,nu=0.3\"", "2 = \"model=svk,E=10,nu=0.3\"", "[[material]] #1 phases.2"),
    ("where = \"all\"", "where = \"fibres\"", "[[material]] #1 where"),
    ("steps = 4, unload", "unload", "[loading] ramp steps: missing"),
    ("reactions = [\"left\", \"right\"]", "reactions = [\"left\", \"side\"]", "[output] reactions"),
    ("[loading]", "[loadings]", "run file loadings: unknown key"),
    # non-finite numbers are refused when the file is read, not after cuts at the step
    ("ramp = { to = 1.0, steps = 4, unload = true }", "factors = [0.5, nan]",
     "[loading] factors: expected a non-empty list of finite numbers; got [0.5, nan]"),
    ("ramp = { to = 1.0, steps = 4, unload = true }", "factors = [0.5, inf]", "[loading] factors"),
    ("to = 1.0", "to = inf", "[loading] ramp to: expected a finite number; got inf"),
    ("value = -0.02", "value = nan", "[[dirichlet]] #2 value: expected a finite number"),
    ("value = [0, 0]", "value = [0, -inf]", "[[dirichlet]] #1 value: expected a vector of 2 finite numbers"),
    # a huge built-in macro mesh is estimated and refused without --force
    ("cells = [4, 2]", "cells = [100000, 100000]",
     "run.toml: [macro] cells [100000, 100000] give 2e10 elements (bound 2e6); pass --force to run anyway"),
    # image keys go with an image rve only
    ("bc = \"periodic\"", "bc = \"periodic\"\nvoxel_size = 0.1",
     "[[material]] #1 voxel_size: applies to an image rve, not to a .msh"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_run_file_one_line_naming_the_key(tmp_path, capsys, old, new, message):
    assert old in RUN
    run_file = write_run(tmp_path, RUN.replace(old, new, 1))
    out = tmp_path / "out.json"
    assert fe2(run_file, "--json", out, "--checkpoint", tmp_path / "ck", "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and not (tmp_path / "ck").exists()


def test_checkpoint_that_is_a_file_is_refused_before_the_run(tmp_path, capsys):
    ck = tmp_path / "ck"
    ck.write_text("not a directory")
    out = tmp_path / "out.json"
    assert fe2(write_run(tmp_path), "--json", out, "--checkpoint", ck, "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dolfinx-multiscale fe2: error: --checkpoint {str(ck)!r} is a file; give a directory "
                   "(created if missing)"]
    assert not out.exists() and ck.read_text() == "not a directory"


def test_huge_macro_mesh_runs_with_force(tmp_path, monkeypatch):
    from dolfinx_multiscale import cli

    monkeypatch.setattr(cli, "MESH_CELL_BOUND", 10)  # the 4 × 2 plate has 16 triangles
    out = tmp_path / "out.json"
    assert fe2(write_run(tmp_path, RUN.replace("steps = 4", "steps = 1")), "--json", out, "--quiet") == 2
    assert not out.exists()
    assert fe2(write_run(tmp_path, RUN.replace("steps = 4", "steps = 1")), "--json", out, "--quiet", "--force") == 0
    assert len(steps_of(out)) == 2


def test_image_rve_equals_the_same_cell_as_msh(tmp_path):
    """[[material]] rve = "cell.npy" with voxel_size: the FE² run of the .msh of the same
    voxels (written node by node with Gmsh) to 1e-9."""
    from test_images import write_voxel_msh

    img = np.array([[1, 1, 1, 1], [1, 2, 2, 1], [1, 2, 1, 1], [1, 1, 1, 1]], dtype=np.uint8)
    np.save(tmp_path / "cell.npy", img)
    write_voxel_msh(img, 0.25, tmp_path / "cell.msh")
    base = RUN.replace("steps = 4, unload = true", "steps = 2").replace("cells = [4, 2]", "cells = [2, 1]")
    msh_rve = f'rve = "{MESHES / "square_circle.msh"}"'
    assert msh_rve in base
    reactions = []
    for rve in ('rve = "cell.npy"\nvoxel_size = 0.25', 'rve = "cell.msh"'):
        out = tmp_path / "out.json"
        assert fe2(write_run(tmp_path, base.replace(msh_rve, rve)), "--json", out, "--quiet") == 0
        reactions.append(np.array([s["reactions"]["right"] for s in steps_of(out)]))
    assert np.abs(reactions[0]).max() > 0
    assert np.abs(reactions[0] - reactions[1]).max() <= 1e-9 * np.abs(reactions[1]).max()
    bad = base.replace(msh_rve, 'rve = "cell.npy"\nvoxel_size = -1.0')
    with pytest.raises(RunFileError, match="voxel_size: expected a number > 0"):
        read_run(write_run(tmp_path, bad))
    bad = base.replace(msh_rve, 'rve = "cell.npy"\nthreshold = [0.5, 0.2]')
    assert fe2(write_run(tmp_path, bad), "--json", tmp_path / "bad.json", "--quiet") == 2
    assert not (tmp_path / "bad.json").exists()


def test_read_run_values(tmp_path):
    spec = read_run(write_run(tmp_path))
    assert spec.factors == (0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25, 0.0)
    assert spec.macro.dim == 2 and spec.materials[0].phases[1] == J2
    with pytest.raises(RunFileError, match="does not exist"):
        read_run(tmp_path / "missing.toml")
    with pytest.raises(RunFileError, match="not valid TOML"):
        read_run(write_run(tmp_path, "[macro\n", "broken.toml"))


BOX = """
[macro]
mesh = "box"
corners = [[0, 0, 0], [2, 1, 1]]
cells = [2, 1, 1]

[[material]]
law = "E=3,nu=0.25"

[[dirichlet]]
boundary = "left"
component = 0
value = 0

[[dirichlet]]
boundary = "bottom"
component = 1
value = 0

[[dirichlet]]
boundary = "back"
component = 2
value = 0

[[traction]]
boundary = "right"
value = [0.006, 0, 0]
scale_with_load = true

[loading]
factors = [1.0, -0.5]

[output]
reactions = ["left", "right", "top"]
"""


def test_box_with_rollers_and_traction_exact_uniaxial_stress(tmp_path):
    # uniaxial stress σ11 = 0.006 λ on a 1 × 1 cross-section: the left rollers carry −σ11 · 1
    report = run(read_run(write_run(tmp_path, BOX)), progress=False)
    assert report["dim"] == 3 and report["n_points"] == 12
    for s in report["steps"]:
        left, right, top = (np.array(s["reactions"][k]) for k in ("left", "right", "top"))
        assert np.abs(left - [-0.006 * s["load"], 0, 0]).max() <= 1e-12
        assert abs(top[1]) <= 1e-12  # free in y (its x, z sums include the edges it shares with the supports)
        assert np.abs(right).max() <= 1e-12  # loaded but free: internal force = applied traction, residual 0


FINITE = """
[macro]
mesh = "rectangle"
corners = [[0, 0], [2, 1]]
cells = [3, 2]
diagonal = "crossed"
kinematics = "finite"

[[material]]
law = "model=neo-hookean,E=1,nu=0.3"

[[dirichlet]]
boundary = "left"
component = 0
value = 0

[[dirichlet]]
boundary = "bottom"
component = 1
value = 0

[[dirichlet]]
boundary = "right"
component = 0
value = 0.6
scale_with_load = true

[loading]
ramp = { to = 1.0, steps = 3 }

[output]
reactions = ["right"]
"""


def test_finite_strain_uniaxial_stretch_equals_neo_hookean_closed_form(tmp_path):
    from scipy.optimize import brentq

    E, nu = 1.0, 0.3
    mu, lmbda = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))

    def P(a, b):  # plane-strain neo-Hookean, F = diag(a, b): P = μ(F − F⁻ᵀ) + λ ln J F⁻ᵀ
        J = a * b
        return mu * (a - 1 / a) + lmbda * np.log(J) / a, mu * (b - 1 / b) + lmbda * np.log(J) / b

    report = run(read_run(write_run(tmp_path, FINITE)), progress=False)
    for s in report["steps"]:
        a = 1 + 0.6 * s["load"] / 2  # right edge moved by 0.6 λ on a length of 2
        b = brentq(lambda b: P(a, b)[1], 0.3, 1.0)  # laterally free: P22 = 0
        fx, fy = s["reactions"]["right"]
        assert abs(fx - P(a, b)[0] * 1.0) <= 1e-9 * P(a, b)[0] and abs(fy) <= 1e-10
    assert report["steps"][-1]["reactions"]["right"][0] > 0.1  # 30 % stretch


def test_two_ranks_write_one_rank_restarts(tmp_path, uninterrupted):
    # three steps on 2 ranks (cyclic partition, two rank files), the rest on 1 rank
    run_file, out, ck = write_run(tmp_path), tmp_path / "out.json", tmp_path / "ck"
    first = cli(["fe2", run_file, "--json", out, "--checkpoint", ck, "--max-steps", 3], nproc=2)
    assert first.returncode == 0, first.stderr
    partial = json.loads(out.read_text())
    assert not partial["complete"] and len(partial["steps"]) == 3 and partial["n_ranks"] == 2
    assert sorted(p.name for p in (ck / "step_000003").glob("*.npz")) == ["rank_00000.npz", "rank_00001.npz"]
    assert fe2(run_file, "--json", out, "--restart", ck, "--quiet") == 0
    restarted = json.loads(out.read_text())
    assert restarted["complete"] and restarted["n_ranks"] == 1
    assert_same_steps(uninterrupted, restarted["steps"], 1e-10)


def test_failed_step_names_it_and_keeps_the_finished_ones(tmp_path, capsys):
    text = RUN.replace("ramp = {", "max_cuts = 0\nramp = {") + "\n[newton]\nmax_iterations = 1\n"
    assert "steps = 4" in text  # load 0.25 is elastic (one Newton iteration), 0.5 is not
    run_file, out, ck = write_run(tmp_path, text), tmp_path / "out.json", tmp_path / "ck"
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "load step 2 (load 0.5) failed after 0 step cuts" in err[0] and "kept:" in err[0]
    data = json.loads(out.read_text())  # the elastic first step (one Newton iteration) is kept
    assert [s["step"] for s in data["steps"]] == [1] and not data["complete"]
    assert json.loads((ck / "checkpoint.json").read_text())["step"] == 1


def test_reduced_rve_material_with_checkpoints(tmp_path, uninterrupted):
    # a reduced model of the cell, trained here on a few paths, serves the run file; its point states
    # (reduced coordinates, indicators, full states of the points that fell back) go through a restart
    from mpi4py import MPI

    micro = dm.read_msh(MESHES / "square_circle.msh", comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, {1: dm.J2Plasticity(E=1, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10, nu=0.3)})
    tolerance = 1e-3
    dm.ReducedRVE.train(rve, tolerance=tolerance, strain_amplitude=0.03, paths=6, steps=4,
                        validation_paths=8).save(tmp_path / "rom.npz")
    text = RUN.replace('bc = "periodic"', 'bc = "periodic"\nreduced = "rom.npz"')
    run_file, ck = write_run(tmp_path, text), tmp_path / "ck"
    whole = run(read_run(run_file), progress=False)
    assert_same_steps(uninterrupted, whole["steps"], 3 * tolerance)
    used = {k: sum(s["reduced_rve"][k] for s in whole["steps"]) for k in ("shortcut", "reduced", "fallback")}
    assert used["reduced"] > 0 and used["shortcut"] > 0, used
    first = run(read_run(run_file), checkpoint=ck, max_steps=3, progress=False)
    assert not first["complete"]
    resumed = run(read_run(run_file), checkpoint=ck, restart=ck, progress=False)
    assert_same_steps(whole["steps"], resumed["steps"], 1e-12)
    assert [s["reduced_rve"] for s in resumed["steps"]] == [s["reduced_rve"] for s in whole["steps"]]
    bad = write_run(tmp_path, text.replace("rom.npz", "missing.npz"), "bad.toml")
    with pytest.raises(RunFileError, match=r"\[\[material\]\] #1 reduced: expected an existing .npz"):
        read_run(bad)


def test_xdmf_continues_across_a_restart(tmp_path, capfd):
    run_file, out, ck, xdmf = write_run(tmp_path), tmp_path / "out.json", tmp_path / "ck", tmp_path / "u.xdmf"
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--xdmf", xdmf, "--max-steps", 3, "--quiet") == 0
    saved = tmp_path / "ck3"
    shutil.copytree(ck, saved)
    # two more steps, then killed: the restart from step 3 recomputes steps 4-5 without writing them again
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--restart", ck, "--xdmf", xdmf, "--max-steps", 2,
               "--quiet") == 0
    assert fe2(run_file, "--json", out, "--restart", saved, "--xdmf", xdmf, "--quiet") == 0
    assert "HDF5" not in capfd.readouterr().err
    text = xdmf.read_text()
    for name in ("displacement", "equivalent_plastic_strain"):
        assert text.count(f'Attribute Name="{name}"') == 8
    assert re.findall(r'<Time Value="([^"]+)"', text) == [str(k) for k in range(1, 9)] * 2


def test_p2_law_restart_on_two_ranks(tmp_path):
    # P2 displacements (edge dofs keyed by their two input vertices) and a J2 law's point history,
    # checkpointed serially and restarted on 2 ranks
    text = (RUN.replace('cells = [4, 2]', 'cells = [6, 3]\ndegree = 2\nquadrature_degree = 2')
            .replace(RUN[RUN.index('rve = '):RUN.index('[[dirichlet]]')], f'law = "{J2}"\n\n'))
    run_file, ck = write_run(tmp_path, text), tmp_path / "ck"
    whole, out = tmp_path / "whole.json", tmp_path / "out.json"
    assert fe2(run_file, "--json", whole, "--quiet") == 0
    reference = steps_of(whole)
    assert max(abs(s["reactions"]["right"][1]) for s in reference) > 1e-4
    assert abs(reference[-1]["reactions"]["right"][1]) > 1e-6  # unloaded with a plastic residual force
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--max-steps", 4, "--quiet") == 0
    result = cli(["fe2", run_file, "--json", out, "--restart", ck], nproc=2)
    assert result.returncode == 0, result.stderr
    assert_same_steps(reference, steps_of(out), 1e-10)


def test_sigterm_to_mpiexec_stops_every_rank_after_the_same_step(tmp_path, uninterrupted_long):
    run_file, out, ck = write_run(tmp_path, LONG_RUN), tmp_path / "out.json", tmp_path / "ck"
    proc = cli(["fe2", run_file, "--json", out, "--checkpoint", ck], nproc=2, wait=False)
    _kill_after(proc, out, 2, signal.SIGTERM)  # mpiexec forwards it to both ranks
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("fe2: step")]
    assert len(lines) == 1 and "stopped by SIGTERM after step" in lines[0], stderr
    k = len(steps_of(out))
    assert json.loads((ck / "checkpoint.json").read_text())["step"] == k
    assert len(list((ck / f"step_{k:06d}").glob("rank_*.npz"))) == 2
    assert fe2(run_file, "--json", out, "--checkpoint", ck, "--restart", ck, "--quiet") == 0
    assert_same_steps(uninterrupted_long, steps_of(out), 1e-10)
