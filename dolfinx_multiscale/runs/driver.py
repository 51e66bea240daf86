"""Run a run file: step the macro problem, write the JSON and checkpoints after every
step, restart from a checkpoint, stop cleanly on SIGINT/SIGTERM.

The JSON (``--json``) is rewritten atomically after every committed step, so it is
always valid and holds every finished step::

    {"run": "...", "dim": 2, "kinematics": "small", "n_dofs": ..., "n_points": ...,
     "n_ranks": 2, "complete": false,
     "steps": [{"step": 1, "load": 0.1, "reactions": {"left": [Fx, Fy]},
                "newton_iterations": 3, "cuts": 0, "wall_s": 1.2}, ...]}

``newton_iterations`` counts the macro Newton iterations of the step over its
sub-steps; with a reduced RVE (``[[material]] reduced``) a record also has
``reduced_rve: {"shortcut", "reduced", "fallback", "uncovered", "checked", "flagged",
"audited", "audit_above", "audit_bound"}``: the point updates of the step solved by the
elastic shortcut, the reduced model and the full RVE (``uncovered``: sent there by the
range checks of strain and history), the reduced answers checked after
convergence and flagged (re-solved by the full RVE), the audited ones and how many of those
were above the tolerance (all ranks), and the one-sided 95 % Clopper–Pearson bound on the
share of reduced answers above the tolerance from all audits of the run so far; ``wall_s`` is the step's wall time (the only entry a restarted run does not
reproduce). A restart (:func:`run`'s ``restart``) reads the newest complete checkpoint
(:mod:`.checkpoint`), on any rank count, and writes the JSON the uninterrupted run
writes.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from mpi4py import MPI

import dolfinx.fem as fem
import dolfinx.io

from ..cell.reduced import clopper_pearson_upper
from ..errors import Interrupted
from ..files import write_json_atomic
from ..macro.newton import incremental_solve
from ..progress import Progress, graceful_stop
from .checkpoint import read_checkpoint, write_checkpoint
from .problem import MacroProblem, build_problem
from .spec import RunSpec

__all__ = ["run"]


class _FieldWriter:
    """Every ``every`` steps: the displacement (P1, as XDMF needs the mesh's degree) and
    the equivalent plastic strain ``p`` averaged over each cell (DG0; for an RVE the
    volume average over the cell, 0 in elastic materials), at the XDMF "time" of the step
    number (load factors repeat on unloading; a time must not). A restart appends to the
    file of the interrupted run, skipping the steps it already holds (written before their
    checkpoint, so a step whose checkpoint exists has its fields)."""

    def __init__(self, path: Path | None, problem: MacroProblem, every: int, append: bool):
        self.every = every
        self.file = None
        self.written = 0  # the last step the file holds
        if path is None:
            return
        mesh = problem.mesh
        self.problem = problem
        self.u = fem.Function(fem.functionspace(mesh, ("Lagrange", 1, (mesh.geometry.dim,))), name="displacement")
        self.p = fem.Function(fem.functionspace(mesh, ("DG", 0)), name="equivalent_plastic_strain")
        append = append and path.exists() and path.with_suffix(".h5").exists()
        if append:
            times = re.findall(r'<Time Value="([^"]+)"', path.read_text()) if mesh.comm.rank == 0 else []
            self.written = mesh.comm.bcast(int(max(map(float, times), default=0)), root=0)
        self.file = dolfinx.io.XDMFFile(mesh.comm, str(path), "a" if append else "w")
        if not append:
            self.file.write_mesh(mesh)

    def write(self, step: int) -> None:
        if self.file is None or step % self.every or step <= self.written:
            return
        self.u.interpolate(self.problem.u)
        dofmap = self.p.function_space.dofmap.list
        for material in self.problem.materials:
            self.p.x.array[dofmap[material.cells].reshape(-1)] = material.cell_average(
                material.committed_history("p"))
        self.p.x.scatter_forward()
        self.file.write_function(self.u, float(step))
        self.file.write_function(self.p, float(step))
        self.written = step

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _reduced_counts(problem: MacroProblem) -> dict | None:
    """Cumulative point updates of the reduced RVEs over all ranks (``None``: none)."""
    stats = [m.stats for m in problem.materials if getattr(m, "stats", None) is not None]
    if not stats:
        return None
    return {k: problem.mesh.comm.allreduce(sum(s[k] for s in stats))
            for k in ("shortcut", "reduced", "fallback", "uncovered", "checked", "flagged", "audited", "audit_above")}


def run(spec: RunSpec, json_path: Path | None = None, checkpoint: Path | None = None,
        restart: Path | None = None, xdmf: Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
        progress: bool = True, max_steps: int | None = None, force: bool = False) -> dict:
    """Run ``spec`` step by step.

    Args:
        spec: the run file (:func:`~dolfinx_multiscale.runs.spec.read_run`).
        json_path: the JSON written (rank 0, atomically) after every step.
        checkpoint: directory of the checkpoints written after every step.
        restart: a checkpoint directory to continue from (its newest complete one).
        xdmf: the displacement and the cell-averaged equivalent plastic strain every
            ``[output] fields_every`` steps.
        comm: the macro mesh's ranks.
        progress: one progress report per step on rank 0's ``stderr``.
        max_steps: return after this many steps of this call (a chunk of a long run,
            e.g. within a batch job's time limit; continue with ``restart``).
        force: mesh an image RVE even if it needs more memory than the machine has.

    Returns:
        The report (the JSON's contents); ``"complete"`` tells whether the last step is
        done.

    Raises:
        Interrupted: SIGINT/SIGTERM; raised after the step that was running finished and
            was written (JSON, checkpoint).
        MacroConvergenceError: a step failed after ``[loading] max_cuts`` halvings (the
            JSON and checkpoints hold the steps before it).
        CheckpointError: ``restart`` has no usable checkpoint for this run file.
    """
    t0 = time.perf_counter()
    problem = build_problem(spec, comm, force=force)
    records, done, load = [], 0, 0.0
    if restart is not None:
        manifest = read_checkpoint(restart, problem, comm)
        records, done, load = list(manifest["records"]), int(manifest["step"]), float(manifest["load"])
    n_steps = len(spec.factors)
    report = {"run": str(spec.path), "dim": problem.mesh.geometry.dim, "kinematics": spec.macro.kinematics,
              "n_dofs": problem.V.dofmap.index_map.size_global * problem.V.dofmap.index_map_bs,
              "n_points": comm.allreduce(sum(m.n_points for m in problem.materials), op=MPI.SUM),
              "n_ranks": comm.size, "complete": done == n_steps, "steps": records}
    bar = Progress("fe2", n_steps, comm, enabled=progress)
    if done:
        bar.message(f"restarted from {restart} after step {done}/{n_steps} (load {load:g})")
        if json_path is not None and comm.rank == 0:  # the finished steps, also when none is left
            write_json_atomic(json_path, report)
    fields = _FieldWriter(xdmf, problem, spec.fields_every, append=restart is not None)
    counts = _reduced_counts(problem)
    try:
        with graceful_stop(comm) as stop:
            last = n_steps if max_steps is None else min(n_steps, done + max_steps)
            for k in range(done, last):
                factor = spec.factors[k]
                solved = incremental_solve(problem.solver, problem.set_load, [factor], spec.max_cuts,
                                           start=load, first_step=k + 1)[0]
                load = factor
                records.append({"step": k + 1, "load": factor, "reactions": problem.reactions(),
                                "newton_iterations": int(sum(solved["newton_iterations"])),
                                "cuts": solved["cuts"], "wall_s": solved["wall_s"]})
                reduced = {}
                if counts is not None:
                    before, counts = counts, _reduced_counts(problem)
                    step_counts = {key: counts[key] - before[key] for key in counts}
                    audits = [r["reduced_rve"] for r in records[:-1]] + [step_counts]  # the run's, restarts included
                    bound = clopper_pearson_upper(sum(a["audit_above"] for a in audits),
                                                  sum(a["audited"] for a in audits))
                    records[-1]["reduced_rve"] = {**step_counts, "audit_bound": bound}
                    reduced = {"reduced": f"{step_counts['reduced']}/{step_counts['fallback']} reduced/full, "
                                          f"{step_counts['flagged']} flagged, audit bound {bound:.2g}"}
                report["complete"] = k + 1 == n_steps
                fields.write(k + 1)
                if json_path is not None and comm.rank == 0:
                    write_json_atomic(json_path, report)
                if checkpoint is not None:
                    write_checkpoint(checkpoint, problem, k + 1, factor, records, comm)
                bar.step(k + 1, load=factor, newton=records[-1]["newton_iterations"], cuts=solved["cuts"],
                         time=f"{solved['wall_s']:.2f} s", **reduced)
                if k + 1 < n_steps and stop.requested():
                    kept = [f"{json_path} (steps 1-{k + 1})"] if json_path is not None else []
                    if checkpoint is not None:
                        kept.append(f"checkpoint {checkpoint} (restart with --restart {checkpoint})")
                    raise Interrupted(f"stopped by {stop.signal_name} after step {k + 1}/{n_steps}; kept: "
                                      f"{', '.join(kept) or 'nothing (no --json or --checkpoint)'}",
                                      stop.exit_status)
    finally:
        fields.close()
    report["wall_s"] = time.perf_counter() - t0
    return report
