r"""Many macro points of one serial cell at once: the elastic check of FE².

Every macro point of a rank shares the cell's mesh, forms and boundary condition, so the
linear maps of the cell problem can act on all of them together:

* ``B`` — the generalized strain at the quadrature points from the fluctuation dofs,
  ``ε = E + B w`` (a sparse ``(N n, n_dofs)`` matrix tabulated once with a UFL
  expression of a trial function);
* ``Bᵀ W`` — the internal force ``r = Σ_p w_p B_pᵀ σ_p`` from the point stresses;
* ``Pᵀ`` — its restriction to the unknowns of the boundary condition.

**The elastic check.** With the elastic unit fluctuations ``W_k`` (one factorization
for all points), the cell's strain localization ``A_p = I + B_p W`` (micro strain per
unit macro strain at every point) is fixed. From a committed state ``(E_n, w_n, Σ_n)``
in equilibrium, a macro strain increment ``ΔE`` that leaves every micro point elastic
has the exact solution

.. math::

    w = w_n + Σ_k ΔE_k W_k, \qquad ε = ε_n + A ΔE, \qquad Σ = Σ_n + C_eff ΔE,

and the macro tangent ``C_eff``. :meth:`BatchedCell.elastic_candidates` therefore needs
only the strains at the points of the inelastic phases (the rows of ``B`` of those
points, ``ε = E + B_ph w``) and each law's ``elastic_trial`` there (J2: the trial yield
function); the linear phases need nothing. The point's records follow in closed form,
exact for an elastic step up to the committed residual's share (``|Y|⁻¹ (Pᵀ r_n)·W̃ ΔE``):
``⟨ψ⟩ = ψ_n + Σ_n·ΔE + ½ ΔE·C_eff ΔE``, the micro work ``Σ·ΔE`` (Hill–Mandel), ``⟨σ33⟩ =
Σ33_n + c33·ΔE``, no dissipation. About 35 µs per macro point on a 1 636-dof cell with
1 075 J2 points, a tenth of evaluating every law with its tangent on the whole cell
(``benchmarks/README.md``).

**The committed residual.** The candidate inherits the committed projected residual:
``Pᵀ r = Pᵀ r_n + Pᵀ R ΔE`` with ``R = Bᵀ W D A`` (the internal force of the elastic
unit fields; ``Pᵀ R`` is zero up to the solver's round-off). The micro Newton accepts
``‖Pᵀ r‖ ≤ max(rtol, 1e-14) max(‖r‖, f₀)``; each state stores both sides at its solution,
``"residual"`` ``ρ_n`` and ``"residual_scale"`` ``s_n``, so the check bounds them
without the cell's stresses: ``‖Pᵀ r‖ ≤ ρ_n + ‖Pᵀ R‖₂ ‖ΔE‖`` and
``max(‖r‖, f₀) ≥ max(s_n − ‖R‖₂ ‖ΔE‖, |Y| ‖Σ‖ / ‖x − x_c‖, f₀)``, the last from the
identity ``|Y| Σ = Σ_a r_a ⊗ (x_a − x_c)`` over the dofs (internal forces and positions;
exact for Lagrange elements, which reproduce linear fields). An accepted point stores
these bounds. An elastic point whose bounds do not pass (e.g. unloading shrinks ``‖r‖``
under an inherited residual) goes to the full evaluation below, like every point of a
cell with a law without ``elastic_trial``.

**The full evaluation** (:meth:`BatchedCell.full_candidates`): the candidate's strains
at all points, one vectorised call of each phase's law with tangents, residuals; a point
is accepted when the micro Newton would have accepted it: every micro tangent is the
elastic one and its projected residual is below the tolerance. An elastic point above it
gets the micro Newton's one iteration with the elastic operator, batched (one sparse Cholesky
factorization of the elastic ``K̃`` for the cell's lifetime, all right-hand sides at once). The other
points (yielding somewhere) go to the micro Newton one by one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

import dolfinx.fem as fem
import ufl

from ..linalg import SparseCholesky
from .discretisation import CellDiscretisation
from .phases import PhaseLaws

__all__ = ["BatchedCell"]

#: macro points evaluated together by the full evaluation (bounds the memory of the micro
#: point arrays)
CHUNK = 128
#: macro points checked together (their strains at the checked points stay in cache)
CHECK_CHUNK = 32
#: the share of each checked phase's points tried first by the elastic check: those of the
#: largest elastic strain localization ``‖A_p‖``, where a yielding increment shows first, so
#: that a plastic candidate costs a fraction of the check
SENTINEL_SHARE = 0.1
#: the sentinels are tried first where a phase's strain rows hold at least this many
#: nonzeros per history value of its points: the candidates still elastic after them have
#: their histories gathered for the rest, which costs about what it saves on a 2-D cell
#: (3 per value on the part's triangles; its 512-point FE² step, serial: 0.14-0.18 s in the
#: check against 0.12 s without sentinels) and less on a 3-D one (11 on the 3-D benchmark's
#: tetrahedra; its 64-point step: 0.16 s against 0.23 s)
SENTINEL_MIN_COST = 6
#: the scale of the strain fields at which the out-of-plane row ``c33`` is evaluated:
#: elastic for any yield stress above ~1e-12 of the stiffness, and a power of two, so
#: that the linear response scales back exactly
_PROBE = 2.0**-40


def _strain_matrix(disc: CellDiscretisation) -> sp.csr_matrix:
    """``B``: ``(N n, n_dofs)`` with ``(B w)[p n + a] = B(w)_a`` at point ``p``."""
    V = disc.V
    bs = V.dofmap.index_map_bs
    vals = fem.Expression(disc.kinematics.strain(ufl.TrialFunction(V)), disc.fields.points).eval(
        disc.mesh, disc.cells)  # (cells, points, n, cell dofs)
    nc, nq, n, _ = vals.shape
    cols = (V.dofmap.list[disc.cells][:, :, None] * bs + np.arange(bs)).reshape(nc, -1)
    rows = np.arange(nc * nq * n).reshape(nc, nq, n, 1)
    n_dofs = (V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts) * bs
    return sp.csr_matrix((vals.ravel(), (np.broadcast_to(rows, vals.shape).ravel(),
                                         np.broadcast_to(cols[:, None, None, :], vals.shape).ravel())),
                         shape=(nc * nq * n, n_dofs))


class BatchedCell:
    """The linear maps of a serial cell acting on many macro points (module docstring).

    Args:
        discretisation: the cell's discretisation (on ``MPI.COMM_SELF``).
        laws: its phase laws.
        P: the boundary condition's prolongation (PETSc AIJ, ``(n_dofs, n_reduced)``).
        constraints: the reduced average-strain constraint vectors (SUBC) or ``[]``.
        W_elastic: the elastic unit fluctuations ``(n, n_dofs)`` (full space, one row
            per component of the macro strain).
        D_elastic: the elastic micro tangents ``(N, n, n)``.
        C_elastic: the elastic effective tensor ``C_eff`` ``(n, n)`` (condensed with
            ``W_elastic``).
        rtol: the micro Newton's relative tolerance.
        force_floor: the floor of the residual scale (:mod:`.newton`).

    Attributes:
        checked: the elastic check applies (every inelastic phase's law has
            ``elastic_trial``); else every point takes the full evaluation.
    """

    def __init__(self, discretisation: CellDiscretisation, laws: PhaseLaws, P, constraints: list,
                 W_elastic: npt.NDArray[np.float64], D_elastic: npt.NDArray[np.float64],
                 C_elastic: npt.NDArray[np.float64], rtol: float, force_floor: float = 0.0):
        if discretisation.comm.size != 1:
            raise ValueError("batched evaluation needs a cell on MPI.COMM_SELF")
        self.disc, self.laws = discretisation, laws
        self.n = discretisation.n
        self.B = _strain_matrix(discretisation)
        self.BtW = (self.B.T @ sp.diags(np.repeat(discretisation.weights, self.n))).tocsr()
        indptr, indices, values = P.getValuesCSR()
        self.Pt = sp.csr_matrix((values, indices, indptr), shape=P.getSize()).T.tocsr()
        self._b = np.column_stack([b.array_r for b in constraints]) if constraints else None
        self._elastic_factor = None  # (Cholesky of the elastic K̃, K̃⁻¹ b, (bᵀ K̃⁻¹ b)⁻¹), built on first use
        self.W_elastic, self.C_elastic = W_elastic, C_elastic
        self.D_elastic, self.rtol, self.force_floor = D_elastic, rtol, force_floor
        self._history = list(laws.initial_state())  # the flat history keys
        self._check = self._check_maps() if laws.trial_phases is not None else None
        self.checked = self._check is not None

    def _check_maps(self) -> dict | None:
        """The cell constants of the elastic check (module docstring): in two stages (the
        ``SENTINEL_SHARE`` of each checked phase's points of the largest localization
        ``‖A_p‖_F``, where ``SENTINEL_MIN_COST`` says they pay; then all of them) per
        checked phase the points' positions in the phase (``None``: all) and the rows of
        ``B`` at them (with the identity for ``E`` appended); ``c33``, ``‖Pᵀ R‖₂``, ``‖R‖₂``
        and ``|Y| / ‖x − x_c‖``; ``None`` if the laws are not elastic
        at the probe strain (a yield stress below ~1e-12 of the stiffness)."""
        disc, laws, n = self.disc, self.laws, self.n
        N = disc.n_points
        A = np.eye(n) + (self.B @ self.W_elastic.T).reshape(N, n, n)  # A[p, :, k]: ε_p of E = e_k
        virgin = laws.initial_state()
        c33 = np.empty(n)
        for k in range(n):  # ⟨σ33⟩ of the elastic unit strain fields, from the laws themselves
            _, D, _, sigma33 = laws.update(_PROBE * A[:, :, k], virgin, True)
            if not np.array_equal(D, self.D_elastic):
                return None
            c33[k] = sigma33 @ disc.weights / disc.volume / _PROBE
        R = self.BtW @ np.einsum("pij,pjk->pik", self.D_elastic, A).reshape(N * n, n)  # (n_dofs, n)
        x = disc.V.tabulate_dof_coordinates()[:, :disc.dim] - disc.centre[:disc.dim]

        def rows_at(at):  # [B_ph  I]: the strains ε = E + B_ph w of the points `at` from [w; E] in one product
            rows = (at[:, None] * n + np.arange(n)).ravel()
            unit = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), np.tile(np.arange(n), at.size))),
                                 shape=(rows.size, n))
            return sp.hstack([self.B[rows], unit]).tocsr()

        stages = ([], [])
        for tag in laws.trial_phases:
            points = disc.phase_points[tag]
            order = np.argsort(-np.linalg.norm(A[points], axis=(1, 2)), kind="stable")
            sentinels = np.sort(order[:int(np.ceil(SENTINEL_SHARE * points.size))])
            every = rows_at(points)  # the phase's history is read in place for all of its points (None)
            values = sum(v.size for k, v in virgin.items() if k.startswith(f"{tag}:"))
            if every.nnz >= SENTINEL_MIN_COST * max(values, 1):
                stages[0].append((tag, sentinels, rows_at(points[sentinels])))
            stages[1].append((tag, None, every))
        return {"stages": stages, "c33": c33,
                "residual_growth": np.linalg.norm(self._project(self.Pt @ R), 2),
                "force_growth": np.linalg.norm(R, 2), "force_per_stress": disc.volume / np.linalg.norm(x)}

    def elastic_solve(self, rhs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``δ`` with ``K̃_el δ + b λ = rhs``, ``bᵀ δ = 0`` for the columns of ``rhs``
        ``(n_reduced, M)`` (reduced unknowns; one sparse Cholesky factorization of the elastic
        ``K̃`` for the cell's lifetime, :class:`~dolfinx_multiscale.linalg.SparseCholesky`)."""
        if self._elastic_factor is None:
            N, n = self.disc.n_points, self.n
            weighted = self.disc.weights[:, None, None] * self.D_elastic
            D = sp.bsr_matrix((weighted, np.arange(N), np.arange(N + 1)), shape=(N * n, N * n))
            factor = SparseCholesky(self.Pt @ (self.B.T @ (D @ self.B)) @ self.Pt.T)  # K̃ is SPD
            Z = S_inv = None
            if self._b is not None:
                Z = factor.solve(self._b)
                S_inv = np.linalg.inv(self._b.T @ Z)
            self._elastic_factor = (factor, Z, S_inv)
        factor, Z, S_inv = self._elastic_factor
        delta = factor.solve(rhs)
        if Z is not None:
            delta -= Z @ (S_inv @ (self._b.T @ delta))
        return delta

    def strains(self, E: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``ε = E + B(w)`` at the cell points of ``M`` macro points: ``E`` ``(M, n)``,
        ``w`` ``(M, n_dofs)`` → ``(M, N, n)``."""
        return E[:, None, :] + np.ascontiguousarray((self.B @ w.T).T).reshape(len(E), -1, self.n)

    def _project(self, reduced: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The columns of ``reduced`` ``(n_reduced, M)`` without their part in the span of
        SUBC's constraint vectors (the multipliers' part, as the micro Newton removes it)."""
        if self._b is None:
            return reduced
        b = self._b
        return reduced - b @ np.linalg.solve(b.T @ b, b.T @ reduced)

    def residuals(self, sigma: npt.NDArray[np.float64]) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray, npt.NDArray]:
        """``(r (n_dofs, M), Pᵀ r (n_reduced, M), ‖Pᵀ r‖ projected, max(‖r‖, force floor))``
        per macro point for point stresses ``(M, N, n)``: the internal force ``r = Σ_p w_p
        B_pᵀ σ_p`` (the projection removes the multipliers' part of SUBC, as the micro
        Newton does)."""
        r = self.BtW @ sigma.reshape(len(sigma), -1).T  # (n_dofs, M)
        reduced = self.Pt @ r
        return (r, reduced, np.linalg.norm(self._project(reduced), axis=0),
                np.maximum(np.linalg.norm(r, axis=0), self.force_floor))

    def elastic_candidates(self, strain: npt.NDArray[np.float64], state: dict) -> tuple[npt.NDArray[np.bool_], dict]:
        """The elastic solution of ``M`` macro points, where it is exact (module docstring):
        the elastic check where it applies (:attr:`checked`), the full evaluation
        (:meth:`full_candidates`) for the other points that the check found elastic but
        could not accept (their inherited residual) and for every point of a cell
        without the check.

        Args:
            strain: macro strains ``(M, n)``.
            state: the points' committed RVE states (``"E"``, ``"w"``, the micro history,
                ``"Sigma"``, ``"residual"``, ``"residual_scale"``, ``"free_energy"``,
                ``"sigma33"``).

        Returns:
            ``(accepted (M,) bool, records)``: ``records`` holds, for the accepted points
            in order, the new state entries (``"E"``, ``"w"``, the micro history,
            ``"Sigma"`` ``(K, n)``, ``"free_energy"``, ``"micro_work"``, ``"sigma33"``,
            ``"step_dissipation"``, ``"residual"``, ``"residual_scale"``,
            ``"newton_iterations"``: 0, or 1 after an elastic correction).
        """
        if self._check is None:
            return self.full_candidates(strain, state)
        check, C = self._check, self.C_elastic
        dE = strain - state["E"]
        elastic = np.zeros(len(strain), dtype=bool)
        for start in range(0, len(strain), CHECK_CHUNK):
            rows = slice(start, start + CHECK_CHUNK)
            elastic[rows] = self._elastic_points(strain[rows], dE[rows], {k: v[rows] for k, v in state.items()})
        Sigma = state["Sigma"] + dE @ C.T
        step = np.linalg.norm(dE, axis=1)
        residual = state["residual"] + check["residual_growth"] * step  # upper bound of ‖Pᵀ r‖
        scale = np.maximum(np.maximum(state["residual_scale"] - check["force_growth"] * step,  # lower bound
                                      check["force_per_stress"] * np.linalg.norm(Sigma, axis=1)), self.force_floor)
        accepted = elastic & (residual <= max(self.rtol, 1e-14) * scale)
        idx = np.flatnonzero(accepted)
        dE_a, Sigma_n, zeros = dE[idx], state["Sigma"][idx], np.zeros(idx.size)
        records = {
            "E": strain[idx], "w": state["w"][idx] + dE_a @ self.W_elastic,
            **{k: state[k][idx] for k in self._history}, "Sigma": Sigma[idx],
            "free_energy": (state["free_energy"][idx] + np.einsum("mi,mi->m", Sigma_n, dE_a)
                            + 0.5 * np.einsum("mi,ij,mj->m", dE_a, C, dE_a)),
            "micro_work": np.einsum("mi,mi->m", Sigma[idx], dE_a),
            "sigma33": state["sigma33"][idx] + dE_a @ check["c33"],
            "step_dissipation": zeros, "residual": residual[idx], "residual_scale": scale[idx],
            "newton_iterations": zeros,
        }
        doubtful = np.flatnonzero(elastic & ~accepted)
        if doubtful.size:
            committed = {k: state[k][doubtful] for k in ("E", "w", *self._history)}
            ok, full = self.full_candidates(strain[doubtful], committed)
            if ok.any():  # merged in point order
                order = np.argsort(np.concatenate([idx, doubtful[ok]]))
                records = {k: np.concatenate([records[k], full[k]])[order] for k in full}
                accepted[doubtful[ok]] = True
        return accepted, records

    def _elastic_points(self, E: npt.NDArray[np.float64], dE: npt.NDArray[np.float64], committed: dict
                        ) -> npt.NDArray[np.bool_]:
        """Whether the candidates of ``M`` points (macro strains ``E`` ``(M, n)``, increments
        ``dE``) are elastic at every point of the checked phases, ``(M,)``: the sentinel
        points first, the others only for the candidates still elastic there."""
        n, n_dofs = self.n, self.W_elastic.shape[1]
        x = np.empty((n_dofs + n, len(E)))  # [w; E] of the candidates, one column per point
        np.matmul(self.W_elastic.T, dE.T, out=x[:n_dofs])
        x[:n_dofs] += committed["w"].T
        x[n_dofs:] = E.T
        elastic = np.ones(len(E), dtype=bool)
        live = np.arange(len(E))
        for stage in self._check["stages"]:
            keep = elastic[live]
            if not keep.all():  # only the candidates still elastic go on
                x, committed, live = x[:, keep], {k: committed[k][keep] for k in self._history}, live[keep]
            if live.size == 0:
                break
            for tag, positions, B in stage:
                eps = np.ascontiguousarray((B @ x).T).reshape(live.size, -1, n)  # (M_live, n_points, n)
                elastic[live] &= self.laws.elastic_trial_many(tag, eps, committed, positions)
        return elastic

    def full_candidates(self, strain: npt.NDArray[np.float64], state: dict) -> tuple[npt.NDArray[np.bool_], dict]:
        """The full evaluation of :meth:`elastic_candidates` (module docstring): every law
        with its tangent at every point of the candidate ``w = w_n + Σ_k ΔE_k W_k``.

        Args:
            strain: macro strains ``(M, n)``.
            state: the points' committed RVE states (``"E"``, ``"w"``, the micro history).

        Returns:
            ``(accepted (M,) bool, records)`` as :meth:`elastic_candidates`.
        """
        laws = self.laws
        accepted = np.zeros(len(strain), dtype=bool)
        parts: list[dict] = []
        for start in range(0, len(strain), CHUNK):
            rows = slice(start, start + CHUNK)
            committed = {k: v[rows] for k, v in state.items()}
            E = strain[rows]
            w = committed["w"] + (E - committed["E"]) @ self.W_elastic
            eps = self.strains(E, w)
            sigma, elastic, history, sigma33 = laws.update_many(eps, committed, self.D_elastic)
            force, reduced, res, scale = self.residuals(sigma)
            tol = max(self.rtol, 1e-14) * scale
            ok = elastic & (res <= tol)
            iterations = np.zeros(len(E))
            fix = np.flatnonzero(elastic & ~ok & np.isfinite(res))
            if fix.size:  # one Newton iteration with the elastic operator, batched
                w[fix] += (self.Pt.T @ self.elastic_solve(-reduced[:, fix])).T
                eps[fix] = self.strains(E[fix], w[fix])
                sub = {k: v[fix] for k, v in committed.items()}
                s_fix, e_fix, h_fix, s33_fix = laws.update_many(eps[fix], sub, self.D_elastic)
                force[:, fix], _, r_fix, scale_fix = self.residuals(s_fix)
                sigma[fix], sigma33[fix], res[fix], scale[fix] = s_fix, s33_fix, r_fix, scale_fix
                for k, v in h_fix.items():
                    history[k][fix] = v
                ok[fix] = e_fix & (r_fix <= max(self.rtol, 1e-14) * scale_fix)
                iterations[fix] = 1
            accepted[rows] = ok
            if not ok.any():
                continue
            parts.append(self.point_records({k: v[ok] for k, v in committed.items()}, E[ok], w[ok], eps[ok],
                                            sigma[ok], force[:, ok], {k: v[ok] for k, v in history.items()},
                                            sigma33[ok], iterations[ok], res[ok], scale[ok]))
        return accepted, self.concatenate(parts)

    @staticmethod
    def concatenate(parts: list[dict]) -> dict:
        """One record dict from the record dicts of consecutive chunks (``{}`` if none)."""
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}

    def point_records(self, old: dict, E, w, eps, sigma, force, history: dict, sigma33, iterations, residual,
                      residual_scale) -> dict:
        """The new state entries and results of ``M`` solved macro points.

        Args:
            old: their committed states (arrays ``(M, ...)``).
            E, w: macro strains ``(M, n)`` and fluctuation dofs ``(M, n_dofs)``.
            eps, sigma: point strains and stresses ``(M, N, n)``; ``history`` the new
                micro history ``(M, n_phase, ...)``; ``sigma33`` ``(M, N)``.
            force: their internal forces ``r = Σ_p w_p B_pᵀ σ_p`` ``(n_dofs, M)``
                (:meth:`residuals`): the micro work ``⟨σ·(ε − ε_n)⟩ = Σ·ΔE + |Y|⁻¹ r·Δw``
                without the old strains.
            iterations: Newton iterations per point ``(M,)``.
            residual, residual_scale: the projected residual norms ``‖Pᵀ r‖`` of the
                solutions and their scales ``max(‖r‖, f₀)``, ``(M,)`` each (:meth:`residuals`).

        Returns:
            ``"E"``, ``"w"``, the history, ``"Sigma"`` ``(M, n)``, ``"free_energy"``,
            ``"micro_work"``, ``"sigma33"``, ``"step_dissipation"``, ``"residual"``,
            ``"residual_scale"`` and ``"newton_iterations"`` (each ``(M,)``).
        """
        disc, laws = self.disc, self.laws
        average = lambda f: f @ disc.weights / disc.volume  # noqa: E731  (M, N) → (M,)
        Sigma = np.einsum("mpi,p->mi", sigma, disc.weights) / disc.volume
        return {
            "E": E, "w": w, **history, "Sigma": Sigma,
            "free_energy": average(laws.free_energy_many(eps, history)),
            "micro_work": (np.einsum("mi,mi->m", Sigma, E - old["E"])
                           + np.einsum("im,mi->m", force, w - old["w"]) / disc.volume),
            "sigma33": average(sigma33),
            "step_dissipation": average(laws.dissipation_many(old, history)),
            "residual": np.asarray(residual, dtype=float), "residual_scale": np.asarray(residual_scale, dtype=float),
            "newton_iterations": iterations,
        }
