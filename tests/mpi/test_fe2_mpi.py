"""Run under ``mpiexec -n 2``: FE² on a distributed macro mesh gives the serial numbers,
and each rank solves the RVEs of its own points only."""

from mpi4py import MPI

import numpy as np

import dolfinx.mesh

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material
from dolfinx_multiscale.macro.problems import Beam


def test_fe2_two_ranks_equal_serial():
    comm = MPI.COMM_WORLD
    assert comm.size == 2
    cell = dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)
    j2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
    mats = {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.25)}
    loads = [0.03, 0.06, 0.0]
    results = {}
    for name, macro_comm in (("parallel", comm), ("serial", MPI.COMM_SELF)):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell, mats), m), cells=6, comm=macro_comm)
        history = beam.run(loads)
        results[name] = (np.array([h["reaction"] for h in history]), beam.displacement_norm(), beam)
    (r_par, n_par, par), (r_ser, n_ser, ser) = results["parallel"], results["serial"]
    assert np.abs(r_par - r_ser).max() <= 1e-10 * np.abs(r_ser).max()
    assert abs(n_par - n_ser) <= 1e-10 * n_ser
    # each rank owns and solves its points only; together they are all the points
    mat = par.material
    owned_cells = par.mesh.topology.index_map(2).size_local
    assert mat.n_points == owned_cells * mat.n_per_cell
    assert comm.allreduce(mat.n_points) == ser.material.n_points
    counts = comm.allgather(mat.solves)
    assert all(c > 0 for c in counts)
    assert mat.solves % mat.n_points == 0  # every update solves exactly this rank's points


def test_cyclic_partition_shares_the_clamp_and_keeps_the_answer():
    """cyclic_partitioner gives both ranks cells near the clamp (where bending makes the
    RVEs plastic, hence costly); the FE² answer is the serial one."""
    from dolfinx_multiscale.macro.fe2 import cyclic_partitioner

    comm = MPI.COMM_WORLD
    cell = dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)
    mats = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10.0, nu=0.25)}
    reactions, clamp_share = {}, {}
    for name, partitioner in (("default", None), ("cyclic", cyclic_partitioner(4))):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell, mats), m), cells=12, comm=comm,
                    partitioner=partitioner)
        n_own = beam.mesh.topology.index_map(2).size_local
        x = dolfinx.mesh.compute_midpoints(beam.mesh, 2, np.arange(n_own, dtype=np.int32))
        clamp_share[name] = comm.allgather(int((x[:, 0] < 0.5).sum()))
        reactions[name] = np.array([h["reaction"] for h in beam.run([0.04])])
    assert sum(clamp_share["default"]) == sum(clamp_share["cyclic"]) == 36
    assert min(clamp_share["default"]) == 0  # DOLFINx's compact halves: one rank has the clamp
    assert min(clamp_share["cyclic"]) >= 12  # dealt blocks: both ranks share it
    assert np.abs(reactions["cyclic"] - reactions["default"]).max() <= 1e-10 * np.abs(reactions["default"]).max()


def test_batched_elastic_shortcut_on_two_ranks_equals_per_point_path():
    comm = MPI.COMM_WORLD
    cell = dm.microstructures.circular_inclusion(0.3, h=0.15, comm=MPI.COMM_SELF)
    mats = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10.0, nu=0.25)}
    out = {}
    for batch in (False, True):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell, mats, batch=batch, rtol=1e-12), m), cells=6, comm=comm, rtol=1e-13)
        history = beam.run([0.03, 0.0])
        shortcuts = comm.allreduce(int(beam.material.state["elastic_shortcut"].sum()))
        out[batch] = (np.array([h["reaction"] for h in history]), beam.displacement_norm(), shortcuts)
    (r0, n0, k0), (r1, n1, k1) = out[False], out[True]
    assert np.abs(r1 - r0).max() <= 1e-10 * np.abs(r0).max()
    assert abs(n1 - n0) <= 1e-10 * n0
    assert k0 == 0 and k1 > 0  # unloading to zero: elastic points took the shortcut
