"""FE² runs described by a run file (TOML), checkpointed and restartable.

* :mod:`.spec` — the run file → a validated :class:`RunSpec` (errors name the key);
* :mod:`.problem` — the macro problem it describes (mesh, materials, supports, loads,
  reactions);
* :mod:`.checkpoint` — per-rank, rank-count-independent checkpoints and their restart;
* :mod:`.driver` — :func:`run`: step, write JSON and checkpoints, stop cleanly.

The command line's ``dolfinx-multiscale fe2 RUN.toml`` is :func:`read_run` + :func:`run`.
"""

from .checkpoint import CheckpointError
from .driver import run
from .spec import RunFileError, RunSpec, read_run

__all__ = ["CheckpointError", "RunFileError", "RunSpec", "read_run", "run"]
