# # From an image: a synthetic µCT slice of a fibre composite
#
# Most microstructures come as images: a µCT scan, a segmented micrograph, an array
# written by another code. This demo makes a µCT-like grey-value slice of a composite
# with overlapping fibres (bright) in a matrix (dark), blurred and noisy like a scan,
# and takes it through the package's image path:
#
# 1. **segment and mesh** — `dm.from_image(grey, voxel_size, threshold=...)`: one Q1
#    quadrilateral per pixel, the label as the phase (axis convention: `image[i, j]` is
#    the voxel at `x = (j + ½) h`, `y = (i + ½) h`, row 0 at the bottom), the phase
#    fractions and which clusters percolate;
# 2. **effective stiffness** under KUBC, periodic and SUBC conditions, checked against
#    the Voigt and Reuss bounds and the ordering `SUBC ≤ periodic ≤ KUBC`;
# 3. **RVE size** — sub-images (windows, `roi=`) of growing size: the KUBC–SUBC bracket
#    closes on the periodic value as the window grows;
# 4. **FE²** — a bent beam whose every quadrature point is the (coarsened) image cell,
#    checked against the beam made of the homogenized material.
#
# Run `python demos/demo_image.py [--size 128] [--out results]`, serially or under
# `mpiexec -n 2` (the image cell is distributed; the FE² cells are per rank).

# +
import argparse
from pathlib import Path

from mpi4py import MPI

import numpy as np
from scipy import ndimage

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.macro.quadrature import LocalMaterial
from dolfinx_multiscale.studies.references import reuss_bound, voigt_bound
from dolfinx_multiscale.viz import plot_rve, plot_voxels

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--size", type=int, default=128, help="image side in pixels (a multiple of 8)")
parser.add_argument("--fibres", type=int, default=40, help="number of fibres")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)


def say(*text):
    if comm.rank == 0:
        print(*text, flush=True)


n = args.size
h = 1.0 / n  # the image is the unit square
# -

# ## 1. A µCT-like slice, segmented
#
# Fibre centres are random (the same on every rank: a seeded generator); fibres may
# overlap and wrap around the periodic edges. The "scan" is the indicator of the fibres
# at grey values 60 (matrix) and 190 (fibre), blurred over 1.5 pixels and with Gaussian
# noise of standard deviation 12, as an 8-bit image. A threshold half-way segments it.

# +
rng = np.random.default_rng(2024)
centres = rng.random((args.fibres, 2))
radius = 0.055
y, x = (np.mgrid[0:n, 0:n] + 0.5) * h  # pixel centres: row i at y, column j at x
inside = np.zeros((n, n), dtype=bool)
for cx, cy in centres:
    dx = (x - cx + 0.5) % 1.0 - 0.5  # minimum image: fibres wrap around
    dy = (y - cy + 0.5) % 1.0 - 0.5
    inside |= dx**2 + dy**2 < radius**2
scan = ndimage.gaussian_filter(np.where(inside, 190.0, 60.0), 1.5, mode="wrap")
scan = np.clip(scan + rng.normal(0.0, 12.0, scan.shape), 0, 255).astype(np.uint8)

micro = dm.from_image(scan, voxel_size=h, threshold=125, comm=comm)
image = micro.image
f = micro.volume_fractions
say(f"segmented {n}x{n} scan: labels {list(f)} (0 matrix, 1 fibre), fibre fraction {f[1]:.4f} "
    f"(the fibres' own area fraction {inside.mean():.4f})")
for label, c in image.clusters().items():
    say(f"  label {label}: {c['clusters']} clusters, {c['floating']} floating, percolates along "
        f"{', '.join(c['percolates']) or 'no axis'}")
plot_voxels(image, out / "image_voxels.png", title=f"segmented scan, fibre fraction {f[1]:.3f}")
assert micro.periodicity_error() < 1e-12
assert abs(f[1] - inside.mean()) < 0.05  # segmentation recovers the fibres up to noise at the edges
# -

# ## 2. Effective stiffness under the three boundary conditions

# +
matrix, fibre = dm.LinearElastic(E=1.0, nu=0.35), dm.LinearElastic(E=20.0, nu=0.2)
laws = {0: matrix, 1: fibre}
C = {}
for bc in ("subc", "periodic", "kubc"):
    rve = dm.RVE(micro, laws, bc=bc)
    C[bc] = rve.effective_tensor()
    if bc == "periodic":
        rve.solve(np.array([0.0, 0.0, np.sqrt(2) * 0.01]))  # shear ε12 = 0.01
        plot_rve(rve, out / "image_fields.png", title="periodic cell of the scan, shear")
voigt = voigt_bound([matrix.matrix(2), fibre.matrix(2)], [f[0], f[1]])
reuss = reuss_bound([matrix.matrix(2), fibre.matrix(2)], [f[0], f[1]])
say("C_1111 (plane strain, Mandel):  Reuss {:.4f} <= SUBC {:.4f} <= periodic {:.4f} <= KUBC {:.4f} <= Voigt {:.4f}"
    .format(reuss[0, 0], C["subc"][0, 0], C["periodic"][0, 0], C["kubc"][0, 0], voigt[0, 0]))
chain = [reuss, C["subc"], C["periodic"], C["kubc"], voigt]
for lower, upper in zip(chain, chain[1:]):
    assert np.linalg.eigvalsh(0.5 * (upper - lower + (upper - lower).T)).min() > -1e-10 * np.abs(upper).max()
# -

# ## 3. RVE size: windows of the scan
#
# Four windows of side `n/8`, `n/4`, `n/2` (at the four quadrants' corners) and the whole
# image: each window is an apparent cell. Its KUBC and SUBC values bracket its periodic
# value; the bracket, relative to the periodic value, closes as the window grows.

# +
rows = []
for side in (n // 8, n // 4, n // 2, n):
    starts = [(0, 0)] if side == n else [(0, 0), (0, n // 2), (n // 2, 0), (n // 2, n // 2)]
    values = {bc: [] for bc in ("subc", "periodic", "kubc")}
    for i0, j0 in starts:
        window = dm.from_image(scan, voxel_size=h, threshold=125, roi=((i0, i0 + side), (j0, j0 + side)),
                               comm=comm)
        cell_laws = {label: laws[label] for label in window.phases}  # a small window may miss a phase
        for bc in values:
            values[bc].append(dm.RVE(window, cell_laws, bc=bc).effective_tensor()[0, 0])
    mean = {bc: float(np.mean(v)) for bc, v in values.items()}
    bracket = (mean["kubc"] - mean["subc"]) / mean["periodic"]
    rows.append((side, mean, bracket, float(np.std(values["periodic"]))))
    say(f"window {side:4d}^2 ({len(starts)} windows): C_1111 SUBC {mean['subc']:.4f}  periodic "
        f"{mean['periodic']:.4f} ± {rows[-1][3]:.4f}  KUBC {mean['kubc']:.4f}  bracket {100 * bracket:.1f} %")
assert rows[-1][2] < rows[0][2]  # the bracket closes with size
if comm.rank == 0:
    from dolfinx_multiscale.viz import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sides = [r[0] for r in rows]
    for bc, style in (("kubc", "v-"), ("periodic", "o-"), ("subc", "^-")):
        ax.plot(sides, [r[1][bc] for r in rows], style, label=bc)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("window side (pixels)")
    ax.set_ylabel("apparent C_1111")
    ax.legend()
    save_figure(fig, out / "image_rve_size.png")
# -

# ## 4. FE² with the image as the cell
#
# The scan coarsened 4× by majority vote (`coarsen=4`) is the cell of every macro
# quadrature point of a bent beam (each rank solves its points on `MPI.COMM_SELF`).
# With elastic phases the FE² beam must equal the beam made of the homogenized material.

# +
cell = dm.from_image(scan, voxel_size=h, threshold=125, coarsen=4, comm=MPI.COMM_SELF)
rve = dm.RVE(cell, laws)
C_cell = rve.effective_tensor()
fe2 = Beam(lambda m: FE2Material(rve, m), dim=2, cells=8)
fe2.run([0.05])
ref = Beam(lambda m: LocalMaterial(dm.LinearElastic(C=C_cell), m), dim=2, cells=8)
ref.run([0.05])
say(f"FE² beam on the {cell.image.shape[0]}x{cell.image.shape[1]} coarsened cell: end reaction "
    f"{fe2.reaction():.6e} (homogenized beam {ref.reaction():.6e}); coarsened C_1111 {C_cell[0, 0]:.4f} vs "
    f"{C['periodic'][0, 0]:.4f} at full resolution")
assert abs(fe2.reaction() / ref.reaction() - 1) < 1e-8
assert abs(C_cell[0, 0] / C["periodic"][0, 0] - 1) < 0.1
# -
