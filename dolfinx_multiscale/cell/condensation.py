"""Static condensation: the reduced stiffness, its factorization and the macro tangent.

With the reduced stiffness ``K̃ = Pᵀ K P`` (``P`` the boundary condition's prolongation)
and the couplings ``F`` (column ``k``: the load ``∫ B(v)·D e_k`` of the unit macro strain
``e_k``) and ``G`` (the adjoint load ``∫ B(v)·Dᵀ e_k``; ``G = F`` for a symmetric tangent),
the consistent macro tangent is

    C_eff = ⟨D⟩ + |Y|⁻¹ Gᵀ W,   K̃ W = −Pᵀ F,

and ``P W_k`` is the unit fluctuation of ``e_k`` (``w ≈ Σ_k E_k P W_k`` to first order).
One factorization serves all ``n`` right-hand sides; :class:`CondensedOperator` keeps
the factorization until the point tangents change, so a linear RVE is factorized once
in its lifetime.
"""

from __future__ import annotations

from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

from .discretisation import CellDiscretisation
from .solver import ReducedSolver

__all__ = ["CondensedOperator"]


class CondensedOperator:
    """The reduced operator ``K̃`` of a cell and the condensed tangent.

    Args:
        discretisation: the cell's :class:`CellDiscretisation` (its ``D_q`` holds the
            point tangents of the operator).
        solver: the :class:`~dolfinx_multiscale.cell.solver.ReducedSolver` of the
            boundary condition.
        average_constraint: add ``⟨B(w)⟩ = 0`` by multipliers (SUBC).

    Attributes:
        solver: as given.
        factorized_D: the point tangents ``(N, n, n)`` of the current factorization
            (``None`` before the first).
        load_norm: ``max_k ‖F_k‖`` of the full-space unit loads of the last :meth:`tangent`.
    """

    def __init__(self, discretisation: CellDiscretisation, solver: ReducedSolver, average_constraint: bool):
        self.disc = disc = discretisation
        self.solver = solver
        self.factorized_D: npt.NDArray[np.float64] | None = None
        self.load_norm = 0.0
        self._phase_tangents: dict | None = None  # of the current factorization (voxel cells)
        self._full = [disc.create_vector() for _ in range(disc.n)]  # unit loads, full space
        self._reduced: dict[int, list[PETSc.Vec]] = {}  # unit loads per form, reduced
        self._W_reduced: list[PETSc.Vec] | None = None  # the last reduced unit fluctuations
        self.work = solver.P.createVecRight()  # reduced work vector (e.g. a correction)
        if average_constraint:
            solver.set_constraints(disc.unit_vectors(disc.average_form, [disc.create_vector()
                                                                         for _ in range(disc.n)]))

    def factorize(self, D: npt.NDArray[np.float64], phase_tangents: dict | None = None) -> None:
        """Assemble and factorize ``K̃`` for the point tangents ``D`` (already in
        ``D_q``); skipped when ``D`` equals the tangents of the current factorization,
        since ``K`` depends on nothing else. ``D`` is kept by reference (``N n²`` values:
        2.3 kB per hexahedron), so it must not be modified afterwards (the phase laws
        return new arrays). ``phase_tangents``: the constant tangent of each phase of a
        linear voxel cell: ``K̃`` (large cells) and the unit loads are then assembled from
        one element matrix / load per phase
        (:meth:`CellDiscretisation.assemble_stiffness`, :meth:`CellDiscretisation.voxel_unit_loads`)."""
        if self.factorized_D is not None and np.array_equal(D, self.factorized_D):
            return
        solver = self.solver
        if solver.preconditioner is not None:  # a reference medium: the mean tangent ⟨D⟩
            solver.preconditioner.set_reference(self.disc.average(D))
        if solver.in_place:  # large cells: straight into K̃
            self.disc.assemble_stiffness(solver.reduced_operator(self.disc.stiffness_pattern), phase_tangents)
            solver.update_operator()
        else:
            solver.set_operator(self.disc.assemble_local_stiffness())
        self.factorized_D, self._phase_tangents = D, phase_tangents

    def restricted_unit_loads(self, form) -> list[PETSc.Vec]:
        """``Pᵀ`` of ``form`` assembled for every unit macro strain (work vectors)."""
        key = id(form)
        if key not in self._reduced:
            self._reduced[key] = [self.work.duplicate() for _ in range(self.disc.n)]
        out = self._reduced[key]
        if form is self.disc.load and self._phase_tangents is not None:  # a linear voxel cell
            full = self.disc.voxel_unit_loads(self._phase_tangents, self._full)
        else:
            full = self.disc.unit_vectors(form, self._full)
        for f, r in zip(full, out):
            self.solver.restrict(f, r)
        return out

    def tangent(self, D: npt.NDArray[np.float64], rtol: float | None = None
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``C = ⟨D⟩ + |Y|⁻¹ Gᵀ W`` with the current factorization.

        Iterative solvers start each ``W_k`` from the previous condensation's (the unit
        fluctuations change little from one solve to the next) and solve to ``rtol``
        (default: the KSP's own); for a symmetric ``K̃`` (without SUBC's multipliers)
        ``Gᵀ W`` is then replaced by its stationary form
        (:meth:`_energy_correction`), exact to second order in the solves' errors.

        Returns:
            ``(C (n, n), W (n, n_owned))``: the tangent and the full-space unit
            fluctuations ``P W_k`` (owned dofs, row ``k``).
        """
        disc = self.disc
        F = self.restricted_unit_loads(disc.load)
        self.load_norm = max(f.norm() for f in self._full)
        symmetric = self.solver.symmetric or np.abs(D - np.swapaxes(D, 1, 2)).max() <= 1e-13 * np.abs(D).max()
        G = F if symmetric else self.restricted_unit_loads(disc.adjoint_load)
        C = disc.average(D)
        if self._W_reduced is None:
            self._W_reduced = [self.work.duplicate() for _ in range(disc.n)]
            for wk in self._W_reduced:
                wk.set(0.0)
        full = self._full[0]
        W = np.empty((disc.n, full.getLocalSize()))
        # a symmetric K̃ solved iteratively: the stationary (energy) form, whose error is
        # quadratic in the solves' errors e_k (below)
        energy = symmetric and self.solver.iterative and not self.solver.b
        for k, f in enumerate(F):  # W_k = −K̃⁻¹ F_k
            wk = self.solver.solve(f, self._W_reduced[k], rtol=rtol, initial_guess=True)
            if not energy:
                C[:, k] -= np.array([g.dot(wk) for g in G]) / disc.volume
            self.solver.P.mult(wk, full)
            W[k] = full.array_r
        if energy:
            C -= self._energy_correction(F) / disc.volume
        return C, -W

    def _energy_correction(self, F: list[PETSc.Vec]) -> npt.NDArray[np.float64]:
        """``F_k·w_l + w_k·F_l − w_k·K̃ w_l`` ``(n, n)`` for the last reduced unit
        fluctuations ``w_k ≈ K̃⁻¹ F_k`` (symmetric ``K̃``): equal to ``F_kᵀ K̃⁻¹ F_l −
        e_kᵀ K̃ e_l`` with the errors ``e_k = w_k − K̃⁻¹ F_k``, so ``C`` is exact to
        second order (``ksp_rtol 1e-8`` gives it to ~1e-14, where ``F_k·w_l`` alone would
        be off by ~1e-8) and symmetric."""
        w = self._W_reduced
        FW = np.array([[f.dot(wl) for wl in w] for f in F])
        Kw = self.work.duplicate()
        WKW = np.empty_like(FW)
        for l, wl in enumerate(w):
            self.solver.Kr.mult(wl, Kw)
            WKW[:, l] = [wk.dot(Kw) for wk in w]
        Kw.destroy()
        return FW + FW.T - WKW

    def solve_correction(self, r_reduced: PETSc.Vec, out: PETSc.Vec, rtol: float | None = None) -> PETSc.Vec:
        """The Newton correction ``P K̃⁻¹ (−r̃)`` of a reduced residual, into ``out``
        (full space); ``r_reduced`` is negated in place."""
        r_reduced.scale(-1.0)
        self.solver.P.mult(self.solver.solve(r_reduced, self.work, rtol=rtol), out)
        return out
