"""The hyper-reduced Galerkin cell: the fluctuation in the span of a few modes, the
inelastic part of the micro stress integrated by an empirical cubature, and its batched
Newton (the numerics of :class:`~.reduced.ReducedRVE`, which adds the error control).

With ``w = Φ q`` (``Φ`` ``(n_dofs, r)``, every mode satisfying the boundary condition) and
``τ = σ − D_el ε`` the inelastic part of the micro stress (zero wherever a point stays
elastic), the reduced equilibrium is

    f(q) = K_el q + F_el E + Σ_s ω_s (BΦ)_sᵀ τ_s(E + (BΦ)_s q; h_s) = 0,

``K_el = Σ_p w_p (BΦ)_pᵀ D_el,p (BΦ)_p`` and ``F_el = Σ_p w_p (BΦ)_pᵀ D_el,p`` over all
points (precomputed), ``Σ = ⟨D_el⟩ E + |Y|⁻¹ (F_elᵀ q + Σ_s ω_s τ_s)`` and
``C = ⟨D_el⟩ + |Y|⁻¹ (Σ_s ω_s δD_s − Hᵀ K⁻¹ G)`` with ``δD = D − D_el``,
``K = K_el + Σ_s ω_s (BΦ)_sᵀ δD_s (BΦ)_s``, ``G = F_el + Σ_s ω_s (BΦ)_sᵀ δD_s``,
``H = F_el + Σ_s ω_s (BΦ)_sᵀ δD_sᵀ``; ``∂q/∂E = −K⁻¹ G`` gives the unit fluctuations
``Φ ∂q/∂E`` of the next predictor. A cell that stays elastic is exact, and the reduced
tangent is the exact elastic one plus the cubature of the plastic softening. The law runs,
and reads the history ``h``, only at the ``m`` cubature points ``s`` (weights
``ω_s ≥ 0``, :mod:`.cubature`): an iteration costs ``O(m r² n)`` whatever the cell size.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ..tensors import deviatoric_projector
from .rve import STORED_TANGENT
from .tangents import full_tangents, tangent_correction, tangents_in_parts

__all__ = ["HyperReducedCell"]

_log = logging.getLogger(__name__)
#: reduced Newton iterations before a point is handed to the full RVE
MAX_ITERATIONS = 25
#: preconditioned CG iterations of the Galerkin part of the error estimate, the most (and the
#: default) of a check; fewer make the estimate cheaper but, where the tangent departs far from
#: the elastic preconditioner, cruder, with a larger safety factor (the part's 1 024-point
#: step at tolerance 1e-2, serial: 4 iterations safety 1.40, no point flagged, 4.9 s; 2:
#: 1.79, 85 flagged points, 10.2 s; 1: 4.27, 70 flagged, 9.2 s; on 2 ranks, 3: safety 1.68,
#: 3 flagged points, 9 macro iterations instead of 6, 1.6x the time of 4). Training takes
#: fewer where its validation shows them as sharp (:data:`.training.CHECK_SHARPNESS`)
CG_ITERATIONS = 4
#: the largest packed map of the symmetric reduced stiffness (:func:`_packed_stiffness`,
#: :func:`_projected_modes`)
PACKED_BYTES = 1 << 25


class HyperReducedCell:
    """A serial small-strain RVE reduced to the modes ``basis`` and integrated by a cubature
    (module docstring).

    Args:
        rve: the full :class:`~dolfinx_multiscale.cell.rve.RVE` (serial, small strain).
        basis: orthonormal fluctuation modes ``(n_dofs, r)`` (local dofs of the full space).
        cubature: ``(points (m,), weights (m,))``; default all points with their own weights.
        rtol: the reduced Newton's relative tolerance on ``‖f(q)‖``; default the RVE's.
        check_iterations: the preconditioned CG iterations of :meth:`reconstruct`'s
            error estimate (1 to ``CG_ITERATIONS``).

    Attributes:
        rve, basis, rtol: as given.
        check_in_parts: :meth:`reconstruct`'s CG and ``ΔΣ`` apply the micro tangents in
            parts (:func:`~.tangents.tangents_in_parts`), not as ``(M, N, n, n)`` arrays.
        points, weights: the cubature.
        mode_strains: ``BΦ`` at every micro point ``(N, n, r)``.
        elastic_tangents: ``D_el`` ``(N, n, n)``; out_of_plane_row: ``∂σ33/∂ε`` ``(N, n)``.
    """

    def __init__(self, rve, basis: npt.NDArray[np.float64], cubature: tuple | None = None,
                 rtol: float | None = None, check_iterations: int = CG_ITERATIONS):
        self.rve, self.basis, self.n = rve, basis, rve.n
        self._check_iterations = CG_ITERATIONS
        self.check_iterations = check_iterations  # validated
        disc = rve.discretisation
        self._cell = cell = rve.batched_cell
        self.rtol = max(cell.rtol if rtol is None else rtol, 1e-12)
        N, n, r = disc.n_points, self.n, basis.shape[1]
        self.mode_strains = BPhi = np.asarray(cell.B @ basis).reshape(N, n, r)  # strain of every mode at every point
        # the elastic part of the reduced problem, integrated exactly (module docstring)
        self.elastic_tangents = D_el = rve.initial_tangent()[2]
        self.out_of_plane_row = c33 = _out_of_plane_row(rve)
        w, V = disc.weights, disc.volume
        wD_BPhi = w[:, None, None] * np.matmul(D_el, BPhi)  # (N, n, r)
        self._elastic_q = rve.initial_tangent()[1] @ basis  # Φᵀ of the elastic unit fluctuations (n, r)
        self._K_el = BPhi.reshape(N * n, r).T @ wD_BPhi.reshape(N * n, r)  # Σ_p w_p (BΦ)ᵀ D_el (BΦ)
        self._F_el = wD_BPhi.sum(axis=0).T  # Σ_p w_p (BΦ)ᵀ D_el  (r, n), D_el symmetric
        self._D_bar = np.einsum("p,pij->ij", w, D_el) / V  # ⟨D_el⟩
        self._c33_bar, self._c33_BPhi = w @ c33 / V, np.einsum("p,pi,pir->r", w, c33, BPhi) / V
        # the cubature and what lives at its points (set_cubature)
        self.points = self.weights = self._BPhi_s = self._wBPhi_s = self._D_el_s = self._c33_s = None
        self._elastic_E = self._elastic_q_s = self._packed = self._projected = None
        self._sub_laws, self._columns = None, {}
        # the check's tangents in parts (:mod:`.tangents`) where they hold far fewer values than
        # the full ones: 3-D, 8 against 36 per point (the 3-D benchmark cell: 6.4 against 9.2 ms
        # per checked point); in 2-D, 5 against 9, the full ones are faster (0.91 against 0.97 ms)
        self.check_in_parts = rve.laws.tangent_parts and self.n == 6
        if cubature is None:
            cubature = (np.flatnonzero(disc.weights > 0), disc.weights[disc.weights > 0])
        self.set_cubature(*cubature)

    def set_cubature(self, points: npt.ArrayLike, weights: npt.ArrayLike) -> None:
        """Integrate the inelastic part of the reduced problem with micro ``points``
        ``(m,)`` (indices among the cell's points; none: the elastic reduced model) and
        weights ``(m,)`` (``≥ 0``)."""
        points, weights = np.asarray(points, dtype=np.int64), np.asarray(weights, dtype=float)
        N = self.rve.discretisation.n_points
        if points.ndim != 1 or points.shape != weights.shape:
            raise ValueError(f"cubature points and weights must be two (m,) arrays; got {points.shape}, "
                             f"{weights.shape}")
        if (points < 0).any() or (points >= N).any() or (np.diff(points) <= 0).any():
            raise ValueError(f"cubature points must be sorted distinct indices in [0, {N})")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("cubature weights must be finite and >= 0")
        volume = self.rve.discretisation.volume
        if weights.sum() > 2 * volume:  # e.g. from a cubature that picked round-off (retrain)
            raise ValueError(f"cubature weights sum to {weights.sum():.3g}, over twice the cell volume "
                             f"{volume:.3g}: an ill-conditioned cubature")
        self.points, self.weights = points, weights
        self._sub_laws, self._columns = self.rve.laws.subset(points)
        self._BPhi_s = self.mode_strains[points]
        self._wBPhi_s = weights[:, None, None] * self._BPhi_s
        D_el = self._D_el_s = self.elastic_tangents[points]
        self._c33_s = self.out_of_plane_row[points]
        m, n, r = self._BPhi_s.shape
        # D_el ε at the cubature points = E · elastic_E + q · elastic_q_s, each (·, m n)
        self._elastic_E = D_el.transpose(2, 0, 1).reshape(n, m * n)
        self._elastic_q_s = np.matmul(D_el, self._BPhi_s).transpose(2, 0, 1).reshape(r, m * n)
        self._packed = _packed_stiffness(self._BPhi_s, weights) if self.rve.spd_tangent else None
        # else the tangent changes in parts (fewer flops than the packed map, but the laws'
        # parts cost more than its product where that map is small: 2-D, 0.89 against 0.62 ms
        # per point on the part's cell)
        self._projected = (_projected_modes(self._BPhi_s, weights, deviatoric_projector(self.rve.dim))
                           if self._packed is None and self._sub_laws.tangent_parts else None)

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
        """The preconditioned CG iterations of :meth:`reconstruct`'s error estimate."""
        return self._check_iterations

    @check_iterations.setter
    def check_iterations(self, value: int) -> None:
        if not (isinstance(value, (int, np.integer)) and 1 <= value <= CG_ITERATIONS):
            raise ValueError(f"check_iterations must be an integer in [1, {CG_ITERATIONS}]; got {value!r}")
        self._check_iterations = int(value)

    @property
    def packed_stiffness(self) -> bool:
        """Whether the reduced stiffness is one product with the packed map of the symmetric
        tangent changes (:func:`_packed_stiffness`; where that takes fewer flops than the
        two batched products and fits in ``PACKED_BYTES``: 2-D), else
        :attr:`structured_stiffness` or the two batched products."""
        return self._packed is not None

    @property
    def structured_stiffness(self) -> bool:
        """Whether the reduced stiffness is built from the laws' tangent changes in parts,
        ``dD = −a P − b m⊗m`` (:meth:`_structured_tangents`; where the packed map is not
        used and every phase at the cubature points is linear or has ``update_in_parts``,
        e.g. J2: 3-D cells)."""
        return self._projected is not None

    def predict(self, E, start: dict, tangent: bool, rows=None):
        """First-order predictor ``q = Φᵀ(w₀ + W₀ᵀ ΔE)`` ``(M, r)`` of ``M`` points from a start
        state: its fluctuation ``"w"`` and, with ``tangent``, its unit fluctuations ``"W"``
        where ``"tangent_kind"`` is ``STORED_TANGENT``, else the elastic ones (which are in
        Φ: an elastic increment is predicted exactly). ``rows``: the points' rows of
        ``start`` (default: all of them; only what is read is gathered)."""
        at = np.arange(len(E)) if rows is None else np.asarray(rows)
        w = start["w"][at]
        dE = E - start["E"][at]
        q = w @ self.basis + dE @ self._elastic_q
        stored = np.flatnonzero(start["tangent_kind"][at] == STORED_TANGENT) if tangent else []
        if len(stored):
            W = start["W"][at[stored]]
            q[stored] = w[stored] @ self.basis + np.einsum("mi,min->mn", dE[stored], W) @ self.basis[:W.shape[2]]
        return q

    def solve(self, E, committed: dict, q, rows=None):
        """The hyper-reduced Newton for ``M`` points from coordinates ``q`` ``(M, r)``.

        With ``τ = σ − D_el ε`` the inelastic part of the micro stress (zero where a point
        stays elastic), the internal force is ``f = K_el q + F_el E + Σ_s ω_s (BΦ)_sᵀ τ_s``
        and its Jacobian ``K = K_el + Σ_s ω_s (BΦ)_sᵀ (D_s − D_el,s) (BΦ)_s``: the elastic
        part exact, the cubature for the inelastic one. The ``M`` points are evaluated
        together, each only until it has converged.

        ``committed`` holds the points' committed histories (its rows ``rows``, default all:
        only the cubature points' columns are gathered).

        Returns:
            ``(Σ (M, n), C (M, n, n), Σ33 (M,), q, ∂q/∂E (M, r, n), iterations (M,),
            converged (M,), history)``; ``history``: the new history at the cubature points
            (flat keys, arrays ``(M, m_phase, ...)``, the columns of
            ``PhaseLaws.subset(points)``).
        """
        M, n = E.shape
        BPhi, wBPhi = self._BPhi_s, self._wBPhi_s
        m, _, r = BPhi.shape
        sub = {k: committed[k][:, cols] if rows is None else committed[k][np.ix_(rows, cols)]
               for k, cols in self._columns.items()}
        B2 = BPhi.reshape(m * n, r)
        wB = wBPhi.reshape(m * n, r)
        rtol = self.rtol
        its = np.zeros(M, dtype=np.int64)
        diverged, unconverged = np.zeros(M, dtype=bool), np.zeros(M, dtype=bool)
        eps, sigma, tau = np.empty((M, m, n)), np.empty((M, m, n)), np.empty((M, m, n))
        # the tangents at the cubature points: their changes in parts (a, b, m) where the
        # stiffness is built from them (the laws form no tangent), else (M, m, n, n)
        parts = self._projected is not None
        D = (np.zeros((M, m)), np.zeros((M, m)), np.zeros((M, m, n))) if parts else np.empty((M, m, n, n))
        evaluate = self._sub_laws.evaluate_in_parts if parts else self._sub_laws.evaluate_many
        sigma33, history = np.empty((M, m)), {}
        todo = np.arange(M)  # the points still iterating: only they are evaluated again
        while True:
            Et, qt = E[todo], q[todo]
            eps[todo] = e = Et[:, None, :] + (qt @ B2.T).reshape(todo.size, m, n)
            if m:
                st, Dt, ht, s33 = evaluate(e, {k: v[todo] for k, v in sub.items()})
            else:  # no cubature point: the elastic reduced model (nothing inelastic was seen)
                st, ht, s33 = e, {}, np.zeros((todo.size, 0))
                Dt = tuple(v[todo] for v in D) if parts else np.zeros((todo.size, 0, n, n))
            sigma[todo], sigma33[todo] = st, s33
            if parts:
                for stored, value in zip(D, Dt):
                    stored[todo] = value
            else:
                D[todo] = Dt
            for key, value in ht.items():
                history.setdefault(key, np.empty((M,) + value.shape[1:], value.dtype))[todo] = value
            tau[todo] = t = self._inelastic_stress(Et, qt, st)
            stiffness_force, load = qt @ self._K_el.T, Et @ self._F_el.T
            r_q = stiffness_force + load + t.reshape(todo.size, -1) @ wB
            scale = (np.linalg.norm(stiffness_force, axis=1) + np.linalg.norm(load, axis=1)
                     + np.linalg.norm(np.abs(t).reshape(todo.size, -1) @ np.abs(wB), axis=1))
            bad = ~np.isfinite(r_q).all(axis=1)
            diverged[todo[bad]] = True
            going = np.flatnonzero(~(np.linalg.norm(r_q, axis=1) <= rtol * scale) & ~bad)
            if going.size == 0 or its.max() == MAX_ITERATIONS:
                unconverged[todo[going]] = True
                break
            K = (self._structured_tangents(*(v[going] for v in Dt))[0] if parts
                 else self._reduced_stiffness(Dt[going] - self._D_el_s))
            # a reduced tangent that lost positive definiteness (the cubature over-weights the
            # plastic softening) can have several solutions near each other: hand it over
            indefinite = _indefinite(K)
            if indefinite.any():
                diverged[todo[going[indefinite]]] = True
                K, going = K[~indefinite], going[~indefinite]
            todo = todo[going]
            q[todo] -= np.linalg.solve(K, r_q[going][..., None])[..., 0]
            its[todo] += 1
            if todo.size == 0:
                break
        V = self.rve.discretisation.volume
        if parts:  # symmetric changes: H = G
            K, G, dD_sum = self._structured_tangents(*D, coupling=True)
            H = G
        else:
            dD = D - self._D_el_s
            K = self._reduced_stiffness(dD)
            G = self._F_el + wB.T @ dD.reshape(M, m * n, n)
            H = G if self.rve.spd_tangent else self._F_el + wB.T @ dD.transpose(0, 1, 3, 2).reshape(M, m * n, n)
            dD_sum = np.tensordot(self.weights, dD, axes=(0, 1))
        dq = -np.linalg.solve(K, G)  # ∂q/∂E from K dq + G dE = 0
        C = self._D_bar + (dD_sum + H.transpose(0, 2, 1) @ dq) / V
        Sigma, Sigma33 = self._averages(E, q, tau, sigma33, eps)
        ok = ~unconverged & ~diverged & np.isfinite(Sigma).all(axis=1) & np.isfinite(C).all(axis=(1, 2))
        if (~ok).any():
            _log.debug("reduced Newton: %d of %d points not converged in %d iterations", (~ok).sum(), M, its.max())
        return Sigma, C, Sigma33, q, dq, its, ok, history

    def _inelastic_stress(self, E, q, sigma):
        """``τ = σ − D_el ε`` ``(M, m, n)`` at the cubature points of ``M`` reduced solutions
        (``ε = E + (BΦ)_s q``, so ``D_el ε`` is one product with precomputed maps)."""
        M, m, n = sigma.shape
        return sigma - (E @ self._elastic_E + q @ self._elastic_q_s).reshape(M, m, n)

    def _averages(self, E, q, tau, sigma33, eps):
        """``(Σ (M, n), Σ33 (M,))`` of ``M`` reduced solutions from the inelastic stresses ``τ``,
        the out-of-plane stresses and the strains at the cubature points ``(M, m, ...)``:
        ``⟨D_el ε⟩`` exact plus the cubature of ``τ``."""
        V = self.rve.discretisation.volume
        tau33 = sigma33 - np.einsum("pi,mpi->mp", self._c33_s, eps)
        Sigma = E @ self._D_bar.T + q @ self._F_el / V + np.einsum("mpi,p->mi", tau, self.weights) / V
        return Sigma, E @ self._c33_bar + q @ self._c33_BPhi + tau33 @ self.weights / V

    def _structured_tangents(self, a, b, m_dir, coupling: bool = False):
        """The reduced tangents from the cubature points' tangent changes in parts, ``dD_s =
        −a_s P − b_s m_s⊗m_s`` (``a``, ``b`` ``(M, m)``, ``m_dir`` ``(M, m, n)``), with ``u_s =
        (BΦ)_sᵀ m_s``:

        * ``K_q = K_el − Σ_s ω_s a_s (BΦ)_sᵀ P (BΦ)_s − Σ_s ω_s b_s u_s u_sᵀ`` ``(M, r, r)``:
          the first sum one product with the packed ``ω_s (BΦ)_sᵀ P (BΦ)_s``, the second a
          rank-``m`` product: ``m (r(r+1)/2 + r²)`` multiply-adds per point against ``6 m
          r²`` (3-D) for the two batched products;
        * with ``coupling``, also ``G = F_el − Σ_s ω_s a_s (BΦ)_sᵀ P − Σ_s ω_s b_s u_s m_sᵀ``
          ``(M, r, n)`` and ``Σ_s ω_s dD_s`` ``(M, n, n)``.

        Returns:
            ``(K_q,)``, or ``(K_q, G, Σ_s ω_s dD_s)`` with ``coupling``.
        """
        upper, Q, QP, P = self._projected
        M, m, n = m_dir.shape
        r = self._BPhi_s.shape[2]
        K = _symmetric(-(a @ Q), upper, r)
        U = np.matmul(m_dir[:, :, None, :], self._BPhi_s)[:, :, 0, :]  # (M, m, r)
        wb = (self.weights * b)[..., None]
        wbU = wb * U
        K -= np.matmul(U.transpose(0, 2, 1), wbU)
        K += self._K_el
        if not coupling:
            return (K,)
        G = self._F_el - (a @ QP).reshape(M, r, n) - np.matmul(wbU.transpose(0, 2, 1), m_dir)
        dD_sum = -(a @ self.weights)[:, None, None] * P - np.matmul(m_dir.transpose(0, 2, 1), wb * m_dir)
        return K, G, dD_sum

    def _reduced_stiffness(self, dD: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``K_q = K_el + Σ_s ω_s (BΦ)_sᵀ dD_s (BΦ)_s`` ``(M, r, r)`` for the cubature points'
        tangent changes ``dD = D − D_el`` ``(M, m, n, n)``."""
        m, n, r = self._BPhi_s.shape
        if self._packed is None:
            return self._K_el + self._wBPhi_s.reshape(m * n, r).T @ np.matmul(dD, self._BPhi_s).reshape(len(dD), m * n, r)
        pairs, upper, Q = self._packed  # symmetric dD: one product of the packed upper triangles
        return _symmetric(dD[:, :, pairs[0], pairs[1]].reshape(len(dD), -1) @ Q, upper, r) + self._K_el

    def reconstruct(self, E, committed: dict, q, reference_stress):
        """Full fields of ``M`` reduced solutions: ``(errors (M,), Σ_ECM (M, n), records)``
        with the new state entries (full history, ``"w"``, energies); the errors relative
        to ``max(‖Σ_ECM‖, σ_ref)``, ``reference_stress`` a scalar or ``(M,)``."""
        cell, disc = self._cell, self.rve.discretisation
        M, n = E.shape
        N, _, r = self.mode_strains.shape
        eps = E[:, None, :] + (q @ self.mode_strains.reshape(N * n, r).T).reshape(M, N, n)
        laws = self.rve.laws
        parts = self.check_in_parts
        sigma, D, history, sigma33 = (laws.evaluate_in_parts if parts else laws.evaluate_many)(eps, committed)
        tangent = tangents_in_parts(self.elastic_tangents, *D, self.rve.dim) if parts else full_tangents(D)
        force, reduced, _, _ = cell.residuals(sigma)
        _, moment = tangent_correction(cell, tangent, -reduced, self.check_iterations)
        # residual 0: the RVE's elastic check then continues a later elastic increment from Σ_ECM
        # (Σ = Σ_ECM + C_eff ΔE, what the reduced model gives there too), the error carried in η
        records = cell.point_records(committed, E, q @ self.basis.T, eps, sigma, force, history, sigma33, np.zeros(M),
                                     np.zeros(M), np.ones(M))
        Sigma_full = records.pop("Sigma")  # ⟨σ⟩ of the reconstruction; the reduced model's answers stay
        for key in ("newton_iterations", "sigma33"):
            records.pop(key)
        pts = self.points
        Sigma_ecm, _ = self._averages(E, q, self._inelastic_stress(E, q, sigma[:, pts]), sigma33[:, pts],
                                      eps[:, pts])
        scale = np.maximum(np.linalg.norm(Sigma_ecm, axis=1), reference_stress)
        # the full ⟨σ⟩ plus the stress change of the CG's correction δ, averaged, against Σ_ECM
        errors = np.linalg.norm(Sigma_full + moment / disc.volume - Sigma_ecm, axis=1) / np.maximum(scale, 1e-300)
        return np.where(np.isfinite(errors), errors, np.inf), Sigma_ecm, records


def _out_of_plane_row(rve) -> npt.NDArray[np.float64]:
    """``∂σ33/∂ε`` ``(N, n)`` of the virgin cell's elastic response at every point (plane
    strain; zeros where the laws give no ``σ33``), from a strain far below any yield."""
    N, n, tiny = rve.discretisation.n_points, rve.n, 1e-9
    virgin = rve.laws.initial_state()
    return np.column_stack([rve.laws.update(np.tile(tiny * e, (N, 1)), virgin, False)[3] / tiny
                            for e in np.eye(n)])


def _packed_stiffness(BPhi: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]):
    """``(pairs, upper, Q)`` with ``Σ_s ω_s (BΦ)_sᵀ dD_s (BΦ)_s = unpack(dD[:, :, pairs] @ Q)``
    for symmetric ``dD`` ``(M, m, n, n)``: ``pairs`` the ``n(n+1)/2`` index pairs ``i ≤ j``,
    ``upper`` the ``r(r+1)/2`` of the result, ``Q`` ``(m n(n+1)/2, r(r+1)/2)``; ``None`` when
    it costs more flops than the two batched products (``n(n+1)/2 · r(r+1)/2 ≥ n r² + n² r``:
    3-D cells beyond 5 modes) or ``Q`` would take more than ``PACKED_BYTES`` (the training's
    models with all modes and all points). In 2-D the product takes a fifth of the time of
    the two (the part's 17 modes and 228 points, 64 macro points)."""
    m, n, r = BPhi.shape
    pairs, upper = np.triu_indices(n), np.triu_indices(r)
    size = len(pairs[0]) * len(upper[0])
    if size >= n * r * r + n * n * r or 8 * m * size > PACKED_BYTES:
        return None
    Q = np.empty((m, len(pairs[0]), len(upper[0])))
    for k, (i, j) in enumerate(zip(*pairs)):
        outer = np.einsum("s,sa,sb->sab", weights, BPhi[:, i], BPhi[:, j])
        if i != j:  # dD_ij = dD_ji: both terms
            outer += outer.transpose(0, 2, 1)
        Q[:, k] = outer[:, upper[0], upper[1]]
    return pairs, upper, Q.reshape(m * len(pairs[0]), len(upper[0]))


def _symmetric(values: npt.NDArray[np.float64], upper, r: int) -> npt.NDArray[np.float64]:
    """Symmetric matrices ``(M, r, r)`` from their packed upper triangles ``values``
    ``(M, r(r+1)/2)`` (``upper``: ``np.triu_indices(r)``)."""
    K = np.empty((len(values), r, r))
    K[:, upper[0], upper[1]] = values
    K[:, upper[1], upper[0]] = values
    return K


def _projected_modes(BPhi: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], P: npt.NDArray[np.float64]):
    """``(upper, Q, QP, P)``: the upper-triangle indices of ``(r, r)``, ``Q`` ``(m,
    r(r+1)/2)`` ``= ω_s (BΦ)_sᵀ P (BΦ)_s`` packed and ``QP`` ``(m, r n)`` ``= ω_s (BΦ)_sᵀ
    P``, for the cubature points' mode strains ``BPhi`` ``(m, n, r)`` and the projector
    ``P`` ``(n, n)``; ``None`` above ``PACKED_BYTES``."""
    m, n, r = BPhi.shape
    upper = np.triu_indices(r)
    if m * upper[0].size * 8 > PACKED_BYTES:
        return None
    Q = np.empty((m, upper[0].size))
    for s in range(0, m, 256):  # (256, r, r) at a time
        block = BPhi[s:s + 256]
        Q[s:s + 256] = np.matmul(block.transpose(0, 2, 1), np.matmul(P, block))[:, upper[0], upper[1]]
    QP = weights[:, None, None] * np.matmul(BPhi.transpose(0, 2, 1), P)  # (m, r, n)
    return upper, Q * weights[:, None], QP.reshape(m, r * n), P


def _indefinite(K: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which of the matrices ``K`` ``(M, r, r)`` are not positive definite (their symmetric
    parts: a batched Cholesky, the eigenvalues only when it fails)."""
    sym = 0.5 * (K + K.transpose(0, 2, 1))
    try:
        np.linalg.cholesky(sym)
        return np.zeros(len(K), dtype=bool)
    except np.linalg.LinAlgError:
        return np.linalg.eigvalsh(sym)[:, 0] <= 0
