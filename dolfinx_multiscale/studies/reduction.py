"""Reduced-order RVEs with error control: a POD–Galerkin cell that falls back to the full RVE.

**Model.** The fluctuation of a small-strain cell is sought in the span of ``r``
orthonormal modes, ``w = Φ q`` (``Φ`` ``(n_dofs, r)``): the ``n`` elastic unit
fluctuations (so a linear cell is exact with ``n = d(d+1)/2`` modes) and the proper
orthogonal decomposition (POD) of fluctuation snapshots of the full RVE along training
load paths (Sirovich 1987; for cell problems Yvonnet & He, JCP 2007; Hernández, Oliver,
Huespe, Caicedo & Cante, CMAME 2014). Every mode satisfies the boundary condition (they
are combinations of solutions), so the reduced problem is the Galerkin projection

    Φᵀ ∫_Y Bᵀ σ(E + B Φ q) dx = 0,

solved by Newton with ``K_q = (BΦ)ᵀ D (BΦ)`` for all reduced points of a rank at once
(one vectorised law call per phase and iteration, batched ``r × r`` solves). The micro
history is integrated at every micro point, so a point's state is a full RVE state and
the macro tangent is the condensed ``C = ⟨D⟩ − |Y|⁻¹ Hᵀ K_q⁻¹ G`` (``G = (BΦ)ᵀ D``,
``H = (BΦ)ᵀ Dᵀ``). Points whose increment is elastic everywhere take the RVE's exact
elastic shortcut first.

**Error control.** For the reduced solution, the full-order residual ``R = Pᵀ Bᵀ σ`` is
computed (it is what the reduced model neglects), its Newton correction
``δw ≈ −K̃_t⁻¹ R`` (``CG_ITERATIONS`` conjugate-gradient iterations on the point's tangent
operator, preconditioned by the elastic ``K̃``: one sparse LU for the cell's lifetime, all
points at once) and the first-order stress error ``ΔΣ = ⟨D B δw⟩``. The step's indicator
is ``‖ΔΣ‖ / ‖Σ‖``; since an error left in the micro history stays in later answers, a
point's indicator ``η`` accumulates it over the steps it was answered by the reduced
model (it is part of the state, committed and rolled back with it). Training measures
on held-out paths how far the true error exceeds ``η`` and stores a safety factor ``s``
(the largest ratio, at least 1); online a point with ``s η > tolerance`` is solved with
the full RVE (started from the reduced fluctuation) and adds nothing to its ``η``. A point
that fell back continues from its full state; a point that returns to the reduced model
starts from the projection of its state.

:class:`ReducedRVE` follows the material protocol (``FE2Material(reduced, mesh)``) and the
single-point API of :func:`~dolfinx_multiscale.studies.loading.load_path`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..cell.response import CellResponse
from ..cell.rve import NO_TANGENT, elastic_shortcut
from ..kinematics import SMALL_STRAIN
from ..materials.protocol import put, repeat, take
from .loading import load_path
from .snapshots import fluctuation_snapshots, pod_basis, random_paths, strain_steps

__all__ = ["ReducedRVE"]

_log = logging.getLogger(__name__)
#: macro points evaluated together by the reduced Newton (bounds the memory of the tangents)
CHUNK = 64
#: reduced Newton iterations before a point is handed to the full RVE
MAX_ITERATIONS = 25
#: preconditioned CG iterations of the error indicator's correction
CG_ITERATIONS = 8
#: per-point records of the reduced model kept in the state next to the RVE's
_RECORD = ("indicator", "reduced")


class ReducedRVE:
    """A POD–Galerkin reduction of an RVE with an error indicator and full-RVE fallback.

    Build it with :meth:`train` (or :meth:`load` a trained one); the constructor takes a
    basis directly (e.g. the full space, for checks).

    Args:
        rve: the full :class:`~dolfinx_multiscale.cell.rve.RVE` (serial, small strain); it
            solves the fallback points.
        basis: fluctuation modes ``(n_dofs, r)`` (local dofs of the full space, each
            satisfying the boundary condition); orthonormalized here.
        tolerance: the relative error of ``Σ`` allowed without fallback (0: every
            point not solved by the elastic shortcut is solved by the full RVE).
        safety: the factor ``s`` of the fallback test ``s η > tolerance`` (from training).
        info: training record (samples, modes, times, effectivities), kept for reports.
        orthonormalize: make the basis orthonormal (QR, dropping dependent columns);
            ``False`` for a basis that already is (a saved model: bit-identical answers).

    Attributes:
        rve, basis, tolerance, safety, info: as given (``basis`` orthonormal).
        stats: cumulative counts ``{"updates", "shortcut", "reduced", "fallback",
            "max_indicator"}`` and ``"last"``, the same for the last update.
        fallback: solve points above the tolerance with the full RVE (``False`` only to
            measure the reduced model itself).
        shortcut: take the RVE's exact elastic shortcut first (``False`` only to measure
            the reduced model itself).
    """

    def __init__(self, rve, basis: npt.ArrayLike, tolerance: float, safety: float = 1.0, info: dict | None = None,
                 orthonormalize: bool = True):
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
        self.info = dict(info or {})
        self.kinematics, self.dim, self.n, self.comm = rve.kinematics, rve.dim, rve.n, rve.comm
        self.is_linear, self.spd_tangent, self.varying_tangent = False, rve.spd_tangent, rve.varying_tangent
        disc = rve.discretisation
        self._cell = cell = rve.batched_cell
        N, n, r = disc.n_points, self.n, self.basis.shape[1]
        self._BPhi = np.asarray(cell.B @ self.basis).reshape(N, n, r)  # strain of every mode at every point
        self._wBPhi = disc.weights[:, None, None] * self._BPhi
        self._K_elastic: npt.NDArray[np.float64] | None = None  # the elastic K_q (r, r)
        self._committed = take(rve.initial_state(1), 0)
        self._trial: dict | None = None
        self.newton_iterations = 0
        self.fallback = self.shortcut = True
        self.stats = _fresh_stats()

    @property
    def modes(self) -> int:
        """Number of modes ``r``."""
        return self.basis.shape[1]

    # -- the material protocol ------------------------------------------------------------
    def initial_state(self, n_points: int) -> dict:
        """The RVE's virgin state of ``n_points`` points plus ``"indicator"`` (``η``, the
        error indicator accumulated over the point's reduced steps) and ``"reduced"`` (1
        where the reduced model answered the last update), each ``(N,)``."""
        return {**self.rve.initial_state(n_points), **{k: np.zeros(n_points) for k in _RECORD}}

    def update(self, strain: npt.ArrayLike, state: dict, need_tangent: bool = True, out: dict | None = None,
               guess: dict | None = None):
        """The homogenized response at ``N`` points (the material protocol).

        Elastic increments by the RVE's exact shortcut; the others by the reduced model,
        and those whose indicator exceeds the tolerance by the full RVE (from the reduced
        fluctuation). Same arguments and returns as
        :meth:`RVE.update <dolfinx_multiscale.cell.rve.RVE.update>`.
        """
        strain = np.asarray(strain, dtype=float)
        if strain.ndim != 2 or strain.shape[1] != self.n:
            raise ValueError(f"strain must have shape (N, {self.n}); got {strain.shape}")
        N = len(strain)
        sigma = np.empty((N, self.n))
        tangent = np.empty((N, self.n, self.n)) if need_tangent else None
        new = out if out is not None and out is not state else {k: np.empty_like(v) for k, v in state.items()}
        accepted = (elastic_shortcut(self.rve, strain, state, new, sigma, tangent) if self.shortcut
                    else np.zeros(N, dtype=bool))
        new["indicator"][accepted] = state["indicator"][accepted]  # exact: no new error
        new["reduced"][accepted] = 0.0
        without_W = {k: v for k, v in new.items() if k != "W"}
        rest = np.flatnonzero(~accepted)
        eta = np.zeros(rest.size)
        for start in range(0, rest.size, CHUNK):
            idx = rest[start:start + CHUNK]
            start_w = (guess or state)["w"][idx]
            if guess is None:  # first-order predictor from the committed state
                start_w = start_w + (strain[idx] - state["E"][idx]) @ self.rve.initial_tangent()[1]
            rec, C, local = self._solve_reduced(strain[idx], take(state, idx), start_w)
            eta[start:start + CHUNK] = state["indicator"][idx] + local
            sigma[idx] = rec["Sigma"]
            if need_tangent:
                tangent[idx] = C
            zeros = np.zeros(idx.size)
            put(without_W, idx, {**rec, "elastic_shortcut": zeros, "tangent_kind": zeros + NO_TANGENT,
                                 "indicator": eta[start:start + CHUNK], "reduced": zeros + 1})
        full = rest[self.safety * eta > self.tolerance] if self.fallback else rest[:0]
        if full.size:  # the full RVE from the reduced fluctuation
            rve_state = {k: v[full] for k, v in state.items() if k not in _RECORD}
            s, C, rec = self.rve.update(strain[full], rve_state, need_tangent,
                                        guess={**take(new, full), "tangent_kind": np.full(full.size, NO_TANGENT)})
            sigma[full] = s
            if need_tangent:
                tangent[full] = C
            put(new, full, {**rec, "indicator": state["indicator"][full], "reduced": np.zeros(full.size)})
        last = {"shortcut": int(accepted.sum()), "reduced": int(rest.size - full.size), "fallback": int(full.size),
                "max_indicator": float(eta.max(initial=0.0))}
        for key in ("shortcut", "reduced", "fallback"):
            self.stats[key] += last[key]
        self.stats["updates"] += 1
        self.stats["max_indicator"] = max(self.stats["max_indicator"], last["max_indicator"])
        self.stats["last"] = last
        return sigma, tangent, new

    def _solve_reduced(self, E, committed: dict, w_start):
        """Reduced Newton for ``M`` points from fluctuations ``w_start`` ``(M, n_dofs)``.

        Returns:
            ``(records, C (M, n, n), η (M,))``: the new state entries and ``"Sigma"``.
        """
        cell, rve = self._cell, self.rve
        disc, laws = rve.discretisation, rve.laws
        M, n = E.shape
        Phi, BPhi, wBPhi = self.basis, self._BPhi, self._wBPhi
        q = w_start @ Phi
        rtol = max(cell.rtol, 1e-14)
        it, active = 0, np.ones(M, dtype=bool)
        while True:
            eps = E[:, None, :] + (q @ BPhi.reshape(-1, BPhi.shape[2]).T).reshape(M, -1, n)
            sigma, D, history, sigma33 = laws.evaluate_many(eps, committed)
            r_q = sigma.reshape(M, -1) @ wBPhi.reshape(-1, wBPhi.shape[2])
            reduced, residual, scale = cell.residuals(sigma)
            active = ~(np.linalg.norm(r_q, axis=1) <= rtol * scale)
            if not active.any() or it == MAX_ITERATIONS:
                break
            q[active] -= np.linalg.solve(self._project(D[active]), r_q[active][..., None])[..., 0]
            it += 1
        if active.any():  # not converged: the full RVE takes these points (η = ∞)
            _log.debug("reduced Newton: %d of %d points not converged in %d iterations", active.sum(), M, it)
        w = q @ Phi.T
        # error indicator: the Newton correction of the full residual (a few preconditioned
        # CG iterations with the points' tangents), as a stress error
        delta = (cell.Pt.T @ self._correction(D, -reduced)).T  # (M, n_dofs)
        d_eps = (cell.B @ delta.T).T.reshape(M, -1, n)
        Sigma = np.einsum("mpi,p->mi", sigma, disc.weights) / disc.volume
        dSigma = np.einsum("p,mpij,mpj->mi", disc.weights, D, d_eps) / disc.volume
        eta = np.linalg.norm(dSigma, axis=1) / np.maximum(np.linalg.norm(Sigma, axis=1), 1e-300)
        eta[active | ~np.isfinite(eta)] = np.inf
        # condensed tangent of the reduced model
        K_q = self._project(D)
        wB = wBPhi.reshape(-1, wBPhi.shape[2]).T  # (r, N n)
        G = wB @ D.reshape(M, -1, n)
        H = wB @ D.transpose(0, 1, 3, 2).reshape(M, -1, n)
        C = np.einsum("p,mpij->mij", disc.weights, D) / disc.volume
        C -= np.einsum("mri,mrj->mij", H, np.linalg.solve(K_q, G)) / disc.volume
        records = cell.point_records(committed, E, w, eps, sigma, history, sigma33, np.full(M, it, dtype=float),
                                     residual, scale)
        return records, C, eta

    def _correction(self, D: npt.NDArray[np.float64], rhs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``K̃_t⁻¹ rhs`` ``(n_reduced, M)`` approximately: ``CG_ITERATIONS`` conjugate-gradient
        iterations on each point's tangent operator ``Pᵀ Bᵀ W D B P``, preconditioned by the
        elastic ``K̃`` (one sparse LU for all points; the two differ in the plastic zone
        only, so few iterations capture the softening the elastic solve alone misses)."""
        cell = self._cell
        M = D.shape[0]

        def apply(x):  # the tangent operator on the columns of x
            strain = (cell.B @ (cell.Pt.T @ x)).T.reshape(M, -1, D.shape[-1], 1)
            return cell.Pt @ (cell.BtW @ np.matmul(D, strain).reshape(M, -1).T)

        x = np.zeros_like(rhs)
        r = rhs.copy()
        z = cell.elastic_solve(r)
        p = z.copy()
        rz = np.einsum("im,im->m", r, z)
        for _ in range(CG_ITERATIONS):
            Ap = apply(p)
            alpha = rz / np.where(np.einsum("im,im->m", p, Ap) != 0, np.einsum("im,im->m", p, Ap), 1.0)
            x += alpha * p
            r -= alpha * Ap
            z = cell.elastic_solve(r)
            rz_new = np.einsum("im,im->m", r, z)
            p = z + (rz_new / np.where(rz != 0, rz, 1.0)) * p
            rz = rz_new
        return x

    def _project(self, D: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``K_q = (BΦ)ᵀ W D (BΦ)`` ``(M, r, r)`` for point tangents ``D`` ``(M, N, n, n)``:
        the elastic ``K_q`` (computed once) plus the contributions of the points whose
        tangent differs from the elastic one (the plastic zone)."""
        N, n, r = self._BPhi.shape
        D_el = self.rve.initial_tangent()[2]
        if self._K_elastic is None:
            self._K_elastic = self._wBPhi.reshape(N * n, r).T @ np.matmul(D_el, self._BPhi).reshape(N * n, r)
        out = np.repeat(self._K_elastic[None], len(D), axis=0)
        dD = D - D_el
        for m in range(len(D)):
            p = np.flatnonzero(np.abs(dD[m]).max(axis=(1, 2)) > 0)
            if p.size:
                out[m] += self._wBPhi[p].reshape(-1, r).T @ np.matmul(dD[m, p], self._BPhi[p]).reshape(-1, r)
        return out

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
        """One point from the committed state (the RVE's ``solve`` signature; the reduced
        model's tangent is exact for it, so ``approximate_tangent`` changes nothing).

        Returns:
            ``(Σ (n,), C (n, n) | None)``; the trial state is kept for :meth:`commit`.
        """
        E = np.asarray(E, dtype=float).reshape(1, -1)
        state = repeat(self._committed, 1)
        start = initial_guess if initial_guess is not None else (self._trial if warm_start else None)
        sigma, C, new = self.update(E, state, bool(tangent), guess=None if start is None else repeat(start, 1))
        self._trial = take(new, 0)
        self.newton_iterations = int(self._trial["newton_iterations"])
        return sigma[0], (C[0] if tangent else None)

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
        solve (its fields re-evaluated)."""
        trial, rve = self._last(), self.rve
        eps = self._cell.strains(trial["E"][None], trial["w"][None])[0]
        sigma, _, history, sigma33 = rve.laws.update(eps, self._committed, False)
        return CellResponse(rve.discretisation, rve.laws, trial["E"], trial["w"], eps, sigma, sigma33,
                            history).hill_mandel_residual()

    # -- training and storage ----------------------------------------------------------------
    @classmethod
    def train(cls, rve, tolerance: float = 1e-3, strain_amplitude: float | None = None, paths: int = 24,
              steps: int = 6, seed: int = 0, validation_paths: int = 4, user_paths: list | None = None,
              max_modes: int | None = None) -> ReducedRVE:
        """Sample ``rve`` along load paths and build the reduced model with its safety factor.

        Args:
            rve: the full RVE (serial, inelastic, small strain); left at its virgin state.
            tolerance: relative error of ``Σ`` allowed without fallback; also sets the POD
                truncation (the POD modes of the snapshots outside the elastic modes, until
                what is left carries at most ``tolerance²`` of the snapshots' energy).
            strain_amplitude: the largest macro strain the model will see (Mandel norm);
                required unless ``user_paths`` are given alone.
            paths: random training paths (half proportional load–unload, half
                non-proportional: to one direction, then another, then back to 0). The
                coverage decides how often points fall back: on the 1 636-dof J2 cell at
                tolerance 1e-3, 8 paths left 62 % of the FE² point updates to the full
                RVE, 24 paths 8 %.
            steps: steps per path segment.
            seed: of the random paths (validation paths use ``seed + 1``).
            validation_paths: held-out random paths on which the indicator's
                effectivity (true error / η) is measured; the safety factor is its
                largest value (at least 1).
            user_paths: more training paths, lists of Mandel strains ``(n,)`` (one per
                step, strain-controlled).
            max_modes: bound on the number of modes.

        Returns:
            The :class:`ReducedRVE`; ``info`` holds ``samples``, ``modes``, ``training_s``,
            ``effectivity`` (per validation step) and ``safety``.
        """
        if strain_amplitude is None and not user_paths:
            raise ValueError("give strain_amplitude (the largest Mandel strain norm to cover) or user_paths")
        if strain_amplitude is not None and not (np.isfinite(strain_amplitude) and strain_amplitude > 0):
            raise ValueError(f"strain_amplitude must be a finite number > 0; got {strain_amplitude!r}")
        t0 = time.perf_counter()
        training = (random_paths(rve.n, strain_amplitude, paths, steps, seed) if strain_amplitude else [])
        training += [[np.asarray(E, dtype=float) for E in path] for path in (user_paths or [])]
        S = fluctuation_snapshots(rve, training)
        model = cls(rve, pod_basis(S, rve.initial_tangent()[1].T, tolerance, max_modes), tolerance)
        ratios = model.effectivity(random_paths(rve.n, strain_amplitude, validation_paths, steps, seed + 1)
                                   if strain_amplitude else [])
        safety = max(1.0, float(np.max(ratios))) if ratios.size else 1.0
        model.safety = safety
        model.info = {"samples": int(S.shape[1]), "training_paths": len(training), "modes": model.modes,
                      "training_s": time.perf_counter() - t0, "effectivity": ratios.tolist(), "safety": safety}
        _log.info("reduced RVE: %d snapshots from %d paths, %d modes, safety %.2f, %.1f s", S.shape[1],
                  len(training), model.modes, safety, model.info["training_s"])
        return model

    def effectivity(self, paths: list) -> npt.NDArray[np.float64]:
        """The indicator's effectivity: the true relative error of ``Σ`` over ``η`` at every
        step of ``paths`` (lists of Mandel strains ``(n,)``), the reduced model without
        fallback against the full RVE; steps with a true error below 1e-12 are skipped.
        Leaves both at the virgin state and the counters at zero."""
        rve, ratios = self.rve, []
        virgin = take(rve.initial_state(1), 0)
        self.fallback = False
        try:
            for path in paths:
                rve.committed_state = virgin
                full = load_path(rve, strain_steps(path, self.n), progress=False)
                self.committed_state = virgin
                for E, record in zip(path, full):
                    Sigma, _ = self.solve(E, tangent=False)
                    self.commit()
                    reference = np.asarray(record["Sigma"])
                    error = np.linalg.norm(Sigma - reference) / max(np.linalg.norm(reference), 1e-300)
                    eta = float(self._trial["indicator"])
                    if error > 1e-12 and eta > 0:
                        ratios.append(error / eta)
        finally:
            self.fallback = True
            rve.committed_state = virgin
            self.committed_state = virgin
            self.stats = _fresh_stats()  # count online use only
        return np.asarray(ratios)

    def save(self, path) -> Path:
        """Write the model (basis, tolerance, safety, training info) to ``path`` (``.npz``)."""
        path = Path(path)
        np.savez(path, basis=self.basis, tolerance=self.tolerance, safety=self.safety,
                 info=json.dumps(self.info), n_dofs=self.rve.n_dofs)
        return path

    @classmethod
    def load(cls, path, rve) -> ReducedRVE:
        """A model written by :meth:`save`, for ``rve`` (the same cell and materials).

        Raises:
            ValueError: the basis does not fit ``rve``.
        """
        with np.load(Path(path)) as data:
            if int(data["n_dofs"]) != rve.n_dofs:
                raise ValueError(f"{path}: the model was trained on a cell with {int(data['n_dofs'])} dofs; "
                                 f"this RVE has {rve.n_dofs}")
            return cls(rve, data["basis"], float(data["tolerance"]), float(data["safety"]),
                       json.loads(str(data["info"])), orthonormalize=False)


def _fresh_stats() -> dict:
    return {"updates": 0, "shortcut": 0, "reduced": 0, "fallback": 0, "max_indicator": 0.0, "last": {}}
