"""Files that are always whole: written under a temporary name, then renamed over the target.

``os.replace`` is atomic on POSIX, so a reader (or a restart after a kill) finds either
the previous complete file or the new complete one, never a truncated mix. Used for the
run JSON and checkpoints (:mod:`~dolfinx_multiscale.runs`), the command line's JSON
outputs and the studies' result caches (:mod:`~dolfinx_multiscale.studies.cache`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "write_json_atomic"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", fsync: bool = False) -> Iterator[IO]:
    """Open a temporary file next to ``path`` (unique per process); when the block ends
    without an exception, rename it over ``path``, else delete it.

    Args:
        path: the file to write.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        fsync: flush the data to the disk before the rename (survives a power loss, not
            only a killed process; costs a disk round trip).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, data, fsync: bool = False, **dumps) -> None:
    """Write ``data`` as JSON (``indent=2`` and a final newline unless ``dumps`` says
    otherwise) to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, fsync=fsync) as f:
        f.write(json.dumps(data, **{"indent": 2, **dumps}) + "\n")
