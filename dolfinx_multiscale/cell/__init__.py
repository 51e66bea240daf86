"""The cell problem: boundary conditions as prolongations (:mod:`.boundary`), the
reduced linear solver and its policy (:mod:`.solver`), and the :class:`RVE` façade
(:mod:`.rve`)."""

from .boundary import BOUNDARY_CONDITIONS, kubc, periodic, subc
from .rve import RVE

__all__ = ["BOUNDARY_CONDITIONS", "RVE", "kubc", "periodic", "subc"]
