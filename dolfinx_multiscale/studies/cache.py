"""A resume cache for long studies: one JSON file per finished member, keyed by its inputs.

A study made of independent members (an RVE-size ensemble, Monte Carlo samples) stores
each finished member's result under the SHA-256 of the canonical JSON of the member's
inputs (sorted keys, exact float ``repr``, plus :data:`FORMAT_VERSION`). Run again with
the same cache, the study finds the members it already has and computes only the others:
a stopped (SIGINT/SIGTERM, wall-time limit) or crashed study resumes, and a study grown by
more seeds or sizes reuses what it shares with the smaller one. Changing any input changes
the key, so a stale result is never returned for different inputs.

An entry is written atomically (a temporary file in the same directory, then
``os.replace``), so a run killed while writing leaves either the old state or the whole
entry. On reading, an entry that is not valid JSON, has another format version or whose
stored inputs differ from the requested ones (a truncated or edited file, a hash collision)
is ignored and the member recomputed, then overwritten: a cache entry is never trusted
blindly. Results round-trip exactly (floats are written with their shortest exact
``repr``), so a resumed study gives bit for bit the numbers of an uninterrupted one.

Under MPI each rank reads and writes only the members it computes (round-robin), so no
two ranks write one file; the directory must be visible to all ranks (a shared file
system).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ..files import write_json_atomic

__all__ = ["FORMAT_VERSION", "ResultCache", "cached"]

#: Version of the stored layout; part of every key, so bumping it invalidates old entries.
FORMAT_VERSION = 1


def _plain(value):
    """JSON fallback for NumPy arrays and scalars (``tolist`` gives Python lists/floats)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a result cache")


def _canonical(inputs) -> str:
    """The canonical JSON text of ``inputs`` with the format version (what the key hashes):
    first made plain JSON (tuples → lists, keys → strings), then written with sorted keys."""
    plain = json.loads(json.dumps(inputs, default=_plain))
    return json.dumps({"format": FORMAT_VERSION, "inputs": plain}, sort_keys=True, separators=(",", ":"))


class ResultCache:
    """Finished members of a study in ``directory``, one ``<sha256>.json`` file each.

    Args:
        directory: where the entries live; created (with its parents) if missing.

    Attributes:
        directory: the cache directory (a :class:`~pathlib.Path`).
        hits: how many :meth:`get` calls of this process found a valid entry.
        misses: how many found none (or an invalid one, which is then ignored).

    Raises:
        ValueError: ``directory`` exists and is not a directory.
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache {str(self.directory)!r} exists and is not a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    @classmethod
    def of(cls, cache: ResultCache | str | os.PathLike | None) -> ResultCache | None:
        """``cache`` itself if it is a cache, a cache in that directory if it is a path,
        ``None`` for ``None`` (what the studies' ``cache=`` argument accepts)."""
        if cache is None or isinstance(cache, ResultCache):
            return cache
        return cls(cache)

    @staticmethod
    def key(inputs: Mapping) -> str:
        """The SHA-256 hex digest of the canonical JSON of ``inputs`` (JSON values, NumPy
        arrays and scalars; dict order does not matter, tuples equal lists, keys are
        compared as strings)."""
        return hashlib.sha256(_canonical(inputs).encode()).hexdigest()

    def path(self, inputs: Mapping) -> Path:
        """The file that holds (or would hold) the result for ``inputs``."""
        return self.directory / f"{self.key(inputs)}.json"

    def get(self, inputs: Mapping):
        """The stored result for ``inputs`` (JSON values: lists, floats, dicts), or
        ``None`` if there is none or the entry is unreadable, truncated, of another
        format, or stored for other inputs."""
        try:
            entry = json.loads(self.path(inputs).read_text())
            valid = (isinstance(entry, dict) and entry.get("format") == FORMAT_VERSION and "result" in entry
                     and _canonical(entry.get("inputs")) == _canonical(inputs))
        except (OSError, ValueError):  # missing, unreadable or not JSON (json.JSONDecodeError)
            valid = False
        if not valid:
            self.misses += 1
            return None
        self.hits += 1
        return entry["result"]

    def put(self, inputs: Mapping, result) -> Path:
        """Store ``result`` (JSON values, NumPy arrays or scalars) for ``inputs``,
        atomically; returns the entry's path."""
        target = self.path(inputs)
        write_json_atomic(target, {"format": FORMAT_VERSION, "inputs": inputs, "result": result}, fsync=True,
                          indent=None, default=_plain)
        return target

    def __len__(self) -> int:
        """How many entries the directory holds (valid or not)."""
        return sum(1 for _ in self.directory.glob("*.json"))


def cached(store: ResultCache | None, inputs: Callable[[], Mapping], compute: Callable[[], object]
           ) -> tuple[object, bool]:
    """``(result, found)``: the result ``store`` holds for ``inputs()`` if any, else
    ``compute()`` (stored when there is a ``store``). ``inputs`` is called only with a
    store (building the key may cost something)."""
    if store is None:
        return compute(), False
    key = inputs()
    value = store.get(key)
    if value is not None:
        return value, True
    value = compute()
    store.put(key, value)
    return value, False
