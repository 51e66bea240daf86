# # Virtual material test: uniaxial stress on an elastoplastic fibre composite
#
# Before any FE² run, load the RVE along a macro path and look at the curve. The
# shipped hexagonal fibre cell (40 % elastic fibres in a J2 matrix with linear
# isotropic hardening) is pulled in uniaxial stress, `E11` prescribed and
# `Σ22 = Σ12 = 0` found by the mixed-control Newton with the condensed tangent,
# then unloaded. The script prints the curve, checks the thermodynamics (no
# negative dissipation) and that unloading starts on the elastic slope, and writes
# the curve and the plastic strain field. Run
# `python demos/demo_virtual_test.py [--steps 10] [--strain 0.02]`, serially or
# under `mpiexec -n 2`.

# +
import argparse
import logging
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.studies.loading import load_path, ramp
from dolfinx_multiscale.viz import plot_load_path, plot_rve

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--steps", type=int, default=8, help="load steps (and as many to unload)")
parser.add_argument("--strain", type=float, default=0.02, help="peak E11")
parser.add_argument("--mesh", default=str(Path(__file__).resolve().parents[1] / "meshes" / "hex_fibres.msh"))
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
logging.basicConfig(level=logging.INFO if comm.rank == 0 else logging.WARNING, format="%(message)s")
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
# -

# ## The cell and its phases
# Matrix: `E = 1`, `ν = 0.3`, `σ_y0 = 0.005`, `H = 0.05` (units of your choice, e.g.
# GPa); fibres: elastic, ten times stiffer.

micro = dm.read_msh(args.mesh, comm=comm)
matrix = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
rve = dm.RVE(micro, {1: matrix, 2: dm.LinearElastic(E=10.0, nu=0.3)}, bc="periodic")
C_el = rve.effective_tensor()

# ## Load and unload in uniaxial stress

path = ramp({"11": args.strain}, {"22": 0.0, "12": 0.0}, steps=args.steps, unload=True)


def snapshot(record, rve):
    if record["step"] == args.steps:
        plot_rve(rve, out / "virtual_test_peak.png", title=f"peak, E11 = {record['E'][0]:.4f}")


records = load_path(rve, path, on_step=snapshot)

# ## What the curve says

if comm.rank == 0:
    print(" step      E11        E22      Sigma11    <p>       dissipation  micro its")
    for r in records:
        print(f"{r['step']:5d} {r['E'][0]:9.5f} {r['E'][1]:10.5f} {r['Sigma'][0]:10.6f} "
              f"{r['p_mean']:9.2e} {r['dissipation']:12.3e} {r['newton_iterations']:6d}")
    plot_load_path(records, out / "virtual_test_curve.png", components=[0], labels=["11", "22", "12"])
peak, first_unload = records[args.steps - 1], records[args.steps]
dE = np.subtract(first_unload["E"], peak["E"])
dS = np.subtract(first_unload["Sigma"], peak["Sigma"])
elastic_unload = first_unload["p_mean"] == peak["p_mean"]
assert min(r["dissipation"] for r in records) >= -1e-14
assert max(abs(r["Sigma"][1]) for r in records) <= 1e-10 * peak["Sigma"][0]
if elastic_unload:
    assert np.allclose(dS, C_el @ dE, rtol=1e-8, atol=1e-12)
if comm.rank == 0:
    print(f"apparent yield: Sigma11 at the first plastic step = "
          f"{next(r['Sigma'][0] for r in records if r['p_mean'] > 0):.5f}")
    print(f"unloading elastic: {elastic_unload}; total dissipation "
          f"{sum(r['dissipation'] for r in records):.4e} (energy per unit cell volume)")
