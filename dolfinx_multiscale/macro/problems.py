"""Ready-made macro problems for FE² studies, tests and benchmarks.

:class:`Beam` is a 2-D (plane strain) or 3-D block, clamped at ``x = 0``, whose end
``x = L`` gets a prescribed displacement: axial (``"tension"``) or transverse
(``"bending"``, a non-uniform strain field). With a finite-strain material it is solved
in total Lagrangian form, ``∫ P : Grad v dX = 0`` (e.g. a plate stretched by 30 %). Its material is any
:class:`~dolfinx_multiscale.macro.quadrature.QuadratureMaterial` built by a factory, so the
same problem runs single-scale and FE² and the two can be compared. It is also a
compact example of the user-facing pattern: ``stress(u)`` in a UFL residual,
``derivative`` for the Jacobian, :class:`~dolfinx_multiscale.macro.newton.NewtonSolver`.

:func:`cantilever_bcs` builds its boundary conditions (and the test function of the end
reaction) for any vector space on a block ``[0, L] × …``; the scale-separation studies
use it for their DNS and homogenized plates.
"""

from __future__ import annotations

from mpi4py import MPI

import numpy as np

import dolfinx.fem as fem
import dolfinx.mesh
import ufl

from ..kinematics import FINITE_STRAIN
from ..quadrature_fields import stiffness_degree
from .newton import NewtonSolver, incremental_solve

__all__ = ["Beam", "cantilever_bcs"]


def cantilever_bcs(V: fem.FunctionSpace, length: float, displacement: fem.Constant | float,
                   component: int = 1) -> tuple[list[fem.DirichletBC], fem.Function]:
    """Boundary conditions of a cantilever: clamped at ``x = 0``, one displacement
    component prescribed at ``x = L``.

    Every component of ``u`` is zero on the boundary facets at ``x = 0``; component
    ``component`` of ``u`` equals ``displacement`` on the boundary facets at
    ``x = length`` (the other components there are free). Facets are found with
    ``numpy.isclose`` on the coordinate ``x[0]``.

    Args:
        V: a vector Lagrange space of dimension ``d`` (the displacement space).
        length: ``L``, the coordinate of the loaded end.
        displacement: the end value, a ``fem.Constant`` (update its ``value`` to change
            the load without rebuilding the conditions) or a number.
        component: the prescribed component at ``x = L``: 1 (``u_y``, bending) or 0
            (``u_x``, tension).

    Returns:
        ``(bcs, phi)``: ``bcs = [clamp, end]`` for the solver, and ``phi`` in ``V``,
        1 on the prescribed end dofs and 0 elsewhere, so that ``∫ σ : ε(φ) dx`` is the
        end reaction (the sum of the nodal forces on those dofs).
    """
    mesh = V.mesh
    d = mesh.geometry.dim
    fdim = mesh.topology.dim - 1
    left = dolfinx.mesh.locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[0], 0.0))
    right = dolfinx.mesh.locate_entities_boundary(mesh, fdim, lambda x: np.isclose(x[0], length))
    end_dofs = fem.locate_dofs_topological(V.sub(component), fdim, right)
    bcs = [fem.dirichletbc(np.zeros(d), fem.locate_dofs_topological(V, fdim, left), V),
           fem.dirichletbc(displacement, end_dofs, V.sub(component))]
    phi = fem.Function(V)
    fem.dirichletbc(1.0, end_dofs, V.sub(component)).set(phi.x.array)
    return bcs, phi


class Beam:
    """A clamped block with a prescribed end displacement.

    Args:
        material_factory: ``factory(mesh) -> QuadratureMaterial`` (small or finite strain).
        dim: 2 (plane strain, ``L × H``) or 3 (``L × H × H``).
        cells: number of cells along ``x`` (``max(1, cells // 2)`` across).
        mode: ``"bending"`` (end displaced in ``y``) or ``"tension"`` (in ``x``).
        length, height: the block size.
        degree: Lagrange degree of the displacement; the factory's material needs
            ``quadrature_degree ≥ max(2(degree−1), 1)`` (checked,
            :func:`~dolfinx_multiscale.quadrature_fields.stiffness_degree`).
        comm: the macro mesh communicator.
        partitioner: cell partitioner of the macro mesh (``None``: DOLFINx's default), e.g.
            :func:`~dolfinx_multiscale.macro.fe2.cyclic_partitioner` to balance FE² work.
        newton: keyword arguments of :class:`~dolfinx_multiscale.macro.newton.NewtonSolver`.
    """

    def __init__(self, material_factory, dim: int = 2, cells: int = 4, mode: str = "bending",
                 length: float = 2.0, height: float = 1.0, degree: int = 1,
                 comm: MPI.Comm = MPI.COMM_WORLD, partitioner=None, **newton):
        if mode not in ("bending", "tension"):
            raise ValueError(f"mode must be 'bending' or 'tension'; got {mode!r}")
        across = max(1, cells // 2)
        if dim == 2:
            self.mesh = dolfinx.mesh.create_rectangle(comm, [[0, 0], [length, height]], [cells, across],
                                                      partitioner=partitioner)
        elif dim == 3:
            self.mesh = dolfinx.mesh.create_box(comm, [[0, 0, 0], [length, height, height]],
                                                [cells, across, across], partitioner=partitioner)
        else:
            raise ValueError(f"dim must be 2 or 3; got {dim}")
        mesh = self.mesh
        self.V = V = fem.functionspace(mesh, ("Lagrange", degree, (dim,)))
        self.u = u = fem.Function(V, name="displacement")
        self.material = material_factory(mesh)
        needed = stiffness_degree(mesh, degree)
        if self.material.quadrature_degree < needed:
            raise ValueError(f"degree {degree} displacements need a material with quadrature_degree >= "
                             f"{needed}; the factory made one with {self.material.quadrature_degree}")
        v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
        # the work-conjugate test gradient: ε(v) = sym ∇v, or Grad v at finite strain (P)
        eps = ufl.grad if self.material.kinematics is FINITE_STRAIN else (lambda w: ufl.sym(ufl.grad(w)))
        self.F = ufl.inner(self.material.stress(u), eps(v)) * self.material.dx
        self.J = self.material.derivative(self.F, u, du)
        self.end_displacement = fem.Constant(mesh, 0.0)
        component = 1 if mode == "bending" else 0
        self.bcs, phi = cantilever_bcs(V, length, self.end_displacement, component)
        self.solver = NewtonSolver(self.F, self.J, u, self.bcs, [self.material], **newton)
        self._reaction = fem.form(ufl.inner(self.material.stress(u), eps(phi)) * self.material.dx)
        self._norm = fem.form(ufl.inner(u, u) * ufl.dx)

    def set_load(self, value: float) -> None:
        """Set the prescribed end displacement."""
        self.end_displacement.value = value

    def run(self, loads, **kwargs) -> list[dict]:
        """:func:`~dolfinx_multiscale.macro.newton.incremental_solve` over the end displacements
        ``loads``; each record gains ``"reaction"`` (the end force per unit thickness)."""
        on_step = kwargs.pop("on_step", None)
        reactions = []

        def record(step, load):
            reactions.append(self.reaction())
            if on_step is not None:
                on_step(step, load)

        history = incremental_solve(self.solver, self.set_load, loads, on_step=record, **kwargs)
        for rec, r in zip(history, reactions):
            rec["reaction"] = r
        return history

    def reaction(self) -> float:
        """End reaction ``∫ σ : ε(φ) dx`` (finite strain: ``∫ P : Grad φ dX``, a force in
        the reference configuration) with ``φ`` = 1 on the loaded component at the end
        (the discrete nodal force sum), on all ranks."""
        return self.mesh.comm.allreduce(fem.assemble_scalar(self._reaction), op=MPI.SUM)

    def displacement_norm(self) -> float:
        """``‖u‖_{L²}``, on all ranks (rank-count independent, for comparisons)."""
        return float(np.sqrt(self.mesh.comm.allreduce(fem.assemble_scalar(self._norm), op=MPI.SUM)))
