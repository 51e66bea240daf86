"""Tests of dolfinx_multiscale.geometry.microstructures (serial; the 2-rank tests are in tests/mpi/).

Every assertion compares against an independent fact: exact geometry (analytic volume
fractions, exactly flat laminate interfaces), a brute-force node matching written here
(not the module's KD-tree), brute-force periodic distances over all image shifts, or the
bytes of the shipped files.
"""

import dolfinx_solver  # noqa: F401  (before dolfinx)

import importlib.util
import itertools
import math
import re
from pathlib import Path

import gmsh
import numpy as np
import pytest
from mpi4py import MPI

import dolfinx.mesh
from dolfinx_multiscale.geometry import microstructures as ms

COMM = MPI.COMM_SELF
ROOT = Path(__file__).resolve().parents[1]
MESHES = ROOT / "meshes"


# ---------------------------------------------------------------------------------------
# independent helpers
# ---------------------------------------------------------------------------------------
def cell_sizes(mesh):
    """(smallest, largest) cell edge length, brute force over the cell's node pairs."""
    x = mesh.geometry.x[:, : mesh.geometry.dim][mesh.geometry.dofmaps[0]]
    lengths = [
        np.linalg.norm(x[:, a] - x[:, b], axis=1)
        for a, b in itertools.combinations(range(x.shape[1]), 2)
    ]
    lengths = np.concatenate(lengths)
    return lengths.min(), lengths.max()


def worst_face_mismatch(mesh, box):
    """Brute force: for every node on a high face, distance to the nearest low-face node
    after translation by -L_i e_i (and vice versa); dense distance matrices, no KD-tree."""
    d = mesh.geometry.dim
    x = mesh.geometry.x[:, :d]
    lo, hi = (np.asarray(b, float) for b in box)
    tol = 1e-9
    worst = 0.0
    for i in range(d):
        low = x[np.isclose(x[:, i], lo[i], rtol=0, atol=tol)]
        high = x[np.isclose(x[:, i], hi[i], rtol=0, atol=tol)]
        assert len(low) > 0 and len(high) == len(low), (i, len(low), len(high))
        shifted = high.copy()
        shifted[:, i] -= hi[i] - lo[i]
        dist = np.linalg.norm(shifted[:, None, :] - low[None, :, :], axis=2)
        worst = max(worst, dist.min(axis=1).max(), dist.min(axis=0).max())
    return worst


def check_micro(micro, dim, lengths, phases, porous=False, atol=0.0):
    assert micro.mesh.geometry.dim == dim and micro.mesh.topology.dim == dim
    assert micro.dim == dim
    np.testing.assert_array_equal(micro.box[0], np.zeros(dim))
    np.testing.assert_allclose(micro.box[1], lengths, rtol=0, atol=atol)
    np.testing.assert_allclose(micro.lengths, lengths)
    assert micro.volume == pytest.approx(np.prod(lengths), rel=1e-15)
    assert micro.phases == phases
    x = micro.mesh.geometry.x[:, :dim]
    # the box is the mesh bounding box
    np.testing.assert_allclose(x.min(axis=0), micro.box[0], atol=1e-14)
    np.testing.assert_allclose(x.max(axis=0), micro.box[1], atol=1e-14)
    tags = micro.cell_tags
    assert tags.dim == dim
    ncells = micro.mesh.topology.index_map(dim).size_local
    np.testing.assert_array_equal(
        np.sort(tags.indices), np.arange(ncells)
    )  # every cell tagged once
    assert set(np.unique(tags.values)) == set(phases)
    total = sum(micro.volume_fractions.values())
    if porous:
        assert total < 1.0
    else:
        assert total == pytest.approx(1.0, abs=1e-12)


# Every generator, small and fast; (callable, kwargs, dim, lengths, phases, porous)
CASES = {
    "laminate_2d_3layers": (
        ms.laminate,
        dict(fractions=[0.2, 0.5, 0.3], h=0.05),
        2,
        (1, 1),
        (1, 2, 3),
        False,
    ),
    "laminate_3d_y": (
        ms.laminate,
        dict(fractions=[0.25, 0.75], direction=1, dim=3, h=0.15, lengths=(2.0, 1.0, 0.5)),
        3,
        (2.0, 1.0, 0.5),
        (1, 2),
        False,
    ),
    "circular_inclusion": (
        ms.circular_inclusion,
        dict(volume_fraction=0.3, h=0.05),
        2,
        (1, 1),
        (1, 2),
        False,
    ),
    "spherical_inclusion": (
        ms.spherical_inclusion,
        dict(volume_fraction=0.2, h=0.15),
        3,
        (1, 1, 1),
        (1, 2),
        False,
    ),
    "fibre_square": (
        ms.fibre_array,
        dict(volume_fraction=0.5, packing="square", h=0.05),
        2,
        (1, 1),
        (1, 2),
        False,
    ),
    "fibre_hexagonal": (
        ms.fibre_array,
        dict(volume_fraction=0.6, packing="hexagonal", h=0.05),
        2,
        (1, math.sqrt(3)),
        (1, 2),
        False,
    ),
    "random_2d": (
        ms.random_inclusions,
        dict(n=8, volume_fraction=0.35, seed=3, h=0.04),
        2,
        (1, 1),
        (1, 2),
        False,
    ),
    "random_3d": (
        ms.random_inclusions,
        dict(n=4, volume_fraction=0.15, dim=3, seed=1, h=0.15),
        3,
        (1, 1, 1),
        (1, 2),
        False,
    ),
    "porous_2d": (ms.porous, dict(volume_fraction=0.25, h=0.05), 2, (1, 1), (1,), True),
    "porous_2d_random": (
        ms.porous,
        dict(volume_fraction=0.3, n=5, seed=2, h=0.04),
        2,
        (1, 1),
        (1,),
        True,
    ),
    "porous_3d_random": (
        ms.porous,
        dict(volume_fraction=0.15, dim=3, n=3, h=0.15),
        3,
        (1, 1, 1),
        (1,),
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_generator_mesh_is_periodic(case):
    gen, kwargs, dim, lengths, phases, porous = CASES[case]
    micro = gen(comm=COMM, **kwargs)
    check_micro(micro, dim, lengths, phases, porous)
    hmin, hmax = cell_sizes(micro.mesh)
    assert worst_face_mismatch(micro.mesh, micro.box) <= 1e-12 * hmin
    assert micro.periodicity_error() <= 1e-12
    assert ms.periodicity_error(micro.mesh, micro.box) == micro.periodicity_error()


def test_periodicity_error_detects_mismatch():
    mesh = dolfinx.mesh.create_unit_square(COMM, 4, 4)
    box = (np.zeros(2), np.ones(2))
    assert ms.periodicity_error(mesh, box) == 0.0
    x = mesh.geometry.x
    k = np.flatnonzero(np.isclose(x[:, 0], 1.0) & np.isclose(x[:, 1], 0.5))[0]
    x[k, 1] += 0.05  # slide one node along the face x = 1
    _, hmax = cell_sizes(mesh)
    err, node = ms.periodicity_error(mesh, box, return_node=True)
    assert err == pytest.approx(0.05 / hmax, rel=1e-12)
    assert node is not None and (np.isclose(node[0], 1.0) or np.isclose(node[0], 0.0))


def test_volume_fraction_error_shrinks_with_h():
    """Curved interfaces: |measured - requested| = O(h²); check h and h/2."""
    checks = [
        (ms.circular_inclusion, dict(volume_fraction=0.3), 2, (0.1, 0.05)),
        (ms.fibre_array, dict(volume_fraction=0.6, packing="hexagonal"), 2, (0.1, 0.05)),
        (ms.spherical_inclusion, dict(volume_fraction=0.2), 2, (0.15, 0.075)),
    ]
    for gen, kwargs, tag, hs in checks:  # tag 2 = inclusion
        errors = []
        for h in hs:
            micro = gen(h=h, comm=COMM, **kwargs)
            errors.append(abs(micro.volume_fractions[tag] - kwargs["volume_fraction"]))
        assert errors[1] < errors[0] / 2.5, (gen.__name__, errors)
        assert errors[1] < 0.02 * kwargs["volume_fraction"]
    # porous: porosity = 1 - matrix fraction
    errors = [
        abs(1 - ms.porous(0.3, h=h, comm=COMM).volume_fractions[1] - 0.3) for h in (0.1, 0.05)
    ]
    assert errors[1] < errors[0] / 2.5


def test_laminate_fractions_exact():
    fractions = [0.15, 0.35, 0.1, 0.4]
    micro = ms.laminate(fractions, direction=1, dim=2, h=0.07, comm=COMM, lengths=(0.7, 1.3))
    for k, f in enumerate(fractions, start=1):
        assert abs(micro.volume_fractions[k] - f) <= 1e-12
    # layers are in order along the axis: cell midpoints of layer k lie in its slab
    x = micro.mesh.geometry.x[micro.mesh.geometry.dofmaps[0]].mean(axis=1)[
        micro.cell_tags.indices, 1
    ]
    bounds = np.concatenate([[0], np.cumsum(fractions)]) * 1.3
    for k in range(1, 5):
        y = x[micro.cell_tags.values == k]
        assert bounds[k - 1] < y.min() and y.max() < bounds[k]
    micro3 = ms.laminate([0.3, 0.7], direction=2, dim=3, h=0.2, comm=COMM)
    assert (
        abs(micro3.volume_fractions[1] - 0.3) <= 1e-12
        and abs(micro3.volume_fractions[2] - 0.7) <= 1e-12
    )
    single = ms.laminate([1.0], h=0.2, comm=COMM)
    assert single.volume_fractions == {1: pytest.approx(1.0, abs=1e-14)}


def brute_force_periodic_distance(a, b, dim):
    """Minimum over all 3^dim image shifts of |a - b - s| (no rounding trick)."""
    return min(
        np.linalg.norm(a - b - np.asarray(s)) for s in itertools.product((-1, 0, 1), repeat=dim)
    )


@pytest.mark.parametrize(
    "dim,n,vf,gap", [(2, 12, 0.35, 0.03), (3, 6, 0.2, 0.02), (2, 20, 0.3, 0.0)]
)
def test_rsa_no_overlap_and_gap(dim, n, vf, gap):
    centres = ms.rsa_centres(n, vf, dim=dim, seed=7, min_gap=gap)
    r = ms.inclusion_radius(vf, dim, n)
    assert centres.shape == (n, dim)
    assert np.all((centres >= 0) & (centres < 1))
    assert n * (math.pi * r**2 if dim == 2 else 4 / 3 * math.pi * r**3) == pytest.approx(
        vf, rel=1e-14
    )
    clearance = 0.1 * r
    for i, j in itertools.combinations(range(n), 2):
        assert (
            brute_force_periodic_distance(centres[i], centres[j], dim)
            >= 2 * r + max(gap, clearance) - 1e-14
        )
    # no near-tangency with a face / edge / corner of the cell
    for c in centres:
        delta = np.minimum(c, 1 - c)
        for k in range(1, dim + 1):
            for axes in itertools.combinations(range(dim), k):
                assert abs(np.linalg.norm(delta[list(axes)]) - r) >= clearance
    # same seed -> same centres; different seed -> different
    np.testing.assert_array_equal(ms.rsa_centres(n, vf, dim=dim, seed=7, min_gap=gap), centres)
    assert not np.allclose(ms.rsa_centres(n, vf, dim=dim, seed=8, min_gap=gap), centres)


def test_rsa_gap_across_periodic_faces():
    """Dense packing: some pairs are closest through a face, and still keep the gap."""
    n, vf, gap = 25, 0.4, 0.01
    centres = ms.rsa_centres(n, vf, dim=2, seed=0, min_gap=gap)
    r = ms.inclusion_radius(vf, 2, n)
    through_face = 0
    for i, j in itertools.combinations(range(n), 2):
        periodic = brute_force_periodic_distance(centres[i], centres[j], 2)
        through_face += periodic < np.linalg.norm(centres[i] - centres[j]) - 1e-12
        assert periodic >= 2 * r + gap
    assert through_face > 0


def test_random_inclusions_reproducible_and_matches_centres():
    kwargs = dict(n=6, volume_fraction=0.3, dim=2, min_gap=0.02, h=0.05, comm=COMM)
    a = ms.random_inclusions(seed=4, **kwargs)
    b = ms.random_inclusions(seed=4, **kwargs)
    c = ms.random_inclusions(seed=5, **kwargs)
    np.testing.assert_array_equal(a.mesh.geometry.x, b.mesh.geometry.x)
    np.testing.assert_array_equal(a.cell_tags.values, b.cell_tags.values)
    assert a.volume_fractions == b.volume_fractions
    assert a.volume_fractions != c.volume_fractions
    # every inclusion cell lies inside (a periodic image of) a disk from rsa_centres
    centres = ms.rsa_centres(6, 0.3, dim=2, seed=4, min_gap=0.02)
    r = ms.inclusion_radius(0.3, 2, 6)
    mid = a.mesh.geometry.x[a.mesh.geometry.dofmaps[0]].mean(axis=1)[:, :2]
    tagged = np.empty(len(mid), dtype=int)
    tagged[a.cell_tags.indices] = a.cell_tags.values
    d = mid[:, None, :] - centres[None, :, :]
    d -= np.round(d)
    dist = np.linalg.norm(d, axis=2).min(axis=1)
    assert np.all(dist[tagged == 2] < r)
    assert np.all(dist[tagged == 1] > r - 0.05)
    assert a.volume_fractions[2] == pytest.approx(0.3, rel=0.05)


def test_read_msh_shipped_meshes():
    expected = {
        "square_circle.msh": (2, (1.0, 1.0), {2: 0.3}, 5000),
        "hex_fibres.msh": (2, (1.0, math.sqrt(3)), {2: 0.4}, 5000),
        "sphere.msh": (3, (1.0, 1.0, 1.0), {2: 0.2}, 10000),
        "laminate.msh": (2, (1.0, 1.0), {1: 0.5, 2: 0.5}, 5000),
    }
    for name, (dim, lengths, fractions, max_cells) in expected.items():
        path = MESHES / name
        assert path.stat().st_size < 1_000_000
        micro = ms.read_msh(path, comm=COMM)
        # ASCII .msh stores 16 significant digits: √3 comes back 1 ulp off
        check_micro(micro, dim, lengths, (1, 2), atol=1e-15)
        assert micro.mesh.topology.index_map(dim).size_global <= max_cells
        for tag, f in fractions.items():
            assert micro.volume_fractions[tag] == pytest.approx(f, abs=0.01)
        assert micro.periodicity_error() <= 1e-12
    lam = ms.read_msh(MESHES / "laminate.msh", comm=COMM)
    assert abs(lam.volume_fractions[1] - 0.5) <= 1e-12


def test_read_msh_equals_generator():
    """The shipped file and the generator with the same arguments give the same mesh."""
    spec = importlib.util.spec_from_file_location("make_meshes", MESHES / "make_meshes.py")
    make_meshes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_meshes)
    generator, kwargs = make_meshes.MESHES["square_circle.msh"]
    direct = ms.GENERATORS[generator](comm=COMM, **kwargs)
    loaded = ms.read_msh(MESHES / "square_circle.msh", comm=COMM)
    assert (
        direct.mesh.topology.index_map(2).size_global
        == loaded.mesh.topology.index_map(2).size_global
    )
    for tag in (1, 2):
        assert direct.volume_fractions[tag] == pytest.approx(
            loaded.volume_fractions[tag], abs=1e-14
        )


@pytest.mark.parametrize("name", ["laminate.msh", "square_circle.msh"])
def test_make_meshes_is_byte_reproducible(name, tmp_path):
    spec = importlib.util.spec_from_file_location("make_meshes", MESHES / "make_meshes.py")
    make_meshes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_meshes)
    path = make_meshes.make(name, tmp_path)
    assert path.read_bytes() == (MESHES / name).read_bytes()


def test_write_msh_roundtrip(tmp_path):
    path = ms.write_msh(
        tmp_path / "rand.msh",
        "random_inclusions",
        comm=COMM,
        n=3,
        volume_fraction=0.1,
        dim=3,
        h=0.2,
        seed=2,
    )
    assert path.is_file()
    micro = ms.read_msh(path, comm=COMM)
    direct = ms.random_inclusions(3, 0.1, dim=3, h=0.2, seed=2, comm=COMM)
    assert (
        micro.mesh.topology.index_map(3).size_global
        == direct.mesh.topology.index_map(3).size_global
    )
    assert micro.volume_fractions[2] == pytest.approx(direct.volume_fractions[2], abs=1e-14)
    assert micro.periodicity_error() <= 1e-12


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------
BAD = [
    (
        ms.circular_inclusion,
        dict(volume_fraction=0.9),
        r"volume_fraction must be in \(0, 0\.7854\).*got 0\.9",
    ),
    (
        ms.circular_inclusion,
        dict(volume_fraction=0.0),
        r"volume_fraction must be in \(0, 0\.7854\)",
    ),
    (
        ms.spherical_inclusion,
        dict(volume_fraction=0.6),
        r"volume_fraction must be in \(0, 0\.5236\)",
    ),
    (
        ms.fibre_array,
        dict(volume_fraction=0.8),
        r"volume_fraction must be in \(0, 0\.7854\) for square packing",
    ),
    (
        ms.fibre_array,
        dict(volume_fraction=0.95, packing="hexagonal"),
        r"\(0, 0\.9069\) for hexagonal packing",
    ),
    (
        ms.fibre_array,
        dict(volume_fraction=0.3, packing="cubic"),
        r"packing must be 'square' or 'hexagonal'",
    ),
    (
        ms.random_inclusions,
        dict(n=5, volume_fraction=0.6),
        r"volume_fraction must be in \(0, 0\.547\)",
    ),
    (
        ms.random_inclusions,
        dict(n=5, volume_fraction=0.4, dim=3),
        r"volume_fraction must be in \(0, 0\.384\)",
    ),
    (ms.random_inclusions, dict(n=0, volume_fraction=0.2), r"n must be an integer >= 1"),
    (
        ms.random_inclusions,
        dict(n=3, volume_fraction=0.2, min_gap=-0.1),
        r"min_gap must be a finite number >= 0",
    ),
    (
        ms.random_inclusions,
        dict(n=1, volume_fraction=0.5, min_gap=0.3),
        r"must be < 1 .*own periodic image",
    ),
    (
        ms.random_inclusions,
        dict(n=40, volume_fraction=0.5, min_gap=0.02, max_tries=3000),
        r"placed only \d+ of n=40 inclusions .*max_tries=3000",
    ),
    (
        ms.porous,
        dict(volume_fraction=0.8),
        r"volume_fraction must be in \(0, 0\.7854\) for one centred pore",
    ),
    (ms.porous, dict(volume_fraction=0.5, dim=3, n=4), r"\(0, 0\.384\) for 4 random pores in 3-D"),
    (ms.circular_inclusion, dict(volume_fraction=0.3, h=0.0), r"h must be a finite number > 0"),
    (ms.spherical_inclusion, dict(volume_fraction=0.3, h=-0.1), r"h must be a finite number > 0"),
    (ms.laminate, dict(fractions=[0.5, 0.5], h=float("inf")), r"h must be a finite number > 0"),
    (ms.laminate, dict(fractions=[0.5, 0.6]), r"fractions must be .* summing to 1"),
    (ms.laminate, dict(fractions=[1.2, -0.2]), r"fractions must be .*\(0, 1\)"),
    (
        ms.laminate,
        dict(fractions=[0.5, 0.5], direction=2),
        r"direction must be an axis index in \[0, 1\]",
    ),
    (ms.laminate, dict(fractions=[0.5, 0.5], dim=4), r"dim must be 2 or 3"),
    (
        ms.laminate,
        dict(fractions=[0.5, 0.5], lengths=(1.0, 0.0)),
        r"lengths must be 2 finite numbers > 0",
    ),
]


@pytest.mark.parametrize(
    "gen,kwargs,match", BAD, ids=[f"{g.__name__}-{i}" for i, (g, _, _) in enumerate(BAD)]
)
def test_bad_input_raises_and_writes_nothing(gen, kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        gen(comm=COMM, **kwargs)
    with pytest.raises(ValueError, match=match):
        ms.write_msh(tmp_path / "out.msh", gen.__name__, comm=COMM, **kwargs)
    assert list(tmp_path.iterdir()) == []
    assert not gmsh.isInitialized()


def test_rsa_unreachable_message_has_count():
    with pytest.raises(ValueError, match=r"placed only (\d+) of n=30") as info:
        ms.rsa_centres(30, 0.5, dim=2, min_gap=0.05, max_tries=500)
    placed = int(re.search(r"placed only (\d+)", str(info.value)).group(1))
    assert 0 < placed < 30


def test_write_msh_bad_generator_and_path(tmp_path):
    with pytest.raises(ValueError, match=r"generator must be one of \['circular_inclusion'"):
        ms.write_msh(tmp_path / "x.msh", "hexagon", comm=COMM, volume_fraction=0.2)
    with pytest.raises(ValueError, match=r"path must end in '\.msh'"):
        ms.write_msh(tmp_path / "x.vtk", "circular_inclusion", volume_fraction=0.2)
    with pytest.raises(ValueError, match=r"directory .* does not exist"):
        ms.write_msh(tmp_path / "missing" / "x.msh", "circular_inclusion", volume_fraction=0.2)
    assert list(tmp_path.iterdir()) == []


def test_read_msh_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not an existing file"):
        ms.read_msh(tmp_path / "nope.msh", comm=COMM)
    assert list(tmp_path.iterdir()) == []
    assert not gmsh.isInitialized()


def test_read_msh_without_physical_groups(tmp_path):
    path = tmp_path / "plain.msh"
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.3)
        gmsh.model.mesh.generate(2)
        gmsh.option.setNumber("Mesh.SaveAll", 1)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()
    before = path.read_bytes()
    with pytest.raises(ValueError, match="no physical groups on its 2-D cells"):
        ms.read_msh(path, comm=COMM)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.msh"]
    assert path.read_bytes() == before
    assert not gmsh.isInitialized()


def test_user_gmsh_session_is_left_alone():
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("mine")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.123)
        micro = ms.circular_inclusion(0.2, h=0.1, comm=COMM)
        assert micro.phases == (1, 2)
        assert gmsh.isInitialized()
        assert gmsh.model.getCurrent() == "mine"
        assert gmsh.option.getNumber("Mesh.MeshSizeMax") == 0.123
    finally:
        gmsh.finalize()


def test_public_names():
    assert ms.__all__ == sorted(ms.__all__)
    assert set(ms.GENERATORS) == {
        "laminate",
        "circular_inclusion",
        "spherical_inclusion",
        "fibre_array",
        "random_inclusions",
        "porous",
    }
    for name in ms.__all__:
        assert getattr(ms, name).__doc__ or name in ("DEFAULT_H", "GENERATORS")


def test_read_msh_unreadable_or_partially_tagged(tmp_path):
    garbage = tmp_path / "garbage.msh"
    garbage.write_text("not a mesh\n")
    with pytest.raises(ValueError, match="Gmsh cannot read"):
        ms.read_msh(garbage, comm=COMM)
    partial = tmp_path / "partial.msh"
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        a = gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        b = gmsh.model.occ.addRectangle(1, 0, 0, 1, 1)
        gmsh.model.occ.fragment([(2, a)], [(2, b)])
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(2, [a], 1)  # the second square has no phase
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.3)
        gmsh.model.mesh.generate(2)
        gmsh.option.setNumber("Mesh.SaveAll", 1)
        gmsh.write(str(partial))
    finally:
        gmsh.finalize()
    with pytest.raises(ValueError, match="exactly one physical group.*132 cells, 66 tagged"):
        ms.read_msh(partial, comm=COMM)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.msh", "partial.msh"]
    assert not gmsh.isInitialized()
