"""Run under ``mpiexec -n 2``: the Fourier-preconditioned CG of a voxel cell distributed
over 2 ranks (slabs, two all-to-all exchanges per application) gives the tensor of the
default solver on 2 ranks and of the same image on one rank, with the iterations of one
rank (the same preconditioner), and is the exact inverse on a homogeneous cell."""

import sys
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell.solver import SolverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_fourier import assert_exact_inverse  # noqa: E402  (the serial tests' check)

WORLD = MPI.COMM_WORLD
LAWS = {"elasticity": {0: dm.LinearElastic(E=1.0, nu=0.3), 1: dm.LinearElastic(E=10.0, nu=0.25)},
        "conduction": {0: dm.Conductivity(1.0), 1: dm.Conductivity(10.0)}}


def random_image(shape):
    return (np.random.default_rng(len(shape)).random(shape) < 0.35).astype(np.uint8)  # alike on every rank


@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("shape", [(24, 19), (7, 6, 9), (3, 5, 4)])
def test_two_ranks_equal_the_default_solver_and_one_rank(shape, physics):
    assert WORLD.size == 2
    h = (1.0, 0.5, 2.0)[:len(shape)]
    world = dm.from_image(random_image(shape), voxel_size=h, comm=WORLD)
    fourier = dm.RVE(world, LAWS[physics])
    default = dm.RVE(world, LAWS[physics], solver_policy=SolverPolicy(fourier_preconditioner=False))
    serial = dm.RVE(dm.from_image(random_image(shape), voxel_size=h, comm=MPI.COMM_SELF), LAWS[physics])
    assert fourier.linear_solver.preconditioner is not None and default.linear_solver.preconditioner is None
    C, C_default, C_serial = fourier.effective_tensor(), default.effective_tensor(), serial.effective_tensor()
    scale = np.abs(C_default).max()
    assert np.abs(C - C_default).max() <= 1e-10 * scale
    assert np.abs(C - C_serial).max() <= 1e-10 * scale
    its, its_serial = fourier.linear_solver.n_krylov_iterations, serial.linear_solver.n_krylov_iterations
    assert abs(its - its_serial) <= C.shape[0]  # round-off may move the stopping test by one per case


@pytest.mark.parametrize("shape", [(6, 9), (5, 4, 7), (1, 1, 7)])
def test_homogeneous_cell_in_one_iteration(shape):
    """The Green operator of the phase is the exact inverse of ``K̃`` (one empty slab on
    rank 0 for the ``(1, 1, 7)`` image)."""
    law = dm.LinearElastic(E=3.0, nu=0.2)
    rve = dm.RVE(dm.from_image(np.full(shape, 2, dtype=np.uint8), voxel_size=0.5, comm=WORLD), {2: law})
    C = rve.effective_tensor()
    assert np.abs(C - law.matrix(len(shape))).max() <= 1e-12 * np.abs(C).max()
    assert_exact_inverse(rve.linear_solver)
