"""Progress reporting and clean stops for long loops (CLI commands, FE² runs, studies).

:class:`Progress` prints one report per finished step to ``stderr`` on rank 0: a bar
redrawn in place on a terminal, one line per step otherwise (a log file, CI)::

    fe2: step 3/10  load 0.3  newton 4  cuts 0  1.2 s/step  elapsed 3.6 s

:func:`graceful_stop` turns SIGINT (Ctrl-C) and SIGTERM (a batch system's wall-time
limit, ``kill``) into a request that the loop polls between steps with
:meth:`StopFlag.requested`, an MPI collective, so every rank stops after the same step
even when the signal reached them at different times. The loop then finishes its
current step's output (checkpoint, JSON), and raises :class:`~dolfinx_multiscale.errors.Interrupted`,
which the command line reports in one line (where it stopped, what was kept), exit
status 130 (SIGINT) or 143 (SIGTERM). A second signal while the step is still running
ends the process at once (the default action).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from mpi4py import MPI

__all__ = ["Progress", "StopFlag", "graceful_stop"]


class Progress:
    """One report per finished step of a loop of ``total`` steps, on rank 0's ``stderr``.

    Args:
        label: what runs (``"fe2"``, ``"rve-path"``, ``"rve-size"``).
        total: number of steps (``None`` if unknown).
        comm: only its rank 0 prints.
        stream: where to print (default ``sys.stderr``); a terminal gets a bar redrawn
            in place, anything else one line per step.
        enabled: ``False`` prints nothing (tests, library use).
        unit: what one report counts (``"step"``, ``"member"`` of a study).
    """

    def __init__(self, label: str, total: int | None, comm: MPI.Comm = MPI.COMM_WORLD,
                 stream: TextIO | None = None, enabled: bool = True, unit: str = "step"):
        self.label, self.total, self.unit = label, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and comm.rank == 0
        self.tty = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last_step: int | None = None

    def step(self, k: int, **info) -> None:
        """Report that step (unit) ``k`` (1-based) finished; ``info`` are ``name=value`` pairs
        shown in order (floats with 4 significant digits)."""
        self.last_step = k
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        of = f"/{self.total}" if self.total else ""
        fields = "  ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                           for name, value in info.items())
        text = f"{self.label}: {self.unit} {k}{of}  {fields}  elapsed {elapsed:.1f} s".replace("   ", "  ")
        if self.tty and self.total:
            width = 20
            done = int(width * k / self.total)
            self.stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {text}\033[K")
            if k == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """Print one line (ends a bar line first)."""
        if not self.enabled:
            return
        if self.tty and self.last_step is not None and self.last_step != self.total:
            self.stream.write("\n")
        self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()


class StopFlag:
    """Set by SIGINT/SIGTERM inside :func:`graceful_stop`; polled between steps."""

    def __init__(self, comm: MPI.Comm):
        self.comm = comm
        self.signal_name: str | None = None

    def set(self, name: str) -> None:
        """Record a stop request (what the signal handler does)."""
        self.signal_name = self.signal_name or name

    def requested(self) -> bool:
        """Whether any rank received a stop signal (collective: call it on every rank at
        the same point of the loop). Afterwards :attr:`signal_name` is set on every rank."""
        names = self.comm.allgather(self.signal_name)
        self.signal_name = next((n for n in names if n), None)
        return self.signal_name is not None

    @property
    def exit_status(self) -> int:
        """The shell's status for the signal: 130 (SIGINT), 143 (SIGTERM)."""
        return 128 + int(getattr(signal, self.signal_name or "SIGINT"))


@contextlib.contextmanager
def graceful_stop(comm: MPI.Comm = MPI.COMM_WORLD) -> Iterator[StopFlag]:
    """Within the block, SIGINT and SIGTERM set the yielded :class:`StopFlag` instead of
    killing the process; a second signal restores the default action and re-raises it.
    The previous handlers come back on exit. Outside the main thread it does nothing but
    yield a flag that is never set."""
    flag = StopFlag(comm)
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {s: signal.getsignal(s) for s in signals}

        def handler(signum, frame):
            if flag.signal_name is not None:  # second signal: stop now
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)
            flag.set(signal.Signals(signum).name)

        for s in signals:
            signal.signal(s, handler)
    except ValueError:  # not the main thread
        yield flag
        return
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
