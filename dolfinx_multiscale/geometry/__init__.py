"""Microstructures: Gmsh generators and recipes (:mod:`.microstructures`), the
Gmsh ↔ DOLFINx meshing and ``.msh`` input/output (:mod:`.meshing`) and voxel images
(:mod:`.images`: labels → one Q1 cell per voxel)."""

from .microstructures import Microstructure, from_image, read_msh

__all__ = ["Microstructure", "from_image", "read_msh"]
