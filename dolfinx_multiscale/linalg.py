"""A PETSc KSP factory whose defaults never leak into the options database.

Used by the cell problem's reduced solver (:mod:`~dolfinx_multiscale.cell.solver`) and
the macro Newton (:mod:`~dolfinx_multiscale.macro.newton`).
"""

from __future__ import annotations

import contextlib

from mpi4py import MPI
from petsc4py import PETSc

__all__ = ["DIRECT_DEFAULTS", "default_options", "make_ksp"]

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
