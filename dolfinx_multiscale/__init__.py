"""dolfinx_multiscale: computational homogenization and FE² for DOLFINx.

``dolfinx_solver`` (the PyPI DOLFINx distribution with real-scalar PETSc) must be
imported before ``dolfinx`` or ``petsc4py``; importing this package does it once, here
and nowhere else. Where DOLFINx comes from elsewhere (the official Docker image, conda)
that module is absent and not needed.

The subpackages are the layers of ``docs/architecture.md``, bottom to top:
:mod:`.errors`, :mod:`.tensors`, :mod:`.kinematics` → :mod:`.materials` →
:mod:`.geometry` → :mod:`.cell` → :mod:`.macro` → :mod:`.studies` → :mod:`.viz`,
:mod:`.cli`.
"""

try:
    import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
except ModuleNotFoundError as _exc:  # DOLFINx installed without the PyPI wheel
    if _exc.name != "dolfinx_solver":
        raise

from . import cell, errors, geometry, kinematics, macro, materials, runs, studies, tensors, viz
from .cell import RVE, kubc, periodic, subc
from .errors import LoadPathError, MacroConvergenceError, NotPeriodicError, RVEConvergenceError
from .geometry import Microstructure, from_image, microstructures, read_msh
from .macro import FE2Material, LocalMaterial, NewtonSolver, incremental_solve
from .materials import (Conductivity, GeneralizedMaxwell, J2Plasticity, LinearElastic, Material, NeoHookean,
                        SaintVenantKirchhoff)
from .stability import Ellipticity, acoustic_tensor, ellipticity
from .studies import calibration, loading, reduction, references, scale_separation, uq, verification
from .studies.loading import load_path
from .studies.reduction import ReducedRVE

#: the former name of :mod:`.studies.references` (analytic bounds and laminates)
homogenization = references

__version__ = "0.1.0"

__all__ = [
    "Conductivity",
    "Ellipticity",
    "FE2Material",
    "GeneralizedMaxwell",
    "J2Plasticity",
    "LinearElastic",
    "LoadPathError",
    "LocalMaterial",
    "MacroConvergenceError",
    "Material",
    "Microstructure",
    "NeoHookean",
    "NewtonSolver",
    "NotPeriodicError",
    "RVE",
    "RVEConvergenceError",
    "ReducedRVE",
    "SaintVenantKirchhoff",
    "__version__",
    "acoustic_tensor",
    "calibration",
    "cell",
    "ellipticity",
    "errors",
    "from_image",
    "geometry",
    "homogenization",
    "incremental_solve",
    "kinematics",
    "kubc",
    "load_path",
    "loading",
    "macro",
    "materials",
    "microstructures",
    "periodic",
    "read_msh",
    "reduction",
    "references",
    "runs",
    "scale_separation",
    "studies",
    "subc",
    "tensors",
    "uq",
    "verification",
    "viz",
]
