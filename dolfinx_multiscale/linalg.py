"""PETSc linear solvers shared by the RVE and the macro Newton."""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

from .boundary import CellConstraint

__all__ = ["ReducedSolver", "direct_ksp"]

DIRECT_DEFAULTS = (("ksp_type", "preonly"), ("pc_type", "lu"), ("pc_factor_mat_solver_type", "mumps"))
#: CG + smoothed aggregation AMG, tight enough for condensed tangents symmetric to 1e-10
ITERATIVE_DEFAULTS = (("ksp_type", "cg"), ("pc_type", "gamg"), ("ksp_rtol", "1e-12"),
                      ("ksp_atol", "1e-300"), ("ksp_max_it", "2000"))


def direct_ksp(comm: MPI.Comm, prefix: str, defaults=DIRECT_DEFAULTS) -> PETSc.KSP:
    """A KSP with the options prefix ``prefix``, defaulting to MUMPS LU.

    The defaults (``-<prefix>ksp_type preonly -<prefix>pc_type lu
    -<prefix>pc_factor_mat_solver_type mumps``, or ``defaults``) are only set where the
    user has not set that option already, so e.g.
    ``PETSc.Options()[prefix + "ksp_type"] = "cg"`` and ``[prefix + "pc_type"] = "gamg"``
    switch to an iterative solver.
    """
    opts = PETSc.Options()
    for key, value in defaults:
        if not opts.hasName(prefix + key):
            opts[prefix + key] = value
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix(prefix)
    ksp.setFromOptions()
    return ksp


class ReducedSolver:
    """Solves ``K w = b`` on the subspace ``w = P w̃`` (optionally with ``⟨B(w)⟩ = 0``).

    ``K̃ = Pᵀ K P`` is formed once and refilled in place (``K.ptap(P, result=K̃)``) so
    the direct solver keeps its symbolic analysis. For the average-strain constraint
    ``bⱼᵀ w̃ = 0`` (SUBC) the multipliers are eliminated with the Schur complement
    ``S = bᵀ K̃⁻¹ b`` (``n`` extra solves per factorization).
    """

    def __init__(self, constraint: CellConstraint, comm: MPI.Comm, prefix: str,
                 near_nullspace: list[PETSc.Vec] | None = None, block_size: int = 1):
        self.P = constraint.P
        self._near_nullspace = near_nullspace
        self._block_size = block_size
        self.ksp = direct_ksp(comm, prefix, DIRECT_DEFAULTS if near_nullspace is None else ITERATIVE_DEFAULTS)
        self.Kr: PETSc.Mat | None = None
        self.b: list[PETSc.Vec] = []  # reduced constraint vectors (SUBC)
        self._Z: list[PETSc.Vec] = []
        self._S_inv: npt.NDArray[np.float64] | None = None
        self.n_factorizations = 0

    def set_operator(self, K: PETSc.Mat) -> None:
        if self.Kr is None:
            self.Kr = K.ptap(self.P)
            if self._near_nullspace is not None:
                self._set_near_nullspace()
            self.ksp.setOperators(self.Kr)
        else:
            K.ptap(self.P, result=self.Kr)
        self.ksp.setUp()
        self.n_factorizations += 1
        if self.b:
            self._Z = [self._raw_solve(bj) for bj in self.b]
            S = np.array([[bi.dot(zj) for zj in self._Z] for bi in self.b])
            self._S_inv = np.linalg.inv(S)

    def _set_near_nullspace(self) -> None:
        """Rigid modes of the full space restricted to the reduced one: ``t̃ = Pᵀt ⊘ Pᵀ1``
        (a periodic image's value is the average of its copies, i.e. the value)."""
        ones = self.P.createVecLeft()
        ones.set(1.0)
        count = self.restrict(ones)
        with count.localForm() as c:
            c.array[c.array == 0] = 1.0
        modes = []
        for t in self._near_nullspace:
            m = self.restrict(t)
            m.pointwiseDivide(m, count)
            modes.append(m)
        for i, m in enumerate(modes):  # modified Gram–Schmidt
            for q in modes[:i]:
                m.axpy(-m.dot(q), q)
            m.normalize()
        if self._block_size > 1:
            self.Kr.setBlockSize(self._block_size)
        self.Kr.setNearNullSpace(PETSc.NullSpace().create(vectors=modes, comm=self.Kr.comm))

    def set_constraints(self, b_full: list[PETSc.Vec]) -> None:
        self.b = [self.restrict(bj) for bj in b_full]

    def restrict(self, v_full: PETSc.Vec) -> PETSc.Vec:
        out = self.P.createVecRight()
        self.P.multTranspose(v_full, out)
        return out

    def _raw_solve(self, rhs: PETSc.Vec) -> PETSc.Vec:
        x = rhs.duplicate()
        self.ksp.solve(rhs, x)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"RVE linear solve failed (KSPConvergedReason {reason})")
        return x

    def solve(self, rhs: PETSc.Vec) -> PETSc.Vec:
        """Reduced ``δ`` with ``K̃ δ + b λ = rhs`` and ``bᵀ δ = 0`` (λ eliminated).

        Newton iterates start from a state that satisfies ``bᵀ w̃ = 0``, so a correction
        with ``bᵀ δ = 0`` keeps it.
        """
        y = self._raw_solve(rhs)
        if self.b:
            lam = self._S_inv @ np.array([bj.dot(y) for bj in self.b])
            for zj, lj in zip(self._Z, lam):
                y.axpy(-lj, zj)
        return y

    def projected_norm(self, r: PETSc.Vec) -> float:
        """Norm of ``r`` with its component in span(b) removed (the multipliers' part)."""
        if not self.b:
            return r.norm()
        B = np.array([bj.dot(bk) for bj in self.b for bk in self.b]).reshape(len(self.b), -1)
        lam = np.linalg.solve(B, np.array([bj.dot(r) for bj in self.b]))
        rr = r.copy()
        for bj, lj in zip(self.b, lam):
            rr.axpy(-lj, bj)
        return rr.norm()
