"""Off-screen pictures are real pictures: non-blank PNGs with the expected size."""

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.viz import plot_microstructure, plot_rve


def pixels(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def test_rve_picture_is_not_blank(tmp_path):
    micro = dm.microstructures.circular_inclusion(0.3, h=0.1, comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.3)})
    rve.solve(np.array([0.01, 0.0, 0.0]))
    img = pixels(plot_rve(rve, tmp_path / "rve.png"))
    assert img.shape[0] >= 400 and img.shape[1] >= 3 * 400  # three panels side by side
    # many distinct colours (phases, a colour map), and the mesh area is not background
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200
    assert img.std() > 20


def test_microstructure_picture_shows_two_phases(tmp_path):
    micro = dm.microstructures.laminate((0.5, 0.5), direction=0, h=0.2, comm=MPI.COMM_SELF)
    img = pixels(plot_microstructure(micro, tmp_path / "m.png"))
    centre = img[img.shape[0] // 2]
    left, right = centre[img.shape[1] // 3], centre[2 * img.shape[1] // 3]
    assert np.abs(left - right).max() > 50  # the two layers have different colours


def test_headless_picture_does_not_try_x(tmp_path):
    """Off-screen means off-screen: on a machine without a display, rendering a picture
    picks VTK's EGL/OSMesa window and never tries an X server (no "bad X server
    connection" on stderr), and still writes the picture."""
    import os
    import subprocess
    import sys

    script = ("import sys\n"
              "from mpi4py import MPI\n"
              "import dolfinx_multiscale as dm\n"
              "micro = dm.microstructures.laminate((0.5, 0.5), direction=0, h=0.2, comm=MPI.COMM_SELF)\n"
              "dm.viz.plot_microstructure(micro, sys.argv[1])\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW")}
    png = tmp_path / "m.png"
    proc = subprocess.run([sys.executable, "-c", script, str(png)], capture_output=True, text=True,
                          env={**env, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x server" not in proc.stderr.lower(), proc.stderr[-3000:]
    assert pixels(png).std() > 20


def test_voxel_picture_puts_row_zero_at_the_bottom(tmp_path):
    from dolfinx_multiscale.geometry.images import VoxelImage
    from dolfinx_multiscale.viz import plot_voxels

    labels = np.zeros((8, 8), dtype=np.uint8)
    labels[4:] = 9  # rows 4..7 (y > 1/2): label 9, yellow in viridis; rows 0..3 dark purple
    img = pixels(plot_voxels(VoxelImage(labels, np.ones(2)), tmp_path / "v.png"))
    column = img[: int(0.75 * img.shape[0]), img.shape[1] // 2]  # above the colour bar
    r, g, b = column.T  # viridis ends, shaded: yellow has R, G >> B; purple B > R, G ~ 0
    yellow = np.flatnonzero((r > 3 * b) & (g > 3 * b) & (r > 60))
    purple = np.flatnonzero((b > r) & (g < 10) & (b > 20))
    assert len(yellow) > 20 and len(purple) > 20
    assert yellow.max() < purple.min()  # picture rows run top-down: label 9 (high y) on top
    cube = np.zeros((6, 6, 6), dtype=np.uint8)
    cube[2:4, 2:4, 2:4] = 1
    img3 = pixels(plot_voxels(VoxelImage(cube, np.ones(3)), tmp_path / "v3.png", hide=[0]))
    assert len(np.unique(img3.reshape(-1, 3), axis=0)) > 5
