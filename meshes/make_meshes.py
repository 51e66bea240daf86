"""Regenerate the small periodic microstructure meshes shipped in ``meshes/``.

Usage::

    python meshes/make_meshes.py [OUTPUT_DIR]     # default: the directory of this script

The files are ASCII MSH 4.1 written by :func:`dolfinx_multiscale.geometry.microstructures.write_msh`
(single-threaded Gmsh, no timestamps), so running the script twice with the same Gmsh
version gives byte-for-byte identical files. Each file holds one cell physical group per
phase (1 = matrix, 2 = inclusion / second layer) and the periodic node correspondences.

========================  ==============================================================
``square_circle.msh``     2-D centred circular inclusion, volume fraction 0.3, unit square
``hex_fibres.msh``        2-D hexagonal fibre array (1 × √3 cell), volume fraction 0.4
``sphere.msh``            3-D centred spherical inclusion, volume fraction 0.2, unit cube
``laminate.msh``          2-D two-layer laminate 0.5 / 0.5 stacked along x, unit square
========================  ==============================================================
"""

from __future__ import annotations

import sys
from pathlib import Path

import dolfinx_solver  # noqa: F401  (before dolfinx)
from mpi4py import MPI

from dolfinx_multiscale.geometry.microstructures import write_msh

#: file name -> (generator name, generator keyword arguments)
MESHES: dict[str, tuple[str, dict]] = {
    "square_circle.msh": ("circular_inclusion", {"volume_fraction": 0.3, "h": 0.03}),
    "hex_fibres.msh": ("fibre_array", {"volume_fraction": 0.4, "packing": "hexagonal", "h": 0.04}),
    "sphere.msh": ("spherical_inclusion", {"volume_fraction": 0.2, "h": 0.1}),
    "laminate.msh": ("laminate", {"fractions": [0.5, 0.5], "direction": 0, "dim": 2, "h": 0.05}),
}


def make(name: str, outdir: str | Path) -> Path:
    """Write the shipped mesh ``name`` (a key of :data:`MESHES`) into ``outdir``."""
    generator, kwargs = MESHES[name]
    return write_msh(Path(outdir) / name, generator, comm=MPI.COMM_SELF, **kwargs)


def main(outdir: str | Path | None = None) -> list[Path]:
    """Write all shipped meshes into ``outdir`` (default: this script's directory)."""
    outdir = Path(__file__).resolve().parent if outdir is None else Path(outdir)
    return [make(name, outdir) for name in MESHES]


if __name__ == "__main__":
    for path in main(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
