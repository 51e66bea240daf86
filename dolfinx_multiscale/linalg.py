"""A PETSc KSP factory whose defaults never leak into the options database, and a serial
sparse Cholesky factorization for many right-hand sides at once.

The factory is used by the cell problem's reduced solver
(:mod:`~dolfinx_multiscale.cell.solver`) and the macro Newton
(:mod:`~dolfinx_multiscale.macro.newton`); the factorization by the batched cell's
elastic solves (:mod:`~dolfinx_multiscale.cell.batch`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["DIRECT_DEFAULTS", "SparseCholesky", "default_options", "make_ksp"]

#: MUMPS LU
DIRECT_DEFAULTS = (("ksp_type", "preonly"), ("pc_type", "lu"), ("pc_factor_mat_solver_type", "mumps"))


def make_ksp(comm: MPI.Comm, prefix: str, defaults=DIRECT_DEFAULTS) -> PETSc.KSP:
    """A KSP with the options prefix ``prefix`` and the given default options.

    The defaults (MUMPS LU, ``-<prefix>ksp_type preonly -<prefix>pc_type lu
    -<prefix>pc_factor_mat_solver_type mumps``, unless other ``(key, value)`` pairs are
    given, e.g. CG + GAMG) apply where the user has not set that option, so e.g.
    ``PETSc.Options()[prefix + "ksp_type"] = "cg"`` and ``[prefix + "pc_type"] = "gamg"``
    switch to an iterative solver. They are read from the options database and removed
    again, so they do not leak into another solver with the same prefix (RVEs of other
    sizes get other defaults).
    """
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix(prefix)
    with default_options(prefix, defaults):
        ksp.setFromOptions()
    return ksp


@contextlib.contextmanager
def default_options(prefix: str, defaults):
    """Within the block, the options database holds ``prefix + key = value`` for every
    ``(key, value)`` of ``defaults`` the user has not set; afterwards they are removed."""
    opts = PETSc.Options()
    added = [(key, value) for key, value in defaults if not opts.hasName(prefix + key)]
    for key, value in added:
        opts[prefix + key] = value
    try:
        yield
    finally:
        for key, _ in added:
            opts.delValue(prefix + key)


class SparseCholesky:
    """MUMPS Cholesky factorization of a symmetric positive definite sparse matrix on
    ``PETSc.COMM_SELF``, solved for many right-hand sides in one call.

    MUMPS's solve works on blocks of right-hand sides with level-3 BLAS: for 16 columns on
    the 3-D benchmark cell (3 963 unknowns) 7.4 ms against 24.6 ms for SciPy's SuperLU with
    a symmetric ordering, 0.9 against 1.7 ms on the 2-D part's cell (1 532 unknowns).

    Args:
        K: the matrix ``(n, n)``, SciPy sparse, symmetric positive definite (not checked:
            a pivot-free factorization of another matrix is wrong or fails).
    """

    def __init__(self, K: sp.spmatrix):
        K = sp.csr_matrix(K)
        K.sort_indices()
        self._A = A = PETSc.Mat().createAIJ(
            size=K.shape, csr=(K.indptr.astype(PETSc.IntType), K.indices.astype(PETSc.IntType), K.data),
            comm=PETSc.COMM_SELF)
        A.assemble()
        A.setOption(PETSc.Mat.Option.SPD, True)
        self._ksp = ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        ksp.setOperators(A)
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("cholesky")
        pc.setFactorSolverType("mumps")
        ksp.setUp()
        self._factor = pc.getFactorMatrix()

    def solve(self, rhs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``K⁻¹ rhs`` for the columns of ``rhs`` ``(n, M)`` → ``(n, M)``."""
        rhs = np.asarray(rhs, dtype=float)
        if rhs.ndim == 1:
            return self.solve(rhs[:, None])[:, 0]
        B = PETSc.Mat().createDense(rhs.shape, array=np.asfortranarray(rhs), comm=PETSc.COMM_SELF)
        X = PETSc.Mat().createDense(rhs.shape, comm=PETSc.COMM_SELF)
        X.setUp()
        self._factor.matSolve(B, X)
        out = X.getDenseArray().copy()
        B.destroy()
        X.destroy()
        return out
