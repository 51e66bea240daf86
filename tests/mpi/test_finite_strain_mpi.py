"""Finite strain on 2 ranks: a cell distributed over the ranks gives the rank-one laminate,
and FE² at finite strain (each rank its own cells) gives the serial answer."""

from __future__ import annotations

import sys
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.macro.quadrature import LocalMaterial
from dolfinx_multiscale.studies.loading import load_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_finite_strain import SOFT, STIFF, laminate_P  # noqa: E402  (the serial tests' reference)


def test_distributed_laminate_cell_equals_rank_one_laminate():
    world = MPI.COMM_WORLD
    assert world.size == 2
    micro = dm.microstructures.laminate([0.4, 0.6], direction=1, dim=2, h=0.2, comm=world)
    rve = dm.RVE(micro, {1: SOFT, 2: STIFF})
    records = load_path(rve, {"steps": [{"F": {"11": 1.2, "12": 0.15, "21": -0.05, "22": 0.9}}]}, progress=False)
    F = np.array(records[-1]["F"])
    P_ref = laminate_P((SOFT, STIFF), [0.4, 0.6], 1, F)
    assert np.abs(np.array(records[-1]["P"]) - P_ref).max() <= 1e-8 * np.abs(P_ref).max()
    assert records[-1]["ellipticity"]["min"] > 0


def test_fe2_finite_strain_on_two_ranks_equals_serial():
    world = MPI.COMM_WORLD
    cell = dm.microstructures.circular_inclusion(0.2, h=0.25, comm=MPI.COMM_SELF)
    loads = [0.3, 0.6]
    fe2 = Beam(lambda m: FE2Material(dm.RVE(cell, {1: SOFT, 2: SOFT}), m), mode="tension", cells=4, comm=world)
    serial = Beam(lambda m: LocalMaterial(SOFT, m), mode="tension", cells=4, comm=MPI.COMM_SELF)
    r_fe2 = [h["reaction"] for h in fe2.run(loads)]
    r_serial = [h["reaction"] for h in serial.run(loads)]
    assert np.allclose(r_fe2, r_serial, rtol=1e-10, atol=0)
    assert abs(fe2.displacement_norm() - serial.displacement_norm()) <= 1e-10 * serial.displacement_norm()


def test_cli_rve_path_finite_on_two_ranks(tmp_path):
    """``rve-path --kinematics finite`` unchanged under mpiexec: one JSON, written once, with
    the serial numbers."""
    import json

    from dolfinx_multiscale.cli import main

    world = MPI.COMM_WORLD
    folder = Path(world.bcast(str(tmp_path) if world.rank == 0 else None))
    out = folder / "finite.json"
    mesh = Path(__file__).resolve().parents[2] / "meshes" / "square_circle.msh"
    args = ["rve-path", str(mesh), "--kinematics", "finite", "--phase", "1:model=neo-hookean,E=1,nu=0.3",
            "--phase", "2:model=svk,E=10,nu=0.3", "--F", "11=1.2", "--P", "22=0", "--P", "12=0", "--P", "21=0",
            "--steps", "2", "--json", str(out)]
    assert main(args) == 0
    world.barrier()
    data = json.loads(out.read_text())
    assert data["n_ranks"] == 2 and data["kinematics"] == "finite"
    micro = dm.read_msh(str(mesh), comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, {1: SOFT, 2: dm.SaintVenantKirchhoff(E=10.0, nu=0.3)})
    from dolfinx_multiscale.studies.loading import ramp

    serial = load_path(rve, ramp({"11": 1.2}, {"22": 0.0, "12": 0.0, "21": 0.0}, steps=2, physics="finite", dim=2),
                       progress=False)
    assert np.abs(np.array(data["steps"][-1]["P"]) - np.array(serial[-1]["P"])).max() <= 1e-10
    assert abs(data["steps"][-1]["ellipticity"]["min"] - serial[-1]["ellipticity"]["min"]) <= 1e-8


def test_fe2_finite_strain_composite_two_ranks_equals_one():
    """A two-phase neo-Hookean cell at every point: 2 ranks (cyclic partition) give the
    1-rank reactions and displacement norm to 1e-10."""
    from dolfinx_multiscale.macro.fe2 import cyclic_partitioner

    world = MPI.COMM_WORLD
    cell = dm.microstructures.circular_inclusion(0.2, h=0.25, comm=MPI.COMM_SELF)
    out = {}
    for name, comm in (("parallel", world), ("serial", MPI.COMM_SELF)):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell, {1: SOFT, 2: STIFF}), m), mode="tension", cells=4, comm=comm,
                    partitioner=cyclic_partitioner() if comm.size > 1 else None)
        out[name] = (np.array([h["reaction"] for h in beam.run([0.3, 0.6])]), beam.displacement_norm())
    (r2, n2), (r1, n1) = out["parallel"], out["serial"]
    assert np.abs(r2 - r1).max() <= 1e-10 * np.abs(r1).max() and abs(n2 - n1) <= 1e-10 * n1
