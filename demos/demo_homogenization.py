# # Elastic homogenization of a fibre composite: KUBC, periodic and SUBC
#
# The seed's RVE chapter in one script. A periodic random microstructure (disks
# in a matrix, plane strain) is homogenized with the three classical boundary
# conditions; the three effective tensors are compared with each other
# (`C_SUBC ≤ C_PBC ≤ C_KUBC`), with the Voigt–Reuss and Hashin–Shtrikman bounds,
# and the Hill–Mandel condition is checked for each. Run it with
# `python demos/demo_homogenization.py [--h 0.01] [--out results]`, serially or
# under `mpiexec -n 2`.

# +
import argparse
import json
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.studies import references as hom
from dolfinx_multiscale.viz import plot_rve

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--h", type=float, default=0.03, help="mesh size (cell = unit square)")
parser.add_argument("--n", type=int, default=6, help="number of fibres")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
# -

# ## The microstructure
# Random sequential addition of `n` equal disks with periodic wrap-around (30 %
# fibres); tag 1 is the matrix, tag 2 the fibres.

micro = dm.microstructures.random_inclusions(args.n, 0.3, dim=2, seed=1, min_gap=0.02, h=args.h, comm=comm)
matrix, fibre = dm.LinearElastic(E=3.0, nu=0.35), dm.LinearElastic(E=70.0, nu=0.22)
materials = {1: matrix, 2: fibre}
f2 = micro.volume_fractions[2]

# ## The three cell problems
# Each `RVE.effective_tensor()` is one factorization and `n = 3` condensed solves.

C = {}
for bc in ("kubc", "periodic", "subc"):
    rve = dm.RVE(micro, materials, bc=bc)
    C[bc] = rve.effective_tensor()
    rve.solve(np.array([0.0, 0.0, np.sqrt(2) * 0.01]))  # a pure shear, for the picture
    hm = rve.hill_mandel_residual()
    if comm.rank == 0:
        print(f"{bc:9s} C11 = {C[bc][0, 0]:8.4f}  C12 = {C[bc][0, 1]:8.4f}  "
              f"C33 (=2 mu) = {C[bc][2, 2]:8.4f}  Hill-Mandel residual {hm:.1e}")
    plot_rve(rve, out / f"homogenization_{bc}.png")

# ## Bounds
# In-plane bulk (`κ = λ + μ`) and shear moduli of the periodic tensor against the
# 2-D Hashin–Shtrikman bounds and the Voigt–Reuss bounds.

kappa, mu = hom.bulk_shear_from_isotropic(C["periodic"], 2)
hs = hom.hashin_shtrikman_elastic(matrix.lmbda + matrix.mu, matrix.mu, fibre.lmbda + fibre.mu, fibre.mu, f2, 2)
voigt = hom.voigt_bound([matrix.matrix(2), fibre.matrix(2)], [1 - f2, f2])
reuss = hom.reuss_bound([matrix.matrix(2), fibre.matrix(2)], [1 - f2, f2])
order_ok = (np.linalg.eigvalsh(C["kubc"] - C["periodic"]).min() >= -1e-10 * np.abs(C["kubc"]).max()
            and np.linalg.eigvalsh(C["periodic"] - C["subc"]).min() >= -1e-10 * np.abs(C["kubc"]).max())
if comm.rank == 0:
    print(f"fibre fraction {f2:.4f}")
    print(f"kappa = {kappa:.4f} in HS [{hs.bulk_lower:.4f}, {hs.bulk_upper:.4f}]")
    print(f"mu    = {mu:.4f} in HS [{hs.shear_lower:.4f}, {hs.shear_upper:.4f}]")
    print(f"C11: Reuss {reuss[0, 0]:.3f} <= SUBC {C['subc'][0, 0]:.3f} <= PBC {C['periodic'][0, 0]:.3f}"
          f" <= KUBC {C['kubc'][0, 0]:.3f} <= Voigt {voigt[0, 0]:.3f}")
    print("C_SUBC <= C_PBC <= C_KUBC (quadratic forms):", order_ok)
    (out / "homogenization.json").write_text(json.dumps(
        {"notation": "mandel", "volume_fraction": f2, **{bc: c.tolist() for bc, c in C.items()}}, indent=2))
assert order_ok
assert hs.bulk_lower <= kappa <= hs.bulk_upper and hs.shear_lower <= mu <= hs.shear_upper
