"""Run under ``mpiexec -n 2``: calibration and validation give the serial numbers."""

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale import calibration as cal
from dolfinx_multiscale.studies.loading import ramp

TRUTH = {"E": 1.0, "sy0": 0.005, "H": 0.05}
X0 = {"E": 0.7, "sy0": 0.008, "H": 0.1}
TENSION = ramp({"11": 0.012}, {"22": 0.0, "12": 0.0}, steps=4, unload=True)
SHEAR = ramp({"12": 0.008}, {"11": 0.0, "22": 0.0}, steps=3, unload=True)


def materials():
    return cal.j2_matrix({2: dm.LinearElastic(E=10.0, nu=0.3)}, E=1.0, nu=0.3, sy0=0.005, H=0.05)


def test_distributed_jacobian_equals_serial():
    """Jacobian columns shared over 2 ranks (per-rank COMM_SELF models) give the serial
    calibration bit for bit, on both ranks; so does the validation."""
    world = MPI.COMM_WORLD
    assert world.size == 2
    model = cal.RVEModel(dm.microstructures.circular_inclusion(0.3, h=0.1, comm=MPI.COMM_SELF), materials())
    data = cal.synthetic_data(model, TRUTH, TENSION, 1e-4, seed=0)
    shear = cal.synthetic_data(model, TRUTH, SHEAR, 1e-4, seed=5)
    serial = cal.calibrate(model, data, X0)  # comm=None: this rank alone, as in a serial run
    runs_before = model.n_evaluations
    shared = cal.calibrate(model, data, X0, comm=world)
    assert model.n_evaluations - runs_before < shared.n_evaluations  # the columns were shared
    assert np.array_equal(shared.x, serial.x)
    assert np.array_equal(shared.covariance, serial.covariance)
    assert np.array_equal(shared.ci, serial.ci)
    assert shared.n_evaluations == serial.n_evaluations
    assert all(shared.covers(TRUTH).values())
    check = cal.validate(model, shared.estimates, shear, tolerance=0.05)
    assert check.passed
    gathered = world.allgather((shared.x.tobytes(), shared.covariance.tobytes(), check.relative_rms))
    assert gathered[0] == gathered[1]


def test_distributed_model_equals_serial():
    """An RVE distributed over both ranks predicts the serial curve (to the solver
    tolerance)."""
    world = MPI.COMM_WORLD
    curves = {}
    for name, comm in (("world", world), ("self", MPI.COMM_SELF)):
        model = cal.RVEModel(dm.microstructures.circular_inclusion(0.3, h=0.1, comm=comm), materials())
        curves[name] = model.predict(TRUTH, TENSION)
    assert np.allclose(curves["world"], curves["self"], rtol=1e-9, atol=1e-13)
