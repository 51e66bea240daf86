"""FE² with a reduced RVE on 2 ranks: a model trained once, saved and loaded on every rank,
gives the serial reactions to 1e-10."""

from __future__ import annotations

from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material, cyclic_partitioner
from dolfinx_multiscale.macro.problems import Beam

J2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
FIBRE = dm.LinearElastic(E=10.0, nu=0.25)


def test_fe2_reduced_two_ranks_equals_serial(tmp_path):
    world = MPI.COMM_WORLD
    assert world.size == 2
    cell = dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)
    folder = Path(world.bcast(str(tmp_path) if world.rank == 0 else None))
    if world.rank == 0:
        dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), tolerance=1e-3, strain_amplitude=0.02, paths=4,
                            steps=3, validation_paths=2).save(folder / "model.npz")
    world.barrier()
    loads = [0.02, 0.04, 0.0]
    reactions = {}
    for name, comm in (("parallel", world), ("serial", MPI.COMM_SELF)):
        model = dm.ReducedRVE.load(folder / "model.npz", dm.RVE(cell, {1: J2, 2: FIBRE}))
        beam = Beam(lambda m: FE2Material(model, m), cells=4, comm=comm,
                    partitioner=cyclic_partitioner() if comm.size > 1 else None)
        reactions[name] = np.array([h["reaction"] for h in beam.run(loads)])
        assert comm.allreduce(beam.material.stats["reduced"]) > 0
    assert np.abs(reactions["parallel"] - reactions["serial"]).max() <= 1e-10 * np.abs(reactions["serial"]).max()


def test_training_spread_over_two_ranks_equals_serial():
    """Training with the paths (and a greedy enrichment round's loads) dealt over 2 ranks
    gives every rank the model a serial training gives (same modes, cubature and ranges,
    basis to 1e-10)."""
    world = MPI.COMM_WORLD
    cell = dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)
    options = dict(tolerance=1e-2, strain_amplitude=0.02, paths=2, steps=3, validation_paths=4,
                   enrichment_rounds=1, candidates=32)
    spread = dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), comm=world, **options)
    serial = dm.ReducedRVE.train(dm.RVE(cell, {1: J2, 2: FIBRE}), **options)
    assert spread.modes == serial.modes and np.array_equal(spread.points, serial.points)
    assert np.abs(spread.basis - serial.basis).max() <= 1e-10
    assert np.abs(spread.weights - serial.weights).max() <= 1e-10 * serial.weights.max()
    assert spread.info["samples"] == serial.info["samples"]
    assert spread.info["enrichment"]["added"] == serial.info["enrichment"]["added"] >= 1
    assert spread.history_range.keys() == serial.history_range.keys() == {"1:p"}
    assert abs(spread.history_range["1:p"] - serial.history_range["1:p"]) <= 1e-10 * serial.history_range["1:p"]
