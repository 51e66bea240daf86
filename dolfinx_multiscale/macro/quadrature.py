"""Quadrature-space constitutive operators for any DOLFINx macro model.

A :class:`QuadratureMaterial` owns, on the macro mesh, quadrature-space Functions for the
stress and the tangent in the vector form of its kinematics (small strain: Mandel,
``docs/conventions.md``; finite strain: ``P`` and ``A = ∂P/∂F`` row-major). It gives UFL
operands, so a user writes the macro residual like any DOLFINx model::

    sigma = material.stress(u)                       # (d, d) UFL tensor
    F = ufl.inner(sigma, eps(v)) * material.dx - ufl.inner(t, v) * ds(2)
    J = material.derivative(F, u, ufl.TrialFunction(V))

or, at finite strain (total Lagrangian), ``P = material.stress(u)`` and
``F = ufl.inner(P, ufl.grad(v)) * material.dx - ...``.

``material.dx`` carries the quadrature degree, so FFCx integrates with the points where
the stress lives. Before each residual assembly the stress and tangent at every point
must be updated from the current ``u`` (:meth:`QuadratureMaterial.update`):
:class:`~dolfinx_multiscale.macro.newton.NewtonSolver` does it, and
:meth:`QuadratureMaterial.attach` hooks it into a ``dolfinx.fem.petsc.NonlinearProblem``
(SNES). Histories follow the trial/commit/rollback pattern: :meth:`update` computes a
trial state from the committed one; :meth:`commit` accepts it when the load step
converged; :meth:`rollback` forgets it.

:class:`LocalMaterial` is the quadrature material of any law with the material protocol
(:mod:`~dolfinx_multiscale.materials.protocol`): one vectorised ``update`` for all the
rank's points, the per-point states handled once for every law. The FE² material
(:class:`~dolfinx_multiscale.macro.fe2.FE2Material`) is the same with an RVE as the law.
Each rank treats the points of the cells it owns.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import dolfinx.fem as fem
import dolfinx.fem.petsc
import ufl
from petsc4py import PETSc

from ..kinematics import SMALL_STRAIN, Kinematics
from ..quadrature_fields import QuadratureFields

__all__ = ["LocalMaterial", "QuadratureMaterial", "derivative"]


def derivative(F: ufl.Form, u: fem.Function, du, materials) -> ufl.Form:
    """Jacobian ``∂F/∂u [du]`` of a form containing the stresses of ``materials``.

    Every material's stress Function is replaced by ``σ_q + C_q·ε(u)`` (``ε`` the
    generalized strain of its kinematics: the Mandel strain, or ``Grad u`` at finite
    strain; same value of the derivative: ``C_q ε(du)``) before differentiating once, so
    each material contributes its consistent tangent and every other term of ``F`` is
    differentiated as usual.
    """
    linearised = {m.sigma_q: m.sigma_q + ufl.dot(m.tangent_q, m.kinematics.strain(u)) for m in materials}
    return ufl.derivative(ufl.replace(F, linearised), u, du)


class QuadratureMaterial:
    """Stress and tangent of a material at the macro quadrature points.

    Args:
        mesh: the macro mesh (2-D plane strain or 3-D).
        quadrature_degree: degree of the quadrature rule (1 for P1 displacements, 2 for
            P2); use :attr:`dx` (or the same degree in your own measure's metadata).
        subdomain: optional ``(cell_tags, tag)``: the material lives only on those cells
            (use ``material.dx(tag)`` in the form, and other materials elsewhere).
        kinematics: :data:`~dolfinx_multiscale.kinematics.SMALL_STRAIN` (Mandel strain
            and stress, ``n = 3`` / 6) or :data:`~dolfinx_multiscale.kinematics.FINITE_STRAIN`
            (``H = Grad u`` and ``P`` row-major, ``n = d²``).
    """

    def __init__(self, mesh, quadrature_degree: int = 1, subdomain=None, kinematics: Kinematics = SMALL_STRAIN):
        self.mesh = mesh
        self.dim = d = mesh.geometry.dim
        if kinematics.field_shape(d) != (d,):
            raise ValueError(f"a macro material needs displacement kinematics; got {kinematics.name!r}")
        self.kinematics = kinematics
        self.n = n = kinematics.size(d)
        self.quadrature_degree = q = int(quadrature_degree)
        imap = mesh.topology.index_map(d)
        if subdomain is None:
            cells, tags = np.arange(imap.size_local, dtype=np.int32), None
        else:
            tags, tag = subdomain
            cells = np.sort(tags.find(tag)).astype(np.int32)
            cells = cells[cells < imap.size_local]
        self.fields = QuadratureFields(mesh, q, n, cells, subdomain_data=tags)
        self.dx = self.fields.dx
        self.sigma_q, self.tangent_q = self.fields.stress, self.fields.tangent
        self.cells = cells
        self.n_per_cell = self.fields.points_per_cell
        self._strain_expr = None
        self.u = None
        self.strain = np.zeros((self.n_points, n))  # macro strain at the points of the last update
        self.stress_values = np.zeros((self.n_points, n))
        self.tangent_values = np.zeros((self.n_points, n, n))

    @property
    def n_points(self) -> int:
        """Number of quadrature points owned by this rank."""
        return self.cells.size * self.n_per_cell

    # -- UFL operands -----------------------------------------------------------------
    def stress(self, u: fem.Function) -> ufl.core.expr.Expr:
        """The stress as a ``(d, d)`` UFL tensor for the displacement ``u``: symmetric
        ``σ`` at small strain, the first Piola–Kirchhoff ``P`` at finite strain.

        The strain (``ε(u)`` or ``Grad u``) is evaluated at the points by :meth:`update`.
        """
        if self.u is not None and self.u is not u:
            raise ValueError("this material is already bound to another displacement Function")
        self.u = u
        self._strain_expr = fem.Expression(self.kinematics.strain(u), self.fields.points)
        return self.kinematics.stress_tensor(self.sigma_q)

    def derivative(self, F: ufl.Form, u: fem.Function, du) -> ufl.Form:
        """Jacobian ``∂F/∂u [du]`` of a form that contains :meth:`stress`; see
        :func:`derivative` for forms with several quadrature materials."""
        return derivative(F, u, du, [self])

    # -- point updates ----------------------------------------------------------------
    def evaluate_strain(self) -> npt.NDArray[np.float64]:
        """Macro strain (Mandel, or ``Grad u`` row-major) at the owned points from the
        current ``u``, ``(N, n)``."""
        if self._strain_expr is None:
            raise RuntimeError("call material.stress(u) first (it binds the displacement)")
        return self._strain_expr.eval(self.mesh, self.cells).reshape(-1, self.n)

    def update(self) -> None:
        """Trial stress and tangent at every point for the current ``u``; fills the
        quadrature Functions. Raises what the point solver raises on failure."""
        self.strain = self.evaluate_strain()
        sigma, tangent = self._respond(self.strain)
        self.stress_values, self.tangent_values = sigma, tangent
        self.fields.set(sigma, tangent)

    def cell_average(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Mean over each owned cell's points of point values ``(N, ...)`` →
        ``(n_cells, ...)`` (equal weights: the points of one cell share its volume
        evenly for the rules used here up to degree 2)."""
        values = np.asarray(values)
        return values.reshape((self.cells.size, self.n_per_cell) + values.shape[1:]).mean(axis=1)

    def cell_function(self, cell_values: npt.ArrayLike, name: str) -> fem.Function:
        """A DG0 Function (scalar or vector) holding values per owned cell, for output."""
        cell_values = np.asarray(cell_values, dtype=float)
        shape = cell_values.shape[1:]
        W = fem.functionspace(self.mesh, ("DG", 0, shape) if shape else ("DG", 0))
        f = fem.Function(W, name=name)
        bs = int(np.prod(shape)) if shape else 1
        dofs = W.dofmap.list[self.cells].reshape(-1)
        f.x.array.reshape(-1, bs)[dofs] = cell_values.reshape(-1, bs)
        f.x.scatter_forward()
        return f

    def _respond(self, strain):  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self) -> bool:
        """The post-convergence hook: called by
        :class:`~dolfinx_multiscale.macro.newton.NewtonSolver` once the macro Newton has
        converged with this material's last update. A material whose answers are checked
        only then (a hyper-reduced RVE) re-marks the points that failed and returns
        ``True``: they change at the next update, so the Newton iterates on. Collective.
        This base class checks nothing."""
        return False

    def commit(self) -> None:  # pragma: no cover - abstract
        """Accept the trial state of every point (the load step converged)."""
        raise NotImplementedError

    def rollback(self) -> None:  # pragma: no cover - abstract
        """Forget the trial state (the load step failed): the next update starts from
        the committed state again."""
        raise NotImplementedError

    # -- SNES ---------------------------------------------------------------------------
    def attach(self, problem) -> None:
        """Make a ``dolfinx.fem.petsc.NonlinearProblem`` update this material before
        each residual evaluation (SNES evaluates the Jacobian at the same point)."""
        snes = problem.solver
        b, (function, args, kargs) = snes.getFunction()
        u = self.u

        def residual(snes_, x, b_, *a, **k):
            x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
            dolfinx.fem.petsc.assign(x, u)
            self.update()
            function(snes_, x, b_, *a, **k)

        snes.setFunction(residual, b, args=args or (), kargs=kargs or {})


class LocalMaterial(QuadratureMaterial):
    """The quadrature material of a law: its ``update`` applied at every point at once.

    Args:
        material: any :class:`~dolfinx_multiscale.materials.Material` with small- or
            finite-strain kinematics (``LinearElastic``, ``J2Plasticity``,
            ``GeneralizedMaxwell``, ``NeoHookean``, an ``RVE`` ...).
        mesh, quadrature_degree, subdomain: see :class:`QuadratureMaterial`.

    Attributes:
        material: as given.
        state: the committed states of the rank's points (the protocol's
            ``initial_state(n_points)`` at first).
        trial_state: the states of the last update (``state`` again after a commit or
            rollback).

    The states are double-buffered: the law may write an update into the buffer of the
    state committed before the last commit (the protocol's ``out``), so copy a state to
    keep it beyond the next step.
    """

    def __init__(self, material, mesh, quadrature_degree: int = 1, subdomain=None):
        super().__init__(mesh, quadrature_degree, subdomain, material.kinematics)
        self.material = material
        self.state = material.initial_state(self.n_points)
        self.trial_state = self.state
        self._spare = None  # a state buffer no longer in use (the one committed before)
        self._checked = True  # the law's post-convergence check ran on the trial state

    def _respond(self, strain):
        # a trial of this step (previous Newton iteration): a guess for iterative laws and
        # the buffer of the new trial; else the spare buffer
        same_step = self.trial_state is not self.state
        out = self.trial_state if same_step else self._spare
        sigma, tangent, self.trial_state = self.material.update(strain, self.state, True, out=out,
                                                                guess=self.trial_state if same_step else None)
        self._checked = False
        return sigma, np.ascontiguousarray(tangent)

    def check(self) -> bool:
        """Run the law's post-convergence check, if it has one: ``check_converged(strain,
        state, trial, reference_stress) -> (N,) bool`` (e.g.
        :meth:`ReducedRVE.check_converged <dolfinx_multiscale.cell.reduced.ReducedRVE.check_converged>`),
        with ``reference_stress`` the RMS stress of the last update over all points of
        all ranks. Returns whether some point of this rank was flagged. Collective."""
        law_check = getattr(self.material, "check_converged", None)
        if law_check is None:
            return False
        sums = self.mesh.comm.allreduce(np.array([np.sum(self.stress_values**2), self.n_points], dtype=float))
        self._checked = True
        if self.trial_state is self.state:
            return False
        reference = float(np.sqrt(sums[0] / max(sums[1], 1.0)))
        return bool(np.any(law_check(self.strain, self.state, self.trial_state, reference)))

    def commit(self) -> None:
        """Accept every point's trial state (the load step converged); runs the law's
        post-convergence check first if no solver did (its flags are then only counted)."""
        if not self._checked:
            self.check()
        if self.trial_state is not self.state:
            self._spare, self.state = self.state, self.trial_state

    def rollback(self) -> None:
        """Forget the trial states (the load step failed)."""
        self.trial_state = self.state

    def committed_history(self, key: str) -> npt.NDArray[np.float64]:
        """A committed scalar internal variable of the law at every point, ``(N,)``
        (e.g. ``"p"``, the equivalent plastic strain of ``J2Plasticity``); zeros when the
        law has none (an elastic law)."""
        value = self.state.get(key)
        if value is None:
            return np.zeros(self.n_points)
        value = np.asarray(value, dtype=float)
        if value.shape != (self.n_points,):
            raise ValueError(f"history {key!r} is not a scalar per point (shape {value.shape})")
        return value

    def restore_state(self, state: dict) -> None:
        """Make ``state`` (arrays ``(N, ...)`` with the keys of the law's
        ``initial_state``, e.g. read from a checkpoint) the committed state of every
        point; the next update starts from it."""
        expected = set(self.material.initial_state(0))
        if set(state) != expected:
            raise ValueError(f"state keys {sorted(state)} differ from the law's {sorted(expected)}")
        bad = [k for k, v in state.items() if len(v) != self.n_points]
        if bad:
            raise ValueError(f"state arrays {bad} do not have {self.n_points} points")
        self.state = self.trial_state = dict(state)
        self._spare = None
