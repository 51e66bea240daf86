"""Independent work items dealt over the ranks of a communicator (layer 0).

:func:`map_over_ranks` runs ``fn(i)`` for ``i`` on rank ``i % size`` and gathers every
result on every rank, in order. A failure on one rank is re-raised on all of them after
the collective gather, so no rank hangs. Used by the studies' ensembles
(:mod:`~dolfinx_multiscale.studies.uq`) and the reduced cell's training data
(:mod:`~dolfinx_multiscale.cell.sampling`).
"""

from __future__ import annotations

from collections.abc import Callable

from mpi4py import MPI

__all__ = ["map_over_ranks"]


def map_over_ranks(fn: Callable[[int], object], n: int, comm: MPI.Comm,
                   label: Callable[[int], str] = "item {}".format, stop=None) -> list[tuple[int, int, object]]:
    """``fn(i)`` for ``i`` in ``range(n)``, item ``i`` on rank ``i % comm.size``.

    Args:
        fn: the work of one item.
        n: the number of items.
        comm: the ranks.
        label: names item ``i`` in the error message.
        stop: a :class:`~dolfinx_multiscale.progress.StopFlag`, polled (collectively)
            after every round of ``size`` items; when a signal came, the ranks stop there
            and fewer than ``n`` results come back.

    Returns:
        ``[(i, rank, fn(i)), ...]`` sorted by ``i``, the same on every rank.

    Raises:
        ValueError: an item raised a ``ValueError`` (message ``"<label>: <its message>"``,
            the first failing item's), on every rank.
        RuntimeError: an item raised another exception (likewise).
    """
    local, error = [], None
    for first in range(0, n, comm.size):  # one round: an item per rank
        i = first + comm.rank
        if i < n and error is None:
            try:
                local.append((i, comm.rank, fn(i)))
            except Exception as exc:  # noqa: BLE001 - re-raised collectively below
                error = (i, type(exc).__name__, str(exc))
        if stop is not None and stop.requested():
            break
    gathered = comm.allgather((local, error))
    errors = [e for _, e in gathered if e is not None]
    if errors:
        i, kind, message = min(errors)
        exc_type = ValueError if kind == "ValueError" else RuntimeError
        raise exc_type(f"{label(i)}: {message}")
    return sorted(item for part, _ in gathered for item in part)
