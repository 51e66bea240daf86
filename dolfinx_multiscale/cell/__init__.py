"""The cell problem, one job per module (``docs/architecture.md``):

* :mod:`.boundary` — KUBC / periodic / SUBC as a prolongation ``w = P w̃``;
* :mod:`.discretisation` — spaces, compiled forms, quadrature weights;
* :mod:`.phases` — every phase's material at its points;
* :mod:`.solver` — the reduced linear solver and its :class:`SolverPolicy`;
* :mod:`.condensation` — the reduced operator and the condensed tangent;
* :mod:`.newton` — the micro Newton;
* :mod:`.response` — fields, averages and energies of a solve;
* :mod:`.batch` — many macro points of a serial cell at once (the elastic shortcut);
* :mod:`.rve` — the :class:`RVE` façade;
* :mod:`.reduced` — the hyper-reduced cell (:class:`ReducedRVE`), another material of
  this layer: :mod:`.sampling` (its training data: paths, snapshots, POD),
  :mod:`.training` (the fit: modes, cubature, safety factor), :mod:`.cubature` (the
  empirical cubature), :mod:`.galerkin` (its numerics), :mod:`.tangents` (the check's
  micro tangents and CG).
"""

from .boundary import BOUNDARY_CONDITIONS, kubc, periodic, subc
from .reduced import ReducedRVE
from .rve import RVE
from .solver import SolverPolicy

__all__ = ["BOUNDARY_CONDITIONS", "RVE", "ReducedRVE", "SolverPolicy", "kubc", "periodic", "subc"]
