"""Statistics and uncertainty: RVE-size studies, Monte Carlo, interval propagation.

Two kinds of uncertainty are kept apart, as they should be:

* **aleatory** (variability: the microstructure is random, the phase properties scatter
  with known distributions) → :func:`monte_carlo` gives the distribution of the output,
  its mean with a Student-t confidence interval (:func:`mean_confidence_interval`) and
  the convergence of that interval with the number of samples;
* **epistemic** (lack of knowledge: a parameter is only known to lie in an interval) →
  :func:`interval_propagation` gives the interval of the output by optimization over the
  parameter box (minimum and maximum), not by sampling, which misses interior extrema.

:func:`rve_size_study` makes the "does an RVE exist, and how large is it" question
operational: ensembles of random cells of growing size under KUBC, periodic and SUBC
conditions, the KUBC/SUBC bracket closing on the periodic value, the smallest size
meeting a tolerance.

The functions return JSON-ready dicts; their pictures are
:func:`~dolfinx_multiscale.viz.plot_rve_size_study` and
:func:`~dolfinx_multiscale.viz.plot_monte_carlo`.

Parallelism: ensemble members and Monte Carlo samples are independent; each rank
computes the members ``i ≡ rank (mod size)`` on ``MPI.COMM_SELF`` and the results are
gathered, so every rank returns the same report, bit for bit the serial one (sample
``i`` always uses the random stream ``SeedSequence(seed).spawn(n)[i]``, whatever the
number of ranks).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence

from mpi4py import MPI

import numpy as np
import numpy.typing as npt

from ..errors import Interrupted
from ..parallel import map_over_ranks
from ..progress import Progress, StopFlag
from .cache import ResultCache, cached

__all__ = [
    "interval_propagation",
    "mean_confidence_interval",
    "monte_carlo",
    "random_microstructure_sampler",
    "random_properties_sampler",
    "rve_size_study",
]


# -- statistics -------------------------------------------------------------------------
def mean_confidence_interval(samples: npt.ArrayLike, level: float = 0.95) -> dict:
    """Sample mean and its Student-t confidence interval, per component.

    ``x̄ ± t_{(1+level)/2, n−1} s/√n`` with the unbiased sample standard deviation ``s``;
    exact for normal samples, asymptotically right for any finite-variance ones.

    Args:
        samples: shape ``(n, ...)``, ``n ≥ 2`` samples of a scalar or an array.
        level: confidence level in ``(0, 1)``.

    Returns:
        ``{"n", "level", "mean", "std", "half_width", "lower", "upper"}`` (floats for
        scalar samples, arrays of the trailing shape otherwise).

    Raises:
        ValueError: fewer than 2 samples, non-finite samples, ``level`` outside (0, 1).
    """
    from scipy.stats import t as student_t

    x = np.asarray(samples, dtype=float)
    if x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(f"samples must hold at least 2 samples along axis 0; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}")
    n = x.shape[0]
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1)
    half = float(student_t.ppf(0.5 * (1.0 + level), n - 1)) * std / math.sqrt(n)
    out = {"n": n, "level": level, "mean": mean, "std": std, "half_width": half,
           "lower": mean - half, "upper": mean + half}
    if x.ndim == 1:
        out.update({k: float(out[k]) for k in ("mean", "std", "half_width", "lower", "upper")})
    return out


# -- parallel map over independent members ----------------------------------------------
def _parallel_map(fn: Callable[[int], object], n: int, comm: MPI.Comm,
                  label: Callable[[int], str] = "member {}".format, stop: StopFlag | None = None,
                  store: ResultCache | None = None, noun: str = "members") -> list:
    """``[fn(i) for i in range(n)]`` with ``i`` on rank ``i % size``; all ranks get all
    (:func:`~dolfinx_multiscale.parallel.map_over_ranks`: a failure of any member is
    re-raised on every rank). With ``stop``, when a signal came:
    :class:`~dolfinx_multiscale.errors.Interrupted` is raised on every rank after the
    gather, saying how many members (``noun``) finished and that they are in the cache
    ``store`` (if any).
    """
    results = map_over_ranks(fn, n, comm, label, stop)
    if len(results) < n:  # only when stopped
        done = len(results)
        kept = (f"{done} {noun} in the cache {store.directory} (run again with it to resume)" if store is not None
                else "nothing (no cache)")
        raise Interrupted(f"stopped by {stop.signal_name} after {done}/{n} {noun}; kept: {kept}", stop.exit_status)
    return [(rank, value) for _, rank, value in results]


def _cached_member(store: ResultCache | None, bar: Progress, i: int, inputs: Callable[[], dict],
                   compute: Callable[[], object], **shown) -> tuple[object, bool]:
    """Member ``i`` from ``store`` or computed (:func:`~.cache.cached`), reported on
    ``bar`` with ``shown``, its wall time and whether it came from the cache."""
    t0 = time.perf_counter()
    value, hit = cached(store, inputs, compute)
    bar.step(i + 1, **shown, wall=f"{time.perf_counter() - t0:.2f} s", cached="yes" if hit else "no")
    return value, hit


def _cache_report(store: ResultCache | None, hits: int, n: int) -> dict | None:
    """The report's ``cache`` entry: ``{"directory", "hits", "computed"}`` of ``n`` members."""
    return None if store is None else {"directory": str(store.directory), "hits": hits, "computed": n - hits}


# -- RVE size study ---------------------------------------------------------------------
def _bracket_ok(Cs: dict[str, np.ndarray], tol: float = 1e-10) -> tuple[bool, float]:
    """``C_SUBC ≤ C_PBC ≤ C_KUBC`` as quadratic forms; returns (ok, worst relative margin)."""
    order = [bc for bc in ("subc", "periodic", "kubc") if bc in Cs]
    scale = max(np.abs(C).max() for C in Cs.values())
    margins = []
    for lo, hi in zip(order[:-1], order[1:]):
        D = Cs[hi] - Cs[lo]
        margins.append(np.linalg.eigvalsh(0.5 * (D + D.T)).min() / scale)
    worst = float(min(margins)) if margins else 0.0
    return worst >= -tol, worst


def _check_tolerance(tolerance) -> dict[str, float]:
    if tolerance is None:
        return {}
    if isinstance(tolerance, Mapping):
        tol = dict(tolerance)
        unknown = set(tol) - {"bracket", "ci"}
        if unknown or not tol:
            raise ValueError(f"tolerance keys must be 'bracket' and/or 'ci'; got {sorted(tol)}")
    else:
        tol = {"bracket": tolerance, "ci": tolerance}
    for key, value in tol.items():
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"tolerance[{key!r}] must be a number > 0; got {value!r}")
    return {k: float(v) for k, v in tol.items()}


def rve_size_study(sizes: Sequence[int], n_seeds: int, volume_fraction: float, materials: dict,
                   bcs: Sequence[str] = ("kubc", "periodic", "subc"), dim: int = 2,
                   h_factor: float = 0.5, comm: MPI.Comm = MPI.COMM_WORLD, tolerance=None,
                   seed: int = 0, min_gap: float = 0.0, degree: int = 1,
                   level: float = 0.95, cache: ResultCache | str | None = None, progress: bool = False,
                   stop: StopFlag | None = None) -> dict:
    """Ensembles of random cells of growing size under several boundary conditions.

    **What "size" means.** Size ``N`` is a unit cell holding ``N`` equal random
    inclusions (:func:`~dolfinx_multiscale.geometry.microstructures.random_inclusions`) at the
    fixed ``volume_fraction``; their radius is ``r_N = r_1 N^{-1/dim}``. Measured in
    inclusion radii (the microstructure's own length scale) the cell edge is
    ``1/r_N ∝ N^{1/dim}``: growing ``N`` grows the window on the same statistical
    microstructure. The mesh size follows the inclusions, ``h = h_factor · r_N``, so
    every size has the same resolution per inclusion and ``n_dofs ∝ N``.

    For each size, ``n_seeds`` realizations (seeds ``seed, seed+1, …``); for each
    realization the effective tensor under every boundary condition of ``bcs``. Members
    (size, seed) run on ``MPI.COMM_SELF`` round-robin over the ranks of ``comm``
    (member ``i`` on rank ``i % comm.size``); the gathered report is identical on every
    rank and to a serial run.

    **Resuming.** With ``cache`` every finished member is stored (by the rank that
    computed it) under the hash of its inputs — size, seed, volume fraction, boundary
    conditions, dimension, ``h_factor``, ``min_gap``, degree and the phases' matrices
    (:class:`~dolfinx_multiscale.studies.cache.ResultCache`); a member found there is not
    recomputed, so a stopped study resumes where it stopped and a study with more seeds or
    sizes computes only the new members, with the same numbers bit for bit.

    Args:
        sizes: increasing numbers of inclusions ``N ≥ 1``.
        n_seeds: realizations per size (``≥ 2``, for a confidence interval).
        volume_fraction: inclusion fraction (see ``random_inclusions`` for the range).
        materials: ``{1: matrix, 2: inclusion}`` (elastic or conduction materials).
        bcs: a subset of ``("kubc", "periodic", "subc")``.
        dim: 2 or 3.
        h_factor: mesh size over inclusion radius (``> 0``).
        comm: the ranks sharing the ensemble.
        tolerance: ``None``; a number ``tol`` (both criteria below ``≤ tol``); or a dict
            ``{"bracket": tol_b, "ci": tol_c}`` with either or both. ``bracket`` is the
            relative width of the mean KUBC–SUBC bracket
            ``‖C̄_KUBC − C̄_SUBC‖_F / ‖C̄_PBC‖_F``; ``ci`` the largest CI half-width of
            the periodic (else first) ensemble mean over ``max|C̄|``.
        seed: the first seed of the realizations.
        min_gap: minimum gap between inclusions (passed on).
        degree: Lagrange degree of the fluctuation.
        level: confidence level of the intervals.
        cache: a :class:`~dolfinx_multiscale.studies.cache.ResultCache` or its directory
            (shared by the ranks); ``None``: nothing is stored. Needs linear phases (their
            matrices are part of the key).
        progress: report every finished member on rank 0's ``stderr``
            (:class:`~dolfinx_multiscale.progress.Progress`: member index of ``N``, size,
            seed, wall time, whether it came from the cache); with several ranks, rank
            0's members.
        stop: a :class:`~dolfinx_multiscale.progress.StopFlag` (from
            :func:`~dolfinx_multiscale.progress.graceful_stop`) polled between rounds of
            members; when set, the study stops after the round (the members' Gmsh
            sessions keep Python's signal handlers, :mod:`~dolfinx_multiscale.geometry.meshing`).

    Returns:
        A JSON-ready dict: ``definition``, the arguments, ``notation`` (Mandel) and
        ``sizes_report``: per size ``size``, ``radius``, ``h``, ``seeds``, ``n_dofs``
        (per member), ``volume_fractions`` (measured, per member), ``ranks`` (who
        computed each member), ``C`` (bc → per-member matrices), ``mean``,
        ``half_width``, ``lower``, ``upper`` (bc → matrix), ``bracket_width`` (relative,
        of the means; ``None`` without both KUBC and SUBC), ``member_bracket_widths``,
        ``ci_half_width`` (relative), ``ordering_ok`` and ``ordering_margin`` (every
        member has ``C_SUBC ≤ C_PBC ≤ C_KUBC`` in the sense of quadratic forms;
        margin = smallest eigenvalue of the differences over ``max|C|``), ``meets_tolerance``;
        then ``smallest_size`` (the first size meeting ``tolerance``, ``None`` if none
        or no tolerance), ``tolerance``, ``n_ranks``, ``wall_s``, and ``cache``
        (``{"directory", "hits", "computed"}``: members read from the cache and computed
        by this run; ``None`` without a cache).

    Raises:
        ValueError: bad arguments, or a realization that cannot be built (on every rank).
        Interrupted: ``stop`` was set; every finished member is in the cache (the message
            says how many), on every rank.
    """
    from ..cell.boundary import BOUNDARY_CONDITIONS
    from ..geometry.microstructures import inclusion_radius, random_inclusions
    from ..cell.rve import RVE

    sizes = [int(s) for s in sizes] if all(isinstance(s, (int, np.integer)) for s in sizes) else None
    if not sizes or any(s < 1 for s in sizes) or sorted(set(sizes)) != sizes:
        raise ValueError("sizes must be increasing integers >= 1 (numbers of inclusions)")
    if not (isinstance(n_seeds, (int, np.integer)) and n_seeds >= 2):
        raise ValueError(f"n_seeds must be an integer >= 2; got {n_seeds!r}")
    bcs = list(bcs)
    if not bcs or len(set(bcs)) != len(bcs) or any(bc not in BOUNDARY_CONDITIONS for bc in bcs):
        raise ValueError(f"bcs must be distinct values of {sorted(BOUNDARY_CONDITIONS)}; got {bcs}")
    if not (isinstance(h_factor, (int, float)) and h_factor > 0):
        raise ValueError(f"h_factor must be > 0; got {h_factor!r}")
    if set(materials) != {1, 2}:
        raise ValueError(f"materials must be {{1: matrix, 2: inclusion}}; got keys {sorted(materials)}")
    tol = _check_tolerance(tolerance)
    if "bracket" in tol and not {"kubc", "subc"} <= set(bcs):
        raise ValueError(f"a tolerance on the bracket needs 'kubc' and 'subc' in bcs; got {bcs} "
                         "(or give tolerance={'ci': ...})")
    t0 = time.perf_counter()
    members = [(s, seed + j) for s in sizes for j in range(n_seeds)]
    radii = {s: inclusion_radius(volume_fraction, dim, s) for s in sizes}

    store = ResultCache.of(cache)
    study_inputs = None if store is None else {
        "study": "rve_size", "volume_fraction": float(volume_fraction), "bcs": bcs, "dim": int(dim),
        "h_factor": float(h_factor), "min_gap": float(min_gap), "degree": int(degree),
        "materials": _linear_materials_key(materials, dim)}
    bar = Progress("rve-size", len(members), comm, enabled=progress, unit="member")

    def compute(size: int, member_seed: int) -> dict:
        micro = random_inclusions(size, volume_fraction, dim=dim, seed=member_seed, min_gap=min_gap,
                                  h=h_factor * radii[size], comm=MPI.COMM_SELF)
        out = {"C": {}, "volume_fraction": micro.volume_fractions.get(2, 0.0)}
        for bc in bcs:
            rve = RVE(micro, materials, bc=bc, degree=degree, petsc_options_prefix="rve_size_")
            out["C"][bc] = rve.effective_tensor().tolist()  # JSON form: as the cache gives it back
            out["n_dofs"] = rve.n_dofs
        return out

    def member(i: int) -> tuple[dict, bool]:
        """The member's result and whether it came from the cache."""
        size, member_seed = members[i]
        return _cached_member(store, bar, i, lambda: {**study_inputs, "size": size, "seed": member_seed},
                              lambda: compute(size, member_seed), size=size, seed=member_seed)

    gathered = _parallel_map(member, len(members), comm, label=lambda i: "size {}, seed {}".format(*members[i]),
                             stop=stop, store=store)
    results = [(rank, out) for rank, (out, _) in gathered]
    hits = sum(hit for _, (_, hit) in gathered)
    report_sizes = []
    for k, size in enumerate(sizes):
        chunk = results[k * n_seeds:(k + 1) * n_seeds]
        C = {bc: np.array([res["C"][bc] for _, res in chunk]) for bc in bcs}
        stats = {bc: mean_confidence_interval(C[bc], level) for bc in bcs}
        mean = {bc: stats[bc]["mean"] for bc in bcs}
        main = "periodic" if "periodic" in bcs else bcs[0]
        scale_f = np.linalg.norm(mean[main])
        bracket = member_brackets = None
        if "kubc" in bcs and "subc" in bcs:
            bracket = float(np.linalg.norm(mean["kubc"] - mean["subc"]) / scale_f)
            member_brackets = [float(np.linalg.norm(C["kubc"][j] - C["subc"][j]) / np.linalg.norm(C[main][j]))
                               for j in range(n_seeds)]
        ci = float(np.abs(stats[main]["half_width"]).max() / np.abs(mean[main]).max())
        checks = [_bracket_ok({bc: C[bc][j] for bc in bcs}) for j in range(n_seeds)]
        meets = None
        if tol:
            meets = all([("bracket" not in tol or (bracket is not None and bracket <= tol["bracket"])),
                         ("ci" not in tol or ci <= tol["ci"])])
        report_sizes.append({
            "size": size, "radius": radii[size], "h": h_factor * radii[size],
            "cell_over_radius": 1.0 / radii[size],
            "seeds": [members[k * n_seeds + j][1] for j in range(n_seeds)],
            "n_dofs": [res["n_dofs"] for _, res in chunk],
            "volume_fractions": [res["volume_fraction"] for _, res in chunk],
            "ranks": [rank for rank, _ in chunk],
            "C": {bc: C[bc].tolist() for bc in bcs},
            **{key: {bc: np.asarray(stats[bc][key]).tolist() for bc in bcs}
               for key in ("mean", "std", "half_width", "lower", "upper")},
            "bracket_width": bracket, "member_bracket_widths": member_brackets,
            "ci_half_width": ci,
            "ordering_ok": all(ok for ok, _ in checks),
            "ordering_margin": min(margin for _, margin in checks),
            "meets_tolerance": meets,
        })
    smallest = next((r["size"] for r in report_sizes if r["meets_tolerance"]), None)
    return {
        "definition": ("size N = number of equal random inclusions in the unit cell at fixed volume "
                       "fraction; radius r_N = r_1 N^(-1/dim), so the cell edge is 1/r_N inclusion "
                       "radii (proportional to N^(1/dim)); mesh size h = h_factor * r_N"),
        "notation": "mandel", "dim": dim, "volume_fraction": volume_fraction, "bcs": bcs,
        "n_seeds": int(n_seeds), "seed": seed, "h_factor": h_factor, "degree": degree,
        "min_gap": min_gap, "level": level, "sizes": sizes, "sizes_report": report_sizes,
        "tolerance": tol or None, "smallest_size": smallest, "n_ranks": comm.size,
        "wall_s": time.perf_counter() - t0,
        "cache": _cache_report(store, hits, len(members)),
    }


def _linear_materials_key(materials: Mapping[int, object], dim: int) -> dict:
    """``{tag: {"law", "matrix"}}``: what identifies linear phases in a cache key (the
    exact stiffness / conductivity matrix in ``dim`` dimensions)."""
    if any(not hasattr(m, "matrix") for m in materials.values()):
        raise ValueError("a cache needs linear phases (elastic or conduction: their matrices are the key)")
    return {str(tag): {"law": type(m).__name__, "matrix": m.matrix(dim).tolist()}
            for tag, m in sorted(materials.items())}


# -- Monte Carlo (aleatory) -------------------------------------------------------------
def _stack_samples(values: list):
    if isinstance(values[0], Mapping):
        keys = list(values[0])
        if any(list(v) != keys for v in values):
            raise ValueError("sample_fn must return the same keys for every sample")
        return {k: np.array([np.asarray(v[k], dtype=float) for v in values]) for k in keys}
    return np.array([np.asarray(v, dtype=float) for v in values])


def _mc_stats(x: np.ndarray, level: float) -> dict:
    ci = mean_confidence_interval(x, level)
    n = x.shape[0]
    running_mean, running_half = [], []
    for k in range(2, n + 1):
        part = mean_confidence_interval(x[:k], level)
        running_mean.append(np.asarray(part["mean"]))
        running_half.append(np.asarray(part["half_width"]))
    return {"samples": x, "mean": ci["mean"], "std": ci["std"], "half_width": ci["half_width"],
            "lower": ci["lower"], "upper": ci["upper"], "running_mean": np.array(running_mean),
            "running_half_width": np.array(running_half)}


def monte_carlo(sample_fn: Callable[[np.random.Generator], object], n: int, seed: int = 0,
                comm: MPI.Comm = MPI.COMM_WORLD, level: float = 0.95,
                cache: ResultCache | str | None = None, cache_key: Mapping | None = None,
                progress: bool = False, stop: StopFlag | None = None) -> dict:
    """Aleatory Monte Carlo: ``n`` independent samples of ``sample_fn``, in parallel.

    Sample ``i`` calls ``sample_fn(rng_i)`` with
    ``rng_i = numpy.random.default_rng(SeedSequence(seed).spawn(n)[i])`` on rank
    ``i % comm.size``; the samples are gathered in order, so every rank returns the
    serial result. ``sample_fn`` must compute on ``MPI.COMM_SELF`` (it is called on one
    rank at a time).

    With ``cache``, sample ``i`` is stored under ``(cache_key, seed, i)`` and read back
    instead of recomputed: a stopped study resumes, and a larger ``n`` with the same
    ``seed`` computes only the new samples (stream ``i`` does not depend on ``n``).

    Args:
        sample_fn: ``sample_fn(rng)`` → a number, an array, or a dict of them (e.g.
            ``{"C": C_eff, "E_eff": ...}``); see :func:`random_microstructure_sampler`
            and :func:`random_properties_sampler`.
        n: number of samples (``≥ 2``).
        seed: the seed of the sample streams.
        comm: the ranks sharing the samples.
        level: confidence level of the estimator's interval.
        cache: a :class:`~dolfinx_multiscale.studies.cache.ResultCache` or its directory
            (shared by the ranks); ``None``: nothing is stored.
        cache_key: with ``cache``, a JSON-able description of everything ``sample_fn``
            depends on besides its random stream (e.g. ``{"sampler": "random_cells",
            "n_inclusions": 4, "volume_fraction": 0.3, "h": 0.05, "E": [1, 10]}``): the
            sampler cannot be hashed, so two samplers given the same ``cache_key`` share
            their samples.
        progress: one line per finished sample on rank 0's ``stderr`` (its own samples).
        stop: a :class:`~dolfinx_multiscale.progress.StopFlag` (from
            :func:`~dolfinx_multiscale.progress.graceful_stop`) polled after every round
            of ``comm.size`` samples.

    Returns:
        ``{"n", "seed", "level", "n_ranks", "wall_s", "ranks"}`` plus, with the structure
        of what ``sample_fn`` returns (a dict of them by name for dict samples):
        ``samples`` ``(n, ...)``, ``mean``, ``std``, ``half_width``, ``lower``,
        ``upper`` (the Student-t interval of the mean) and ``running_mean`` /
        ``running_half_width`` ``(n − 1, ...)`` over the first ``k = 2 … n`` samples
        (the estimator's convergence, ``∝ 1/√k``); ``n_running`` = ``[2, …, n]``;
        ``cache`` (``{"directory", "hits", "computed"}``, ``None`` without a cache).

    Raises:
        ValueError: ``n < 2``, a cache without ``cache_key``, or a failing sample
            (re-raised on every rank).
        Interrupted: ``stop`` was set; the finished samples are in the cache.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    if cache is not None and cache_key is None:
        raise ValueError("a Monte Carlo cache needs cache_key: a description of what sample_fn computes")
    t0 = time.perf_counter()
    store = ResultCache.of(cache)
    streams = np.random.SeedSequence(seed).spawn(int(n))

    bar = Progress("monte-carlo", int(n), comm, enabled=progress, unit="sample")

    def sample(i: int) -> tuple[object, bool]:
        """Sample ``i`` (JSON form when read from the cache) and whether it was."""
        return _cached_member(store, bar, i,
                              lambda: {"study": "monte_carlo", "sampler": cache_key, "seed": seed, "sample": i},
                              lambda: sample_fn(np.random.default_rng(streams[i])))

    gathered = _parallel_map(sample, int(n), comm, label="sample {}".format, stop=stop, store=store, noun="samples")
    results = [(rank, value) for rank, (value, _) in gathered]
    hits = sum(hit for _, (_, hit) in gathered)
    stacked = _stack_samples([value for _, value in results])
    if isinstance(stacked, dict):
        per_key = {k: _mc_stats(v, level) for k, v in stacked.items()}
        stats = {field: {k: per_key[k][field] for k in per_key} for field in next(iter(per_key.values()))}
    else:
        stats = _mc_stats(stacked, level)
    return {"n": int(n), "seed": seed, "level": level, "n_ranks": comm.size,
            "ranks": [rank for rank, _ in results], "n_running": list(range(2, int(n) + 1)),
            "wall_s": time.perf_counter() - t0,
            "cache": _cache_report(store, hits, int(n)),
            **stats}


def random_microstructure_sampler(n_inclusions: int, volume_fraction: float, materials: dict,
                                  bc: str = "periodic", dim: int = 2, h: float | None = None,
                                  min_gap: float = 0.0, degree: int = 1) -> Callable:
    """``sample_fn(rng)`` for :func:`monte_carlo`: ``C_eff`` of a random microstructure.

    Each sample draws a seed ``rng.integers(2**31)`` for
    :func:`~dolfinx_multiscale.geometry.microstructures.random_inclusions` (on ``COMM_SELF``).

    Returns:
        ``sample_fn(rng) -> C_eff`` (Mandel ``(n, n)``).
    """
    from ..geometry.microstructures import random_inclusions
    from ..cell.rve import RVE

    def sample(rng: np.random.Generator) -> np.ndarray:
        micro = random_inclusions(n_inclusions, volume_fraction, dim=dim, seed=int(rng.integers(2**31)),
                                  min_gap=min_gap, h=h, comm=MPI.COMM_SELF)
        return RVE(micro, materials, bc=bc, degree=degree, petsc_options_prefix="mc_").effective_tensor()

    return sample


def random_properties_sampler(micro, sample_materials: Callable[[np.random.Generator], dict],
                              bc: str = "periodic", degree: int = 1) -> Callable:
    """``sample_fn(rng)`` for :func:`monte_carlo`: ``C_eff`` of a fixed microstructure
    (on ``COMM_SELF``) with random phase properties.

    Args:
        micro: the microstructure, built on ``MPI.COMM_SELF``.
        sample_materials: ``sample_materials(rng) -> {tag: material}``, drawing the
            properties from their distributions, e.g. ``{1: LinearElastic(E=1, nu=0.3),
            2: LinearElastic(E=rng.lognormal(np.log(10), 0.2), nu=0.3)}``.

    Returns:
        ``sample_fn(rng) -> C_eff``.
    """
    from ..cell.rve import RVE

    if micro.mesh.comm.size != 1:
        raise ValueError("micro must live on MPI.COMM_SELF (samples run one per rank)")

    def sample(rng: np.random.Generator) -> np.ndarray:
        return RVE(micro, sample_materials(rng), bc=bc, degree=degree,
                   petsc_options_prefix="mc_").effective_tensor()

    return sample


# -- interval propagation (epistemic) ---------------------------------------------------
def interval_propagation(fn: Callable[[np.ndarray], float], bounds, x0=None, corners: bool = True,
                         comm: MPI.Comm = MPI.COMM_WORLD, method: str = "L-BFGS-B",
                         options: dict | None = None) -> dict:
    """Interval of a scalar quantity over a parameter box, by bound-constrained optimization.

    ``[min_x q(x), max_x q(x)]`` over ``x ∈ Π [lo_i, hi_i]``: :func:`scipy.optimize.minimize`
    (with ``bounds``, in the unit-scaled box) minimizes ``q`` and ``−q`` from ``x0`` and,
    when ``corners``, also from the best corner; every corner is evaluated as well
    (the corner interval, which is exact for a monotone ``q`` but misses interior
    extrema). The interval is the min/max over all evaluated points. A local optimizer:
    for a multimodal ``q`` the result is an inner bound of the true interval.

    ``fn`` is evaluated on every rank (it may be collective, e.g. a distributed RVE);
    rank 0's value is broadcast so that all ranks follow the same optimization path.
    Evaluations are cached.

    Args:
        fn: ``fn(x)`` → float, ``x`` of shape ``(p,)``.
        bounds: ``[(lo_1, hi_1), …, (lo_p, hi_p)]`` with ``lo < hi``.
        x0: starting point (default the box centre).
        corners: evaluate the ``2^p`` corners (``p ≤ 12``).
        comm: the ranks evaluating ``fn``.
        method: a bounded method of ``scipy.optimize.minimize`` (``"L-BFGS-B"``,
            ``"TNC"``, ``"SLSQP"``, ``"Powell"``, ``"Nelder-Mead"``).
        options: passed to ``minimize``.

    Returns:
        ``{"lower", "upper", "argmin", "argmax", "corner_lower", "corner_upper",
        "n_evaluations", "method"}`` (``corner_*`` are ``None`` without ``corners``).

    Raises:
        ValueError: bad ``bounds`` or ``x0`` outside them.
    """
    from scipy.optimize import minimize

    b = np.asarray(bounds, dtype=float)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] < 1 or not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise ValueError(f"bounds must be [(lo, hi), ...] with finite lo < hi; got {np.asarray(bounds).tolist()}")
    lo, width = b[:, 0], b[:, 1] - b[:, 0]
    p = b.shape[0]
    x0 = 0.5 * (b[:, 0] + b[:, 1]) if x0 is None else np.asarray(x0, dtype=float).reshape(-1)
    if x0.shape != (p,) or np.any(x0 < b[:, 0]) or np.any(x0 > b[:, 1]):
        raise ValueError(f"x0 must have {p} components inside the bounds; got {x0.tolist()}")
    if corners and p > 12:
        raise ValueError(f"corners=True evaluates 2^p corners; p={p} is too many (max 12)")
    cache: dict[tuple, float] = {}

    def q_of_u(u: np.ndarray) -> float:
        u = np.clip(u, 0.0, 1.0)
        x = np.where(u >= 1.0, b[:, 1], lo + u * width)  # the bounds themselves, exactly
        key = tuple(x.tolist())
        if key not in cache:
            cache[key] = float(comm.bcast(float(fn(x.copy())), root=0))
        return cache[key]

    u0 = (x0 - lo) / width
    starts = [u0]
    corner_values = None
    if corners:
        corner_u = [np.array(c, dtype=float) for c in itertools.product((0.0, 1.0), repeat=p)]
        corner_values = np.array([q_of_u(u) for u in corner_u])
    opts = {"eps": 1e-7} if method in ("L-BFGS-B", "TNC", "SLSQP") else {}
    opts.update(options or {})
    for sign in (1.0, -1.0):
        start_points = list(starts)
        if corners:
            start_points.append(corner_u[int(np.argmin(sign * corner_values))])
        for u in start_points:
            minimize(lambda v, s=sign: s * q_of_u(v), u, method=method, bounds=[(0.0, 1.0)] * p,
                     options=opts)
    xs = np.array(list(cache))
    values = np.array(list(cache.values()))
    return {
        "lower": float(values.min()), "upper": float(values.max()),
        "argmin": xs[int(np.argmin(values))], "argmax": xs[int(np.argmax(values))],
        "corner_lower": None if corner_values is None else float(corner_values.min()),
        "corner_upper": None if corner_values is None else float(corner_values.max()),
        "n_evaluations": len(cache), "method": method,
    }
