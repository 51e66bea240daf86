"""Virtual material testing: the RVE along a macro load path, with mixed control.

A load path is a list of steps. Each step prescribes, per tensor component, either the
macro strain or the macro stress; a component named in neither keeps the strain it had
(0 at the start). The JSON form (also accepted by :func:`parse_path`)::

    {"steps": [{"strain": {"11": 0.002}, "stress": {"22": 0.0, "12": 0.0}}, ...]}

uses tensor components (``ε12``, not the engineering ``γ12 = 2ε12``), converted to
Mandel notation internally (``E_M[12] = √2 ε12``). At finite strain
(:data:`~dolfinx_multiscale.kinematics.FINITE_STRAIN`) a step prescribes components of
the deformation gradient ``F̄`` or of the first Piola–Kirchhoff stress ``P̄`` (all ``d²``
of them, ``"12"`` and ``"21"`` distinct; a component named in neither keeps its ``F̄``,
the identity at the start)::

    {"steps": [{"F": {"11": 1.05, "12": 0.02}, "P": {"22": 0.0}}, ...]}

and every record also holds ``F``, ``P`` (``d × d`` nested lists, ``F[i][j] = F_ij``),
``P33`` (2-D) and the macroscopic ellipticity indicator
(:func:`~dolfinx_multiscale.stability.ellipticity` of the exact ``Ā = ∂P̄/∂F̄``).

Stress-controlled components are found by an outer Newton on the RVE response with the
condensed tangent: ``ΔE_s = C_ss⁻¹ (Σ̂_s − Σ_s(E))``. The tangent is the RVE's
approximate one (``approximate_tangent=True``: condensed with the last micro Newton factorization, relative
error ~ the last micro correction): the outer iteration converges as fast and a step
costs one factorization less. Each step starts from
the committed state; when the micro or the outer Newton fails, the step is halved (up
to ``max_cuts`` times) and retried from the committed state, and after that a
:class:`LoadPathError` names the step and its target.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import LoadPathError, RVEConvergenceError
from ..kinematics import FINITE_STRAIN, Kinematics, kinematics
from ..macro.stepping import cut_and_retry
from ..stability import ellipticity

__all__ = ["LoadStep", "load_path", "parse_path", "ramp"]

_log = logging.getLogger(__name__)
#: finite strain: the step's tangent (mixed control, ellipticity) reuses the last micro Newton
#: factorization when that was made within this relative residual, and an iterative solver
#: solves its unit loads to it (tangent error ~1e-8)
TANGENT_REUSE_RTOL = 1e-8


@dataclasses.dataclass(frozen=True)
class LoadStep:
    """One step of a load path in Mandel components.

    Attributes:
        strain: ``(n,)`` target macro strain of the strain-controlled components (the
            entries of stress-controlled components are ignored).
        stress: ``(n,)`` target macro stress of the stress-controlled components.
        stress_controlled: ``(n,)`` bool mask.
    """

    strain: npt.NDArray[np.float64]
    stress: npt.NDArray[np.float64]
    stress_controlled: npt.NDArray[np.bool_]


def parse_path(data: dict | Sequence[dict], dim: int, physics: str | Kinematics = "elasticity") -> list[LoadStep]:
    """Turn the JSON form of a path into :class:`LoadStep` objects.

    Args:
        data: ``{"steps": [...]}`` or the list of steps itself; each step a dict with
            optional ``"strain"`` and ``"stress"`` dicts keyed by tensor components
            (``"11"``, ``"22"``, ``"12"``; 3-D adds ``"33"``, ``"23"``, ``"13"``); at
            finite strain ``"F"`` and ``"P"`` with all ``d²`` components.
        dim: 2 or 3.
        physics: ``"elasticity"``, ``"conduction"`` (keys ``"1"``, ``"2"``, ``"3"``) or
            ``"finite"``, or its :class:`~dolfinx_multiscale.kinematics.Kinematics`.

    Raises:
        ValueError: a malformed step (unknown key or component, a non-number, a
            component both strain- and stress-controlled; at finite strain a prescribed
            ``F̄`` with ``det F̄ ≤ 0``, its free components at their last values), naming
            the step.
    """
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ValueError('a path must be {"steps": [...]} with at least one step')
    kin = physics if isinstance(physics, Kinematics) else kinematics(physics)
    n = kin.size(dim)
    strain_key, stress_key = kin.control_names
    reference = kin.reference(dim)
    strain = np.zeros(n)
    out = []
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict) or not set(step) <= {strain_key, stress_key} or not step:
            raise ValueError(f"step {number}: must be an object with '{strain_key}' and/or '{stress_key}'; "
                             f"got {step!r}")
        stress = np.zeros(n)
        mask = np.zeros(n, dtype=bool)
        seen: dict[int, str] = {}
        for kind in (strain_key, stress_key):
            comps = step.get(kind, {})
            if not isinstance(comps, dict):
                raise ValueError(f"step {number}: '{kind}' must map components to numbers; got {comps!r}")
            for key, value in comps.items():
                try:
                    k, scale = kin.component(str(key), dim)
                except ValueError as exc:
                    raise ValueError(f"step {number}: {exc}") from None
                if k in seen:
                    raise ValueError(f"step {number}: component {key} is both {seen[k]}- and "
                                     f"{kind}-controlled (or given twice)")
                seen[k] = kind
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                    raise ValueError(f"step {number}: {kind} {key} must be a finite number; got {value!r}")
                if kind == strain_key:
                    strain[k] = scale * value - reference[k]
                else:
                    stress[k] = scale * value
                    mask[k] = True
        if kin is FINITE_STRAIN:  # the prescribed F̄ (free components at their last values)
            F = kin.as_tensor(strain + reference)
            det = float(np.linalg.det(F))
            if not det > 0:
                raise ValueError(f"step {number}: the prescribed F gives det F = {det:.6g} <= 0 (an inverted "
                                 f"cell); F = {F.tolist()}")
        out.append(LoadStep(strain.copy(), stress, mask))
    return out


def ramp(strain: dict[str, float], stress: dict[str, float] | None = None, steps: int = 10,
         unload: bool = False, physics: str | Kinematics = "elasticity", dim: int = 2) -> dict:
    """The JSON form of a proportional ramp: ``steps`` equal steps from rest to ``strain``
    (stress components held at their values), then, with ``unload``, ``steps`` back.

    ``ramp({"11": 0.02}, {"22": 0.0}, 10, unload=True)`` is a uniaxial-stress
    load–unload test. At finite strain (``physics="finite"``, ``dim`` needed for the
    rest values) the ramp is linear in ``F̄`` from the identity: ``ramp({"11": 0.7},
    {"22": 0.0, "12": 0.0, "21": 0.0}, physics="finite")`` is uniaxial compression to
    ``F11 = 0.7``.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    kin = physics if isinstance(physics, Kinematics) else kinematics(physics)
    strain_key, stress_key = kin.control_names
    rest = {key: float(kin.reference(dim)[kin.component(key, dim)[0]]) for key in strain}
    stress = dict(stress or {})
    factors = [k / steps for k in range(1, steps + 1)]
    if unload:
        factors += [k / steps for k in range(steps - 1, -1, -1)]
    return {"steps": [{strain_key: {c: rest[c] + f * (v - rest[c]) for c, v in strain.items()},
                       stress_key: dict(stress)} for f in factors]}


def _finite_strain_record(rve, H, P, A) -> dict:
    """The finite-strain entries of a step record at the committed state ``H̄``, ``P̄``
    with its tangent ``Ā``."""
    d = rve.dim
    indicator = ellipticity(A)
    record = {"F": (np.eye(d) + H.reshape(d, d)).tolist(), "P": P.reshape(d, d).tolist(),
              "ellipticity": {"min": float(indicator.minimum), "n": indicator.normal.tolist()}}
    if d == 2:
        record["P33"] = rve.average_sigma33()
    return record


def _check_determined(rve, C, s) -> None:
    """Raise if the stress-controlled components leave the strain undetermined at the
    solution (``C_ss`` singular to working precision: any strain along its null vector
    satisfies the prescribed stresses), e.g. at finite strain a rigid rotation about the
    axis of a uniaxial ``P̄``, which leaves ``P̄`` unchanged."""
    if np.linalg.cond(C[np.ix_(s, s)]) > 1e12:
        keys = [key for key, c in zip(rve.kinematics.component_keys(rve.dim), s) if c]
        strain_key, stress_key = rve.kinematics.control_names
        hint = (f"; a rigid rotation leaves {stress_key} unchanged: prescribe one skew {strain_key} component "
                "(e.g. F32 for uniaxial P11 in 3-D)") if rve.kinematics is FINITE_STRAIN else ""
        raise ValueError(f"mixed control is singular: the {stress_key} components {keys} do not determine the "
                         f"{strain_key} components{hint}")


def _solve_mixed(rve, step: LoadStep, E_n, Sigma_n, C_n, stress_rtol: float, max_iterations: int):
    """Solve one (sub)step from the committed state ``(E_n, Σ_n, C_n)``.

    Returns:
        ``(E, Σ, C, micro iterations)``.
    """
    s = step.stress_controlled
    E = np.where(s, E_n, step.strain)
    if s.any() and C_n is not None:  # predictor: linearise Σ_s about the committed state
        p = ~s
        E[s] += np.linalg.solve(C_n[np.ix_(s, s)],
                                step.stress[s] - Sigma_n[s] - C_n[np.ix_(s, p)] @ (E[p] - E_n[p]))
    micro_iterations = 0
    for outer in range(max_iterations + 1):
        # the tangent serves the stress-controlled components only (strain-only steps
        # predict with one solve, see RVE.solve); at finite strain it is also the
        # ellipticity indicator's: condensed with the last Newton factorization only if that
        # was made within TANGENT_REUSE_RTOL of the solution
        if rve.kinematics is FINITE_STRAIN:
            Sigma, C = rve.solve(E, tangent=True, warm_start=outer > 0, tangent_reuse_rtol=TANGENT_REUSE_RTOL,
                                 tangent_rtol=TANGENT_REUSE_RTOL)
        else:
            Sigma, C = rve.solve(E, tangent=bool(s.any()), approximate_tangent=True, warm_start=outer > 0)
        micro_iterations += rve.newton_iterations
        if not s.any():
            return E, Sigma, C, micro_iterations
        gap = step.stress[s] - Sigma[s]
        scale = max(np.linalg.norm(Sigma), np.linalg.norm(C) * np.linalg.norm(E), 1e-300)
        if np.abs(gap).max() <= stress_rtol * scale:
            _check_determined(rve, C, s)
            return E, Sigma, C, micro_iterations
        E = E.copy()
        E[s] += np.linalg.solve(C[np.ix_(s, s)], gap)
    raise RVEConvergenceError(f"mixed control did not converge in {max_iterations} iterations "
                              f"(stress gap {np.abs(gap).max():.2e})", E, [])


def load_path(rve, path, max_cuts: int = 6, stress_rtol: float = 1e-12, max_iterations: int = 20,
              progress: bool = True, on_step=None) -> list[dict]:
    """Drive ``rve`` along ``path``; commit after every converged step.

    Args:
        rve: an :class:`~dolfinx_multiscale.cell.rve.RVE` (its committed state is the start).
        path: the JSON form (see :func:`parse_path`) or a list of :class:`LoadStep`.
        max_cuts: how many times a failing step may be halved.
        stress_rtol: prescribed stresses hold to ``stress_rtol · max(‖Σ‖, ‖C‖‖E‖)``.
        max_iterations: outer (mixed-control) Newton iterations per (sub)step.
        progress: log one line per step (``logging.INFO``).
        on_step: optional ``on_step(record, rve)`` called after every committed step
            (on every rank), e.g. to write the step's fields.

    Returns:
        One dict per step: ``step``, ``E`` and ``Sigma`` (Mandel ``(n,)`` lists),
        ``Sigma33`` (2-D elasticity: ``⟨σ33⟩``), ``p_mean`` (``⟨p⟩``),
        ``newton_iterations`` (micro iterations of the step, cuts included), ``cuts``,
        ``substeps`` (the fractions of the step at which sub-steps were committed, the
        last 1.0),
        ``hill_mandel_residual``, ``dissipation`` (``⟨D⟩`` of the step, energy per unit
        cell volume) and ``free_energy`` (``⟨ψ⟩`` at the end of the step). At finite
        strain ``E`` is ``H̄ = F̄ − I`` and ``Sigma`` is ``P̄`` (row-major), and a record
        also holds ``F``, ``P`` (``d × d`` nested lists), ``P33`` (2-D, instead of
        ``Sigma33``), ``ellipticity`` (``{"min": λ, "n": [...]}``, from the exact
        tangent at the converged step) and ``loss_of_ellipticity`` (true on the first
        step where the indicator is ≤ 0 after being positive; a warning is logged).

    Raises:
        LoadPathError: a step failed after ``max_cuts`` halvings (names the step and E).
        ValueError: the stress-controlled components do not determine the strain (the
            condensed ``C_ss`` is singular).
    """
    if isinstance(path, (list, tuple)) and path and all(isinstance(p, LoadStep) for p in path):
        steps = list(path)
    else:
        steps = parse_path(path, rve.dim, rve.kinematics)
    E_n = rve.committed_state["E"].copy()
    if np.any(E_n != 0):
        Sigma_n, C_n = rve.solve(E_n)  # the committed state's response (no change)
    else:
        Sigma_n, C_n = np.zeros(rve.n), None
    results = []
    elliptic = True  # finite strain: strongly elliptic until the indicator first drops to ≤ 0
    t0 = time.perf_counter()
    for number, step in enumerate(steps, start=1):
        E_begin, S_begin = E_n.copy(), Sigma_n.copy()
        totals = {"iterations": 0, "dissipation": 0.0, "substeps": []}

        def attempt(a, step=step, E_begin=E_begin, S_begin=S_begin):
            sub = LoadStep(E_begin + a * (step.strain - E_begin), S_begin + a * (step.stress - S_begin),
                           step.stress_controlled)
            return _solve_mixed(rve, sub, E_n, Sigma_n, C_n, stress_rtol, max_iterations)

        def accept(a, result, totals=totals):
            nonlocal E_n, Sigma_n, C_n
            E_n, Sigma_n, C_n, its = result
            totals["iterations"] += its
            totals["dissipation"] += rve.step_dissipation()
            totals["substeps"].append(a)
            rve.commit()

        def failure(exc, a, number=number, step=step):
            strain_key, stress_key = rve.kinematics.control_names
            return LoadPathError(
                f"load step {number} failed after {max_cuts} step cuts (target {strain_key} "
                f"{(step.strain + rve.kinematics.reference(rve.dim)).tolist()}, {stress_key} "
                f"{step.stress.tolist()} on the components {np.flatnonzero(step.stress_controlled).tolist()}, "
                f"vector order {rve.kinematics.component_keys(rve.dim)}): {exc}")

        cuts = cut_and_retry(attempt, accept, max_cuts, failure, label=f"step {number}")
        iterations, dissipation = totals["iterations"], totals["dissipation"]
        record = {
            "step": number, "E": E_n.tolist(), "Sigma": Sigma_n.tolist(),
            "p_mean": rve.mean_plastic_strain(), "newton_iterations": iterations, "cuts": cuts,
            "substeps": totals["substeps"],
            "hill_mandel_residual": rve.hill_mandel_residual(), "dissipation": dissipation,
            "free_energy": rve.free_energy(),
        }
        if rve.kinematics is FINITE_STRAIN:
            elliptic_before = elliptic
            record.update(_finite_strain_record(rve, E_n, Sigma_n, C_n))
            elliptic = record["ellipticity"]["min"] > 0
            record["loss_of_ellipticity"] = elliptic_before and not elliptic
            if record["loss_of_ellipticity"]:
                _log.warning("step %d: loss of macroscopic ellipticity (min eigenvalue of the acoustic "
                             "tensor %.3e at n = %s)", number, record["ellipticity"]["min"],
                             np.round(record["ellipticity"]["n"], 6).tolist())
        elif rve.kinematics.has_out_of_plane_stress and rve.dim == 2:
            record["Sigma33"] = rve.average_sigma33()
        results.append(record)
        if on_step is not None:
            on_step(record, rve)
        if progress:
            strain_key, stress_key = ("E", "Sigma") if "F" not in record else ("F", "P")
            _log.info("step %d/%d: %s = %s, %s = %s, <p> = %.3e, %d micro iterations, %.2f s",
                      number, len(steps), strain_key, np.round(record[strain_key], 6).tolist(), stress_key,
                      np.round(record[stress_key], 6).tolist(), record["p_mean"], iterations,
                      time.perf_counter() - t0)
    return results
