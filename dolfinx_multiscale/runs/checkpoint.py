"""Checkpoints of an FE² run: per-rank ``.npz`` files keyed by rank-independent indices.

Layout of a checkpoint directory ``DIR`` (format version :data:`FORMAT_VERSION`;
``docs/run-files.md``)::

    DIR/step_000007/rank_00000.npz    one file per rank of the run that wrote it
    DIR/step_000007/manifest.json     step, load, run-file digest, rank count, the JSON
                                      records so far, size and sha256 of every .npz
    DIR/checkpoint.json               {"version": 2, "step": 7, "directory": "step_000007"}

Every file is written to a temporary name and renamed (``os.replace``, atomic on POSIX):
the manifest after all ``.npz`` files, ``checkpoint.json`` last, so its presence means a
complete checkpoint. The two newest checkpoints are kept. On restart the newest step
directory whose manifest parses and whose files match their recorded sizes and sha256
is used (a checkpoint cut mid-write is skipped with a warning); none →
:class:`CheckpointError`.

Each ``.npz`` holds the rank's *owned* data under keys that do not depend on the
partition, so a run restarts on any rank count:

* ``u_keys`` ``(n,)`` int64, ``u_values`` ``(n, d)``: the macro displacement per dof
  block, keyed by the input (file/generator) indices of the mesh vertices of the entity
  carrying the dof: a vertex ``a`` → ``a (N + 1)``, an edge ``a < b`` → ``a (N + 1) +
  b + 1`` (``N`` the number of input nodes; displacement degree 1 or 2);
* per material ``i``: ``m{i}_points`` ``(N_i,)`` int64, ``original cell index ×
  points per cell + point index``, and ``m{i}_state_{key}`` ``(N_i, ...)``: every array of
  the committed state (fluctuations, unit fluctuations, internal variables; dtypes kept).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from mpi4py import MPI

import numpy as np
import numpy.typing as npt

import basix

from ..files import atomic_write, write_json_atomic

__all__ = ["CheckpointError", "FORMAT_VERSION", "dof_keys", "point_keys", "read_checkpoint", "write_checkpoint"]

_log = logging.getLogger(__name__)

#: the version of the layout above; a restart refuses other versions (2: RVE point states
#: hold ``Sigma``, ``residual``, ``residual_scale``, reduced ones ``forced``)
FORMAT_VERSION = 2
#: complete checkpoints kept (the newest ones)
KEEP = 2


class CheckpointError(RuntimeError):
    """No usable checkpoint: none complete, another run file, another format."""


def dof_keys(V) -> npt.NDArray[np.int64]:
    """Rank-independent keys of the local dof blocks (owned and ghost) of a vector
    Lagrange space of degree 1 or 2 (see the module docstring), ``(n_blocks,)``.

    Raises:
        CheckpointError: a dof on an entity other than a vertex or an edge, or several
            on one entity (degree > 2, or quadrilateral/hexahedral P2).
    """
    mesh = V.mesh
    geo = mesh.geometry
    n_input = mesh.comm.allreduce(int(geo.input_global_indices.max(initial=-1)) + 1, op=MPI.MAX) + 1
    topology = basix.topology(basix.CellType[mesh.topology.cell_type.name])
    vertices = np.asarray(geo.input_global_indices)[geo.dofmaps[0][:, : len(topology[0])]]
    dofs, layout = V.dofmap.list, V.dofmap.dof_layout
    imap = V.dofmap.index_map
    keys = np.full(imap.size_local + imap.num_ghosts, -1, dtype=np.int64)
    for dim, entities in enumerate(topology):
        for e, entity in enumerate(entities):
            local = layout.entity_dofs(dim, e)
            if not local:
                continue
            if len(local) > 1 or dim > 1:
                raise CheckpointError("checkpoints support displacements of degree 1 or 2 on simplices "
                                      f"(one dof per vertex or edge); this space has {len(local)} on a {dim}-D entity")
            ends = vertices[:, entity]
            keys[dofs[:, local[0]]] = ends.min(axis=1) * n_input + (0 if dim == 0 else ends.max(axis=1) + 1)
    return keys


def point_keys(material) -> npt.NDArray[np.int64]:
    """Rank-independent keys of a quadrature material's points, ``(N,)``:
    ``original cell index × points per cell + point index in the cell``."""
    original = np.asarray(material.mesh.topology.original_cell_index, dtype=np.int64)[material.cells]
    n = material.n_per_cell
    return (original[:, None] * n + np.arange(n)).reshape(-1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_checkpoint(directory: Path, problem, step: int, load: float, records: list, comm: MPI.Comm) -> Path:
    """Write the committed state of ``problem`` after ``step`` (collective).

    Args:
        directory: the checkpoint directory (created).
        problem: a :class:`~dolfinx_multiscale.runs.problem.MacroProblem` whose ``u`` and
            materials' ``state`` are those of the committed step.
        step, load: the step number (1-based) and its load factor.
        records: the run's JSON step records so far (restored on restart).

    Returns:
        The step directory.
    """
    directory = Path(directory)
    target = directory / f"step_{step:06d}"
    if comm.rank == 0:
        target.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    V = problem.V
    n_owned = V.dofmap.index_map.size_local
    bs = V.dofmap.index_map_bs
    arrays = {"u_keys": dof_keys(V)[:n_owned], "u_values": problem.u.x.array.reshape(-1, bs)[:n_owned]}
    for i, material in enumerate(problem.materials):
        arrays[f"m{i}_points"] = point_keys(material)
        for key, value in material.state.items():
            arrays[f"m{i}_state_{key}"] = np.asarray(value)
    name = f"rank_{comm.rank:05d}.npz"
    with atomic_write(target / name, "wb") as f:
        np.savez(f, **arrays)
    files = comm.gather((name, (target / name).stat().st_size, _sha256(target / name)), root=0)
    if comm.rank == 0:
        manifest = {"version": FORMAT_VERSION, "step": step, "load": load, "n_ranks": comm.size,
                    "digest": problem.spec.digest, "files": {n: {"size": s, "sha256": h} for n, s, h in files},
                    "records": records}
        write_json_atomic(target / "manifest.json", manifest)
        write_json_atomic(directory / "checkpoint.json",
                          {"version": FORMAT_VERSION, "step": step, "directory": target.name})
        for old in sorted(directory.glob("step_*"))[:-KEEP]:
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    comm.Barrier()
    return target


def _complete(target: Path) -> tuple[dict | None, str]:
    """The manifest of a step directory if it and all its files are complete."""
    try:
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        return None, f"no readable manifest ({exc.__class__.__name__})"
    if manifest.get("version") != FORMAT_VERSION:
        return None, f"format version {manifest.get('version')}, expected {FORMAT_VERSION}"
    for name, meta in manifest["files"].items():
        path = target / name
        if not path.is_file() or path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            return None, f"{name} is missing or differs from its manifest (cut mid-write?)"
    return manifest, ""


def _latest(directory: Path) -> tuple[Path, dict]:
    """The newest complete checkpoint of ``directory`` (rank 0's view)."""
    skipped = []
    for target in sorted(Path(directory).glob("step_*"), reverse=True):
        manifest, why = _complete(target)
        if manifest is not None:
            for name, reason in skipped:
                _log.warning("checkpoint %s is incomplete (%s); using %s", name, reason, target.name)
            return target, manifest
        skipped.append((target.name, why))
    detail = "; ".join(f"{n}: {w}" for n, w in skipped) or "no step_* directories"
    raise CheckpointError(f"no complete checkpoint in {str(directory)!r} ({detail})")


def read_checkpoint(directory: Path, problem, comm: MPI.Comm) -> dict:
    """Restore ``problem``'s displacement and material states from the newest complete
    checkpoint of ``directory``, written on any number of ranks (collective).

    Returns:
        The manifest: ``step``, ``load``, ``records``, ``n_ranks`` ...

    Raises:
        CheckpointError: no complete checkpoint; written for another run file
            (digest); its points or dofs do not match this problem's mesh.
    """
    found = None
    if comm.rank == 0:
        try:
            found = _latest(directory)
        except CheckpointError as exc:
            found = exc
    found = comm.bcast(found, root=0)
    if isinstance(found, CheckpointError):
        raise found
    target, manifest = found
    if manifest["digest"] != problem.spec.digest:
        raise CheckpointError(f"{target} was written for another run file (its contents differ from "
                              f"{problem.spec.path.name}); restart with the run file of the checkpoint")
    saved = [np.load(target / name) for name in sorted(manifest["files"])]
    try:
        V = problem.V
        values = _select(saved, "u_keys", ["u_values"], dof_keys(V), "displacement dofs")["u_values"]
        problem.u.x.array.reshape(-1, V.dofmap.index_map_bs)[:] = values
        problem.u.x.scatter_forward()
        for i, material in enumerate(problem.materials):
            names = [k for k in saved[0].files if k.startswith(f"m{i}_state_")]
            state = _select(saved, f"m{i}_points", names, point_keys(material), f"points of material {i}")
            material.restore_state({k.removeprefix(f"m{i}_state_"): v for k, v in state.items()})
    finally:
        for f in saved:
            f.close()
    return manifest


def _select(saved: list, key_name: str, names: list[str], wanted: npt.NDArray[np.int64], what: str) -> dict:
    """The rows of the rank files' arrays ``names`` whose keys (``key_name``) are
    ``wanted`` (unique), in ``wanted``'s order. One file's arrays are in memory at a
    time, and only files holding wanted keys are read beyond their keys."""
    order = np.argsort(wanted)
    ordered = wanted[order]
    out: dict[str, np.ndarray] = {}
    found = np.zeros(wanted.size, dtype=bool)
    for f in saved:
        keys = f[key_name]
        pos = np.minimum(np.searchsorted(ordered, keys), max(ordered.size - 1, 0))
        hit = ordered[pos] == keys if ordered.size else np.zeros(keys.size, dtype=bool)
        if not hit.any():
            continue
        rows = order[pos[hit]]
        for name in names:
            values = f[name]
            if name not in out:
                out[name] = np.empty((wanted.size,) + values.shape[1:], dtype=values.dtype)
            out[name][rows] = values[hit]
        found[rows] = True
    if not found.all():
        raise CheckpointError(f"the checkpoint has no data for {int((~found).sum())} {what} of this mesh "
                              "(another mesh?)")
    for name in set(names) - set(out):  # nothing wanted here: empty arrays of the stored shape and type
        values = saved[0][name]
        out[name] = np.empty((0,) + values.shape[1:], dtype=values.dtype)
    return out
