"""The fit of a reduced cell to its training data (:mod:`.sampling`).

* :func:`train` — the whole training of a
  :class:`~dolfinx_multiscale.cell.reduced.ReducedRVE`: modes chosen by the validation
  error of ``Σ``, the empirical cubature (:func:`cubature_integrands`), the safety factor,
  the check's CG iterations, greedy enrichment rounds, the ranges of strain and history
  the training covered (:func:`history_range`);
* :func:`indicators` — a trained model's own error estimate ``s η`` on many candidate
  loads at once (the greedy enrichment).
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import numpy.typing as npt

from ..materials.protocol import put, take
from .cubature import empirical_cubature, integrand_modes
from .sampling import (COVERED_HISTORY, Snapshots, candidate_loads, first_yield_strain, pod_modes, snapshots, spread,
                       training_paths)

__all__ = ["AMPLITUDE_FACTOR", "CHECK_SHARPNESS", "CUBATURE_GAIN", "ENRICHMENT_BATCH", "SAFETY_QUANTILE",
           "cubature_integrands", "history_range", "indicators", "train"]

_log = logging.getLogger(__name__)
#: the default training amplitude, in multiples of the cell's first-yield macro strain
AMPLITUDE_FACTOR = 8.0
#: the quantile of ``error / η`` over the validation steps taken as the safety factor (a
#: 95 % quantile bounds only ~95 % of new steps, half the time fewer: 99 % leaves a margin)
SAFETY_QUANTILE = 0.99
#: the cubature's tightening stops when a round leaves more than this share of the error
#: (the 3-D benchmark cell at tolerance 1e-2: 892 -> 1 901 points took q95 5.6e-3 ->
#: 4.9e-3; the third round of ~3 300 points it no longer computes gave 5.0e-3 and was
#: dropped: training 1 721 -> 320 s on 2 ranks, the same model)
CUBATURE_GAIN = 0.8
#: candidate loads added per greedy enrichment round at most (the worst first)
ENRICHMENT_BATCH = 16
#: the check's CG iterations are cut below ``galerkin.CG_ITERATIONS`` while the cruder estimate
#: ``s_k η_k`` stays within this factor of the full one on 90 % of the validation steps
#: (the fallback test then flags about the same points; tolerance 2e-2, 30 validation paths:
#: the 3-D benchmark cell's q90 of the ratio 1.02 at 3 iterations, 1.20 at 2 and 2.85 at 1;
#: the part's 2-D cell 1.51 at 3)
CHECK_SHARPNESS = 1.25


def train(cls, rve, tolerance: float = 1e-3, strain_amplitude: float | None = None, paths: int = 24,
          steps: int = 4, seed: int = 0, validation_paths: int = 30, user_paths: list | None = None,
          max_modes: int | None = None, enrichment_rounds: int = 0, candidates: int = 256, progress=None,
          comm=None):
    """Sample ``rve``, choose the modes and the cubature, measure the safety factor.

    1. Training snapshots of the full RVE along :func:`~.sampling.training_paths`
       (and ``user_paths``); the POD of the fluctuations beyond the elastic modes.
    2. The number of POD modes: the fewest (bisection) whose reduced model, integrated
       exactly, has a 95 % quantile of the ``Σ`` error on 6 held-out validation paths
       below ``tolerance / 4`` — chosen by the stress, not by the fluctuation energy; if
       only all POD modes reach that, below ``max(tolerance / 4, 1.25 ×`` that of all POD
       modes``)``: not beyond what the training covers.
    3. The empirical cubature (:mod:`.cubature`) of the inelastic part of the reduced
       internal force, of the stress and of ``σ33`` on the training snapshots
       (:func:`cubature_integrands`; the elastic part is integrated exactly), tightened
       (÷3, up to 4 times) until the hyper-reduced model's 95 % validation error is
       below ``max(tolerance / 3, 1.5 ×`` the modes' target``)`` or a round improves it
       by less than a fifth (``CUBATURE_GAIN``: the Galerkin error dominates, and the
       next round would double the points again for less); a larger cubature is kept
       only where it reaches that bound or is 5 % better than the best before.
    4. The safety factor: the 99 % quantile (``SAFETY_QUANTILE``) of ``error / η`` over
       the validation steps (at least 1; ≥ 200 steps with the defaults). Of the final
       model (after step 5), the check's cost: the fewest CG iterations of its Galerkin
       estimate (from ``galerkin.CG_ITERATIONS``) whose ``s_k η_k`` stays within
       ``CHECK_SHARPNESS`` of the most iterations' ``s η`` on 90 % of the validation
       steps, with its own safety factor ``s_k`` (3-D benchmark cell: 2 iterations; the
       2-D part's cell keeps 4).
    5. Greedy enrichment (``enrichment_rounds`` > 0): the model's own error estimate
       ``s η`` (:func:`indicators`: its update and post-convergence check, all candidates
       at once) on ``candidates`` cheap loads (:func:`candidate_loads`: one-step radial
       and two-step non-proportional, seed ``seed + 2``); the candidates above the
       tolerance, the worst first and at most ``ENRICHMENT_BATCH`` per round, get their
       full-RVE snapshots, which join the training (and count in the errors of steps 2
       and 3, like ``user_paths``), and steps 1–4 are repeated; until no candidate is
       above the tolerance or after ``enrichment_rounds`` rounds. The indicators are
       cheap (3 s for 256 candidates on the 1 534-point benchmark cell), a round with
       additions costs about one more fit of steps 2–4. The default is 0, from the
       1 024-point bending step of ``benchmarks/fe2.py --reduced-only`` (2 ranks): with
       the default 24 paths the step has no flagged or fallback point at tolerances 1e-2
       and 2e-2 already; at 2e-2 no candidate is above the tolerance, at 1e-2 one round
       adds 7 loads (17 → 19 modes, 228 → 251 cubature points), takes the training from
       76 to 126 s and changes neither the flags (0) nor the online time (4.4 vs 4.7 s).
       Enrichment repairs a short training — 8 paths: 24 flagged points and 72 fallback
       updates, 9.2 s online; one round (12 loads added): none, 4.2 s — but at 119 s
       costs more than the 24 paths.
    6. The ranges the training covered, for the model's cheap checks: the largest
       training macro strain norm and, per ``COVERED_HISTORY`` variable, the largest
       value of the snapshots at the cubature points (:func:`history_range`).

    Args:
        cls: the model class (``ReducedRVE``; :meth:`ReducedRVE.train
            <dolfinx_multiscale.cell.reduced.ReducedRVE.train>` passes it).
        rve: the full RVE (serial, inelastic, small strain); left at its virgin state.
        tolerance: the error of ``Σ`` allowed without fallback (relative, module
            docstring), in ``(0, 1)``.
        strain_amplitude: the largest macro strain (Mandel norm) to cover; default
            ``AMPLITUDE_FACTOR`` (8) times the cell's first-yield macro strain
            (:func:`~.sampling.first_yield_strain`).
        paths: random training paths (:func:`~.sampling.training_paths`: proportional
            load–unload, non-proportional, one-step radial).
        steps: steps per path segment.
        seed: of the training paths (validation paths use ``seed + 1``, enrichment
            candidates ``seed + 2``).
        validation_paths: held-out random paths (modes, cubature, safety factor).
        user_paths: more training paths, lists of Mandel strains ``(n,)`` (e.g. an
            earlier model's :attr:`~dolfinx_multiscale.cell.reduced.ReducedRVE.fallback_paths`);
            their errors count in the choice of the modes and of the cubature.
        max_modes: bound on the number of POD modes.
        enrichment_rounds: greedy enrichment rounds at most (step 5; 0: none).
        candidates: candidate loads of the enrichment rounds.
        progress: ``progress(stage: str)`` called at every stage (on rank 0 of ``comm``).
        comm: spread the full-RVE snapshots and the validation runs over these ranks
            (every rank passes its own serial ``rve`` of the same cell; all get the same
            model); ``None``: serial.

    Returns:
        The trained model; ``info`` holds ``samples``, ``training_paths``,
        ``modes``, ``cubature_points``, ``amplitude``, ``first_yield_strain``,
        ``validation_error`` (95 % quantile and max), ``effectivity`` (per validation
        step), ``safety``, ``check_iterations`` and ``check_cuts`` (per fewer iterations
        tried: ``iterations``, ``safety``, ``sharpness``; step 4), ``enrichment``
        (``candidates``, ``added``, and per round: the candidates ``above`` the tolerance, the paths ``added``, the largest ``s η``, the
        seconds of the indicators and of the round, modes and cubature points after it)
        and ``training_s``.
    """
    if not (isinstance(tolerance, (int, float)) and np.isfinite(tolerance) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be a finite number in (0, 1); got {tolerance!r}")
    if strain_amplitude is not None and not (np.isfinite(strain_amplitude) and strain_amplitude > 0):
        raise ValueError(f"strain_amplitude must be a finite number > 0; got {strain_amplitude!r}")
    for name, value, least in (("enrichment_rounds", enrichment_rounds, 0), ("candidates", candidates, 1)):
        if not (isinstance(value, (int, np.integer)) and value >= least):
            raise ValueError(f"{name} must be an integer >= {least}; got {value!r}")
    if rve.is_linear:
        raise ValueError("a reduced RVE needs an inelastic small-strain RVE (a linear one is exact already)")
    say = progress or (lambda stage: _log.info("reduced RVE: %s", stage))
    if comm is not None and comm.rank != 0:
        say = lambda stage: None  # noqa: E731
    t0 = time.perf_counter()
    info: dict = {}
    if strain_amplitude is None:
        info["first_yield_strain"] = first_yield_strain(rve, comm=comm)
        strain_amplitude = AMPLITUDE_FACTOR * info["first_yield_strain"]
    info["amplitude"] = float(strain_amplitude)
    training = training_paths(rve.n, strain_amplitude, paths, steps, seed)
    training += [[np.asarray(E, dtype=float) for E in path] for path in (user_paths or [])]
    say(f"training snapshots along {len(training)} paths (amplitude {strain_amplitude:.3g})")
    data = snapshots(rve, training, comm)
    validation = training_paths(rve.n, strain_amplitude, validation_paths, steps, seed + 1)
    say(f"full RVE along {len(validation)} validation paths")
    reference = snapshots(rve, validation, comm).Sigma
    # the user's paths (e.g. increments an earlier model fell back on) and the enrichment's count
    # in the choice of the modes and the cubature too: their full answers are known from the snapshots
    n_user = len(user_paths or [])
    extra, extra_reference = training[len(training) - n_user:], data.Sigma[len(training) - n_user:]

    def validate(model, subset=None):
        """``(errors, η)`` per step of the validation paths (the first ``subset``: held out)."""
        return _validate(model, validation[:subset], reference[:subset], comm)

    def errors_of(model, subset=None):
        """``(errors, validated)``: the errors on the validation paths (the first ``subset``)
        and the extra paths, and ``validate(model, subset)``."""
        validated = validate(model, subset)
        errors = validated[0]
        if extra:
            errors = np.concatenate([errors, _validate(model, extra, extra_reference, comm)[0]])
        return errors, validated

    model, errors, validated, fit = _fit(cls, rve, tolerance, data, training, errors_of, max_modes, say)
    loads = candidate_loads(rve.n, strain_amplitude, candidates, seed + 2) if enrichment_rounds else []
    open_loads, rounds = list(range(len(loads))), []
    for round_ in range(1, enrichment_rounds + 1):
        start = time.perf_counter()
        estimate = indicators(model, [loads[i] for i in open_loads])
        above = np.flatnonzero(estimate > tolerance)
        worst = above[np.argsort(-estimate[above], kind="stable")][:ENRICHMENT_BATCH]
        say(f"enrichment round {round_}: {above.size} of {len(open_loads)} candidates above the tolerance "
            f"(largest s·η {estimate.max(initial=0.0):.2e}); adding the worst {worst.size}")
        record = {"above": int(above.size), "added": int(worst.size), "max_indicator": float(estimate.max(initial=0.0)),
                  "indicator_s": time.perf_counter() - start}
        if worst.size == 0:
            rounds.append(record)
            break
        chosen = [loads[open_loads[i]] for i in worst]
        open_loads = list(np.delete(open_loads, worst))
        new = snapshots(rve, chosen, comm)
        data, training = data.joined(new), training + chosen
        extra, extra_reference = extra + chosen, extra_reference + new.Sigma
        model, errors, validated, fit = _fit(cls, rve, tolerance, data, training, errors_of, max_modes, say)
        rounds.append({**record, "modes": model.modes, "cubature_points": model.cubature_points,
                       "seconds": time.perf_counter() - start})
    ratios, check_cuts = _fewest_check_iterations(model, validated, validate, say)
    model.history_range = history_range(model, data)
    info.update({"samples": int(data.w.shape[1]), "training_paths": len(training), **fit,
                 "cell_points": int((rve.discretisation.weights > 0).sum()),
                 "validation_steps": int(errors.size),
                 "validation_error": {"q95": float(np.quantile(errors, 0.95)), "max": float(errors.max())},
                 "effectivity": ratios.tolist(), "safety": model.safety, "check_iterations": model.check_iterations,
                 "check_cuts": check_cuts,
                 "enrichment": {"candidates": len(loads), "rounds": rounds,
                                "added": int(sum(r["added"] for r in rounds))},
                 "training_s": time.perf_counter() - t0})
    model.info = info
    say(f"{model.modes} modes, {model.cubature_points} cubature points of {info['cell_points']}, "
        f"validation error q95 {info['validation_error']['q95']:.2e}, safety {model.safety:.2f} "
        f"({model.check_iterations} CG iterations in the check), "
        f"{info['training_s']:.1f} s")
    return model


def _effectivities(errors: npt.NDArray[np.float64], eta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``error / η`` of the validation steps where both exceed 1e-12."""
    keep = (errors > 1e-12) & (eta > 1e-12)
    return errors[keep] / eta[keep]


def _safety(errors: npt.NDArray[np.float64], eta: npt.NDArray[np.float64]) -> float:
    """The safety factor: the ``SAFETY_QUANTILE`` of ``error / η`` over the validation steps
    (at least 1; 1 without any)."""
    ratios = _effectivities(errors, eta)
    return max(1.0, float(np.quantile(ratios, SAFETY_QUANTILE))) if ratios.size else 1.0


def _fewest_check_iterations(model, validated: tuple, validate, say) -> tuple[npt.NDArray[np.float64], list]:
    """Step 4 of :func:`train`, the check's cost: from the ``CG_ITERATIONS`` of the model's
    check, fewer while the estimate ``s_k η_k`` with ``k`` iterations (``s_k`` its own
    safety factor) stays within ``CHECK_SHARPNESS`` of ``s η`` on 90 % of the validation
    steps. ``validated``: ``(errors, η)`` per validation step of the model as it is,
    ``validate(model)`` gives them anew. Sets the model's ``check_iterations`` and
    ``safety``; returns the effectivities ``error / η`` of the chosen estimate and per
    iteration count tried ``{"iterations", "safety", "sharpness"}`` (the 90 % quantile of
    ``s_k η_k / s η``)."""
    errors, eta = validated
    full = model.safety * eta
    used = np.isfinite(full) & (full > 1e-12)
    most = model.check_iterations
    chosen = (most, model.safety)
    tried = []
    for k in range(most - 1, 0, -1):
        model.check_iterations = k
        errors_k, eta_k = validate(model)
        safety = _safety(errors_k, eta_k)
        sharpness = float(np.quantile(safety * eta_k[used] / full[used], 0.9)) if used.any() else 1.0
        say(f"check with {k} CG iterations: safety {safety:.2f}, s·η within {sharpness:.2f}x of "
            f"{most} iterations' on 90 % of the validation steps")
        tried.append({"iterations": k, "safety": safety, "sharpness": sharpness})
        if sharpness > CHECK_SHARPNESS:
            break
        chosen, eta = (k, safety), eta_k
    model.check_iterations, model.safety = chosen
    return _effectivities(errors, eta), tried


def _fit(cls, rve, tolerance: float, data: Snapshots, training: list, errors_of, max_modes, say):
    """Steps 2–4 of :func:`train` on the snapshots ``data`` of the paths ``training``:
    ``(model, errors, validated, info)`` with the errors (validation and extra paths) and
    the ``(errors, η)`` per validation step of the chosen model and ``info`` its ``modes``,
    ``pod_modes``, ``pod_energy_left``, ``cubature_points`` and ``ecm_tolerance``."""
    elastic = rve.initial_tangent()[1].T
    basis, left = pod_modes(data.w, elastic, max_modes)
    n, K = rve.n, basis.shape[1] - rve.n
    strain_range = max(float(np.linalg.norm(np.asarray(E))) for path in training for E in path)

    def model_with(k):
        return cls(rve, basis[:, :n + k], tolerance, orthonormalize=False, strain_range=strain_range)

    def error_of(model, subset):
        return np.quantile(errors_of(model, subset)[0], 0.95)

    # the fewest POD modes whose Galerkin error (exact integration) is below tolerance/4,
    # or near that of all modes where the training coverage does not allow that (all modes,
    # the costliest model, validated only then)
    tried: dict[int, float] = {}

    def fewest(target):
        lo, hi = 0, K
        while lo < hi:  # bisection
            mid = (lo + hi) // 2
            if mid not in tried:
                say(f"modes: trying {n + mid} of {n + K}")
                tried[mid] = error_of(model_with(mid), 6)
            lo, hi = (lo, mid) if tried[mid] <= target else (mid + 1, hi)
        return hi

    target = tolerance / 4
    k = fewest(target)
    if k == K:
        tried[K] = error_of(model_with(K), 6)
        say(f"all {n + K} modes: validation error q95 {tried[K]:.2e}")
        if 1.25 * tried[K] > target:
            target = 1.25 * tried[K]
            k = fewest(target)
    say(f"{n + k} modes; empirical cubature")
    model = model_with(k)
    ecm_tolerance = tolerance
    integrands = cubature_integrands(model, data)
    modes = integrand_modes(integrands, rve.discretisation.weights) if integrands.any() else None  # once
    best = None  # (q95 error, tolerance, cubature, errors, ratios) of the best round so far
    # typical errors well below the tolerance: the check (s η with a 99 % safety factor) then
    # flags few points; a model whose 95 % error is near the tolerance flags many
    for _ in range(5):  # the cubature, tightened until the error is below max(tolerance / 3, 1.5 × target)
        cubature = empirical_cubature(integrands, rve.discretisation.weights, ecm_tolerance, modes=modes)
        model.set_cubature(*cubature)
        errors, validated = errors_of(model)
        q95 = float(np.quantile(errors, 0.95)) if np.isfinite(errors).all() else np.inf  # a diverged solve
        say(f"cubature tolerance {ecm_tolerance:.2g}: {model.cubature_points} points, validation error q95 {q95:.2e}")
        previous, reached = best, q95 <= max(tolerance / 3, 1.5 * target)
        if best is None or reached or q95 < 0.95 * best[0]:
            best = (q95, ecm_tolerance, cubature, errors, validated)
        if reached or (previous is not None and q95 > CUBATURE_GAIN * previous[0]):  # the Galerkin error dominates
            break
        ecm_tolerance /= 3
    _, ecm_tolerance, cubature, errors, validated = best
    model.set_cubature(*cubature)
    model.safety = _safety(*validated)
    return model, errors, validated, {"modes": model.modes, "pod_modes": k, "pod_energy_left": float(left[k]),
                                   "cubature_points": model.cubature_points, "ecm_tolerance": ecm_tolerance}


def history_range(model, data: Snapshots) -> dict[str, float]:
    """Per ``COVERED_HISTORY`` variable (flat key ``"<tag>:<key>"``), its largest value in
    the snapshots ``data`` at the cubature points of ``model`` (keys of phases without a
    cubature point left out): the range the model's cheap history check compares with."""
    _, columns = model.rve.laws.subset(model.points)
    return {key: float(values[:, columns[key]].max()) for key, values in data.history.items()
            if columns[key].size}


def indicators(model, loads: list) -> npt.NDArray[np.float64]:
    """The model's error estimate ``s η`` at the end of each of ``loads`` (lists of Mandel
    strains ``(n,)`` from the virgin state), without fallback (:func:`_run`, ``σ_ref`` = 0:
    relative to each point's own ``‖Σ‖``); ``inf`` where the reduced Newton failed."""
    eta = np.zeros(len(loads))
    for _, idx, _, eta_step in _run(model, loads):
        eta[idx] = eta_step
    return model.safety * np.where(np.isfinite(eta), eta, np.inf)


def _run(model, loads: list, reference_stress: npt.ArrayLike = 0.0) -> list:
    """The model along all ``loads`` (lists of Mandel strains ``(n,)`` from the virgin
    state) at once, step by step: its :meth:`~dolfinx_multiscale.cell.reduced.ReducedRVE.update`
    and post-convergence check of the loads that have that step, without fallback or audit
    (``σ_ref`` per load ``reference_stress``, a scalar or ``(M,)``). Returns per step
    ``(step, idx, Σ (k, n), η (k,))`` for the loads ``idx`` that have it. Leaves the model
    as it was (counters included)."""
    M = len(loads)
    state = model.initial_state(M)
    reference = np.broadcast_to(np.asarray(reference_stress, dtype=float), (M,))
    saved = copy.deepcopy(model.stats), model.fallback, model.audit
    model.fallback, model.audit = False, 0
    out = []
    try:
        for step in range(max((len(load) for load in loads), default=0)):
            idx = np.array([i for i, load in enumerate(loads) if len(load) > step])
            E = np.array([loads[i][step] for i in idx], dtype=float)
            start = take(state, idx)
            Sigma, _, trial = model.update(E, start, need_tangent=False)
            model.check_converged(E, start, trial, reference[idx])
            put(state, idx, trial)
            out.append((step, idx, Sigma, trial["indicator"].copy()))
    finally:
        model.stats, model.fallback, model.audit = saved
    return out


def cubature_integrands(model, data: Snapshots) -> npt.NDArray[np.float64]:
    """The functions the cubature of ``model`` must integrate, sampled at the ``N`` points
    ``(N, J)``: for every snapshot of ``data`` the reduced internal force of the inelastic
    stress ``(BΦ)ᵀτ`` (``r``), ``τ`` (``n``) and ``τ33`` (1), with ``τ = σ − D_el ε`` (the
    elastic part is integrated exactly), and the indicator of the inelastic phases (its
    integral, their volume, bounds the non-negative weights: without it, nearly dependent
    points can take weights of 1e12 that cancel, and the reduced Newton stalls in their
    round-off); each of the four families scaled to unit Frobenius norm."""
    eps, sigma, sigma33 = data.eps, data.sigma, data.sigma33
    tau = sigma - np.einsum("pij,spj->spi", model.galerkin.elastic_tangents, eps)
    tau33 = sigma33 - np.einsum("pi,spi->sp", model.galerkin.out_of_plane_row, eps)
    floor = 1e-12 * np.abs(sigma).max(initial=0.0)  # the round-off of elastic points is no τ
    tau[np.abs(tau) <= floor], tau33[np.abs(tau33) <= floor] = 0.0, 0.0
    N = model.galerkin.mode_strains.shape[0]
    force = np.einsum("pir,spi->psr", model.galerkin.mode_strains, tau).reshape(N, -1)
    laws = model.rve.laws
    inelastic = np.zeros((N, 1))
    if tau.any() or tau33.any():  # else nothing inelastic was seen: no cubature at all
        for tag, idx in laws.phase_points.items():
            inelastic[idx] = 0.0 if laws.materials[tag].is_linear else 1.0
    families = [force, tau.transpose(1, 0, 2).reshape(N, -1), tau33.T, inelastic]
    # each family (force, stress, σ33) carries the same weight; within one, the snapshots
    # keep their magnitudes (a nearly elastic snapshot's small τ matters little)
    return np.column_stack([f / max(np.linalg.norm(f), 1e-300) for f in families])


def _validate(model, paths: list, reference: list, comm=None) -> tuple[npt.NDArray, npt.NDArray]:
    """The model without fallback along ``paths`` against the full RVE's ``Σ`` (``reference``,
    per path a list of ``(n,)``): ``(errors, η)`` per step (in the paths' order), the error
    relative to ``max(‖Σ‖, σ_ref)`` with ``σ_ref`` the RMS of the path's ``Σ``, and the
    model's indicator ``η`` (``inf`` where its reduced Newton failed). Each rank of ``comm``
    runs its share of the paths (round-robin) all at once (:func:`_run`). Leaves the model
    as it was."""
    answers = [np.asarray(a, dtype=float).reshape(len(a), -1) for a in reference]
    ranks = 1 if comm is None else comm.size
    shares = [list(range(r, len(paths), ranks)) for r in range(ranks)]

    def along(share):
        rms = [float(np.sqrt(np.mean(np.sum(answers[i] ** 2, axis=1)))) for i in share]
        errors, etas = [[] for _ in share], [[] for _ in share]
        for step, idx, Sigma, eta in _run(model, [paths[i] for i in share], rms):
            for j, Sigma_j, eta_j in zip(idx, Sigma, eta):
                exact = answers[share[j]][step]
                errors[j].append(np.linalg.norm(Sigma_j - exact) / max(np.linalg.norm(exact), rms[j], 1e-300))
                etas[j].append(eta_j)
        return errors, etas

    per_path = [None] * len(paths)
    for share, (errors, etas) in zip(shares, spread(comm, shares, along, "validation paths of rank {}".format)):
        for j, i in enumerate(share):
            per_path[i] = (errors[j], etas[j])
    return (np.asarray([e for errors, _ in per_path for e in errors], dtype=float),
            np.asarray([e for _, etas in per_path for e in etas], dtype=float))
