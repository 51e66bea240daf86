"""``dolfinx-multiscale homogenize/rve-path IMAGE``: the JSON contract of an image cell,
exact references, 1 vs 2 ranks, and every bad input as one line, exit 2, nothing written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dolfinx_multiscale.cli import main
from dolfinx_multiscale.geometry import images
from dolfinx_multiscale.studies.references import laminate_conductivity, laminate_stiffness
from dolfinx_multiscale.tensors import isotropic_stiffness, lame_parameters

from test_images import write_voxel_msh

BIN = Path(sys.executable).parent
PHASES = ["--phase", "3:E=1,nu=0.3", "--phase", "7:E=10,nu=0.25"]


@pytest.fixture
def laminate(tmp_path) -> Path:
    """Layers along y: rows 0..3 label 3, rows 4, 5 label 7 (f_7 = 1/3)."""
    img = np.full((6, 5), 3, dtype=np.uint8)
    img[4:] = 7
    np.save(tmp_path / "lam.npy", img)
    return tmp_path / "lam.npy"


def test_homogenize_image_json_contract_and_exact_laminate(tmp_path, laminate, capsys):
    out, png = tmp_path / "c.json", tmp_path / "c.png"
    assert main(["homogenize", str(laminate), "--voxel-size", "0.1,0.2", *PHASES, "--json", str(out),
                 "--png", str(png)]) == 0
    data = json.loads(out.read_text())
    assert data["image"]["shape"] == [6, 5] and data["image"]["voxel_size"] == [0.1, 0.2]
    assert data["image"]["labels"] == [3, 7]
    assert data["image"]["volume_fractions"] == {"3": 4 / 6, "7": 2 / 6}
    assert data["image"]["clusters"]["7"]["percolates"] == ["x"]
    C = [isotropic_stiffness(*lame_parameters(1, 0.3), 2), isotropic_stiffness(*lame_parameters(10, 0.25), 2)]
    exact = laminate_stiffness(C, [4 / 6, 2 / 6], 1, 2)
    assert np.abs(np.array(data["C"]) - exact).max() <= 1e-10 * np.abs(exact).max()
    assert png.stat().st_size > 10_000
    err = capsys.readouterr().err
    for line in ("image: read (6, 5) voxels", "image: label 7: 0.3333 of the voxels", "image: meshing 30",
                 "homogenize: solving 3 load cases"):
        assert line in err, err


def test_homogenize_png_image_conduction_with_threshold(tmp_path):
    from PIL import Image

    grey = np.full((4, 8), 40, dtype=np.uint8)
    grey[:, 6:] = 200  # layers along x: columns 6, 7 bright
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = tmp_path / "k.json"
    assert main(["homogenize", str(tmp_path / "g.png"), "--physics", "conduction", "--threshold", "128",
                 "--phase", "0:k=1", "--phase", "1:k=10", "--json", str(out), "--quiet"]) == 0
    exact = laminate_conductivity([1.0, 10.0], [0.75, 0.25], 0, 2)
    assert np.abs(np.array(json.loads(out.read_text())["K"]) - exact).max() <= 1e-10 * exact.max()


def test_homogenize_image_two_ranks_equal_one(tmp_path):
    rng = np.random.default_rng(4)
    np.save(tmp_path / "r.npy", np.where(rng.random((3, 4, 5)) < 0.3, 7, 3).astype(np.uint8))
    tensors = []
    for nproc in (1, 2):
        out = tmp_path / f"r{nproc}.json"
        cmd = [str(BIN / "dolfinx-multiscale"), "homogenize", str(tmp_path / "r.npy"), *PHASES, "--json", str(out),
               "--quiet"]
        if nproc > 1:
            cmd = [str(BIN / "mpiexec"), "-n", str(nproc), *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr
        data = json.loads(out.read_text())
        assert data["n_ranks"] == nproc
        tensors.append(np.array(data["C"]))
    assert np.abs(tensors[0] - tensors[1]).max() <= 1e-10 * np.abs(tensors[0]).max()


def test_rve_path_image_equals_the_msh_cell(tmp_path, laminate):
    img = np.load(laminate)
    msh = write_voxel_msh(img, 0.1, tmp_path / "lam.msh")
    j2 = ["--phase", "3:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05", "--phase", "7:E=10,nu=0.25"]
    load = ["--strain", "12=0.01", "--steps", "3", "--unload", "--quiet"]
    outs = []
    for cell, extra in ((laminate, ["--voxel-size", "0.1"]), (msh, [])):
        out = tmp_path / f"{cell.suffix[1:]}.json"
        assert main(["rve-path", str(cell), *extra, *j2, *load, "--json", str(out)]) == 0
        outs.append(json.loads(out.read_text()))
    assert outs[0]["image"]["labels"] == [3, 7] and "image" not in outs[1]
    a, b = (np.array([s["Sigma"] for s in o["steps"]]) for o in outs)
    assert np.abs(a - b).max() <= 1e-9 * np.abs(b).max()


def _put(path: Path, data) -> Path:
    if isinstance(data, np.ndarray):
        np.save(path, data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("name,data,extra,message", [
    ("bad.npy", b"not an array", [], "is not a NumPy .npy array file"),
    ("empty.tif", b"", [], "is an empty file"),
    ("bad.png", b"garbage", [], "cannot be read"),
    ("line.npy", np.arange(6), [], "an image must be 2-D or 3-D; got 1-D"),
    ("nan.npy", np.array([[0.1, np.nan], [0.3, 0.9]]), ["--threshold", "0.5"], "non-finite (NaN or infinite)"),
    ("grey.npy", np.array([[0.1, 0.2], [0.3, 0.9]]), [], "needs a threshold"),
    ("lab.npy", np.array([[3, 7], [7, 3]], dtype=np.uint8), ["--voxel-size", "0"], "voxel_size must be"),
    ("lab.npy", np.array([[3, 7], [7, 9]], dtype=np.uint8), [], "label(s) [9] of the cell have no --phase"),
    ("lab.npy", np.array([[3, 3], [3, 3]], dtype=np.uint8), [], "--phase [7] is not a label of the cell"),
    ("lab.npy", np.array([[3, 7], [7, 3]], dtype=np.uint8), ["--roi", "0:1"], "roi must be one (start, stop)"),
    ("lab.npy", np.array([[3, 7], [7, 3]], dtype=np.uint8), ["--roi", "a:b"], "--roi must be START:STOP"),
    ("lab.npy", np.array([[3, 7], [7, 3]], dtype=np.uint8), ["--coarsen", "3"], "coarsen=3 must divide"),
    ("lab.raw", b"\x03\x07\x07\x03", [], "a .raw file needs shape= and dtype="),
    ("lab.jpg", b"xx", [], "the cell must be a .msh mesh or an image"),
    ("missing.npy", None, [], "does not exist"),
])
def test_bad_image_input_one_line_nothing_written(tmp_path, capsys, name, data, extra, message):
    cell = tmp_path / name if data is None else _put(tmp_path / name, data)
    out = tmp_path / "out.json"
    assert main(["homogenize", str(cell), *extra, *PHASES, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("dolfinx-multiscale homogenize: error:"), err
    assert not out.exists()


def test_raw_image_with_shape_and_dtype(tmp_path):
    np.array([[3, 7], [7, 3]], dtype="<u2").tofile(tmp_path / "c.raw")
    out = tmp_path / "c.json"
    assert main(["homogenize", str(tmp_path / "c.raw"), "--shape", "2,2", "--dtype", "<u2", *PHASES,
                 "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["image"]["labels"] == [3, 7]


def test_image_options_refused_on_a_msh(tmp_path, capsys, laminate):
    msh = write_voxel_msh(np.load(laminate), 0.1, tmp_path / "lam.msh")
    assert main(["homogenize", str(msh), "--voxel-size", "2", "--coarsen", "2", *PHASES]) == 2
    assert "--voxel-size, --coarsen apply to images, not to a .msh mesh" in capsys.readouterr().err


def test_too_big_an_image_needs_force(tmp_path, capsys, laminate, monkeypatch):
    monkeypatch.setattr(images, "available_memory", lambda: 1000.0)
    out = tmp_path / "c.json"
    assert main(["homogenize", str(laminate), *PHASES, "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "an image of 30 voxels (6, 5) needs about" in err and "--force" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["homogenize", str(laminate), *PHASES, "--json", str(out), "--force", "--quiet"]) == 0
    assert out.exists()
