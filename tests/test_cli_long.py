"""Long commands tell what they do and stop cleanly: progress lines on stderr, SIGTERM /
SIGINT ending with one line and the finished work kept, the element-count guard of
``mesh``, and resumable studies (the result cache)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dolfinx_multiscale import cli
from dolfinx_multiscale.cli import main
from dolfinx_multiscale.geometry import microstructures
from dolfinx_multiscale.studies import uq
from dolfinx_multiscale.studies.cache import ResultCache
from dolfinx_multiscale.studies.loading import ramp

MESHES = Path(__file__).resolve().parents[1] / "meshes"
BIN = Path(sys.executable).parent
J2 = ["--phase", "1:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05", "--phase", "2:E=10,nu=0.3"]
ELASTIC = ["--phase", "1:E=1,nu=0.3", "--phase", "2:E=10,nu=0.3"]
SIZE = ["rve-size", "--sizes", "1,4", "--vf", "0.3", *ELASTIC, "--h-factor", "0.6"]


def start_cli(args):
    """Start the console script; stderr is read line by line while it runs."""
    return subprocess.Popen([str(BIN / "dolfinx-multiscale"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def stop_after_first_line(proc, prefix: str, signum=signal.SIGTERM) -> list[str]:
    """Wait for the first stderr line starting with ``prefix``, send ``signum``; return
    every stderr line of the process once it has ended."""
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            break
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=120)
    return lines + rest.splitlines()


class CountingGenerator:
    """Stands in for ``random_inclusions`` and counts the cells really built."""

    def __init__(self):
        self.calls = 0
        self.generate = microstructures.random_inclusions

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.generate(*args, **kwargs)


@pytest.fixture
def built(monkeypatch):
    counter = CountingGenerator()
    monkeypatch.setattr(microstructures, "random_inclusions", counter)
    return counter


# -- rve-path -----------------------------------------------------------------------------
def test_rve_path_reports_every_step(tmp_path, capsys):
    out = tmp_path / "p.json"
    args = ["rve-path", str(MESHES / "square_circle.msh"), *J2, "--strain", "11=0.01", "--stress", "22=0",
            "--steps", "3", "--json", str(out)]
    assert main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == [f"rve-path: step {k}/3" for k in (1, 2, 3)]
    assert all("eps11" in line and "newton" in line and "cuts 0" in line and "wall" in line for line in lines)
    data = json.loads(out.read_text())
    assert data["complete"] is True and data["stopped_at_step"] is None and len(data["steps"]) == 3
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"])
def test_rve_path_stop_keeps_the_finished_steps(tmp_path, capsys, signum, status):
    out = tmp_path / "stopped.json"
    proc = start_cli(["rve-path", str(MESHES / "square_circle.msh"), *J2, "--strain", "11=0.02",
                      "--stress", "22=0", "--steps", "400", "--json", str(out)])
    lines = stop_after_first_line(proc, "rve-path: step ", signum)
    assert proc.returncode == status, lines
    *progress, last = lines
    assert progress and all(line.startswith("rve-path: step ") for line in progress), lines
    data = json.loads(out.read_text())
    k = len(data["steps"])
    assert 1 <= k < 400 and data["complete"] is False and data["stopped_at_step"] == k
    assert last == (f"dolfinx-multiscale rve-path: stopped by {signum.name} after step {k}/400; kept: {out} "
                    f"with steps 1-{k}")
    # the kept steps are those of an uninterrupted run of the same first k steps
    path = tmp_path / "first.json"
    path.write_text(json.dumps({"steps": ramp({"11": 0.02}, {"22": 0.0}, 400)["steps"][:k]}))
    full = tmp_path / "full.json"
    assert main(["rve-path", str(MESHES / "square_circle.msh"), *J2, "--path", str(path), "--json", str(full),
                 "--quiet"]) == 0
    reference = json.loads(full.read_text())["steps"]
    for key in ("E", "Sigma", "p_mean"):
        assert np.allclose([r[key] for r in data["steps"]], [r[key] for r in reference], rtol=0, atol=1e-12)


# -- mesh ---------------------------------------------------------------------------------
def test_mesh_refuses_a_huge_element_count(tmp_path, capsys):
    out = tmp_path / "cell.msh"
    assert main(["mesh", "circular_inclusion", "--vf", "0.3", "--h", "1e-5", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("dolfinx-multiscale mesh: error: --h 1e-05 gives about 2.5e10 elements (bound 2e6); "
                   "pass --force to mesh anyway\n")
    assert not out.exists()


@pytest.mark.parametrize("kind,options", [("circular_inclusion", ["--vf", "0.3", "--h", "0.05"]),
                                          ("porous", ["--vf", "0.3", "--h", "0.04"]),
                                          ("spherical_inclusion", ["--vf", "0.2", "--h", "0.12"])])
def test_mesh_estimate_within_a_factor_2(tmp_path, capsys, kind, options):
    summary = tmp_path / "m.json"
    assert main(["mesh", kind, *options, "-o", str(tmp_path / "cell.msh"), "--json", str(summary)]) == 0
    data = json.loads(summary.read_text())
    assert 0.5 <= data["n_cells_estimate"] / data["n_cells"] <= 2.0
    before, after = capsys.readouterr().err.splitlines()
    assert before == f"mesh: meshing {kind}, about {data['n_cells_estimate']:.0f} elements"
    assert after.startswith(f"mesh: {data['n_cells']} elements in ")


def test_mesh_force_goes_past_the_bound(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "MESH_CELL_BOUND", 100)
    out = tmp_path / "cell.msh"
    args = ["mesh", "circular_inclusion", "--vf", "0.3", "--h", "0.1", "-o", str(out)]
    assert main(args) == 2 and not out.exists()
    assert "(bound 100); pass --force" in capsys.readouterr().err
    assert main([*args, "--force", "--quiet"]) == 0 and out.exists()
    assert capsys.readouterr().err == ""


def test_ctrl_c_outside_a_graceful_stop_is_one_line(capsys, monkeypatch):
    def interrupted(args, comm):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "mesh", interrupted)
    assert main(["mesh", "laminate", "-o", "never.msh"]) == 130
    assert capsys.readouterr().err == "dolfinx-multiscale mesh: stopped by SIGINT before finishing; nothing kept\n"


# -- rve-size and the result cache -------------------------------------------------------
def test_rve_size_resumes_from_its_cache(tmp_path, capsys, built):
    cache = tmp_path / "cache"

    def run(name, *extra):
        assert main([*SIZE, "--cache", str(cache), "--json", str(tmp_path / name), *extra]) == 0
        return json.loads((tmp_path / name).read_text())

    first = run("first.json", "--seeds", "2")
    assert first["cache"]["hits"] == 0 and first["cache"]["computed"] == 4 and built.calls == 4
    assert len(list(cache.glob("*.json"))) == 4
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[:3] for line in lines] == [
        [f"rve-size: member {k + 1}/4", f"size {s}", f"seed {seed}"] for k, (s, seed) in enumerate(
            [(1, 0), (1, 1), (4, 0), (4, 1)])]
    again = run("again.json", "--seeds", "2")
    assert (again["cache"]["hits"], again["cache"]["computed"], built.calls) == (4, 0, 4)
    assert again["sizes_report"] == first["sizes_report"]  # the same numbers, bit for bit
    more = run("more.json", "--seeds", "3")
    assert (more["cache"]["hits"], more["cache"]["computed"], built.calls) == (4, 2, 6)
    for old, new in zip(first["sizes_report"], more["sizes_report"]):
        for bc in ("kubc", "periodic", "subc"):
            assert new["C"][bc][:2] == old["C"][bc]
    # a truncated entry is not trusted: that member is recomputed (to the same numbers)
    entry = sorted(cache.glob("*.json"))[0]
    entry.write_text(entry.read_text()[:40])
    repaired = run("repaired.json", "--seeds", "3")
    assert (repaired["cache"]["hits"], repaired["cache"]["computed"], built.calls) == (5, 1, 7)
    assert repaired["sizes_report"] == more["sizes_report"]


def test_rve_size_sigterm_then_resume(tmp_path, capsys, built):
    cache = tmp_path / "cache"
    args = ["rve-size", "--sizes", "1,2", "--seeds", "30", "--vf", "0.3", *ELASTIC, "--h-factor", "0.6",
            "--bc", "periodic", "--cache", str(cache)]
    proc = start_cli([*args, "--json", str(tmp_path / "never.json")])
    lines = stop_after_first_line(proc, "rve-size: member ")
    assert proc.returncode == 143, lines
    *progress, last = lines
    assert progress and all(line.startswith("rve-size: member ") for line in progress), lines
    kept = len(list(cache.glob("*.json")))
    assert 1 <= kept < 60
    assert last == (f"dolfinx-multiscale rve-size: stopped by SIGTERM after {kept}/60 members; kept: {kept} "
                    f"members in the cache {cache} (run again with it to resume)")
    assert not (tmp_path / "never.json").exists()
    out = tmp_path / "resumed.json"
    assert main([*args, "--json", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert (data["cache"]["hits"], data["cache"]["computed"], built.calls) == (kept, 60 - kept, 60 - kept)


def test_result_cache_never_trusts_a_bad_entry(tmp_path):
    cache = ResultCache(tmp_path / "c")
    inputs = {"size": 4, "seed": (1, 2), "E": np.float64(1.5)}
    assert cache.get(inputs) is None and cache.misses == 1
    cache.put(inputs, {"C": np.eye(2)})
    assert ResultCache.key({"E": 1.5, "seed": [1, 2], "size": 4}) == cache.key(inputs)  # canonical
    assert cache.get(inputs) == {"C": [[1.0, 0.0], [0.0, 1.0]]} and cache.hits == 1
    entry = json.loads(cache.path(inputs).read_text())
    cache.path(inputs).write_text(json.dumps({**entry, "inputs": {**entry["inputs"], "size": 5}}))
    assert cache.get(inputs) is None  # stored for other inputs
    cache.path(inputs).write_text("{")
    assert cache.get(inputs) is None and cache.misses == 3
    assert len(cache) == 1 and not list(cache.directory.glob(".*.tmp"))
    with pytest.raises(ValueError, match="not a directory"):
        ResultCache(cache.path(inputs))


def test_monte_carlo_resumes_from_its_cache(tmp_path):
    calls = []

    def sample(rng):
        calls.append(1)
        return {"x": rng.normal(), "v": rng.normal(size=3)}

    key = {"sampler": "normal", "shapes": [[], [3]]}
    with pytest.raises(ValueError, match="cache_key"):
        uq.monte_carlo(sample, 4, seed=3, cache=tmp_path)
    first = uq.monte_carlo(sample, 4, seed=3, cache=tmp_path, cache_key=key)
    more = uq.monte_carlo(sample, 6, seed=3, cache=tmp_path, cache_key=key)
    plain = uq.monte_carlo(sample, 6, seed=3)
    assert first["cache"]["computed"] == 4 and (more["cache"]["hits"], more["cache"]["computed"]) == (4, 2)
    assert len(calls) == 4 + 2 + 6 and plain["cache"] is None
    for name in ("x", "v"):
        assert np.array_equal(more["samples"][name], plain["samples"][name])
        assert np.array_equal(more["samples"][name][:4], first["samples"][name])


def test_monte_carlo_stops_after_a_round_and_resumes(tmp_path, capsys):
    from mpi4py import MPI

    from dolfinx_multiscale.errors import Interrupted
    from dolfinx_multiscale.progress import StopFlag

    calls = []

    def sample(rng):
        calls.append(1)
        return rng.normal()

    key = {"sampler": "normal"}
    stop = StopFlag(MPI.COMM_SELF)
    stop.set("SIGTERM")  # as if the signal came during the first sample
    with pytest.raises(Interrupted, match=r"after 1/5 samples; kept: 1 samples in the cache") as info:
        uq.monte_carlo(sample, 5, seed=1, comm=MPI.COMM_SELF, cache=tmp_path, cache_key=key, progress=True,
                       stop=stop)
    assert info.value.exit_status == 143 and len(calls) == 1
    assert "monte-carlo: sample 1/5" in capsys.readouterr().err
    resumed = uq.monte_carlo(sample, 5, seed=1, comm=MPI.COMM_SELF, cache=tmp_path, cache_key=key)
    assert (resumed["cache"]["hits"], resumed["cache"]["computed"], len(calls)) == (1, 4, 5)
    assert np.array_equal(resumed["samples"], uq.monte_carlo(sample, 5, seed=1, comm=MPI.COMM_SELF)["samples"])
