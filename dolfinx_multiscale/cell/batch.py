"""Many macro points of one serial cell at once: the elastic shortcut of FE².

Every macro point of a rank shares the cell's mesh, forms and boundary condition, so the
linear maps of the cell problem can act on all of them together:

* ``B`` — the generalized strain at the quadrature points from the fluctuation dofs,
  ``ε = E + B w`` (a sparse ``(N n, n_dofs)`` matrix tabulated once with a UFL
  expression of a trial function);
* ``Bᵀ W`` — the internal force ``r = Σ_p w_p B_pᵀ σ_p`` from the point stresses;
* ``Pᵀ`` — its restriction to the unknowns of the boundary condition.

**The elastic shortcut.** From a committed state ``(E_n, w_n)`` in equilibrium, a macro
strain increment that leaves every micro point elastic has the exact solution
``w = w_n + Σ_k ΔE_k W_k`` (``W_k`` the elastic unit fluctuations: one factorization for
all points). :meth:`BatchedCell.elastic_candidates` evaluates that candidate for many
points at once — strains, one vectorised call of each phase's law over all their micro
points, residuals — and accepts a point when the micro Newton would have accepted it:
every micro tangent is the elastic one (so its macro tangent is ``C_eff``) and its
projected residual is below ``max(rtol, 1e-14) ‖r‖``. A point that is elastic but inherits
a committed residual above the new tolerance (e.g. when unloading shrinks ``‖r‖``) gets
the micro Newton's one iteration with the elastic operator, batched (one sparse LU of the
elastic ``K̃`` for the cell's lifetime, all right-hand sides at once). The other points
(yielding somewhere) go to the micro Newton one by one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.sparse.linalg

import dolfinx.fem as fem
import ufl

from .discretisation import CellDiscretisation
from .phases import PhaseLaws

__all__ = ["BatchedCell"]

#: macro points evaluated together (bounds the memory of the micro point arrays)
CHUNK = 128


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
        rtol: the micro Newton's relative tolerance.
        force_floor: the floor of the residual scale (:mod:`.newton`).
    """

    def __init__(self, discretisation: CellDiscretisation, laws: PhaseLaws, P, constraints: list,
                 W_elastic: npt.NDArray[np.float64], D_elastic: npt.NDArray[np.float64], rtol: float,
                 force_floor: float = 0.0):
        if discretisation.comm.size != 1:
            raise ValueError("batched evaluation needs a cell on MPI.COMM_SELF")
        self.disc, self.laws = discretisation, laws
        self.n = discretisation.n
        self.B = _strain_matrix(discretisation)
        self.BtW = (self.B.T @ sp.diags(np.repeat(discretisation.weights, self.n))).tocsr()
        indptr, indices, values = P.getValuesCSR()
        self.Pt = sp.csr_matrix((values, indices, indptr), shape=P.getSize()).T.tocsr()
        self._b = np.column_stack([b.array_r for b in constraints]) if constraints else None
        self._elastic_lu = None  # (LU of the elastic K̃, K̃⁻¹ b, (bᵀ K̃⁻¹ b)⁻¹), built on first use
        self.W_elastic = W_elastic
        self.D_elastic, self.rtol, self.force_floor = D_elastic, rtol, force_floor

    def elastic_solve(self, rhs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``δ`` with ``K̃_el δ + b λ = rhs``, ``bᵀ δ = 0`` for the columns of ``rhs``
        ``(n_reduced, M)`` (reduced unknowns; one sparse LU of the elastic ``K̃`` for the
        cell's lifetime)."""
        if self._elastic_lu is None:
            N, n = self.disc.n_points, self.n
            weighted = self.disc.weights[:, None, None] * self.D_elastic
            D = sp.bsr_matrix((weighted, np.arange(N), np.arange(N + 1)), shape=(N * n, N * n))
            K = (self.Pt @ (self.B.T @ (D @ self.B)) @ self.Pt.T).tocsc()
            lu = scipy.sparse.linalg.splu(K)
            Z = S_inv = None
            if self._b is not None:
                Z = lu.solve(self._b)
                S_inv = np.linalg.inv(self._b.T @ Z)
            self._elastic_lu = (lu, Z, S_inv)
        lu, Z, S_inv = self._elastic_lu
        delta = lu.solve(rhs)
        if Z is not None:
            delta -= Z @ (S_inv @ (self._b.T @ delta))
        return delta

    def tangent_correction(self, D: npt.NDArray[np.float64], rhs: npt.NDArray[np.float64],
                           iterations: int) -> npt.NDArray[np.float64]:
        """``K̃_t⁻¹ rhs`` ``(n_reduced, M)`` approximately for ``M`` points with tangents ``D``
        ``(M, N, n, n)``: ``iterations`` conjugate-gradient iterations on each point's
        tangent operator ``Pᵀ Bᵀ W D B P``, preconditioned by the elastic ``K̃``
        (:meth:`elastic_solve`: one sparse LU for all points; the two differ in the
        plastic zone only, so few iterations capture what the elastic solve misses)."""
        cell = self
        M = D.shape[0]

        def apply(x):  # the tangent operator on the columns of x
            strain = (cell.B @ (cell.Pt.T @ x)).T.reshape(M, -1, D.shape[-1], 1)
            return cell.Pt @ (cell.BtW @ np.matmul(D, strain).reshape(M, -1).T)

        x = np.zeros_like(rhs)
        r = rhs.copy()
        z = cell.elastic_solve(r)
        p = z.copy()
        rz = np.einsum("im,im->m", r, z)
        for _ in range(iterations):
            Ap = apply(p)
            pAp = np.einsum("im,im->m", p, Ap)
            alpha = rz / np.where(pAp != 0, pAp, 1.0)
            x += alpha * p
            r -= alpha * Ap
            z = cell.elastic_solve(r)
            rz_new = np.einsum("im,im->m", r, z)
            p = z + (rz_new / np.where(rz != 0, rz, 1.0)) * p
            rz = rz_new
        return x

    def strains(self, E: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``ε = E + B(w)`` at the cell points of ``M`` macro points: ``E`` ``(M, n)``,
        ``w`` ``(M, n_dofs)`` → ``(M, N, n)``."""
        return E[:, None, :] + (self.B @ w.T).T.reshape(len(E), -1, self.n)

    def residuals(self, sigma: npt.NDArray[np.float64]) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
        """``(Pᵀ r (n_reduced, M), ‖Pᵀ r‖ projected, max(‖r‖, force floor))`` per macro
        point for point stresses ``(M, N, n)`` (the projection removes the multipliers'
        part of SUBC, as the micro Newton does)."""
        r = self.BtW @ sigma.reshape(len(sigma), -1).T  # (n_dofs, M)
        reduced = self.Pt @ r
        projected = reduced
        if self._b is not None:
            b = self._b
            projected = reduced - b @ np.linalg.solve(b.T @ b, b.T @ reduced)
        return reduced, np.linalg.norm(projected, axis=0), np.maximum(np.linalg.norm(r, axis=0), self.force_floor)

    def elastic_candidates(self, strain, state: dict):
        """The elastic-shortcut solution of ``M`` macro points, where it is exact.

        Args:
            strain: macro strains ``(M, n)``.
            state: the points' committed RVE states (``"E"``, ``"w"``, micro history).

        Returns:
            ``(accepted (M,) bool, records)``: ``records`` holds, for the accepted points
            in order, the new state entries (``"E"``, ``"w"``, the micro history, and
            ``"free_energy"``, ``"micro_work"``, ``"sigma33"``, ``"step_dissipation"``,
            ``"newton_iterations"``: 0, or 1 after an elastic correction) and ``"Sigma"``
            ``(K, n)``.
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
            reduced, res, scale = self.residuals(sigma)
            tol = max(self.rtol, 1e-14) * scale
            ok = elastic & (res <= tol)
            iterations = np.zeros(len(E))
            fix = np.flatnonzero(elastic & ~ok & np.isfinite(res))
            if fix.size:  # one Newton iteration with the elastic operator, batched
                w[fix] += (self.Pt.T @ self.elastic_solve(-reduced[:, fix])).T
                eps[fix] = self.strains(E[fix], w[fix])
                sub = {k: v[fix] for k, v in committed.items()}
                s_fix, e_fix, h_fix, s33_fix = laws.update_many(eps[fix], sub, self.D_elastic)
                _, r_fix, scale_fix = self.residuals(s_fix)
                sigma[fix], sigma33[fix] = s_fix, s33_fix
                for k, v in h_fix.items():
                    history[k][fix] = v
                ok[fix] = e_fix & (r_fix <= max(self.rtol, 1e-14) * scale_fix)
                iterations[fix] = 1
            accepted[rows] = ok
            if not ok.any():
                continue
            parts.append(self.point_records({k: v[ok] for k, v in committed.items()}, E[ok], w[ok], eps[ok],
                                            sigma[ok], {k: v[ok] for k, v in history.items()}, sigma33[ok],
                                            iterations[ok]))
        return accepted, self.concatenate(parts)

    @staticmethod
    def concatenate(parts: list[dict]) -> dict:
        """One record dict from the record dicts of consecutive chunks (``{}`` if none)."""
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}

    def point_records(self, old: dict, E, w, eps, sigma, history: dict, sigma33, iterations) -> dict:
        """The new state entries and results of ``M`` solved macro points.

        Args:
            old: their committed states (arrays ``(M, ...)``).
            E, w: macro strains ``(M, n)`` and fluctuation dofs ``(M, n_dofs)``.
            eps, sigma: point strains and stresses ``(M, N, n)``; ``history`` the new
                micro history ``(M, n_phase, ...)``; ``sigma33`` ``(M, N)``.
            iterations: Newton iterations per point ``(M,)``.

        Returns:
            ``"E"``, ``"w"``, the history, ``"Sigma"`` ``(M, n)``, ``"free_energy"``,
            ``"micro_work"``, ``"sigma33"``, ``"step_dissipation"`` and
            ``"newton_iterations"`` (each ``(M,)``).
        """
        disc, laws = self.disc, self.laws
        eps_n = self.strains(old["E"], old["w"])
        average = lambda f: f @ disc.weights / disc.volume  # noqa: E731  (M, N) → (M,)
        return {
            "E": E, "w": w, **history,
            "Sigma": np.einsum("mpi,p->mi", sigma, disc.weights) / disc.volume,
            "free_energy": average(laws.free_energy_many(eps, history)),
            "micro_work": average(np.einsum("mpi,mpi->mp", sigma, eps - eps_n)),
            "sigma33": average(sigma33),
            "step_dissipation": average(laws.dissipation_many(old, history)),
            "newton_iterations": iterations,
        }
