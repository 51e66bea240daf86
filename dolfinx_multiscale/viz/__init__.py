"""Pictures: the top layer, drawing what the lower layers compute.

* :mod:`.fields` — off-screen PyVista pictures of fields on meshes (microstructures, RVE
  fields, macro fields, the local errors of a DNS); collective, rank 0 writes.
* :mod:`.curves` — matplotlib figures (Agg) of curves and of the reports returned by
  :mod:`~dolfinx_multiscale.studies` (load paths, mesh convergence, RVE size, Monte
  Carlo, scale separation).

The studies import nothing from here (``docs/architecture.md``): a study returns its
numbers (and, on request, the fields a picture needs), and the caller — a demo, the CLI
— passes them to a function of this package. The public names of both modules are
re-exported here.
"""

from . import curves, fields
from .curves import (plot_load_path, plot_mesh_convergence, plot_monte_carlo, plot_rve_size_study,
                     plot_scale_separation, plot_time_scale_separation, pyplot, save_figure)
from .fields import plot_macro, plot_microstructure, plot_rve, plot_scale_separation_fields, plot_voxels

__all__ = [
    "curves",
    "fields",
    "plot_load_path",
    "plot_macro",
    "plot_mesh_convergence",
    "plot_microstructure",
    "plot_monte_carlo",
    "plot_rve",
    "plot_rve_size_study",
    "plot_scale_separation",
    "plot_scale_separation_fields",
    "plot_time_scale_separation",
    "plot_voxels",
    "pyplot",
    "save_figure",
]
