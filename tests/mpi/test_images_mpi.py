"""Run under ``mpiexec -n 2``: a voxel cell distributed over 2 ranks gives the numbers of
the same image on one rank (``MPI.COMM_SELF``), and each rank holds only its part of the
mesh."""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm

WORLD = MPI.COMM_WORLD
LAWS = {"elasticity": {3: dm.LinearElastic(E=1.0, nu=0.3), 8: dm.LinearElastic(E=10.0, nu=0.2)},
        "conduction": {3: dm.Conductivity(1.0), 8: dm.Conductivity(10.0)}}


def image(dim):
    rng = np.random.default_rng(dim)  # the same image on every rank
    return np.where(rng.random((10, 12) if dim == 2 else (4, 5, 6)) < 0.4, 8, 3).astype(np.uint8)


@pytest.mark.parametrize("dim", [2, 3])
def test_voxel_mesh_is_distributed_and_tagged_alike(dim):
    assert WORLD.size == 2
    micro = dm.from_image(image(dim), voxel_size=0.1, comm=WORLD)
    imap = micro.mesh.topology.index_map(dim)
    assert imap.size_global == image(dim).size
    assert 0 < imap.size_local < imap.size_global  # each rank owns a part, not all
    assert micro.periodicity_error() < 1e-14
    serial = dm.from_image(image(dim), voxel_size=0.1, comm=MPI.COMM_SELF)
    assert micro.volume_fractions == serial.volume_fractions
    # every owned cell carries the label of the voxel at its midpoint, as on one rank
    x = micro.mesh.geometry.x[micro.mesh.geometry.dofmaps[0]].mean(axis=1)[:, :dim]
    voxel = np.floor(x / 0.1).astype(int)[:, ::-1]
    np.testing.assert_array_equal(micro.cell_tags.values, image(dim)[tuple(voxel.T)])


@pytest.mark.parametrize("bc", ["periodic", "kubc", "subc"])
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("dim", [2, 3])
def test_two_ranks_equal_one(dim, physics, bc):
    tensors = []
    for comm in (WORLD, MPI.COMM_SELF):
        micro = dm.from_image(image(dim), voxel_size=(0.1, 0.2, 0.3)[:dim], comm=comm)
        tensors.append(dm.RVE(micro, LAWS[physics], bc=bc).effective_tensor())
    assert np.abs(tensors[0] - tensors[1]).max() <= 1e-10 * np.abs(tensors[1]).max()
