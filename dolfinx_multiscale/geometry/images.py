"""Voxel images → periodic Q1 voxel meshes: read, label, crop, coarsen, report, mesh.

The path of a µCT scan, a segmented micrograph or a NumPy array to a cell
(:func:`load_image` runs steps 1–5, and
:func:`~dolfinx_multiscale.geometry.microstructures.from_image` adds step 6):

1. :func:`read_image` — a NumPy array, ``.npy`` (memory-mapped), ``.tif``/``.tiff``
   (2-D, or a multi-page stack = 3-D; ``tifffile`` if installed, else Pillow), ``.png``
   (2-D, single channel or palette; Pillow) or ``.raw`` (headerless, C order, with
   ``shape`` and ``dtype`` given).
2. :func:`crop` — a region of interest in array index order (``image[roi]``).
3. :func:`label_image` — integer images are labels as they are; a grey-value image is
   cut by ``threshold`` (one value or an increasing list: labels ``0, 1, …`` by
   interval).
4. :func:`coarsen_labels` — ``k × k (× k)`` blocks of voxels become one, by majority vote.
5. :class:`VoxelImage` — the labels with their voxel size: phases, exact volume
   fractions (voxel counts), the box and :meth:`VoxelImage.clusters` (which connected
   clusters of each label percolate through the periodic cell and which float).
6. :func:`voxel_mesh` — one quadrilateral / hexahedral Q1 cell per voxel, the label as
   the cell tag, distributed over the communicator by DOLFINx.

**Axis convention.** A 2-D array's ``image[i, j]`` is the voxel whose centre is at
``x = (j + ½) h_x``, ``y = (i + ½) h_y``: NumPy index order, row ``0`` at ``y = 0`` (not
the top-down display of a picture viewer, which shows row 0 at the top). A 3-D array's
``image[k, i, j]`` is at ``x = (j + ½) h_x``, ``y = (i + ½) h_y``, ``z = (k + ½) h_z``
(a multi-page TIFF: page ``k``). The voxel size is given in physical order
``(h_x, h_y[, h_z])``; the cell is the image's box ``[0, n_x h_x] × [0, n_y h_y]
(× [0, n_z h_z])``. A voxel mesh is periodic by construction (a structured grid: the
nodes of opposite faces match exactly), whatever the labels at the faces.

**Memory.** Every rank holds the (cropped, coarsened) label array; nothing else is
gathered. :func:`estimate_memory` predicts the peak memory of homogenizing an image
(``BYTES_PER_VOXEL``, measured) so that a scan too big for the machine is refused before
anything is meshed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from mpi4py import MPI

import dolfinx.mesh

__all__ = [
    "BYTES_PER_VOXEL",
    "IMAGE_SUFFIXES",
    "VoxelImage",
    "available_memory",
    "check_voxel_size",
    "coarsen_labels",
    "coarsened_shape",
    "crop",
    "estimate_memory",
    "label_image",
    "load_image",
    "read_image",
    "voxel_mesh",
]

#: File suffixes :func:`read_image` reads.
IMAGE_SUFFIXES = (".npy", ".png", ".raw", ".tif", ".tiff")

#: Peak memory (bytes, all ranks together) of homogenizing one voxel of an image,
#: periodic elasticity with the default solver: mesh, spaces, forms, the stiffness and
#: its reduced copy, the solver. Measured (peak RSS less that of a run that had compiled
#: the forms on a 4^d image, serial, random two-phase images): 2-D 256² and 512² 7.0 and
#: 7.2 kB, 3-D 24³ and 32³ 25.0 kB per voxel (2026-12, default solver policy).
BYTES_PER_VOXEL: dict[int, float] = {2: 7.5e3, 3: 2.5e4}

#: Physical axis names of the array axes (last array axis = x).
_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def read_image(source, shape: Sequence[int] | None = None, dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """The voxel values of an image, as a 2-D or 3-D array (array index order).

    Args:
        source: A NumPy array (2-D or 3-D), or the path of a ``.npy`` (opened
            memory-mapped), ``.tif``/``.tiff`` (a multi-page file is a 3-D stack, page
            ``k`` = ``image[k]``), ``.png`` (2-D; grey, 16-bit grey or palette: the
            palette indices are the labels) or ``.raw`` file (headerless, C order).
        shape: ``.raw`` only (and then required): the array shape, e.g. ``(nz, ny, nx)``.
        dtype: ``.raw`` only (and then required): the voxel type, e.g. ``"uint8"``,
            ``"<u2"``, ``"float32"``.

    Returns:
        The values, shape ``(n_y, n_x)`` or ``(n_z, n_y, n_x)``, any real or boolean
        dtype (a ``.npy``/``.raw`` file stays memory-mapped).

    Raises:
        ValueError: Missing, empty or unreadable file, an unknown suffix, ``shape``/
            ``dtype`` missing for ``.raw`` or given for another format, a file size that
            does not match them, an array that is not 2-D or 3-D, empty, complex or not
            numeric, a colour picture.
    """
    if isinstance(source, (str, Path)):
        values = _read_file(Path(source), shape, dtype)
        what = repr(str(source))
    else:
        if shape is not None or dtype is not None:
            raise ValueError("shape and dtype apply to .raw files only, not to an array")
        values = np.asarray(source)
        what = "the image array"
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{what}: voxels must be integers, booleans or floats; got dtype {values.dtype}")
    if values.ndim not in (2, 3):
        raise ValueError(f"{what}: an image must be 2-D or 3-D; got {values.ndim}-D, shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{what}: the image is empty (shape {values.shape})")
    return values


def _read_file(path: Path, shape, dtype) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"image {str(path)!r}: unknown format; accepted: {', '.join(IMAGE_SUFFIXES)}")
    if (shape is not None or dtype is not None) and suffix != ".raw":
        raise ValueError(f"image {str(path)!r}: shape and dtype apply to .raw files only")
    if not path.is_file():
        raise ValueError(f"image {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"image {str(path)!r} is an empty file")
    try:
        if suffix == ".npy":
            return _read_npy(path)
        if suffix == ".raw":
            return _read_raw(path, shape, dtype)
        if suffix == ".png":
            return _read_pillow(path)
        return _read_tiff(path)
    except ValueError as exc:
        raise ValueError(f"image {str(path)!r}: {exc}") from None
    except (OSError, SyntaxError) as exc:  # Pillow/tifffile/numpy on a corrupt file
        raise ValueError(f"image {str(path)!r} cannot be read: {exc}") from None


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"is not a NumPy .npy array file (np.save): {exc}") from None


def _read_raw(path: Path, shape, dtype) -> np.ndarray:
    if shape is None or dtype is None:
        raise ValueError("a .raw file needs shape= and dtype= (e.g. shape=(64, 64, 64), dtype='uint8')")
    try:
        shape = tuple(int(n) for n in shape)
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be integers and dtype a NumPy type; got shape={shape!r}, "
                         f"dtype={dtype!r}") from None
    if any(n < 1 for n in shape):
        raise ValueError(f"shape must be integers >= 1; got {shape}")
    expected = math.prod(shape) * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        raise ValueError(f"holds {size} bytes, but shape {shape} of {dtype} needs {expected}")
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


def _read_pillow(path: Path) -> np.ndarray:
    """One frame (PNG) or every frame (TIFF: pages stacked on axis 0) with Pillow."""
    from PIL import Image, ImageSequence

    with Image.open(path) as picture:
        frames = []
        for frame in ImageSequence.Iterator(picture):
            if frame.mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "F"):
                raise ValueError(f"is a {frame.mode} colour picture; save the labels or grey values as one "
                                 "channel (grey, 16-bit grey or a palette)")
            frames.append(np.asarray(frame))
    return frames[0] if len(frames) == 1 else np.stack(frames)


def _read_tiff(path: Path) -> np.ndarray:
    try:
        import tifffile
    except ModuleNotFoundError:
        return _read_pillow(path)
    values = np.asarray(tifffile.imread(path))
    if values.ndim == 3 and values.shape[-1] in (3, 4):
        raise ValueError("is a colour picture; save the labels or grey values as one channel")
    return values


# --------------------------------------------------------------------------------------
# Crop, label, coarsen
# --------------------------------------------------------------------------------------
def crop(values: np.ndarray, roi) -> np.ndarray:
    """``values[roi]``: a box of voxels, in array index order.

    Args:
        values: The image, shape ``(n_y, n_x)`` or ``(n_z, n_y, n_x)``.
        roi: ``None`` (all), or one ``(start, stop)`` pair or ``slice`` (step 1) per array
            axis, e.g. ``((0, 50), (10, 60))`` = ``values[0:50, 10:60]`` (rows = y first).

    Returns:
        A view of the region (nothing copied).

    Raises:
        ValueError: Not one range per axis, a range outside the image or empty.
    """
    if roi is None:
        return values
    try:
        ranges = [(r.start, r.stop, r.step) if isinstance(r, slice) else (*r, None) for r in roi]
    except TypeError:
        ranges = None
    if ranges is None or len(ranges) != values.ndim or any(len(r) != 3 for r in ranges):
        raise ValueError(f"roi must be one (start, stop) per array axis ({values.ndim}); got {roi!r}")
    slices = []
    for axis, (start, stop, step) in enumerate(ranges):
        n = values.shape[axis]
        start = 0 if start is None else start
        stop = n if stop is None else stop
        if (step not in (None, 1) or not all(_is_int(v) for v in (start, stop))
                or not 0 <= start < stop <= n):
            raise ValueError(f"roi: axis {axis} range must be 0 <= start < stop <= {n} (step 1); "
                             f"got {start!r}:{stop!r}")
        slices.append(slice(int(start), int(stop)))
    return values[tuple(slices)]


def label_image(values: np.ndarray, threshold=None) -> np.ndarray:
    """Integer labels of an image: the phases.

    Integer (and boolean) voxels are labels as they are, unless ``threshold`` is given.
    With ``threshold`` ``t`` (one number) the labels are ``0`` where ``v < t`` and ``1``
    where ``v ≥ t``; with an increasing list ``t_1 < … < t_m`` they are ``0, 1, …, m``:
    label ``l`` for ``t_l ≤ v < t_{l+1}``.

    Args:
        values: The voxel values (any shape).
        threshold: ``None``, a number or an increasing sequence of finite numbers.

    Returns:
        The labels, an integer array of the shape of ``values`` (the smallest unsigned
        type that holds them for a threshold; the image's own integer type otherwise).

    Raises:
        ValueError: NaN or infinite voxels, a float image without ``threshold``, a bad
            ``threshold``, negative labels or labels above ``2³¹ − 1``.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ValueError(f"the image has {bad} non-finite (NaN or infinite) voxels; fix or crop them")
    if threshold is not None:
        cuts = np.atleast_1d(np.asarray(threshold, dtype=object)).ravel()
        if (cuts.size == 0 or not all(_is_real(t) and math.isfinite(t) for t in cuts)
                or np.any(np.diff(cuts.astype(float)) <= 0)):
            raise ValueError(f"threshold must be a finite number or an increasing list of them; got {threshold!r}")
        kind = np.uint8 if cuts.size < 256 else np.uint16
        return np.digitize(values, cuts.astype(float)).astype(kind)
    if values.dtype.kind == "f":
        raise ValueError(f"a grey-value ({values.dtype}) image needs a threshold (one value, or a list: "
                         "labels 0, 1, ... by interval); integer images are labels as they are")
    if values.dtype.kind == "b":
        return values.astype(np.uint8)
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi > np.iinfo(np.int32).max:
        raise ValueError(f"labels must be integers in [0, {np.iinfo(np.int32).max}]; the image has {lo} .. {hi}")
    return values


def coarsen_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Blocks of ``factor`` voxels per axis merged into one by majority vote.

    The new voxel takes the label most frequent in its block (a tie goes to the smallest
    of the tied labels). The voxel size grows by ``factor``.

    Args:
        labels: Integer labels, shape ``(n_0, …)``, each ``n_a`` divisible by ``factor``.
        factor: Integer ``≥ 1`` (``1``: unchanged).

    Returns:
        The labels, shape ``(n_0 / factor, …)``, same dtype.

    Raises:
        ValueError: ``factor`` not an integer ``≥ 1``, or not dividing the shape.
    """
    blocks = coarsened_shape(labels.shape, factor)
    if factor == 1:
        return labels
    values, index = np.unique(labels, return_inverse=True)
    index = index.reshape(labels.shape)
    split = [m for n in blocks for m in (n, factor)]
    block_axes = tuple(range(1, 2 * labels.ndim, 2))
    best = np.full(blocks, -1, dtype=np.int64)
    winner = np.zeros(blocks, dtype=np.intp)
    for k in range(values.size):  # one pass per label: counts per block
        count = np.count_nonzero((index == k).reshape(split), axis=block_axes)
        better = count > best
        best[better], winner[better] = count[better], k
    return values[winner].astype(labels.dtype)


def coarsened_shape(shape: Sequence[int], factor: int) -> tuple[int, ...]:
    """The shape after :func:`coarsen_labels` by ``factor``; raises ValueError if ``factor`` is not
    an integer ``≥ 1`` dividing every side."""
    if not _is_int(factor) or factor < 1:
        raise ValueError(f"coarsen must be an integer >= 1; got {factor!r}")
    if any(n % factor for n in shape):
        raise ValueError(f"coarsen={factor} must divide every side of the image {tuple(shape)}; crop it "
                         "with roi first")
    return tuple(int(n) // factor for n in shape)


# --------------------------------------------------------------------------------------
# The labelled image
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class VoxelImage:
    """A labelled voxel image with its voxel size.

    Attributes:
        labels: Integer labels, shape ``(n_y, n_x)`` or ``(n_z, n_y, n_x)`` (array index
            order; module docstring for the axes).
        voxel_size: ``(h_x, h_y[, h_z])``, physical order, each ``> 0``.
    """

    labels: np.ndarray
    voxel_size: np.ndarray

    def __post_init__(self):
        h = check_voxel_size(self.voxel_size, self.labels.ndim)
        object.__setattr__(self, "voxel_size", h)

    @property
    def dim(self) -> int:
        """2 or 3."""
        return int(self.labels.ndim)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape ``(n_y, n_x)`` / ``(n_z, n_y, n_x)``."""
        return tuple(int(n) for n in self.labels.shape)

    @property
    def n_voxels(self) -> int:
        """Number of voxels (= cells of the voxel mesh)."""
        return int(self.labels.size)

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """``(0, (n_x h_x, n_y h_y[, n_z h_z]))``: the cell, physical order."""
        return np.zeros(self.dim), np.asarray(self.shape[::-1], dtype=float) * self.voxel_size

    @functools.cached_property
    def volume_fractions(self) -> dict[int, float]:
        """``{label: voxels of that label / all voxels}``, exact, sorted by label."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) / self.n_voxels for v, c in zip(values, counts, strict=True)}

    def summary(self) -> str:
        """One line: shape, voxel size and (the first 12) labels."""
        labels = list(self.volume_fractions)
        more = f" ... ({len(labels)} labels)" if len(labels) > 12 else ""
        return f"{self.shape} voxels of {self.voxel_size.tolist()}, labels {labels[:12]}{more}"

    def clusters(self) -> dict[int, dict]:
        """The connected clusters of every label, and which of them percolate.

        Two voxels of a label are connected when they share a face; the image is periodic,
        so a voxel on a high face also touches its image on the opposite low face. A
        cluster *percolates* along an axis when it connects to its own periodic image
        along that axis (an infinite path through the tiled medium); one that percolates
        along no axis is *floating* (an island: a disk or sphere, an isolated grain). A
        floating stiff island in a compliant matrix is an ordinary composite; a label
        that floats everywhere cannot carry load by itself.

        Returns:
            ``{label: {"clusters": n, "floating": number of floating clusters,
            "floating_fraction": their voxels / all voxels, "percolates": axes along
            which some cluster percolates, e.g. ["x", "y"]}}``.
        """
        return self._cluster_report

    @functools.cached_property
    def _cluster_report(self) -> dict[int, dict]:
        from scipy import ndimage

        out = {}
        for label in self.volume_fractions:
            components, n = ndimage.label(self.labels == label)
            root, wraps = _periodic_union(components, n)
            sizes = np.bincount(components.ravel(), minlength=n + 1)
            roots = np.unique(root[1:])
            voxels = np.bincount(root[1:], weights=sizes[1:], minlength=n + 1)[roots]
            floating = ~wraps[roots].any(axis=1)
            axes = wraps[roots].any(axis=0)
            out[label] = {"clusters": int(roots.size), "floating": int(floating.sum()),
                          "floating_fraction": float(voxels[floating].sum()) / self.n_voxels,
                          "percolates": [name for name, w in zip(_AXES[self.dim], axes, strict=True) if w][::-1]}
        return out


def _periodic_union(components: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge the face-connected components ``1..n`` across the periodic faces.

    Union–find with period offsets: ``offset[c]`` is the period (a lattice vector) at which
    component ``c``'s copy touches its parent's copy in period 0. Joining two components
    already in one cluster at a non-zero relative period means the cluster connects to
    its own image: it wraps (percolates) along the axes where that vector is non-zero.

    Returns:
        ``root`` ``(n + 1,)`` (the cluster of every component; entry 0 unused) and
        ``wraps`` ``(n + 1, ndim)`` booleans, valid on roots, in array axis order.
    """
    d = components.ndim
    parent = np.arange(n + 1)
    offset = np.zeros((n + 1, d), dtype=np.int64)
    wraps = np.zeros((n + 1, d), dtype=bool)

    def find(c):
        shift = np.zeros(d, dtype=np.int64)
        path = []
        while parent[c] != c:
            path.append(c)
            shift += offset[c]
            c = parent[c]
        acc = shift.copy()
        for p in path:  # compress: every node on the path points at the root
            acc_next = acc - offset[p]
            offset[p], parent[p] = acc, c
            acc = acc_next
        return c, shift

    for axis in range(d):
        high = components.take(-1, axis=axis).ravel()
        low = components.take(0, axis=axis).ravel()
        touching = (high > 0) & (low > 0)
        pairs = np.unique(np.stack([high[touching], low[touching]], axis=1), axis=0)
        unit = np.eye(d, dtype=np.int64)[axis]
        for p, q in pairs:  # p in period 0 touches q in period +e_axis
            rp, op = find(int(p))
            rq, oq = find(int(q))
            v = unit + op - oq  # root rp (period 0) touches root rq in period v
            if rp == rq:
                wraps[rp] |= v != 0
            else:
                parent[rq], offset[rq] = rp, v
                wraps[rp] |= wraps[rq]
    root = np.array([find(c)[0] for c in range(n + 1)], dtype=np.int64)
    return root, wraps


def load_image(source, voxel_size=None, *, threshold=None, roi=None, coarsen: int = 1,
               shape: Sequence[int] | None = None, dtype: npt.DTypeLike | None = None, force: bool = False,
               n_ranks: int = 1) -> VoxelImage:
    """Read, crop, check the memory, label and coarsen: the :class:`VoxelImage` of a cell.

    The memory check (:func:`estimate_memory` of the final image, with ``n_ranks`` ranks
    holding the labels, against :func:`available_memory`) runs before the labels are
    made, so a ``.npy``/``.raw`` scan too big for the machine is refused having read
    nothing but its header. The other arguments as in
    :func:`~dolfinx_multiscale.geometry.microstructures.from_image`. Not collective.

    Raises:
        ValueError: what :func:`read_image`, :func:`crop`, :func:`label_image`,
            :func:`coarsen_labels` and :func:`check_voxel_size` raise, or an image that needs
            more memory than the machine has (without ``force``).
    """
    values = crop(read_image(source, shape, dtype), roi)
    final = coarsened_shape(values.shape, coarsen)
    h = check_voxel_size(1.0 if voxel_size is None else voxel_size, values.ndim) * coarsen
    need, have = estimate_memory(final, values.dtype.itemsize, n_ranks), available_memory()
    if need > have and not force:
        raise ValueError(f"an image of {math.prod(final)} voxels {final} needs about {need / 2**30:.3g} GiB "
                         f"(estimate), more than the machine's {have / 2**30:.3g} GiB; crop (roi) or coarsen "
                         "it, or force it (force=True; --force on the command line)")
    return VoxelImage(np.ascontiguousarray(coarsen_labels(label_image(values, threshold), coarsen)), h)


# --------------------------------------------------------------------------------------
# Memory and mesh
# --------------------------------------------------------------------------------------
def check_voxel_size(voxel_size, dim: int) -> np.ndarray:
    """``(h_x, h_y[, h_z])`` from one number or one per axis (physical order), each a
    finite number ``> 0``; raises ValueError otherwise."""
    try:
        h = np.asarray(voxel_size, dtype=float).ravel()
    except (TypeError, ValueError):
        h = np.empty(0)
    if h.size == 1:
        h = np.full(dim, float(h[0]))
    if h.shape != (dim,) or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"voxel_size must be a finite number > 0 or {dim} of them (h_x, h_y"
                         f"{', h_z' if dim == 3 else ''}); got {voxel_size!r}")
    return h


def estimate_memory(shape: Sequence[int], itemsize: int = 8, n_ranks: int = 1) -> float:
    """Bytes needed to homogenize an image of ``shape`` voxels, all ranks together.

    ``BYTES_PER_VOXEL[d] · N + n_ranks · itemsize · N`` for ``N`` voxels: the measured
    cost of mesh, forms, matrices and solver, plus the label array every rank holds.

    Args:
        shape: The image shape (after crop and coarsening), 2 or 3 axes.
        itemsize: Bytes per label.
        n_ranks: Ranks that each hold the image.
    """
    n = float(math.prod(int(s) for s in shape))
    return BYTES_PER_VOXEL[len(shape)] * n + n_ranks * itemsize * n


def available_memory() -> float:
    """The machine's physical memory in bytes (``sysconf``), ``inf`` if unknown."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return math.inf


def voxel_mesh(image: VoxelImage, comm: MPI.Comm) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """One Q1 cell per voxel, tagged with its label, distributed over ``comm``.

    The structured grid of ``image.box`` (``create_rectangle`` with quadrilaterals /
    ``create_box`` with hexahedra, ``n_x × n_y (× n_z)`` cells; DOLFINx partitions it)
    gets on every rank, for each local cell (owned and ghost), the label of the voxel
    that contains the cell's midpoint ``x_c``: ``image.labels[⌊x_c,z / h_z⌋,
    ⌊x_c,y / h_y⌋, ⌊x_c,x / h_x⌋]`` (vectorised). Collective.

    Returns:
        The mesh (``gdim = tdim = dim``) and its cell tags (every local cell tagged).
    """
    d, h = image.dim, image.voxel_size
    n = list(image.shape[::-1])  # cells per physical axis
    lower, upper = image.box
    corners = [lower.tolist(), upper.tolist()]
    if d == 2:
        mesh = dolfinx.mesh.create_rectangle(comm, corners, n, dolfinx.mesh.CellType.quadrilateral)
    else:
        mesh = dolfinx.mesh.create_box(comm, corners, n, dolfinx.mesh.CellType.hexahedron)
    imap = mesh.topology.index_map(d)
    n_local = imap.size_local + imap.num_ghosts
    nodes = mesh.geometry.dofmaps[0][:n_local]
    midpoints = mesh.geometry.x[nodes, :d].mean(axis=1)  # (n_local, d), physical order
    voxel = np.clip(np.floor(midpoints / h).astype(np.int64), 0, np.asarray(n) - 1)
    values = np.asarray(image.labels[tuple(voxel[:, ::-1].T)], dtype=np.int32)
    tags = dolfinx.mesh.meshtags(mesh, d, np.arange(n_local, dtype=np.int32), values)
    return mesh, tags


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
