# # Finite strain: a porous elastomer in uniaxial compression, up to the loss of ellipticity
#
# A periodic cell of a neo-Hookean matrix with a 35 % circular pore is compressed in
# uniaxial (plane-strain) stress: `F̄11` is prescribed from 1 down to `--stretch`,
# `P̄22 = P̄12 = P̄21 = 0` are found by the mixed-control Newton with the condensed
# `Ā = ∂P̄/∂F̄`. After every step the macroscopic ellipticity indicator — the minimum
# over unit `n` of the smallest eigenvalue of the acoustic tensor
# `Q_ik(n) = n_j Ā_ijkl n_l` — tells whether the homogenized material is still strongly
# elliptic; its first sign change marks macroscopic localization (a compaction band with
# normal `n`). The script prints the curve and the indicator, checks the prescribed
# stresses and Hill–Mandel, and writes the curve with the indicator and the deformed
# cell. Run `python demos/demo_finite_strain.py [--stretch 0.7] [--steps 12]`, serially
# or under `mpiexec -n 2`.

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
parser.add_argument("--stretch", type=float, default=0.7, help="final F11 (< 1: compression)")
parser.add_argument("--steps", type=int, default=12, help="load steps")
parser.add_argument("--h", type=float, default=0.05, help="mesh size of the cell")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
logging.basicConfig(level=logging.INFO if comm.rank == 0 else logging.WARNING, format="%(message)s")
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
# -

# ## The cell
# One centred pore, porosity 0.35; the matrix is the compressible neo-Hookean solid of
# DOLFINx's hyperelasticity demo, `ψ = μ/2 (I₁ − 3) − μ ln J + λ/2 (ln J)²`, with
# `E = 1`, `ν = 0.3` (units of your choice, e.g. MPa). Periodic fluctuations.

micro = dm.microstructures.porous(0.35, dim=2, h=args.h, comm=comm)
rve = dm.RVE(micro, {1: dm.NeoHookean(E=1.0, nu=0.3)}, bc="periodic")

# ## Uniaxial compression with mixed control


def snapshot(record, rve):
    if record["step"] == args.steps:
        plot_rve(rve, out / "finite_strain_cell.png", title=f"F11 = {record['F'][0][0]:.3f}")


path = ramp({"11": args.stretch}, {"22": 0.0, "12": 0.0, "21": 0.0}, steps=args.steps, physics="finite", dim=2)
records = load_path(rve, path, on_step=snapshot)

# ## The curve and the ellipticity indicator

if comm.rank == 0:
    print(" step     F11       F22        P11      min_n λ(Q)   n")
    for r in records:
        F, P, e = r["F"], r["P"], r["ellipticity"]
        flag = "  <- loss of ellipticity" if r["loss_of_ellipticity"] else ""
        print(f"{r['step']:5d} {F[0][0]:8.4f} {F[1][1]:9.4f} {P[0][0]:10.5f} {e['min']:11.3e}   "
              f"{np.round(e['n'], 3).tolist()}{flag}")
    plot_load_path(records, out / "finite_strain_curve.png", components=[0], labels=["11", "12", "21", "22"],
                   finite=True)
for r in records:
    P = np.array(r["P"])
    assert np.abs(P.ravel()[1:]).max() <= 1e-10 * abs(P[0, 0])  # the prescribed P̄ components
    assert r["hill_mandel_residual"] <= 1e-10
assert records[0]["ellipticity"]["min"] > 0  # elliptic at small strain
lost = [r for r in records if r["loss_of_ellipticity"]]
if lost and comm.rank == 0:
    r = lost[0]
    print(f"macroscopic ellipticity lost at step {r['step']} (F11 = {r['F'][0][0]:.4f}), band normal "
          f"n = {np.round(r['ellipticity']['n'], 4).tolist()}")
