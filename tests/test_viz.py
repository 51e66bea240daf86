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
