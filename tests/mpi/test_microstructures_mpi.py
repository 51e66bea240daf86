"""2-rank tests of dolfinx_multiscale.geometry.microstructures.

Run as ``mpiexec -n 2 python -m mpi4py -m pytest tests/mpi/test_microstructures_mpi.py``
(also passes serially). Reference values come from the same mesh built on
``MPI.COMM_SELF`` (one rank holds everything), an independent serial computation.
"""

import dolfinx_solver  # noqa: F401  (before dolfinx)

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from dolfinx_multiscale.geometry import microstructures as ms

WORLD = MPI.COMM_WORLD
MESHES = Path(__file__).resolve().parents[2] / "meshes"


def global_cells(micro):
    return micro.mesh.topology.index_map(micro.dim).size_global


def assert_same(distributed, serial):
    assert global_cells(distributed) == global_cells(serial)
    assert distributed.phases == serial.phases
    for tag in serial.phases:
        assert distributed.volume_fractions[tag] == pytest.approx(
            serial.volume_fractions[tag], abs=1e-13
        )
    np.testing.assert_array_equal(distributed.box[0], serial.box[0])
    np.testing.assert_array_equal(distributed.box[1], serial.box[1])
    # every rank holds the same collective values
    assert (
        WORLD.allgather(distributed.volume_fractions) == [distributed.volume_fractions] * WORLD.size
    )
    err = distributed.periodicity_error()
    assert WORLD.allgather(err) == [err] * WORLD.size
    assert err <= 1e-12


@pytest.mark.parametrize(
    "name", ["square_circle.msh", "hex_fibres.msh", "sphere.msh", "laminate.msh"]
)
def test_read_msh_same_on_all_ranks(name):
    distributed = ms.read_msh(MESHES / name, comm=WORLD)
    serial = ms.read_msh(MESHES / name, comm=MPI.COMM_SELF)
    assert_same(distributed, serial)
    if WORLD.size > 1:
        # the mesh really is distributed
        local = distributed.mesh.topology.index_map(distributed.dim).size_local
        assert 0 < local < global_cells(serial)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("circular_inclusion", dict(volume_fraction=0.3, h=0.05)),
        ("random_inclusions", dict(n=5, volume_fraction=0.3, seed=1, h=0.05)),
        ("porous", dict(volume_fraction=0.15, dim=3, n=2, h=0.2)),
        ("laminate", dict(fractions=[0.3, 0.7], dim=3, direction=1, h=0.2)),
    ],
)
def test_generators_same_on_all_ranks(name, kwargs):
    distributed = ms.GENERATORS[name](comm=WORLD, **kwargs)
    serial = ms.GENERATORS[name](comm=MPI.COMM_SELF, **kwargs)
    assert_same(distributed, serial)


def test_write_msh_collective(tmp_path):
    folder = Path(WORLD.bcast(str(tmp_path), root=0))  # rank 0's directory, shared
    path = ms.write_msh(
        folder / "c.msh", "circular_inclusion", comm=WORLD, volume_fraction=0.2, h=0.1
    )
    assert path.is_file()  # written by rank 0 before the collective return
    micro = ms.read_msh(path, comm=WORLD)
    assert micro.volume_fractions[2] == pytest.approx(0.2, abs=0.01)
    WORLD.barrier()


def test_errors_are_raised_on_every_rank(tmp_path):
    with pytest.raises(ValueError, match="not an existing file"):
        ms.read_msh(MESHES / "does_not_exist.msh", comm=WORLD)
    with pytest.raises(ValueError, match=r"placed only \d+ of n=40"):
        ms.random_inclusions(40, 0.5, min_gap=0.02, max_tries=2000, comm=WORLD)
    with pytest.raises(ValueError, match=r"h must be a finite number > 0"):
        ms.circular_inclusion(0.2, h=-1.0, comm=WORLD)
    WORLD.barrier()
