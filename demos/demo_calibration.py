# # Calibration and validation: matrix parameters of a fibre composite from macro curves
#
# The matrix of a fibre composite (40 % elastic fibres, hexagonal packing) is J2
# plastic with linear hardening; its Young's modulus `E`, yield stress `σ_y0` and
# hardening modulus `H` are not known. We have a macro curve — a uniaxial-stress
# load–unload test, `E11` prescribed, `Σ22 = Σ12 = 0` — with measurement noise, and
# identify the three parameters by nonlinear least squares through an RVE virtual
# test (`dolfinx_multiscale.studies.calibration`), with 95 % confidence intervals from the
# Jacobian. Then the calibrated model predicts a *held-out* test it has never seen
# (simple shear, `E12` prescribed, `Σ11 = Σ22 = 0`) and the prediction passes or fails
# against a stated tolerance.
#
# **Where the data come from.** The "experiment" is a direct numerical simulation:
# the shipped `meshes/hex_fibres.msh` cell (2846 cells, `h = 0.04`) with the true
# parameters, plus Gaussian noise of fixed seed. The model being calibrated is the same
# cell meshed coarsely (`h = 0.12`, ~370 cells, ~0.3 s per virtual test), which is
# what makes a calibration cheap — and also a *different* model: P1 elements on a
# coarse mesh are stiffer in plastic flow (incompressible, locking), by ~5 % here. So
# the estimates are the *effective* parameters of the coarse model, not exactly the
# DNS's; the confidence intervals use the noise level estimated from the residuals,
# which then contains that model-form error, and the validation on a different path is
# what tells whether the calibrated model is good enough. Run with `--truth model` to
# make the data with the calibrated model itself (then the intervals are about the
# noise only and must contain the truth).
#
# **MPI.** Every model runs on `MPI.COMM_SELF`: under `mpiexec -n 2` rank 0 makes the
# calibration data and rank 1 the validation data (broadcast), and the columns of
# every finite-difference Jacobian are shared out over the ranks. All ranks then hold
# the same numbers, bit for bit, as a serial run. Run
# `python demos/demo_calibration.py [--h 0.12] [--noise 5e-5] [--truth dns|model]`.

# +
import argparse
import json
import logging
import time
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale import calibration as cal
from dolfinx_multiscale.studies.loading import ramp

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--h", type=float, default=0.12, help="mesh size of the calibrated (coarse) cell")
parser.add_argument("--noise", type=float, default=5e-5, help="noise standard deviation (stress units)")
parser.add_argument("--seed", type=int, default=1, help="seed of the noise")
parser.add_argument("--truth", choices=["dns", "model"], default="dns",
                    help="data from the fine shipped cell (dns) or from the calibrated model itself")
parser.add_argument("--tolerance", type=float, default=0.05, help="validation tolerance (relative RMS)")
parser.add_argument("--mesh", default=str(Path(__file__).resolve().parents[1] / "meshes" / "hex_fibres.msh"))
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
logging.basicConfig(level=logging.WARNING, format="%(message)s")
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()
# -

# ## The parameters, the two tests and the two models
# Units of your choice (e.g. GPa): matrix `E = 1`, `ν = 0.3` (known), `σ_y0 = 0.005`,
# `H = 0.05`; fibres elastic, `E = 10`, `ν = 0.3`. The initial guess is 30–100 % off.

truth = {"E": 1.0, "sy0": 0.005, "H": 0.05}
x0 = {"E": 0.7, "sy0": 0.008, "H": 0.1}
bounds = {"E": (0.05, 20.0), "sy0": (1e-4, 0.1), "H": (1e-4, 2.0)}
materials = cal.j2_matrix({2: dm.LinearElastic(E=10.0, nu=0.3)}, E=1.0, nu=0.3, sy0=0.005, H=0.05)
tension = ramp({"11": 0.01}, {"22": 0.0, "12": 0.0}, steps=4, unload=True)  # calibration
shear = ramp({"12": 0.006}, {"11": 0.0, "22": 0.0}, steps=3, unload=True)    # validation (held out)

coarse = dm.microstructures.fibre_array(0.4, "hexagonal", h=args.h, comm=MPI.COMM_SELF)
model = cal.RVEModel(coarse, materials)
truth_model = (cal.RVEModel(dm.read_msh(args.mesh, comm=MPI.COMM_SELF), materials)
               if args.truth == "dns" else model)

# ## Synthetic data: the truth model plus noise (fixed seeds)
# One path per rank when there are two ranks, then broadcast: every rank holds the
# same datasets.

jobs = [(tension, args.seed), (shear, args.seed + 1)]
n_cells = truth_model.micro.mesh.topology.index_map(2).size_global
datasets = [cal.synthetic_data(truth_model, truth, path, args.noise, seed=seed,
                               source=f"{args.truth}: {n_cells} cells")
            if j % comm.size == comm.rank else None for j, (path, seed) in enumerate(jobs)]
calibration_data, validation_data = (comm.bcast(d, root=j % comm.size) for j, d in enumerate(datasets))

# ## Calibration: E, σ_y0, H from the tension curve
# Least squares over the log-parameters, Jacobian columns shared over the ranks; the
# noise level is estimated from the residuals (`noise_sigma=None`).

fit = cal.calibrate(model, calibration_data, x0, bounds, comm=comm)
if comm.rank == 0:
    print(f"calibration data: {calibration_data.source}, noise sigma {args.noise:g}, "
          f"model: coarse cell, {coarse.mesh.topology.index_map(2).size_global} cells")
    print(fit.summary(truth))
    print(f"optimizer: {fit.message} ({fit.nfev} residual and {fit.njev} Jacobian evaluations)")

# ## Validation on the held-out shear path
# The calibrated parameters predict the shear test; the relative RMS error against its
# data must be at most the stated tolerance. The noise alone accounts for
# `noise_floor`; a deliberately wrong parameter set (σ_y0 20 % too high) must fail.

check = cal.validate(model, fit.estimates, validation_data, args.tolerance)
wrong = {**fit.estimates, "sy0": 1.2 * fit.estimates["sy0"]}
check_wrong = cal.validate(model, wrong, validation_data, args.tolerance)
check_truth = cal.validate(model, truth, validation_data, args.tolerance)
if comm.rank == 0:
    print(check.summary())
    print(f"deliberately wrong sy0 (+20 %): relative RMS {check_wrong.relative_rms:.3e} -> "
          f"{'PASS' if check_wrong.passed else 'FAIL'}")
    print(f"the coarse model with the DNS's own parameters: relative RMS {check_truth.relative_rms:.3e}")
    print(f"VALIDATION {'PASS' if check.passed else 'FAIL'} (tolerance {args.tolerance:g})")

# ## Picture: data, calibrated model, validation prediction

if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, data, pred, comp, title in (
            (axes[0], calibration_data, fit.prediction, 0, "calibration: uniaxial tension"),
            (axes[1], validation_data, check.prediction, 2, "validation (held out): shear")):
        scale = 1.0 if comp < 2 else 1.0 / np.sqrt(2.0)  # Mandel -> tensor component
        x = np.concatenate([[0.0], data.strain[:, comp] * scale])
        label = data.observe[0]
        ax.plot(x[1:], data.values[:, 0], "o", label=f"data ({args.truth}, noise)")
        ax.plot(x, np.concatenate([[0.0], data.clean[:, 0]]), ":", color="gray",
                label=f"{args.truth}, noise free")
        ax.plot(x, np.concatenate([[0.0], pred[:, 0]]), "-", label="calibrated model")
        ax.set_xlabel(f"E{label[-2:]}")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[1].text(0.03, 0.93, f"relative RMS {check.relative_rms:.3f}: {'PASS' if check.passed else 'FAIL'}",
                 transform=axes[1].transAxes, va="top")
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=120)
    plt.close(fig)
    (out / "calibration.json").write_text(json.dumps(
        {"truth": truth, "x0": x0, "calibration": fit.to_dict(), "validation": check.to_dict(),
         "validation_wrong_parameters": check_wrong.to_dict(), "n_ranks": comm.size,
         "wall_s": time.perf_counter() - t_start}, indent=1))

# ## Checks
# The fit converged and explains the tension curve; the held-out shear prediction
# passes while a wrong parameter set fails; every rank holds the same numbers.

assert fit.success and fit.relative_rms < 0.05, fit.message
assert check.passed and not check_wrong.passed
if args.truth == "model":  # the intervals are about the noise only: they contain the truth
    assert all(fit.covers(truth).values()), fit.summary(truth)
same = comm.allgather((fit.x.tobytes(), fit.covariance.tobytes(), check.relative_rms))
assert all(s == same[0] for s in same), "ranks disagree"
if comm.rank == 0:
    print(f"wall time {time.perf_counter() - t_start:.1f} s on {comm.size} rank(s)")
