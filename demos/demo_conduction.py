# # Effective conductivity: square fibre array and laminate
#
# Scalar homogenization (heat conduction, diffusion, electric conduction,
# Darcy-like flow): `θ = G·(x − x_c) + w`, flux `j = K ∇θ`, effective
# `K_eff = ∂⟨j⟩/∂G`. The periodic, KUBC and SUBC conductivities of a square array
# of cylinders are compared with the Hashin–Shtrikman bounds and with the
# published Rayleigh/Perrins–McKenzie–McPhedran (1979) value; a laminate is
# compared with its exact harmonic/arithmetic means. Run
# `python demos/demo_conduction.py [--h 0.01]`, serially or under `mpiexec -n 2`.

# +
import argparse
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.studies import references as hom
from dolfinx_multiscale.viz import plot_rve

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--h", type=float, default=0.02, help="mesh size")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
k_m, k_f, f = 1.0, 10.0, 0.5
# -

# ## Square array of cylinders

micro = dm.microstructures.fibre_array(f, packing="square", h=args.h, comm=comm)
phases = {1: dm.Conductivity(k_m), 2: dm.Conductivity(k_f)}
K = {}
for bc in ("kubc", "periodic", "subc"):
    rve = dm.RVE(micro, phases, bc=bc)
    K[bc] = rve.effective_tensor()[0, 0]
    if bc == "periodic":
        rve.solve(np.array([1.0, 0.0]))
        plot_rve(rve, out / "conduction_square_array.png")
f2 = micro.volume_fractions[2]
lo, hi = hom.hashin_shtrikman_conductivity(k_m, k_f, f2, 2)
rayleigh = hom.rayleigh_square_array(k_m, k_f, f2)
if comm.rank == 0:
    print(f"square array, f = {f2:.4f}, k_f/k_m = {k_f / k_m:g}")
    print(f"  SUBC {K['subc']:.5f} <= PBC {K['periodic']:.5f} <= KUBC {K['kubc']:.5f}")
    print(f"  HS bounds [{lo:.5f}, {hi:.5f}] hold for the periodic (effective) value; the apparent\n"
          "  SUBC/KUBC values of one small cell need not lie inside them")
    print(f"  Perrins et al. (1979) {rayleigh:.5f}: relative difference "
          f"{abs(K['periodic'] / rayleigh - 1):.1e}")
assert K["subc"] <= K["periodic"] <= K["kubc"] and lo <= K["periodic"] <= hi
assert abs(K["periodic"] / rayleigh - 1) < 5e-3

# ## Three-layer laminate (layers stacked along y)

fractions, ks = (0.2, 0.5, 0.3), (1.0, 10.0, 3.0)
lam = dm.microstructures.laminate(fractions, direction=1, dim=2, h=0.1, comm=comm)
K_lam = dm.RVE(lam, {i + 1: dm.Conductivity(k) for i, k in enumerate(ks)}).effective_tensor()
exact = hom.laminate_conductivity(list(ks), fractions, 1, 2)
if comm.rank == 0:
    print(f"laminate: K = diag({K_lam[0, 0]:.6f}, {K_lam[1, 1]:.6f}); "
          f"exact arithmetic {exact[0, 0]:.6f}, harmonic {exact[1, 1]:.6f}")
assert np.allclose(K_lam, exact, rtol=1e-10, atol=1e-12)
