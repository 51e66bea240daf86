"""The FE² run file: TOML → a validated :class:`RunSpec` (no DOLFINx needed).

A run file describes a macro problem whose materials are RVEs or single-scale laws::

    [macro]
    mesh = "rectangle"               # or "box" (3-D), or a .msh path (relative to this file)
    corners = [[0, 0], [2, 1]]       # rectangle/box only
    cells = [8, 4]                   # rectangle/box only
    diagonal = "right"               # rectangle only: left, right, crossed, left/right, right/left
    degree = 1                       # displacement Lagrange degree (1 or 2)
    quadrature_degree = 1            # ≥ max(2(degree − 1), 1)
    kinematics = "small"             # or "finite" (total Lagrangian, P = ⟨P⟩ of the RVE)

    [[material]]
    where = "all"                    # or a cell physical group of the .msh (tag or name)
    rve = "cell.msh"                 # an RVE (FE²): a .msh, or an image ("scan.npy", .tif, .png,
                                     #   .raw) with voxel_size, threshold, roi, coarsen, shape, dtype
    bc = "periodic"                  # kubc, periodic, subc
    phases = { 1 = "model=j2,E=1,nu=0.3,sy0=0.005,H=0.05", 2 = "E=10,nu=0.3" }
    # reduced = "model.npz"          # optional: a ReducedRVE of this cell (ReducedRVE.save)
    # law = "model=j2,E=1,nu=0.3,sy0=0.005"   ... or a single-scale law

    [[dirichlet]]
    boundary = "left"                # left/right/bottom/top(/back/front), or a facet group
    value = [0, 0]                   # the whole vector, or component = 1 and value = -0.1
    scale_with_load = false          # true: value × load factor

    [[traction]]                     # like [[dirichlet]], a force per unit reference area
    boundary = "top"
    value = [0, -0.01]
    scale_with_load = true

    [loading]
    ramp = { to = 1.0, steps = 10, unload = false }   # or factors = [0.1, 0.2, ...]
    max_cuts = 6

    [output]
    reactions = ["left"]             # boundaries whose reaction forces go to the JSON
    fields_every = 1                 # --xdmf cadence (steps)

    [newton]                         # optional: the macro Newton's rtol, atol, max_iterations
    rtol = 1e-10

Every error is a :class:`RunFileError` naming the file, the key and what is accepted.
The mesh-dependent checks (a boundary or group the mesh lacks, a phase without a
material) happen when the problem is built (:mod:`.problem`), with the same kind of
message.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..materials.spec import material_from_parameters, parse_parameters

__all__ = ["BOX_BOUNDARIES", "BoundaryLoad", "MacroSpec", "MaterialSpec", "RunFileError", "RunSpec",
           "read_run"]

#: named boundaries of the built-in meshes: (axis, side) with side 0 = low, 1 = high
BOX_BOUNDARIES = {"left": (0, 0), "right": (0, 1), "bottom": (1, 0), "top": (1, 1), "back": (2, 0),
                  "front": (2, 1)}
_DIAGONALS = ("left", "right", "crossed", "left/right", "right/left")
_BCS = ("kubc", "periodic", "subc")


class RunFileError(ValueError):
    """A run file that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class MacroSpec:
    """``[macro]``: the macro mesh and discretisation.

    Attributes:
        mesh: ``"rectangle"``, ``"box"`` or the resolved path of a ``.msh`` file.
        corners: ``((x0, y0[, z0]), (x1, y1[, z1]))`` of a rectangle/box.
        cells: cells per axis of a rectangle/box.
        diagonal: triangle diagonal of a rectangle.
        degree: displacement Lagrange degree (1 or 2).
        quadrature_degree: degree of the material points' rule.
        kinematics: ``"small"`` or ``"finite"``.
        dim: 2 or 3 (``None`` for a ``.msh``: known once it is read).
    """

    mesh: str | Path
    corners: tuple | None = None
    cells: tuple | None = None
    diagonal: str = "right"
    degree: int = 1
    quadrature_degree: int = 1
    kinematics: str = "small"
    dim: int | None = None

    def n_elements(self) -> int | None:
        """The element count of a rectangle (2 triangles per cell, 4 if ``crossed``) or
        box (6 tetrahedra per cell), known before meshing; ``None`` for a ``.msh``."""
        if self.cells is None:
            return None
        per_cell = 6 if self.dim == 3 else 4 if self.diagonal == "crossed" else 2
        return per_cell * math.prod(self.cells)


@dataclass(frozen=True)
class MaterialSpec:
    """One ``[[material]]``: where it lives and what it is.

    Attributes:
        where: ``"all"``, a cell group tag (int) or name (str).
        rve: the resolved ``.msh`` or image path of the RVE (FE²), or ``None`` for a law.
        bc: the RVE's boundary condition.
        phases: ``{tag: "key=value,..."}`` of the RVE.
        reduced: the resolved ``.npz`` of a reduced model of the RVE
            (:meth:`~dolfinx_multiscale.studies.reduction.ReducedRVE.save`), or ``None``.
        law: ``"key=value,..."`` of a single-scale law.
        key: ``"[[material]] #i"`` (1-based), for messages.
        image: the keyword arguments of
            :func:`~dolfinx_multiscale.geometry.microstructures.from_image` for an image
            ``rve`` (``voxel_size``, ``threshold``, ``roi``, ``coarsen``, ``shape``,
            ``dtype``; empty for a ``.msh``).
    """

    where: int | str
    rve: Path | None
    bc: str
    phases: dict
    reduced: Path | None
    law: str | None
    key: str
    image: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BoundaryLoad:
    """One ``[[dirichlet]]`` or ``[[traction]]``.

    Attributes:
        boundary: a built-in boundary name, or a facet group tag (int) or name (str).
        value: the vector ``(d,)`` or, with ``component``, one number.
        component: the prescribed component (``None``: all).
        scale_with_load: multiply ``value`` by the load factor.
        key: ``"[[dirichlet]] #i"`` / ``"[[traction]] #i"`` (1-based), for messages.
    """

    boundary: int | str
    value: tuple | float
    component: int | None
    scale_with_load: bool
    key: str


@dataclass(frozen=True)
class RunSpec:
    """A validated run file.

    Attributes:
        path: the run file.
        macro, materials, dirichlet, tractions: as above.
        factors: the load factors of the steps, in order.
        max_cuts: step halvings allowed per step.
        reactions: boundaries whose reactions are reported.
        fields_every: field output cadence in steps.
        newton: keyword arguments of the macro ``NewtonSolver``.
        digest: sha256 of the parsed contents (a checkpoint belongs to one run file).
    """

    path: Path
    macro: MacroSpec
    materials: tuple
    dirichlet: tuple
    tractions: tuple
    factors: tuple
    max_cuts: int = 6
    reactions: tuple = ()
    fields_every: int = 1
    newton: dict = field(default_factory=dict)
    digest: str = ""


class _Table:
    """Typed reads from one TOML table, with errors naming ``file: [table] key``."""

    def __init__(self, path: Path, name: str, data, accepted: tuple[str, ...]):
        self.path, self.name = path, name
        if not isinstance(data, dict):
            raise self.error(None, f"must be a table, got {type(data).__name__}")
        unknown = sorted(set(data) - set(accepted))
        if unknown:
            raise self.error(unknown[0], f"unknown key; accepted: {', '.join(sorted(accepted))}")
        self.data = data

    def error(self, key: str | None, message: str) -> RunFileError:
        return RunFileError(f"{self.path.name}: {self.name}{f' {key}' if key else ''}: {message}")

    def get(self, key: str, kind, default=..., check=None, expected: str = ""):
        """``data[key]`` of type ``kind`` (a type or tuple; bool is never a number),
        optionally validated by ``check(value) -> bool``."""
        if key not in self.data:
            if default is ...:
                raise self.error(key, f"missing; expected {expected or _kind_name(kind)}")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok or (check is not None and not check(value)):
            raise self.error(key, f"expected {expected or _kind_name(kind)}; got {value!r}")
        return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _finite(value) -> bool:
    """A number (not a bool) that is finite (TOML has ``nan`` and ``inf``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value, length: int | None = None) -> bool:
    return isinstance(value, list) and (length is None or len(value) == length) and all(map(_finite, value))


def _macro(path: Path, data) -> MacroSpec:
    t = _Table(path, "[macro]", data, ("mesh", "corners", "cells", "diagonal", "degree", "quadrature_degree",
                                     "kinematics"))
    mesh = t.get("mesh", str, expected='"rectangle", "box" or a .msh path')
    degree = t.get("degree", int, 1, lambda v: v in (1, 2), "1 or 2")
    quadrature = t.get("quadrature_degree", int, max(2 * (degree - 1), 1),
                       lambda v: v >= max(2 * (degree - 1), 1), f"an integer >= {max(2 * (degree - 1), 1)} "
                       f"(degree {degree} displacements)")
    kin = t.get("kinematics", str, "small", lambda v: v in ("small", "finite"), '"small" or "finite"')
    if mesh in ("rectangle", "box"):
        dim = 2 if mesh == "rectangle" else 3
        corners = t.get("corners", list, check=lambda v: len(v) == 2 and all(_numbers(c, dim) for c in v),
                        expected=f"two corners of {dim} numbers, e.g. {[[0] * dim, [1] * dim]}")
        if any(a >= b for a, b in zip(*corners)):
            raise t.error("corners", f"the first corner must be below the second on every axis; got {corners}")
        cells = t.get("cells", list, check=lambda v: len(v) == dim and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v),
            expected=f"{dim} integers >= 1")
        diagonal = t.get("diagonal", str, "right", lambda v: v in _DIAGONALS, f"one of {', '.join(_DIAGONALS)}")
        if dim == 3 and "diagonal" in t.data:
            raise t.error("diagonal", 'applies to mesh = "rectangle" only')
        return MacroSpec(mesh, tuple(map(tuple, corners)), tuple(cells), diagonal, degree, quadrature, kin, dim)
    for key in ("corners", "cells", "diagonal"):
        if key in t.data:
            raise t.error(key, 'applies to mesh = "rectangle" or "box" only, not to a .msh file')
    msh = (path.parent / mesh).resolve()
    if msh.suffix != ".msh":
        raise t.error("mesh", f'expected "rectangle", "box" or a .msh path; got {mesh!r}')
    if not msh.is_file():
        raise t.error("mesh", f"file {str(msh)!r} does not exist")
    return MacroSpec(msh, degree=degree, quadrature_degree=quadrature, kinematics=kin)


def _material(path: Path, i: int, data, physics: str) -> MaterialSpec:
    key = f"[[material]] #{i + 1}"
    t = _Table(path, key, data, ("where", "rve", "bc", "phases", "reduced", "law", *_IMAGE_KEYS))
    where = t.get("where", (str, int), "all", expected='"all", a cell group tag or name')
    if ("rve" in t.data) == ("law" in t.data):
        raise t.error(None, "give either rve = \"cell.msh\" (with phases) or law = \"model=...,E=..,nu=..\"")
    if "law" in t.data:
        for extra in ("bc", "phases", "reduced", *_IMAGE_KEYS):
            if extra in t.data:
                raise t.error(extra, "goes with rve, not with law")
        law = t.get("law", str)
        _check_law(t, "law", law, physics)
        return MaterialSpec(where, None, "periodic", {}, None, law, key)
    rve = (path.parent / t.get("rve", str, expected="a .msh or image path")).resolve()
    if not rve.is_file():
        raise t.error("rve", f"expected an existing .msh or image file; got {str(rve)!r}")
    image = {name: t.get(name, kind, check=check, expected=expected)
             for name, (kind, check, expected) in _IMAGE_KEYS.items() if name in t.data}
    if image and rve.suffix == ".msh":
        raise t.error(next(iter(image)), "applies to an image rve, not to a .msh")
    bc = t.get("bc", str, "periodic", lambda v: v in _BCS, f"one of {', '.join(_BCS)}")
    phases_raw = t.get("phases", dict, expected='a table like { 1 = "E=1,nu=0.3", 2 = "E=10,nu=0.3" }')
    phases = {}
    for tag, text in phases_raw.items():
        try:
            tag_value = int(tag)
        except ValueError:
            raise t.error(f"phases.{tag}", "phase keys are the RVE's cell tags (integers)") from None
        if not isinstance(text, str):
            raise t.error(f"phases.{tag}", f'expected a string like "E=1,nu=0.3"; got {text!r}')
        _check_law(t, f"phases.{tag}", text, physics)
        phases[tag_value] = text
    if not phases:
        raise t.error("phases", "is empty")
    reduced = None
    if "reduced" in t.data:
        reduced = (path.parent / t.get("reduced", str, expected="a .npz path")).resolve()
        if reduced.suffix != ".npz" or not reduced.is_file():
            raise t.error("reduced", f"expected an existing .npz file (ReducedRVE.save); got {str(reduced)!r}")
    return MaterialSpec(where, rve, bc, phases, reduced, None, key, image)


#: the image keys of a [[material]] (``from_image``'s arguments): type, check, what is expected
_IMAGE_KEYS = {
    "voxel_size": ((int, float, list), lambda v: _finite(v) and v > 0 or _numbers(v) and all(h > 0 for h in v),
                   "a number > 0 or one per axis [hx, hy(, hz)]"),
    "threshold": ((int, float, list), lambda v: _finite(v) or _numbers(v) and bool(v),
                  "a number or an increasing list of numbers"),
    "roi": (list, lambda v: all(_numbers(r, 2) for r in v), "[[start, stop], ...] per array axis"),
    "coarsen": (int, lambda v: v >= 1, "an integer >= 1"),
    "shape": (list, lambda v: all(isinstance(n, int) and n >= 1 for n in v), "the .raw shape, integers >= 1"),
    "dtype": (str, None, 'the .raw voxel type, e.g. "uint8"'),
}


def _check_law(t: _Table, key: str, text: str, physics: str) -> None:
    try:
        material_from_parameters(parse_parameters(text, key), physics, what=key)
    except ValueError as exc:
        raise t.error(key, str(exc).removeprefix(f"{key}: ")) from None


def _boundary_load(path: Path, kind: str, i: int, data, dim: int | None) -> BoundaryLoad:
    key = f"[[{kind}]] #{i + 1}"
    t = _Table(path, key, data, ("boundary", "value", "component", "scale_with_load"))
    boundary = t.get("boundary", (str, int), expected="a boundary name or facet group tag")
    component = t.get("component", int, None, lambda v: v >= 0 and (dim is None or v < dim),
                      f"an integer in [0, {dim})" if dim else "an integer >= 0")
    if component is None:
        value = t.get("value", list, check=lambda v: _numbers(v, dim),
                      expected=f"a vector of {dim or 'd'} finite numbers")
        value = tuple(float(x) for x in value)
    else:
        value = float(t.get("value", (int, float), check=_finite, expected="a finite number (with component)"))
    scale = t.get("scale_with_load", bool, False)
    return BoundaryLoad(boundary, value, component, scale, key)


def _loading(path: Path, data) -> tuple[tuple, int]:
    t = _Table(path, "[loading]", data, ("factors", "ramp", "max_cuts"))
    max_cuts = t.get("max_cuts", int, 6, lambda v: v >= 0, "an integer >= 0")
    if ("factors" in t.data) == ("ramp" in t.data):
        raise t.error(None, "give either factors = [...] or ramp = { to = 1.0, steps = 10, unload = false }")
    if "factors" in t.data:
        factors = t.get("factors", list, check=lambda v: bool(v) and _numbers(v),
                        expected="a non-empty list of finite numbers")
        return tuple(float(f) for f in factors), max_cuts
    ramp = _Table(path, "[loading] ramp", t.data["ramp"], ("to", "steps", "unload"))
    to = float(ramp.get("to", (int, float), check=_finite, expected="a finite number"))
    steps = ramp.get("steps", int, check=lambda v: v >= 1, expected="an integer >= 1")
    unload = ramp.get("unload", bool, False)
    up = [to * (k + 1) / steps for k in range(steps)]
    down = [to * (steps - k - 1) / steps for k in range(steps)] if unload else []
    return tuple(up + down), max_cuts


def read_run(path: str | Path) -> RunSpec:
    """Read and validate the run file ``path``.

    Raises:
        RunFileError: missing file, invalid TOML, or any key of the wrong type or value
            (unknown keys too); the message names the key and what is accepted.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RunFileError(f"run file {str(path)!r} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path.name}: not valid TOML: {exc}") from None
    top = _Table(path, "run file", raw, ("macro", "material", "dirichlet", "traction", "loading", "output",
                                         "newton"))
    for needed in ("macro", "material", "loading"):
        if needed not in raw:
            raise top.error(needed, "missing table")
    macro = _macro(path, raw["macro"])
    physics = "finite" if macro.kinematics == "finite" else "elasticity"
    tables = {}
    for name in ("material", "dirichlet", "traction"):
        items = raw.get(name, [])
        if not isinstance(items, list):
            raise top.error(name, f"write it as [[{name}]] (an array of tables)")
        tables[name] = items
    if not tables["material"]:
        raise top.error("material", "give at least one [[material]]")
    materials = tuple(_material(path, i, m, physics) for i, m in enumerate(tables["material"]))
    wheres = [m.where for m in materials]
    if len(set(map(str, wheres))) != len(wheres) or ("all" in wheres and len(wheres) > 1):
        raise top.error("material", f"each cell needs exactly one material; got where = {wheres}")
    dirichlet = tuple(_boundary_load(path, "dirichlet", i, b, macro.dim) for i, b in enumerate(tables["dirichlet"]))
    tractions = tuple(_boundary_load(path, "traction", i, b, macro.dim) for i, b in enumerate(tables["traction"]))
    if not dirichlet:
        raise top.error("dirichlet", "give at least one [[dirichlet]] (the macro problem needs supports)")
    factors, max_cuts = _loading(path, raw["loading"])
    out = _Table(path, "[output]", raw.get("output", {}), ("reactions", "fields_every"))
    reactions = out.get("reactions", list, [], lambda v: all(isinstance(b, (str, int)) and not isinstance(b, bool)
                                                              for b in v), "a list of boundary names or tags")
    fields_every = out.get("fields_every", int, 1, lambda v: v >= 1, "an integer >= 1")
    newton = _Table(path, "[newton]", raw.get("newton", {}), ("rtol", "atol", "max_iterations"))
    newton_kwargs = {k: newton.get(k, kind, check=lambda v: v > 0, expected=f"a {kind.__name__} > 0")
                     for k, kind in (("rtol", float), ("atol", float), ("max_iterations", int)) if k in newton.data}
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return RunSpec(path.resolve(), macro, materials, dirichlet, tractions, factors, max_cuts,
                   tuple(reactions), fields_every, newton_kwargs, digest)
