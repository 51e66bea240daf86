"""The finite element discretisation of the cell problem: spaces, forms, quadrature.

For elasticity the micro displacement is ``u = E·(x − x_c) + w`` with the macro strain
``E`` and the fluctuation ``w``; for conduction ``θ = G·(x − x_c) + w``. Both are written
once with the generalized strain ``B(w)`` of the kinematics
(:mod:`~dolfinx_multiscale.kinematics`: the Mandel strain vector or the gradient), so the
cell problem in UFL is

    find w:  ∫_Y B(v) · σ(E + B(w)) dx = 0   for all admissible v.

The micro stress ``σ`` and tangent ``D`` at the quadrature points live in
quadrature-space Functions (``sig_q`` ``(n,)``, ``D_q`` ``(n, n)``) filled by the phase
laws, so the forms below are compiled once and serve every solve:

* ``a``: ``∫ B(v) · D B(δw)`` — the stiffness ``K``;
* ``residual``: ``∫ B(v) · σ``;
* ``load`` / ``adjoint_load``: ``∫ B(v) · D Ē`` and ``∫ B(v) · Dᵀ Ē`` for the constant
  ``Ē`` — column ``k`` of the coupling ``F`` (``G``) with ``Ē = e_k``;
* ``average_form``: ``∫ B(v) · Ē`` — the constraint ``⟨B(w)⟩ = 0`` of SUBC.

Points are numbered cell by cell over the local cells (owned, then ghost); ghost points
have zero weight, so sums over points are sums over the owned cells.
"""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

import dolfinx.fem as fem
import dolfinx.cpp.fem.petsc
import dolfinx.fem.petsc
import dolfinx.la
import ufl

from ..kinematics import Kinematics
from ..quadrature_fields import QuadratureFields, stiffness_degree
from .voxels import q1_load, q1_stiffness

__all__ = ["CellDiscretisation"]

_CELL_CHUNK = 1 << 12  # cells per call of the per-phase assembly (its value array: 19 MB for hexahedra)


class CellDiscretisation:
    """Spaces, compiled forms and quadrature data of one RVE.

    Args:
        micro: the :class:`~dolfinx_multiscale.geometry.Microstructure` (mesh, cell tags
            = phases, periodic cell ``box``).
        kinematics: the generalized strain of the physics.
        degree: Lagrange degree of the fluctuation; the quadrature degree is the one
            exact for the stiffness on affine cells
            (:func:`~dolfinx_multiscale.quadrature_fields.stiffness_degree`:
            ``max(2 (degree − 1), 1)`` on simplices, ``2 degree`` on voxels).
        tags: the phase tags whose points are located (:attr:`phase_points`).

    Attributes:
        mesh, comm, dim: the cell mesh, its communicator and dimension ``d``.
        n: size of the generalized strain (``kinematics.size(d)``).
        volume, centre: ``|Y|`` of the box and its centre ``x_c``.
        V, w: the fluctuation space and Function.
        fields: the :class:`~dolfinx_multiscale.quadrature_fields.QuadratureFields` of the
            point stress and tangent.
        dx: the integration measure (with the quadrature degree).
        weights: ``(N,)`` quadrature weights ``w_p |det J|`` of the local points (0 on
            ghost cells).
        phase_points: tag → indices of that phase's points.
        voxel_size: ``(h_x, h_y[, h_z])`` of a voxel cell (``micro.image``), else ``None``.
        sig_q, D_q: quadrature Functions of the micro stress ``(n,)`` and tangent ``(n, n)``.
        Ebar: the ``Constant`` macro strain of the ``load`` forms.
        a, residual, load, adjoint_load, average_form: compiled forms (module docstring).
    """

    def __init__(self, micro, kinematics: Kinematics, degree: int, tags):
        self.mesh = mesh = micro.mesh
        self.comm = mesh.comm
        self.dim = d = mesh.geometry.dim
        self.kinematics = kinematics
        self.n = n = kinematics.size(d)
        lo, hi = (np.asarray(b, dtype=float)[:d] for b in micro.box)
        self.volume = float(np.prod(hi - lo))
        self.centre = 0.5 * (lo + hi)
        self.degree = degree
        image = getattr(micro, "image", None)
        self.voxel_size = None if image is None else np.asarray(image.voxel_size, dtype=float)
        self.V = fem.functionspace(mesh, ("Lagrange", degree, kinematics.field_shape(d)))
        self.w = fem.Function(self.V, name="fluctuation")

        imap = mesh.topology.index_map(mesh.topology.dim)
        self.cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
        self.fields = fields = QuadratureFields(mesh, stiffness_degree(mesh, degree), n, self.cells)
        self.dx = dx = fields.dx
        self.sig_q, self.D_q = fields.stress, fields.tangent
        # w_p |det J| at every point (zero on ghost cells, which are not integrated)
        self.weights = fields.weights()
        self.points_per_cell = nq = fields.points_per_cell
        self.weights[imap.size_local * nq:] = 0.0
        tag_of_cell = np.full(self.cells.size, -1, dtype=np.int64)
        tag_of_cell[micro.cell_tags.indices] = micro.cell_tags.values
        if (tag_of_cell < 0).any():
            raise ValueError("every cell of the mesh must carry a phase tag")
        self._tag_of_cell = tag_of_cell
        self._voxel_cells: npt.NDArray[np.int32] | None = None  # see _voxel_nodes
        tag_of_point = np.repeat(tag_of_cell, nq)
        self.phase_points = {t: np.flatnonzero(tag_of_point == t) for t in tags}

        B = kinematics.strain
        v, du = ufl.TestFunction(self.V), ufl.TrialFunction(self.V)
        self.Ebar = fem.Constant(mesh, np.zeros(n))
        self.a = fem.form(ufl.inner(ufl.dot(self.D_q, B(du)), B(v)) * dx)
        self.residual = fem.form(ufl.inner(self.sig_q, B(v)) * dx)
        self.load = fem.form(ufl.inner(ufl.dot(self.D_q, self.Ebar), B(v)) * dx)
        self.adjoint_load = fem.form(ufl.inner(ufl.dot(ufl.transpose(self.D_q), self.Ebar), B(v)) * dx)
        self.average_form = fem.form(ufl.inner(self.Ebar, B(v)) * dx)
        self._strain_expr = fem.Expression(B(self.w), fields.points)
        self._K: dolfinx.la.MatrixCSR | None = None  # the local CSR stiffness (small cells)
        # the one coefficient of each form (the quadrature Functions are packed without a copy)
        self._field_of = {id(self.a): self.D_q, id(self.load): self.D_q, id(self.adjoint_load): self.D_q,
                          id(self.residual): self.sig_q}

    @property
    def n_points(self) -> int:
        """Number of local quadrature points (owned and ghost cells)."""
        return self.weights.size

    @property
    def n_dofs(self) -> int:
        """Global number of finite element dofs of the fluctuation field."""
        return self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs

    def create_vector(self) -> PETSc.Vec:
        """A new full-space PETSc vector (with ghosts) of the fluctuation space."""
        return dolfinx.fem.petsc.create_vector(self.V)

    def average(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Volume average ``|Y|⁻¹ ∫_Y f dx`` of point values ``(N, ...)``, on all ranks."""
        values = np.asarray(values)
        local = (self.weights @ values.reshape(values.shape[0], -1)).reshape(values.shape[1:])
        if self.comm.size > 1:
            local = self.comm.allreduce(local, op=MPI.SUM)
        return local / self.volume

    def cell_average(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Weighted mean over each local cell's points of point values ``(N, ...)`` →
        ``(n_cells, ...)`` (ghost cells: the plain mean)."""
        nc = self.cells.size
        w = self.weights.reshape(nc, -1)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        w = w / w.sum(axis=1, keepdims=True)
        return np.einsum("cq,cq...->c...", w, values.reshape((nc, w.shape[1]) + values.shape[1:]))

    def fluctuation_strain(self, w_array: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``B(w)`` at every point, ``(N, n)``, for the fluctuation dofs ``w_array``
        (written into :attr:`w`)."""
        self.w.x.array[:] = w_array
        return self._strain_expr.eval(self.mesh, self.cells).reshape(-1, self.n)

    def set_point_values(self, sigma: npt.NDArray[np.float64], D: npt.NDArray[np.float64] | None) -> None:
        """Write the point stresses ``(N, n)`` (and tangents ``(N, n, n)``) into
        :attr:`sig_q` (and :attr:`D_q`)."""
        self.fields.set(sigma, D)

    def tangent_values(self) -> npt.NDArray[np.float64] | None:
        """:attr:`D_q`'s values as a writable ``(N, n, n)`` view in point order (``None``
        if its dofs are not numbered point by point): tangents written there need no
        :meth:`set_point_values`."""
        return self.fields.point_values(self.D_q)

    def assemble_vector(self, form, out: PETSc.Vec) -> PETSc.Vec:
        """Assemble ``form`` into ``out`` (zeroed first, ghost contributions added)."""
        with out.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(out, form, coeffs=self._coefficients(form))
        out.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return out

    def assemble_local_stiffness(self) -> dolfinx.la.MatrixCSR:
        """Re-assemble the stiffness ``K`` from the tangents in :attr:`D_q` into a local
        DOLFINx CSR matrix (owned + ghost rows, not finalized; created at the first call,
        then refilled); returns it."""
        if self._K is None:
            self._K = fem.create_matrix(self.a)
        self._K.set_value(0.0)
        fem.assemble_matrix(self._K, self.a, coeffs=self._coefficients(self.a))
        return self._K

    def _coefficients(self, form) -> dict | None:
        """The packed coefficients of one of the forms (``None``: DOLFINx packs them)."""
        field = self._field_of.get(id(form))
        return None if field is None else self.fields.packed(field)

    def stiffness_pattern(self) -> dolfinx.la.SparsityPattern:
        """The finalized sparsity of the stiffness form :attr:`a` (owned node rows, local
        node columns: the space's index map with extra ghosts)."""
        pattern = fem.create_sparsity_pattern(self.a)
        pattern.finalize()
        return pattern

    def assemble_stiffness(self, A: PETSc.Mat, phase_tangents: dict | None = None) -> PETSc.Mat:
        """Assemble the stiffness from the tangents in :attr:`D_q` into ``A`` through
        ``A``'s local-to-global map (zeroed first; node blocks when ``A``'s block size is
        the space's, else dof by dof; entries mapped to a negative index are dropped), and
        finalize it. With the map of a boundary condition this is ``Pᵀ K P``
        (:meth:`~dolfinx_multiscale.cell.solver.ReducedSolver.reduced_operator`).

        ``phase_tangents`` (tag → ``(n, n)``: every phase's tangent where it is the same
        at all of the phase's points) on a Q1 voxel cell: ``K`` from one element matrix
        per phase (:func:`~.voxels.q1_stiffness`) instead of DOLFINx's kernel, which
        integrates ``N n²`` point tangents per cell (100³ hexahedra, 2 ranks: 19 s).
        """
        A.zeroEntries()
        unrolled = A.getBlockSize() != self.V.dofmap.index_map_bs
        if phase_tangents is None:
            dolfinx.cpp.fem.petsc.assemble_matrix(A, self.a._cpp_object, fem.pack_constants(self.a),
                                                  self._coefficients(self.a) or fem.pack_coefficients(self.a),
                                                  [], unrolled)
        else:
            self._assemble_voxel_elements(A, phase_tangents, unrolled)
        A.assemble()
        return A

    def _assemble_voxel_elements(self, A: PETSc.Mat, phase_tangents: dict, unrolled: bool) -> None:
        """Add the per-phase element matrices of the owned cells to ``A`` (local indices),
        the cells' nodes put in the element's order by their coordinates."""
        bs = self.V.dofmap.index_map_bs
        nodes = self._voxel_nodes()
        if unrolled:
            nodes = (nodes[:, :, None] * bs + np.arange(bs)).reshape(nodes.shape[0], -1)
        insert = A.setValuesLocalRCV if unrolled else A.setValuesBlockedLocalRCV
        tags = self._tag_of_cell[: nodes.shape[0]]
        size = 2**self.dim * bs
        for tag, C in phase_tangents.items():
            Ke = q1_stiffness(self.kinematics, C, self.voxel_size).reshape(size, size)
            mine = np.flatnonzero(tags == tag)
            for s in range(0, mine.size, _CELL_CHUNK):
                rows = nodes[mine[s: s + _CELL_CHUNK]].astype(PETSc.IntType)
                insert(rows, rows, np.broadcast_to(Ke, (rows.shape[0], size, size)), PETSc.InsertMode.ADD_VALUES)

    def _voxel_nodes(self) -> npt.NDArray[np.int32]:
        """The local nodes ``(n_owned_cells, 2^d)`` of the owned cells of a Q1 voxel cell
        in the element's node order (:func:`~.voxels.element_nodes`), from their
        coordinates (computed once)."""
        if self._voxel_cells is None:
            if self.voxel_size is None or self.degree != 1:
                raise ValueError("per-phase element matrices need a Q1 voxel cell (from_image, degree 1)")
            d = self.dim
            cells = self.V.dofmap.list[: self.mesh.topology.index_map(d).size_local]
            x = self.V.tabulate_dof_coordinates()[:, :d][cells]  # (cells, 2^d, d)
            offset = np.rint((x - x.min(axis=1, keepdims=True)) / self.voxel_size).astype(np.int64)
            del x
            position = offset @ (1 << np.arange(d - 1, -1, -1))  # the node's index in element_nodes(d)
            if not np.array_equal(np.sort(position, axis=1), np.broadcast_to(np.arange(2**d), position.shape)):
                raise ValueError("per-phase element matrices need every cell to be a voxel of the grid")
            self._voxel_cells = np.empty_like(cells)
            np.put_along_axis(self._voxel_cells, position, cells, axis=1)
        return self._voxel_cells

    def voxel_unit_loads(self, phase_tangents: dict, out: list[PETSc.Vec]) -> list[PETSc.Vec]:
        """:meth:`unit_vectors` of :attr:`load` (``∫ B(v) · D e_k``) on a Q1 voxel cell
        whose phases have constant tangents (``phase_tangents``: tag → ``(n, n)``), from
        one element load per phase (:func:`~.voxels.q1_load`) summed at the nodes
        (``np.bincount``) instead of DOLFINx's kernel over the point tangents (100³
        hexahedra, 2 ranks: 6 loads 5.6 s)."""
        bs = self.V.dofmap.index_map_bs
        nodes = self._voxel_nodes()
        tags = self._tag_of_cell[: nodes.shape[0]]
        for vec in out:
            with vec.localForm() as loc:
                loc.set(0.0)
        for tag, C in phase_tangents.items():
            fe = q1_load(self.kinematics, C, self.voxel_size).reshape(-1, self.n)  # (2^d bs, n)
            mine = np.flatnonzero(tags == tag)
            index = (nodes[mine][:, :, None] * bs + np.arange(bs)).reshape(-1)
            for k, vec in enumerate(out):
                with vec.localForm() as loc:
                    local = loc.array
                    local += np.bincount(index, weights=np.tile(fe[:, k], mine.size), minlength=local.size)
        for vec in out:
            vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return out

    def unit_vectors(self, form, out: list[PETSc.Vec]) -> list[PETSc.Vec]:
        """Assemble ``form`` for every unit macro strain ``Ē = e_k`` into ``out[k]``."""
        for k in range(self.n):
            self.Ebar.value[:] = np.eye(self.n)[k]
            self.assemble_vector(form, out[k])
        self.Ebar.value[:] = 0.0
        return out

    def rigid_modes(self) -> list[PETSc.Vec]:
        """Rigid body modes as full-space vectors (the GAMG near-null space): the ``d``
        translations and the ``d(d−1)/2`` rotations about the cell centre."""
        d = self.dim
        x = self.V.tabulate_dof_coordinates()[: self.V.dofmap.index_map.size_local, :d] - self.centre
        pairs = [(0, 1)] if d == 2 else [(1, 2), (0, 2), (0, 1)]
        modes = []
        for k in range(d + len(pairs)):
            vec = self.create_vector()
            a = vec.array.reshape(-1, d)
            a[:] = 0.0
            if k < d:
                a[:, k] = 1.0
            else:
                i, j = pairs[k - d]
                a[:, i], a[:, j] = -x[:, j], x[:, i]
            modes.append(vec)
        return modes
