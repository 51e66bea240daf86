"""Off-screen PyVista pictures of fields: microstructures, RVE fields, macro fields.

PyVista (and VTK) are imported inside the functions. Every picture is rendered
off-screen. On a headless Linux machine (no ``DISPLAY``) the VTK wheel would first try an
X window, print "bad X server connection" and only then fall back to EGL; so before the
first picture :func:`_select_offscreen_window` points ``VTK_DEFAULT_OPENGL_WINDOW`` at the
EGL render window (``vtkEGLRenderWindow``, or the OSMesa one, ``vtkOSOpenGLRenderWindow``,
where only ``libOSMesa`` is installed) and VTK never tries X. A value already set in the
environment is left alone, and so is a machine with a display.

In parallel the pieces of the mesh are gathered on rank 0, which renders and writes the
PNG; the functions are collective.
"""

from __future__ import annotations

import ctypes.util
import functools
import os
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

import dolfinx.plot

from ..kinematics import FINITE_STRAIN

__all__ = ["plot_macro", "plot_microstructure", "plot_rve", "plot_scale_separation_fields", "plot_voxels"]

#: VTK's off-screen render windows that need no X server, in order of preference, with
#: the library each one loads at run time
_HEADLESS_WINDOWS = (("vtkEGLRenderWindow", "EGL"), ("vtkOSOpenGLRenderWindow", "OSMesa"))


@functools.cache
def _select_offscreen_window() -> str | None:
    """Make VTK render without trying X on a headless Linux machine (once per process).

    Sets ``VTK_DEFAULT_OPENGL_WINDOW`` (read when a render window is created) to the
    first of ``vtkEGLRenderWindow`` / ``vtkOSOpenGLRenderWindow`` whose library
    (``libEGL`` / ``libOSMesa``) is installed. Nothing changes where the variable is
    already set, where ``DISPLAY`` is set, off Linux, or when neither library is found.

    Returns:
        The window class in use by this rule, or ``None`` (VTK's own choice).
    """
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        return None
    chosen = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    if chosen:
        return chosen
    for window, library in _HEADLESS_WINDOWS:
        if ctypes.util.find_library(library):
            os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = window
            return window
    return None


def _gathered_grid(V, point_data: dict, cell_data: dict):
    """Owned cells of a P1/P2 space with point and cell data, gathered on rank 0.

    Returns a ``pyvista.UnstructuredGrid`` on rank 0 and ``None`` elsewhere.
    """
    import pyvista

    mesh = V.mesh
    comm = mesh.comm
    topology, types, x = dolfinx.plot.vtk_mesh(V)
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    per_cell = topology.size // max(types.size, 1)
    topology = topology.reshape(-1, per_cell)[:n_owned]
    piece = (topology, types[:n_owned], x,
             {k: np.asarray(v)[: x.shape[0]] for k, v in point_data.items()},
             {k: np.asarray(v)[:n_owned] for k, v in cell_data.items()})
    pieces = comm.gather(piece, root=0)
    if comm.rank != 0:
        return None
    offset, topo, typ, xs = 0, [], [], []
    for t, ty, xx, _, _ in pieces:
        t = t.copy()
        t[:, 1:] += offset
        topo.append(t)
        typ.append(ty)
        xs.append(xx)
        offset += xx.shape[0]
    grid = pyvista.UnstructuredGrid(np.concatenate(topo).ravel(), np.concatenate(typ), np.vstack(xs))
    for key in point_data:
        grid.point_data[key] = np.concatenate([p[3][key] for p in pieces])
    for key in cell_data:
        grid.cell_data[key] = np.concatenate([p[4][key] for p in pieces])
    return grid


def _render(panels, path: str | Path, title: str) -> Path | None:
    """Render ``[(grid, scalars, label, warp | None), ...]`` side by side; ``warp`` is a
    vector array name (drawn exaggerated to 10 % of the cell) or ``(name, factor)``."""
    import pyvista

    _select_offscreen_window()
    path = Path(path)
    plotter = pyvista.Plotter(off_screen=True, shape=(1, len(panels)), window_size=(520 * len(panels), 520))
    for k, (grid, scalars, label, warp) in enumerate(panels):
        plotter.subplot(0, k)
        shown = grid
        if isinstance(warp, tuple):
            shown = grid.warp_by_vector(warp[0], factor=warp[1])
        elif warp is not None:
            shown = grid.warp_by_vector(warp, factor=0.1 / max(np.abs(grid[warp]).max(), 1e-300))
        if grid.GetCellType(0) in (10, 24):  # tetrahedra: show a clipped view
            shown = shown.clip(normal="y", origin=grid.center)
        plotter.add_mesh(shown, scalars=scalars, show_edges=grid.n_cells < 3000, cmap="viridis",
                         scalar_bar_args={"title": label, "vertical": False})
        plotter.add_text(label, font_size=10)
        if grid.GetCellType(0) in (5, 9, 22, 23):
            plotter.view_xy()
        else:
            plotter.view_isometric()
    plotter.add_text(title, position="upper_right", font_size=8)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def plot_microstructure(micro, path: str | Path) -> Path | None:
    """Write a PNG of the phases of a :class:`Microstructure` (collective; rank 0 writes).

    Returns:
        The path on rank 0, ``None`` on the other ranks.
    """
    import dolfinx.fem

    V = dolfinx.fem.functionspace(micro.mesh, ("Lagrange", 1))
    tags = _cell_tags(micro)
    grid = _gathered_grid(V, {}, {"phase": tags})
    if grid is None:
        return None
    return _render([(grid, "phase", "phase", None)], path, f"{micro.dim}-D microstructure")


def plot_voxels(image, path: str | Path, title: str = "", hide=(), rank: int = 0) -> Path | None:
    """Write a PNG of a labelled voxel image, drawn as voxels (PyVista ``ImageData``).

    The image is drawn in its physical axes (``image.labels[k, i, j]`` at
    ``x = (j + ½) h_x``, ``y = (i + ½) h_y``, ``z = (k + ½) h_z``; a 2-D image seen from
    +z with row 0 at the bottom), coloured by label. A 3-D image shows its outer faces,
    or, with ``hide`` (e.g. the matrix label), only the other labels inside the box's
    outline. Not collective: every rank holds the image; only ``rank`` draws.

    Args:
        image: a :class:`~dolfinx_multiscale.geometry.images.VoxelImage` (e.g.
            ``micro.image`` of a cell made by ``from_image``).
        path: output PNG.
        title: text in the upper right corner.
        hide: labels not drawn.
        rank: the rank of ``MPI.COMM_WORLD`` that draws.

    Returns:
        The path on ``rank``, ``None`` elsewhere.
    """
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank != rank:
        return None
    import pyvista

    _select_offscreen_window()
    labels = np.asarray(image.labels)
    n = list(labels.shape[::-1]) + [1] * (3 - labels.ndim)  # cells along x, y, z
    h = list(image.voxel_size) + [1.0] * (3 - labels.ndim)
    grid = pyvista.ImageData(dimensions=[m + 1 for m in n], spacing=h)
    grid.cell_data["label"] = labels.ravel()  # C order: x fastest, then y, z, as VTK's
    shown = grid
    if len(hide):
        keep = ~np.isin(labels.ravel(), list(hide))
        shown = grid.extract_cells(np.flatnonzero(keep))
    plotter = pyvista.Plotter(off_screen=True, window_size=(640, 560))
    plotter.add_mesh(shown, scalars="label", cmap="viridis", show_edges=labels.size <= 4096,
                     clim=[float(labels.min()), float(labels.max())],
                     scalar_bar_args={"title": "label", "vertical": False})
    if labels.ndim == 3:
        plotter.add_mesh(grid.outline(), color="black")
        plotter.view_isometric()
    else:
        plotter.view_xy()
    plotter.add_text(title or f"{'x'.join(map(str, labels.shape[::-1]))} voxels", position="upper_right",
                     font_size=8)
    path = Path(path)
    plotter.screenshot(str(path))
    plotter.close()
    return path


def _cell_tags(micro) -> npt.NDArray[np.int32]:
    mesh = micro.mesh
    imap = mesh.topology.index_map(mesh.topology.dim)
    tags = np.zeros(imap.size_local + imap.num_ghosts, dtype=np.int32)
    tags[micro.cell_tags.indices] = micro.cell_tags.values
    return tags


def plot_rve(rve, path: str | Path, title: str = "") -> Path | None:
    """Write a PNG of the fields of the last :meth:`RVE.solve`.

    Elasticity: phases, the von Mises stress on the deformed shape (fluctuation plus
    macro strain, exaggerated; true scale at finite strain, with the Cauchy stress) and
    the fluctuation magnitude (the equivalent plastic strain instead for an inelastic
    RVE). Conduction: phases, the
    flux magnitude ``|j|`` and the temperature fluctuation ``w``. Collective; rank 0
    writes the file.

    Returns:
        The path on rank 0, ``None`` on the other ranks.
    """
    if rve.sigma is None:
        raise RuntimeError("plot_rve needs a solved RVE: call rve.solve(E) first")
    V1 = dolfinx.fem.functionspace(rve.mesh, ("Lagrange", 1, rve.w.ufl_shape))
    w1 = dolfinx.fem.Function(V1)
    w1.interpolate(rve.w)
    cells = rve.cell_fields()
    d = rve.dim
    x = V1.tabulate_dof_coordinates()[:, :d]
    tags = _cell_tags(rve.micro)
    if rve.kinematics.field_shape(d):  # a displacement: draw the deformed cell
        wv = w1.x.array.reshape(-1, d)
        E = rve.macro_strain_tensor()
        u = wv + (x - rve.centre) @ E.T
        pad = np.zeros((u.shape[0], 3))
        pad[:, :d] = u
        wpad = np.zeros_like(pad)
        wpad[:, :d] = wv
        cell_data = {"phase": tags, "von Mises": cells["von_mises"]}
        third = (None, "|w|", "|fluctuation|")
        if "p" in cells:
            cell_data["p"] = cells["p"]
            third = (None, "p", "equivalent plastic strain p")
        grid = _gathered_grid(V1, {"u": pad, "|w|": np.linalg.norm(wv, axis=1)}, cell_data)
        warp = ("u", 1.0) if rve.kinematics is FINITE_STRAIN else "u"
        panels = lambda g: [(g, "phase", "phase", None), (g, "von Mises", "von Mises", warp),  # noqa: E731
                            (g, third[1], third[2], None)]
    else:
        grid = _gathered_grid(V1, {"w": w1.x.array}, {"phase": tags,
                                                      "|j|": np.linalg.norm(cells["stress"], axis=1)})
        panels = lambda g: [(g, "phase", "phase", None), (g, "|j|", "|flux|", None),  # noqa: E731
                            (g, "w", "fluctuation", None)]
    if grid is None:
        return None
    return _render(panels(grid), path, title or f"{rve.bc} RVE, E = {np.round(rve.macro_strain, 4).tolist()}")


def plot_macro(u, cell_data: dict[str, npt.ArrayLike], path: str | Path, title: str = "",
               scale: float | None = None) -> Path | None:
    """PNG of macro cell fields on the deformed macro mesh, one panel per field.

    Args:
        u: the macro displacement (vector Lagrange Function).
        cell_data: name → values on the owned cells ``(n_owned_cells,)`` (e.g.
            ``material.cell_average(...)``).
        path: output PNG.
        scale: displacement magnification (default: 10 % of the mesh size over the
            largest displacement).

    Collective; rank 0 writes and gets the path, the others ``None``.
    """
    V1 = dolfinx.fem.functionspace(u.function_space.mesh, ("Lagrange", 1, u.ufl_shape))
    u1 = dolfinx.fem.Function(V1)
    u1.interpolate(u)
    d = u.ufl_shape[0]
    pad = np.zeros((u1.x.array.size // d, 3))
    pad[:, :d] = u1.x.array.reshape(-1, d)
    grid = _gathered_grid(V1, {"u": pad}, cell_data)
    if grid is None:
        return None
    if scale is None:
        scale = 0.1 * max(grid.length, 1e-300) / max(np.abs(grid["u"]).max(), 1e-300)
    warped = grid.warp_by_vector("u", factor=scale)
    return _render([(warped, key, key, None) for key in cell_data], path,
                   title or f"deformed x{scale:.3g}")


def plot_scale_separation_fields(fields, path: str | Path) -> Path | None:
    """PNG of the local errors of a DNS against its homogenized body, on the DNS mesh.

    Three panels on the deformed DNS: the phases, ``|u_ε − u_0|`` per cell over
    ``max|u_0|`` and the cell-averaged stress error of every cell copy (the fields of
    :meth:`~dolfinx_multiscale.studies.scale_separation.DNSFields.cell_fields`).

    Args:
        fields: the :class:`~dolfinx_multiscale.studies.scale_separation.DNSFields`
            returned by ``dns_vs_homogenized(..., return_fields=True)``.
        path: output PNG.

    Collective over the DNS mesh's communicator; rank 0 writes and gets the path, the
    others ``None``.
    """
    return plot_macro(fields.u_dns, fields.cell_fields(), path,
                      title=f"DNS, eps = 1/{fields.tiled.repeats[1]}")
