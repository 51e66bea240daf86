"""Virtual J2 load path on a periodic cell: dolfinx_multiscale vs fedoo, same .msh files.

The test (issue 8): a 20-step load–unload path in uniaxial *strain* — ``E11`` from 0 to
``0.02`` in 10 equal steps and back to 0 in 10, every other macro strain component held
at 0 (``--path stress`` instead holds the other macro *stresses* at 0: uniaxial stress) —
on the periodic cells of ``homogenize.py`` (the very same cached ``.msh`` files):

* ``2d-8k``  — centred disk, φ = 0.3, plane strain (~8 k nodes),
* ``3d-27k`` — centred sphere, φ = 0.2 (~27 k nodes).

Matrix (tag 1): small-strain J2 plasticity ``E = 1, ν = 0.3``, linear isotropic hardening
``σ_y = σ_y0 + H p`` with ``σ_y0 = 0.005, H = 0.05``; inclusion (tag 2): linear elastic
``E = 10, ν = 0.3``. P1 elements, one integration point per cell (exact for P1),
backward-Euler radial return.

Reported per code: wall time from reading the ``.msh`` file to the last converged step
(imports excluded; one untimed one-step run of ours first fills the FFCx/JIT disk cache),
the Newton iterations and matrix factorizations of the whole path, the peak resident
memory of the worker (``VmHWM``), the largest macro-stress difference to ours over all
steps and components relative to ``max|Σ|`` (Mandel), and the time ratio. Every code runs
serially (except ``ours-np2``) in a fresh subprocess (the helpers are those of ``homogenize.py``).

How each code is set up:

* **ours** — ``read_msh`` → ``RVE(micro, {1: J2Plasticity(...), 2: LinearElastic(...)},
  bc="periodic", rtol=--rtol)`` → ``load_path(rve, loading.ramp({"11": 0.02}, None, 10,
  unload=True))``: consistent (algorithmic) point tangents, micro Newton to
  ``‖r‖ ≤ rtol · scale``, package default linear solver (MUMPS LU in 2-D, CG + GAMG in
  3-D), the committed state's unit fluctuations as the step predictor.
* **ours-np2** — the same on 2 MPI ranks (``mpiexec -n 2``, one RVE distributed over
  both; peak memory summed over the ranks). Not part of the target, which compares serial
  runs; it shows what the second core of this machine buys.
* **fedoo** — the same P1 problem with fedoo's own parts, tightened to solve it to the same
  accuracy: ``fd.Mesh`` built from the ``meshio`` arrays (``ModelingSpace("2Dplane")`` =
  plane strain), matrix ``fd.constitutivelaw.ElastoPlasticity(E, ν, σ_y0)`` with
  ``set_hardening_function("power", h=H, beta=1)`` (``R(p) = H p``) and
  ``set_return_mapping_tolerance(1e-14)`` (default ``1e-6`` absolute, i.e. 2e-4 of
  ``σ_y0``), inclusion ``ElasticIsotrop``; one ``StressEquilibrium`` assembly per phase on
  ``mesh.extract_elements`` (shared nodes), summed with ``fd.Assembly.sum`` (faster here
  than ``fd.constitutivelaw.Heterogeneous``), ``n_elm_gp = 1``; small strain
  (``nlgeom=False``); ``fd.problem.NonLinear`` with ``PeriodicBC("small_strain")``, the
  node nearest the centre pinned, Dirichlet conditions on the global dofs ``E_xx`` (the
  ramp), ``E_yy``, ``E_xy`` (…) = 0 (none for ``--path stress``: a free global strain dof
  has zero conjugate mean stress); ``nlsolve(dt=0.1, tmax=1, update_dt=False)`` twice
  (load, then ``E_xx`` → 0), ``set_nr_criterion("Force", tol=--fedoo-tol,
  max_subiter=60)``. Its tangent is the *continuum* elastoplastic one (documented in
  ``ElastoPlasticity``), so Newton converges linearly. Direct solver: PETSc MUMPS (fedoo's
  ``solver="direct"`` picks it when neither pypardiso nor python-mumps is installed), one
  factorization per Newton iteration.
* **fedoo-default** — the same with fedoo's defaults where we tightened: Newton "Force"
  criterion ``tol = 5e-3``, ``max_subiter = 16``, return-mapping tolerance ``1e-6``, and
  the default Gauss points (3 per triangle, 4 per tetrahedron; the same answer for P1).
  Faster, but it does not solve the problem to 1e-8.

fedoo in 3-D takes hours (continuum tangent, Python constitutive update, one MUMPS LU of
~80 k dofs per iteration): its codes run only on 2-D cases unless ``--fedoo-3d``.

``--kinematics finite`` (issue 16) runs ours at finite strain next to ours at small
strain on the same cells: neo-Hookean phases (same ``E``, ``ν``), ``F11`` from 1 to
``1 + 10·strain`` (1.2) and back in 2 × ``steps`` steps, other ``F̄`` components at the
identity's; it prints the time per Newton iteration of both and their ratio, and what
fedoo can do with this problem (``FEDOO_FINITE``).

Run from the repository root::

    .venv/bin/python benchmarks/rve_path.py                       # 2d-8k with all codes, 3d-27k ours
    .venv/bin/python benchmarks/rve_path.py --kinematics finite   # finite vs small strain, ours
    .venv/bin/python benchmarks/rve_path.py --cases 2d-8k --repeat 3 --json path.json
    .venv/bin/python benchmarks/rve_path.py --cases 2d-8k --path stress

fedoo comes with the ``bench`` extra (``pip install -e .[bench]``). Nothing here asserts
a speed: the ratios and differences are printed (and written with ``--json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from homogenize import (CASES, SERIAL_ENV, _rss_mib, best_run, interleaved_runs, machine_info,  # noqa: E402
                        make_mesh, mesh_dir, parse_cases_and_codes, run_worker_process)

#: Matrix (tag 1): J2 with linear isotropic hardening; inclusion (tag 2): elastic.
MATRIX = {"E": 1.0, "nu": 0.3, "sy0": 0.005, "H": 0.05}
INCLUSION = {"E": 10.0, "nu": 0.3}
DEFAULT_CASES = ("2d-8k", "3d-27k")
CODES = ("ours", "ours-np2", "fedoo", "fedoo-default")
#: ours on 2 MPI ranks (one RVE distributed; the target compares the serial run); ours at
#: finite strain (``--kinematics finite``: neo-Hookean phases, F11 1 → 1 + 10·strain → 1)
OURS_RANKS = {"ours": 1, "ours-np2": 2, "ours-finite": 1}
#: what fedoo can do with the finite-strain problem (checked with fedoo 1.1.0 on this stack)
FEDOO_FINITE = ("fedoo 1.1.0 solves periodic finite-strain cells (PeriodicBC('finite_strain'), "
                "StressEquilibrium(nlgeom='TL'), global DU_ij dofs whose reactions are |Y| P̄_ij), but "
                "without simcoon (not on this machine's registry) its only elastic law is ElasticIsotrop, "
                "which at finite strain is a Hencky material (Kirchhoff τ = λ tr(ln V) I + 2μ ln V: a "
                "homogeneous cell at F = diag(1.1, 1, 1) gives σ11 = (λ+2μ) ln 1.1 / 1.1 to 1e-5), not "
                "neo-Hookean or Saint Venant–Kirchhoff; the P̄ of the same problem cannot be compared")
FEDOO_CODES = ("fedoo", "fedoo-default")
TOLERANCE = 1e-8  # max |ΔΣ| / max|Σ| expected of a peer solving the same problem (reported)
TARGET_SPEEDUP = 15.0  # ours vs fedoo on 2-D (reported, not asserted)
RETURN_MAPPING_TOL = 1e-14  # fedoo's (absolute, stress units) in the tightened setup

#: Other macro stress components held at 0 under ``--path stress`` (tensor components).
STRESS_FREE = {2: ("22", "12"), 3: ("22", "33", "23", "13", "12")}
#: fedoo's global strain dofs other than E_xx.
FEDOO_OTHER_DOFS = {2: ("E_yy", "E_xy"), 3: ("E_yy", "E_zz", "E_xy", "E_xz", "E_yz")}


# ======================================================================================
# Workers: one code, one mesh, in a fresh process (heavy imports inside the functions).
# ======================================================================================
def _worker_ours(path: str, args: argparse.Namespace, finite: bool = False) -> dict:
    import numpy as np  # noqa: F401
    import scipy.sparse  # noqa: F401
    import scipy.spatial  # noqa: F401
    from mpi4py import MPI

    import dolfinx_multiscale as dm
    from dolfinx_multiscale.studies.loading import load_path, ramp

    warmup = args.warmup_only
    comm = MPI.COMM_WORLD  # the worker runs serially or under mpiexec (ours-np2)
    base = comm.allreduce(_rss_mib())

    comm.Barrier()
    t0 = time.perf_counter()
    micro = dm.read_msh(path, comm=comm)
    t_read = time.perf_counter() - t0
    dim = micro.mesh.geometry.dim
    if finite:
        materials = {1: dm.NeoHookean(MATRIX["E"], MATRIX["nu"]), 2: dm.NeoHookean(**INCLUSION)}
    else:
        materials = {1: dm.J2Plasticity(**MATRIX), 2: dm.LinearElastic(**INCLUSION)}
    rve = dm.RVE(micro, materials, bc="periodic", rtol=args.rtol)
    t_setup = time.perf_counter() - t0
    stress = {c: 0.0 for c in STRESS_FREE[dim]} if args.path == "stress" else None
    if finite:
        load = ramp({"11": 1.0 + 10 * args.strain}, None, steps=1 if warmup else args.steps, unload=not warmup,
                    physics="finite", dim=dim)
    else:
        load = ramp({"11": args.strain}, stress, steps=1 if warmup else args.steps, unload=not warmup)
    records = load_path(rve, load, progress=False)
    comm.Barrier()
    elapsed = time.perf_counter() - t0

    try:  # private attributes: describe the solver if the RVE still exposes it this way
        ksp = rve.linear_solver.ksp
        pc = ksp.getPC()
        solver = f"PETSc {ksp.getType()}/{pc.getType()}"
        if pc.getType() in ("lu", "cholesky"):
            solver += f" ({pc.getFactorSolverType()})"
        else:
            solver += f" (rtol {ksp.getTolerances()[0]:g}; {rve.linear_solver.n_krylov_iterations} Krylov iterations)"
        factorizations = int(rve.linear_solver.n_factorizations)
    except AttributeError:
        solver, factorizations = "package default (PETSc)", None
    return {"time": elapsed, "t_read": t_read, "t_setup": t_setup,
            "E": [r["E"] for r in records], "Sigma": [r["Sigma"] for r in records],
            "Sigma33": [r.get("P33" if finite else "Sigma33") for r in records],
            "p_mean": [r["p_mean"] for r in records],
            "newton_per_step": [r["newton_iterations"] for r in records],
            "newton": int(sum(r["newton_iterations"] for r in records)),
            "cuts": int(sum(r["cuts"] for r in records)), "factorizations": factorizations,
            "dofs": int(rve.n_dofs), "nodes": int(micro.mesh.geometry.index_map().size_global),
            "peak_mib": comm.allreduce(_rss_mib()), "base_mib": base, "solver": solver,
            "settings": f"rtol {args.rtol:g}, {comm.size} rank(s)", "version": dm.__version__}


def _fedoo_solver_name(fd_base) -> str:
    if fd_base.USE_PYPARDISO:
        return "direct: pypardiso"
    if fd_base.USE_MUMPS:
        return "direct: python-mumps"
    if fd_base.USE_PETSC:
        return "direct: PETSc preonly/lu (mumps)"
    return "direct: scipy spsolve" + (" (umfpack)" if fd_base.USE_UMFPACK else " (SuperLU)")


def _worker_fedoo(path: str, args: argparse.Namespace, tightened: bool) -> dict:
    import dolfinx_solver  # noqa: F401  (the venv's petsc4py needs its MPI loaded first)
    import fedoo as fd
    import meshio
    import numpy as np
    from fedoo.core import base as fd_base

    base = _rss_mib()
    t0 = time.perf_counter()
    m = meshio.read(path)
    dim = 3 if any(c.type == "tetra" for c in m.cells) else 2
    ctype = "tetra" if dim == 3 else "triangle"
    cells = np.concatenate([c.data for c in m.cells if c.type == ctype]).astype(np.int64)
    tags = np.concatenate([np.asarray(t) for c, t in zip(m.cells, m.cell_data["gmsh:physical"])
                           if c.type == ctype])
    fd.ModelingSpace("3D" if dim == 3 else "2Dplane")  # 2Dplane = plane strain
    mesh = fd.Mesh(np.ascontiguousarray(m.points[:, :dim]), cells, "tet4" if dim == 3 else "tri3")
    t_read = time.perf_counter() - t0

    plastic = fd.constitutivelaw.ElastoPlasticity(MATRIX["E"], MATRIX["nu"], MATRIX["sy0"])
    plastic.set_hardening_function("power", h=MATRIX["H"], beta=1.0)  # R(p) = H p
    elastic = fd.constitutivelaw.ElasticIsotrop(INCLUSION["E"], INCLUSION["nu"])
    assemblies = []
    for tag, law in ((1, plastic), (2, elastic)):
        wf = fd.weakform.StressEquilibrium(law, nlgeom=False)
        if tightened:
            wf.assembly_options["n_elm_gp"] = 1  # exact for P1 (constant strain)
        assemblies.append(fd.Assembly.create(wf, mesh.extract_elements(np.flatnonzero(tags == tag))))
    assembly = fd.Assembly.sum(*assemblies)
    pb = fd.problem.NonLinear(assembly, nlgeom=False)
    if tightened:
        plastic.set_return_mapping_tolerance(RETURN_MAPPING_TOL)
        pb.set_nr_criterion("Force", tol=args.fedoo_tol, max_subiter=60)
    pb.bc.add(fd.constraint.PeriodicBC("small_strain"))
    centre = [int(np.linalg.norm(mesh.nodes - mesh.bounding_box.center, axis=1).argmin())]
    pb.bc.add("Dirichlet", centre, "Disp", 0)
    if args.path == "strain":
        for dof in FEDOO_OTHER_DOFS[dim]:
            pb.bc.add("Dirichlet", dof, 0.0)
    pb.bc.add("Dirichlet", "E_xx", args.strain, name="ramp")

    # instrumentation only: count Newton iterations and linear solves as fedoo does them
    newton_per_step: list[int] = []
    solves = [0]
    solve_increment, linear_solve = pb.solve_time_increment, pb.solve

    def counted_increment(*a, **k):
        out = solve_increment(*a, **k)
        if out[0]:
            newton_per_step.append(int(out[1]))
        return out

    def counted_solve(*a, **k):
        solves[0] += 1
        return linear_solve(*a, **k)

    pb.solve_time_increment, pb.solve = counted_increment, counted_solve

    volume = mesh.bounding_box.volume
    E_rec: list[list[float]] = []
    S_rec: list[list[float]] = []
    r2 = math.sqrt(2.0)

    def record(problem) -> None:  # called after every converged (committed) increment
        s = np.zeros(6)
        for a in assemblies:
            st = a.sv["Stress"]
            st = np.asarray(st.asarray() if hasattr(st, "asarray") else st)
            s += [a.mesh.integrate_field(st[i], "GaussPoint") for i in range(6)]
        s /= volume  # Voigt [xx, yy, zz, xy, xz, yz], true stress components
        if dim == 2:
            S_rec.append([s[0], s[1], r2 * s[3], s[2]])  # Mandel [11, 22, 12] + σ33
        else:
            S_rec.append([s[0], s[1], s[2], r2 * s[5], r2 * s[4], r2 * s[3]])
        E_rec.append([float(problem.get_dof_solution(d)[0]) for d in ("E_xx",) + FEDOO_OTHER_DOFS[dim]])

    dt = 1.0 / args.steps
    options = {"dt": dt, "tmax": 1.0, "update_dt": False, "print_info": 0, "callback": record,
               "exec_callback_at_each_iter": True}
    pb.nlsolve(**options)
    pb.bc.remove("ramp")
    pb.bc.add("Dirichlet", "E_xx", 0.0, name="ramp")
    pb.nlsolve(**options)
    elapsed = time.perf_counter() - t0

    if tightened:
        settings = (f"NR Force tol {args.fedoo_tol:g}, max_subiter 60, return mapping "
                    f"{RETURN_MAPPING_TOL:g}, 1 Gauss pt")
    else:
        settings = (f"defaults: NR {pb.nr_parameters['criterion']} tol {pb.nr_parameters['tol']:g}, "
                    f"return mapping {plastic.return_mapping_tolerance:g}, "
                    f"{assemblies[0].n_elm_gp} Gauss pts")
    return {"time": elapsed, "t_read": t_read,
            "E": E_rec, "Sigma": [row[:3] if dim == 2 else row for row in S_rec],
            "Sigma33": [row[3] for row in S_rec] if dim == 2 else [None] * len(S_rec),
            "newton_per_step": newton_per_step, "newton": int(sum(newton_per_step)),
            "factorizations": solves[0], "cuts": 0,
            "dofs": int(dim * mesh.n_nodes), "nodes": int(mesh.n_nodes), "peak_mib": _rss_mib(),
            "base_mib": base, "solver": _fedoo_solver_name(fd_base), "settings": settings,
            "version": fd.__version__}


def run_worker(args: argparse.Namespace) -> None:
    code, path = args.worker
    sys.argv = sys.argv[:1]  # fedoo hands sys.argv to petsc4py.init
    if code in OURS_RANKS:
        result = _worker_ours(path, args, finite=(code == "ours-finite"))
        from mpi4py import MPI

        if MPI.COMM_WORLD.rank > 0:
            return
    elif code in FEDOO_CODES:
        result = _worker_fedoo(path, args, tightened=(code == "fedoo"))
    else:
        raise ValueError(f"unknown code {code!r}; expected one of {CODES}")
    Path(args.out).write_text(json.dumps(result))


# ======================================================================================
# Driver
# ======================================================================================
def run_one(code: str, path: Path, args: argparse.Namespace, warmup: bool = False) -> dict:
    extra = ["--path", args.path, "--strain", repr(args.strain), "--steps", str(args.steps),
             "--rtol", repr(args.rtol), "--fedoo-tol", repr(args.fedoo_tol)]
    if warmup:
        extra.append("--warmup-only")
    return run_worker_process(str(Path(__file__).resolve()), extra, code, path,
                              timeout=args.timeout, prefix="bench_path_", ranks=OURS_RANKS.get(code, 1))


def compare(ours: dict, peer: dict) -> dict:
    """Largest macro-stress difference to ours over all steps, relative to max|Σ_ours|."""
    import numpy as np

    S0, S1 = np.array(ours["Sigma"], dtype=float), np.array(peer["Sigma"], dtype=float)
    if S0.shape != S1.shape:
        return {"max_rel_diff": float("nan"), "note": f"step/component mismatch {S0.shape} vs {S1.shape}"}
    scale = np.abs(S0).max()
    out = {"max_rel_diff": float(np.abs(S1 - S0).max() / scale),
           "max_rel_diff_per_step": (np.abs(S1 - S0).max(axis=1) / scale).tolist()}
    if ours["Sigma33"] and ours["Sigma33"][0] is not None and peer["Sigma33"][0] is not None:
        s0, s1 = np.array(ours["Sigma33"], dtype=float), np.array(peer["Sigma33"], dtype=float)
        out["max_rel_diff_sigma33"] = float(np.abs(s1 - s0).max() / scale)
    # the peer's imposed E11 must follow ours (same path)
    e0 = np.array([e[0] for e in ours["E"]])
    e1 = np.array([e[0] for e in peer["E"]])
    out["path_mismatch"] = float(np.abs(e1 - e0).max())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma list of {list(CASES)}")
    p.add_argument("--codes", default=",".join(CODES), help=f"comma list of {list(CODES)}")
    p.add_argument("--path", default="strain", choices=["strain", "stress"],
                   help="uniaxial strain (other strains 0, default) or uniaxial stress (other stresses 0)")
    p.add_argument("--strain", type=float, default=0.02, help="peak E11 (default 0.02)")
    p.add_argument("--steps", type=int, default=10, help="steps up (and as many down; default 10)")
    p.add_argument("--rtol", type=float, default=1e-10, help="our RVE Newton rtol (default 1e-10)")
    p.add_argument("--fedoo-tol", type=float, default=1e-10,
                   help="fedoo's Newton tolerance (Force criterion) in the tightened setup (default 1e-10)")
    p.add_argument("--fedoo-3d", action="store_true", help="also run fedoo on 3-D cases (hours)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per code and mesh (min is reported)")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed JIT-cache warm-up run of ours")
    p.add_argument("--timeout", type=float, default=4 * 3600.0, help="per worker, seconds")
    p.add_argument("--json", help="write all results (every run, every step, machine) to this file")
    p.add_argument("--mesh-dir", help="where the generated .msh files are cached "
                   "(default $XDG_CACHE_HOME or ~/.cache /dolfinx-multiscale/bench-meshes)")
    p.add_argument("--worker", nargs=2, metavar=("CODE", "MESH"), help=argparse.SUPPRESS)
    p.add_argument("--warmup-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--kinematics", default="small", choices=["small", "finite"],
                   help="finite: ours at finite strain (neo-Hookean) next to ours at small strain (J2), "
                        "time per Newton iteration compared; fedoo's status printed")
    args = p.parse_args(argv)
    if args.kinematics == "finite" and not args.worker:
        args.codes = "ours,ours-finite"

    if args.worker:
        run_worker(args)
        return 0

    cases, codes = parse_cases_and_codes(p, args, CODES + ("ours-finite",))
    if args.repeat < 1 or args.steps < 1:
        p.error("--repeat and --steps must be >= 1")
    skipped = {}
    if any(c in FEDOO_CODES for c in codes):
        import importlib.util

        if importlib.util.find_spec("fedoo") is None:
            skipped["fedoo"] = "fedoo not installed (pip install -e .[bench])"
            codes = [c for c in codes if c not in FEDOO_CODES]
            print(f"skipping fedoo: {skipped['fedoo']}")

    directory = mesh_dir(args.mesh_dir)
    started = datetime.datetime.now().astimezone()
    print(f"J2 load path benchmark ({args.path} path, E11 0 → {args.strain:g} → 0 in 2 × {args.steps} steps), "
          f"{started:%Y-%m-%d %H:%M %Z}, meshes in {directory}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on this machine skew times)")
    report = {"date": started.isoformat(timespec="seconds"), "machine": machine_info(),
              "load_average_before": os.getloadavg(), "matrix": MATRIX, "inclusion": INCLUSION,
              "settings": {"path": args.path, "strain": args.strain, "steps": args.steps, "rtol": args.rtol,
                           "fedoo_tol": args.fedoo_tol, "repeat": args.repeat, "serial_env": SERIAL_ENV,
                           "warmup": not args.no_warmup},
              "skipped": skipped, "cases": {}}

    for name in cases:
        path = make_mesh(name, directory)
        is_3d = CASES[name][0] == "spherical_inclusion"
        case_codes = [c for c in codes if not (is_3d and c in FEDOO_CODES and not args.fedoo_3d)]
        if len(case_codes) < len(codes):
            print(f"  {name}: fedoo skipped (3-D takes hours with its continuum tangent; --fedoo-3d to run it)")
        if not args.no_warmup:
            warm = run_one("ours", path, args, warmup=True)
            if "error" in warm:
                print(f"{name}: ours failed in the warm-up:\n{warm['stderr_tail']}")
        runs = interleaved_runs(
            name, path, case_codes, args.repeat, lambda c, p: run_one(c, p, args),
            lambda r: f"{r['time']:.2f} s, {r['newton']} Newton iterations, peak {r['peak_mib']:.0f} MiB", 13)
        case = {"mesh": str(path), "generator": CASES[name][0], "volume_fraction": CASES[name][1],
                "h": CASES[name][2], "codes": {}}
        for code in case_codes:
            entry, best = best_run(name, code, runs[code])
            if best is not None:
                entry.update({k: best[k] for k in best if k not in ("process_wall", "peak_mib")})
            entry["runs"] = [{k: r.get(k) for k in ("time", "t_read", "error", "stderr_tail", "peak_mib",
                                                    "load_average_at_start", "process_wall")}
                             for r in runs[code]]
            case["codes"][code] = entry
        ours = case["codes"]["ours"]
        if "time" in ours:
            case["nodes"], case["dofs"] = ours["nodes"], ours["dofs"]
            for code in case_codes:
                e = case["codes"][code]
                if code == "ours" or "time" not in e:
                    continue
                if code != "ours-finite":  # another problem: no Σ comparison
                    e.update(compare(ours, e))
                e["ratio"] = e["time"] / ours["time"]
                e["same_mesh"] = e["nodes"] == ours["nodes"]
        report["cases"][name] = case

    # ---------------------------------------------------------------- table
    print()
    print(f"{'mesh':7s} {'nodes':>7s} {'dofs':>7s} {'code':13s} {'time s':>8s} {'read s':>7s} {'Newton':>7s} "
          f"{'factor.':>7s} {'peak MiB':>9s} {'Δ MiB':>7s} {'t/t_ours':>9s} {'max|ΔΣ|/max|Σ|':>16s}")
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if "time" not in e:
                print(f"{name:7s} {'':>7s} {'':>7s} {code:13s} failed: {e.get('error')}")
                continue
            ratio = f"{e['ratio']:9.2f}" if "ratio" in e else f"{'1':>9s}"
            diff = f"{e['max_rel_diff']:16.1e}" if "max_rel_diff" in e else f"{'—':>16s}"
            fac = e["factorizations"] if e.get("factorizations") is not None else "?"
            print(f"{name:7s} {e['nodes']:7d} {e['dofs']:7d} {code:13s} {e['time']:8.2f} {e['t_read']:7.2f} "
                  f"{e['newton']:7d} {fac:>7} {e['peak_mib']:9.0f} {e['peak_mib'] - e['base_mib']:7.0f} "
                  f"{ratio} {diff}")
    print()
    for name, case in report["cases"].items():
        ours = case["codes"].get("ours", {})
        if "newton_per_step" in ours:
            print(f"{name} ours Newton iterations per step: {ours['newton_per_step']}")
        finite = case["codes"].get("ours-finite", {})
        if "time" in finite and "time" in ours:
            per = {k: case["codes"][k]["time"] / max(case["codes"][k]["newton"], 1) for k in ("ours", "ours-finite")}
            case["finite_per_iteration_ratio"] = per["ours-finite"] / per["ours"]
            print(f"{name}: time per Newton iteration, finite strain (neo-Hookean) {per['ours-finite']:.3f} s, "
                  f"small strain (J2) {per['ours']:.3f} s, ratio {case['finite_per_iteration_ratio']:.2f}")
        for code, e in case["codes"].items():
            if code in ("ours", "ours-finite") or "time" not in e:
                continue
            print(f"{name} {code} Newton iterations per step: {e['newton_per_step']}")
            extra = (f", σ33 {e['max_rel_diff_sigma33']:.1e}" if "max_rel_diff_sigma33" in e else "")
            print(f"{name} {code}: max|ΔΣ|/max|Σ| = {e['max_rel_diff']:.1e}{extra} (expected ≤ {TOLERANCE:g} "
                  f"for the same discrete problem solved tightly); path mismatch {e['path_mismatch']:.1e}; "
                  f"t_{code} / t_ours = {e['ratio']:.2f}")
            if code == "fedoo":
                met = e["ratio"] >= TARGET_SPEEDUP
                print(f"{name}: speed target ours ≥ {TARGET_SPEEDUP:g}x fedoo: {'met' if met else 'NOT met'}")
                np2 = case["codes"].get("ours-np2", {})
                if "time" in np2:
                    print(f"{name}: t_fedoo / t_ours-np2 = {e['time'] / np2['time']:.2f} (ours on 2 ranks, "
                          f"fedoo serial; 1 → 2 ranks: {ours['time'] / np2['time']:.2f}x)")
    print("settings / solvers:")
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if "solver" in e:
                print(f"  {name} {code}: {e['settings']}; {e['solver']}")
    print("time: read .msh → last converged step, imports excluded, min over runs; Newton: iterations "
          "summed over the path (fedoo's count includes its elastic-prediction solve per step); "
          "factor.: matrix factorizations (fedoo: linear solves, one LU each; ours with CG + GAMG: preconditioner "
          "setups); peak: VmHWM of the worker "
          "(Δ = above its level after imports)")
    if args.kinematics == "finite":
        report["fedoo_finite"] = FEDOO_FINITE
        print(f"fedoo: {FEDOO_FINITE}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
