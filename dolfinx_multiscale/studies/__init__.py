"""Studies built on the cell problem and FE² (compute only; pictures live in
:mod:`~dolfinx_multiscale.viz`): load paths / virtual tests (:mod:`.loading`), analytic
references — bounds, exact laminates — (:mod:`.references`), verification, scale
separation, calibration, uncertainty quantification and reduced-order RVEs with error
control (:mod:`.reduction`, trained on :mod:`.snapshots`)."""

from . import calibration, loading, reduction, references, scale_separation, snapshots, uq, verification

__all__ = ["calibration", "loading", "reduction", "references", "scale_separation", "snapshots", "uq",
           "verification"]
