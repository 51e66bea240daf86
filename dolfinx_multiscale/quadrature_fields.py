"""Point-wise stress and tangent on a quadrature space: the set-up shared by the cell
problem (:class:`~dolfinx_multiscale.cell.discretisation.CellDiscretisation`) and the
macro quadrature materials (:class:`~dolfinx_multiscale.macro.quadrature.QuadratureMaterial`).

A constitutive update gives arrays over points; FFCx integrates forms that contain a
quadrature-element Function with that element's rule. :class:`QuadratureFields` owns the
two Functions (stress ``(n,)``, tangent ``(n, n)``), the measure with the matching
quadrature degree and the map from the points of a set of cells (cell by cell) to their
dofs, so that ``set(sigma, D)`` puts the arrays where the forms read them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import basix
import basix.ufl
import dolfinx.fem as fem
import dolfinx.fem.petsc
import ufl

__all__ = ["QuadratureFields", "stiffness_degree"]


def stiffness_degree(mesh, degree: int) -> int:
    """The lowest quadrature degree that integrates a stiffness ``∫ B(v) · D B(u) dx``
    with a cell-wise constant ``D`` exactly on affine cells (boxes for quadrilaterals
    and hexahedra, e.g. voxels).

    Lagrange ``P_k`` on simplices: ``B`` has degree ``k − 1``, the integrand ``2(k − 1)``
    (at least 1). ``Q_k`` on quadrilaterals/hexahedra: ``∂φ/∂x`` keeps degree ``k`` in
    the other directions, so the integrand has degree ``2k`` per direction, a Gauss rule of
    ``k + 1`` points per direction (Q1: 2 × 2 (× 2); one point would leave hourglass modes).

    Args:
        mesh: the mesh (its cell type decides).
        degree: the Lagrange degree ``k`` of the field.
    """
    if mesh.basix_cell() in (basix.CellType.quadrilateral, basix.CellType.hexahedron):
        return 2 * degree
    return max(2 * (degree - 1), 1)


class QuadratureFields:
    """Stress and tangent quadrature Functions on some cells of a mesh.

    Args:
        mesh: the mesh.
        degree: the quadrature degree (also that of :attr:`dx`).
        n: size of the stress vector (Mandel ``3`` / ``6``, or ``d`` for a flux).
        cells: the local cells whose points are addressed, in order.
        subdomain_data: cell tags for ``dx(tag)`` (optional).

    Attributes:
        dx: ``ufl.Measure("dx")`` with ``quadrature_degree = degree``.
        stress, tangent: the quadrature Functions, ``(n,)`` and ``(n, n)`` per point.
        cells: as given.
        points: the reference quadrature points ``(points_per_cell, tdim)``.
        points_per_cell: quadrature points per cell.
    """

    def __init__(self, mesh, degree: int, n: int, cells: npt.NDArray[np.int32], subdomain_data=None):
        self.mesh, self.n, self.cells = mesh, n, cells
        cell = mesh.basix_cell()
        self.dx = ufl.Measure("dx", domain=mesh, subdomain_data=subdomain_data,
                              metadata={"quadrature_degree": degree})
        self._scalar = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(), degree=degree))
        Qv = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(n,), degree=degree))
        Qt = fem.functionspace(mesh, basix.ufl.quadrature_element(cell, value_shape=(n, n), degree=degree))
        self.stress = fem.Function(Qv, name="stress")
        self.tangent = fem.Function(Qt, name="tangent")
        self.points = self._scalar.element.interpolation_points
        self.points_per_cell = self.points.shape[0]
        self._dofs = self._scalar.dofmap.list[cells].reshape(-1)  # point p (cell-major) → dof
        dofmap = self._scalar.dofmap.list
        self._cell_major = np.array_equal(dofmap.reshape(-1), np.arange(dofmap.size))
        self._owned_points = mesh.topology.index_map(mesh.topology.dim).size_local * self.points_per_cell

    @property
    def n_points(self) -> int:
        """Number of addressed points, ``len(cells) · points_per_cell``."""
        return self._dofs.size

    def set(self, stress: npt.NDArray[np.float64], tangent: npt.NDArray[np.float64] | None = None) -> None:
        """Write point stresses ``(N, n)`` (and tangents ``(N, n, n)``) into the Functions."""
        self.stress.x.array.reshape(-1, self.n)[self._dofs] = stress
        if tangent is not None:
            self.tangent.x.array.reshape(-1, self.n * self.n)[self._dofs] = tangent.reshape(len(tangent), -1)

    def point_values(self, field: fem.Function) -> npt.NDArray[np.float64] | None:
        """The values of ``field`` (:attr:`stress` or :attr:`tangent`) as a writable
        ``(N, n)`` / ``(N, n, n)`` view in point order (no copy), when the addressed cells
        are all the local cells and their quadrature dofs are numbered cell by cell, as
        DOLFINx numbers them; ``None`` otherwise."""
        if not (self._cell_major and self._dofs.size * field.function_space.dofmap.bs == field.x.array.size):
            return None
        return field.x.array.reshape((self._dofs.size,) + field.ufl_shape)

    def packed(self, field: fem.Function) -> dict | None:
        """``field`` (:attr:`stress` or :attr:`tangent`) as the packed coefficients of a
        form with one cell integral over the owned cells and no other coefficient (the
        ``coeffs`` of DOLFINx's assemblers): a view of its values, not DOLFINx's copy (as
        large as the tangents: ``N n²`` values), when the quadrature dofs are numbered cell by
        cell, as DOLFINx numbers them; ``None`` (let DOLFINx pack) otherwise."""
        if not self._cell_major:
            return None
        values = field.x.array[: self._owned_points * field.function_space.dofmap.bs]
        return {(fem.IntegralType.cell, 0): values.reshape(self._owned_points // self.points_per_cell, -1)}

    def weights(self) -> npt.NDArray[np.float64]:
        """The quadrature weights ``w_p |det J|`` of the addressed points, ``(N,)`` (ghost
        cells are not integrated: their weights are 0)."""
        vec = dolfinx.fem.petsc.assemble_vector(fem.form(ufl.TestFunction(self._scalar) * self.dx))
        with vec.localForm() as local:
            out = local.array_r[self._dofs].copy()
        vec.destroy()
        return out
