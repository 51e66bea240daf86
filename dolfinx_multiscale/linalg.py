"""PETSc linear solvers shared by the RVE and the macro Newton."""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["direct_ksp"]

DIRECT_DEFAULTS = (("ksp_type", "preonly"), ("pc_type", "lu"), ("pc_factor_mat_solver_type", "mumps"))


def direct_ksp(comm: MPI.Comm, prefix: str) -> PETSc.KSP:
    """A KSP with the options prefix ``prefix``, defaulting to MUMPS LU.

    The defaults (``-<prefix>ksp_type preonly -<prefix>pc_type lu
    -<prefix>pc_factor_mat_solver_type mumps``) are only set where the user has not set
    that option already, so e.g. ``PETSc.Options()[prefix + "ksp_type"] = "cg"`` and
    ``[prefix + "pc_type"] = "gamg"`` switch to an iterative solver.
    """
    opts = PETSc.Options()
    for key, value in DIRECT_DEFAULTS:
        if not opts.hasName(prefix + key):
            opts[prefix + key] = value
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix(prefix)
    ksp.setFromOptions()
    return ksp
