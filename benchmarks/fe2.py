"""FE² speed: RVE solves per second against a naive baseline, MPI speed-up, memory and
the growth of a step's cost with the number of macro points.

Run from the repository root (a few minutes on 2 cores)::

    .venv/bin/python benchmarks/fe2.py [--json results/bench_fe2.json]

Printed, all measured in this one run:

1. RVE solves per second at macro points (elastic and J2 micro models, KUBC), ours (one
   RVE workspace reused by every point: compiled forms, sparsity, factorization, elastic
   predictor) against the naive pattern (a fresh ``LinearProblem`` per point and per
   Newton iteration, and per unit load for the tangent), their ratio (target ≥ 20×) and
   the largest difference of the two stresses.
2. The 1 → 2 rank speed-up of an FE² load step (target ≥ 1.8×), for a tension step
   (every point alike) and a bending step (the plastic points, which cost most, sit near
   the clamp: the ranks' shares of the work differ, since each rank solves its own),
   with DOLFINx's default partition and with ``fe2.cyclic_partitioner`` (blocks dealt
   round-robin, so both ranks share the clamp region).
3. The memory per macro point (the stored micro history).
4. The time of one FE² step for about 100, 1 000 and 10 000 macro points (target:
   linear growth, i.e. constant time per point).
5. ``--part``: the plastic bending step of a "real part" (issue 15): a 1 636-dof J2 cell
   (``circular_inclusion(0.3, h=0.04)``) at every point of ``--part-points`` macro points
   (default 1 024; 10 000 takes ~30 min per variant), on 1 and 2 ranks (cyclic
   partition), with the batched elastic shortcut (``RVE(batch=True)``) and without it
   (every point by the micro Newton): time per step and per 10⁴ points, points solved by
   the shortcut and by the Newton, micro iterations, memory per point, and the ratio.
6. ``--reduced-only``: the same step with exact FE² and with a hyper-reduced RVE (issue
   23) trained in the run (or ``--model``), on the ranks of ``mpiexec``: online time,
   training time, modes, cubature points, fallback fraction, audit and the reaction
   difference; ``--repeats R`` runs both steps ``R`` times, alternately, and compares the
   fastest of each.
7. ``--check-only``: the elastic check of one update (issue 23, item 4) on the part's
   cell: ``--part-points`` macro points (first count) in plastic states, then an
   unloading increment; µs per point of ``BatchedCell.elastic_candidates`` (the check)
   and of ``BatchedCell.full_candidates`` (every law with its tangent on the whole cell,
   the shortcut before the check), side by side (the best of 10 repetitions), the points
   accepted by each and the largest difference of their stresses.
8. ``--reduced-3d``: item 6 in 3-D (issue 23's 3-D target, ≥ 50× online): a 5 625-dof
   J2 cell (``spherical_inclusion(0.2, h=0.09)``, 8 116 micro points) at the points of a
   3-D beam (``--part-points``, default 64: 96 points, the same 2 % bending), exact FE²
   and the hyper-reduced RVE side by side; the same items printed, plus the largest macro
   strain norm against the model's training range.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell.reduced import TIMES
from dolfinx_multiscale.macro.fe2 import FE2Material, cyclic_partitioner
from dolfinx_multiscale.macro.problems import Beam

MICRO_H = 0.1
J2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
FIBRE = dm.LinearElastic(E=10.0, nu=0.25)
ELASTIC = dm.LinearElastic(E=1.0, nu=0.3)


def strains(n_points: int, amplitude: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return amplitude * rng.uniform(-1, 1, size=(n_points, 3))


def rate_ours(materials, E: np.ndarray) -> float:
    """RVE solves per second with one reused workspace (FE2Material's inner loop)."""
    micro = dm.microstructures.circular_inclusion(0.3, h=MICRO_H, comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, materials, bc="kubc")
    initial = rve.committed_state
    rve.effective_tensor()  # the one-off set-up every FE² run pays once
    t0 = time.perf_counter()
    for Ei in E:
        rve.committed_state = initial
        rve.solve(Ei)
    return len(E) / (time.perf_counter() - t0)


def naive_rve_solve(micro, materials, E, rtol=1e-10):
    """The naive pattern: a fresh ``LinearProblem`` (forms, matrix, solver) for every
    Newton iteration and every unit load of the tangent; KUBC (``w = 0`` on ∂Y, which
    ``LinearProblem`` supports natively). Same P1 problem and same material update as
    ours, so only the reuse differs. Returns ``(Σ, C)``."""
    import basix.ufl
    import dolfinx.fem as fem
    import dolfinx.fem.petsc
    import dolfinx.mesh
    import ufl

    from dolfinx_multiscale.kinematics import mandel_strain

    mesh = micro.mesh
    V = fem.functionspace(mesh, ("Lagrange", 1, (2,)))
    Qv = fem.functionspace(mesh, basix.ufl.quadrature_element(mesh.basix_cell(), value_shape=(3,), degree=1))
    Qt = fem.functionspace(mesh, basix.ufl.quadrature_element(mesh.basix_cell(), value_shape=(3, 3), degree=1))
    sig, D, w = fem.Function(Qv), fem.Function(Qt), fem.Function(V)
    dx = ufl.Measure("dx", domain=mesh, metadata={"quadrature_degree": 1})
    boundary = dolfinx.mesh.locate_entities_boundary(mesh, 1, lambda x: np.full(x.shape[1], True))
    bc = fem.dirichletbc(np.zeros(2), fem.locate_dofs_topological(V, 1, boundary), V)
    n_cells = mesh.topology.index_map(2).size_local
    tags = np.zeros(n_cells, dtype=np.int32)
    tags[micro.cell_tags.indices] = micro.cell_tags.values
    state = {t: m.initial_state(int(np.sum(tags == t))) for t, m in materials.items()}
    opts = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    v, du = ufl.TestFunction(V), ufl.TrialFunction(V)

    def update():
        eps = E + fem.Expression(mandel_strain(w), Qv.element.interpolation_points).eval(
            mesh, np.arange(n_cells, dtype=np.int32)).reshape(-1, 3)
        s, t = np.zeros((n_cells, 3)), np.zeros((n_cells, 3, 3))
        for tag, m in materials.items():
            idx = tags == tag
            s[idx], t[idx], _ = m.update(eps[idx], state[tag], True)
        sig.x.array[:] = s.ravel()  # one point per cell, dofs in cell order
        D.x.array[:] = t.ravel()

    for _ in range(25):
        update()
        r = fem.petsc.assemble_vector(fem.form(ufl.inner(sig, mandel_strain(v)) * dx))
        scale = r.norm()
        r.array[bc.dof_indices()[0]] = 0.0
        if r.norm() <= rtol * scale:  # the same criterion as ours
            break
        problem = fem.petsc.LinearProblem(ufl.inner(ufl.dot(D, mandel_strain(du)), mandel_strain(v)) * dx,
                                          -ufl.inner(sig, mandel_strain(v)) * dx, bcs=[bc],
                                          petsc_options=opts, petsc_options_prefix="naive_newton_")
        w.x.array[:] += problem.solve().x.array
    area = 1.0
    Sigma = np.array([fem.assemble_scalar(fem.form(sig[k] * dx)) for k in range(3)]) / area
    C = np.zeros((3, 3))
    for k in range(3):
        e = fem.Constant(mesh, np.eye(3)[k])
        problem = fem.petsc.LinearProblem(ufl.inner(ufl.dot(D, mandel_strain(du)), mandel_strain(v)) * dx,
                                          -ufl.inner(ufl.dot(D, e), mandel_strain(v)) * dx, bcs=[bc],
                                          petsc_options=opts, petsc_options_prefix="naive_tangent_")
        wk = problem.solve()
        for j in range(3):
            C[j, k] = fem.assemble_scalar(fem.form(ufl.dot(D, e + mandel_strain(wk))[j] * dx)) / area
    return Sigma, C


def rate_naive(materials, E: np.ndarray) -> tuple[float, float]:
    """Naive RVE solves per second, and the largest stress difference to ours."""
    micro = dm.microstructures.circular_inclusion(0.3, h=MICRO_H, comm=MPI.COMM_SELF)
    naive_rve_solve(micro, materials, E[0])  # JIT compilation is cached for both
    ours = dm.RVE(micro, materials, bc="kubc")
    initial = ours.committed_state
    diff, wall = 0.0, 0.0
    for Ei in E:
        t0 = time.perf_counter()
        Sigma, _ = naive_rve_solve(micro, materials, Ei)
        wall += time.perf_counter() - t0
        diff = max(diff, np.abs(Sigma - ours.solve(Ei, tangent=False)[0]).max() / np.abs(Sigma).max())
        ours.committed_state = initial
    return len(E) / wall, diff


def fe2_step_time(cells: int, mode: str = "bending", cyclic: bool = False) -> tuple[float, int, float]:
    """Wall time of one plastic FE² load step of the 2-D beam; (time, points, bytes/point).

    ``"bending"`` concentrates the plastic (costly) points near the clamp, so the two
    halves of the mesh carry unequal work; ``"tension"`` loads every point alike.
    ``cyclic``: partition the macro mesh with :func:`~dolfinx_multiscale.macro.fe2.cyclic_partitioner`."""
    micro = dm.microstructures.circular_inclusion(0.3, h=MICRO_H, comm=MPI.COMM_SELF)
    beam = Beam(lambda m: FE2Material(dm.RVE(micro, {1: J2, 2: FIBRE}), m), cells=cells,
                comm=MPI.COMM_WORLD, length=2.0, mode=mode,
                partitioner=cyclic_partitioner() if cyclic else None)
    beam.material.update()  # the set-up (initial tangent) outside the timing
    t0 = time.perf_counter()
    beam.run([0.02 * 2.0])
    wall = MPI.COMM_WORLD.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    m = beam.material
    nbytes = sum(a.nbytes for a in m.state.values()) / max(m.n_points, 1)
    return wall, MPI.COMM_WORLD.allreduce(m.n_points), nbytes


def elastic_step_time(cells: int) -> tuple[float, int]:
    """Wall time of one FE² step with a J2 micro model that stays elastic (every point
    solved by the RVE Newton's elastic predictor)."""
    micro = dm.microstructures.circular_inclusion(0.3, h=MICRO_H, comm=MPI.COMM_SELF)
    beam = Beam(lambda m: FE2Material(dm.RVE(micro, {1: J2, 2: FIBRE}), m), cells=cells,
                comm=MPI.COMM_WORLD, length=2.0)
    beam.material.update()
    t0 = time.perf_counter()
    beam.run([1e-4])
    return MPI.COMM_WORLD.allreduce(time.perf_counter() - t0, op=MPI.MAX), MPI.COMM_WORLD.allreduce(
        beam.material.n_points)


def part_step(cells: int, batch: bool) -> dict:
    """One plastic bending step of the issue-15 part (see the module docstring, item 5)."""
    micro = dm.microstructures.circular_inclusion(0.3, h=0.04, comm=MPI.COMM_SELF)
    comm = MPI.COMM_WORLD
    beam = Beam(lambda m: FE2Material(dm.RVE(micro, {1: J2, 2: FIBRE}, batch=batch), m), cells=cells,
                comm=comm, length=2.0, mode="bending", partitioner=cyclic_partitioner() if comm.size > 1 else None)
    beam.material.update()  # the set-up (initial tangent, batched maps) outside the timing
    busy0 = beam.material.busy_s
    shortcut = {"s": 0.0, "point_updates": 0}
    if batch:  # time the elastic shortcut (check and full evaluation) inside the step
        cell = beam.material.rve.batched_cell
        candidates = cell.elastic_candidates

        def timed(strain, state):
            t = time.perf_counter()
            out = candidates(strain, state)
            shortcut["s"] += time.perf_counter() - t
            shortcut["point_updates"] += len(strain)
            return out

        cell.elastic_candidates = timed
    t0 = time.perf_counter()
    history = beam.run([0.02 * 2.0])
    wall = time.perf_counter() - t0
    m = beam.material
    state = m.state
    total = lambda x: comm.allreduce(x)  # noqa: E731
    points = total(m.n_points)
    return {"points": points, "ranks": comm.size, "batch": batch, "rve_dofs": m.rve.n_dofs,
            "wall_s": comm.allreduce(wall, op=MPI.MAX), "busy_s_per_rank": comm.allgather(m.busy_s - busy0),
            "macro_iterations": history[-1]["newton_iterations"], "solves": total(m.solves),
            "shortcut_points": total(int(state["elastic_shortcut"].sum())),
            "plastic_points": total(int((m.committed_history("p") > 0).sum())),
            "micro_iterations_last_update": total(int(m.micro_iterations.sum())),
            "shortcut_s_per_rank": comm.allgather(shortcut["s"]),
            "shortcut_us_per_point_update": 1e6 * total(shortcut["s"]) / max(total(shortcut["point_updates"]), 1),
            "bytes_per_point": sum(a.nbytes for a in state.values()) / max(m.n_points, 1),
            "reaction": history[-1]["reaction"]}


# item 6's cells: the 2-D part (1 636 dofs, 1 534 micro points) and a 3-D cell (5 625 dofs,
# 8 116 micro points); the macro beam is plane strain (2·c·(c//2) triangles) or 3-D
# (6·c·(c//2)² tetrahedra), one macro point per cell, bent by 2 % of its length
REDUCED_CASES = {
    "part": {"dim": 2, "cell": lambda: dm.microstructures.circular_inclusion(0.3, h=0.04, comm=MPI.COMM_SELF)},
    "3-D": {"dim": 3, "cell": lambda: dm.microstructures.spherical_inclusion(0.2, h=0.09, comm=MPI.COMM_SELF)},
}


def reduced_beam(law, dim: int, points: int, comm) -> Beam:
    """The bending beam of item 6 with the fewest cells along ``x`` giving ``points`` macro
    points or more, cyclic partition on more than one rank."""
    across = lambda c: max(1, c // 2)  # noqa: E731 (Beam's cells across)
    count = (lambda c: 2 * c * across(c)) if dim == 2 else (lambda c: 6 * c * across(c) ** 2)
    cells = next(c for c in range(1, points + 1) if count(c) >= points)
    return Beam(lambda m: FE2Material(law, m), dim=dim, cells=cells, length=2.0, mode="bending", comm=comm,
                partitioner=cyclic_partitioner() if comm.size > 1 else None)


def run_reduced(points: int, tolerance: float = 1e-3, model_path: str | None = None, save: str | None = None,
                enrich: bool = False, enrichment_rounds: int = 0, case: str = "part", repeats: int = 1) -> dict:
    """Item 6: the bending step with exact FE² and with a hyper-reduced RVE
    (:class:`~dolfinx_multiscale.cell.reduced.ReducedRVE`), side by side in this run, on the
    ranks of ``MPI.COMM_WORLD`` (cyclic partition on 2), for the cell and beam of
    ``REDUCED_CASES[case]`` (``"part"``: the 2-D part; ``"3-D"``: a spherical inclusion in
    a 3-D beam). The model is trained with the defaults (``tolerance``, amplitude from
    the first-yield strain; kept in ``save`` if given) and loaded by every rank, or read
    from ``model_path`` when given (training then not timed). The model is trained with
    its full-RVE paths spread over the ranks; with ``enrich``, the training includes one
    FE² run of the step with the first model and a second training with the increments
    that run flagged (``ReducedRVE.fallback_paths``); ``enrichment_rounds`` is the
    training's greedy enrichment (``train(enrichment_rounds=...)``). With ``repeats`` the
    exact and the reduced step run that many times, alternately, and each keeps its
    fastest run (counts and busy time of the reduced one's): on a shared machine a burst
    of other work then slows neither side of the ratio."""
    comm = MPI.COMM_WORLD
    dim, micro = REDUCED_CASES[case]["dim"], REDUCED_CASES[case]["cell"]()
    materials = {1: J2, 2: FIBRE}
    load = 0.02 * 2.0
    training = 0.0
    path = model_path
    if path is None:
        path = save or str(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_rom_{os.getpid() if comm.rank == 0 else 0}.npz")
        path = comm.bcast(path)
        t0 = time.perf_counter()
        say = (lambda stage: print(f"  training: {stage}", flush=True)) if comm.rank == 0 else None
        model = dm.ReducedRVE.train(dm.RVE(micro, materials), tolerance=tolerance, progress=say, comm=comm,
                                    enrichment_rounds=enrichment_rounds)
        if enrich:  # one FE² run of the step with it, then a training with the increments it flagged
            reduced_beam(model, dim, points, comm).run([load])
            flagged = [p for part in comm.allgather(model.fallback_paths) for p in part]
            model = dm.ReducedRVE.train(dm.RVE(micro, materials), tolerance=tolerance, progress=say, comm=comm,
                                        user_paths=flagged)
        if comm.rank == 0:
            model.save(path)
        training = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    model = dm.ReducedRVE.load(path, dm.RVE(micro, materials))
    out = {"case": case, "points": None, "ranks": comm.size, "rve_dofs": model.rve.n_dofs, "training_s": training,
           "modes": model.modes, "cubature_points": model.cubature_points, "cell_points": model.info["cell_points"],
           "samples": model.info["samples"], "safety": model.safety, "strain_range": model.strain_range,
           "validation_error": model.info["validation_error"], "tolerance": model.tolerance,
           "enrichment": model.info.get("enrichment")}
    out["repeats"] = repeats
    counts = ("shortcut", "reduced", "fallback", "uncovered", "checked", "flagged", "audited", "audit_above")
    for _ in range(repeats):  # exact and reduced alternately; each keeps its fastest run
        for name, law in (("exact", dm.RVE(micro, materials)), ("reduced", model)):
            beam = reduced_beam(law, dim, points, comm)
            beam.material.update()  # set-up (initial tangent, batched maps) outside the timing
            before = {k: model.stats[k] for k in counts + TIMES}  # ... and outside the counts and busy time
            comm.barrier()
            t0 = time.perf_counter()
            history = beam.run([load])
            wall = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
            if name in out and out[name]["wall_s"] <= wall:
                continue
            norms = comm.allgather(np.linalg.norm(beam.material.strain_committed, axis=1))
            out["points"] = comm.allreduce(beam.material.n_points)
            out[name] = {"wall_s": wall, "reaction": history[-1]["reaction"], "cuts": history[-1]["cuts"],
                         "macro_iterations": history[-1]["newton_iterations"],
                         "plastic_points": comm.allreduce(int((beam.material.committed_history("p") > 0).sum())),
                         "max_strain_norm": float(np.concatenate(norms).max())}
            if name == "reduced":
                delta = {k: model.stats[k] - before[k] for k in counts + TIMES}
    stats = {k: comm.allreduce(delta[k]) for k in counts}
    stats["audit_max_error"] = comm.allreduce(model.stats["audit_max_error"], op=MPI.MAX)  # over all runs
    out["stats"] = stats
    # busy time per rank (the reduced RVE's own clock) and its split
    split = {k: comm.allgather(delta[k]) for k in TIMES}
    busy = np.sum([split[k] for k in TIMES], axis=0)
    out["busy_s_per_rank"], out["time_split_s"] = busy.tolist(), split
    out["busy_max_over_mean"] = float(busy.max() / busy.mean())
    out["fallback_fraction"] = stats["fallback"] / max(stats["reduced"] + stats["fallback"], 1)
    out["online_speedup"] = out["exact"]["wall_s"] / out["reduced"]["wall_s"]
    out["speedup_with_training"] = out["exact"]["wall_s"] / (out["reduced"]["wall_s"] + training)
    out["reaction_rel_diff"] = abs(out["reduced"]["reaction"] - out["exact"]["reaction"]) / abs(out["exact"]["reaction"])
    if comm.rank == 0:
        exact, reduced = out["exact"], out["reduced"]
        print(f"reduced RVE, {case}, {out['points']} points, {out['rve_dofs']}-dof cell, {comm.size} rank(s): exact "
              f"{exact['wall_s']:.1f} s, reduced {reduced['wall_s']:.2f} s online"
              + (f" (the fastest of {repeats} runs each)" if repeats > 1 else "") + f" + {training:.1f} s training "
              f"({model.modes} modes, {model.cubature_points} of {out['cell_points']} points, {out['samples']} "
              f"snapshots, safety {model.safety:.2f}); online speed-up {out['online_speedup']:.1f}x, with training "
              f"{out['speedup_with_training']:.2f}x; point updates {stats}; reactions differ by "
              f"{out['reaction_rel_diff']:.1e} (tolerance {model.tolerance:g})", flush=True)
        print(f"  macro iterations exact/reduced {exact['macro_iterations']}/{reduced['macro_iterations']}, plastic "
              f"points {exact['plastic_points']}/{reduced['plastic_points']}, largest macro strain "
              f"{exact['max_strain_norm']:.2e}/{reduced['max_strain_norm']:.2e} (model range "
              f"{model.strain_range:.2e}, x1.5 accepted)", flush=True)
        print("  busy s per rank " + ", ".join(f"{b:.2f}" for b in busy) + f" (max/mean "
              f"{out['busy_max_over_mean']:.2f}); split, s per rank: "
              + "; ".join(f"{k[:-2]} " + "/".join(f"{t:.2f}" for t in v) for k, v in split.items()), flush=True)
    return out


def best_of(f, repeats: int) -> tuple:
    """``(the shortest of repeats timings of f() in s, its last result)`` (the machine is
    shared: the shortest is the least disturbed)."""
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = f()
        best = min(best, time.perf_counter() - t0)
    return best, result


def run_check(points: int, repeats: int = 10) -> dict:
    """Item 7: the elastic check against the full evaluation, one update of ``points``
    macro points of the part's cell (serial)."""
    micro = dm.microstructures.circular_inclusion(0.3, h=0.04, comm=MPI.COMM_SELF)
    rve = dm.RVE(micro, {1: J2, 2: FIBRE})
    rng = np.random.default_rng(1)
    loaded = 0.012 * rng.uniform(-1, 1, size=(points, 3))  # 2-4x the cell's first yield
    _, _, state = rve.update(loaded, rve.initial_state(points))
    state = {k: v.copy() for k, v in state.items()}
    unloaded = 0.9 * loaded + 0.001 * rng.uniform(-1, 1, size=(points, 3))
    cell = rve.batched_cell
    out = {"points": points, "rve_dofs": rve.n_dofs, "micro_points": rve.discretisation.n_points}
    answers = {}
    for name, evaluate in (("check", cell.elastic_candidates), ("full", cell.full_candidates)):
        best, answers[name] = best_of(lambda: evaluate(unloaded, state), repeats)  # noqa: B023 (called here)
        out[f"{name}_us_per_point"] = 1e6 * best / points
        out[f"{name}_accepted"] = int(answers[name][0].sum())
    (a, ra), (b, rb) = answers["check"], answers["full"]
    out["same_points"] = bool(np.array_equal(a, b))
    out["sigma_rel_diff"] = float(np.abs(ra["Sigma"] - rb["Sigma"]).max() / np.abs(rb["Sigma"]).max())
    out["speedup"] = out["full_us_per_point"] / out["check_us_per_point"]
    print(f"elastic check, {points} points of a {rve.n_dofs}-dof cell ({out['micro_points']} micro points): "
          f"check {out['check_us_per_point']:.1f} us per point, full evaluation {out['full_us_per_point']:.1f} us "
          f"per point ({out['speedup']:.1f}x); accepted {out['check_accepted']} / {out['full_accepted']} "
          f"(same points: {out['same_points']}), same Sigma to {out['sigma_rel_diff']:.1e}")
    return out


def run_part(points_list: list[int]) -> list[dict]:
    """Item 5 for each number of points, on 1 and 2 ranks, without and with the shortcut."""
    rows = []
    for points in points_list:
        cells = int(round((points / 1.0) ** 0.5))  # 2·c·(c//2) ≈ c² triangles
        for ranks in (1, 2):
            pair = {}
            for batch in (False, True):
                cmd = [sys.executable, __file__, "--worker", "part", "--cells", str(cells)] + (["--batch"] if batch else [])
                if ranks > 1:
                    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                pair[batch] = json.loads(proc.stdout.strip().splitlines()[-1])
            a, b = pair[False], pair[True]
            row = {"points": a["points"], "ranks": ranks, "per_point": a, "batched": b,
                   "ratio": a["wall_s"] / b["wall_s"],
                   "reaction_rel_diff": abs(a["reaction"] - b["reaction"]) / abs(a["reaction"])}
            rows.append(row)
            for name, r in (("per-point", a), ("batched", b)):
                print(f"part {r['points']:6d} points, {ranks} rank(s), {name:9s}: {r['wall_s']:7.1f} s per step "
                      f"({1e4 * r['wall_s'] / r['points']:7.0f} s per 10^4 points), macro its {r['macro_iterations']}, "
                      f"shortcut {r['shortcut_points']}, plastic {r['plastic_points']}, RVE solves {r['solves']}, "
                      f"busy per rank {[round(x, 1) for x in r['busy_s_per_rank']]} s, "
                      f"shortcut {[round(x, 2) for x in r['shortcut_s_per_rank']]} s "
                      f"({r['shortcut_us_per_point_update']:.0f} us per point update), "
                      f"{r['bytes_per_point'] / 1024:.1f} KiB/point")
            print(f"part {a['points']:6d} points, {ranks} rank(s): batched/per-point speed-up {row['ratio']:.2f}x, "
                  f"same reaction to {row['reaction_rel_diff']:.1e}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the numbers as JSON")
    parser.add_argument("--worker", choices=["step", "part"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--part", action="store_true", help="also run item 5 (the issue-15 part)")
    parser.add_argument("--part-only", action="store_true", help="run item 5 only")
    parser.add_argument("--part-points", help="comma list of macro point counts for item 5 (default 1024; items 6 "
                                              "and 7 take the first, item 8 (--reduced-3d) defaults to 64)")
    parser.add_argument("--reduced-only", action="store_true",
                        help="run item 6 only (exact vs hyper-reduced RVE, first --part-points count, on the ranks "
                             "of mpiexec)")
    parser.add_argument("--reduced-3d", dest="reduced_3d", action="store_true",
                        help="run item 8 only (item 6 on a 3-D cell and beam, --part-points macro points)")
    parser.add_argument("--model", help="items 6 and 8: a trained model (.npz, e.g. from `dolfinx-multiscale reduce`) "
                                        "instead of training one in the run")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="items 6 and 8: the reduced model's tolerance")
    parser.add_argument("--save-model", dest="save_model", help="items 6 and 8: keep the model trained in the run here")
    parser.add_argument("--enrich", action="store_true",
                        help="items 6 and 8: train, run the step, train again with the increments it flagged")
    parser.add_argument("--enrichment-rounds", type=int, default=0,
                        help="items 6 and 8: greedy enrichment rounds of the training (train(enrichment_rounds=...))")
    parser.add_argument("--repeats", type=int, default=1,
                        help="items 6 and 8: run the exact and the reduced step this many times, alternately, "
                             "and compare the fastest of each")
    parser.add_argument("--check-only", action="store_true",
                        help="run item 7 only (the elastic check, first --part-points count, serial)")
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--mode", default="bending")
    parser.add_argument("--cyclic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    part_points = [int(p) for p in (args.part_points or ("64" if args.reduced_3d else "1024")).split(",")]
    if args.worker == "step":
        wall, n, _ = fe2_step_time(args.cells, args.mode, args.cyclic)
        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps({"wall": wall, "points": n}))
        return
    if args.worker == "part":
        result = part_step(args.cells, args.batch)
        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps(result))
        return
    if args.part_only:
        rows = run_part(part_points)
        if args.json:
            Path(args.json).write_text(json.dumps({"part": rows}, indent=2))
        return
    if args.check_only:
        result = run_check(part_points[0])
        if args.json:
            Path(args.json).write_text(json.dumps({"check": result}, indent=2))
        return
    if args.reduced_only or args.reduced_3d:
        case = "3-D" if args.reduced_3d else "part"
        result = run_reduced(part_points[0], args.tolerance, model_path=args.model, save=args.save_model,
                             enrich=args.enrich, enrichment_rounds=args.enrichment_rounds, case=case,
                             repeats=args.repeats)
        if args.json and MPI.COMM_WORLD.rank == 0:
            Path(args.json).write_text(json.dumps({"reduced": result}, indent=2))
        return

    out = {}
    n_naive = 20
    for name, materials, amp in (("elastic micro", {1: ELASTIC, 2: FIBRE}, 0.01),
                                 ("J2 micro", {1: J2, 2: FIBRE}, 0.01)):
        E = strains(200, amp)
        ours = rate_ours(materials, E)
        naive, diff = rate_naive(materials, E[:n_naive])
        out[name] = {"ours_per_s": ours, "naive_per_s": naive, "ratio": ours / naive, "max_rel_diff": diff}
        print(f"{name:14s}: ours {ours:9.1f} RVE solves/s, naive {naive:7.1f}/s, ratio {ours / naive:6.1f}x "
              f"(same Sigma to {diff:.1e})")
    # a linear micro model in FE2Material needs one factorization for the whole mesh
    micro = dm.microstructures.circular_inclusion(0.3, h=MICRO_H, comm=MPI.COMM_SELF)
    beam = Beam(lambda m: FE2Material(dm.RVE(micro, {1: ELASTIC, 2: FIBRE}), m), cells=100)
    t0 = time.perf_counter()
    beam.material.update()
    lin = beam.material.n_points / (time.perf_counter() - t0)
    out["linear FE2Material"] = {"points_per_s": lin}
    print(f"linear FE2Material: {lin:.3g} points/s (C_eff once, Sigma = C_eff E vectorised)")

    for mode, cyclic in (("tension", False), ("bending", False), ("bending", True)):
        times = {}
        for n in (1, 2):
            cmd = [sys.executable, __file__, "--worker", "step", "--cells", str(args.cells), "--mode", mode]
            cmd += ["--cyclic"] if cyclic else []
            if n > 1:
                cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(n), *cmd]
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})
            times[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        speedup = times[1]["wall"] / times[2]["wall"]
        label = f"{mode} (cyclic partition)" if cyclic else mode
        out[f"mpi_{mode}{'_cyclic' if cyclic else ''}"] = {"points": times[1]["points"], "t1_s": times[1]["wall"],
                                                           "t2_s": times[2]["wall"], "speedup": speedup}
        print(f"FE2 plastic {label} step, {times[1]['points']} points: 1 rank {times[1]['wall']:.2f} s, "
              f"2 ranks {times[2]['wall']:.2f} s, speed-up {speedup:.2f}x")

    _, _, per_point = fe2_step_time(4)
    out["bytes_per_point"] = per_point
    print(f"memory per macro point (micro history, {MICRO_H=}): {per_point / 1024:.1f} KiB")

    growth = []
    for cells in (10, 32, 100):  # 2·c·(c//2) triangles: 100, 1 024, 10 000 points
        wall, n = elastic_step_time(cells)
        growth.append({"points": n, "wall_s": wall, "us_per_point": 1e6 * wall / n})
        print(f"FE2 step, {n:6d} points: {wall:7.2f} s, {1e6 * wall / n:8.1f} us per point")
    out["growth"] = growth
    if args.part:
        out["part"] = run_part(part_points)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
