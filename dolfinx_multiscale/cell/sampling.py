"""Training data of reduced cells: load paths, full-RVE snapshots, POD modes.

* :func:`first_yield_strain` — the macro strain norm at which a cell first leaves its
  elastic range, from its elastic strain localization (one law call per bisection step);
* :func:`training_paths` — strain paths (Mandel ``(n,)`` per step) that cover what an FE²
  macro point asks for: directions biased to the deviatoric subspace (bending and shear
  are nearly isochoric) plus volumetric ones; proportional load–unload paths, non-
  proportional ones (to one direction, then another, then back), and *one-step* radial
  paths (a macro step reaches its load in one implicit increment, whose micro history
  differs from that of a finely stepped path);
* :func:`candidate_loads` — cheap one- and two-step loads for the greedy enrichment;
* :func:`snapshots` — the full RVE's fluctuation and point stresses at every converged
  step of such paths, the paths dealt over the ranks (:func:`spread`);
* :func:`pod_modes` — the elastic unit fluctuations and the proper orthogonal
  decomposition of what the snapshots hold beyond them.

The fit of a reduced model to these data is :mod:`.training`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from ..errors import RVEConvergenceError
from ..materials.protocol import repeat, take
from ..parallel import map_over_ranks

__all__ = ["COVERED_HISTORY", "Snapshots", "candidate_loads", "directions", "first_yield_strain", "pod_modes",
           "snapshots", "spread", "training_paths"]

#: halvings of a training step whose micro Newton fails
_MAX_CUTS = 4
#: the history keys (of every phase) the snapshots keep, whose training range a model
#: records for its cheap range check: J2's equivalent plastic strain
COVERED_HISTORY = ("p",)


def _volumetric(n: int) -> npt.NDArray[np.float64]:
    """The unit volumetric direction of the Mandel strain (in-plane in 2-D plane strain)."""
    d = 2 if n == 3 else 3
    v = np.zeros(n)
    v[:d] = 1.0 / np.sqrt(d)
    return v


def directions(n: int, count: int, rng: np.random.Generator, volumetric_share: float = 0.25
               ) -> npt.NDArray[np.float64]:
    """``count`` unit Mandel strain directions ``(count, n)``: a share ``volumetric_share``
    uniform on the unit sphere, the others uniform on the deviatoric unit sphere."""
    v = _volumetric(n)
    x = rng.normal(size=(count, n))
    deviatoric = rng.uniform(size=count) >= volumetric_share
    x[deviatoric] -= np.outer(x[deviatoric] @ v, v)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def training_paths(n: int, amplitude: float, count: int, steps: int, seed: int) -> list[list[npt.NDArray]]:
    """Random strain paths (Mandel ``(n,)`` per step, each from the virgin state).

    Path ``k`` is, by ``k mod 3``: proportional load–unload (to ``a₁ d₁`` and back to 0 in
    ``steps`` steps per segment); non-proportional (to ``a₁ d₁``, then ``a₂ d₂``, then 0);
    one-step radial (to ``a₁ d₁`` in one step and back in one). ``d`` from
    :func:`directions`, ``a`` uniform in ``[amplitude/4, amplitude]``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        d1, d2 = directions(n, 2, rng)
        a1, a2 = amplitude * rng.uniform(0.25, 1.0, size=2)
        kind = k % 3
        corners = [np.zeros(n), a1 * d1] + ([a2 * d2] if kind == 1 else []) + [np.zeros(n)]
        per_segment = 1 if kind == 2 else steps
        path = []
        for A, B in zip(corners[:-1], corners[1:]):
            path += [A + (B - A) * t for t in np.linspace(0, 1, per_segment + 1)[1:]]
        out.append(path)
    return out


def first_yield_strain(rve, count: int = 64, seed: int = 0, comm=None) -> float:
    """The median over random directions (:func:`directions`) of the macro strain norm at
    which some micro point of ``rve`` first leaves the elastic range.

    With the elastic localization ``ε_p = A_p E`` (``A = I + B W_el``), the virgin cell's
    law is evaluated at ``a A d`` for all directions at once and ``a`` bracketed by
    decades, then bisected to 1e-5 relative, between elastic (every micro tangent the
    elastic one; or, where every inelastic law has ``elastic_trial``, its trial test at
    the points of those phases alone, a fraction of the cost) and not; each direction on
    its own (with ``comm``, the directions dealt to its ranks: the same answer as
    serially).
    """
    cell = rve.batched_cell
    _, W, D_el = rve.initial_tangent()
    unit = cell.strains(np.eye(rve.n), W)  # (n, N, n): micro strain of E = e_k
    d = directions(rve.n, count, np.random.default_rng(seed))
    if comm is not None:
        d = d[comm.rank::comm.size]
    eps = np.einsum("mk,kpi->mpi", d, unit)
    virgin = repeat(take(rve.initial_state(1), 0), len(d))

    laws = rve.laws

    def elastic_at(a, which):
        strain, committed = a[which, None, None] * eps[which], take(virgin, which)
        if laws.trial_phases is None:
            return laws.update_many(strain, committed, D_el)[1]
        elastic = np.ones(which.size, dtype=bool)
        for tag in laws.trial_phases:
            elastic &= laws.elastic_trial_many(tag, strain[:, laws.phase_points[tag]], committed)
        return elastic

    lo, hi = np.zeros(len(d)), np.ones(len(d))
    rising = np.arange(len(d))  # an upper bound: strains of 1 and more are outside small strain anyway
    while rising.size and hi.max() < 1e3:
        rising = rising[elastic_at(hi, rising)]
        hi[rising] *= 10
    lo[hi > 1] = hi[hi > 1] / 10
    falling = np.flatnonzero(hi == 1)  # down by decades while plastic: then hi / lo = 10
    while falling.size and hi[falling].min() > 1e-12:
        elastic = elastic_at(hi / 10, falling)
        lo[falling[elastic]] = hi[falling[elastic]] / 10
        falling = falling[~elastic]
        hi[falling] /= 10
    for _ in range(40):  # bisection to 1e-5 relative
        active = np.flatnonzero((hi - lo) > 1e-5 * hi)
        if active.size == 0:
            break
        mid = 0.5 * (lo + hi)
        elastic = elastic_at(mid, active)
        lo[active[elastic]], hi[active[~elastic]] = mid[active[elastic]], mid[active[~elastic]]
    if comm is not None:
        hi = np.concatenate(comm.allgather(hi))
    return float(np.median(hi))


@dataclasses.dataclass
class Snapshots:
    """The full RVE's fields at every converged step of training paths.

    Attributes:
        w: fluctuation dofs as columns ``(n_dofs, S)``.
        eps, sigma: point strains and stresses ``(S, N, n)``.
        sigma33: point out-of-plane stresses ``(S, N)`` (plane strain; else 0).
        Sigma: per path, the list of its macro stresses ``(n,)``.
        history: the ``COVERED_HISTORY`` variables, per flat key ``"<tag>:<key>"``
            ``(S, n_phase)``.
    """

    w: npt.NDArray[np.float64]
    eps: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64]
    sigma33: npt.NDArray[np.float64]
    Sigma: list
    history: dict

    def joined(self, other: Snapshots) -> Snapshots:
        """These snapshots followed by ``other``'s (of the same cell)."""
        return Snapshots(np.column_stack([self.w, other.w]), *(np.concatenate([a, b]) for a, b in (
            (self.eps, other.eps), (self.sigma, other.sigma), (self.sigma33, other.sigma33))),
            self.Sigma + other.Sigma, {k: np.concatenate([v, other.history[k]]) for k, v in self.history.items()})


def snapshots(rve, paths: list[list[npt.ArrayLike]], comm=None) -> Snapshots:
    """The full RVE along ``paths`` (strain control), each from the virgin state; a step
    whose micro Newton fails is halved (up to 4 times). ``rve`` is left virgin.

    With ``comm``, the paths are dealt round-robin to its ranks (each with its own serial
    ``rve`` of the same cell) and the snapshots gathered, in the paths' order, on all."""
    virgin = take(rve.initial_state(1), 0)

    def along(path):
        rve.committed_state = virgin
        E_n, fields, Sigmas = np.zeros(rve.n), [], []
        for E in path:
            E = np.asarray(E, dtype=float)
            Sigmas.append(_reach(rve, E_n, E))
            r = rve.response
            fields.append((r.w.copy(), r.eps.copy(), r.sigma.copy(), r.sigma33.copy(),
                           {k: v.copy() for k, v in r.history.items() if k.split(":")[-1] in COVERED_HISTORY}))
            E_n = E
        rve.committed_state = virgin
        return fields, Sigmas

    per_path = spread(comm, paths, along)
    w, eps, sigma, sigma33, history = zip(*[f for fields, _ in per_path for f in fields])
    return Snapshots(np.column_stack(w), np.asarray(eps), np.asarray(sigma), np.asarray(sigma33),
                     [Sigmas for _, Sigmas in per_path], {k: np.asarray([h[k] for h in history]) for k in history[0]})


def spread(comm, items: list, work, label="training path {}".format) -> list:
    """``[work(x) for x in items]``, the items dealt round-robin to the ranks of ``comm``
    (``None`` or one rank: all here, exceptions as raised) and the results gathered on all
    ranks in order (:func:`~dolfinx_multiscale.parallel.map_over_ranks`)."""
    if comm is None or comm.size == 1:
        return [work(x) for x in items]
    return [value for _, _, value in map_over_ranks(lambda i: work(items[i]), len(items), comm, label=label)]


def _reach(rve, E_n, E, cuts: int = 0) -> npt.NDArray[np.float64]:
    """Solve and commit ``E`` from the committed ``E_n``, halving on failure."""
    try:
        Sigma, _ = rve.solve(E, tangent=False)
    except RVEConvergenceError:
        if cuts == _MAX_CUTS:
            raise
        _reach(rve, E_n, 0.5 * (E_n + E), cuts + 1)
        return _reach(rve, 0.5 * (E_n + E), E, cuts + 1)
    rve.commit()
    return Sigma


def pod_modes(S: npt.NDArray[np.float64], elastic: npt.NDArray[np.float64], max_modes: int | None = None
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The elastic modes and the POD modes of the snapshots outside their span.

    Args:
        S: fluctuation snapshots ``(n_dofs, S)``.
        elastic: the elastic unit fluctuations ``(n_dofs, n)`` (always kept, first).
        max_modes: bound on the number of POD modes returned.

    Returns:
        ``(basis (n_dofs, n + k), left (k + 1,))``: the orthonormalized elastic modes, then
        the POD modes by decreasing singular value; ``left[j]`` is the share of the
        snapshots' energy ``‖S‖²_F`` outside the span of the elastic and the first ``j``
        POD modes.
    """
    Q = np.linalg.qr(elastic)[0]
    U, s, _ = np.linalg.svd(S - Q @ (Q.T @ S), full_matrices=False)
    keep = s > 1e-10 * np.linalg.norm(S)  # round-off of the projection is no mode
    if max_modes is not None:
        keep[max_modes:] = False
    U, s_all = U[:, keep], s
    left = np.append(np.cumsum(s_all[::-1] ** 2)[::-1], 0.0)[: keep.sum() + 1] / max(float((S**2).sum()), 1e-300)
    return np.column_stack([Q, U]), left


def candidate_loads(n: int, amplitude: float, count: int, seed: int) -> list[list[npt.NDArray[np.float64]]]:
    """``count`` cheap loads from the virgin state (Mandel ``(n,)`` per step), drawn like
    :func:`training_paths` (directions from :func:`directions`, amplitudes uniform in
    ``[amplitude/4, amplitude]``): load ``k`` is ``[a₁ d₁]`` (one-step radial) for even
    ``k``, ``[a₁ d₁, a₂ d₂]`` (two-step non-proportional) for odd ``k``."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        d1, d2 = directions(n, 2, rng)
        a1, a2 = amplitude * rng.uniform(0.25, 1.0, size=2)
        out.append([a1 * d1] if k % 2 == 0 else [a1 * d1, a2 * d2])
    return out
