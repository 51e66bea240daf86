"""dolfinx_multiscale: computational homogenization and FE² for DOLFINx.

``dolfinx_solver`` (the PyPI DOLFINx distribution with real-scalar PETSc) must be
imported before ``dolfinx`` or ``petsc4py``; importing this package does it once. Where
DOLFINx comes from elsewhere (the official Docker image, conda) that module is absent
and not needed.
"""

try:
    import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
except ModuleNotFoundError as _exc:  # DOLFINx installed without the PyPI wheel
    if _exc.name != "dolfinx_solver":
        raise

from . import (calibration, homogenization, loading, macro, microstructures, scale_separation, tensors, uq,
               verification, viz)
from .boundary import NotPeriodicError, kubc, periodic, subc
from .fe2 import FE2Material
from .materials import Conductivity, LinearElastic
from .microstructures import Microstructure, read_msh
from .newton import MacroConvergenceError, NewtonSolver, incremental_solve
from .plasticity import J2Plasticity
from .quadrature import LocalMaterial
from .rve import RVE, RVEConvergenceError
from .viscoelasticity import GeneralizedMaxwell

__version__ = "0.1.0"

__all__ = [
    "Conductivity",
    "FE2Material",
    "GeneralizedMaxwell",
    "J2Plasticity",
    "LinearElastic",
    "LocalMaterial",
    "MacroConvergenceError",
    "Microstructure",
    "NewtonSolver",
    "NotPeriodicError",
    "RVE",
    "RVEConvergenceError",
    "__version__",
    "calibration",
    "homogenization",
    "incremental_solve",
    "kubc",
    "loading",
    "macro",
    "microstructures",
    "periodic",
    "read_msh",
    "scale_separation",
    "subc",
    "tensors",
    "uq",
    "verification",
    "viz",
]
