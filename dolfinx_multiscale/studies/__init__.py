"""Studies built on the cell problem and FE² (compute only; pictures live in
:mod:`~dolfinx_multiscale.viz`): load paths / virtual tests (:mod:`.loading`), analytic
references — bounds, exact laminates — (:mod:`.references`), verification, scale
separation, calibration and uncertainty quantification. (Reduced RVEs are materials of the
cell layer: :mod:`dolfinx_multiscale.cell.reduced`.)"""

from . import calibration, loading, references, scale_separation, uq, verification

__all__ = ["calibration", "loading", "references", "scale_separation", "uq", "verification"]
