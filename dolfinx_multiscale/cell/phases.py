"""The phase laws of a cell: every phase's material evaluated at its own points.

The phases are the cell physical-group tags of the mesh. :class:`PhaseLaws` calls each
phase's :class:`~dolfinx_multiscale.materials.Material` on that phase's quadrature points
and keeps their histories in one flat state, ``"<tag>:<key>"`` → ``(n_phase_points, ...)``
arrays, so the whole cell's history is a plain dict of arrays like any material's.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..kinematics import Kinematics

__all__ = ["PhaseLaws", "check_materials"]


def check_materials(materials: dict, micro) -> Kinematics:
    """Check that ``materials`` covers exactly the phases of ``micro`` with one physics.

    Returns:
        The materials' common kinematics.

    Raises:
        ValueError: a phase without a material, a material without a phase, or
            materials of different physics.
    """
    tags = {int(t) for t in micro.volume_fractions}
    keys = set(materials)
    if tags != keys:
        raise ValueError(f"phases and materials differ: mesh phase tags {sorted(tags)}, "
                         f"material keys {sorted(keys)}")
    kinds = {m.kinematics for m in materials.values()}
    if len(kinds) != 1:
        raise ValueError(f"all materials must share one physics; got {sorted(k.name for k in kinds)}")
    return kinds.pop()


class PhaseLaws:
    """The materials of a cell's phases, evaluated at all points at once.

    Args:
        materials: phase tag → material (see :func:`check_materials`).
        phase_points: phase tag → indices of its points among the ``N`` cell points.
        n: size of the generalized strain.

    Attributes:
        materials: as given.
        is_linear, spd_tangent, symmetric_tangent, varying_tangent: the conjunction
            (``symmetric_tangent``: a law's optional flag, default its ``spd_tangent``; ``varying_tangent``:
            the disjunction) of the materials' attributes.
        trial_phases: the tags of the phases whose laws are not linear, if every one of
            them has ``elastic_trial`` (:mod:`~dolfinx_multiscale.materials.protocol`), else
            ``None``: an increment is elastic in the whole cell where it is elastic at the
            points of these phases.
    """

    def __init__(self, materials: dict, phase_points: dict[int, npt.NDArray[np.int64]], n: int):
        self.materials = dict(materials)
        self.phase_points = phase_points
        self.n = n
        self.n_points = sum(idx.size for idx in phase_points.values())
        self.is_linear = all(m.is_linear for m in self.materials.values())
        self.spd_tangent = all(m.spd_tangent for m in self.materials.values())
        self.symmetric_tangent = all(getattr(m, "symmetric_tangent", m.spd_tangent) for m in self.materials.values())
        self.varying_tangent = any(m.varying_tangent for m in self.materials.values())
        inelastic = [t for t, m in self.materials.items() if not m.is_linear]
        self.trial_phases = (inelastic if all(hasattr(self.materials[t], "elastic_trial") for t in inelastic)
                             else None)
        # the history keys of each phase, "<tag>:<key>" (only the laws' history_keys when given)
        self._keys = {t: [(f"{t}:{k}", k) for k in getattr(m, "history_keys", m.initial_state(0))]
                      for t, m in self.materials.items()}

    def initial_state(self) -> dict[str, npt.NDArray]:
        """The virgin history of every phase, flat (``"<tag>:<key>"``)."""
        out = {}
        for tag, mat in self.materials.items():
            state = mat.initial_state(self.phase_points[tag].size)
            out.update({flat: state[key] for flat, key in self._keys[tag]})
        return out

    def phase_state(self, state: dict, tag: int) -> dict[str, npt.NDArray]:
        """Phase ``tag``'s history out of a flat cell state."""
        return {key: state[flat] for flat, key in self._keys[tag]}

    def update(self, eps: npt.NDArray[np.float64], committed: dict, need_tangent: bool,
               tangent_out: npt.NDArray[np.float64] | None = None):
        """Every phase's law at its points from the committed history.

        Args:
            eps: generalized strain at all points, ``(N, n)``.
            committed: the flat committed history (never modified).
            need_tangent: also compute the tangents.
            tangent_out: an ``(N, n, n)`` array to write the tangents into (e.g. the
                values of the forms' quadrature Function, so that they are stored once);
                default a new array.

        Returns:
            ``(sigma (N, n), D (N, n, n) | None, trial, sigma33 (N,))``: ``trial`` is the
            new flat history, ``sigma33`` the out-of-plane stress of plane strain where a
            law gives it (else 0).
        """
        N = eps.shape[0]
        sigma = np.empty((N, self.n))
        D = (np.empty((N, self.n, self.n)) if tangent_out is None else tangent_out) if need_tangent else None
        sigma33 = np.zeros(N)
        trial = {}
        for tag, mat in self.materials.items():
            idx = self.phase_points[tag]
            s, t, new = mat.update(eps[idx], self.phase_state(committed, tag), need_tangent)
            sigma[idx] = s
            if "sigma33" in new:
                sigma33[idx] = new["sigma33"]
            if need_tangent:
                D[idx] = t
            trial.update({flat: new[key] for flat, key in self._keys[tag]})
        return sigma, D, trial, sigma33

    def constant_tangents(self, D: npt.NDArray[np.float64]) -> dict[int, npt.NDArray[np.float64]] | None:
        """Each phase's tangent ``{tag: (n, n)}`` if it is the same at all of the phase's
        (local) points of ``D`` ``(N, n, n)`` (linear laws), else ``None``."""
        out = {}
        for tag, idx in self.phase_points.items():
            if idx.size == 0:
                continue
            first = D[idx[0]]
            for s in range(0, idx.size, 1 << 16):
                if not (D[idx[s: s + (1 << 16)]] == first).all():
                    return None
            out[tag] = first.copy()
        return out

    def subset(self, points: npt.NDArray[np.int64]) -> tuple[PhaseLaws, dict[str, npt.NDArray[np.int64]]]:
        """The laws of a subset of the points (e.g. the cubature points of a reduced cell).

        Args:
            points: sorted indices among the ``N`` points.

        Returns:
            ``(laws, columns)``: the :class:`PhaseLaws` of the subset (its points numbered
            in the order of ``points``) and, per flat history key, the columns of a full
            history array that belong to the subset (``state[key][:, columns[key]]`` is
            the subset's history of ``M`` cells).
        """
        points = np.asarray(points, dtype=np.int64)
        phase_points, columns = {}, {}
        for tag, idx in self.phase_points.items():
            inside = np.flatnonzero(np.isin(idx, points))
            phase_points[tag] = np.searchsorted(points, idx[inside])
            columns.update({flat: inside for flat, _ in self._keys[tag]})
        return PhaseLaws(self.materials, phase_points, self.n), columns

    def _stacked_phase_state(self, state: dict, tag: int) -> dict[str, npt.NDArray]:
        """Phase ``tag``'s history of ``M`` macro points (arrays ``(M, n_phase, ...)``) as
        one history of ``M · n_phase`` points."""
        return {key: state[flat].reshape((-1,) + state[flat].shape[2:]) for flat, key in self._keys[tag]}

    def _phase_updates(self, eps: npt.NDArray[np.float64], committed: dict, tangent_of):
        """Each phase's law on its points of ``M`` cells: yields ``(tag, idx, sigma (M,
        n_phase, n), tangent, sigma33 | None, trial)``; ``tangent_of(material)`` says what
        ``tangent`` is: ``True``, the tangents ``(M, n_phase, n, n)``; ``False``, ``None``;
        ``"parts"``, the law's ``update_in_parts`` changes ``(a (M, n_phase), b (M,
        n_phase), m (M, n_phase, n))``."""
        M, N, n = eps.shape
        for tag, mat in self.materials.items():
            idx = self.phase_points[tag]
            if idx.size == 0 and not self._keys[tag]:  # nothing to evaluate, no history to keep
                continue
            need = tangent_of(mat)
            e, state = eps[:, idx].reshape(-1, n), self._stacked_phase_state(committed, tag)
            if need == "parts":
                s, t, new = mat.update_in_parts(e, state)
                t = tuple(v.reshape((M, idx.size) + v.shape[1:]) for v in t)
            else:
                s, t, new = mat.update(e, state, need)
                t = t.reshape(M, idx.size, n, n) if need else None
            s33 = new["sigma33"].reshape(M, idx.size) if "sigma33" in new else None
            trial = {flat: new[key].reshape((M, idx.size) + new[key].shape[1:]) for flat, key in self._keys[tag]}
            yield tag, idx, s.reshape(M, idx.size, n), t, s33, trial

    def update_many(self, eps: npt.NDArray[np.float64], committed: dict, D_elastic: npt.NDArray[np.float64]):
        """:meth:`update` for ``M`` cells at once (one law call per phase for all of them).

        Args:
            eps: strains ``(M, N, n)``.
            committed: the ``M`` cells' flat histories, arrays ``(M, n_phase, ...)``.
            D_elastic: the tangents ``(N, n, n)`` to compare with.

        Returns:
            ``(sigma (M, N, n), same (M,) bool, trial, sigma33 (M, N))``: ``same`` tells
            the cells whose every point tangent equals ``D_elastic``; ``trial`` holds the
            new histories ``(M, n_phase, ...)``.
        """
        M, N, n = eps.shape
        sigma = np.empty((M, N, n))
        sigma33 = np.zeros((M, N))
        same = np.ones(M, dtype=bool)
        trial = {}
        for _, idx, s, t, s33, new in self._phase_updates(eps, committed, lambda mat: not mat.is_linear):
            sigma[:, idx] = s
            if s33 is not None:
                sigma33[:, idx] = s33
            if t is not None:
                same &= (t == D_elastic[idx]).all(axis=(1, 2, 3))
            trial.update(new)
        return sigma, same, trial, sigma33

    @property
    def tangent_parts(self) -> bool:
        """Whether every phase with points is linear or its law has ``update_in_parts``
        (:mod:`~dolfinx_multiscale.materials.protocol`): :meth:`evaluate_in_parts` applies."""
        return all(m.is_linear or hasattr(m, "update_in_parts") for t, m in self.materials.items()
                   if self.phase_points[t].size)

    def evaluate_in_parts(self, eps: npt.NDArray[np.float64], committed: dict):
        """:meth:`evaluate_many` with the tangents' changes from the elastic ones in parts,
        ``D − D₀ = −a P − b m⊗m`` with ``P`` the deviatoric projector, instead of the
        tangents (each law's ``update_in_parts``; zero at the linear phases; where
        :attr:`tangent_parts`).

        Args:
            eps: strains ``(M, N, n)``.
            committed: the ``M`` cells' flat histories, arrays ``(M, n_phase, ...)``.

        Returns:
            ``(sigma (M, N, n), (a (M, N), b (M, N), m (M, N, n)), trial, sigma33 (M, N))``.
        """
        M, N, n = eps.shape
        return self._gathered(eps, committed, lambda mat: False if mat.is_linear else "parts",
                              lambda: (np.zeros((M, N)), np.zeros((M, N)), np.zeros((M, N, n))))

    def elastic_trial_many(self, tag: int, eps: npt.NDArray[np.float64], committed: dict,
                           positions: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.bool_]:
        """Whether an increment is elastic at every point of phase ``tag`` (or at its points
        ``positions``) of ``M`` cells (its law's ``elastic_trial``, one call for all of them).

        Args:
            tag: a phase of :attr:`trial_phases`.
            eps: the strains at those points ``(M, K, n)``.
            committed: the ``M`` cells' flat histories, arrays ``(M, n_phase, ...)``.
            positions: ``(K,)`` positions among the phase's points; default all of them.

        Returns:
            ``(M,)`` bool.
        """
        M, K, n = eps.shape
        if positions is None:
            state = self._stacked_phase_state(committed, tag)
        else:
            state = {key: committed[flat][:, positions].reshape((M * K,) + committed[flat].shape[2:])
                     for flat, key in self._keys[tag]}
        elastic = self.materials[tag].elastic_trial(eps.reshape(-1, n), state)
        return elastic.reshape(M, K).all(axis=1)

    def evaluate_many(self, eps: npt.NDArray[np.float64], committed: dict):
        """:meth:`update` with tangents for ``M`` cells at once.

        Args:
            eps: strains ``(M, N, n)``.
            committed: the ``M`` cells' flat histories, arrays ``(M, n_phase, ...)``.

        Returns:
            ``(sigma (M, N, n), D (M, N, n, n), trial, sigma33 (M, N))``.
        """
        M, N, n = eps.shape
        return self._gathered(eps, committed, lambda mat: True, lambda: np.empty((M, N, n, n)))

    def _gathered(self, eps: npt.NDArray[np.float64], committed: dict, tangent_of, blank):
        """Every phase's update (:meth:`_phase_updates` with ``tangent_of``) of ``M`` cells
        gathered: ``(sigma (M, N, n), tangent, trial, sigma33 (M, N))``. ``tangent`` is a
        phase's own when its points are all the points, else ``blank()`` (one array
        ``(M, N, ...)`` or a tuple of them, the laws' tangents' layout) filled phase by
        phase (left as made at the phases without one)."""
        M, N, n = eps.shape
        parts = list(self._phase_updates(eps, committed, tangent_of))
        trial = {key: value for part in parts for key, value in part[5].items()}
        for _, idx, s, t, s33, _ in parts:
            if t is not None and idx.size == N and np.array_equal(idx, np.arange(N)):  # one phase holds every point
                return s, t, trial, (s33 if s33 is not None else np.zeros((M, N)))
        sigma, sigma33, tangent = np.empty((M, N, n)), np.zeros((M, N)), blank()
        arrays = tangent if isinstance(tangent, tuple) else (tangent,)
        for _, idx, s, t, s33, _ in parts:
            sigma[:, idx] = s
            if t is not None:
                for array, value in zip(arrays, t if isinstance(t, tuple) else (t,)):
                    array[:, idx] = value
            if s33 is not None:
                sigma33[:, idx] = s33
        return sigma, tangent, trial, sigma33

    def free_energy_many(self, eps: npt.NDArray[np.float64], state: dict) -> npt.NDArray[np.float64]:
        """:meth:`free_energy` of ``M`` cells: strains ``(M, N, n)`` → ``(M, N)``."""
        M, N, n = eps.shape
        values = np.zeros((M, N))
        for tag, mat in self.materials.items():
            idx = self.phase_points[tag]
            values[:, idx] = mat.free_energy(eps[:, idx].reshape(-1, n),
                                             self._stacked_phase_state(state, tag)).reshape(M, idx.size)
        return values

    def dissipation_many(self, old: dict, new: dict) -> npt.NDArray[np.float64]:
        """:meth:`dissipation` of ``M`` cells (histories ``(M, n_phase, ...)``) → ``(M, N)``."""
        M = next(iter(old.values())).shape[0] if old else 0
        values = np.zeros((M, self.n_points))
        for tag, mat in self.materials.items():
            if self._keys[tag]:  # laws without history (linear, hyperelastic) dissipate nothing
                idx = self.phase_points[tag]
                values[:, idx] = mat.dissipation(self._stacked_phase_state(old, tag),
                                                 self._stacked_phase_state(new, tag)).reshape(M, idx.size)
        return values

    def point_values(self, state: dict, key: str) -> npt.NDArray[np.float64]:
        """History variable ``key`` at every point, ``(N,)`` (0 in phases without it)."""
        values = np.zeros(self.n_points)
        for tag in self.materials:
            if f"{tag}:{key}" in state:
                values[self.phase_points[tag]] = state[f"{tag}:{key}"]
        return values

    def dissipation(self, old: dict, new: dict) -> npt.NDArray[np.float64]:
        """Energy dissipated per unit volume from history ``old`` to ``new``, ``(N,)``
        (0 in phases without history: linear and hyperelastic)."""
        values = np.zeros(self.n_points)
        for tag, mat in self.materials.items():
            if self._keys[tag]:
                values[self.phase_points[tag]] = mat.dissipation(self.phase_state(old, tag),
                                                                 self.phase_state(new, tag))
        return values

    def free_energy(self, eps: npt.NDArray[np.float64], state: dict) -> npt.NDArray[np.float64]:
        """Stored energy density at every point, ``(N,)``."""
        values = np.zeros(self.n_points)
        for tag, mat in self.materials.items():
            idx = self.phase_points[tag]
            values[idx] = mat.free_energy(eps[idx], self.phase_state(state, tag))
        return values
