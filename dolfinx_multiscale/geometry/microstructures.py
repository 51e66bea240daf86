"""Periodic microstructures (representative volume elements) built with Gmsh.

Every generator returns a :class:`Microstructure`: a DOLFINx mesh of an axis-aligned
box ``[lower, upper]`` (the periodic cell), its cell tags (one Gmsh physical group per
phase: ``1`` = matrix, ``2, 3, ...`` = inclusions or layers) and the *measured* volume
fraction of every phase.

Generators (all meshes are periodic: the mesh of every high face ``x_i = upper_i`` is the
translated copy of the mesh of the opposite low face, so nodes match to round-off):

* :func:`laminate` -- flat layers stacked along one axis, any number of layers.
* :func:`circular_inclusion` -- centred disk in the unit square (2-D).
* :func:`spherical_inclusion` -- centred sphere in the unit cube (3-D).
* :func:`fibre_array` -- square (unit square) or hexagonal (``1 × √3`` cell) fibre packing.
* :func:`random_inclusions` -- random sequential addition (RSA) of equal disks/spheres
  with periodic wrap-around (:func:`rsa_centres` gives the centres).
* :func:`porous` -- periodic voids (real holes, no cells); phase ``1`` only.

:func:`read_msh` loads any Gmsh ``.msh`` whose top-dimensional cells carry physical
groups, :func:`from_image` makes a voxel cell (one Q1 quadrilateral / hexahedron per voxel,
the label as the phase) of a labelled or grey-value image (:mod:`.images`), :func:`write_msh` writes a generator's ``.msh`` without making a DOLFINx mesh and
:func:`periodicity_error` measures how periodic a mesh is. :func:`estimate_cells` predicts
a generator's element count from ``h`` before anything is meshed.

How a generator works (one code path for all of them): the inputs are validated and
turned into a recipe (box + primitive bodies, each with a phase tag) *before* Gmsh or any
file is touched; then :mod:`~dolfinx_multiscale.geometry.meshing` takes over: on rank 0 the
OpenCASCADE kernel builds the box and the bodies (with
their periodic images), ``occ.fragment`` makes the geometry conforming, the pieces are
classified by the fragment map (a piece inside the box takes the largest phase tag of the
bodies that contain it, else ``1``; pieces outside the box are removed), the high faces
are declared periodic copies of the low faces (``mesh.setPeriodic``), and the model is
meshed (``Mesh.MeshSizeMax = h``, single-threaded, ASCII MSH 4.1, so the ``.msh`` is
byte-for-byte reproducible) and converted to DOLFINx with the physical groups as cell tags.

Lengths are in the units of the cell (the unit cell has side 1); ``h`` is the target
element size in the same units.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from mpi4py import MPI

import dolfinx.fem
import dolfinx.mesh
import ufl

from . import images
from .meshing import mesh_recipe, read_mesh, write_recipe

__all__ = [
    "DEFAULT_H",
    "GENERATORS",
    "Microstructure",
    "circular_inclusion",
    "estimate_cells",
    "fibre_array",
    "from_image",
    "inclusion_radius",
    "laminate",
    "periodicity_error",
    "porous",
    "random_inclusions",
    "read_msh",
    "rsa_centres",
    "spherical_inclusion",
    "write_msh",
]

#: Default target element size ``h`` per dimension (the unit cell has side 1):
#: ``0.025`` in 2-D (≈ 3.7 k triangles in the unit square), ``0.1`` in 3-D (≈ 6–8 k tets).
DEFAULT_H: dict[int, float] = {2: 0.025, 3: 0.1}

#: Saturation (jamming) limits of random sequential addition of equal disks / spheres;
#: ``random_inclusions`` and multi-pore ``porous`` accept volume fractions below them.
_RSA_LIMIT: dict[int, float] = {2: 0.547, 3: 0.384}

#: Default inclusion surface clearance, relative to the radius (see :func:`rsa_centres`).
_CLEARANCE = 0.1

#: Default number of random trial positions in :func:`rsa_centres`.
_MAX_TRIES = 100_000

#: Elements per ``h^dim`` of meshed volume (:func:`estimate_cells`), measured on the
#: generators: 2-D 2.4–2.8 triangles (circular_inclusion h = 0.05 and 0.02, fibre_array,
#: laminate, porous, random_inclusions n = 10 at h = 0.03), 3-D 5.2–7.3 tetrahedra
#: (spherical_inclusion, laminate, porous, random_inclusions n = 4 at h = 0.1).
_CELLS_PER_H_VOLUME: dict[int, float] = {2: 2.5, 3: 6.0}


# --------------------------------------------------------------------------------------
# The data class
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Microstructure:
    """A meshed periodic cell with its phases.

    Attributes:
        mesh: DOLFINx mesh with ``gdim == tdim == dim`` (2 or 3).
        cell_tags: Cell tags; the value of a cell is its phase (``1`` = matrix,
            ``2, 3, ...`` = inclusions / layers).
        box: ``(lower, upper)``, two arrays of shape ``(dim,)``: the corners of the
            periodic cell (an axis-aligned box).
        volume_fractions: Measured fraction of the box volume occupied by each phase
            tag (assembled on the mesh, identical on all ranks; of a voxel image: voxel
            counts). For a porous cell the sum is ``1 - porosity < 1``.
        image: The labelled :class:`~dolfinx_multiscale.geometry.images.VoxelImage` of
            a cell made by :func:`from_image` (``None`` otherwise).
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    box: tuple[np.ndarray, np.ndarray]
    volume_fractions: dict[int, float]
    image: images.VoxelImage | None = None

    @property
    def dim(self) -> int:
        """Spatial dimension of the cell (2 or 3)."""
        return int(self.mesh.topology.dim)

    @property
    def lengths(self) -> np.ndarray:
        """Edge lengths ``upper - lower`` of the box, shape ``(dim,)``."""
        return np.asarray(self.box[1], dtype=float) - np.asarray(self.box[0], dtype=float)

    @property
    def volume(self) -> float:
        """Volume (area in 2-D) of the box ``|Y| = Π lengths``."""
        return float(np.prod(self.lengths))

    @property
    def phases(self) -> tuple[int, ...]:
        """Sorted phase tags present in the mesh."""
        return tuple(sorted(self.volume_fractions))

    def periodicity_error(self) -> float:
        """:func:`periodicity_error` of this mesh and box (collective)."""
        return periodicity_error(self.mesh, self.box)


# --------------------------------------------------------------------------------------
# Input validation (runs before Gmsh or any file is touched)
# --------------------------------------------------------------------------------------
def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3; got {dim!r}")
    return int(dim)


def _check_h(h, dim: int) -> float:
    if h is None:
        return DEFAULT_H[dim]
    if not _is_real(h) or not math.isfinite(h) or h <= 0:
        raise ValueError(f"h must be a finite number > 0 (element size); got {h!r}")
    return float(h)


def _check_fraction(value, upper: float, what: str, name: str = "volume_fraction") -> float:
    if not _is_real(value) or not (0.0 < value < upper):
        raise ValueError(f"{name} must be in (0, {upper:.4g}) for {what}; got {value!r}")
    return float(value)


def _check_int(value, name: str, lower: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lower:
        raise ValueError(f"{name} must be an integer >= {lower}; got {value!r}")
    return int(value)


def _check_nonneg(value, name: str) -> float:
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def inclusion_radius(
    volume_fraction: float, dim: int, n: int = 1, cell_volume: float = 1.0
) -> float:
    """Radius of ``n`` equal disks (2-D) / spheres (3-D) filling ``volume_fraction``.

    Solves ``n π r² = φ |Y|`` (2-D) or ``n (4/3) π r³ = φ |Y|`` (3-D).

    Args:
        volume_fraction: Target fraction ``φ`` of the cell volume (no range check).
        dim: 2 or 3.
        n: Number of inclusions.
        cell_volume: ``|Y|``, area/volume of the cell.

    Returns:
        The radius ``r`` (same length unit as the cell).
    """
    dim = _check_dim(dim)
    per = volume_fraction * cell_volume / n
    return math.sqrt(per / math.pi) if dim == 2 else (3.0 * per / (4.0 * math.pi)) ** (1.0 / 3.0)


# --------------------------------------------------------------------------------------
# Recipes: what to build (pure data, validated, independent of Gmsh and MPI)
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Body:
    """A primitive: ``kind`` "ball" (params = centre..., radius) or "box" (corner..., size...)."""

    phase: int
    kind: str
    params: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """A periodic cell ``[0, lengths]`` with bodies; pieces of phase >= 2 removed if holes."""

    dim: int
    lengths: tuple[float, ...]
    h: float
    bodies: tuple[_Body, ...]
    holes: bool = False
    names: tuple[str, ...] = ("matrix", "inclusion")  # physical names of phases 1, 2, ...


def _ball_with_images(
    centre: Sequence[float], r: float, lengths: Sequence[float], phase: int
) -> list[_Body]:
    """The ball and those of its periodic images (shifts in {-1,0,1}^d · L) that cut the box."""
    centre = np.asarray(centre, dtype=float)
    L = np.asarray(lengths, dtype=float)
    bodies = []
    for shift in itertools.product((0, -1, 1), repeat=len(L)):
        c = centre + np.asarray(shift) * L
        outside = np.maximum(0.0, np.maximum(-c, c - L))  # distance per axis to the box
        if float(np.sqrt(np.sum(outside**2))) < r:
            bodies.append(_Body(phase, "ball", (*map(float, c), float(r))))
    return bodies


def _laminate_recipe(fractions, direction=0, dim=2, h=None, lengths=None) -> _Recipe:
    dim = _check_dim(dim)
    h = _check_h(h, dim)
    if (
        isinstance(direction, bool)
        or not isinstance(direction, numbers.Integral)
        or not 0 <= direction < dim
    ):
        raise ValueError(
            f"direction must be an axis index in [0, {dim - 1}] for dim={dim}; got {direction!r}"
        )
    try:
        f = np.asarray(fractions, dtype=float).ravel()
    except (TypeError, ValueError):
        f = np.empty(0)
    if f.size < 1 or not np.all(np.isfinite(f)) or np.any(f <= 0) or abs(f.sum() - 1.0) > 1e-9:
        raise ValueError(
            "fractions must be a non-empty sequence of numbers in (0, 1) summing to 1; "
            f"got {fractions!r}"
        )
    if lengths is None:
        L = np.ones(dim)
    else:
        L = np.asarray(lengths, dtype=float).ravel()
        if L.shape != (dim,) or not np.all(np.isfinite(L)) or np.any(L <= 0):
            raise ValueError(f"lengths must be {dim} finite numbers > 0; got {lengths!r}")
    # Layer k (tag k) occupies [c_{k-1}, c_k) along `direction`. Body k is the half-space
    # slab [c_{k-1}, ∞), oversized in the other directions so that none of its faces
    # coincides with a face of the box; a piece in layer k lies in slabs 2..k, so the
    # "largest containing phase" rule classifies it as k. Interfaces are at exactly c_k.
    cuts = np.cumsum(f[:-1] / f.sum()) * L[direction]
    bodies = []
    for k, c in enumerate(cuts, start=2):
        lo = -np.ones(dim) * (1.0 + L)
        size = 3.0 * (1.0 + L)
        lo[direction] = c
        size[direction] = 2.0 * L[direction] + 1.0
        bodies.append(_Body(k, "box", (*map(float, lo), *map(float, size))))
    names = tuple(f"layer_{k}" for k in range(1, len(f) + 1))
    return _Recipe(dim, tuple(map(float, L)), h, tuple(bodies), names=names)


def _centred_inclusion_recipe(volume_fraction, dim: int, h, what: str, holes=False) -> _Recipe:
    # A centred ball of radius r < 1/2 fits the unit cell: φ < π/4 (2-D), π/6 (3-D).
    limit = math.pi / 4 if dim == 2 else math.pi / 6
    vf = _check_fraction(volume_fraction, limit, what)
    h = _check_h(h, dim)
    r = inclusion_radius(vf, dim)
    L = (1.0,) * dim
    return _Recipe(dim, L, h, tuple(_ball_with_images([0.5] * dim, r, L, 2)), holes)


def _circular_inclusion_recipe(volume_fraction, h=None) -> _Recipe:
    return _centred_inclusion_recipe(volume_fraction, 2, h, "a centred disk in the unit square")


def _spherical_inclusion_recipe(volume_fraction, h=None) -> _Recipe:
    return _centred_inclusion_recipe(volume_fraction, 3, h, "a centred sphere in the unit cube")


def _fibre_array_recipe(volume_fraction, packing="square", h=None) -> _Recipe:
    if packing == "square":
        return _centred_inclusion_recipe(volume_fraction, 2, h, "square packing")
    if packing != "hexagonal":
        raise ValueError(f"packing must be 'square' or 'hexagonal'; got {packing!r}")
    # Cell 1 × √3 holds two fibres (centre + 4 quarters); touching at r = 1/2.
    limit = math.pi / (2.0 * math.sqrt(3.0))
    vf = _check_fraction(volume_fraction, limit, "hexagonal packing")
    h = _check_h(h, 2)
    L = (1.0, math.sqrt(3.0))
    r = inclusion_radius(vf, 2, n=2, cell_volume=L[0] * L[1])
    bodies = _ball_with_images([0.5, 0.5 * L[1]], r, L, 2) + _ball_with_images([0.0, 0.0], r, L, 2)
    return _Recipe(2, L, h, tuple(bodies))


def _check_rsa(n, volume_fraction, dim, min_gap, max_tries, clearance, what):
    dim = _check_dim(dim)
    n = _check_int(n, "n", 1)
    vf = _check_fraction(volume_fraction, _RSA_LIMIT[dim], what.format(dim=dim, n=n))
    min_gap = _check_nonneg(min_gap, "min_gap")
    max_tries = _MAX_TRIES if max_tries is None else _check_int(max_tries, "max_tries", 1)
    r = inclusion_radius(vf, dim, n)
    clearance = _CLEARANCE * r if clearance is None else _check_nonneg(clearance, "clearance")
    gap = max(min_gap, clearance)
    if 2.0 * r + gap >= 1.0:
        raise ValueError(
            f"volume_fraction={vf!r} with n={n} gives radius {r:.4g}: "
            f"2*radius + max(min_gap, clearance) = {2 * r + gap:.4g} must be < 1 "
            "(the cell size) so that an inclusion does not touch its own periodic image; "
            "lower volume_fraction or min_gap, or raise n"
        )
    return dim, n, vf, min_gap, max_tries, r, clearance, gap


def rsa_centres(
    n: int,
    volume_fraction: float,
    dim: int = 2,
    seed: int = 0,
    min_gap: float = 0.0,
    max_tries: int | None = None,
    clearance: float | None = None,
) -> np.ndarray:
    """Centres of ``n`` equal disks/spheres placed by periodic random sequential addition.

    Candidate centres are drawn uniformly in the unit cell with
    ``numpy.random.default_rng(seed)`` (one ``rng.random(dim)`` draw per trial) and
    accepted when both hold:

    * **gaps**: the minimum-image (periodic) distance to every accepted centre is
      ``≥ 2 r + max(min_gap, clearance)``;
    * **no slivers at the cell boundary**: with ``δ_i = min(c_i, 1 - c_i)`` the distance
      from the centre to the nearest face normal to axis ``i``, for every non-empty set
      ``S`` of axes (faces, edges, corners) ``| sqrt(Σ_{i∈S} δ_i²) - r | ≥ clearance``,
      i.e. an inclusion either stays clear of a face/edge/corner or cuts it clearly, so
      the periodic pieces never make tiny slivers or near-tangent contacts.

    ``clearance`` defaults to ``0.1 r``; it depends only on the geometry (not on ``h``)
    so the same seed gives the same centres at every mesh size.

    Args:
        n: Number of inclusions (``≥ 1``).
        volume_fraction: Total inclusion fraction ``φ = n π r²`` (2-D) or
            ``n (4/3) π r³`` (3-D), in ``(0, 0.547)`` (2-D) / ``(0, 0.384)`` (3-D).
        dim: 2 (disks) or 3 (spheres).
        seed: Seed of ``numpy.random.default_rng``.
        min_gap: Minimum surface-to-surface gap between inclusions (``≥ 0``), measured
            with the periodic minimum-image distance.
        max_tries: Total number of trial positions before giving up (default 100 000).
        clearance: See above (``≥ 0``, default ``0.1 r``).

    Returns:
        Array of shape ``(n, dim)`` with the centres in ``[0, 1)^dim``; the radius is
        ``inclusion_radius(volume_fraction, dim, n)``.

    Raises:
        ValueError: Bad argument, or fewer than ``n`` inclusions placed after
            ``max_tries`` trials (the message gives the count reached).
    """
    dim, n, vf, min_gap, max_tries, r, clearance, gap = _check_rsa(
        n,
        volume_fraction,
        dim,
        min_gap,
        max_tries,
        clearance,
        "random sequential addition in {dim}-D",
    )
    return _rsa(n, r, dim, seed, gap, clearance, max_tries)


def _rsa(n, r, dim, seed, gap, clearance, max_tries) -> np.ndarray:
    rng = np.random.default_rng(seed)
    subsets = [
        np.array(s, dtype=bool) for s in itertools.product((False, True), repeat=dim) if any(s)
    ]
    subsets = np.array(subsets)  # (2^d - 1, d)
    centres = np.empty((0, dim))
    dmin = 2.0 * r + gap
    for _ in range(max_tries):
        c = rng.random(dim)
        delta = np.minimum(c, 1.0 - c)
        dist_to_features = np.sqrt(subsets @ delta**2)
        if np.any(np.abs(dist_to_features - r) < clearance):
            continue
        if len(centres):
            d = centres - c
            d -= np.round(d)  # minimum image in the unit cell
            if np.min(np.einsum("ij,ij->i", d, d)) < dmin * dmin:
                continue
        centres = np.vstack([centres, c])
        if len(centres) == n:
            return centres
    raise ValueError(
        f"random sequential addition placed only {len(centres)} of n={n} inclusions "
        f"(radius {r:.4g}, gap {gap:.4g}) after max_tries={max_tries} trials; lower "
        "volume_fraction, n or min_gap, or raise max_tries"
    )


def _rsa_recipe(n, volume_fraction, dim, h, seed, min_gap, max_tries, clearance, what, holes) -> _Recipe:
    """Random sequential addition of ``n`` equal balls (inclusions, or pores with
    ``holes``) with their periodic images in the unit cell."""
    dim, n, vf, min_gap, max_tries, r, clearance, gap = _check_rsa(
        n, volume_fraction, dim, min_gap, max_tries, clearance, what
    )
    h = _check_h(h, dim)
    centres = _rsa(n, r, dim, seed, gap, clearance, max_tries)
    L = (1.0,) * dim
    bodies = [b for c in centres for b in _ball_with_images(c, r, L, 2)]
    return _Recipe(dim, L, h, tuple(bodies), holes=holes)


def _random_inclusions_recipe(
    n, volume_fraction, dim=2, seed=0, min_gap=0.0, h=None, max_tries=None, clearance=None
) -> _Recipe:
    return _rsa_recipe(n, volume_fraction, dim, h, seed, min_gap, max_tries, clearance,
                       "random sequential addition in {dim}-D", holes=False)


def _porous_recipe(
    volume_fraction, dim=2, h=None, n=1, seed=0, min_gap=0.0, max_tries=None, clearance=None
) -> _Recipe:
    dim = _check_dim(dim)
    n = _check_int(n, "n", 1)
    if n == 1:
        what = "one centred pore in the unit " + ("square" if dim == 2 else "cube")
        return _centred_inclusion_recipe(volume_fraction, dim, h, what, holes=True)
    return _rsa_recipe(n, volume_fraction, dim, h, seed, min_gap, max_tries, clearance,
                       "{n} random pores in {dim}-D", holes=True)


def _to_microstructure(recipe: _Recipe, comm: MPI.Comm) -> Microstructure:
    mesh, cell_tags = mesh_recipe(recipe, comm)
    box = (np.zeros(recipe.dim), np.asarray(recipe.lengths, dtype=float))
    return _microstructure(mesh, cell_tags, box)


def _microstructure(mesh, cell_tags, box) -> Microstructure:
    comm = mesh.comm
    local = set(np.unique(cell_tags.values).tolist())
    phases = sorted(set().union(*comm.allgather(local)))
    volume = float(np.prod(box[1] - box[0]))
    return Microstructure(mesh, cell_tags, box, _phase_fractions(mesh, cell_tags, phases, volume))


def _phase_fractions(mesh, cell_tags, phases, volume) -> dict[int, float]:
    """``{tag: ∫_Y χ_tag dx / |Y|}`` assembled with one compiled DG0-indicator form."""
    V = dolfinx.fem.functionspace(mesh, ("DG", 0))
    chi = dolfinx.fem.Function(V)
    form = dolfinx.fem.form(chi * ufl.dx(domain=mesh))
    dofs = V.dofmap.list[cell_tags.indices, 0]
    fractions = {}
    for tag in phases:
        chi.x.array[:] = 0.0
        chi.x.array[dofs[cell_tags.values == tag]] = 1.0
        local = dolfinx.fem.assemble_scalar(form)
        fractions[int(tag)] = float(mesh.comm.allreduce(local, op=MPI.SUM)) / volume
    return fractions


# --------------------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------------------
def laminate(
    fractions: Sequence[float],
    direction: int = 0,
    dim: int = 2,
    h: float | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
    lengths: Sequence[float] | None = None,
) -> Microstructure:
    """Layered cell: flat layers stacked along axis ``direction``.

    Layer ``k`` (tag ``k = 1..n``, in order along the axis) occupies
    ``fractions[k-1] · L_direction`` of the cell; the interfaces are planes resolved
    exactly by the mesh, so measured fractions equal the requested ones to round-off.

    Args:
        fractions: Layer fractions, each in ``(0, 1)``, summing to 1 (within ``1e-9``;
            they are normalised). Any number ``n ≥ 1`` of layers.
        direction: Stacking axis, ``0 .. dim-1``.
        dim: 2 or 3.
        h: Target element size (default ``DEFAULT_H[dim]``: 0.025 in 2-D, 0.1 in 3-D).
        comm: Communicator of the mesh (Gmsh runs on its rank 0).
        lengths: Cell edge lengths, shape ``(dim,)`` (default: unit cell).

    Returns:
        The :class:`Microstructure` with box ``[0, lengths]``.

    Raises:
        ValueError: Bad ``fractions``, ``direction``, ``dim``, ``h`` or ``lengths``.
    """
    return _to_microstructure(_laminate_recipe(fractions, direction, dim, h, lengths), comm)


def circular_inclusion(
    volume_fraction: float, h: float | None = None, comm: MPI.Comm = MPI.COMM_WORLD
) -> Microstructure:
    """Centred disk (tag 2) in a matrix (tag 1) filling the unit square (2-D).

    Args:
        volume_fraction: Disk area fraction ``φ = π r²`` in ``(0, π/4 ≈ 0.785)``.
        h: Target element size (default 0.025).
        comm: Communicator of the mesh.

    Returns:
        The :class:`Microstructure` (box ``[0, 1]²``); the measured fraction differs
        from ``φ`` by ``O(h²)`` (polygonal interface).
    """
    return _to_microstructure(_circular_inclusion_recipe(volume_fraction, h), comm)


def spherical_inclusion(
    volume_fraction: float, h: float | None = None, comm: MPI.Comm = MPI.COMM_WORLD
) -> Microstructure:
    """Centred sphere (tag 2) in a matrix (tag 1) filling the unit cube (3-D).

    Args:
        volume_fraction: Sphere volume fraction ``φ = (4/3) π r³`` in
            ``(0, π/6 ≈ 0.524)``.
        h: Target element size (default 0.1).
        comm: Communicator of the mesh.

    Returns:
        The :class:`Microstructure` (box ``[0, 1]³``).
    """
    return _to_microstructure(_spherical_inclusion_recipe(volume_fraction, h), comm)


def fibre_array(
    volume_fraction: float,
    packing: str = "square",
    h: float | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> Microstructure:
    """Periodic array of parallel circular fibres (2-D cross-section), fibres = tag 2.

    * ``"square"``: one fibre at the centre of the unit square,
      ``φ = π r²`` in ``(0, π/4 ≈ 0.785)``.
    * ``"hexagonal"``: the ``1 × √3`` cell with a fibre at the centre and a quarter
      fibre at each corner (two fibres per cell), ``φ = 2 π r² / √3`` in
      ``(0, π/(2√3) ≈ 0.907)``.

    Args:
        volume_fraction: Fibre area fraction ``φ``.
        packing: ``"square"`` or ``"hexagonal"``.
        h: Target element size (default 0.025).
        comm: Communicator of the mesh.

    Returns:
        The :class:`Microstructure` (box ``[0, 1]²`` or ``[0, 1] × [0, √3]``).
    """
    return _to_microstructure(_fibre_array_recipe(volume_fraction, packing, h), comm)


def random_inclusions(
    n: int,
    volume_fraction: float,
    dim: int = 2,
    seed: int = 0,
    min_gap: float = 0.0,
    h: float | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
    max_tries: int | None = None,
    clearance: float | None = None,
) -> Microstructure:
    """``n`` equal, non-overlapping random disks (2-D) / spheres (3-D), tag 2, periodic.

    The centres are :func:`rsa_centres` with the same arguments (reproducible per
    ``seed``). Inclusions cut by a face re-enter through the opposite face (their
    periodic images are added, fragmented with the box and the pieces outside dropped).

    Args:
        n: Number of inclusions (``≥ 1``).
        volume_fraction: Total inclusion fraction in ``(0, 0.547)`` (2-D) /
            ``(0, 0.384)`` (3-D), the random-sequential-addition saturation limits.
        dim: 2 or 3.
        seed: Seed of ``numpy.random.default_rng``.
        min_gap: Minimum periodic surface-to-surface gap between inclusions (``≥ 0``).
        h: Target element size (default ``DEFAULT_H[dim]``).
        comm: Communicator of the mesh.
        max_tries: Trial positions before giving up (default 100 000).
        clearance: Clearance from faces/edges/corners and between inclusions
            (default ``0.1 r``), see :func:`rsa_centres`.

    Returns:
        The :class:`Microstructure` (box ``[0, 1]^dim``).

    Raises:
        ValueError: Bad argument, or packing not reached after ``max_tries`` (the
            message gives the count reached).
    """
    recipe = _random_inclusions_recipe(
        n, volume_fraction, dim, seed, min_gap, h, max_tries, clearance
    )
    return _to_microstructure(recipe, comm)


def porous(
    volume_fraction: float,
    dim: int = 2,
    h: float | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
    n: int = 1,
    seed: int = 0,
    min_gap: float = 0.0,
    max_tries: int | None = None,
    clearance: float | None = None,
) -> Microstructure:
    """Periodic porous cell: circular/spherical voids (holes without cells), phase 1 only.

    ``n = 1``: one centred pore (porosity in ``(0, π/4)`` in 2-D, ``(0, π/6)`` in 3-D;
    ``seed`` unused). ``n > 1``: pores at :func:`rsa_centres` (porosity in
    ``(0, 0.547)`` / ``(0, 0.384)``), periodic wrap-around as in
    :func:`random_inclusions`.

    Args:
        volume_fraction: Porosity (void fraction of the unit cell).
        dim: 2 or 3.
        h: Target element size (default ``DEFAULT_H[dim]``).
        comm: Communicator of the mesh.
        n: Number of pores.
        seed, min_gap, max_tries, clearance: As in :func:`random_inclusions` (n > 1).

    Returns:
        The :class:`Microstructure`; ``volume_fractions == {1: 1 - measured porosity}``.
    """
    recipe = _porous_recipe(volume_fraction, dim, h, n, seed, min_gap, max_tries, clearance)
    return _to_microstructure(recipe, comm)


#: Generator name → generator function (used by the command-line interface).
GENERATORS: dict[str, Callable[..., Microstructure]] = {
    "circular_inclusion": circular_inclusion,
    "fibre_array": fibre_array,
    "laminate": laminate,
    "porous": porous,
    "random_inclusions": random_inclusions,
    "spherical_inclusion": spherical_inclusion,
}

_RECIPES: dict[str, Callable[..., _Recipe]] = {
    "circular_inclusion": _circular_inclusion_recipe,
    "fibre_array": _fibre_array_recipe,
    "laminate": _laminate_recipe,
    "porous": _porous_recipe,
    "random_inclusions": _random_inclusions_recipe,
    "spherical_inclusion": _spherical_inclusion_recipe,
}


def _recipe(generator: str, kwargs: dict) -> _Recipe:
    """The validated recipe of ``GENERATORS[generator](**kwargs)``."""
    if generator not in _RECIPES:
        raise ValueError(f"generator must be one of {sorted(_RECIPES)}; got {generator!r}")
    return _RECIPES[generator](**kwargs)


def estimate_cells(generator: str, **kwargs) -> float:
    """About how many elements (triangles / tetrahedra) the generator would make.

    ``c_d · V / h^d`` with ``V`` the meshed volume (the box, less the pores of
    :func:`porous`) and ``c_2 = 2.5``, ``c_3 = 6.0`` elements per ``h^d``, measured on
    the generators' meshes (2-D 2.4–2.8, 3-D 5.2–7.3; small random inclusions resolved
    below ``h`` make more). Nothing is meshed: only the inputs are validated and the
    recipe built (for random cells this places the inclusions).

    Args:
        generator: A key of :data:`GENERATORS`.
        **kwargs: The generator's arguments except ``comm``.

    Returns:
        The estimated element count (a float: ``inf`` when it exceeds the float range).

    Raises:
        ValueError: Unknown generator or bad arguments (as the generator would raise).
    """
    recipe = _recipe(generator, kwargs)
    volume = math.prod(recipe.lengths) * (1.0 - kwargs["volume_fraction"] if recipe.holes else 1.0)
    with np.errstate(over="ignore"):
        return float(_CELLS_PER_H_VOLUME[recipe.dim] * volume * np.float64(1.0 / recipe.h) ** recipe.dim)


def write_msh(path: str | Path, generator: str, comm: MPI.Comm = MPI.COMM_WORLD, **kwargs) -> Path:
    """Write the Gmsh ``.msh`` of a generator without making a DOLFINx mesh.

    The file is ASCII MSH 4.1 with the cell physical groups (phases) and the periodic
    node correspondences; it is byte-for-byte reproducible for the same arguments and
    Gmsh version. Rank 0 of ``comm`` writes; the call is collective.

    Args:
        path: Output file, must end in ``.msh``; its directory must exist.
        generator: A key of :data:`GENERATORS`.
        comm: Communicator (rank 0 writes).
        **kwargs: The generator's arguments except ``comm``.

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: Unknown generator, bad arguments or bad path (nothing is written).
    """
    recipe = _recipe(generator, kwargs)
    path = Path(path)
    if path.suffix != ".msh":
        raise ValueError(f"path must end in '.msh'; got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path: directory {str(path.parent)!r} does not exist")
    write_recipe(recipe, path, comm)
    return path


def read_msh(path: str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> Microstructure:
    """Load a Gmsh ``.msh`` whose top-dimensional cells carry physical groups (phases).

    The physical group tag of a cell is its phase. A 2-D mesh must lie in the plane
    ``z = 0`` (it gets ``gdim = 2``). The box is the global bounding box of the nodes.
    Rank 0 reads; the mesh is distributed over ``comm``. Periodicity is not checked
    here (call :meth:`Microstructure.periodicity_error`).

    Args:
        path: The ``.msh`` file.
        comm: Communicator of the mesh.

    Returns:
        The :class:`Microstructure` with measured phase fractions.

    Raises:
        ValueError: Missing/unreadable file, no 2-D/3-D cells, no physical groups on
            the top-dimensional cells, cells not tagged exactly once, or a 2-D mesh
            off the plane ``z = 0``.
    """
    mesh, cell_tags = read_mesh(Path(path), comm)
    gdim = mesh.geometry.dim
    x = mesh.geometry.x[:, :gdim]
    lo = np.min(x, axis=0) if len(x) else np.full(gdim, np.inf)
    hi = np.max(x, axis=0) if len(x) else np.full(gdim, -np.inf)
    lo_glob, hi_glob = np.empty(gdim), np.empty(gdim)
    comm.Allreduce(np.ascontiguousarray(lo, dtype=np.float64), lo_glob, op=MPI.MIN)
    comm.Allreduce(np.ascontiguousarray(hi, dtype=np.float64), hi_glob, op=MPI.MAX)
    return _microstructure(mesh, cell_tags, (lo_glob, hi_glob))


def from_image(
    image,
    voxel_size=None,
    *,
    threshold=None,
    roi=None,
    coarsen: int = 1,
    shape: Sequence[int] | None = None,
    dtype=None,
    force: bool = False,
    progress: bool = False,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> Microstructure:
    """A voxel cell from an image: one Q1 quadrilateral / hexahedron per voxel.

    Each distinct integer label is a phase whose cell tag is the label (``0`` included;
    labels need not be contiguous). **Axes:** a 2-D ``image[i, j]`` is the voxel centred
    at ``x = (j + ½) h_x``, ``y = (i + ½) h_y`` (NumPy order, row 0 at ``y = 0``, not
    the top-down display of a picture); a 3-D ``image[k, i, j]`` also at
    ``z = (k + ½) h_z``. The cell is the image's box ``[0, n_x h_x] × [0, n_y h_y]
    (× [0, n_z h_z])``; the mesh is periodic by construction. Every rank reads the image
    (:func:`~dolfinx_multiscale.geometry.images.load_image`: read, crop, check the
    memory, label, coarsen); DOLFINx distributes the mesh
    (:func:`~dolfinx_multiscale.geometry.images.voxel_mesh`).

    Args:
        image: A 2-D/3-D NumPy array, the path of a ``.npy``, ``.tif``/``.tiff``
            (multi-page = 3-D), ``.png`` or ``.raw`` file, or an already loaded
            :class:`~dolfinx_multiscale.geometry.images.VoxelImage` (then no other
            image option may be given).
        voxel_size: ``h``, one number or ``(h_x, h_y[, h_z])`` (physical order), > 0, of
            the image as read (``coarsen`` multiplies it); default 1.
        threshold: For a grey-value image: one value (labels 0 below, 1 at or above) or
            an increasing list (labels ``0, 1, …`` by interval); required for a float
            image.
        roi: Region of interest, one ``(start, stop)`` per *array* axis (``image[roi]``),
            e.g. ``((0, 64), (32, 96))`` keeps rows ``0..63`` (y) and columns ``32..95`` (x).
        coarsen: Merge ``coarsen`` voxels per axis into one by majority vote.
        shape, dtype: Of a ``.raw`` file (required there, refused elsewhere).
        force: Mesh even if :func:`~dolfinx_multiscale.geometry.images.estimate_memory`
            exceeds the machine's memory.
        progress: Print a line (rank 0, ``stderr``) after reading and around meshing.
        comm: Communicator of the mesh.

    Returns:
        The :class:`Microstructure`, with exact voxel volume fractions and
        ``image`` (labels, voxel size, cluster report) set.

    Raises:
        ValueError: on every rank alike: an unreadable/empty file, a 1-D array, NaN, a
            float image without ``threshold``, a bad ``voxel_size``, ``roi``,
            ``coarsen``, ``threshold``, negative labels, or an image that needs more
            memory than the machine has (without ``force``).
    """
    from ..progress import Progress

    report = Progress("image", None, comm, enabled=progress)
    if isinstance(image, images.VoxelImage):
        given = {"voxel_size": voxel_size, "threshold": threshold, "roi": roi, "shape": shape, "dtype": dtype}
        given = [k for k, v in given.items() if v is not None] + (["coarsen"] if coarsen != 1 else [])
        if given:
            raise ValueError(f"{', '.join(given)} apply when reading an image, not to a VoxelImage")
        voxels = image
    else:
        t0 = time.perf_counter()
        voxels = images.load_image(image, voxel_size, threshold=threshold, roi=roi, coarsen=coarsen, shape=shape,
                                   dtype=dtype, force=force, n_ranks=comm.size)
        report.message(f"read {voxels.summary()} in {time.perf_counter() - t0:.1f} s")
    kind = "quadrilaterals" if voxels.dim == 2 else "hexahedra"
    report.message(f"meshing {voxels.n_voxels} {kind} on {comm.size} rank(s)")
    t0 = time.perf_counter()
    mesh, cell_tags = images.voxel_mesh(voxels, comm)
    report.message(f"meshed in {time.perf_counter() - t0:.1f} s")
    return Microstructure(mesh, cell_tags, voxels.box, dict(voxels.volume_fractions), image=voxels)


# --------------------------------------------------------------------------------------
# Periodicity check
# --------------------------------------------------------------------------------------
def periodicity_error(
    mesh: dolfinx.mesh.Mesh,
    box: tuple[npt.ArrayLike, npt.ArrayLike],
    return_node: bool = False,
) -> float | tuple[float, np.ndarray | None]:
    """Worst node mismatch between opposite faces of the box, relative to the cell size.

    For every axis ``i``, the mesh nodes on the high face ``x_i = upper_i`` are
    translated by ``-L_i e_i`` and matched with their nearest node on the low face
    (``scipy.spatial.cKDTree``), and vice versa. The result is the largest of these
    distances divided by the largest cell diameter (longest cell edge); ``0`` for a
    perfectly periodic mesh, ``inf`` if one face has nodes and its opposite has none.
    Collective: face nodes are gathered on all ranks, every rank returns the same value.

    Args:
        mesh: The mesh (``gdim == tdim``).
        box: ``(lower, upper)`` corners, shape ``(gdim,)`` each.
        return_node: Also return the coordinates ``(gdim,)`` of the worst node (or
            ``None`` when the error is 0).

    Returns:
        The relative error (float), or ``(error, node)`` if ``return_node``.
    """
    from scipy.spatial import cKDTree

    comm = mesh.comm
    gdim = mesh.geometry.dim
    lo = np.asarray(box[0], dtype=float).ravel()
    hi = np.asarray(box[1], dtype=float).ravel()
    if lo.shape != (gdim,) or hi.shape != (gdim,) or np.any(hi <= lo):
        raise ValueError(
            f"box must be (lower, upper) with shape ({gdim},) each and upper > lower; got {box!r}"
        )
    L = hi - lo
    x = mesh.geometry.x[:, :gdim]

    # Largest cell diameter = longest distance between two nodes of a cell.
    cells = mesh.geometry.dofmaps[0]
    hmax = 0.0
    if len(cells):
        xc = x[cells]  # (ncells, nodes, gdim)
        for a, b in itertools.combinations(range(xc.shape[1]), 2):
            hmax = max(hmax, float(np.max(np.linalg.norm(xc[:, a] - xc[:, b], axis=1))))
    hmax = comm.allreduce(hmax, op=MPI.MAX)
    if hmax == 0.0:
        raise ValueError("periodicity_error: the mesh has no cells")

    tol = 1e-10 * float(L.max())
    worst, node = 0.0, None
    for axis in range(gdim):
        low = np.concatenate(comm.allgather(x[np.abs(x[:, axis] - lo[axis]) <= tol]))
        high = np.concatenate(comm.allgather(x[np.abs(x[:, axis] - hi[axis]) <= tol]))
        if len(low) == 0 and len(high) == 0:
            continue
        if len(low) == 0 or len(high) == 0:
            return (math.inf, None) if return_node else math.inf
        shift = np.zeros(gdim)
        shift[axis] = L[axis]
        for src, dst, s in ((high, low, -shift), (low, high, shift)):
            dist, _ = cKDTree(dst).query(src + s)
            k = int(np.argmax(dist))
            if dist[k] > worst:
                worst, node = float(dist[k]), src[k].copy()
    err = worst / hmax
    return (err, node) if return_node else err
