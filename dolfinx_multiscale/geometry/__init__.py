"""Microstructures: Gmsh generators and recipes (:mod:`.microstructures`) and the
Gmsh ↔ DOLFINx meshing and ``.msh`` input/output (:mod:`.meshing`)."""

from .microstructures import Microstructure, read_msh

__all__ = ["Microstructure", "read_msh"]
