"""Run under ``mpiexec -n 2``: ``rve-size --cache`` shares its members over the ranks, each
rank storing the members it computed, and a resumed study recomputes none of them."""

import json
from pathlib import Path

from mpi4py import MPI

import numpy as np

from dolfinx_multiscale.cli import main

WORLD = MPI.COMM_WORLD
ARGS = ["rve-size", "--sizes", "1,4", "--vf", "0.3", "--phase", "1:E=1,nu=0.3", "--phase", "2:E=10,nu=0.3",
        "--h-factor", "0.6", "--quiet"]


def test_cli_rve_size_cache_two_ranks_resumes(tmp_path_factory):
    assert WORLD.size == 2
    folder = Path(WORLD.bcast(str(tmp_path_factory.mktemp("cache")) if WORLD.rank == 0 else None, root=0))
    cache = folder / "members"

    def run(name, seeds):
        assert main([*ARGS, "--seeds", str(seeds), "--cache", str(cache), "--json", str(folder / name)]) == 0
        WORLD.barrier()  # rank 0 wrote the JSON
        data = json.loads((folder / name).read_text())
        assert data["n_ranks"] == 2
        return data

    first = run("first.json", 2)
    assert (first["cache"]["hits"], first["cache"]["computed"]) == (0, 4)
    assert [r for row in first["sizes_report"] for r in row["ranks"]] == [0, 1, 0, 1]
    assert len(list(cache.glob("*.json"))) == 4
    again = run("again.json", 2)
    assert (again["cache"]["hits"], again["cache"]["computed"]) == (4, 0)
    assert again["sizes_report"] == first["sizes_report"]
    # one more seed: members (1, 2) and (4, 2) are new, on ranks 0 and 1 of the 6 round-robin
    more = run("more.json", 3)
    assert (more["cache"]["hits"], more["cache"]["computed"]) == (4, 2)
    assert len(list(cache.glob("*.json"))) == 6
    for old, new in zip(first["sizes_report"], more["sizes_report"]):
        for bc in ("kubc", "periodic", "subc"):
            assert np.array_equal(np.array(new["C"][bc])[:2], old["C"][bc])
