"""The macro side: quadrature-space materials (:mod:`.quadrature`), FE² (:mod:`.fe2`),
the macro Newton (:mod:`.newton`), and ready-made macro problems (:mod:`.problems`)."""

from .fe2 import FE2Material, cyclic_partitioner
from .newton import NewtonSolver, incremental_solve
from .problems import Beam
from .quadrature import LocalMaterial, QuadratureMaterial

__all__ = ["Beam", "FE2Material", "LocalMaterial", "NewtonSolver", "QuadratureMaterial", "cyclic_partitioner", "incremental_solve"]
