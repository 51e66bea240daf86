"""Gmsh ↔ DOLFINx for periodic cells: mesh a cell recipe, read and write ``.msh`` files.

A *recipe* (built and validated by :mod:`~dolfinx_multiscale.geometry.microstructures`) is the
box ``[0, lengths]`` of a periodic cell with primitive bodies, each with a phase tag:
any object with the attributes ``dim``, ``lengths``, ``h`` (target element size),
``bodies`` (each with ``phase``, ``kind`` ``"ball"`` — params centre..., radius — or
``"box"`` — corner..., size...), ``holes`` (drop the pieces of phase ``≥ 2``) and
``names`` (physical names of phases 1, 2, ...).

Gmsh runs on rank 0 of the communicator, in a fresh model with reproducible options
(:func:`_gmsh_session`, which leaves a user's own Gmsh session as it found it); its
failures are raised on every rank, so no rank hangs. The DOLFINx mesh is then
distributed over the communicator with the physical groups as cell tags (the phases).
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import gmsh
import numpy as np
from mpi4py import MPI

import dolfinx
import dolfinx.io.gmsh
import dolfinx.mesh

__all__ = ["mesh_recipe", "msh_dimension", "read_mesh", "write_recipe"]


# --------------------------------------------------------------------------------------
# Gmsh sessions and models (rank 0 only)
# --------------------------------------------------------------------------------------
_GMSH_OPTIONS = {
    "General.Terminal": 0,
    "General.NumThreads": 1,
    "Mesh.MaxNumThreads1D": 1,
    "Mesh.MaxNumThreads2D": 1,
    "Mesh.MaxNumThreads3D": 1,
    "Geometry.OCCParallel": 0,
    "Mesh.Binary": 0,
    "Mesh.MshFileVersion": 4.1,
    "Mesh.SaveAll": 0,
    "Mesh.ElementOrder": 1,
    "Mesh.MeshSizeMin": 0.0,
    "Mesh.MeshSizeFromPoints": 1,
    "Mesh.MeshSizeFromCurvature": 0,
    "Mesh.MeshSizeExtendFromBoundary": 1,
}
_session_counter = itertools.count()


@contextlib.contextmanager
def _python_signal_handlers() -> Iterator[None]:
    """Gmsh's ``initialize``/``finalize`` install C-level SIGINT/SIGTERM handlers over
    Python's; put Python's back afterwards (a graceful stop, :mod:`..progress`, keeps
    working around meshing)."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for s, handler in saved.items():
                if handler is not None:
                    signal.signal(s, handler)


@contextlib.contextmanager
def _gmsh_session(active: bool = True) -> Iterator[None]:
    """A fresh Gmsh model with reproducible options; restores/finalizes Gmsh on exit.

    If Gmsh was not initialised, it is initialised (without reading user configuration
    files, which could change the output) and finalised afterwards; otherwise a new model
    is added, the options are restored and the previous current model is reselected.
    """
    if not active:
        yield
        return
    owns = not gmsh.isInitialized()
    if owns:
        with _python_signal_handlers():
            gmsh.initialize(readConfigFiles=False, interruptible=False)
        saved, previous = {}, None
    else:
        saved = {k: gmsh.option.getNumber(k) for k in [*_GMSH_OPTIONS, "Mesh.MeshSizeMax"]}
        previous = gmsh.model.getCurrent()
    name = f"dolfinx_multiscale_{next(_session_counter)}"
    try:
        for key, value in _GMSH_OPTIONS.items():
            gmsh.option.setNumber(key, value)
        gmsh.model.add(name)
        yield
    finally:
        if owns:
            with _python_signal_handlers():
                gmsh.finalize()
        else:
            with contextlib.suppress(Exception):
                gmsh.model.setCurrent(name)
                gmsh.model.remove()
            for key, value in saved.items():
                gmsh.option.setNumber(key, value)
            with contextlib.suppress(Exception):
                gmsh.model.setCurrent(previous)


def _add_body(body, dim: int) -> int:
    occ = gmsh.model.occ
    p = body.params
    if body.kind == "ball":
        return occ.addDisk(p[0], p[1], 0.0, p[2], p[2]) if dim == 2 else occ.addSphere(*p)
    if dim == 2:
        return occ.addRectangle(p[0], p[1], 0.0, p[2], p[3])
    return occ.addBox(*p)


def _build_model(recipe) -> dict[int, list[int]]:
    """Build, classify, make periodic and mesh ``recipe`` in the current Gmsh model.

    Returns:
        ``{phase: [entity tags of dimension dim]}`` of the pieces kept.
    """
    occ, d, L = gmsh.model.occ, recipe.dim, np.asarray(recipe.lengths)
    box = occ.addRectangle(0, 0, 0, *L) if d == 2 else occ.addBox(0, 0, 0, *L)
    pieces: dict[int, int] = {}
    if recipe.bodies:
        tools = [(d, _add_body(b, d)) for b in recipe.bodies]
        _, out_map = occ.fragment([(d, box)], tools)
        inside = [t for dd, t in out_map[0] if dd == d]
        pieces = dict.fromkeys(inside, 1)
        for body, pmap in zip(recipe.bodies, out_map[1:], strict=True):
            for dd, t in pmap:
                if dd == d and t in pieces:
                    pieces[t] = max(pieces[t], body.phase)
        occ.synchronize()
        drop = [(d, t) for _, t in gmsh.model.getEntities(d) if pieces.get(t, 0) == 0]
        if recipe.holes:
            drop += [(d, t) for t, ph in pieces.items() if ph >= 2]
            pieces = {t: ph for t, ph in pieces.items() if ph < 2}
        if drop:
            occ.remove(sorted(drop), recursive=True)
    else:
        pieces = {box: 1}
    occ.synchronize()
    kept = {t for _, t in gmsh.model.getEntities(d)}
    if kept != set(pieces):  # pragma: no cover - would be a Gmsh/OCC bug
        raise RuntimeError(
            f"unexpected entities after fragment: {sorted(kept)} vs {sorted(pieces)}"
        )

    _set_periodic(d, L)
    phases: dict[int, list[int]] = {}
    for t in sorted(pieces):
        phases.setdefault(pieces[t], []).append(t)
    for phase, tags in sorted(phases.items()):
        gmsh.model.addPhysicalGroup(d, tags, tag=phase, name=recipe.names[phase - 1])
    gmsh.option.setNumber("Mesh.MeshSizeMax", recipe.h)
    gmsh.model.mesh.generate(d)
    _make_nodes_periodic(d, L)
    return phases


def _make_nodes_periodic(d: int, L: np.ndarray) -> None:
    """Make face nodes exactly periodic (to round-off) after meshing.

    Gmsh copies the mesh of a master entity to its slave by the affine map, but the
    nodes on OCC vertices keep the vertex coordinates, which come from curve/face
    intersections and can be off the face by ~1e-15 (seen on the hexagonal cell). So:
    snap every node within ``1e-9 max(L)`` of a face plane onto it, then set every
    slave node to the affine image of its master node (repeated ``d`` times so that
    edge and corner chains resolve).
    """
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    order = np.argsort(node_tags)
    node_tags, X = node_tags[order], coords.reshape(-1, 3)[order]
    X0 = X.copy()
    tol = 1e-9 * float(L.max())
    for axis in range(d):
        X[np.abs(X[:, axis]) <= tol, axis] = 0.0
        X[np.abs(X[:, axis] - L[axis]) <= tol, axis] = L[axis]
    links = []
    for dd in range(d):
        for _, t in gmsh.model.getEntities(dd):
            master, slaves, masters, affine = gmsh.model.mesh.getPeriodicNodes(dd, t)
            if master != t and len(slaves):
                A = np.asarray(affine).reshape(4, 4)
                links.append(
                    (np.searchsorted(node_tags, slaves), np.searchsorted(node_tags, masters), A)
                )
    for _ in range(d):
        for slaves, masters, A in links:
            X[slaves] = X[masters] @ A[:3, :3].T + A[:3, 3]
    for i in np.flatnonzero(np.any(X != X0, axis=1)):
        tag = int(node_tags[i])
        _, param, _, _ = gmsh.model.mesh.getNode(tag)
        gmsh.model.mesh.setNode(tag, X[i].tolist(), list(param))


def _set_periodic(d: int, L: np.ndarray) -> None:
    """Declare every boundary entity on a high face the translated copy of its low twin.

    Entities are located and matched by their centre of mass and mass (length/area),
    which OCC computes exactly for the translated geometry. (Bounding boxes are not
    usable: OCC inflates them by its tolerance, ~1.2e-7, and loosely for curved
    entities, so a bounding-box search silently misses face pieces.) A (d-1)-entity
    whose centre of mass lies on a face plane lies in that plane, since the pieces are
    inside the box.
    """
    occ = gmsh.model.occ
    tags = [t for _, t in gmsh.model.getEntities(d - 1)]
    mass = {t: occ.getMass(d - 1, t) for t in tags}
    com = {t: np.asarray(occ.getCenterOfMass(d - 1, t))[:d] for t in tags}
    on_plane_tol, match_tol = 1e-9 * float(L.max()), 1e-7 * float(L.max())
    for axis in range(d):
        shift = np.zeros(d)
        shift[axis] = L[axis]
        low = [t for t in tags if abs(com[t][axis]) <= on_plane_tol]
        high = [t for t in tags if abs(com[t][axis] - L[axis]) <= on_plane_tol]
        pairs = []
        for s in high:
            match = [
                m
                for m in low
                if abs(mass[m] - mass[s]) <= 1e-7 * mass[s]
                and np.linalg.norm(com[m] + shift - com[s]) <= match_tol
            ]
            if len(match) != 1:
                raise RuntimeError(
                    f"periodic setup: entity ({d - 1}, {s}) on the face x{axis} = {L[axis]} has "
                    f"{len(match)} translated twins on the face x{axis} = 0 (expected 1)"
                )
            pairs.append((s, match[0]))
        if len(pairs) != len(low) or not pairs:
            raise RuntimeError(
                f"periodic setup: {len(low)} entities on the face x{axis} = 0 but {len(high)} "
                "on the opposite face"
            )
        affine = np.eye(4)
        affine[:d, 3] = shift
        gmsh.model.mesh.setPeriodic(
            d - 1, [s for s, _ in pairs], [m for _, m in pairs], affine.ravel().tolist()
        )


def _run_on_root(comm: MPI.Comm, work: Callable[[], object]) -> object:
    """Run ``work()`` on rank 0; re-raise its failure on every rank (no hang)."""
    result, error = None, None
    if comm.rank == 0:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - re-raised collectively below
            error = (type(exc).__name__, str(exc))
    error = comm.bcast(error, root=0)
    if error is not None:
        exc_type = ValueError if error[0] == "ValueError" else RuntimeError
        raise exc_type(error[1])
    return result


def _model_cells(tdim: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Rank 0: the current Gmsh model's physical ``tdim``-cells.

    Returns:
        ``(gmsh element type, cells (n_cells, n_nodes) as 0-based rows of x, their
        physical tags (n_cells,), node coordinates x (n_nodes, 3))``.

    Raises:
        ValueError: several cell types, or cells not tagged exactly once.
    """
    model = gmsh.model
    node_tags, coords, _ = model.mesh.getNodes()
    order = np.argsort(node_tags)
    node_tags, x = node_tags[order], coords.reshape(-1, 3)[order]
    types, cells, values, element_tags = set(), [], [], []
    for dim, tag in model.getPhysicalGroups(tdim):
        for entity in model.getEntitiesForPhysicalGroup(dim, tag):
            for etype, etags, enodes in zip(*model.mesh.getElements(dim, entity), strict=True):
                types.add(int(etype))
                n_nodes = model.mesh.getElementProperties(etype)[3]
                cells.append(np.searchsorted(node_tags, enodes).reshape(-1, n_nodes))
                values.append(np.full(etags.size, tag, dtype=np.int32))
                element_tags.append(etags)
    if len(types) != 1:
        raise ValueError(f"one cell type expected in the {tdim}-D cells; Gmsh element types {sorted(types)}")
    element_tags = np.concatenate(element_tags)
    n_cells = sum(t.size for t in model.mesh.getElements(tdim)[1])
    if element_tags.size != n_cells or np.unique(element_tags).size != n_cells:
        raise ValueError(f"every {tdim}-D cell must be in exactly one physical group (its phase): "
                         f"{n_cells} cells, {element_tags.size} tagged, "
                         f"{np.unique(element_tags).size} distinct")
    return types.pop(), np.concatenate(cells), np.concatenate(values), x


def _mesh_from_model(comm: MPI.Comm, gdim: int) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Mesh the current Gmsh model's physical cells (read on rank 0) on ``comm``.

    What :func:`dolfinx.io.gmsh.model_to_mesh` does for the cells, faster: the cell
    tags are looked up through ``topology.original_cell_index`` (the input index of
    every local cell) instead of distributing entity data, and no facet tags are made.
    Collective; a failure on rank 0 is raised on every rank.

    Returns:
        The mesh and its cell tags (the physical groups, i.e. the phases).
    """
    etype, cells, values, x = _run_on_root(comm, lambda: _model_cells(gdim)) or (None,) * 4
    etype, values = comm.bcast((etype, values) if comm.rank == 0 else None, root=0)
    domain = dolfinx.io.gmsh.ufl_mesh(etype, gdim, dtype=dolfinx.default_real_type)
    element = domain.ufl_coordinate_element().basix_element
    if comm.rank == 0:
        perm = dolfinx.io.gmsh.cell_perm_array(dolfinx.mesh.to_type(element.cell_type.name), element.dim)
        cells, x = cells[:, perm], x[:, :gdim]
    else:
        cells, x = np.empty((0, element.dim), dtype=np.int64), np.empty((0, gdim))
    mesh = dolfinx.mesh.create_mesh(comm, cells, domain, x)
    tdim = mesh.topology.dim
    local = np.arange(mesh.topology.index_map(tdim).size_local + mesh.topology.index_map(tdim).num_ghosts,
                      dtype=np.int32)
    tags = dolfinx.mesh.meshtags(mesh, tdim, local, values[mesh.topology.original_cell_index])
    tags.name = "cell_tags"
    return mesh, tags




def _top_dimension() -> int:
    """The highest dimension with elements in the current Gmsh model (0 if none)."""
    return max((d for d in (1, 2, 3) if len(gmsh.model.mesh.getElements(d)[0]) > 0), default=0)


def _inspect_msh(path: Path) -> tuple[str | None, int | None]:
    """Merge ``path`` into the current model; return (error message, gdim)."""
    if not path.is_file():
        return f"read_msh: path {str(path)!r} is not an existing file", None
    try:
        gmsh.merge(str(path))
    except Exception as exc:  # noqa: BLE001
        return f"read_msh: Gmsh cannot read {str(path)!r}: {exc}", None
    tdim = _top_dimension()
    if tdim not in (2, 3):
        return (
            f"read_msh: {str(path)!r} must contain 2-D or 3-D cells; top dimension found: {tdim}",
            None,
        )
    if not gmsh.model.getPhysicalGroups(tdim):
        return (
            f"read_msh: {str(path)!r} has no physical groups on its {tdim}-D cells; "
            "tag every cell with a physical group (its phase: 1 = matrix, 2, 3, ...)",
            None,
        )
    gdim = tdim
    if tdim == 2:
        z = gmsh.model.mesh.getNodes()[1].reshape(-1, 3)[:, 2]
        if np.any(z != 0.0):
            return (
                f"read_msh: 2-D mesh {str(path)!r} must lie in the plane z = 0; "
                f"max |z| = {np.abs(z).max():.3g}",
                None,
            )
    return None, gdim


# --------------------------------------------------------------------------------------
# Entry points (collective)
# --------------------------------------------------------------------------------------
def mesh_recipe(recipe, comm: MPI.Comm) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Build, make periodic and mesh ``recipe`` with Gmsh on rank 0 of ``comm``.

    Returns:
        The DOLFINx mesh distributed over ``comm`` and its cell tags (the phases).
    """
    with _gmsh_session(active=comm.rank == 0):
        _run_on_root(comm, lambda: _build_model(recipe))
        return _mesh_from_model(comm, recipe.dim)


def write_recipe(recipe, path: Path, comm: MPI.Comm) -> None:
    """Build and mesh ``recipe`` on rank 0 of ``comm`` and write it to ``path`` (ASCII
    MSH 4.1 with the phases' physical groups and the periodic node correspondences)."""

    def work():
        with _gmsh_session():
            _build_model(recipe)
            gmsh.write(str(path))

    _run_on_root(comm, work)


def msh_dimension(path: Path, comm: MPI.Comm) -> int:
    """The top dimension of the cells of the ``.msh`` file ``path`` (read on rank 0 in a
    fresh Gmsh model, the answer on every rank; 0 without cells).

    Raises:
        ValueError: on every rank, Gmsh cannot read the file.
    """

    def work():
        with _gmsh_session():
            try:
                gmsh.merge(str(path))
            except Exception as exc:  # noqa: BLE001 - Gmsh raises plain Exceptions
                raise ValueError(f"Gmsh cannot read {str(path)!r}: {exc}") from None
            return _top_dimension()

    return comm.bcast(_run_on_root(comm, work), root=0)


def read_mesh(path: Path, comm: MPI.Comm) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Read the ``.msh`` file ``path`` on rank 0 and distribute it over ``comm``.

    Returns:
        The mesh (``gdim = tdim``; a 2-D mesh must lie in ``z = 0``) and its cell tags
        (the physical groups of the top-dimensional cells).

    Raises:
        ValueError: on every rank, with the file named: missing or unreadable, no 2-D/3-D
            cells, no physical groups on them, cells not tagged exactly once, or a 2-D
            mesh off the plane ``z = 0``.
    """
    with _gmsh_session(active=comm.rank == 0):
        error, gdim = _inspect_msh(path) if comm.rank == 0 else (None, None)
        error, gdim = comm.bcast((error, gdim), root=0)
        if error is not None:
            raise ValueError(error)
        try:
            return _mesh_from_model(comm, gdim)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"read_msh: {str(path)!r}: {exc}") from exc
