"""The macro problem of a run file: mesh, boundaries, materials, forms, supports, loads.

:func:`build_problem` turns a :class:`~dolfinx_multiscale.runs.spec.RunSpec` into a
:class:`MacroProblem`, the same objects a user writes in a DOLFINx script::

    u ∈ V = [P_k]^d,    F(u; v) = Σ_m ∫_{Ω_m} S_m(u) : G(v) dX − Σ_t ∫_{Γ_t} λ t̄·v dS

with ``S = σ`` (Mandel quadrature stress of the material, ``G = sym grad``) at small
strain and ``S = P``, ``G = Grad`` at finite strain (total Lagrangian), the Jacobian
from the materials' consistent tangents, and Dirichlet values ``λ ū`` on the supports
(``λ`` the load factor where ``scale_with_load``). The reaction of a boundary is the sum,
per component, of the assembled residual ``F(u; φ_i)`` over its dofs: the force the
support exerts on the body (a force per unit thickness in 2-D).

Boundaries: the built-in rectangle/box names its sides ``left/right/bottom/top`` (and
``back/front`` in 3-D), facet tags 1–6 in that order; a ``.msh`` macro mesh uses its
facet physical groups, by tag or name. Materials live on ``"all"`` cells or on a cell
physical group; every cell must get exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx.fem as fem
import dolfinx.mesh
import ufl

from ..cell.rve import RVE
from ..geometry.meshing import msh_dimension
from ..geometry.microstructures import from_image, read_msh
from ..kinematics import FINITE_STRAIN, SMALL_STRAIN
from ..macro.fe2 import FE2Material, cyclic_partitioner
from ..macro.newton import NewtonSolver
from ..macro.quadrature import LocalMaterial, derivative
from ..materials.spec import material_from_parameters, parse_parameters
from ..studies.reduction import ReducedRVE
from .spec import BOX_BOUNDARIES, RunFileError, RunSpec

__all__ = ["MacroProblem", "build_problem"]


@dataclass
class MacroProblem:
    """A built run: what the driver steps and the checkpoints save.

    Attributes:
        spec: the run file.
        mesh: the macro mesh; ``V``, ``u``: displacement space and Function.
        materials: the quadrature materials, in run-file order.
        solver: the macro :class:`~dolfinx_multiscale.macro.newton.NewtonSolver`.
        residual: the compiled residual form (reactions).
        loads: ``[(constant, value, scale_with_load)]`` set by :meth:`set_load`.
        reaction_dofs: ``{name: [owned dofs of component i]}`` of the reported boundaries.
    """

    spec: RunSpec
    mesh: dolfinx.mesh.Mesh
    V: fem.FunctionSpace
    u: fem.Function
    materials: list
    solver: NewtonSolver
    residual: fem.Form
    loads: list
    reaction_dofs: dict

    def set_load(self, factor: float) -> None:
        """Set every Dirichlet value and traction for the load factor ``factor``."""
        for constant, value, scaled in self.loads:
            constant.value = np.asarray(value) * (factor if scaled else 1.0)

    def reactions(self) -> dict[str, list[float]]:
        """``{boundary: [F_x, F_y(, F_z)]}``: the assembled residual summed over each
        reported boundary's dofs per component, on all ranks."""
        b = fem.assemble_vector(self.residual)
        b.scatter_reverse(dolfinx.la.InsertMode.add)
        out = {}
        for name, dofs in self.reaction_dofs.items():
            local = np.array([b.array[d].sum() for d in dofs])
            out[name] = self.mesh.comm.allreduce(local, op=MPI.SUM).tolist()
        return out


def _builtin_mesh(spec: RunSpec, comm: MPI.Comm, partitioner):
    m = spec.macro
    if m.dim == 2:
        mesh = dolfinx.mesh.create_rectangle(comm, m.corners, m.cells, partitioner=partitioner,
                                             diagonal=dolfinx.mesh.DiagonalType[m.diagonal.replace("/", "_")])
    else:
        mesh = dolfinx.mesh.create_box(comm, m.corners, m.cells, partitioner=partitioner)
    fdim = m.dim - 1
    facets, values = [], []
    for tag, (name, (axis, side)) in enumerate(BOX_BOUNDARIES.items(), start=1):
        if axis >= m.dim:
            continue
        found = dolfinx.mesh.locate_entities_boundary(
            mesh, fdim, lambda x, a=axis, c=m.corners[side][axis]: np.isclose(x[a], c))
        facets.append(found)
        values.append(np.full(found.size, tag, dtype=np.int32))
    facets, values = np.concatenate(facets), np.concatenate(values)
    order = np.argsort(facets)
    facet_tags = dolfinx.mesh.meshtags(mesh, fdim, facets[order], values[order])
    names = {name: tag for tag, (name, (axis, _)) in enumerate(BOX_BOUNDARIES.items(), start=1) if axis < m.dim}
    return mesh, None, facet_tags, {}, names


def _msh_mesh(spec: RunSpec, comm: MPI.Comm, partitioner):
    from dolfinx.io import gmsh as gmshio

    path = spec.macro.mesh
    try:
        dim = msh_dimension(path, comm)
    except ValueError as exc:
        raise RunFileError(f"{spec.path.name}: [macro] mesh: {exc}") from None
    if dim not in (2, 3):
        raise RunFileError(f"{spec.path.name}: [macro] mesh: {path.name} has no 2-D or 3-D cells")
    data = gmshio.read_from_msh(path, comm, 0, gdim=dim, partitioner=partitioner)
    groups = data.physical_groups
    cell_names = {name: g.tag for name, g in groups.items() if g.dim == dim}
    facet_names = {name: g.tag for name, g in groups.items() if g.dim == dim - 1}
    return data.mesh, data.cell_tags, data.facet_tags, cell_names, facet_names


def _tag(spec: RunSpec, comm: MPI.Comm, key: str, value, tags, names: dict, kind: str) -> int:
    """The tag of group ``value`` (name or tag), checked to exist on the mesh."""
    tag = names.get(value) if isinstance(value, str) else value
    present: set = set()
    if tags is not None:
        present = set().union(*comm.allgather(set(np.unique(tags.values).tolist())))
    if tag not in present:
        raise RunFileError(f"{spec.path.name}: {key}: the mesh has no {kind} {value!r}; it has "
                           f"{sorted(names) or 'no names'} (tags {sorted(present)})")
    return int(tag)


def _cell(spec: RunSpec, m, force: bool):
    """The RVE's microstructure: its ``.msh`` or its image (on ``MPI.COMM_SELF``)."""
    try:
        if m.rve.suffix == ".msh":
            return read_msh(m.rve, comm=MPI.COMM_SELF)
        return from_image(m.rve, comm=MPI.COMM_SELF, force=force, **m.image)
    except ValueError as exc:
        raise RunFileError(f"{spec.path.name}: {m.key} rve: {exc}") from None


def _material(spec: RunSpec, m, mesh, subdomain, kin, force: bool):
    physics = "finite" if kin is FINITE_STRAIN else "elasticity"
    q = spec.macro.quadrature_degree
    if m.law is not None:
        law = material_from_parameters(parse_parameters(m.law, f"{m.key} law"), physics, what=f"{m.key} law")
        return LocalMaterial(law, mesh, q, subdomain)
    laws = {tag: material_from_parameters(parse_parameters(text), physics, what=f"phase {tag}")
            for tag, text in m.phases.items()}
    micro = _cell(spec, m, force)
    try:
        rve = RVE(micro, laws, bc=m.bc)
    except ValueError as exc:
        raise RunFileError(f"{spec.path.name}: {m.key} phases: {exc}") from None
    if m.reduced is not None:
        try:
            rve = ReducedRVE.load(m.reduced, rve)
        except (ValueError, KeyError, OSError) as exc:
            raise RunFileError(f"{spec.path.name}: {m.key} reduced: {exc}") from None
    return FE2Material(rve, mesh, q, subdomain)


def build_problem(spec: RunSpec, comm: MPI.Comm = MPI.COMM_WORLD, force: bool = False) -> MacroProblem:
    """Build the macro problem of ``spec`` on ``comm``.

    ``force``: build an image RVE even if it needs more memory than the machine has.

    FE² materials get an RVE workspace per rank (``MPI.COMM_SELF``); with more than one
    rank and an RVE the macro mesh is partitioned by
    :func:`~dolfinx_multiscale.macro.fe2.cyclic_partitioner` (balance).

    Raises:
        RunFileError: a boundary, cell group or RVE phase the meshes lack, cells without
            a material, a vector of the wrong length for the mesh.
    """
    fe2 = any(m.rve is not None for m in spec.materials)
    partitioner = cyclic_partitioner() if fe2 and comm.size > 1 else None
    builder = _msh_mesh if isinstance(spec.macro.mesh, Path) else _builtin_mesh
    mesh, cell_tags, facet_tags, cell_names, facet_names = builder(spec, comm, partitioner)
    d = mesh.geometry.dim
    kin = FINITE_STRAIN if spec.macro.kinematics == "finite" else SMALL_STRAIN
    V = fem.functionspace(mesh, ("Lagrange", spec.macro.degree, (d,)))
    u = fem.Function(V, name="displacement")
    v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
    grad_v = ufl.grad(v) if kin is FINITE_STRAIN else ufl.sym(ufl.grad(v))

    materials, F, covered = [], 0, 0
    n_cells = mesh.topology.index_map(d).size_global
    for m in spec.materials:
        if m.where == "all":
            subdomain, tag = None, None
        else:
            if cell_tags is None:
                raise RunFileError(f"{spec.path.name}: {m.key} where: the built-in {spec.macro.mesh} has no cell "
                                   'groups; use where = "all" or a .msh mesh')
            tag = _tag(spec, mesh.comm, f"{m.key} where", m.where, cell_tags, cell_names, "cell group")
            subdomain = (cell_tags, tag)
        material = _material(spec, m, mesh, subdomain, kin, force)
        materials.append(material)
        F = F + ufl.inner(material.stress(u), grad_v) * (material.dx if tag is None else material.dx(tag))
        covered += mesh.comm.allreduce(material.cells.size, op=MPI.SUM)
    if covered != n_cells:
        raise RunFileError(f"{spec.path.name}: [[material]]: {n_cells - covered} of the {n_cells} macro cells have "
                           "no material (add a [[material]] for their cell group, or use where = \"all\")")

    fdim = d - 1
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
    loads, bcs = [], []
    for b, support in [(b, True) for b in spec.dirichlet] + [(b, False) for b in spec.tractions]:
        tag = _tag(spec, mesh.comm, f"{b.key} boundary", b.boundary, facet_tags, facet_names, "boundary")
        facets = facet_tags.find(tag)
        vector = b.component is None
        if vector and len(b.value) != d:
            raise RunFileError(f"{spec.path.name}: {b.key} value: expected {d} numbers for the {d}-D mesh; "
                               f"got {list(b.value)}")
        if not vector and b.component >= d:
            raise RunFileError(f"{spec.path.name}: {b.key} component: expected 0..{d - 1}; got {b.component}")
        constant = fem.Constant(mesh, np.zeros(d) if vector else 0.0)
        loads.append((constant, b.value, b.scale_with_load))
        if support:
            space = V if vector else V.sub(b.component)
            bcs.append(fem.dirichletbc(constant, fem.locate_dofs_topological(space, fdim, facets), space))
        else:
            t = constant if vector else constant * ufl.unit_vector(b.component, d)
            F = F - ufl.inner(t, v) * ds(tag)
    J = derivative(F, u, du, materials)
    solver = NewtonSolver(F, J, u, bcs, materials, **spec.newton)

    n_owned = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
    reaction_dofs = {}
    for name in spec.reactions:
        tag = _tag(spec, mesh.comm, "[output] reactions", name, facet_tags, facet_names, "boundary")
        facets = facet_tags.find(tag)
        dofs = [fem.locate_dofs_topological(V.sub(i), fdim, facets) for i in range(d)]
        reaction_dofs[str(name)] = [x[x < n_owned] for x in dofs]
    problem = MacroProblem(spec, mesh, V, u, materials, solver, fem.form(F), loads, reaction_dofs)
    problem.set_load(0.0)
    return problem
