"""Voxel-image homogenization benchmark: ours vs muGrid vs a plain numpy/scipy FFT-CG.

The problem (issue 24, identical for the three codes): a random two-phase image —
overlapping disks (2-D) or spheres (3-D) of radius ``N/20`` voxels placed uniformly at
random (periodically wrapped) until they fill 30 % of the voxels — label 0 the matrix
``E = 1, ν = 0.3``, label 1 the inclusions ``E = 10, ν = 0.25``; one Q1 element
(bilinear / trilinear, 2 × 2 (× 2) Gauss points) per voxel, periodic fluctuations,
2-D plane strain; the effective stiffness for all load cases (3 in 2-D, 6 in 3-D);
CG to a relative residual of 1e-10. Cases: ``2d-128`` (128²) and ``3d-32`` (32³) for a
quick check (the default), ``2d-1024`` and ``3d-100`` (3 M dofs) for the issue's targets.

Every code runs in a fresh subprocess with its own interpreter (``--worker``; the helpers
of ``homogenize.py``): time from reading the ``.npy`` file to the finished tensor, imports
excluded; peak memory ``VmHWM`` (summed over the ranks for ours).

* **ours** — ``dolfinx-multiscale homogenize IMAGE.npy --phase 0:E=1,nu=0.3 --phase
  1:E=10,nu=0.25 --json`` (``dolfinx_multiscale.cli.main`` in the worker) under
  ``mpiexec -n 2``: the package's defaults (for a periodic voxel cell of linear phases:
  CG with the Fourier reference-medium preconditioner, ``cell/fourier.py``, at
  ``ksp_rtol 1e-8`` with the stationary condensation of the tangent; ``--ours-option``
  sets PETSc options of the CLI's prefix, e.g. ``homogenize_ksp_rtol=1e-10`` and
  ``homogenize_ksp_norm_type=unpreconditioned`` for muGrid's stopping test). Its reported
  time is the CLI's ``wall_s`` (read → tensor); the split (read, mesh, solve) is its
  progress lines.
* **mugrid** — muGrid 1.6.1 in its own venv (``--mugrid-python``; ``pip install
  mugrid==1.6.1`` into e.g. ``/work/bench-venvs/mugrid``): ``FFTEngine`` (one ghost layer),
  per-voxel Lamé fields, ``IsotropicStiffnessOperator`` (Q1), the right-hand side
  ``−apply_macro_rhs(Ē)``, ``Preconditioners.make_reference_stiffness_preconditioner``
  (the reference-medium Green operator with the mean Lamé parameters, analytic stencil),
  ``Solvers.conjugate_gradients(rtol=1e-10)``, ``average_stress``. One process.
* **numpy** — a plain numpy/scipy implementation of the same thing (this file,
  ``_worker_numpy``): the Q1 stiffness applied matrix-free (element matrices ``λ K_λ +
  μ K_μ``, nodes gathered with ``np.roll``), the same Green-operator preconditioner
  (the symbol of the mean-Lamé stiffness by impulse response and ``scipy.fft.rfftn``,
  inverted per mode, zero mode projected out), PCG to 1e-10. One process.

Conventions: ours and both peers give the stress of the unit strains directly in the
``(x, y, z)`` frame; a peer's full ``d × d`` stress tensors are converted to Mandel
``[11, 22, 12]`` / ``[11, 22, 33, 23, 13, 12]`` (√2 on shears), the unit shear strain is
the Mandel ``e_k`` (``ε_ij = ε_ji = 1/√2``). The image axes follow the package:
``image[k, i, j]`` is the voxel at ``x = j``, ``y = i``, ``z = k``, so the peers work on the
transposed array. The tensor difference is ``max |C_peer − C_ours| / ‖C_ours‖_F``.

Usage::

    .venv/bin/python benchmarks/image.py                         # 128², 32³: ~1 min
    .venv/bin/python benchmarks/image.py --cases 2d-1024,3d-100 --json image.json
    .venv/bin/python benchmarks/image.py --cases 3d-32 --ours-option homogenize_ksp_rtol=1e-10
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from homogenize import _rss_mib, best_run, interleaved_runs, machine_info, mesh_dir, run_worker_process  # noqa: E402

#: label -> (E, nu)
PHASES = {0: (1.0, 0.3), 1: (10.0, 0.25)}
#: name -> (dim, voxels per axis)
CASES = {"2d-128": (2, 128), "3d-32": (3, 32), "2d-1024": (2, 1024), "3d-100": (3, 100)}
DEFAULT_CASES = "2d-128,3d-32"
CODES = ("ours", "mugrid", "numpy")
VOLUME_FRACTION = 0.3
RTOL = 1e-10
TOLERANCE = 1e-5  # max relative tensor difference accepted (reported, not asserted)
MUGRID_PYTHON = "/work/bench-venvs/mugrid/bin/python"


# ======================================================================================
# The image and the shared small pieces (numpy only: they run in the peers' venvs too)
# ======================================================================================
def make_image(dim: int, n: int, seed: int = 0):
    """Overlapping disks/spheres of radius ``n/20`` (periodic) until 30 % of the voxels are
    label 1; ``uint8`` array of shape ``(n,) * dim`` (NumPy axis order ``z, y, x``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    image = np.zeros((n,) * dim, dtype=np.uint8)
    r = max(n / 20, 2.0)
    offsets = np.arange(-int(np.ceil(r)), int(np.ceil(r)) + 1)
    while image.mean() < VOLUME_FRACTION:
        centre = rng.uniform(0, n, dim)
        base = np.floor(centre).astype(int)
        axes = [(base[a] + offsets) % n for a in range(dim)]
        dist2 = sum(np.reshape((base[a] + offsets + 0.5 - centre[a]) ** 2, [-1 if b == a else 1 for b in range(dim)])
                    for a in range(dim))
        block = image[np.ix_(*axes)]
        image[np.ix_(*axes)] = np.where(dist2 <= r * r, 1, block)
    return image


def lame(E: float, nu: float) -> tuple[float, float]:
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


def unit_strains(dim: int):
    """The Mandel unit strains as ``d × d`` tensors (shear ``e_k``: ``ε_ij = ε_ji = 1/√2``)."""
    import numpy as np

    pairs = [(0, 0), (1, 1), (0, 1)] if dim == 2 else [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    out = []
    for i, j in pairs:
        E = np.zeros((dim, dim))
        E[i, j] = E[j, i] = 1.0 if i == j else 1 / np.sqrt(2)
        out.append(E)
    return pairs, out


def mandel_column(sigma, pairs):
    """A ``d × d`` stress tensor as its Mandel vector."""
    import numpy as np

    return np.array([sigma[i, j] * (1.0 if i == j else np.sqrt(2)) for i, j in pairs])


# ======================================================================================
# Workers
# ======================================================================================
def _worker_ours(path: str, options: list[str]) -> dict:
    import dolfinx_multiscale  # noqa: F401  (imports dolfinx_solver first)
    from mpi4py import MPI
    from petsc4py import PETSc

    from dolfinx_multiscale import cli

    opts = PETSc.Options()
    for item in options:
        key, _, value = item.partition("=")
        opts[key] = value
    comm = MPI.COMM_WORLD
    base = comm.allreduce(_rss_mib())
    out = Path(path).with_suffix(f".ours{os.getpid() if comm.rank == 0 else ''}.json")
    out = Path(comm.bcast(str(out)))
    args = ["homogenize", path, "--json", str(out)]
    for tag, (E, nu) in PHASES.items():
        args += ["--phase", f"{tag}:E={E},nu={nu}"]
    t0 = time.perf_counter()
    code = cli.main(args)
    elapsed = time.perf_counter() - t0
    peak = comm.allreduce(_rss_mib())
    if code not in (0, None):
        raise RuntimeError(f"cli.main returned {code}")
    report = json.loads(out.read_text())
    comm.barrier()
    if comm.rank == 0:
        out.unlink()
    solver = "package default" + (" [" + " ".join(options) + "]" if options else "")
    if comm.rank != 0:
        return None
    return {"time": report["wall_s"], "process_time": elapsed, "C_mandel": report["C"], "dofs": report["n_dofs"],
            "ranks": comm.size, "peak_mib": peak, "base_mib": base, "solver": solver,
            "version": dolfinx_multiscale.__version__}


def _worker_mugrid(path: str) -> dict:
    import numpy as np

    import muGrid
    from muGrid import Preconditioners, Solvers

    base = _rss_mib()
    t0 = time.perf_counter()
    image = np.load(path).T  # axes x, y(, z)
    dim, shape = image.ndim, image.shape
    h = [1.0] * dim
    comm = muGrid.Communicator()
    op = muGrid.IsotropicStiffnessOperator(dim, h)
    engine = muGrid.FFTEngine(list(shape), comm, ghosts=op)
    lam = engine.real_space_field("lambda", components=(1,))
    mu = engine.real_space_field("mu", components=(1,))
    values = {t: lame(E, nu) for t, (E, nu) in PHASES.items()}
    lam.s[0, 0] = np.choose(image, [values[t][0] for t in sorted(values)])
    mu.s[0, 0] = np.choose(image, [values[t][1] for t in sorted(values)])
    engine.communicate_ghosts(lam)
    engine.communicate_ghosts(mu)
    lam_ref, mu_ref = float(np.mean(lam.s)), float(np.mean(mu.s))
    prec = Preconditioners.make_reference_stiffness_preconditioner(
        engine, nb_components=dim, element=muGrid.FEMElement.q1, grid_spacing=h, lambda_ref=lam_ref, mu_ref=mu_ref)
    b = engine.real_space_field("rhs", components=(dim,))
    u = engine.real_space_field("u", components=(dim,))

    def hessp(x, f):
        engine.communicate_ghosts(x)
        op.apply(x, lam, mu, f)

    pairs, strains = unit_strains(dim)
    C = np.empty((len(pairs), len(pairs)))
    iterations = []
    for k, E in enumerate(strains):
        op.apply_macro_rhs(lam, mu, E.reshape(-1).tolist(), b)
        b.s[...] *= -1.0
        u.s[...] = 0.0
        count = [0]
        Solvers.conjugate_gradients(comm, engine.real_space_collection, b, u, hessp, prec, rtol=RTOL, maxiter=5000,
                                    callback=lambda it, state: count.__setitem__(0, it))
        iterations.append(count[0])
        engine.communicate_ghosts(u)
        sigma = np.array(op.average_stress(u, lam, mu, E.reshape(-1).tolist())).reshape(dim, dim) / np.prod(shape)
        C[:, k] = mandel_column(sigma, pairs)
    elapsed = time.perf_counter() - t0
    return {"time": elapsed, "C_mandel": C.tolist(), "dofs": int(dim * np.prod(shape)), "ranks": 1,
            "peak_mib": _rss_mib(), "base_mib": base, "iterations": iterations,
            "solver": f"CG + reference-medium Green preconditioner (λ_ref {lam_ref:.4g}, μ_ref {mu_ref:.4g}), "
                      f"rtol {RTOL:g}, iterations {iterations}",
            "version": getattr(muGrid, "__version__", "?")}


def _q1_element(dim: int, h):
    """Q1 element matrices of a box ``h``: ``K_λ``, ``K_μ`` ``(2^d d, 2^d d)`` (rows node-major,
    ``[a, i]``; ``K_e = λ K_λ + μ K_μ``), the node offsets ``(2^d, d)`` and the centre
    gradients ``(2^d, d)``, with 2 × 2 (× 2) Gauss points (exact on a box)."""
    import itertools

    import numpy as np

    nodes = np.array(list(itertools.product((0, 1), repeat=dim)))
    g = 0.5 / np.sqrt(3)
    points = np.array(list(itertools.product((0.5 - g, 0.5 + g), repeat=dim)))
    h = np.asarray(h, dtype=float)

    def gradients(xi):  # (2^d, d): ∂φ_a/∂x_i at the reference point xi
        factors = np.where(nodes == 1, xi, 1 - xi)  # (2^d, d)
        out = np.empty((len(nodes), dim))
        for i in range(dim):
            others = np.prod(np.delete(factors, i, axis=1), axis=1)
            out[:, i] = np.where(nodes[:, i] == 1, 1.0, -1.0) * others / h[i]
        return out

    n = len(nodes) * dim
    K_lam, K_mu = np.zeros((n, n)), np.zeros((n, n))
    weight = np.prod(h) / len(points)
    eye = np.eye(dim)
    for xi in points:
        G = gradients(xi)
        # K[a i, b j]
        K_lam += weight * np.einsum("ai,bj->aibj", G, G).reshape(n, n)
        K_mu += weight * (np.einsum("aj,bi->aibj", G, G) + np.einsum("ij,ak,bk->aibj", eye, G, G)).reshape(n, n)
    return K_lam, K_mu, nodes, gradients(np.full(dim, 0.5))


def _worker_numpy(path: str) -> dict:
    import numpy as np
    import scipy.fft

    base = _rss_mib()
    t0 = time.perf_counter()
    image = np.load(path).T  # axes x, y(, z)
    dim, shape = image.ndim, image.shape
    K_lam, K_mu, nodes, G_centre = _q1_element(dim, [1.0] * dim)
    values = {t: lame(E, nu) for t, (E, nu) in PHASES.items()}
    lam = np.choose(image, [values[t][0] for t in sorted(values)]).reshape(-1)
    mu = np.choose(image, [values[t][1] for t in sorted(values)]).reshape(-1)
    spatial = tuple(range(1, dim + 1))

    def gather(u):  # nodal (d, *shape) -> per element (n_el, 2^d d), node-major
        return np.stack([np.roll(u, tuple(-a), axis=spatial).reshape(dim, -1) for a in nodes], axis=0
                        ).transpose(2, 0, 1).reshape(-1, len(nodes) * dim)

    def scatter(F):  # per element (n_el, 2^d d) -> nodal sum (d, *shape)
        F = F.reshape(-1, len(nodes), dim)
        out = np.zeros((dim,) + shape)
        for k, a in enumerate(nodes):
            out += np.roll(F[:, k, :].T.reshape((dim,) + shape), tuple(a), axis=spatial)
        return out

    def apply(u, lam_e=lam, mu_e=mu):
        U = gather(u)
        return scatter(lam_e[:, None] * (U @ K_lam) + mu_e[:, None] * (U @ K_mu))

    # the reference-medium preconditioner: the symbol of K(λ0, μ0) by impulse response
    lam0, mu0 = float(lam.mean()), float(mu.mean())
    ones = np.ones(lam.size)
    symbol = np.empty(scipy.fft.rfftn(np.zeros(shape)).shape + (dim, dim), dtype=complex)
    for beta in range(dim):
        impulse = np.zeros((dim,) + shape)
        impulse[(beta,) + (0,) * dim] = 1.0
        response = apply(impulse, lam0 * ones, mu0 * ones)
        for alpha in range(dim):
            symbol[..., alpha, beta] = scipy.fft.rfftn(response[alpha])
    symbol[(0,) * dim] = np.eye(dim)  # the translations: projected out below
    inverse = np.linalg.inv(symbol)
    inverse[(0,) * dim] = 0.0
    del symbol

    def precondition(r):
        R = scipy.fft.rfftn(r, axes=spatial)
        return scipy.fft.irfftn(np.einsum("...ab,b...->a...", inverse, R), s=shape, axes=spatial)

    pairs, strains = unit_strains(dim)
    C = np.empty((len(pairs), len(pairs)))
    iterations = []
    for k, E in enumerate(strains):
        uE = np.array([E @ a for a in nodes]).reshape(-1)  # the affine field on one element
        b = -scatter(lam[:, None] * (K_lam @ uE)[None, :] + mu[:, None] * (K_mu @ uE)[None, :])
        x = np.zeros_like(b)
        r = b.copy()
        z = precondition(r)
        p = z.copy()
        rz = np.vdot(r, z)
        bnorm = np.linalg.norm(b)
        it = 0
        while np.linalg.norm(r) > RTOL * bnorm:
            Ap = apply(p)
            alpha = rz / np.vdot(p, Ap)
            x += alpha * p
            r -= alpha * Ap
            z = precondition(r)
            rz, rz_old = np.vdot(r, z), rz
            p = z + (rz / rz_old) * p
            it += 1
        iterations.append(it)
        grad = np.einsum("eai,aj->eij", gather(x).reshape(-1, len(nodes), dim), G_centre)  # ∂u_i/∂x_j
        eps = E + 0.5 * (grad + grad.transpose(0, 2, 1))
        trace = np.trace(eps, axis1=1, axis2=2)
        sigma = (lam * trace).mean() * np.eye(dim) + 2 * np.einsum("e,eij->ij", mu, eps) / mu.size
        C[:, k] = mandel_column(sigma, pairs)
    elapsed = time.perf_counter() - t0
    return {"time": elapsed, "C_mandel": C.tolist(), "dofs": int(dim * np.prod(shape)), "ranks": 1,
            "peak_mib": _rss_mib(), "base_mib": base, "iterations": iterations,
            "solver": f"numpy matrix-free Q1 + scipy.fft Green preconditioner (λ0 {lam0:.4g}, μ0 {mu0:.4g}), "
                      f"PCG rtol {RTOL:g}, iterations {iterations}",
            "version": f"numpy {np.__version__}, scipy {scipy.__version__}"}


def run_worker(args: argparse.Namespace) -> None:
    code, path = args.worker
    if code == "ours":
        result = _worker_ours(path, args.ours_option)
        if result is None:  # not rank 0
            return
    elif code == "mugrid":
        result = _worker_mugrid(path)
    elif code == "numpy":
        result = _worker_numpy(path)
    else:
        raise ValueError(f"unknown code {code!r}; expected one of {CODES}")
    Path(args.out).write_text(json.dumps(result))


# ======================================================================================
# Driver
# ======================================================================================
def image_path(name: str, directory: Path) -> Path:
    """The cached ``.npy`` of case ``name`` (made with :func:`make_image`)."""
    import numpy as np

    dim, n = CASES[name]
    path = directory / f"image_{dim}d_{n}_vf{VOLUME_FRACTION}_seed0.npy"
    if not path.exists():
        np.save(path.with_suffix(".tmp.npy"), make_image(dim, n))
        path.with_suffix(".tmp.npy").replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES, help=f"comma list of {list(CASES)}")
    p.add_argument("--codes", default=",".join(CODES), help=f"comma list of {list(CODES)}")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per code and case (min is reported)")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks of ours")
    p.add_argument("--mugrid-python", default=MUGRID_PYTHON, help="python of the venv with mugrid 1.6.1")
    p.add_argument("--ours-option", action="append", default=[], metavar="KEY=VALUE",
                   help="PETSc option for our RVE solver (the CLI's prefix homogenize_), e.g. "
                   "homogenize_ksp_rtol=1e-10 (repeatable)")
    p.add_argument("--json", help="write all results to this file")
    p.add_argument("--image-dir", help="where the generated images are cached (default: the .msh cache "
                   "of homogenize.py)")
    p.add_argument("--worker", nargs=2, metavar=("CODE", "IMAGE"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    import numpy as np

    cases = [c for c in args.cases.split(",") if c]
    codes = [c for c in args.codes.split(",") if c]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; expected some of {list(CASES)}")
    for c in codes:
        if c not in CODES:
            p.error(f"unknown code {c!r}; expected some of {list(CODES)}")
    if "ours" not in codes:
        p.error("--codes must include ours (ratios and differences are relative to it)")
    if "mugrid" in codes and not Path(args.mugrid_python).exists():
        print(f"skipping mugrid: {args.mugrid_python} not found (--mugrid-python)")
        codes.remove("mugrid")

    script = str(Path(__file__).resolve())

    def run(code: str, path: Path) -> dict:
        extra = [f"--ours-option={o}" for o in args.ours_option]
        python = args.mugrid_python if code == "mugrid" else None
        return run_worker_process(script, extra, code, path, prefix="bench_image_",
                                  ranks=args.ranks if code == "ours" else 1, python=python)

    directory = mesh_dir(args.image_dir)
    started = datetime.datetime.now().astimezone()
    print(f"voxel-image homogenization benchmark, {started:%Y-%m-%d %H:%M %Z}, images in {directory}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on this machine skew times)")
    report = {"date": started.isoformat(timespec="seconds"), "machine": machine_info(),
              "load_average_before": os.getloadavg(), "phases": {str(k): {"E": E, "nu": nu} for k, (E, nu) in PHASES.items()},
              "settings": {"repeat": args.repeat, "ranks_ours": args.ranks, "ours_options": args.ours_option,
                           "rtol_peers": RTOL}, "cases": {}}
    for name in cases:
        path = image_path(name, directory)
        fraction = float(np.load(path).mean())
        runs = interleaved_runs(name, path, codes, args.repeat, run,
                                lambda r: f"{r['time']:.2f} s, peak {r['peak_mib']:.0f} MiB", 6)
        case = {"image": str(path), "shape": list(np.load(path).shape), "inclusion_fraction": fraction, "codes": {}}
        for code in codes:
            entry, best = best_run(name, code, runs[code])
            if best is not None:
                entry.update({k: best[k] for k in ("time", "dofs", "ranks", "base_mib", "solver", "version", "C_mandel")})
            entry["runs"] = runs[code]
            case["codes"][code] = entry
        ours = case["codes"]["ours"]
        if "time" in ours:
            C0 = np.array(ours["C_mandel"])
            voxels = int(np.prod(case["shape"]))
            for code, e in case["codes"].items():
                if "time" not in e:
                    continue
                e["kib_per_voxel"] = e["peak_mib"] * 1024 / voxels
                if code != "ours":
                    e["ratio"] = e["time"] / ours["time"]
                    e["max_rel_diff"] = float(np.max(np.abs(np.array(e["C_mandel"]) - C0)) / np.linalg.norm(C0))
        report["cases"][name] = case

    print()
    print(f"{'case':8s} {'code':7s} {'ranks':>5s} {'dofs':>9s} {'time s':>8s} {'peak MiB':>9s} {'KiB/vox':>8s} "
          f"{'t/t_ours':>9s} {'max|ΔC|/‖C‖':>13s}")
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if "time" not in e:
                print(f"{name:8s} {code:7s} failed: {e.get('error')}")
                continue
            ratio = f"{e['ratio']:9.2f}" if "ratio" in e else f"{'1':>9s}"
            diff = f"{e['max_rel_diff']:13.1e}" if "max_rel_diff" in e else f"{'—':>13s}"
            print(f"{name:8s} {code:7s} {e['ranks']:5d} {e['dofs']:9d} {e['time']:8.2f} {e['peak_mib']:9.0f} "
                  f"{e['kib_per_voxel']:8.2f} {ratio} {diff}")
    print()
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if e.get("max_rel_diff", 0.0) > TOLERANCE:
                print(f"{name}: {code} tensor differs by {e['max_rel_diff']:.1e} > {TOLERANCE:g} relative")
    print("solvers:")
    for name, case in report["cases"].items():
        for code, e in case["codes"].items():
            if "solver" in e:
                print(f"  {name} {code}: {e['solver']}")
    print("time: read .npy → tensor, imports excluded, min over runs; peak: VmHWM (ours: summed over its ranks)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
