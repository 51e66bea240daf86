"""The ``dolfinx-multiscale`` command line.

Subcommands::

    dolfinx-multiscale mesh KIND [--vf F] [--h H] [...] -o cell.msh [--png cell.png]
    dolfinx-multiscale homogenize MESH.msh --bc periodic --phase 1:E=1,nu=0.3 \\
        --phase 2:E=10,nu=0.3 --json out.json [--png fields.png]
    dolfinx-multiscale homogenize IMAGE.{npy,tif,tiff,png,raw} --voxel-size H [--threshold T,...] \\
        [--roi 0:64,32:96] [--coarsen k] [--force] --phase 0:E=1,nu=0.3 --phase 255:E=10,nu=0.3 --json out.json
    dolfinx-multiscale rve-path MESH.msh --phase 1:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05 \\
        --phase 2:E=10,nu=0.3 --strain 11=0.02 --stress 22=0 --steps 10 --unload --json out.json
    dolfinx-multiscale rve-path MESH.msh --kinematics finite --phase 1:model=neo-hookean,E=1,nu=0.3 \
        --phase 2:model=neo-hookean,E=10,nu=0.3 --F 11=0.7 --P 22=0 --P 12=0 --P 21=0 \
        --steps 10 --json out.json [--png curve.png]
    dolfinx-multiscale rve-size --sizes 1,4,9 --seeds 5 --vf 0.3 --phase 1:E=1,nu=0.3 \\
        --phase 2:E=10,nu=0.3 [--tolerance 0.05] --json out.json [--png bracket.png]
    dolfinx-multiscale fe2 RUN.toml --json out.json [--checkpoint DIR] [--restart DIR] [--xdmf u.xdmf] [--force]

``homogenize`` and ``rve-path`` take a Gmsh ``.msh`` (its cell physical groups are the
phases) or a voxel image (``.npy``, ``.tif``/``.tiff``, ``.png``, ``.raw`` with ``--shape``
and ``--dtype``): one Q1 cell per voxel, each label a phase (``--threshold`` turns grey
values into labels 0, 1, ...; ``image[i, j]`` is the voxel at ``x = (j + ½) h_x``,
``y = (i + ½) h_y``, row 0 at ``y = 0``; ``--voxel-size H`` or ``HX,HY[,HZ]``); the JSON
then also has ``"image": {"shape", "voxel_size", "labels", "volume_fractions",
"clusters"}``. An image whose estimated memory exceeds the machine's is refused unless
given ``--force``; every label needs a ``--phase`` and every ``--phase`` a label.

Every subcommand runs unchanged under ``mpiexec -n N`` (one mesh distributed over the
ranks); rank 0 writes each output file once, and only after everything succeeded, so a
bad input leaves no file behind (``fe2`` rewrites its JSON atomically after every step and
checkpoints, ``docs/run-files.md``). Errors exit with status 2 and a one-line message.

Long commands say what they do on ``stderr`` (``--quiet`` silences it): ``mesh`` one line
before meshing (the estimated element count) and one after; ``homogenize`` and
``rve-path`` of an image one after reading, one after meshing and one per label with its
clusters (how many float, i.e. percolate along no axis); ``homogenize`` one before and
after solving; ``rve-path`` one line per
step (step k/N, the prescribed strain, micro Newton iterations, cuts, time); ``rve-size``
one per member. ``mesh`` refuses, before meshing, an ``--h`` whose estimated element
count exceeds :data:`MESH_CELL_BOUND` unless given ``--force``, and ``fe2`` the same for
the ``[macro]`` cells of a rectangle or box; ``fe2 --checkpoint`` must name a directory
(existing or not), never a file. SIGINT (Ctrl-C) and
SIGTERM stop ``rve-path`` after the current step (its ``--json`` then holds the finished
steps, ``"complete": false``) and ``rve-size`` after the current members (``--cache DIR``
keeps every finished member; the same command with the same cache resumes and recomputes
none of them): one line says where it stopped and what was kept, exit status 130
(SIGINT) or 143 (SIGTERM), no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from mpi4py import MPI

import numpy as np

__all__ = ["main", "parse_phase"]

#: ``mesh`` refuses above this many estimated elements unless given ``--force`` (a typo in
#: ``--h`` would otherwise run for hours towards ~10¹⁰ elements).
MESH_CELL_BOUND = 2_000_000


class CLIError(ValueError):
    """Bad command-line input (reported as ``error: ...``, exit status 2)."""


def parse_phase(text: str) -> tuple[int, dict[str, float | str]]:
    """Parse ``TAG:key=value,key=value`` (e.g. ``1:E=1,nu=0.3`` or ``2:k=10``).

    Returns:
        ``(tag, {key: value})``; values are floats, except ``model`` which stays a string
        (:func:`~dolfinx_multiscale.materials.spec.parse_parameters`).

    Raises:
        CLIError: the text does not have that form.
    """
    from .materials.spec import parse_parameters

    tag, sep, body = text.partition(":")
    try:
        tag_value = int(tag)
    except ValueError:
        tag_value = None
    if not sep or tag_value is None or not body:
        raise CLIError(f"--phase must look like TAG:key=value,... (e.g. 1:E=1,nu=0.3); got {text!r}")
    try:
        return tag_value, parse_parameters(body, f"--phase {text!r}")
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _materials(phases: list[str], physics: str, plane_stress: bool) -> dict:
    from .materials.spec import material_from_parameters

    if not phases:
        raise CLIError("give at least one --phase TAG:key=value,...")
    out = {}
    for text in phases:
        tag, params = parse_phase(text)
        if tag in out:
            raise CLIError(f"phase {tag} given twice")
        try:
            out[tag] = material_from_parameters(params, physics, plane_stress, what=f"phase {tag}")
        except ValueError as exc:
            raise CLIError(str(exc).replace("finite strain needs", "--kinematics finite needs")) from None
    return out


def _check_output(path: str | None, suffix: str, option: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix != suffix:
        raise CLIError(f"{option} must end in {suffix}; got {path!r}")
    if not p.parent.is_dir():
        raise CLIError(f"{option}: directory {str(p.parent)!r} does not exist")
    return p


def _write_json(path: Path | None, data: dict, comm: MPI.Comm) -> None:
    from .files import write_json_atomic

    if path is not None and comm.rank == 0:
        write_json_atomic(path, data)


def _count(x: float) -> str:
    """An element count for messages: ``1234`` below a million, ``2.5e10`` above."""
    if not math.isfinite(x) or x < 1e6:
        return f"{x:.0f}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise CLIError(f"{option} must be comma-separated numbers; got {text!r}") from None


def _image_options(args) -> dict:
    """The ``from_image`` keyword arguments of the image options given."""
    roi = None
    if args.roi is not None:
        try:
            roi = [tuple(int(v) for v in r.split(":")) for r in args.roi.split(",")]
        except ValueError:
            roi = [()]
        if any(len(r) != 2 for r in roi):
            raise CLIError(f"--roi must be START:STOP per array axis, comma separated (e.g. 0:64,32:96); "
                           f"got {args.roi!r}")
    options = {"voxel_size": _floats(args.voxel_size, "--voxel-size"), "threshold": _floats(args.threshold,
               "--threshold"), "roi": roi, "coarsen": args.coarsen, "shape": None if args.shape is None else
               _int_list(args.shape, "--shape"), "dtype": args.dtype}
    return {k: v for k, v in options.items() if v is not None}


def _read_cell(args, comm: MPI.Comm, materials: dict):
    """The cell of ``homogenize``/``rve-path``, a ``.msh`` or an image (whose labels are
    checked against ``materials`` before it is meshed)."""
    from .geometry.images import IMAGE_SUFFIXES, load_image
    from .geometry.microstructures import from_image, read_msh

    path = Path(args.mesh)
    suffix = path.suffix.lower()
    options = _image_options(args)
    if suffix == ".msh":
        given = [f"--{k.replace('_', '-')}" for k in options] + (["--force"] if args.force else [])
        if given:
            raise CLIError(f"{', '.join(given)} apply to images, not to a .msh mesh")
        if not path.is_file():
            raise CLIError(f"mesh file {args.mesh!r} does not exist")
        try:
            return read_msh(path, comm=comm)  # its phases are checked by the RVE
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if suffix not in IMAGE_SUFFIXES:
        raise CLIError(f"the cell must be a .msh mesh or an image ({', '.join(IMAGE_SUFFIXES)}); got {args.mesh!r}")
    for key in ("voxel_size", "threshold"):
        if key in options and len(options[key]) == 1:
            options[key] = options[key][0]
    t0 = time.perf_counter()
    try:
        image = load_image(path, force=args.force, n_ranks=comm.size, **options)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    _check_labels(image.volume_fractions, materials)
    if not args.quiet and comm.rank == 0:
        print(f"image: read {image.summary()} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for label, c in image.clusters().items():
            along = ", ".join(c["percolates"]) or "no axis"
            print(f"image: label {label}: {image.volume_fractions[label]:.4g} of the voxels, {c['clusters']} "
                  f"cluster(s), {c['floating']} floating ({c['floating_fraction']:.3g} of the voxels); "
                  f"percolates along {along}", file=sys.stderr)
    return from_image(image, progress=not args.quiet, comm=comm)


def _check_labels(fractions: dict, materials: dict) -> None:
    """Every label of an image has a ``--phase`` and every ``--phase`` a label (before
    the image is meshed)."""
    labels = sorted(fractions)
    shown = str(labels) if len(labels) <= 12 else f"{labels[:12]}... ({len(labels)} labels)"
    missing = [t for t in labels if t not in materials]
    if missing:
        hint = "; a grey-value image needs --threshold" if len(labels) > 12 else ""
        raise CLIError(f"label(s) {missing[:12]} of the cell have no --phase (the cell's labels: {shown}); "
                       f"give --phase {missing[0]}:...{hint}")
    extra = sorted(set(materials) - set(labels))
    if extra:
        raise CLIError(f"--phase {extra} is not a label of the cell (its labels: {shown})")


def _image_report(micro) -> dict:
    """The ``"image"`` entry of a JSON report (``{}`` for a ``.msh`` cell)."""
    image = micro.image
    if image is None:
        return {}
    return {"image": {"shape": list(image.shape), "voxel_size": image.voxel_size.tolist(),
                      "labels": list(image.volume_fractions),
                      "volume_fractions": {str(k): v for k, v in image.volume_fractions.items()},
                      "clusters": {str(k): v for k, v in image.clusters().items()}}}


# -- subcommands ------------------------------------------------------------------------
def _cmd_mesh(args, comm: MPI.Comm) -> dict:
    from .geometry.microstructures import GENERATORS, estimate_cells, write_msh
    from .progress import Progress

    out = _check_output(args.output, ".msh", "-o")
    png = _check_output(args.png, ".png", "--png")
    kwargs = {k: v for k, v in {
        "volume_fraction": args.vf, "h": args.h, "dim": args.dim, "seed": args.seed,
        "n": args.n, "min_gap": args.min_gap, "packing": args.packing,
        "fractions": args.fractions, "direction": args.direction}.items() if v is not None}
    import inspect

    accepted = set(inspect.signature(GENERATORS[args.kind]).parameters) - {"comm"}
    unknown = set(kwargs) - accepted
    if unknown:
        raise CLIError(f"mesh {args.kind} does not take {sorted(unknown)}; it takes {sorted(accepted)}")
    try:
        estimate = estimate_cells(args.kind, **kwargs)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if estimate > MESH_CELL_BOUND and not args.force:
        raise CLIError(f"--h {args.h} gives about {_count(estimate)} elements (bound {_count(MESH_CELL_BOUND)}); "
                       "pass --force to mesh anyway")
    report = Progress("mesh", None, comm, enabled=not args.quiet)
    report.message(f"meshing {args.kind}, about {_count(estimate)} elements")
    t0 = time.perf_counter()
    try:
        micro = GENERATORS[args.kind](comm=comm, **kwargs)
        write_msh(out, args.kind, comm=comm, **kwargs)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    n_cells = micro.mesh.topology.index_map(micro.dim).size_global
    report.message(f"{n_cells} elements in {time.perf_counter() - t0:.1f} s")
    if png is not None:
        from .viz import plot_microstructure

        plot_microstructure(micro, png)
    return {"kind": args.kind, "output": str(out), "volume_fractions": micro.volume_fractions,
            "n_cells": n_cells, "n_cells_estimate": estimate}


def _cmd_homogenize(args, comm: MPI.Comm) -> dict:
    from .cell.rve import RVE
    from .kinematics import kinematics
    from .progress import Progress
    from .tensors import symmetry_error

    _check_output(args.json, ".json", "--json")  # fail before any work, not after
    png = _check_output(args.png, ".png", "--png")
    materials = _materials(args.phase, args.physics, args.plane_stress)
    if args.plane_stress and not kinematics(args.physics).has_out_of_plane_stress:
        raise CLIError("--plane-stress applies to elasticity only")
    t0 = time.perf_counter()
    micro = _read_cell(args, comm, materials)
    try:
        rve = RVE(micro, materials, bc=args.bc, degree=args.degree,
                  petsc_options_prefix="homogenize_")
    except ValueError as exc:  # includes NotPeriodicError and phase/material mismatches
        raise CLIError(str(exc)) from None
    if args.plane_stress and micro.dim != 2:
        raise CLIError("--plane-stress applies to 2-D meshes only")
    report = Progress("homogenize", None, comm, enabled=not args.quiet)
    report.message(f"solving {rve.n} load cases, {rve.n_dofs} dofs, {comm.size} rank(s)")
    t_solve = time.perf_counter()
    C = rve.effective_tensor()
    report.message(f"solved in {time.perf_counter() - t_solve:.1f} s")
    wall = time.perf_counter() - t0
    residuals = []
    for k in range(rve.n):
        rve.solve(np.eye(rve.n)[k], tangent=False)
        residuals.append(rve.hill_mandel_residual())
    if png is not None:
        from .viz import plot_rve

        rve.solve(np.eye(rve.n)[0], tangent=False)
        plot_rve(rve, png, title=f"{args.bc}: response to a unit E[0]")
    key = rve.kinematics.tensor_name
    return {
        "mesh": str(args.mesh), "bc": args.bc, "physics": rve.kinematics.name, "dim": rve.dim,
        "degree": args.degree, "plane_stress": bool(args.plane_stress), "notation": "mandel",
        "order": _order(rve), key: C.tolist(),
        "volume_fractions": {str(k): v for k, v in micro.volume_fractions.items()}, **_image_report(micro),
        "n_dofs": rve.n_dofs, "n_ranks": comm.size,
        "hill_mandel_residual": float(max(residuals)),
        "symmetry_error": symmetry_error(C),
        "eigenvalues": np.linalg.eigvalsh(0.5 * (C + C.T)).tolist(),
        "wall_s": wall,
    }


def _path_from_args(args, kin, dim: int) -> dict:
    """The JSON path of ``--path`` or of ``--strain/--stress/--steps/--unload`` (finite
    strain, ``kin``: ``--F/--P``)."""
    from .studies.loading import ramp

    finite = args.kinematics == "finite"
    strain_opt, stress_opt = ("--F", "--P") if finite else ("--strain", "--stress")
    strain, stress = (args.F, args.P) if finite else (args.strain, args.stress)
    other_strain, other_stress = (args.strain, args.stress) if finite else (args.F, args.P)
    if other_strain or other_stress:
        raise CLIError(f"{'--strain/--stress' if finite else '--F/--P'} do not go with --kinematics "
                       f"{args.kinematics}; use {strain_opt}/{stress_opt}")
    if (args.path is None) == (strain is None):
        raise CLIError(f"give either --path PATH.json or {strain_opt} COMPONENT=VALUE (with --steps)")
    if args.path is not None:
        if stress or args.unload or args.steps is not None:
            raise CLIError(f"{stress_opt}, --steps and --unload go with {strain_opt}, not with --path")
        try:
            return json.loads(Path(args.path).read_text())
        except FileNotFoundError:
            raise CLIError(f"path file {args.path!r} does not exist") from None
        except json.JSONDecodeError as exc:
            raise CLIError(f"path file {args.path!r} is not valid JSON: {exc}") from None

    def pairs(items, option):
        out = {}
        for item in items:
            key, eq, value = item.partition("=")
            try:
                out[key] = float(value)
            except ValueError:
                raise CLIError(f"{option} must look like 11=0.02; got {item!r}") from None
            if not eq:
                raise CLIError(f"{option} must look like 11=0.02; got {item!r}")
        return out

    try:
        return ramp(pairs(strain, strain_opt), pairs(stress or [], stress_opt),
                    10 if args.steps is None else args.steps, args.unload, kin, dim)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _cmd_rve_path(args, comm: MPI.Comm) -> dict:
    from .cell.rve import RVE
    from .errors import Interrupted, LoadPathError
    from .kinematics import FINITE_STRAIN, SMALL_STRAIN
    from .progress import Progress, graceful_stop
    from .studies.loading import load_path, parse_path

    json_out = _check_output(args.json, ".json", "--json")  # fail before any work, not after
    png = _check_output(args.png, ".png", "--png")
    finite = args.kinematics == "finite"
    kin = FINITE_STRAIN if finite else SMALL_STRAIN
    materials = _materials(args.phase, kin.name, False)
    t0 = time.perf_counter()
    micro = _read_cell(args, comm, materials)
    try:
        path = _path_from_args(args, kin, micro.dim)
        steps = parse_path(path, micro.dim, kin)
        rve = RVE(micro, materials, bc=args.bc, degree=args.degree, petsc_options_prefix="rve_path_")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    n_steps = len(steps)
    field_steps = {n_steps} if args.field_steps is None else set(args.field_steps)
    # what the progress line shows of each step: its prescribed strain (F) components
    strain_key = kin.control_names[0]
    shown = [{("F" if finite else "eps") + key: value for key, value in step.get(strain_key, {}).items()}
             for step in (path["steps"] if isinstance(path, dict) else path)]
    bar = Progress("rve-path", n_steps, comm, enabled=not args.quiet)
    records, snapshots = [], []
    t_step = time.perf_counter()

    def on_step(record, rve):  # on every rank after each committed step, inside graceful_stop
        nonlocal t_step
        k = record["step"]
        records.append(record)
        if png is not None and k in field_steps:
            from .viz import plot_rve

            target = png.with_name(f"{png.stem}_step{k}.png")
            plot_rve(rve, target, title=f"step {k}")
            snapshots.append(str(target))
        now = time.perf_counter()
        bar.step(k, **shown[k - 1], newton=record["newton_iterations"], cuts=record["cuts"],
                 wall=f"{now - t_step:.2f} s")
        t_step = now
        if k < n_steps and stop.requested():  # collective: every rank stops after the same step
            raise Interrupted(f"stopped by {stop.signal_name} after step {k}/{n_steps}", stop.exit_status)

    with graceful_stop(comm) as stop:
        try:
            load_path(rve, steps, progress=False, on_step=on_step)
        except (LoadPathError, ValueError) as exc:
            raise CLIError(str(exc)) from None
        except Interrupted as exc:
            _write_json(json_out, _rve_path_report(args, rve, records, n_steps, snapshots, t0), comm)
            kept = f"{args.json} with steps 1-{len(records)}" if json_out else "nothing (no --json)"
            raise Interrupted(f"{exc}; kept: {kept}", exc.exit_status) from None
    report = _rve_path_report(args, rve, records, n_steps, snapshots, t0)
    if png is not None and comm.rank == 0:
        from .viz import plot_load_path

        plot_load_path(records, png, labels=_order(rve), finite=finite)
    return report


def _rve_path_report(args, rve, records: list[dict], n_steps: int, snapshots: list[str], t0: float) -> dict:
    """The JSON of ``rve-path`` after ``len(records)`` of ``n_steps`` steps: ``complete``
    says whether all ran, ``stopped_at_step`` the last finished step of a stopped run."""
    complete = len(records) == n_steps
    common = {"mesh": str(args.mesh), **_image_report(rve.micro), "kinematics": args.kinematics, "dim": rve.dim,
              "bc": args.bc,
              "n_dofs": rve.n_dofs, "n_ranks": rve.comm.size, "wall_s": time.perf_counter() - t0,
              "n_steps": n_steps, "complete": complete, "stopped_at_step": None if complete else len(records),
              "field_pictures": snapshots}
    if args.kinematics == "finite":
        keys = ("step", "F", "P", "P33", "newton_iterations", "cuts", "hill_mandel_residual", "ellipticity",
                "loss_of_ellipticity")
        lost = [r["step"] for r in records if r["loss_of_ellipticity"]]
        return {**common, "loss_of_ellipticity_step": lost[0] if lost else None,
                "steps": [{k: r[k] for k in keys if k in r} for r in records]}
    return {**common, "notation": "mandel", "order": _order(rve), "steps": records}


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise CLIError(f"{option} must be comma-separated integers (e.g. 1,4,9); got {text!r}") from None


def _cmd_rve_size(args, comm: MPI.Comm) -> dict:
    """RVE-size study: ensembles of random cells of growing size, KUBC/periodic/SUBC."""
    from .cell.boundary import BOUNDARY_CONDITIONS
    from .progress import graceful_stop
    from .studies.uq import rve_size_study
    from .viz import plot_rve_size_study

    _check_output(args.json, ".json", "--json")
    png = _check_output(args.png, ".png", "--png")
    sizes = _int_list(args.sizes, "--sizes")
    if any(n < 1 for n in sizes) or sorted(set(sizes)) != sizes:
        raise CLIError(f"--sizes must be increasing numbers of inclusions >= 1; got {args.sizes!r}")
    if args.seeds < 2:
        raise CLIError(f"--seeds must be >= 2 (a confidence interval needs 2 samples); got {args.seeds}")
    bcs = args.bc.split(",")
    if any(bc not in BOUNDARY_CONDITIONS for bc in bcs) or len(set(bcs)) != len(bcs):
        raise CLIError(f"--bc must be distinct values of {sorted(BOUNDARY_CONDITIONS)}, comma "
                       f"separated; got {args.bc!r}")
    if not 0.0 < args.vf < 1.0:
        raise CLIError(f"--vf must be in (0, 1); got {args.vf}")
    if not args.h_factor > 0.0:
        raise CLIError(f"--h-factor must be > 0; got {args.h_factor}")
    if args.tolerance is not None and not args.tolerance > 0.0:
        raise CLIError(f"--tolerance must be > 0; got {args.tolerance}")
    materials = _materials(args.phase, args.physics, False)
    if set(materials) != {1, 2}:
        raise CLIError(f"give --phase 1:... (matrix) and --phase 2:... (inclusions); got tags "
                       f"{sorted(materials)}")
    if any(not m.is_linear for m in materials.values()):
        raise CLIError("rve-size needs linear phases (elastic or conduction), not model=j2")
    tolerance = None
    if args.tolerance is not None:
        tolerance = {"bracket": args.tolerance} if args.criterion == "bracket" else (
            {"ci": args.tolerance} if args.criterion == "ci" else args.tolerance)
    try:
        with graceful_stop(comm) as stop:
            report = rve_size_study(sizes, args.seeds, args.vf, materials, bcs=bcs, dim=args.dim,
                                    h_factor=args.h_factor, comm=comm, tolerance=tolerance,
                                    seed=args.seed, min_gap=args.min_gap, degree=args.degree,
                                    cache=args.cache, progress=not args.quiet, stop=stop)
    except ValueError as exc:  # raised on every rank alike
        raise CLIError(str(exc)) from None
    if png is not None:
        plot_rve_size_study(report, png, comm=comm)
    report["physics"] = args.physics
    return report


def _cmd_fe2(args, comm: MPI.Comm) -> dict:
    """An FE² (or single-scale) macro run described by a TOML run file."""
    from .errors import ConvergenceError
    from .runs import CheckpointError, RunFileError, read_run, run

    out = _check_output(args.json, ".json", "--json")
    xdmf = _check_output(args.xdmf, ".xdmf", "--xdmf")
    if args.restart is not None and not Path(args.restart).is_dir():
        raise CLIError(f"--restart: directory {args.restart!r} does not exist")
    if args.max_steps is not None and args.max_steps < 1:
        raise CLIError(f"--max-steps must be >= 1; got {args.max_steps}")
    if args.checkpoint is not None and Path(args.checkpoint).exists() and not Path(args.checkpoint).is_dir():
        raise CLIError(f"--checkpoint {args.checkpoint!r} is a file; give a directory (created if missing)")
    try:
        spec = read_run(args.run)
        estimate = spec.macro.n_elements()
        if estimate is not None and estimate > MESH_CELL_BOUND and not args.force:
            raise CLIError(f"{Path(args.run).name}: [macro] cells {list(spec.macro.cells)} give {_count(estimate)} "
                           f"elements (bound {_count(MESH_CELL_BOUND)}); pass --force to run anyway")
        return run(spec, out, None if args.checkpoint is None else Path(args.checkpoint),
                   None if args.restart is None else Path(args.restart), xdmf, comm, progress=not args.quiet,
                   max_steps=args.max_steps, force=args.force)
    except (RunFileError, CheckpointError) as exc:
        raise CLIError(str(exc)) from None
    except ConvergenceError as exc:
        kept = f"; kept: {out} and the checkpoints of the finished steps" if out is not None else ""
        raise CLIError(f"{exc}{kept}") from None


def _cmd_reduce(args, comm: MPI.Comm) -> dict:
    from .cell.reduced import ReducedRVE
    from .cell.rve import RVE

    out = _check_output(args.out, ".npz", "--out")
    _check_output(args.json, ".json", "--json")
    if not (math.isfinite(args.tolerance) and 0 < args.tolerance < 1):
        raise CLIError(f"--tolerance must be a number in (0, 1); got {args.tolerance!r}")
    if args.strain_amplitude is not None and not (math.isfinite(args.strain_amplitude) and args.strain_amplitude > 0):
        raise CLIError(f"--strain-amplitude must be a number > 0; got {args.strain_amplitude!r}")
    if args.enrichment_rounds < 0:
        raise CLIError(f"--enrichment-rounds must be >= 0; got {args.enrichment_rounds}")
    for option in ("paths", "steps", "validation_paths", "candidates"):
        if getattr(args, option) < 1:
            raise CLIError(f"--{option.replace('_', '-')} must be >= 1; got {getattr(args, option)}")
    materials = _materials(args.phase, "elasticity", False)
    micro = _read_cell(args, MPI.COMM_SELF, materials)  # every rank its own serial cell, as FE² uses it
    try:
        rve = RVE(micro, materials, bc=args.bc, degree=args.degree, petsc_options_prefix="reduce_")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if rve.is_linear:
        raise CLIError("every phase is linear: the RVE is exact with its effective tensor, there is nothing to "
                       "reduce (give a phase an inelastic law, e.g. model=j2)")
    say = (lambda stage: None) if args.quiet else (lambda stage: print(f"reduce: {stage}", file=sys.stderr))
    # the full-RVE paths are spread over the ranks; every rank gets the same model
    model = ReducedRVE.train(rve, tolerance=args.tolerance, strain_amplitude=args.strain_amplitude,
                             paths=args.paths, steps=args.steps, seed=args.seed,
                             validation_paths=args.validation_paths, enrichment_rounds=args.enrichment_rounds,
                             candidates=args.candidates, progress=say, comm=comm)
    if comm.rank == 0:
        model.save(out)
    info = model.info
    return {"model": str(out), "cell": str(args.mesh), "bc": args.bc, "n_dofs": rve.n_dofs, "n_ranks": comm.size,
            "tolerance": model.tolerance, "modes": model.modes, "cubature_points": model.cubature_points,
            "cell_points": info["cell_points"], "safety": model.safety,
            "effectivity": {"q50": float(np.median(info["effectivity"])) if info["effectivity"] else None,
                            "q99": model.safety},
            "check_iterations": model.check_iterations,
            **{k: info[k] for k in ("samples", "training_paths", "amplitude", "first_yield_strain",
                                    "validation_steps", "validation_error", "check_cuts", "training_s", "enrichment")
               if k in info},
            "history_range": model.history_range,
            **_image_report(micro)}


def _order(rve) -> list[str]:
    return rve.kinematics.component_keys(rve.dim)


# -- parser -----------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    from .cell.boundary import BOUNDARY_CONDITIONS
    from .geometry.microstructures import GENERATORS

    p = argparse.ArgumentParser(prog="dolfinx-multiscale", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("mesh", help="generate a periodic microstructure .msh")
    m.add_argument("kind", choices=sorted(GENERATORS))
    m.add_argument("-o", "--output", required=True, help="output .msh")
    m.add_argument("--vf", type=float, dest="vf", help="volume fraction (inclusions, fibres, pores)")
    m.add_argument("--h", type=float, help="mesh size (element size; the unit cell has side 1)")
    m.add_argument("--dim", type=int, help="2 or 3 (laminate, random_inclusions, porous)")
    m.add_argument("--n", type=int, help="number of inclusions / pores (random_inclusions, porous)")
    m.add_argument("--seed", type=int, help="random seed")
    m.add_argument("--min-gap", type=float, dest="min_gap", help="minimum gap between inclusions")
    m.add_argument("--packing", choices=("square", "hexagonal"), help="fibre_array packing")
    m.add_argument("--fractions", type=lambda s: [float(x) for x in s.split(",")],
                   help="laminate layer fractions, comma separated")
    m.add_argument("--direction", type=int, help="laminate stacking axis (0, 1, 2)")
    m.add_argument("--png", help="also write a picture of the phases")
    m.add_argument("--json", help="write a summary JSON")
    m.add_argument("--force", action="store_true",
                   help=f"mesh even if the element count estimated from --h exceeds {MESH_CELL_BOUND:,}")

    h = sub.add_parser("homogenize", help="effective tensor of a .msh microstructure or a voxel image")
    _add_cell_arguments(h)
    h.add_argument("--bc", default="periodic", choices=sorted(BOUNDARY_CONDITIONS))
    h.add_argument("--physics", default="elasticity", choices=("elasticity", "conduction"))
    h.add_argument("--phase", action="append", default=[],
                   help="TAG:E=..,nu=.. | TAG:lmbda=..,mu=.. | TAG:k=.. (repeat per phase)")
    h.add_argument("--degree", type=int, default=1, help="Lagrange degree of the fluctuation")
    h.add_argument("--plane-stress", action="store_true", help="2-D plane stress (default plane strain)")
    h.add_argument("--json", help="output JSON")
    h.add_argument("--png", help="picture of the fields under a unit E[0]")

    r = sub.add_parser("rve-path", help="virtual test: the RVE along a macro load path")
    _add_cell_arguments(r)
    r.add_argument("--bc", default="periodic", choices=sorted(BOUNDARY_CONDITIONS))
    r.add_argument("--phase", action="append", default=[],
                   help="TAG:model=j2,E=..,nu=..,sy0=..,H=..[,Hk=..] | TAG:E=..,nu=.. (repeat)")
    r.add_argument("--degree", type=int, default=1, help="Lagrange degree of the fluctuation")
    r.add_argument("--kinematics", default="small", choices=("small", "finite"),
                   help="small strain (Mandel ε, σ) or finite strain (F, first Piola–Kirchhoff P)")
    r.add_argument("--path", help='JSON {"steps": [{"strain": {"11": 0.002}, "stress": {"22": 0}}, ...]} '
                                  '(finite: {"steps": [{"F": {"11": 1.05, "12": 0.02}, "P": {"22": 0}}, ...]})')
    r.add_argument("--strain", action="append", help="prescribed strain at the end, e.g. 11=0.02")
    r.add_argument("--stress", action="append", default=[], help="prescribed stress, e.g. 22=0")
    r.add_argument("--F", action="append", dest="F",
                   help="finite strain: prescribed deformation gradient component at the end, e.g. 11=1.5")
    r.add_argument("--P", action="append", default=[], dest="P",
                   help="finite strain: prescribed first Piola–Kirchhoff component, e.g. 22=0 (12 and 21 distinct)")
    r.add_argument("--steps", type=int, help="number of equal steps (default 10)")
    r.add_argument("--unload", action="store_true", help="then the same number of steps back to 0")
    r.add_argument("--json", help="output JSON")
    r.add_argument("--png", help="stress-strain curve PNG (plus PNGs of the fields at --field-steps)")
    r.add_argument("--field-steps", type=lambda s: [int(x) for x in s.split(",")],
                   help="steps whose RVE fields are pictured (default: the last)")
    s = sub.add_parser("rve-size", help="RVE-size study: random ensembles, KUBC/periodic/SUBC bracket, CI")
    s.add_argument("--sizes", required=True,
                   help="numbers of random inclusions per unit cell (the sizes), e.g. 1,4,9")
    s.add_argument("--seeds", type=int, default=5, help="realizations per size (>= 2)")
    s.add_argument("--vf", type=float, required=True, help="inclusion volume fraction")
    s.add_argument("--phase", action="append", default=[],
                   help="1:E=..,nu=.. (matrix) and 2:E=..,nu=.. (inclusions), or TAG:k=.. for conduction")
    s.add_argument("--physics", default="elasticity", choices=("elasticity", "conduction"))
    s.add_argument("--bc", default="kubc,periodic,subc", help="boundary conditions, comma separated")
    s.add_argument("--dim", type=int, default=2, choices=(2, 3))
    s.add_argument("--h-factor", type=float, default=0.5, dest="h_factor",
                   help="mesh size over inclusion radius")
    s.add_argument("--degree", type=int, default=1, help="Lagrange degree of the fluctuation")
    s.add_argument("--seed", type=int, default=0, help="first seed of the realizations")
    s.add_argument("--min-gap", type=float, default=0.0, dest="min_gap", help="minimum gap between inclusions")
    s.add_argument("--tolerance", type=float,
                   help="relative tolerance: the smallest size whose KUBC-SUBC bracket and CI half-width meet it")
    s.add_argument("--criterion", choices=("both", "bracket", "ci"), default="both",
                   help="what --tolerance applies to (default both)")
    s.add_argument("--json", help="output JSON (the full report)")
    s.add_argument("--png", help="picture of the bracket closing on the periodic value")
    s.add_argument("--cache", help="directory keeping every finished member (created if missing); run "
                                   "again with it to resume: members found there are not recomputed")
    for long_command in (m, h, r, s):
        long_command.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    d = sub.add_parser("reduce", help="train a hyper-reduced RVE (modes + empirical cubature) for FE² run files")
    _add_cell_arguments(d)
    d.add_argument("--bc", default="periodic", choices=sorted(BOUNDARY_CONDITIONS))
    d.add_argument("--phase", action="append", default=[],
                   help="TAG:key=value,... (e.g. 1:model=j2,E=1,nu=0.3,sy0=0.005,H=0.05 and 2:E=10,nu=0.25)")
    d.add_argument("--degree", type=int, default=1, help="Lagrange degree of the fluctuation")
    d.add_argument("--tolerance", type=float, default=1e-3,
                   help="error of the macro stress allowed without falling back to the full RVE, relative to "
                        "max(|Sigma|, the step's RMS stress) (default 1e-3)")
    d.add_argument("--strain-amplitude", type=float, dest="strain_amplitude",
                   help="largest macro strain (Mandel norm) to train for (default 8 x the first-yield strain)")
    d.add_argument("--paths", type=int, default=24, help="training paths (default 24)")
    d.add_argument("--steps", type=int, default=4, help="steps per path segment (default 4)")
    d.add_argument("--validation-paths", type=int, default=30, dest="validation_paths",
                   help="held-out paths for the modes, the cubature and the safety factor (default 30)")
    d.add_argument("--seed", type=int, default=0, help="seed of the training paths")
    d.add_argument("--enrichment-rounds", type=int, default=0, dest="enrichment_rounds",
                   help="greedy rounds adding the candidate loads the model's own error estimate flags (default 0)")
    d.add_argument("--candidates", type=int, default=256, help="candidate loads per enrichment round (default 256)")
    d.add_argument("--out", required=True, help="the model (.npz), for [[material]] reduced = ... in run files")
    d.add_argument("--json", help="a report: modes, cubature points, effectivity, safety factor, the check's CG "
                                  "iterations, training time")
    d.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    f = sub.add_parser("fe2", help="an FE² macro run from a TOML run file, checkpointed and restartable")
    f.add_argument("run", help="the run file (TOML; docs/run-files.md)")
    f.add_argument("--json", required=True, help="output JSON, rewritten atomically after every step")
    f.add_argument("--checkpoint", help="directory of the checkpoints written after every step")
    f.add_argument("--restart", help="continue from the newest complete checkpoint of this directory")
    f.add_argument("--xdmf", help="displacement field output (XDMF), every [output] fields_every steps")
    f.add_argument("--max-steps", type=int, dest="max_steps",
                   help="stop after this many steps (a chunk of a long run; continue with --restart)")
    f.add_argument("--force", action="store_true",
                   help=f"run even if the [macro] rectangle/box has more than {MESH_CELL_BOUND:,} elements, or an "
                        "image cell needs more memory than the machine has")
    f.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """The cell of ``homogenize``/``rve-path``: a ``.msh`` or an image with its options."""
    parser.add_argument("mesh", help="the cell: a Gmsh .msh whose cell physical groups are the phases, or a voxel "
                                     "image (.npy, .tif, .tiff, .png, .raw) whose labels are")
    g = parser.add_argument_group("voxel images (image[i, j] is the voxel at x = (j+1/2) hx, y = (i+1/2) hy)")
    g.add_argument("--voxel-size", dest="voxel_size", help="H, or HX,HY[,HZ] (default 1)")
    g.add_argument("--threshold", help="T or T1,T2,...: grey values below T1 are label 0, then 1, ... "
                                       "(required for a float image)")
    g.add_argument("--roi", help="START:STOP per array axis (rows = y first; z, y, x in 3-D), e.g. 0:64,32:96")
    g.add_argument("--coarsen", type=int, help="merge K voxels per axis into one by majority vote")
    g.add_argument("--shape", help=".raw only: the array shape, e.g. 64,64,64")
    g.add_argument("--dtype", help=".raw only: the voxel type, e.g. uint8, <u2, float32")
    g.add_argument("--force", action="store_true", help="mesh an image even if it needs more memory than the "
                                                        "machine has (estimate)")


_COMMANDS = {"fe2": _cmd_fe2, "homogenize": _cmd_homogenize, "mesh": _cmd_mesh, "reduce": _cmd_reduce,
             "rve-path": _cmd_rve_path, "rve-size": _cmd_rve_size}


def _say(comm: MPI.Comm, line: str) -> None:
    """Print ``line`` on rank 0's ``stderr``; on a terminal it replaces an open progress bar."""
    if comm.rank == 0:
        print(("\r\033[K" if sys.stderr.isatty() else "") + line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dolfinx-multiscale``; returns the exit status.

    0 on success; 2 for bad input (one line ``dolfinx-multiscale CMD: error: ...``); 130
    (SIGINT) or 143 (SIGTERM) for a stop, with one line saying where it stopped and what
    was kept; no traceback for any of them.
    """
    import dolfinx_multiscale  # noqa: F401  (dolfinx_solver before dolfinx/petsc4py)
    from .errors import Interrupted

    argv = sys.argv[1:] if argv is None else list(argv)
    prog = " ".join(["dolfinx-multiscale", *[a for a in argv[:1] if a in _COMMANDS]])
    comm = MPI.COMM_WORLD
    try:
        args = _parser().parse_args(argv)
        result = _COMMANDS[args.command](args, comm)
    except CLIError as exc:
        _say(comm, f"{prog}: error: {exc}")
        return 2
    except Interrupted as exc:  # a graceful stop: the message says where and what was kept
        _say(comm, f"{prog}: {exc}")
        return exc.exit_status
    except KeyboardInterrupt:  # Ctrl-C outside a graceful stop (imports, meshing, set-up)
        _say(comm, f"{prog}: stopped by SIGINT before finishing; nothing kept")
        return 130
    _write_json(_check_output(args.json, ".json", "--json"), result, comm)
    if comm.rank == 0:
        summary = {k: v for k, v in result.items() if k in ("C", "K", "bc", "wall_s", "output",
                                                          "hill_mandel_residual", "n_dofs",
                                                          "smallest_size", "complete", "cache", "modes",
                                                          "cubature_points", "safety")}
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
