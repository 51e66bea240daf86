r"""Scale separation and time-scale separation: homogenized models against resolved ones.

Homogenization replaces a body made of ``(L/ℓ) × (H/ℓ)`` periodic cells of size ``ℓ`` by
a homogeneous body with the effective tensor ``C_eff`` of one cell. It is exact only in
the limit ``ε = ℓ/H → 0``; this module measures how fast the homogenized answer
approaches the truth and where it does not.

**Scale separation** (:func:`dns_vs_homogenized`). The macro problem is a plane-strain
cantilever plate ``[0, L] × [0, H]`` (default ``L = 2``, ``H = 1``): clamped at ``x = 0``,
its end ``x = L`` displaced by ``u_y = δ`` (``u_x`` free), top and bottom traction-free.
For each ``ε`` the *direct numerical simulation* (DNS) resolves every cell: the mesh is
the RVE mesh tiled ``(L/ℓ) × (H/ℓ)`` times (:func:`tile_microstructure`), so the DNS and
the RVE share the same discretisation of a cell and the comparison measures the
modelling error of homogenization alone, not a difference of cell meshes. The
homogenized answer is the same macro problem with ``C_eff`` everywhere (``C_eff`` from
the periodic RVE), solved

* on the DNS mesh (so the macro discretisation error is common to both and cancels to
  leading order): the reaction, the ``L²`` displacement error and the cell-averaged
  stresses below compare these two;
* by FE² on a coarse macro mesh (``FE2Material`` with the linear RVE — for a linear
  micro model FE² is the homogenized solve with ``C_eff``, factorized once): its reaction
  is reported too; its gap to the fine homogenized reaction is the macro discretisation
  error of the coarse mesh.

Measured per ``ε``: the reaction error ``|R_ε − R_0|/|R_0|``, the displacement error
``‖u_ε − u_0‖_{L²}/‖u_0‖_{L²}``, and the *cell-averaged* stress error
``|⟨σ_ε⟩_Y − ⟨σ_0⟩_Y| / max_Y |⟨σ_0⟩_Y|`` of every cell ``Y`` (the micro stress
oscillates at the cell scale, so only its cell averages can converge). The last one
shows the boundary layer: in the interior it falls like ``ε``; in the outer layer of
cells it does not fall — along the clamp (which forbids the periodic fluctuation) and
along the free edges (where the traction-free condition cuts the periodic stress field),
the homogenized field is not the cell average of the true one, whatever ``ε``.
Homogenization theory predicts ``O(ε)`` for the reaction (the boundary layer has width
``~ℓ`` and carries an ``O(1)`` relative energy error) and for ``‖u_ε − u_0‖_{L²}``.

**Time-scale separation** (:func:`time_scale_separation`). The hierarchical FE²
assumption: the micro-structure settles into its new equilibrium almost instantaneously
compared with the rate at which the macro loads change. With a viscoelastic matrix
(:class:`~dolfinx_multiscale.materials.viscoelasticity.GeneralizedMaxwell`, relaxation time
``τ``), the equilibrium the micro-structure settles into for a fixed macro strain is the
*relaxed* one, so the quasi-static (instantaneous-equilibrium) model is the homogenized
elastic body with the relaxed effective tensor ``C_eff^∞``. The macro load is a ramp of
the end deflection over the time ``T`` held for another ``T``. The fully resolved
transient reference is the DNS of the same heterogeneous viscoelastic plate integrated
in time (exact exponential integrator, step ``T/steps``): it resolves the micro geometry
and the micro relaxation. Inertia is neglected everywhere (the loading is slow compared
with elastic wave transit), so ``τ`` and ``T`` are the only time scales. Also run: FE²
with the viscoelastic RVE time-stepped with the same ``dt`` (micro transient resolved at
every macro point) and, on the same coarse macro mesh, FE² with the relaxed RVE; their
difference is the pure time-scale-separation error, free of spatial and discretisation
errors. The quasi-static error grows with ``τ/T`` (like ``τ/T`` when it is small, to the
glassy/relaxed stiffness gap when it is large); the transient FE² stays at the level of
the spatial (``ε``) and coarse-mesh errors for every ratio.

Everything is MPI-parallel: the DNS meshes and macro meshes are distributed over the
given communicator, RVEs live on ``MPI.COMM_SELF``; the numbers do not depend on the
number of ranks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

from mpi4py import MPI

import numpy as np
import numpy.typing as npt

import dolfinx.fem as fem
import dolfinx.fem.petsc
import dolfinx.mesh
import ufl

from ..cell.rve import RVE
from ..kinematics import mandel_strain
from ..macro.problems import Beam, cantilever_bcs
from ..materials import LinearElastic
from ..tensors import mandel_size
from .verification import observed_rate

__all__ = [
    "DNSFields",
    "TiledMicrostructure",
    "dns_vs_homogenized",
    "tile_microstructure",
    "time_scale_separation",
]

_log = logging.getLogger(__name__)
_DIRECT = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}


# --------------------------------------------------------------------------------------
# Tiling a periodic cell into a fully resolved macro mesh
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class TiledMicrostructure:
    """A fully resolved heterogeneous body: a periodic cell mesh repeated on a grid.

    Attributes:
        mesh: the DOLFINx mesh (distributed over the communicator it was made on).
        cell_tags: phase of every local cell (owned and ghost), as in the cell.
        tile: ``(n_local_cells,)`` index of the cell copy (tile) each local mesh cell
            belongs to, C order over ``repeats`` (``tile = i·n_y + j`` in 2-D).
        repeats: number of copies along each axis.
        tile_size: ``(d,)`` size of one copy (the cell box times ``scale``).
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    tile: npt.NDArray[np.int64]
    repeats: tuple[int, ...]
    tile_size: npt.NDArray[np.float64]

    @property
    def n_tiles(self) -> int:
        """Number of cell copies."""
        return int(np.prod(self.repeats))

    def tile_centres(self) -> npt.NDArray[np.float64]:
        """``(n_tiles, d)`` centres of the copies (the body's lower corner is the origin)."""
        idx = np.array(np.unravel_index(np.arange(self.n_tiles), self.repeats)).T
        return (idx + 0.5) * self.tile_size


@dataclasses.dataclass(frozen=True, eq=False)
class DNSFields:
    """The fields of one DNS-versus-homogenized comparison, kept for pictures.

    ``dns_vs_homogenized(..., return_fields=True)`` returns them for its last ``ε``;
    :func:`~dolfinx_multiscale.viz.plot_scale_separation_fields` draws them.

    Attributes:
        tiled: the DNS body (mesh, phases, cell copies).
        u_dns: the DNS displacement ``u_ε`` (P1, on ``tiled.mesh``).
        u_homogenized: the homogenized displacement ``u_0`` on the same mesh.
        tile_error: ``(n_tiles,)`` cell-averaged stress error of every cell copy,
            ``|⟨σ_ε⟩_Y − ⟨σ_0⟩_Y| / max_Y |⟨σ_0⟩_Y|``.
    """

    tiled: TiledMicrostructure
    u_dns: fem.Function
    u_homogenized: fem.Function
    tile_error: npt.NDArray[np.float64]

    def cell_fields(self) -> dict[str, npt.NDArray[np.float64]]:
        """Per owned mesh cell: ``"phase"``, ``"displacement error"``
        (``|u_ε − u_0|`` at the cell, over ``max|u_0|``) and ``"cell-averaged stress
        error"`` (the value of the cell's copy). Collective over the mesh's communicator.
        """
        tiled, u_dns, u_hom = self.tiled, self.u_dns, self.u_homogenized
        mesh = tiled.mesh
        n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
        DG0 = fem.functionspace(mesh, ("DG", 0))
        err = fem.Function(DG0)
        diff = u_dns - u_hom
        err.interpolate(fem.Expression(ufl.sqrt(ufl.inner(diff, diff)), DG0.element.interpolation_points))
        u_max = mesh.comm.allreduce(np.abs(u_hom.x.array).max(initial=0.0), op=MPI.MAX)
        dofs = DG0.dofmap.list[:n_owned].reshape(-1)
        phase = np.zeros(n_owned)
        phase[tiled.cell_tags.indices[tiled.cell_tags.indices < n_owned]] = \
            tiled.cell_tags.values[tiled.cell_tags.indices < n_owned]
        return {"phase": phase, "displacement error": err.x.array[dofs] / u_max,
                "cell-averaged stress error": self.tile_error[tiled.tile[:n_owned]]}


def tile_microstructure(micro, repeats: Sequence[int], scale: float = 1.0,
                        comm: MPI.Comm = MPI.COMM_WORLD) -> TiledMicrostructure:
    """Repeat a periodic cell mesh on a grid: the mesh of a fully resolved (DNS) body.

    The cell mesh (P1 geometry, periodic: the nodes of opposite faces match, as for every
    generator of :mod:`~dolfinx_multiscale.geometry.microstructures`) is scaled by ``scale``,
    copied ``repeats[k]`` times along axis ``k`` and the coincident nodes of neighbouring
    copies are merged, giving a conforming mesh of ``[0, repeats·scale·lengths]`` whose
    every copy is the cell's mesh. Built on rank 0 of ``comm`` and distributed.

    Args:
        micro: the :class:`~dolfinx_multiscale.geometry.microstructures.Microstructure`; its mesh
            must live on a one-rank communicator (``MPI.COMM_SELF``).
        repeats: ``(n_x, n_y[, n_z])`` copies per axis, each ``≥ 1``.
        scale: length factor applied to the cell (copy size = ``scale · micro.lengths``).
        comm: communicator of the new mesh.

    Returns:
        The :class:`TiledMicrostructure`.

    Raises:
        ValueError: ``repeats`` or ``scale`` out of range, a distributed or curved
            cell mesh, or a cell mesh whose opposite faces do not match.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    cell_mesh = micro.mesh
    d = cell_mesh.geometry.dim
    if cell_mesh.comm.size != 1:
        raise ValueError("micro.mesh must live on a one-rank communicator (make it with comm=MPI.COMM_SELF)")
    repeats = tuple(int(r) for r in repeats)
    if len(repeats) != d or min(repeats) < 1:
        raise ValueError(f"repeats must be {d} integers >= 1; got {repeats}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be > 0 and finite; got {scale!r}")
    geom = cell_mesh.geometry
    nv = geom.dofmaps[0].shape[1]
    if nv != d + 1:
        raise ValueError(f"the cell mesh must be a P1 simplex mesh; its cells have {nv} nodes")
    lo = np.asarray(micro.box[0], dtype=float)[:d]
    lengths = (np.asarray(micro.box[1], dtype=float)[:d] - lo)
    tile_size = scale * lengths
    tdim = cell_mesh.topology.dim
    n_cells = cell_mesh.topology.index_map(tdim).size_local
    tags = np.zeros(n_cells, dtype=np.int32)
    tags[micro.cell_tags.indices] = micro.cell_tags.values
    tags = comm.bcast(tags if comm.rank == 0 else None, root=0)
    element = cell_mesh.ufl_domain().ufl_coordinate_element()

    if comm.rank == 0:
        x = (geom.x[:, :d] - lo) * scale
        cells = geom.dofmaps[0][:n_cells].astype(np.int64)
        n_nodes = x.shape[0]
        offsets = np.array(np.unravel_index(np.arange(int(np.prod(repeats))), repeats)).T * tile_size
        X = (x[None, :, :] + offsets[:, None, :]).reshape(-1, d)
        tol = 1e-8 * float(tile_size.min())
        pairs = cKDTree(X).query_pairs(r=tol, output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(X), len(X)))
        n_merged, labels = connected_components(graph, directed=False)
        nodes = np.empty((n_merged, d))
        nodes[labels] = X
        shifted = cells[None, :, :] + n_nodes * np.arange(len(offsets))[:, None, None]
        topology = labels[shifted].reshape(-1, nv)
        # a periodic cell leaves exactly the grid's interior face nodes merged
        expected_faces = sum((repeats[k] - 1) * np.prod([r for j, r in enumerate(repeats) if j != k])
                             for k in range(d))
        ok = n_merged < len(X) or expected_faces == 0
    else:
        nodes = np.empty((0, d))
        topology = np.empty((0, nv), dtype=np.int64)
        ok = True
    if not comm.bcast(ok, root=0):
        raise ValueError("no nodes of neighbouring copies coincide: is the cell mesh periodic?")
    mesh = dolfinx.mesh.create_mesh(comm, topology, ufl.Mesh(element), nodes)
    local = mesh.topology.index_map(tdim)
    n_local = local.size_local + local.num_ghosts
    original = np.asarray(mesh.topology.original_cell_index, dtype=np.int64)[:n_local]
    cell_tags = dolfinx.mesh.meshtags(mesh, tdim, np.arange(n_local, dtype=np.int32),
                                      tags[original % n_cells].astype(np.int32))
    # every merged face must be conforming: the mesh's exterior boundary area equals the body's
    fdim = tdim - 1
    mesh.topology.create_connectivity(fdim, tdim)
    ds = ufl.Measure("ds", domain=mesh)
    perimeter = mesh.comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(mesh, 1.0) * ds)), op=MPI.SUM)
    extent = np.array(repeats) * tile_size
    expected = 2 * sum(np.prod(np.delete(extent, k)) for k in range(d))
    if abs(perimeter - expected) > 1e-6 * expected:
        raise ValueError(f"the tiled mesh is not conforming (boundary measure {perimeter:.6g}, expected "
                         f"{expected:.6g}): the opposite faces of the cell mesh do not match")
    return TiledMicrostructure(mesh, cell_tags, original // n_cells, repeats, tile_size)


# --------------------------------------------------------------------------------------
# The macro problem: a plane-strain cantilever with a prescribed end deflection
# --------------------------------------------------------------------------------------
class _Cantilever:
    """``[0, L] × [0, H]``, clamped at ``x = 0``, ``u_y = δ`` at ``x = L`` (``u_x`` free):
    the conditions of :func:`~dolfinx_multiscale.macro.problems.cantilever_bcs`.

    Linear elastic solves with a Mandel stiffness ``C`` given as a UFL ``(n, n)`` operand
    (a Constant for the homogenized body, a DG0 Function for the DNS).
    """

    def __init__(self, mesh, length: float, prefix: str):
        self.mesh = mesh
        d = mesh.geometry.dim
        self.V = V = fem.functionspace(mesh, ("Lagrange", 1, (d,)))
        self.deflection = fem.Constant(mesh, 0.0)
        self.bcs, self.phi = cantilever_bcs(V, length, self.deflection)
        self.prefix = prefix

    def solve(self, C, deflection: float) -> fem.Function:
        """Displacement for the stiffness ``C`` (UFL ``(n, n)``) and end deflection ``δ``."""
        V = self.V
        du, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self.deflection.value = deflection
        a = ufl.inner(ufl.dot(C, mandel_strain(du)), mandel_strain(v)) * ufl.dx
        L = ufl.inner(fem.Constant(self.mesh, np.zeros(V.mesh.geometry.dim)), v) * ufl.dx
        problem = dolfinx.fem.petsc.LinearProblem(a, L, bcs=self.bcs, petsc_options=_DIRECT,
                                                  petsc_options_prefix=self.prefix)
        u = problem.solve()
        u.x.scatter_forward()
        problem.solver.destroy()
        return u

    def reaction(self, stress_mandel) -> float:
        """``∫ σ : ε(φ) dx`` (the end force per unit thickness) for a Mandel stress."""
        form = fem.form(ufl.inner(stress_mandel, mandel_strain(self.phi)) * ufl.dx)
        return self.mesh.comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM)


def _phase_stiffness(tiled: TiledMicrostructure, materials: dict) -> fem.Function:
    """DG0 ``(n, n)`` Function holding each cell's phase stiffness (Mandel)."""
    mesh = tiled.mesh
    d = mesh.geometry.dim
    n = mandel_size(d)
    W = fem.functionspace(mesh, ("DG", 0, (n, n)))
    C = fem.Function(W, name="C")
    values = C.x.array.reshape(-1, n * n)
    cells = tiled.cell_tags.indices
    dofs = W.dofmap.list[cells].reshape(-1)
    for tag, mat in materials.items():
        sel = tiled.cell_tags.values == tag
        values[dofs[sel]] = mat.matrix(d).reshape(-1)
    return C


def _tile_averages(tiled: TiledMicrostructure, stress_mandel) -> npt.NDArray[np.float64]:
    """``(n_tiles, n)`` averages ``|Y|⁻¹ ∫_Y σ dx`` of a Mandel stress over every copy."""
    mesh = tiled.mesh
    n = stress_mandel.ufl_shape[0]
    W = fem.functionspace(mesh, ("DG", 0, (n,)))
    vec = dolfinx.fem.petsc.assemble_vector(fem.form(ufl.inner(stress_mandel, ufl.TestFunction(W)) * ufl.dx))
    n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    dofs = W.dofmap.list[:n_owned].reshape(-1)
    with vec.localForm() as local:
        per_cell = local.array_r.reshape(-1, n)[dofs].copy()
    vec.destroy()
    sums = np.zeros((tiled.n_tiles, n))
    np.add.at(sums, tiled.tile[:n_owned], per_cell)
    return mesh.comm.allreduce(sums, op=MPI.SUM) / float(np.prod(tiled.tile_size))


def _l2(mesh, expr) -> float:
    return math.sqrt(mesh.comm.allreduce(fem.assemble_scalar(fem.form(ufl.inner(expr, expr) * ufl.dx)),
                                         op=MPI.SUM))


def _default_cell(comm_self=MPI.COMM_SELF):
    from ..geometry.microstructures import circular_inclusion

    return circular_inclusion(0.3, h=0.15, comm=comm_self)


_DEFAULT_MATRIX = LinearElastic(E=1.0, nu=0.3)
_DEFAULT_FIBRE = LinearElastic(E=10.0, nu=0.25)


def _check_grid(epsilon: float, length: float, height: float, scale_length: float) -> tuple[int, int]:
    """Copies ``(n_x, n_y)`` for a cell of height ``ε H``; they must be integers."""
    if not (0 < epsilon <= 1):
        raise ValueError(f"epsilon must be in (0, 1]; got {epsilon!r}")
    ny = 1.0 / epsilon
    nx = length / (epsilon * height * scale_length)
    if abs(ny - round(ny)) > 1e-9 or abs(nx - round(nx)) > 1e-9 * max(nx, 1.0):
        raise ValueError(f"epsilon = {epsilon!r} must give whole cells: H/(ε H) = {ny:g} across and "
                         f"L/(ε H · aspect) = {nx:g} along")
    return int(round(nx)), int(round(ny))


def dns_vs_homogenized(epsilons: Sequence[float] = (1 / 4, 1 / 8, 1 / 16), micro=None,
                       materials: dict | None = None, length: float = 2.0, height: float = 1.0,
                       deflection: float = 0.01, interior_distance: float = 0.25,
                       fe2_cells: int | None = 8, return_fields: bool = False,
                       comm: MPI.Comm = MPI.COMM_WORLD) -> dict | tuple[dict, DNSFields]:
    """Scale separation: homogenized (FE²) cantilever against its fully resolved DNS.

    See the module docstring for the problem and the measures. The cell is the RVE
    ``micro`` (default: 30 % circular fibres, ``h = 0.15``, a square fibre array, phase 1
    matrix ``E = 1, ν = 0.3``, phase 2 fibres ``E = 10, ν = 0.25``); a cell of height
    ``ε H`` is the copy size, so ``ε = ℓ/H`` is the ratio of the cell size to the
    smaller structure dimension.

    Args:
        epsilons: cell size over plate height; ``1/ε`` and ``L/(ε H)`` (times the cell's
            height/width ratio) must be whole numbers of cells. At least 2 values.
        micro: the periodic cell, its mesh on ``MPI.COMM_SELF``.
        materials: phase tag → linear elastic material (``LinearElastic``).
        length, height: the plate ``L × H``.
        deflection: end deflection ``δ`` (the problem is linear: errors do not depend
            on it).
        interior_distance: cells whose centres are at least this far from every edge
            form the "interior" group of the stress error.
        fe2_cells: cells along ``x`` of the coarse FE² macro mesh (P2); ``None`` skips it.
        return_fields: also return the :class:`DNSFields` of the last ``ε`` (the finest
            when ``epsilons`` decrease), e.g. for
            :func:`~dolfinx_multiscale.viz.plot_scale_separation_fields`.
        comm: communicator of the DNS and macro meshes.

    Returns:
        A JSON-serialisable dict: ``epsilon``, ``repeats``, ``n_dofs`` (DNS),
        ``C_eff`` (Mandel), ``reaction_dns``, ``reaction_homogenized`` (on the DNS
        mesh), ``reaction_error``, ``l2_error``, ``interior_stress_error``
        (cells at least ``interior_distance`` from every edge), ``boundary_stress_error``
        (the outer layer of cells, touching an edge) and ``clamped_stress_error`` (the
        cells at the clamp) — each the max over the group of the cell-averaged stress
        error —, ``rates`` (least-squares slopes in ``ε`` of these five),
        ``layer_error`` (per ``ε``: the max of the cell-averaged stress error over each
        layer of cells, the outer layer first, at the distances ``layer_distance`` of
        their centres from the boundary), ``fe2`` (the coarse FE² reaction,
        its error against each DNS and its gap to the fine homogenized reaction),
        ``n_ranks`` and ``wall_s``. With ``return_fields``: ``(report, fields)``.
    """
    from ..macro.fe2 import FE2Material

    t0 = time.perf_counter()
    epsilons = [float(e) for e in epsilons]
    if len(epsilons) < 2:
        raise ValueError(f"epsilons needs at least 2 values; got {epsilons}")
    micro = micro if micro is not None else _default_cell()
    materials = materials if materials is not None else {1: _DEFAULT_MATRIX, 2: _DEFAULT_FIBRE}
    if any(not getattr(m, "is_linear", False) for m in materials.values()):
        raise ValueError("materials must be linear elastic (time_scale_separation takes a viscoelastic "
                         "matrix)")
    lengths = micro.lengths
    aspect = float(lengths[0] / lengths[1])
    rve = RVE(micro, materials, bc="periodic", petsc_options_prefix="scale_sep_rve_")
    C_eff = comm.bcast(rve.effective_tensor() if comm.rank == 0 else None, root=0)
    # the RVE lives on COMM_SELF on every rank; rank 0's tensor is used everywhere

    report: dict = {"problem": (f"plane-strain cantilever {length:g} x {height:g}, clamped at x = 0, "
                                f"end deflection u_y = {deflection:g} at x = {length:g}"),
                    "epsilon": epsilons, "repeats": [], "n_dofs": [], "C_eff": C_eff.tolist(),
                    "volume_fractions": {str(k): v for k, v in micro.volume_fractions.items()},
                    "reaction_dns": [], "reaction_homogenized": [], "reaction_error": [],
                    "l2_error": [], "interior_stress_error": [], "boundary_stress_error": [],
                    "clamped_stress_error": [], "layer_distance": [], "layer_error": [],
                    "n_ranks": comm.size}
    last = None
    for k, eps in enumerate(epsilons):
        nx, ny = _check_grid(eps, length, height, aspect)
        scale = eps * height / float(lengths[1])
        tiled = tile_microstructure(micro, (nx, ny), scale=scale, comm=comm)
        problem = _Cantilever(tiled.mesh, length, prefix=f"scale_sep_{k}_")
        C_dns = _phase_stiffness(tiled, materials)
        C_hom = fem.Constant(tiled.mesh, C_eff)
        u_dns = problem.solve(C_dns, deflection)
        u_hom = problem.solve(C_hom, deflection)
        s_dns = ufl.dot(C_dns, mandel_strain(u_dns))
        s_hom = ufl.dot(C_hom, mandel_strain(u_hom))
        R_dns, R_hom = problem.reaction(s_dns), problem.reaction(s_hom)
        l2 = _l2(tiled.mesh, u_dns - u_hom) / _l2(tiled.mesh, u_hom)
        avg_dns, avg_hom = _tile_averages(tiled, s_dns), _tile_averages(tiled, s_hom)
        tile_err = np.linalg.norm(avg_dns - avg_hom, axis=1) / np.linalg.norm(avg_hom, axis=1).max()
        centres = tiled.tile_centres()
        dist = np.minimum(np.minimum(centres[:, 0], length - centres[:, 0]),
                          np.minimum(centres[:, 1], height - centres[:, 1]))
        interior = dist >= interior_distance - 1e-12
        clamped = centres[:, 0] < tiled.tile_size[0]
        i, j = np.unravel_index(np.arange(tiled.n_tiles), (nx, ny))
        layer = np.minimum(np.minimum(i, nx - 1 - i), np.minimum(j, ny - 1 - j))  # 0: touches an edge
        layers = np.arange(layer.max() + 1)
        profile = [float(tile_err[layer == k].max()) for k in layers]
        report["repeats"].append([nx, ny])
        report["n_dofs"].append(int(problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs))
        report["reaction_dns"].append(float(R_dns))
        report["reaction_homogenized"].append(float(R_hom))
        report["reaction_error"].append(abs(R_dns - R_hom) / abs(R_hom))
        report["l2_error"].append(float(l2))
        report["interior_stress_error"].append(float(tile_err[interior].max()) if interior.any()
                                               else float("nan"))
        report["boundary_stress_error"].append(profile[0])
        report["clamped_stress_error"].append(float(tile_err[clamped].max()))
        report["layer_distance"].append(((layers + 0.5) * eps * height).tolist())
        report["layer_error"].append(profile)
        _log.info("eps = %.4g: %d x %d cells, %d dofs, R_dns = %.6e, R_hom = %.6e, reaction error %.3e, "
                  "L2 error %.3e", eps, nx, ny, report["n_dofs"][-1], R_dns, R_hom,
                  report["reaction_error"][-1], l2)
        last = DNSFields(tiled, u_dns, u_hom, tile_err)
    report["rates"] = {key: observed_rate(epsilons, report[key]) for key in
                       ("reaction_error", "l2_error", "interior_stress_error", "boundary_stress_error",
                        "clamped_stress_error")
                       if all(np.isfinite(report[key])) and min(report[key]) > 0}
    if fe2_cells:
        beam = Beam(lambda m: FE2Material(RVE(micro, materials, petsc_options_prefix="scale_sep_fe2_rve_"), m,
                                          quadrature_degree=2),
                    dim=2, cells=int(fe2_cells), mode="bending", length=length, height=height, degree=2,
                    comm=comm, petsc_options_prefix="scale_sep_fe2_")
        R_fe2 = beam.run([deflection])[-1]["reaction"]
        report["fe2"] = {"cells": [int(fe2_cells), max(1, int(fe2_cells) // 2)], "degree": 2,
                         "reaction": float(R_fe2),
                         "reaction_error": [abs(r - R_fe2) / abs(R_fe2) for r in report["reaction_dns"]],
                         "gap_to_homogenized": [abs(R_fe2 - r) / abs(r)
                                                for r in report["reaction_homogenized"]]}
    report["wall_s"] = time.perf_counter() - t0
    return (report, last) if return_fields else report


# --------------------------------------------------------------------------------------
# Time-scale separation
# --------------------------------------------------------------------------------------
def _run_dns_transient(tiled, matrix, fibre, length, dt, deflections, comm, prefix):
    """DNS of the viscoelastic plate, steps ``dt`` to the end deflections
    ``deflections[1:]``; the end reactions."""
    from ..macro.newton import NewtonSolver
    from ..macro.quadrature import LocalMaterial

    mesh = tiled.mesh
    d = mesh.geometry.dim
    V = fem.functionspace(mesh, ("Lagrange", 1, (d,)))
    u = fem.Function(V, name="displacement")
    mats = [LocalMaterial(matrix, mesh, subdomain=(tiled.cell_tags, 1)),
            LocalMaterial(fibre, mesh, subdomain=(tiled.cell_tags, 2))]
    v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
    F = (ufl.inner(mats[0].stress(u), ufl.sym(ufl.grad(v))) * mats[0].dx(1)
         + ufl.inner(mats[1].stress(u), ufl.sym(ufl.grad(v))) * mats[1].dx(2))
    linear = {m.sigma_q: m.sigma_q + ufl.dot(m.tangent_q, mandel_strain(u)) for m in mats}
    J = ufl.derivative(ufl.replace(F, linear), u, du)
    delta_c = fem.Constant(mesh, 0.0)
    bcs, phi = cantilever_bcs(V, length, delta_c)
    reaction = fem.form(ufl.replace(F, {v: phi}))
    # dt is fixed along the run, so the Jacobian (C_∞ + Σ g_i C_i and the fibres) never
    # changes: the LU factorization of the first step serves every later solve
    from petsc4py import PETSc

    PETSc.Options()[prefix + "newton_ksp_reuse_preconditioner"] = True
    solver = NewtonSolver(F, J, u, bcs, mats, petsc_options_prefix=prefix + "newton_")
    out = []
    for delta in deflections[1:]:
        matrix.dt = dt
        delta_c.value = delta
        solver.solve()
        for m in mats:
            m.commit()
        out.append(comm.allreduce(fem.assemble_scalar(reaction), op=MPI.SUM))
    return np.array(out)


def time_scale_separation(ratios: Sequence[float] = (0.01, 0.1, 1.0), epsilon: float = 1 / 8,
                          micro=None, matrix=None, fibre=None, length: float = 2.0,
                          height: float = 1.0, deflection: float = 0.01, steps: int = 5,
                          fe2_cells: int = 4, fe2_degree: int = 2,
                          comm: MPI.Comm = MPI.COMM_WORLD) -> dict:
    """Time-scale separation: the quasi-static micro model against a transient reference.

    The cantilever of :func:`dns_vs_homogenized` with a viscoelastic matrix (default: the
    standard linear solid ``E_∞ = 1``, ``E_1 = 3``, ``τ = 1``, ``ν = 0.3``; elastic fibres
    ``E = 10``, ``ν = 0.25``): the end deflection is ramped to ``δ`` over the macro
    loading time ``T = τ/ratio`` and held for another ``T``; ``2·steps`` time steps of
    ``T/steps``. For each ratio ``τ/T`` (see the module docstring):

    * reference: the DNS (cell size ``ε H``), viscoelastic matrix integrated in time;
    * quasi-static homogenized model (micro equilibrium reached instantaneously, i.e. the
      relaxed micro-structure ``C_eff^∞``) on the DNS mesh;
    * transient FE²: the viscoelastic RVE time-stepped at every point of a coarse macro
      mesh (``fe2_cells``, degree ``fe2_degree``), and the quasi-static FE² (relaxed RVE)
      on the same macro mesh.

    Args:
        ratios: micro relaxation time over macro loading time, ``τ/T > 0``, at least 1.
        epsilon: cell size over plate height of the DNS.
        micro: the periodic cell (mesh on ``MPI.COMM_SELF``; phase 1 matrix, 2 fibres).
        matrix: the viscoelastic matrix
            (:class:`~dolfinx_multiscale.materials.viscoelasticity.GeneralizedMaxwell`; its
            ``dt`` is set by this driver); its largest ``τ_i`` is the micro time ``τ``.
        fibre: the fibre material (linear elastic).
        length, height, deflection: the plate and the end deflection.
        steps: time steps of the ramp (and as many of the hold).
        fe2_cells, fe2_degree: the coarse FE² macro mesh.
        comm: communicator of the DNS and macro meshes.

    Returns:
        A JSON-serialisable dict: ``ratio``, ``tau``, ``T``, ``times`` (per ratio, in
        units of ``T``), ``reaction_dns``, ``reaction_quasi_static`` (on the DNS mesh),
        ``reaction_fe2``, ``reaction_fe2_quasi_static`` (per ratio, per step),
        ``error_quasi_static`` (quasi-static vs DNS), ``error_fe2`` (transient FE² vs
        DNS), ``error_time_scale`` (quasi-static FE² vs transient FE², same macro mesh),
        each ``max_t |R − R_ref| / max_t |R_ref|``; ``rate_small_ratio`` (slope of
        ``error_time_scale`` between the two smallest ratios), ``C_eff_relaxed``,
        ``C_eff_instantaneous``, ``n_ranks``, ``wall_s``.
    """
    from ..macro.fe2 import FE2Material
    from ..materials.viscoelasticity import GeneralizedMaxwell

    t0 = time.perf_counter()
    ratios = [float(r) for r in ratios]
    if not ratios or min(ratios) <= 0 or not all(map(math.isfinite, ratios)):
        raise ValueError(f"ratios must be finite values > 0; got {ratios}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    micro = micro if micro is not None else _default_cell()
    matrix = matrix if matrix is not None else GeneralizedMaxwell.standard_linear_solid(1.0, 3.0, 1.0, 0.3)
    fibre = fibre if fibre is not None else _DEFAULT_FIBRE
    if not isinstance(matrix, GeneralizedMaxwell):
        raise TypeError(f"matrix must be a GeneralizedMaxwell material; got {type(matrix).__name__}")
    tau = float(matrix.tau.max()) if matrix.n_branches else 0.0
    if tau <= 0:
        raise ValueError("matrix needs at least one Maxwell branch (a relaxation time)")
    lengths = micro.lengths
    nx, ny = _check_grid(epsilon, length, height, float(lengths[0] / lengths[1]))
    tiled = tile_microstructure(micro, (nx, ny), scale=epsilon * height / float(lengths[1]), comm=comm)

    relaxed = {1: matrix.relaxed(), 2: fibre}
    rve_relaxed = RVE(micro, relaxed, petsc_options_prefix="time_sep_relaxed_rve_")
    C_relaxed = comm.bcast(rve_relaxed.effective_tensor() if comm.rank == 0 else None, root=0)
    C_glassy = RVE(micro, {1: matrix.instantaneous(), 2: fibre},
                   petsc_options_prefix="time_sep_glassy_rve_").effective_tensor()
    C_glassy = comm.bcast(C_glassy if comm.rank == 0 else None, root=0)
    # quasi-static models are linear in the deflection: one unit solve each
    cantilever = _Cantilever(tiled.mesh, length, prefix="time_sep_qs_")
    C_c = fem.Constant(tiled.mesh, C_relaxed)
    u_qs = cantilever.solve(C_c, 1.0)
    R_qs_unit = cantilever.reaction(ufl.dot(C_c, mandel_strain(u_qs)))
    q = max(1, 2 * (int(fe2_degree) - 1))  # exact for the P(k-1) strains of Pk on triangles
    beam_qs = Beam(lambda m: FE2Material(rve_relaxed, m, quadrature_degree=q), dim=2, cells=fe2_cells,
                   mode="bending", length=length, height=height, degree=fe2_degree, comm=comm,
                   petsc_options_prefix="time_sep_qs_fe2_")
    R_qs_fe2_unit = beam_qs.run([1.0])[-1]["reaction"]

    report: dict = {"problem": (f"plane-strain cantilever {length:g} x {height:g}, end deflection ramped "
                                f"to {deflection:g} over T and held for T"),
                    "ratio": ratios, "tau": tau, "T": [], "epsilon": float(epsilon), "steps": steps,
                    "times": [], "reaction_dns": [], "reaction_quasi_static": [], "reaction_fe2": [],
                    "reaction_fe2_quasi_static": [], "error_quasi_static": [], "error_fe2": [],
                    "error_time_scale": [], "C_eff_relaxed": C_relaxed.tolist(),
                    "C_eff_instantaneous": C_glassy.tolist(), "n_ranks": comm.size}
    saved_dt = matrix.dt
    try:
        for k, ratio in enumerate(ratios):
            T = tau / ratio
            dt = T / steps  # one float for every step: the tangents stay bit-identical
            times = dt * np.arange(2 * steps + 1)
            deflections = deflection * np.minimum(np.arange(2 * steps + 1) / steps, 1.0)
            R_dns = _run_dns_transient(tiled, matrix, fibre, length, dt, deflections, comm,
                                       prefix=f"time_sep_dns_{k}_")
            matrix.dt = dt  # the RVE caches its tangent at this step
            beam = Beam(lambda m: FE2Material(RVE(micro, {1: matrix, 2: fibre},
                                                  petsc_options_prefix="time_sep_rve_"), m,
                                              quadrature_degree=q),
                        dim=2, cells=fe2_cells, mode="bending", length=length, height=height,
                        degree=fe2_degree, comm=comm, petsc_options_prefix=f"time_sep_fe2_{k}_")
            R_fe2 = []
            for delta in deflections[1:]:
                matrix.dt = dt
                beam.set_load(delta)
                beam.solver.solve()
                beam.material.commit()
                R_fe2.append(beam.reaction())
            R_fe2 = np.array(R_fe2)
            R_qs = R_qs_unit * deflections[1:]
            R_qs_fe2 = R_qs_fe2_unit * deflections[1:]

            def err(a, ref):
                return float(np.abs(a - ref).max() / np.abs(ref).max())

            report["T"].append(T)
            report["times"].append((times[1:] / T).tolist())
            for key, val in (("reaction_dns", R_dns), ("reaction_quasi_static", R_qs),
                             ("reaction_fe2", R_fe2), ("reaction_fe2_quasi_static", R_qs_fe2)):
                report[key].append(val.tolist())
            report["error_quasi_static"].append(err(R_qs, R_dns))
            report["error_fe2"].append(err(R_fe2, R_dns))
            report["error_time_scale"].append(err(R_qs_fe2, R_fe2))
            _log.info("tau/T = %.3g: quasi-static error %.3e, FE2 error %.3e, time-scale error %.3e",
                      ratio, report["error_quasi_static"][-1], report["error_fe2"][-1],
                      report["error_time_scale"][-1])
    finally:
        matrix.dt = saved_dt
    order = np.argsort(ratios)
    if len(ratios) >= 2:
        r = np.asarray(ratios)[order[:2]]
        e = np.asarray(report["error_time_scale"])[order[:2]]
        report["rate_small_ratio"] = float(np.log(e[1] / e[0]) / np.log(r[1] / r[0]))
    report["wall_s"] = time.perf_counter() - t0
    return report
