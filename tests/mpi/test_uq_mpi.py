"""Run under ``mpiexec -n 2``: the ensemble studies split their members over the ranks
and return the serial numbers on every rank (issue 6)."""

import json

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale import uq, verification
from dolfinx_multiscale.cli import main

WORLD = MPI.COMM_WORLD
MATS = {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.3)}


def test_rve_size_study_two_ranks_equal_serial():
    assert WORLD.size == 2
    args = ([1, 4], 3, 0.3, MATS)
    kwargs = dict(h_factor=0.6, tolerance=0.5)
    par = uq.rve_size_study(*args, comm=WORLD, **kwargs)
    ser = uq.rve_size_study(*args, comm=MPI.COMM_SELF, **kwargs)
    assert par["n_ranks"] == 2 and ser["n_ranks"] == 1
    for p, s in zip(par["sizes_report"], ser["sizes_report"]):
        for key in ("C", "mean", "half_width", "lower", "upper"):
            for bc in ("kubc", "periodic", "subc"):
                assert np.array_equal(p[key][bc], s[key][bc]), (key, bc)
        assert p["bracket_width"] == s["bracket_width"] and p["n_dofs"] == s["n_dofs"]
    # the members were shared: 6 members, round-robin
    ranks = [r for row in par["sizes_report"] for r in row["ranks"]]
    assert ranks == [0, 1, 0, 1, 0, 1]
    assert par["smallest_size"] == ser["smallest_size"]
    # every rank holds the same report
    gathered = WORLD.allgather(json.dumps(par["sizes_report"]))
    assert gathered[0] == gathered[1]


def test_monte_carlo_two_ranks_equal_serial():
    cell = dm.microstructures.circular_inclusion(0.3, h=0.2, comm=MPI.COMM_SELF)

    def materials(rng):
        return {1: MATS[1], 2: dm.LinearElastic(E=rng.uniform(5.0, 20.0), nu=rng.uniform(0.2, 0.35))}

    sampler = uq.random_properties_sampler(cell, materials)
    micro_sampler = uq.random_microstructure_sampler(2, 0.3, MATS, h=0.15)

    def sample(rng):
        return {"C": sampler(rng), "C_random_cell": micro_sampler(rng)}

    par = uq.monte_carlo(sample, 5, seed=11, comm=WORLD)
    ser = uq.monte_carlo(sample, 5, seed=11, comm=MPI.COMM_SELF)
    assert par["ranks"] == [0, 1, 0, 1, 0]
    for key in ("C", "C_random_cell"):
        assert np.array_equal(par["samples"][key], ser["samples"][key])
        assert np.array_equal(par["half_width"][key], ser["half_width"][key])
        assert np.array_equal(par["running_half_width"][key], ser["running_half_width"][key])


def test_interval_propagation_with_a_distributed_rve():
    """fn is collective (an RVE on COMM_WORLD); every rank follows the same path."""
    def c11(x):
        micro = dm.microstructures.circular_inclusion(0.3, h=0.2, comm=WORLD)
        return dm.RVE(micro, {1: MATS[1], 2: dm.LinearElastic(E=float(x[0]), nu=0.3)}).effective_tensor()[0, 0]

    res = uq.interval_propagation(c11, [(5.0, 20.0)], comm=WORLD)
    values = WORLD.allgather((res["lower"], res["upper"], res["n_evaluations"]))
    assert values[0] == values[1]
    assert res["lower"] < res["upper"]


def test_verification_study_two_ranks_equal_serial():
    def study(comm):
        return verification.mesh_convergence(verification.effective_tensor_study(
            lambda h, c: verification.graded_cell(round(1 / h), comm=c), components=[(0, 0), (2, 2)],
            comm=comm), [1 / 4, 1 / 8, 1 / 16])

    par, ser = study(WORLD), study(MPI.COMM_SELF)
    for name in ("C11", "C33"):
        p, s = par["quantities"][name], ser["quantities"][name]
        assert np.allclose(p["values"], s["values"], rtol=1e-12, atol=0)
        assert abs(p["observed_order"] - s["observed_order"]) < 1e-6


def test_cli_rve_size_two_ranks_equal_serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") if WORLD.rank == 0 else None
    out = WORLD.bcast(str(out), root=0)
    path = f"{out}/size.json"
    args = ["rve-size", "--sizes", "1,4", "--seeds", "2", "--vf", "0.3", "--phase", "1:E=1,nu=0.3",
            "--phase", "2:E=10,nu=0.3", "--h-factor", "0.6", "--json", path]
    assert main(args) == 0  # on every rank
    WORLD.barrier()
    data = json.loads(open(path).read())
    ser = uq.rve_size_study([1, 4], 2, 0.3, MATS, h_factor=0.6, comm=MPI.COMM_SELF)
    assert data["n_ranks"] == 2
    for got, want in zip(data["sizes_report"], ser["sizes_report"]):
        for bc in ("kubc", "periodic", "subc"):
            assert np.array_equal(got["C"][bc], want["C"][bc])
    bad = main(["rve-size", "--sizes", "1,4", "--seeds", "1", "--vf", "0.3", "--phase", "1:E=1,nu=0.3",
                "--phase", "2:E=10,nu=0.3", "--json", f"{out}/bad.json"])
    assert bad == 2
    WORLD.barrier()
    import os

    assert not os.path.exists(f"{out}/bad.json")
