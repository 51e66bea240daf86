"""Periodic homogenization benchmark: dolfinx_multiscale vs SfePy vs fedoo, same .msh files.

The problem (identical for the three codes): linear elasticity, P1 (linear triangles /
tetrahedra), two isotropic phases — matrix (tag 1) ``E = 1, ν = 0.3`` and inclusion
(tag 2) ``E = 10, ν = 0.3`` — 2-D in plane strain, periodic boundary conditions, the
effective stiffness ``C_eff`` of the unit cell. Meshes (made once with the package's own
Gmsh generators and cached, never committed):

* ``2d-8k``  — centred disk, φ = 0.3, ``h = 0.0123``  (~8 k nodes),
* ``2d-30k`` — centred disk, φ = 0.3, ``h = 0.0063``  (~30 k nodes),
* ``3d-27k`` — centred sphere, φ = 0.2, ``h = 0.032`` (~27 k nodes).

Every code runs in a fresh subprocess per mesh and repetition (``--worker``), serially
(``OMP_NUM_THREADS=1`` and friends), so its peak memory is its own (``VmHWM``, the peak
resident set size of the worker's address space; on Linux ``ru_maxrss`` would include the
driver's size at fork time).
Wall time is measured from reading the ``.msh`` file to the finished tensor, imports
excluded (each worker imports everything it needs, including modules the peers import
lazily, before starting the clock). The reported time is the minimum over ``--repeat``
runs; the runs of the three codes are interleaved so that load from other processes
hits them alike. One untimed warm-up run of ours fills the FFCx/JIT disk cache first
(a user's second run; the cold-cache JIT cost is not what is compared here).

How each code is set up (the peers factorize with the same MUMPS LU through PETSc as ours):

* **ours** — ``read_msh`` + ``RVE(..., bc="periodic").effective_tensor()`` with the
  package defaults (prolongation-matrix periodicity, static condensation; one MUMPS LU
  factorization for all unit strains, or CG + GAMG with the rigid-body near-null space
  for large 3-D RVEs). Extra PETSc options: ``--ours-option``.
* **SfePy** — its homogenization engine (``HomogenizationApp``) with the corrector problem
  of ``sfepy/examples/homogenization/linear_homogenization.py`` (``CorrDimDim`` correctors
  with periodic EPBCs ``match_*_line``/``match_*_plane``, corners fixed, ``CoefSymSym``
  coefficient), one-point quadrature (exact for P1), ``ls.petsc`` as MUMPS LU (default;
  SfePy's ``ls.mumps`` needs a MUMPS Python binding that is not installable here, and
  without UMFPACK ``ls.auto_direct`` falls back to SuperLU: ``--sfepy-ls superlu``).
  SfePy's own reader would give the 2-D mesh three coordinates and number the phases by
  the *sorted names* of the Gmsh physical groups, so the file is read with ``meshio``
  (what SfePy's reader uses internally) and handed to ``Mesh.from_data`` with the Gmsh
  physical tags as material ids (inside the timed region).
* **fedoo** — ``fd.Mesh.from_meshio(meshio.read(path))`` (fedoo's documented route for
  ``.msh`` with element sets; ``fd.Mesh.read`` drops them), ``ElasticIsotrop`` with the
  Young's modulus given per Gauss point from the physical tags, one Gauss point per
  element (exact for P1), ``fd.homogen.get_homogenized_stiffness`` (``PeriodicBC``,
  centre node pinned). Its ``solver="direct"`` picks PETSc MUMPS LU here (no pypardiso /
  python-mumps) and reuses the factorization across the perturbations.

Conventions: ours is Mandel ``[11,22,12]`` / ``[11,22,33,23,13,12]`` (√2 on shears);
both peers return Voigt stiffness (engineering shear strains) in the order ``[11,22,12]``
/ ``[11,22,33,12,13,23]``; they are converted to Mandel before comparing. The tensor
difference is ``max |C_peer − C_ours| / ‖C_ours‖_F`` (Mandel, Frobenius norm = norm of the
fourth-order tensor).

Usage::

    .venv/bin/python benchmarks/homogenize.py                 # all meshes, all codes
    .venv/bin/python benchmarks/homogenize.py --json bench.json --repeat 3
    .venv/bin/python benchmarks/homogenize.py --cases 2d-8k --codes ours,fedoo

The peers come with the ``bench`` extra: ``pip install -e .[bench]``. A peer that is not
installed is reported as such; the run goes on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Phases: tag -> (E, nu). Tag 1 = matrix, tag 2 = inclusion (package convention).
PHASES = {1: (1.0, 0.3), 2: (10.0, 0.3)}

#: name -> (generator, volume fraction, h); h chosen for the requested node counts.
CASES = {
    "2d-8k": ("circular_inclusion", 0.3, 0.0123),
    "2d-30k": ("circular_inclusion", 0.3, 0.0063),
    "3d-27k": ("spherical_inclusion", 0.2, 0.032),
}
CODES = ("ours", "sfepy", "fedoo")
PEERS = ("sfepy", "fedoo")
TOLERANCE = 1e-6  # max relative tensor difference accepted (reported, not asserted)
TARGET_SPEEDUP = 2.0  # ours vs the faster peer (reported, not asserted)

SERIAL_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "BLIS_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


# ======================================================================================
# Workers: one code, one mesh, in a fresh process. Everything heavy is imported inside
# the worker functions (SfePy's homogenization engine starts a multiprocessing manager
# with the "spawn" method, which re-imports this file as __mp_main__).
# ======================================================================================
def _rss_mib() -> float:
    """Peak resident set size of this process so far, MiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: ``getrusage(RUSAGE_SELF).ru_maxrss``
    would do elsewhere, but Linux carries it over ``fork`` + ``exec``, so a worker would
    report at least the driver's resident size at the time it was started.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin" else 2.0**20)


def _worker_ours(path: str, options: list[str]) -> dict:
    import numpy as np  # noqa: F401
    import scipy.sparse  # noqa: F401
    import scipy.spatial  # noqa: F401
    from mpi4py import MPI

    import dolfinx_multiscale  # imports dolfinx_solver first
    from dolfinx_multiscale.materials import LinearElastic
    from dolfinx_multiscale.geometry.microstructures import read_msh
    from dolfinx_multiscale.cell.rve import RVE
    from petsc4py import PETSc

    opts = PETSc.Options()
    for item in options:
        key, _, value = item.partition("=")
        opts[key] = value
    base = _rss_mib()

    t0 = time.perf_counter()
    micro = read_msh(path, comm=MPI.COMM_SELF)
    t_read = time.perf_counter() - t0
    rve = RVE(micro, {tag: LinearElastic(E=E, nu=nu) for tag, (E, nu) in PHASES.items()}, bc="periodic")
    C = rve.effective_tensor()
    elapsed = time.perf_counter() - t0

    try:  # private attribute: describe the solver if the RVE still exposes it this way
        ksp = rve.linear_solver.ksp
        pc = ksp.getPC()
        solver = f"PETSc {ksp.getType()}/{pc.getType()}"
        if pc.getType() in ("lu", "cholesky"):
            solver += f" ({pc.getFactorSolverType()})"
        else:
            solver += f" (rtol {ksp.getTolerances()[0]:g}, {ksp.getIterationNumber()} iterations in the last solve)"
    except (AttributeError, PETSc.Error):
        solver = "package default (PETSc)"
    if options:
        solver += " [" + " ".join(options) + "]"
    return {"time": elapsed, "t_read": t_read, "C_mandel": C.tolist(), "dofs": int(rve.n_dofs),
            "nodes": int(micro.mesh.geometry.index_map().size_global), "peak_mib": _rss_mib(),
            "base_mib": base, "solver": solver, "version": dolfinx_multiscale.__version__}


def _worker_sfepy(path: str, ls_name: str) -> dict:
    import types

    import dolfinx_solver  # noqa: F401  (the venv's petsc4py needs its MPI loaded first)
    import meshio
    import numpy as np
    import sfepy
    import sfepy.discrete.fem.domain  # noqa: F401  (imported lazily otherwise: keep
    import sfepy.discrete.fem.periodic as per  # imports out of the timed region)
    import sfepy.discrete.fem.poly_spaces  # noqa: F401
    import sfepy.homogenization.coefs_base as cb
    import sfepy.solvers  # noqa: F401
    import sfepy.terms  # noqa: F401
    from sfepy.base.base import Struct, output
    from sfepy.base.conf import ProblemConf
    from sfepy.discrete.fem import Mesh
    from sfepy.homogenization.homogen_app import HomogenizationApp
    from sfepy.homogenization.utils import define_box_regions
    from sfepy.mechanics.matcoefs import stiffness_from_youngpoisson

    if ls_name == "petsc":
        import petsc4py.PETSc  # noqa: F401
        ls = ("ls.petsc", {"method": "richardson", "precond": "lu", "pc_factor_mat_solver_type": "mumps",
                           "eps_r": 1e-12, "eps_a": 1e-50, "i_max": 5})
        solver = "ls.petsc MUMPS LU (richardson: SfePy passes a nonzero initial guess)"
    elif ls_name == "superlu":
        ls = ("ls.scipy_superlu", {"use_presolve": True})
        solver = "ls.scipy_superlu (SciPy SuperLU, factorization reused)"
    else:
        raise ValueError(f"--sfepy-ls must be petsc or superlu; got {ls_name!r}")
    output.set_output(quiet=True)
    out_dir = tempfile.mkdtemp(prefix="sfepy_bench_")
    base = _rss_mib()

    t0 = time.perf_counter()
    m = meshio.read(path)
    dim = 3 if any(c.type == "tetra" for c in m.cells) else 2
    ctype = "tetra" if dim == 3 else "triangle"
    blocks = [(c.data, tags) for c, tags in zip(m.cells, m.cell_data["gmsh:physical"]) if c.type == ctype]
    conns = np.concatenate([b[0] for b in blocks]).astype(np.int32)
    mat_ids = np.concatenate([np.asarray(b[1]) for b in blocks]).astype(np.int32)
    coors = np.ascontiguousarray(m.points[:, :dim])
    mesh = Mesh.from_data("rve", coors, None, [conns], [mat_ids], ["3_4" if dim == 3 else "2_3"])
    t_read = time.perf_counter() - t0
    lo, hi = coors.min(axis=0), coors.max(axis=0)

    regions = {"Y": "all", "Ym": "cells of group 1", "Yc": "cells of group 2"}
    regions.update(define_box_regions(dim, tuple(lo), tuple(hi), eps=1e-6))
    if dim == 3:
        epbcs = {"periodic_x": (["Left", "Right"], {"u.all": "u.all"}, "match_x_plane"),
                 "periodic_y": (["Near", "Far"], {"u.all": "u.all"}, "match_y_plane"),
                 "periodic_z": (["Bottom", "Top"], {"u.all": "u.all"}, "match_z_plane")}
    else:
        epbcs = {"periodic_x": (["Left", "Right"], {"u.all": "u.all"}, "match_y_line"),
                 "periodic_y": (["Bottom", "Top"], {"u.all": "u.all"}, "match_x_line")}
    D = {"Ym": stiffness_from_youngpoisson(dim, *PHASES[1], plane="strain"),
         "Yc": stiffness_from_youngpoisson(dim, *PHASES[2], plane="strain")}
    conf = {
        "filename_mesh": mesh,
        "regions": regions,
        "materials": {"mat": ({"D": D},)},
        "fields": {"corrector": ("real", dim, "Y", 1)},
        "variables": {"u": ("unknown field", "corrector", 0),
                      "v": ("test field", "corrector", "u"),
                      "Pi": ("parameter field", "corrector", "u"),
                      "Pi1": ("parameter field", "corrector", "(set-to-None)"),
                      "Pi2": ("parameter field", "corrector", "(set-to-None)")},
        "functions": {name: (getattr(per, name),) for name in
                      ("match_x_plane", "match_y_plane", "match_z_plane", "match_x_line", "match_y_line")},
        "ebcs": {"fixed_u": ("Corners", {"u.all": 0.0})},
        "epbcs": epbcs,
        "integrals": {"i": 1},
        "options": {"coefs": "coefs", "requirements": "requirements", "ls": "ls",
                    "volume": {"value": float(np.prod(hi - lo))}, "multiprocessing": False,
                    "output_dir": out_dir},
        "coefs": {"D": {"requires": ["pis", "corrs_rs"],
                        "expression": "dw_lin_elastic.i.Y(mat.D, Pi1, Pi2)",
                        "set_variables": [("Pi1", ("pis", "corrs_rs"), "u"),
                                          ("Pi2", ("pis", "corrs_rs"), "u")],
                        "class": cb.CoefSymSym}},
        "requirements": {
            "pis": {"variables": ["u"], "class": cb.ShapeDimDim},
            "corrs_rs": {"requires": ["pis"], "ebcs": ["fixed_u"], "epbcs": list(epbcs),
                         "equations": {"balance_of_forces": "dw_lin_elastic.i.Y(mat.D, v, u)"
                                       " = - dw_lin_elastic.i.Y(mat.D, v, Pi)"},
                         "set_variables": [("Pi", "pis", "u")], "class": cb.CorrDimDim,
                         "is_linear": True}},
        "solvers": {"ls": ls, "newton": ("nls.newton", {"i_max": 1, "eps_a": 1e-4})},
    }
    # ProblemConf wants a module for its functions; SfePy copies the conf by re-finding
    # the module in sys.modules.
    module = types.ModuleType("sfepy_bench_conf")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    app = HomogenizationApp(ProblemConf.from_dict(conf, module), Struct(output_filename_trunk=None), "he:")
    C_voigt = np.asarray(app.call().D, dtype=float)
    elapsed = time.perf_counter() - t0

    return {"time": elapsed, "t_read": t_read, "C_voigt": C_voigt.tolist(),
            "dofs": int(dim * mesh.n_nod), "nodes": int(mesh.n_nod), "peak_mib": _rss_mib(),
            "base_mib": base, "solver": solver, "version": sfepy.__version__}


def _worker_fedoo(path: str) -> dict:
    import dolfinx_solver  # noqa: F401  (the venv's petsc4py needs its MPI loaded first)
    import fedoo as fd
    import meshio
    import numpy as np
    from fedoo.core import base as fd_base

    if fd_base.USE_PYPARDISO:
        solver = "direct: pypardiso"
    elif fd_base.USE_MUMPS:
        solver = "direct: python-mumps"
    elif fd_base.USE_PETSC:
        solver = "direct: PETSc preonly/lu (mumps), factorization reused"
    else:
        solver = "direct: scipy spsolve" + (" (umfpack)" if fd_base.USE_UMFPACK else " (SuperLU)")
    base = _rss_mib()

    t0 = time.perf_counter()
    m = meshio.read(path)
    dim = 3 if any(c.type == "tetra" for c in m.cells) else 2
    fd.ModelingSpace("3D" if dim == 3 else "2Dplane")  # 2Dplane = plane strain
    mesh = fd.Mesh.from_meshio(m)
    if dim == 2:
        mesh.nodes = np.ascontiguousarray(mesh.nodes[:, :2])
    ctype = "tetra" if dim == 3 else "triangle"
    tags = np.concatenate([np.asarray(t) for c, t in zip(m.cells, m.cell_data["gmsh:physical"])
                           if c.type == ctype])
    t_read = time.perf_counter() - t0
    E_cell = np.array([PHASES[1][0], PHASES[2][0]])[tags - 1]
    nu = PHASES[1][1]
    assert PHASES[2][1] == nu  # one nu for both phases keeps the law scalar in nu

    material = fd.constitutivelaw.ElasticIsotrop(1.0, nu)
    assembly = fd.Assembly.create(fd.weakform.StressEquilibrium(material), mesh, n_elm_gp=1)
    material.E = assembly.convert_data(E_cell, "Element", "GaussPoint")
    C_voigt = np.asarray(fd.homogen.get_homogenized_stiffness(assembly), dtype=float)
    elapsed = time.perf_counter() - t0

    return {"time": elapsed, "t_read": t_read, "C_voigt": C_voigt.tolist(),
            "dofs": int(dim * mesh.n_nodes), "nodes": int(mesh.n_nodes), "peak_mib": _rss_mib(),
            "base_mib": base, "solver": solver, "version": fd.__version__}


def run_worker(args: argparse.Namespace) -> None:
    code, path = args.worker
    sys.argv = sys.argv[:1]  # fedoo/SfePy hand sys.argv to petsc4py.init
    if code == "ours":
        result = _worker_ours(path, args.ours_option)
    elif code == "sfepy":
        result = _worker_sfepy(path, args.sfepy_ls)
    elif code == "fedoo":
        result = _worker_fedoo(path)
    else:
        raise ValueError(f"unknown code {code!r}; expected one of {CODES}")
    Path(args.out).write_text(json.dumps(result))


# ======================================================================================
# Driver
# ======================================================================================
def voigt_peer_to_mandel(C):
    """Voigt stiffness of SfePy/fedoo → our Mandel matrix.

    Peers: engineering shear strains, order ``[11,22,12]`` (2-D) and
    ``[11,22,33,12,13,23]`` (3-D). Ours: ``[11,22,12]`` / ``[11,22,33,23,13,12]`` with
    ``C_M[a,b] = w_a w_b C_V[a,b]``, ``w = √2`` on shear components.
    """
    import numpy as np

    C = np.asarray(C, dtype=float)
    if C.shape == (6, 6):
        order = [0, 1, 2, 5, 4, 3]  # ours[k] = peer[order[k]]
        w = np.array([1, 1, 1, np.sqrt(2), np.sqrt(2), np.sqrt(2)])
    elif C.shape == (3, 3):
        order = [0, 1, 2]
        w = np.array([1, 1, np.sqrt(2)])
    else:
        raise ValueError(f"expected a (3, 3) or (6, 6) stiffness; got {C.shape}")
    return C[np.ix_(order, order)] * np.outer(w, w)


def mesh_dir(arg: str | None) -> Path:
    if arg:
        d = Path(arg)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        d = root / "dolfinx-multiscale" / "bench-meshes"
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_mesh(name: str, directory: Path) -> Path:
    """The .msh of case ``name``, generated with the package's generators (cached)."""
    import gmsh
    from mpi4py import MPI

    from dolfinx_multiscale.geometry.microstructures import write_msh

    generator, fraction, h = CASES[name]
    path = directory / f"{generator}_vf{fraction}_h{h}_gmsh{gmsh.__version__}.msh"
    if not path.exists():
        tmp = path.with_name(path.stem + f".tmp{os.getpid()}.msh")
        t0 = time.perf_counter()
        write_msh(tmp, generator, comm=MPI.COMM_SELF, volume_fraction=fraction, h=h)
        tmp.replace(path)
        print(f"  generated {path} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def run_worker_process(script: str, args_after_out: list[str], code: str, path: Path,
                       timeout: float | None = None, prefix: str = "bench_", ranks: int = 1,
                       python: str | None = None) -> dict:
    """Run ``script --worker CODE MESH --out result.json *args_after_out`` in a fresh
    process (its own peak memory; one thread per process; ``ranks > 1``: under the venv's
    ``mpiexec -n ranks``; ``python``: another interpreter, e.g. a peer's own venv) and
    return its JSON result, with the process wall time and the load average at the start;
    ``{"error", "stderr_tail"}`` on failure."""
    env = dict(os.environ, **SERIAL_ENV)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python or sys.executable, script, "--worker", code, str(path), "--out", str(out), *args_after_out]
        if ranks > 1:
            cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *cmd]
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:g} s", "stderr_tail": ""}
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            return {"error": f"exit code {proc.returncode}", "stderr_tail": tail}
        result = json.loads(out.read_text())
        result["process_wall"] = wall
        result["load_average_at_start"] = load
        return result


def interleaved_runs(name: str, path: Path, codes: list[str], repeat: int, run, status, width: int) -> dict:
    """``repeat`` rounds, each running every code once (interleaved, so load from other
    processes hits the codes alike): ``{code: [run result, ...]}``. ``run(code, path)``
    returns a worker result, ``status(result)`` its progress line."""
    runs: dict[str, list[dict]] = {c: [] for c in codes}
    for rep in range(repeat):
        for code in codes:
            r = run(code, path)
            runs[code].append(r)
            print(f"  {name} run {rep + 1}/{repeat} {code:{width}s}: {r.get('error') or status(r)}", flush=True)
    return runs


def best_run(name: str, code: str, runs: list[dict]) -> tuple[dict, dict | None]:
    """``(entry, best)``: ``best`` is the fastest successful run and ``entry`` holds the
    peak memory over the successful runs; if every run failed, ``best`` is ``None`` and
    ``entry`` the first error (printed with its stderr tail)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        entry = {"error": runs[0]["error"], "stderr_tail": runs[0].get("stderr_tail", "")}
        print(f"{name}: {code} failed:\n{entry['stderr_tail']}")
        return entry, None
    return {"peak_mib": max(r["peak_mib"] for r in ok)}, min(ok, key=lambda r: r["time"])


def parse_cases_and_codes(p: argparse.ArgumentParser, args: argparse.Namespace,
                          codes_known) -> tuple[list[str], list[str]]:
    """``--cases`` and ``--codes`` as lists, validated (``p.error`` on bad input)."""
    cases = [c for c in args.cases.split(",") if c]
    codes = [c for c in args.codes.split(",") if c]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; expected some of {list(CASES)}")
    for c in codes:
        if c not in codes_known:
            p.error(f"unknown code {c!r}; expected some of {list(codes_known)}")
    if "ours" not in codes:
        p.error("--codes must include ours (ratios and differences are relative to it)")
    return cases, codes


def run_one(code: str, path: Path, args: argparse.Namespace) -> dict:
    extra = ["--sfepy-ls", args.sfepy_ls]
    for item in args.ours_option:
        extra += ["--ours-option", item]
    return run_worker_process(str(Path(__file__).resolve()), extra, code, path)


def available(code: str) -> str | None:
    """None if the code can be imported in a worker, else the reason."""
    if code == "ours":
        return None
    import importlib.util

    return None if importlib.util.find_spec(code) else f"{code} not installed (pip install -e .[bench])"


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma list of {list(CASES)}")
    p.add_argument("--codes", default=",".join(CODES), help=f"comma list of {list(CODES)}")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per code and mesh (min is reported)")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed JIT-cache warm-up run of ours")
    p.add_argument("--json", help="write all results (every run, tensors, machine) to this file")
    p.add_argument("--mesh-dir", help="where the generated .msh files are cached "
                   "(default $XDG_CACHE_HOME or ~/.cache /dolfinx-multiscale/bench-meshes)")
    p.add_argument("--sfepy-ls", default="petsc", choices=["petsc", "superlu"],
                   help="SfePy linear solver: PETSc MUMPS LU (default) or SciPy SuperLU")
    p.add_argument("--ours-option", action="append", default=[], metavar="KEY=VALUE",
                   help="PETSc option for our RVE solver, e.g. rve_ksp_type=cg (repeatable)")
    p.add_argument("--worker", nargs=2, metavar=("CODE", "MESH"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        run_worker(args)
        return 0

    import numpy as np

    cases, codes = parse_cases_and_codes(p, args, CODES)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")

    missing = {c: why for c in codes if (why := available(c))}
    for c, why in missing.items():
        print(f"skipping {c}: {why}")
    codes = [c for c in codes if c not in missing]

    directory = mesh_dir(args.mesh_dir)
    started = datetime.datetime.now().astimezone()
    print(f"periodic homogenization benchmark, {started:%Y-%m-%d %H:%M %Z}, meshes in {directory}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on this machine skew times)")
    report = {"date": started.isoformat(timespec="seconds"), "machine": machine_info(),
              "load_average_before": os.getloadavg(), "phases": {str(k): {"E": E, "nu": nu} for k, (E, nu) in PHASES.items()},
              "settings": {"repeat": args.repeat, "sfepy_ls": args.sfepy_ls, "ours_options": args.ours_option,
                           "serial_env": SERIAL_ENV, "warmup": not args.no_warmup},
              "skipped": missing, "cases": {}}

    for name in cases:
        path = make_mesh(name, directory)
        if not args.no_warmup and "ours" in codes:
            warm = run_one("ours", path, args)
            if "error" in warm:
                print(f"{name}: ours failed in the warm-up:\n{warm['stderr_tail']}")
        runs = interleaved_runs(name, path, codes, args.repeat, lambda c, p: run_one(c, p, args),
                                lambda r: f"{r['time']:.2f} s, peak {r['peak_mib']:.0f} MiB", 5)
        case = {"mesh": str(path), "generator": CASES[name][0], "volume_fraction": CASES[name][1],
                "h": CASES[name][2], "codes": {}}
        for code in codes:
            entry, best = best_run(name, code, runs[code])
            if best is not None:
                C = np.array(best["C_mandel"]) if code == "ours" else voigt_peer_to_mandel(best["C_voigt"])
                entry.update(time=best["time"], t_read=best["t_read"], base_mib=best["base_mib"],
                             dofs=best["dofs"], nodes=best["nodes"], solver=best["solver"],
                             version=best["version"], C_mandel=C.tolist())
            entry["runs"] = runs[code]
            case["codes"][code] = entry
        ours = case["codes"]["ours"]
        if "time" in ours:
            C0 = np.array(ours["C_mandel"])
            norm = np.linalg.norm(C0)
            case["nodes"], case["dofs"] = ours["nodes"], ours["dofs"]
            for code in codes:
                e = case["codes"][code]
                if code == "ours" or "time" not in e:
                    continue
                e["ratio"] = e["time"] / ours["time"]
                e["max_rel_diff"] = float(np.max(np.abs(np.array(e["C_mandel"]) - C0)) / norm)
                e["same_mesh"] = e["nodes"] == ours["nodes"]
            peer_times = [case["codes"][c]["time"] for c in codes if c != "ours" and "time" in case["codes"][c]]
            if peer_times:
                case["speedup_vs_faster_peer"] = min(peer_times) / ours["time"]
                case["target_met"] = case["speedup_vs_faster_peer"] >= TARGET_SPEEDUP
        report["cases"][name] = case

    # ---------------------------------------------------------------- table
    print()
    print(f"{'mesh':8s} {'nodes':>7s} {'dofs':>7s} {'code':6s} {'time s':>8s} {'read s':>7s} "
          f"{'peak MiB':>9s} {'Δ MiB':>7s} {'t/t_ours':>9s} {'max|ΔC|/‖C‖':>13s}")
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if "time" not in e:
                print(f"{name:8s} {'':>7s} {'':>7s} {code:6s} failed: {e.get('error')}")
                continue
            ratio = f"{e['ratio']:9.2f}" if "ratio" in e else f"{'1':>9s}"
            diff = f"{e['max_rel_diff']:13.1e}" if "max_rel_diff" in e else f"{'—':>13s}"
            print(f"{name:8s} {e['nodes']:7d} {e['dofs']:7d} {code:6s} {e['time']:8.2f} {e['t_read']:7.2f} "
                  f"{e['peak_mib']:9.0f} {e['peak_mib'] - e['base_mib']:7.0f} {ratio} {diff}")
    print()
    for name, case in report["cases"].items():
        if "speedup_vs_faster_peer" in case:
            print(f"{name}: ours is {case['speedup_vs_faster_peer']:.2f}x the faster peer's speed "
                  f"(target ≥ {TARGET_SPEEDUP:g}x: {'met' if case['target_met'] else 'NOT met'})")
        for code, e in case["codes"].items():
            if e.get("max_rel_diff", 0.0) > TOLERANCE:
                print(f"{name}: {code} tensor differs by {e['max_rel_diff']:.1e} > {TOLERANCE:g} relative")
    print("solvers:")
    for code in codes:
        per_case = {name: case["codes"][code]["solver"] for name, case in report["cases"].items()
                    if "solver" in case["codes"].get(code, {})}
        for solver in dict.fromkeys(per_case.values()):
            names = [n for n, s in per_case.items() if s == solver]
            where = "" if len(names) == len(per_case) else f" ({', '.join(names)})"
            print(f"  {code}{where}: {solver}")
    print("time: read .msh → tensor, imports excluded, min over runs; peak: VmHWM of the worker "
          "process (Δ = above its level after imports)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
