"""Voxel images (issue 24): readers, labels, the voxel mesh and the cell problem on it,
against independent references (exact laminates, the homogeneous phase, the same
geometry read from a Gmsh .msh of quadrilaterals / hexahedra, bounds, Obnosov's square
inclusion)."""

import re
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx.fem
import ufl

import dolfinx_multiscale as dm
from dolfinx_multiscale.geometry import images
from dolfinx_multiscale.studies.loading import load_path, ramp
from dolfinx_multiscale.studies.references import laminate_conductivity, laminate_stiffness, reuss_bound, voigt_bound

COMM = MPI.COMM_SELF
SOFT, STIFF = dm.LinearElastic(E=1.0, nu=0.3), dm.LinearElastic(E=10.0, nu=0.25)


def write_voxel_msh(labels: np.ndarray, h, path: Path) -> Path:
    """The voxel geometry of ``labels`` as a Gmsh ``.msh`` of quadrilaterals / hexahedra,
    built node by node with the Gmsh API (an independent path to the same mesh): one
    discrete entity and physical group per label (labels ≥ 1)."""
    import gmsh

    d = labels.ndim
    n = labels.shape[::-1]  # cells per physical axis
    h = np.broadcast_to(np.asarray(h, dtype=float), (d,))
    grid = np.meshgrid(*[np.arange(m + 1) for m in n], indexing="ij")  # physical axis first
    index = np.stack([g.ravel(order="F") for g in grid], axis=1)  # x fastest
    coords = np.zeros((len(index), 3))
    coords[:, :d] = index * h

    def node(*ijk):  # node number of the lattice point (x index, y index[, z index])
        out, stride = 1, 1
        for a, i in enumerate(ijk):
            out = out + i * stride
            stride *= n[a] + 1
        return out

    cells = np.stack(np.meshgrid(*[np.arange(m) for m in n], indexing="ij"), axis=-1).reshape(-1, d)
    if d == 2:
        corners = [(0, 0), (1, 0), (1, 1), (0, 1)]
    else:
        corners = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]
    conn = np.stack([node(*(cells[:, a] + c[a] for a in range(d))) for c in corners], axis=1)
    tag_of_cell = labels[tuple(cells[:, ::-1].T)]
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("voxels")
        first = True
        for label in np.unique(tag_of_cell):
            entity = gmsh.model.addDiscreteEntity(d, int(label))
            if first:
                gmsh.model.mesh.addNodes(d, entity, np.arange(1, len(coords) + 1), coords.ravel())
                first = False
            mine = np.flatnonzero(tag_of_cell == label)
            gmsh.model.mesh.addElementsByType(entity, 3 if d == 2 else 5, [], conn[mine].ravel())
            gmsh.model.addPhysicalGroup(d, [entity], int(label))
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    return path


def put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def max_rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def midpoints_of(micro, label):
    x = micro.mesh.geometry.x[micro.mesh.geometry.dofmaps[0]].mean(axis=1)[:, :micro.dim]
    return x[micro.cell_tags.indices[micro.cell_tags.values == label]]


# -- axes, readers ----------------------------------------------------------------------
def test_axis_convention_2d_asymmetric():
    img = np.zeros((3, 5), dtype=np.uint8)
    img[0, 4] = 1  # row 0 (y = low), column 4 (x = high)
    img[2, 0] = 2  # row 2 (y = high), column 0 (x = low)
    micro = dm.from_image(img, voxel_size=(0.5, 0.25), comm=COMM)  # h_x = 0.5, h_y = 0.25
    np.testing.assert_allclose(micro.box[1], [2.5, 0.75])
    np.testing.assert_allclose(midpoints_of(micro, 1), [[4.5 * 0.5, 0.5 * 0.25]])
    np.testing.assert_allclose(midpoints_of(micro, 2), [[0.5 * 0.5, 2.5 * 0.25]])
    assert micro.volume_fractions == {0: 13 / 15, 1: 1 / 15, 2: 1 / 15}
    assert micro.periodicity_error() < 1e-14


def test_axis_convention_3d_asymmetric():
    img = np.zeros((2, 3, 4), dtype=np.int16)
    img[1, 0, 3] = 5  # z high, y low, x high
    micro = dm.from_image(img, voxel_size=(1.0, 2.0, 3.0), comm=COMM)
    np.testing.assert_allclose(micro.box[1], [4.0, 6.0, 6.0])
    np.testing.assert_allclose(midpoints_of(micro, 5), [[3.5, 1.0, 4.5]])
    assert micro.periodicity_error() < 1e-14


def test_readers_round_trip(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    img = rng.integers(0, 4, size=(5, 7)).astype(np.uint8) * 3
    np.save(tmp_path / "a.npy", img)
    Image.fromarray(img).save(tmp_path / "a.png")
    wide = img.astype(np.uint16) * 1000
    Image.fromarray(wide).save(tmp_path / "wide.png")
    stack = rng.integers(0, 3, size=(3, 5, 7)).astype(np.uint8)
    pages = [Image.fromarray(page) for page in stack]
    pages[0].save(tmp_path / "s.tif", save_all=True, append_images=pages[1:])
    stack.astype("<u2").tofile(tmp_path / "s.raw")
    np.testing.assert_array_equal(images.read_image(tmp_path / "a.npy"), img)
    np.testing.assert_array_equal(images.read_image(tmp_path / "a.png"), img)  # row 0 = the file's first row
    np.testing.assert_array_equal(images.read_image(tmp_path / "wide.png"), wide)
    np.testing.assert_array_equal(images.read_image(tmp_path / "s.tif"), stack)  # page k = image[k]
    np.testing.assert_array_equal(images.read_image(tmp_path / "s.raw", shape=(3, 5, 7), dtype="<u2"), stack)
    micro = dm.from_image(str(tmp_path / "s.tif"), comm=COMM)
    assert micro.dim == 3 and micro.image.shape == (3, 5, 7)


@pytest.mark.parametrize(("make", "kwargs", "message"), [
    (lambda p: np.arange(5), {}, "2-D or 3-D; got 1-D"),
    (lambda p: np.array([[0.1, np.nan], [0.2, 0.3]]), {"threshold": 0.2}, "non-finite"),
    (lambda p: np.array([[0.1, 0.4], [0.2, 0.3]]), {}, "needs a threshold"),
    (lambda p: np.ones((2, 2), dtype=int), {"voxel_size": 0.0}, "voxel_size must be"),
    (lambda p: np.ones((2, 2), dtype=int), {"voxel_size": (1.0, 2.0, 3.0)}, "voxel_size must be"),
    (lambda p: -np.ones((2, 2), dtype=int), {}, "labels must be integers in"),
    (lambda p: np.zeros((0, 3), dtype=int), {}, "empty"),
    (lambda p: np.ones((4, 4), dtype=int), {"coarsen": 3}, "must divide"),
    (lambda p: np.ones((4, 4), dtype=int), {"roi": ((0, 5), (0, 2))}, "roi: axis 0"),
    (lambda p: np.ones((4, 4), dtype=int), {"roi": ((0, 2),)}, "one (start, stop) per array axis"),
    (lambda p: np.ones((4, 4)), {"threshold": [0.5, 0.2]}, "increasing"),
    (lambda p: put(p / "x.npy", b""), {}, "empty file"),
    (lambda p: put(p / "x.npy", b"not numpy"), {}, "is not a NumPy .npy array file"),
    (lambda p: put(p / "x.png", b"garbage"), {}, "cannot be read"),
    (lambda p: p / "missing.tif", {}, "does not exist"),
    (lambda p: put(p / "x.jpg", b"x"), {}, "unknown format"),
    (lambda p: put(p / "x.raw", b"12345"), {}, "needs shape= and dtype="),
    (lambda p: put(p / "x.raw", b"12345"), {"shape": (2, 2), "dtype": "uint8"}, "holds 5 bytes"),
    (lambda p: np.ones((2, 2), dtype=int), {"shape": (2, 2)}, "apply to .raw files only"),
])
def test_bad_input_is_one_clear_error(tmp_path, make, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dm.from_image(make(tmp_path), comm=COMM, **kwargs)


def test_colour_png_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="RGB colour picture"):
        dm.from_image(tmp_path / "rgb.png", comm=COMM)


def test_memory_estimate_refuses_without_force(monkeypatch):
    img = np.ones((8, 8), dtype=np.uint8)
    need = images.estimate_memory(img.shape, 1, 1)
    assert need == pytest.approx(64 * (images.BYTES_PER_VOXEL[2] + 1))
    monkeypatch.setattr(images, "available_memory", lambda: need / 2)
    with pytest.raises(ValueError, match="force=True"):
        dm.from_image(img, comm=COMM)
    assert dm.from_image(img, comm=COMM, force=True).image.n_voxels == 64


# -- labels: threshold, crop, coarsen, clusters ----------------------------------------------
def test_threshold_one_value_and_intervals():
    grey = np.array([[0.0, 0.5, 0.99], [1.0, 2.5, 7.0]])
    np.testing.assert_array_equal(images.label_image(grey, 1.0), [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(images.label_image(grey, [0.5, 2.5]), [[0, 1, 1], [1, 2, 2]])
    micro = dm.from_image(grey, threshold=[0.5, 2.5], comm=COMM)
    assert micro.volume_fractions == {0: 1 / 6, 1: 3 / 6, 2: 2 / 6}


def test_roi_and_coarsen_by_majority_vote():
    rng = np.random.default_rng(3)
    coarse = rng.choice([2, 5, 9], size=(3, 4))
    fine = np.kron(coarse, np.ones((2, 2), dtype=int))  # every 2×2 block one label
    noisy = fine.copy()
    noisy[::2, ::2] = 0  # one voxel of four flipped: the majority is still the block's
    np.testing.assert_array_equal(images.coarsen_labels(noisy, 2), coarse)
    tie = np.array([[4, 4], [1, 1]])
    np.testing.assert_array_equal(images.coarsen_labels(tie, 2), [[1]])  # a tie goes to the smaller label
    cube = np.kron(rng.integers(0, 3, size=(2, 2, 2)), np.ones((3, 3, 3), dtype=int))
    np.testing.assert_array_equal(images.coarsen_labels(cube, 3), cube[::3, ::3, ::3])
    micro = dm.from_image(np.pad(noisy, 1, constant_values=7), voxel_size=0.5, roi=((1, 7), (1, 9)),
                          coarsen=2, comm=COMM)
    np.testing.assert_array_equal(micro.image.labels, coarse)
    np.testing.assert_allclose(micro.image.voxel_size, [1.0, 1.0])
    np.testing.assert_allclose(micro.box[1], [4.0, 3.0])


def test_cluster_report_periodic():
    img = np.zeros((6, 6), dtype=np.uint8)
    img[2, :] = 1  # a full row: percolates along x only
    img[4, 5] = img[4, 0] = 2  # one island cut by the x faces: one cluster, not two
    img[0, 2] = 3  # an island
    report = dm.from_image(img, comm=COMM).image.clusters()
    assert report[1] == {"clusters": 1, "floating": 0, "floating_fraction": 0.0, "percolates": ["x"]}
    assert report[2] == {"clusters": 1, "floating": 1, "floating_fraction": 2 / 36, "percolates": []}
    assert report[3]["floating"] == 1
    # the matrix is cut by row 2 along y but wraps around in x (rows 0, 1 and 3..5 join
    # through the periodic y faces: rows 5 and 0 touch)
    assert report[0]["clusters"] == 1 and report[0]["percolates"] == ["x"]
    diagonal = np.eye(5, dtype=np.uint8)  # face connectivity: five islands
    assert images.VoxelImage(diagonal, np.ones(2)).clusters()[1]["clusters"] == 5


# -- the cell problem on voxels -----------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_homogeneous_image_is_the_phase(dim, physics):
    law = dm.LinearElastic(E=3.0, nu=0.2) if physics == "elasticity" else dm.Conductivity(2.5)
    micro = dm.from_image(np.full((4,) * dim, 6, dtype=np.uint8), voxel_size=0.3, comm=COMM)
    for bc in ("kubc", "periodic", "subc"):
        C = dm.RVE(micro, {6: law}, bc=bc).effective_tensor()
        np.testing.assert_allclose(C, law.matrix(dim), rtol=0, atol=1e-12 * np.abs(law.matrix(dim)).max())


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_voxel_laminate_is_exact(dim, physics):
    shape = (6, 5) if dim == 2 else (3, 6, 2)
    img = np.full(shape, 7, dtype=np.uint8)
    rows = (slice(None), slice(0, 2)) if dim == 3 else (slice(0, 2),)
    img[rows] = 3  # layers stacked along y: the first two rows (y < 2 h_y) are label 3
    f3 = 2 / 6
    if physics == "elasticity":
        laws = {3: SOFT, 7: STIFF}
        ref = laminate_stiffness([SOFT.matrix(dim), STIFF.matrix(dim)], [f3, 1 - f3], 1, dim)
    else:
        laws = {3: dm.Conductivity(1.0), 7: dm.Conductivity(20.0)}
        ref = laminate_conductivity([1.0, 20.0], [f3, 1 - f3], 1, dim)
    micro = dm.from_image(img, voxel_size=0.1 if dim == 2 else (0.2, 0.1, 0.3), comm=COMM)
    C = dm.RVE(micro, laws, bc="periodic").effective_tensor()
    assert max_rel(C, ref) < 1e-10


def test_volume_fractions_from_the_tagged_mesh():
    rng = np.random.default_rng(5)
    img = rng.choice([0, 4, 11], size=(7, 9))
    micro = dm.from_image(img, voxel_size=(0.2, 0.3), comm=COMM)
    dx = ufl.Measure("dx", domain=micro.mesh, subdomain_data=micro.cell_tags)
    for label, fraction in micro.volume_fractions.items():
        area = dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * dx(label)))
        assert area / micro.volume == pytest.approx(fraction, rel=1e-13)
        assert fraction == np.count_nonzero(img == label) / img.size


@pytest.mark.parametrize("dim", [2, 3])
def test_same_geometry_as_msh_gives_same_tensor(dim, tmp_path):
    rng = np.random.default_rng(dim)
    img = rng.choice([2, 5], size=(6, 8) if dim == 2 else (3, 4, 3), p=[0.6, 0.4])
    h = (0.25, 0.125) if dim == 2 else (0.2, 0.3, 0.25)
    msh = read = dm.read_msh(write_voxel_msh(img, h, tmp_path / "voxels.msh"), comm=COMM)
    vox = dm.from_image(img, voxel_size=h, comm=COMM)
    np.testing.assert_allclose(read.box[1], vox.box[1], rtol=1e-14)
    laws = {2: SOFT, 5: STIFF}
    for bc in ("periodic", "kubc", "subc"):
        a = dm.RVE(vox, laws, bc=bc).effective_tensor()
        b = dm.RVE(msh, laws, bc=bc).effective_tensor()
        assert max_rel(a, b) < 1e-10, bc


def test_boundary_conditions_and_bounds_order_on_a_random_image():
    rng = np.random.default_rng(11)
    img = (rng.random((12, 12)) < 0.35).astype(np.uint8) + 1
    micro = dm.from_image(img, voxel_size=1 / 12, comm=COMM)
    laws = {1: SOFT, 2: STIFF}
    C = {bc: dm.RVE(micro, laws, bc=bc).effective_tensor() for bc in ("subc", "periodic", "kubc")}
    f = micro.volume_fractions
    voigt = voigt_bound([SOFT.matrix(2), STIFF.matrix(2)], [f[1], f[2]])
    reuss = reuss_bound([SOFT.matrix(2), STIFF.matrix(2)], [f[1], f[2]])
    chain = [reuss, C["subc"], C["periodic"], C["kubc"], voigt]
    for lower, upper in zip(chain, chain[1:]):
        gap = np.linalg.eigvalsh(0.5 * (upper - lower + (upper - lower).T))
        assert gap.min() > -1e-10 * np.abs(upper).max()
        assert gap.max() > 1e-6  # strict: the image is not a laminate


def test_square_inclusion_converges_to_obnosov():
    """f = 1/4 square inclusion (side 1/2, centred), conduction: Obnosov's exact
    k* = k_m √((k_m + 3 k_i) / (3 k_m + k_i)); the voxel error decreases with 1/h."""
    k_m, k_i = 1.0, 10.0
    exact = k_m * np.sqrt((k_m + 3 * k_i) / (3 * k_m + k_i))
    errors = []
    for n in (8, 16, 32):
        img = np.zeros((n, n), dtype=np.uint8)
        img[n // 4: 3 * n // 4, n // 4: 3 * n // 4] = 1
        micro = dm.from_image(img, voxel_size=1 / n, comm=COMM)
        K = dm.RVE(micro, {0: dm.Conductivity(k_m), 1: dm.Conductivity(k_i)}).effective_tensor()
        assert K[0, 0] == pytest.approx(K[1, 1], rel=1e-10)  # square symmetry
        errors.append(abs(K[0, 0] - exact) / exact)
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2


def test_finite_strain_homogeneous_image_is_the_law():
    """Two labels with one neo-Hookean law: P̄ and Ā of the cell are the law's at F̄."""
    law = dm.NeoHookean(E=1.0, nu=0.3)
    img = np.full((3, 4), 2, dtype=np.uint8)
    img[1, 1] = 5
    rve = dm.RVE(dm.from_image(img, 0.5, comm=COMM), {2: law, 5: law}, bc="periodic")
    H = np.array([0.1, 0.05, -0.02, -0.04])  # F̄ − I, row-major
    P, A = rve.solve(H)
    P_law, A_law, _ = law.update(H[None], law.initial_state(1))
    np.testing.assert_allclose(P, P_law[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(A, A_law[0], rtol=0, atol=1e-12)


def test_from_a_loaded_voxel_image():
    image = images.load_image(np.array([[1, 2], [2, 2]]), voxel_size=0.5)
    micro = dm.from_image(image, comm=COMM)
    assert micro.image is image and micro.volume_fractions == {1: 0.25, 2: 0.75}
    with pytest.raises(ValueError, match="voxel_size, coarsen apply when reading an image"):
        dm.from_image(image, voxel_size=1.0, coarsen=2, comm=COMM)


# -- nonlinear and FE² on an image cell ------------------------------------------------------
J2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
IMAGE = np.array([[1, 1, 1, 1], [1, 2, 2, 1], [1, 2, 1, 1], [1, 1, 1, 1]])


def test_j2_rve_path_on_an_image_equals_the_msh_cell(tmp_path):
    laws = {1: J2, 2: STIFF}
    path = ramp({"11": 0.02}, {"22": 0.0}, steps=4, unload=True)
    vox = load_path(dm.RVE(dm.from_image(IMAGE, 0.25, comm=COMM), laws), path, progress=False)
    msh = dm.read_msh(write_voxel_msh(IMAGE, 0.25, tmp_path / "c.msh"), comm=COMM)
    ref = load_path(dm.RVE(msh, laws), path, progress=False)
    sig_v = np.array([r["Sigma"] for r in vox])
    sig_m = np.array([r["Sigma"] for r in ref])
    assert max_rel(sig_v, sig_m) < 1e-9
    assert max(r["dissipation"] for r in vox) > 0  # it did yield


def test_fe2_with_an_image_cell_equals_the_msh_cell(tmp_path):
    from dolfinx_multiscale.macro.fe2 import FE2Material
    from dolfinx_multiscale.macro.problems import Beam

    laws = {1: J2, 2: STIFF}
    msh = dm.read_msh(write_voxel_msh(IMAGE, 0.25, tmp_path / "c.msh"), comm=COMM)
    results = []
    for micro in (dm.from_image(IMAGE, 0.25, comm=COMM), msh):
        beam = Beam(lambda m, micro=micro: FE2Material(dm.RVE(micro, laws), m), dim=2, cells=2)
        beam.run([0.02, 0.04])
        results.append(beam.u.x.array.copy())
    assert np.abs(results[0]).max() > 0
    assert max_rel(results[0], results[1]) < 1e-9
