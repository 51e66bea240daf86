"""Hyper-reduced RVEs: a POD–Galerkin cell integrated by empirical cubature, its error
checked once per converged macro step, with fallback to the full RVE.

**Model.** The fluctuation of a small-strain cell is sought in the span of ``r``
orthonormal modes, ``w = Φ q`` (``Φ`` ``(n_dofs, r)``): the ``n`` elastic unit
fluctuations (a linear cell is exact with them) and POD modes of full-RVE snapshots
along training paths (Yvonnet & He, JCP 2007; Hernández, Oliver, Huespe, Caicedo & Cante,
CMAME 2014). Every mode satisfies the boundary condition, so the reduced problem is the
Galerkin projection. Its elastic part is integrated exactly and the rest by an
*empirical cubature* (:mod:`.cubature`; Hernández, Caicedo & Ferrer, CMAME 2017): ``m``
micro points with weights ``ω_s ≥ 0``, where alone the law runs and the history is read
(:mod:`.galerkin`: the equations, the batched reduced Newton, the reconstruction). The
cubature is fitted on the training snapshots' reduced internal force ``(BΦ)ᵀτ``, ``τ``,
``τ33`` (``τ = σ − D_el ε``) and the inelastic volume
(:func:`~.training.cubature_integrands`).

**Error control, once per converged step** (:meth:`ReducedRVE.check_converged`, the post-convergence
hook of :class:`~dolfinx_multiscale.macro.newton.NewtonSolver`). During macro iterations
only cheap checks run: the reduced Newton converged, the macro strain stays within
``COVERAGE`` times the largest training strain, and the new history at the cubature points
(J2's equivalent plastic strain ``p``) within ``COVERAGE`` times the largest value the
training snapshots reached there; a point failing them is solved by the full RVE at once.
When the macro Newton has converged, every point the reduced model answered is
reconstructed on the full cell — ``w = Φ q``, the law at all ``N`` points from the
committed history (the full micro history, which later steps and fallbacks need) — and
its error is estimated as

    e = ‖Σ_full + ΔΣ − Σ_ECM‖ / max(‖Σ_ECM‖, σ_ref),

``Σ_full = ⟨σ⟩`` of the reconstruction (the cubature error), ``ΔΣ = ⟨D B δw⟩`` with
``δw ≈ −K̃_t⁻¹ R`` by ``check_iterations`` (≤ 4, chosen in training) preconditioned CG
iterations on the full residual ``R`` (the Galerkin error), and ``σ_ref`` the RMS macro
stress of the step over all points (so nearly unloaded points do not force fallbacks). An
error left in the micro history stays in later answers, so the point's indicator ``η``
accumulates ``e`` over its reduced steps (part of the state). A point with ``s η >
tolerance`` (``s``: the safety factor, the 99 % quantile of ``error / η`` over at least 200
held-out training steps) is re-solved by the full RVE and the macro Newton continues. Tolerance stated on ``Σ``: per point
``‖ΔΣ‖ ≤ tolerance · max(‖Σ‖, σ_ref)``.

**Audit.** At every check, ``audit`` reduced points (random, seeded) are also solved by the
full RVE (its micro Newton to ``AUDIT_RTOL`` times the tolerance: ``Σ`` to a small fraction
of the errors measured); the observed errors and a one-sided 95 % Clopper–Pearson bound on
the share of reduced answers above the tolerance are kept in :attr:`ReducedRVE.stats`.

:class:`ReducedRVE` follows the material protocol (``FE2Material(reduced, mesh)``) and the
single-point API of :func:`~dolfinx_multiscale.studies.loading.load_path`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..kinematics import SMALL_STRAIN
from ..materials.protocol import put, repeat, take
from .galerkin import CG_ITERATIONS, HyperReducedCell
from .response import CellResponse
from .rve import NO_TANGENT, STORED_TANGENT, elastic_shortcut, newton_tolerance
from .training import train

__all__ = ["ReducedRVE", "clopper_pearson_upper"]

#: macro points evaluated together by the reduced Newton, and reconstructed together by the
#: check: chunks whose arrays stay in cache (the part's cell, one process: 64 points per
#: chunk cost 1.2x the time of 32 in the Newton and 1.3x that of 16 in the check)
CHUNK, CHECK_CHUNK = 32, 16
#: the reduced Newton stops at ``‖f(q)‖ ≤ NEWTON_RTOL · tolerance · scale`` (not below the
#: RVE's own ``rtol``): its error in ``Σ``, 1 to 20 times its relative tolerance on the part's
#: cell, stays three orders below what the check allows. On the part's 1 024-point step at
#: tolerance 1e-2: 21 % fewer point evaluations than at 1e-10, the same macro iterations,
#: the reaction within 2.5e-9
NEWTON_RTOL = 1e-4
#: macro strains, and internal variables at the cubature points, beyond this multiple of the
#: largest training value go to the full RVE
COVERAGE = 1.5
#: the first check of a step flags points above this share of the tolerance, later checks
#: of the step (after the macro Newton re-converged) only those above the tolerance: a
#: re-check costs two macro iterations, more than the few extra fallbacks
FIRST_CHECK_MARGIN = 0.8
#: ``"reduced"`` of a point the reduced model answered and a check of this step accepted
CHECKED = 2.0
#: the audit's full solves stop at ``AUDIT_RTOL · tolerance`` (not below the RVE's own
#: ``rtol``): their ``Σ`` is then within a few hundredths of that of the tight solve
#: (at 1e-4: 5.6e-7 on the 3-D benchmark cell, 3.7e-6 on a 2-D one), far below the errors
#: measured, in 2 micro Newton iterations instead of 3 (3-D: 55 → 44 ms per point)
AUDIT_RTOL = 1e-3
#: flagged increments kept in :attr:`ReducedRVE.fallback_paths` (for a later training)
MAX_FALLBACK_PATHS = 256
#: per-point records of the reduced model kept in the state next to the RVE's:
#: ``indicator`` (η), ``reduced`` (1: the reduced model answered the last update; 2: and a
#: check of this step accepted it),
#: ``forced`` (1: the check sent the point to the full RVE for the rest of the step)
_RECORD = ("forced", "indicator", "reduced")
#: the seconds kept in :attr:`ReducedRVE.stats`, by what they were spent on
TIMES = ("audit_s", "check_s", "fallback_s", "reduced_s", "shortcut_s")
#: what a point's full-RVE solve starts from (its guess; without a stored tangent, so not "W")
_START = ("E", "w")


class ReducedRVE:
    """A hyper-reduced RVE with an error indicator and full-RVE fallback (module docstring).

    Build it with :meth:`train` (or :meth:`load` a trained one); the constructor takes a
    basis and a cubature directly (e.g. the full space and all points, for checks).

    Args:
        rve: the full :class:`~dolfinx_multiscale.cell.rve.RVE` (serial, small strain,
            inelastic); it solves the fallback points.
        basis: fluctuation modes ``(n_dofs, r)`` (local dofs of the full space, each
            satisfying the boundary condition); orthonormalized here.
        tolerance: the error of ``Σ`` allowed without fallback, relative to
            ``max(‖Σ‖, σ_ref)`` (0: every point not solved by the elastic shortcut is
            solved by the full RVE).
        safety: the factor ``s`` of the fallback test ``s η > tolerance`` (from training).
        info: training record (samples, modes, times, effectivities), kept for reports.
        orthonormalize: make the basis orthonormal (QR, dropping dependent columns);
            ``False`` for a basis that already is (a saved model: bit-identical answers).
        cubature: ``(points (m,), weights (m,))`` — indices among the cell's micro points
            and non-negative weights; default all points with their own weights.
        strain_range: the largest training macro strain norm (``COVERAGE`` times it is
            the cheap range check); default no check.
        history_range: per flat history key (``"<tag>:p"``), the largest value the training
            snapshots reached at the cubature points: a reduced answer whose new history
            at a cubature point exceeds ``COVERAGE`` times it goes to the full RVE;
            default (and keys not given) no check.
        newton_rtol: the reduced Newton's relative tolerance; default
            ``max(NEWTON_RTOL · tolerance, the RVE's rtol)``.
        check_iterations: the preconditioned CG iterations of the check's Galerkin error
            estimate (1 to ``galerkin.CG_ITERATIONS``, the default; training chooses it
            with the safety factor).

    Attributes:
        rve, basis, tolerance, safety, info, strain_range, history_range: as given
            (``basis`` orthonormal).
        points, weights: the cubature.
        audit: reduced points per check also solved by the full RVE (default 2).
        fallback_paths: the increments the check flagged on this rank, each as a
            two-step path ``[E_n, E]`` (Mandel ``(n,)``; at most ``MAX_FALLBACK_PATHS``):
            ``ReducedRVE.train(rve, user_paths=model.fallback_paths)`` trains the next
            model where this one fell short.
        stats: cumulative counts ``{"updates", "shortcut", "reduced", "fallback",
            "uncovered" (the fallbacks the range checks sent: strain, history), "checked",
            "flagged", "max_indicator", "audited", "audit_above", "audit_max_error",
            "audit_bound"}``, the seconds spent (``TIMES``: the elastic shortcut, the
            reduced Newton, the full-RVE fallback, the check, the audit) and ``"last"``, the
            last update's and check's counts.
        fallback: re-solve flagged points with the full RVE (``False`` only to measure
            the reduced model itself).
        shortcut: take the RVE's exact elastic shortcut first (``False`` only to measure
            the reduced model itself).
    """

    def __init__(self, rve, basis: npt.ArrayLike, tolerance: float, safety: float = 1.0, info: dict | None = None,
                 orthonormalize: bool = True, cubature: tuple | None = None, strain_range: float | None = None,
                 history_range: dict | None = None, newton_rtol: float | None = None,
                 check_iterations: int = CG_ITERATIONS):
        if rve.comm.size != 1:
            raise ValueError("a reduced RVE needs a serial cell (MPI.COMM_SELF); each rank reduces its own")
        if rve.kinematics is not SMALL_STRAIN or rve.is_linear:
            raise ValueError("a reduced RVE needs an inelastic small-strain RVE (a linear one is exact already)")
        basis = np.asarray(basis, dtype=float)
        n_local = rve.w.x.array.size
        if basis.ndim != 2 or basis.shape[0] != n_local or not 0 < basis.shape[1] <= n_local:
            raise ValueError(f"basis must have shape ({n_local}, r) with 0 < r <= {n_local}; got {basis.shape}")
        if not (np.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"tolerance must be a finite number >= 0; got {tolerance!r}")
        if not (np.isfinite(safety) and safety >= 1):
            raise ValueError(f"safety must be a finite number >= 1; got {safety!r}")
        self.rve = rve
        if orthonormalize:
            q, rr = np.linalg.qr(basis)
            basis = q[:, np.abs(np.diag(rr)) > 1e-12 * np.abs(np.diag(rr)).max()]
        self.basis = basis
        self.tolerance, self.safety = float(tolerance), float(safety)
        self.strain_range = None if strain_range is None else float(strain_range)
        self.history_range = {str(k): float(v) for k, v in (history_range or {}).items()}
        self.info = dict(info or {})
        self.kinematics, self.dim, self.n, self.comm = rve.kinematics, rve.dim, rve.n, rve.comm
        self.is_linear, self.spd_tangent, self.varying_tangent = False, rve.spd_tangent, rve.varying_tangent
        if newton_rtol is None:
            newton_rtol = max(NEWTON_RTOL * self.tolerance, rve.batched_cell.rtol)
        if not (np.isfinite(newton_rtol) and 0 < newton_rtol < 1):
            raise ValueError(f"newton_rtol must be in (0, 1); got {newton_rtol!r}")
        self.galerkin = HyperReducedCell(rve, basis, cubature, newton_rtol, check_iterations)
        self.points, self.weights = self.galerkin.points, self.galerkin.weights
        self._committed = take(self.initial_state(1), 0)
        self._checked_keys = ("E", "w", *rve.laws.initial_state())  # what a reconstruction reads
        self._trial: dict | None = None
        self.newton_iterations = 0
        self.fallback = self.shortcut = True
        self.audit = 2
        self.fallback_paths: list[list[npt.NDArray[np.float64]]] = []
        self.stats = _fresh_stats()

    def set_cubature(self, points: npt.ArrayLike, weights: npt.ArrayLike) -> None:
        """:meth:`HyperReducedCell.set_cubature <.galerkin.HyperReducedCell.set_cubature>`."""
        self.galerkin.set_cubature(points, weights)
        self.points, self.weights = self.galerkin.points, self.galerkin.weights

    @property
    def modes(self) -> int:
        """Number of modes ``r``."""
        return self.basis.shape[1]

    @property
    def cubature_points(self) -> int:
        """Number of cubature points ``m``."""
        return self.points.size

    @property
    def check_iterations(self) -> int:
        """The preconditioned CG iterations of the check's error estimate (the safety
        factor belongs to it; :attr:`HyperReducedCell.check_iterations
        <.galerkin.HyperReducedCell.check_iterations>`)."""
        return self.galerkin.check_iterations

    @check_iterations.setter
    def check_iterations(self, value: int) -> None:
        self.galerkin.check_iterations = value

    # -- the material protocol ------------------------------------------------------------
    def initial_state(self, n_points: int) -> dict:
        """The RVE's virgin state of ``n_points`` points plus the reduced model's records
        ``"indicator"`` (``η``), ``"reduced"`` (0: not answered by the reduced model, 1:
        answered, ``CHECKED``: and accepted by a check of this step) and ``"forced"``
        (module docstring), each ``(N,)``."""
        return {**self.rve.initial_state(n_points), **{k: np.zeros(n_points) for k in _RECORD}}

    def update(self, strain: npt.ArrayLike, state: dict, need_tangent: bool = True, out: dict | None = None,
               guess: dict | None = None):
        """The homogenized response at ``N`` points (the material protocol).

        Elastic increments by the RVE's exact shortcut; points a :meth:`check_converged`
        of this step flagged (``guess["forced"]``), and those failing the cheap checks
        (reduced Newton not converged, macro strain or new cubature-point history beyond
        ``COVERAGE`` times the training's), by the full RVE (from the reduced fluctuation,
        or the committed state); the others by the hyper-reduced model, whose full fields are
        reconstructed only by :meth:`check_converged`. Same arguments and returns as
        :meth:`RVE.update <dolfinx_multiscale.cell.rve.RVE.update>`.
        """
        strain = np.asarray(strain, dtype=float)
        if strain.ndim != 2 or strain.shape[1] != self.n:
            raise ValueError(f"strain must have shape (N, {self.n}); got {strain.shape}")
        N = len(strain)
        sigma = np.empty((N, self.n))
        tangent = np.empty((N, self.n, self.n)) if need_tangent else None
        new = out if out is not None and out is not state else {k: np.empty_like(v) for k, v in state.items()}
        clock = _Clock(self.stats)
        accepted = (elastic_shortcut(self.rve, strain, state, new, sigma, tangent) if self.shortcut
                    else np.zeros(N, dtype=bool))
        clock("shortcut_s")
        new["indicator"][accepted] = state["indicator"][accepted]  # exact: no new error
        new["reduced"][accepted] = new["forced"][accepted] = 0.0
        forced = ~accepted & (guess["forced"] > 0 if guess is not None else False)
        uncovered = np.zeros(N, dtype=bool)  # beyond the training's range: the strain here, the history below
        if self.strain_range is not None and self.fallback:
            uncovered = ~accepted & (np.linalg.norm(strain, axis=1) > COVERAGE * self.strain_range)
        forced = (forced | uncovered) & self.fallback
        rest = np.flatnonzero(~accepted & ~forced)
        start_from = guess if guess is not None else state  # where the full RVE starts the forced points
        for key in _START:
            new[key][forced] = start_from[key][forced]
        without_W = {k: v for k, v in new.items() if k != "W"}
        failed = []
        for start in range(0, rest.size, CHUNK):
            idx = rest[start:start + CHUNK]
            q = self.galerkin.predict(strain[idx], start_from, tangent=guess is not None, rows=idx)
            Sigma, C, s33, q, dq, its, ok, history = self.galerkin.solve(strain[idx], state, q, rows=idx)
            beyond = np.zeros(idx.size, dtype=bool)  # history outside the training's: full RVE from q
            for key, largest in self.history_range.items():
                if key in history and history[key].size:
                    beyond |= history[key].reshape(idx.size, -1).max(axis=1) > COVERAGE * largest
            uncovered[idx[beyond & ok & self.fallback]] = True
            sigma[idx] = Sigma
            if need_tangent:
                tangent[idx] = C
            if "W" in new:  # the unit fluctuations Φ ∂q/∂E: the next predictor (here or in the full RVE)
                n_W = new["W"].shape[2]  # one product for the chunk
                new["W"][idx] = (dq.transpose(0, 2, 1).reshape(-1, self.modes) @ self.basis[:n_W].T).reshape(-1, self.n, n_W)
            zeros = np.zeros(idx.size)
            # history and energies: the committed ones until check_converged() reconstructs them
            put(without_W, idx, {**{k: state[k][idx] for k in without_W if k not in _RECORD},
                                 "E": strain[idx], "w": q @ self.basis.T, "Sigma": Sigma, "sigma33": s33,
                                 "newton_iterations": its.astype(float), "elastic_shortcut": zeros,
                                 "tangent_kind": zeros + (STORED_TANGENT if "W" in new else NO_TANGENT),
                                 "indicator": state["indicator"][idx],
                                 "reduced": 1.0 + (guess["reduced"][idx] == CHECKED if guess is not None else zeros),
                                 "forced": zeros})
            failed.append(idx[~ok])
        clock("reduced_s")
        forced |= uncovered
        if self.fallback and failed:
            failed = np.concatenate(failed)
            forced[failed] = True
            for key in _START:  # the full RVE starts from the committed state, not a diverged guess
                new[key][failed] = state[key][failed]
        full = np.flatnonzero(forced)
        if full.size:  # the full RVE, from the reduced fluctuation
            rve_state = {k: v[full] for k, v in state.items() if k not in _RECORD}
            s, C, rec = self.rve.update(strain[full], rve_state, need_tangent,
                                        guess={**take(new, full), "tangent_kind": np.full(full.size, NO_TANGENT)})
            sigma[full] = s
            if need_tangent:
                tangent[full] = C
            put(new, full, {**rec, "indicator": state["indicator"][full], "reduced": 0 * s[:, 0],
                            "forced": 0 * s[:, 0] + 1})
        clock("fallback_s")
        last = {"shortcut": int(accepted.sum()), "reduced": int(N - accepted.sum() - full.size),
                "fallback": int(full.size), "uncovered": int(uncovered.sum())}
        for key, value in last.items():
            self.stats[key] += value
        self.stats["updates"] += 1
        self.stats["last"] = {**self.stats["last"], **last}
        return sigma, tangent, new

    # -- the post-convergence check ----------------------------------------------------------
    def check_converged(self, strain: npt.ArrayLike, state: dict, trial: dict,
                        reference_stress: npt.ArrayLike = 0.0) -> npt.NDArray[np.bool_]:
        """Reconstruct and check the points the reduced model answered (module docstring).

        Called once the macro Newton has converged with the stresses of the last
        :meth:`update` (the post-convergence hook of
        :class:`~dolfinx_multiscale.macro.newton.NewtonSolver`: ``LocalMaterial.check``).

        Args:
            strain: the macro strains of the last update ``(N, n)``.
            state: the committed states (not modified).
            trial: the last update's states; the reduced points get their full micro
                history, fluctuation, energies and indicator; flagged points get
                ``"forced"`` = 1.
            reference_stress: ``σ_ref``, the RMS macro stress of the step over all points
                (or one per point ``(N,)``, e.g. per load path in training).

        Returns:
            The ``(N,)`` mask of flagged points: the next update solves them with the full
            RVE, so the macro Newton must iterate again.
        """
        strain = np.asarray(strain, dtype=float)
        reference = np.broadcast_to(np.asarray(reference_stress, dtype=float), (len(strain),))
        clock = _Clock(self.stats)
        idx_all = np.flatnonzero(trial["reduced"] > 0)
        flagged = np.zeros(len(strain), dtype=bool)
        answers = np.empty((len(strain), self.n))  # Σ_ECM of the reduced points
        largest = 0.0
        for start in range(0, idx_all.size, CHECK_CHUNK):
            idx = idx_all[start:start + CHECK_CHUNK]
            errors, answers[idx], records = self.galerkin.reconstruct(
                strain[idx], take(state, idx, self._checked_keys), trial["w"][idx] @ self.basis, reference[idx])
            eta = state["indicator"][idx] + errors
            largest = max(largest, float(eta.max(initial=0.0)))
            put({k: trial[k] for k in records}, idx, records)
            trial["indicator"][idx] = eta
            # a first check flags with a margin, so that borderline points need no second round
            limit = np.where(trial["reduced"][idx] == CHECKED, 1.0, FIRST_CHECK_MARGIN) * self.tolerance
            flagged[idx] = self.fallback & (self.safety * eta > limit)
        trial["forced"][flagged] = 1.0
        trial["reduced"][idx_all[~flagged[idx_all]]] = CHECKED
        room = MAX_FALLBACK_PATHS - len(self.fallback_paths)
        self.fallback_paths += [[state["E"][i].copy(), strain[i].copy()] for i in np.flatnonzero(flagged)[:room]]
        clock("check_s")
        audit = self._audit(strain, state, answers, idx_all[~flagged[idx_all]], reference)
        clock("audit_s")
        last = {"checked": int(idx_all.size), "flagged": int(flagged.sum()), "max_indicator": largest, **audit}
        self.stats["checked"] += last["checked"]
        self.stats["flagged"] += last["flagged"]
        self.stats["max_indicator"] = max(self.stats["max_indicator"], largest)
        self.stats["last"] = {**self.stats["last"], **last}
        return flagged

    def _audit(self, strain, state: dict, answers, candidates, reference) -> dict:
        """Solve ``audit`` random reduced points with the full RVE (to ``AUDIT_RTOL`` times
        the tolerance); the errors of the reduced answers (relative to ``max(‖Σ‖, σ_ref)``,
        ``reference`` ``(N,)``) go into the stats (the answers are not changed)."""
        k = min(self.audit, candidates.size)
        if k == 0:
            return {}
        # seeded by the points' strains: the same picks in a run restarted from a checkpoint
        rng = np.random.default_rng(np.frombuffer(np.float64(strain[candidates].sum()).tobytes(), np.uint32))
        pick = np.sort(rng.choice(candidates, size=k, replace=False))
        rve_state = {key: v[pick] for key, v in state.items() if key not in _RECORD}
        with newton_tolerance(self.rve, max(AUDIT_RTOL * self.tolerance, self.rve.micro_newton.rtol)):
            exact, _, _ = self.rve.update(strain[pick], rve_state, need_tangent=False)
        reduced = answers[pick]
        scale = np.maximum(np.linalg.norm(exact, axis=1), reference[pick])
        errors = np.linalg.norm(reduced - exact, axis=1) / np.maximum(scale, 1e-300)
        s = self.stats
        s["audited"] += k
        s["audit_above"] += int((errors > self.tolerance).sum())
        s["audit_max_error"] = max(s["audit_max_error"], float(errors.max()))
        s["audit_bound"] = clopper_pearson_upper(s["audit_above"], s["audited"])
        return {"audited": k, "audit_max_error": float(errors.max()), "audit_bound": s["audit_bound"]}

    def average_history(self, state: dict, key: str, tag: int | None = None) -> npt.NDArray[np.float64]:
        """:meth:`RVE.average_history <dolfinx_multiscale.cell.rve.RVE.average_history>`."""
        return self.rve.average_history(state, key, tag)

    @property
    def n_dofs(self) -> int:
        """Dofs of the full RVE."""
        return self.rve.n_dofs

    # -- one point (load_path) ---------------------------------------------------------------
    @property
    def committed_state(self) -> dict:
        """The committed state of the single point of :meth:`solve` (a full RVE state)."""
        return self._committed

    @committed_state.setter
    def committed_state(self, state: dict) -> None:
        base = take(self.initial_state(1), 0)
        self._committed = {k: np.asarray(state.get(k, v)) for k, v in base.items()}
        self._trial = None

    def solve(self, E: npt.ArrayLike, tangent: bool = True, warm_start: bool = False,
              approximate_tangent: bool = False, initial_guess: dict | None = None):
        """One point from the committed state, checked at once (the RVE's ``solve``
        signature; the reduced model's tangent is exact for it, so ``approximate_tangent``
        changes nothing). The check's ``σ_ref`` is :attr:`reference_stress`.

        Returns:
            ``(Σ (n,), C (n, n) | None)``; the trial state is kept for :meth:`commit`.
        """
        E = np.asarray(E, dtype=float).reshape(1, -1)
        state = repeat(self._committed, 1)
        start = initial_guess if initial_guess is not None else (self._trial if warm_start else None)
        sigma, C, new = self.update(E, state, bool(tangent), guess=None if start is None else repeat(start, 1))
        if new["reduced"][0] > 0 and self.check_converged(E, state, new, self.reference_stress)[0]:
            sigma, C, new = self.update(E, state, bool(tangent), guess=new)
        self._trial = take(new, 0)
        self.newton_iterations = int(self._trial["newton_iterations"])
        return sigma[0], (C[0] if tangent else None)

    #: ``σ_ref`` of the single-point :meth:`solve`'s check (0: relative to ``‖Σ‖``)
    reference_stress = 0.0

    def commit(self) -> None:
        """Accept the last :meth:`solve`."""
        if self._trial is None:
            raise RuntimeError("nothing to commit: call solve() first")
        self._committed = self._trial

    def _last(self) -> dict:
        if self._trial is None:
            raise RuntimeError("no solve yet: call solve(E) first")
        return self._trial

    def step_dissipation(self) -> float:
        """``⟨D⟩`` of the last solve from the committed state."""
        return float(self._last()["step_dissipation"])

    def free_energy(self) -> float:
        """``⟨ψ⟩`` of the last solve."""
        return float(self._last()["free_energy"])

    def average_sigma33(self) -> float:
        """``Σ33`` of the last solve (plane strain)."""
        return float(self._last()["sigma33"])

    def mean_plastic_strain(self) -> float:
        """``⟨p⟩`` of the last solve."""
        return float(self.average_history(repeat(self._last(), 1), "p")[0])

    def hill_mandel_residual(self) -> float:
        """:meth:`CellResponse.hill_mandel_residual
        <dolfinx_multiscale.cell.response.CellResponse.hill_mandel_residual>` of the last
        solve (its full fields re-evaluated)."""
        trial, rve = self._last(), self.rve
        eps = rve.batched_cell.strains(trial["E"][None], trial["w"][None])[0]
        sigma, _, history, sigma33 = rve.laws.update(eps, self._committed, False)
        return CellResponse(rve.discretisation, rve.laws, trial["E"], trial["w"], eps, sigma, sigma33,
                            history).hill_mandel_residual()

    # -- training and storage ----------------------------------------------------------------
    @classmethod
    def train(cls, rve, tolerance: float = 1e-3, **options) -> ReducedRVE:
        """A model of ``rve`` trained by :func:`~.training.train` (its arguments)."""
        return train(cls, rve, tolerance, **options)

    def save(self, path) -> Path:
        """Write the model (basis, cubature, tolerance, safety and the check's CG iterations,
        training ranges and info) to ``path`` (``.npz``)."""
        path = Path(path)
        np.savez(path, basis=self.basis, points=self.points, weights=self.weights, tolerance=self.tolerance,
                 safety=self.safety, check_iterations=self.check_iterations,
                 strain_range=np.nan if self.strain_range is None else self.strain_range,
                 history_range=json.dumps(self.history_range), info=json.dumps(self.info),
                 signature=_signature(self.rve))
        return path

    @classmethod
    def load(cls, path, rve) -> ReducedRVE:
        """A model written by :meth:`save`, for ``rve`` (the same cell and materials); a file
        without ``history_range`` (older versions) loads without the history range check, one
        without ``check_iterations`` with ``galerkin.CG_ITERATIONS`` (what it was trained with).

        Raises:
            ValueError: not a model file, or one trained on another cell.
        """
        try:
            data = np.load(Path(path))
            keys = set(data.files)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a reduced RVE model (.npz of ReducedRVE.save): {exc}") from None
        with data:
            missing = {"basis", "points", "weights", "tolerance", "safety", "signature"} - keys
            if missing:
                raise ValueError(f"{path}: not a reduced RVE model of this version (missing {sorted(missing)})")
            mine, theirs = _signature(rve), data["signature"]
            if theirs.shape != mine.shape or not np.allclose(theirs, mine, rtol=1e-10, atol=0):
                raise ValueError(f"{path}: the model was trained on another cell (dofs, points, phase volumes "
                                 f"{theirs.tolist()}); this RVE has {mine.tolist()}")
            strain_range = float(data["strain_range"])
            return cls(rve, data["basis"], float(data["tolerance"]), float(data["safety"]),
                       json.loads(str(data["info"])), orthonormalize=False,
                       cubature=(data["points"], data["weights"]),
                       strain_range=None if np.isnan(strain_range) else strain_range,
                       history_range=json.loads(str(data["history_range"])) if "history_range" in keys else None,
                       check_iterations=int(data["check_iterations"]) if "check_iterations" in keys else CG_ITERATIONS)


def clopper_pearson_upper(above: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound on a proportion: with ``above`` of ``trials``
    audited answers above the tolerance, the share of all answers above it is below the
    returned value with probability ``confidence`` (1 when nothing was audited):
    ``B⁻¹(confidence; above + 1, trials − above)``, ``B`` the beta distribution."""
    from scipy.special import betaincinv  # the beta quantile (scipy.stats costs 0.7 s to import)

    if above >= trials:
        return 1.0
    return float(betaincinv(above + 1, trials - above, confidence))


def _signature(rve) -> npt.NDArray[np.float64]:
    """What identifies a cell for a saved model: dofs, micro points, volume per phase."""
    disc = rve.discretisation
    return np.array([rve.n_dofs, disc.n_points] + [disc.weights[idx].sum() for _, idx in
                                                   sorted(disc.phase_points.items())], dtype=float)


def _fresh_stats() -> dict:
    return {"updates": 0, "shortcut": 0, "reduced": 0, "fallback": 0, "uncovered": 0, "checked": 0, "flagged": 0,
            "max_indicator": 0.0, "audited": 0, "audit_above": 0, "audit_max_error": 0.0, "audit_bound": 1.0,
            **dict.fromkeys(TIMES, 0.0), "last": {}}


class _Clock:
    """Adds the seconds since the last call (or creation) to ``stats[key]``."""

    def __init__(self, stats: dict):
        self.stats, self.start = stats, time.perf_counter()

    def __call__(self, key: str) -> None:
        now = time.perf_counter()
        self.stats[key] += now - self.start
        self.start = now
