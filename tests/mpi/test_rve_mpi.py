"""Run under ``mpiexec -n 2``: a distributed RVE gives the serial numbers."""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell import SolverPolicy
from dolfinx_multiscale.geometry import microstructures as ms

MATS = {"elasticity": {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.2)},
        "conduction": {1: dm.Conductivity(1.0), 2: dm.Conductivity(10.0)}}


@pytest.mark.parametrize("coo_assembly_dofs", [10**9, 0], ids=["coo", "in-place"])
@pytest.mark.parametrize("bc", ["periodic", "kubc", "subc"])
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_distributed_equals_serial(bc, physics, coo_assembly_dofs):
    """Both assemblies of K̃ (COO copy of a local CSR matrix; straight through the
    local-to-global map, where periodic images' rows may belong to the other rank)."""
    assert MPI.COMM_WORLD.size == 2
    tensors = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        micro = ms.random_inclusions(4, 0.3, dim=2, seed=7, min_gap=0.02, h=0.05, comm=comm)
        rve = dm.RVE(micro, MATS[physics], bc=bc, petsc_options_prefix=f"mpi_{coo_assembly_dofs}_",
                     solver_policy=SolverPolicy(coo_assembly_dofs=coo_assembly_dofs))
        tensors.append(rve.effective_tensor())
        E = np.linspace(0.01, 0.02, rve.n)
        rve.solve(E)
        assert rve.hill_mandel_residual() < 1e-10
        if bc != "subc":
            assert np.allclose(rve.average_strain(), E, rtol=1e-10, atol=0)
    assert np.abs(tensors[0] - tensors[1]).max() <= 1e-10 * np.abs(tensors[1]).max()
