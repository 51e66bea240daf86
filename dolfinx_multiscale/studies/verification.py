"""Verification: mesh convergence, observed order, Richardson extrapolation, FD tangent
and Hill–Mandel checks, and a JSON report per study (its picture:
:func:`~dolfinx_multiscale.viz.plot_mesh_convergence`).

A discretized quantity ``q_h`` (an entry of ``C_eff``, a macro reaction, ...) of a
method of order ``p`` behaves asymptotically as

    q_h = q* + c h^p + o(h^p),

so three mesh sizes determine ``p`` and ``q*``. With a constant refinement ratio
``r = h₁/h₂ = h₂/h₃`` (coarse to fine) the observed order is the three-level formula

    p = log((q₁ − q₂)/(q₂ − q₃)) / log r,

and the Richardson-extrapolated value from the two finest levels is

    q_R = q₃ + (q₃ − q₂)/(r^p − 1).

When an exact (or much finer) reference ``q*`` is known, ``p`` is the least-squares
slope of ``log|q_h − q*|`` against ``log h`` over all levels instead.

Which order to expect: the diagonal entries ``C_ii = e_iᵀ C e_i`` are energies (the
minimum of the cell energy for a unit macro strain), so their error is the energy error,
``O(h^{2k})`` for Lagrange degree ``k`` on a smooth problem. Two effects cap it at
``O(h²)``: straight-sided meshes of curved interfaces (the polygon's area is off by
``O(h²)``) and a coefficient that is sampled per cell (:func:`graded_cell`). Off-diagonal
entries are differences of energies and can converge irregularly on coarse meshes.

The studies run unchanged under ``mpiexec``: every function here returns the same
numbers on every rank, and :func:`write_report` writes on rank 0 only.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mpi4py import MPI

import numpy as np
import numpy.typing as npt

__all__ = [
    "convergence_order",
    "convergence_studies",
    "effective_tensor_study",
    "fe2_reaction_study",
    "graded_cell",
    "hill_mandel_check",
    "mesh_convergence",
    "observed_rate",
    "richardson_extrapolation",
    "tangent_check",
    "tensor_components",
    "write_report",
]

_METADATA_KEYS = ("n_dofs",)


# -- observed order and extrapolation ---------------------------------------------------
def _levels(hs, values, minimum: int):
    """Validate and sort (coarse → fine); returns ``h (m,)`` and ``q (m, k)``, shape."""
    h = np.asarray(hs, dtype=float).reshape(-1)
    q = np.asarray(values, dtype=float)
    if h.size < minimum:
        raise ValueError(f"hs must hold at least {minimum} mesh sizes; got {h.size}")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"hs must be positive and finite; got {h.tolist()}")
    if np.unique(h).size != h.size:
        raise ValueError(f"hs must be distinct; got {h.tolist()}")
    if q.ndim == 0 or q.shape[0] != h.size:
        raise ValueError(f"values must have shape (len(hs), ...) = ({h.size}, ...); got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("values must be finite")
    order = np.argsort(-h)
    shape = q.shape[1:]
    return h[order], q[order].reshape(h.size, -1), shape


def _three_level_order(h, q, atol: float) -> float:
    """Order from three levels (coarse → fine), any refinement ratios; NaN if undefined
    (differences not above ``atol`` or of opposite signs)."""
    d1, d2 = q[0] - q[1], q[1] - q[2]
    if abs(d1) <= atol or abs(d2) <= atol or d1 * d2 <= 0:
        return math.nan  # converged to round-off, or oscillating: no monotone order
    ratio = d1 / d2
    r1, r2 = h[0] / h[1], h[1] / h[2]
    if abs(r1 - r2) <= 1e-12 * r1:
        return math.log(ratio) / math.log(r1) if ratio > 0 else math.nan
    from scipy.optimize import brentq

    def g(p):  # (h1^p − h2^p)/(h2^p − h3^p) − ratio, in scaled form (h3 = 1)
        a, b = (h[0] / h[2]) ** p, (h[1] / h[2]) ** p
        return (a - b) / (b - 1.0) - ratio

    lo, hi = 1e-3, 30.0
    if g(lo) * g(hi) > 0:
        return math.nan
    return float(brentq(g, lo, hi, xtol=1e-12))


def _projected_residual(p, h, q) -> float:
    """Least-squares residual of ``q ≈ q* + c h^p`` with ``q*, c`` eliminated."""
    A = np.column_stack([np.ones_like(h), (h / h[-1]) ** p])
    coef, *_ = np.linalg.lstsq(A, q, rcond=None)
    return float(np.sum((A @ coef - q) ** 2))


def _fit_order(h, q, atol: float) -> float:
    """Observed order of ``q ≈ q* + c h^p`` from m ≥ 3 levels without a reference."""
    p3 = _three_level_order(h[-3:], q[-3:], atol)
    if h.size == 3 or not np.isfinite(p3):
        return p3
    from scipy.optimize import minimize_scalar

    grid = np.linspace(0.05, 10.0, 200)
    res = np.array([_projected_residual(p, h, q) for p in grid])
    k = int(np.argmin(res))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    opt = minimize_scalar(_projected_residual, bounds=(lo, hi), args=(h, q), method="bounded",
                          options={"xatol": 1e-10})
    return float(opt.x)


def observed_rate(h: Sequence[float], error: Sequence[float]) -> float:
    """Least-squares slope of ``log(error)`` against ``log(h)``: ``error ≈ c h^rate``.

    The observed order of convergence when the error itself is known (against an exact
    or much finer reference), over any number of levels: :func:`convergence_order` with
    a ``reference`` uses it per component, and the scale-separation study uses it for
    the rates of its errors in ``ε``.

    Args:
        h: mesh sizes (or cell sizes ``ε``), at least 2, positive, any order.
        error: the errors at those sizes, positive, same shape as ``h``.

    Raises:
        ValueError: fewer than 2 or mismatched values, or a size or error ``≤ 0``.
    """
    h, error = np.asarray(h, dtype=float), np.asarray(error, dtype=float)
    if h.size < 2 or h.shape != error.shape:
        raise ValueError(f"need >= 2 matching (h, error) values; got {h.size} and {error.size}")
    if (h <= 0).any() or (error <= 0).any():
        raise ValueError("h and error must be > 0")
    return float(np.polyfit(np.log(h), np.log(error), 1)[0])


def _reference_order(h, err, atol: float) -> float:
    """:func:`observed_rate` of ``|err|``; NaN when an error is at round-off (``≤ atol``)."""
    err = np.abs(err)
    if np.any(err <= atol):
        return math.nan
    return observed_rate(h, err)


def convergence_order(hs: Sequence[float], values: npt.ArrayLike, reference=None,
                      atol: float | None = None):
    """Observed order of convergence ``p`` of ``q_h = q* + c h^p``.

    Args:
        hs: mesh sizes, at least 3, distinct (any order; sorted coarse → fine inside).
        values: ``q_h`` per mesh size, shape ``(len(hs),)`` or ``(len(hs), ...)`` (one
            order per component, e.g. ``(m, 3, 3)`` for Mandel tensors).
        reference: the exact value ``q*`` (scalar or the trailing shape of ``values``),
            e.g. an analytic solution or a much finer mesh.
        atol: differences ``|q_i − q_j|`` (or errors) not above ``atol`` count as
            round-off (default ``1e-13 max|values|``); pass the scale of the whole
            tensor when ``values`` is one entry of it.

    Returns:
        ``p`` (a float for scalar values, an array of the trailing shape otherwise).
        With ``reference``: the least-squares slope of ``log|q_h − q*|`` vs ``log h``
        (:func:`observed_rate`).
        Without: the three-level formula ``p = log((q₁−q₂)/(q₂−q₃))/log r`` for three
        levels of constant ratio ``r`` (the equation
        ``(h₁^p−h₂^p)/(h₂^p−h₃^p) = (q₁−q₂)/(q₂−q₃)`` for other ratios), and for more
        levels the nonlinear least-squares fit of ``q* + c h^p`` (``q*``, ``c`` eliminated).
        NaN where the order is undefined: differences at round-off (``≤ atol``: a
        component that is exact, or zero by symmetry) or of alternating sign
        (non-monotone convergence).

    Raises:
        ValueError: fewer than 3 levels, non-positive or repeated ``hs``, mismatched
            shapes, non-finite values.
    """
    h, q, shape = _levels(hs, values, 3)
    if atol is None:
        atol = 1e-13 * float(np.abs(q).max())
    if reference is None:
        p = np.array([_fit_order(h, q[:, k], atol) for k in range(q.shape[1])])
    else:
        ref = np.broadcast_to(np.asarray(reference, dtype=float), shape).reshape(-1)
        p = np.array([_reference_order(h, q[:, k] - ref[k], atol) for k in range(q.shape[1])])
    return float(p[0]) if shape == () else p.reshape(shape)


def richardson_extrapolation(hs: Sequence[float], values: npt.ArrayLike, order):
    """Richardson-extrapolated value from the two finest levels.

    ``q_R = q_f + (q_f − q_c)/(r^p − 1)`` with ``r = h_c/h_f`` (coarser over finer).

    Args:
        hs: mesh sizes, at least 2, distinct (any order).
        values: ``q_h`` per mesh size, shape ``(len(hs), ...)``.
        order: ``p > 0``, a scalar or one per component (the trailing shape of
            ``values``), e.g. the theoretical order or :func:`convergence_order`.

    Returns:
        ``q_R`` (float or array of the trailing shape).

    Raises:
        ValueError: bad ``hs``/``values`` or an order that is not positive and finite.
    """
    h, q, shape = _levels(hs, values, 2)
    p = np.broadcast_to(np.asarray(order, dtype=float), shape).reshape(-1)
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"order must be positive and finite; got {np.asarray(order).tolist()}")
    r = h[-2] / h[-1]
    qR = q[-1] + (q[-1] - q[-2]) / (r**p - 1.0)
    return float(qR[0]) if shape == () else qR.reshape(shape)


# -- mesh-convergence studies -----------------------------------------------------------
def _as_quantities(result) -> tuple[dict[str, npt.NDArray[np.float64]], dict]:
    if isinstance(result, Mapping):
        meta = {k: result[k] for k in _METADATA_KEYS if k in result}
        out = {str(k): np.asarray(v, dtype=float) for k, v in result.items() if k not in _METADATA_KEYS}
    else:
        meta, out = {}, {"q": np.asarray(result, dtype=float)}
    if not out:
        raise ValueError("study_fn returned no quantity")
    return out, meta


def mesh_convergence(study_fn: Callable[[float], object], hs: Sequence[float], reference=None,
                     theoretical_order: float | None = None,
                     richardson_order: str = "observed", atol=None) -> dict:
    """Run ``study_fn(h)`` for every mesh size and report the convergence of its output.

    Args:
        study_fn: ``study_fn(h)`` → a number, an array, or a dict ``{name: number |
            array}`` (a key ``"n_dofs"`` is kept as metadata, not studied). It must
            return the same numbers on every rank (collective solves do).
            :func:`effective_tensor_study` and :func:`fe2_reaction_study` make such
            functions.
        hs: at least 3 distinct mesh sizes (run coarse → fine).
        reference: exact values, as ``study_fn`` returns them (a dict by name, or one
            value for a non-dict study), or ``None``.
        theoretical_order: the expected order, recorded and used by Richardson where
            the observed order is undefined (or always, see below).
        richardson_order: ``"observed"`` (per-component observed order; the theoretical
            one where that is undefined) or ``"theoretical"``.
        atol: round-off level of the differences (see :func:`convergence_order`): a
            number, a dict by quantity name, or ``None`` (per quantity,
            ``1e-13 max|values|``). For the entries of one tensor pass the tensor's
            scale, so entries that are zero by symmetry get no order.

    Returns:
        A JSON-ready dict: ``h`` (coarse → fine), ``wall_s``, ``n_dofs`` (when given),
        ``theoretical_order`` and ``quantities`` → name → ``values`` (per h),
        ``observed_order`` (:func:`convergence_order`; with ``reference`` the log–log
        fit of the errors), ``richardson`` (:func:`richardson_extrapolation`, ``None``
        when no order is available), ``errors`` (``|q_h − reference|``, or the
        estimate ``|q_h − q_R|`` when there is no reference), ``error_kind``
        (``"reference"`` / ``"richardson"``) and ``reference``. Arrays become nested
        lists; undefined numbers become ``None``.

    Raises:
        ValueError: bad ``hs``, ``richardson_order``, or a study that returns
            different names or shapes at different ``h``.
    """
    if richardson_order not in ("observed", "theoretical"):
        raise ValueError(f"richardson_order must be 'observed' or 'theoretical'; got {richardson_order!r}")
    if richardson_order == "theoretical" and theoretical_order is None:
        raise ValueError("richardson_order='theoretical' needs theoretical_order")
    h = np.asarray(hs, dtype=float).reshape(-1)
    _levels(h, np.zeros(h.size), 3)
    h = np.sort(h)[::-1]
    runs, metas, walls = [], [], []
    for hk in h:
        t0 = time.perf_counter()
        quantities, meta = _as_quantities(study_fn(float(hk)))
        walls.append(time.perf_counter() - t0)
        if runs and (set(quantities) != set(runs[0])
                     or any(quantities[k].shape != runs[0][k].shape for k in quantities)):
            raise ValueError(f"study_fn returned different quantities at h={hk}")
        runs.append(quantities)
        metas.append(meta)
    if reference is not None and not isinstance(reference, Mapping):
        if list(runs[0]) != ["q"]:
            raise ValueError("reference must be a dict by quantity name for a dict-valued study")
        reference = {"q": reference}
    report = {"h": h.tolist(), "wall_s": walls, "theoretical_order": theoretical_order,
              "richardson_order": richardson_order, "quantities": {}}
    if metas[0]:
        for key in metas[0]:
            report[key] = [m.get(key) for m in metas]
    for name in runs[0]:
        q = np.array([run[name] for run in runs])
        ref = None if reference is None or name not in reference else np.asarray(reference[name], float)
        tol = atol.get(name) if isinstance(atol, Mapping) else atol
        p_obs = np.asarray(convergence_order(h, q, ref, atol=tol))
        if richardson_order == "theoretical":
            p_used = np.full(p_obs.shape, float(theoretical_order))
        else:
            fallback = math.nan if theoretical_order is None else float(theoretical_order)
            p_used = np.where(np.isfinite(p_obs) & (p_obs > 0), p_obs, fallback)
        qR = np.full(q.shape[1:], np.nan)
        ok = np.isfinite(p_used) & (p_used > 0)
        if ok.any():
            flat_ok = ok.reshape(-1)
            qR_all = np.asarray(richardson_extrapolation(h, q.reshape(h.size, -1)[:, flat_ok],
                                                         p_used.reshape(-1)[flat_ok]))
            qR.reshape(-1)[flat_ok] = qR_all
        target = ref if ref is not None else qR
        report["quantities"][name] = {
            "values": q.tolist(),
            "observed_order": _json_ready(p_obs),
            "richardson": _json_ready(qR),
            "richardson_order_used": _json_ready(p_used),
            "errors": _json_ready(np.abs(q - target)),
            "error_kind": "reference" if ref is not None else "richardson",
            "reference": None if ref is None else _json_ready(ref),
        }
    return report


def _json_ready(x):
    """Arrays → nested lists, NaN/inf → None (strict JSON)."""
    if isinstance(x, Mapping):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_ready(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def tensor_components(C: npt.ArrayLike, components=None) -> dict[str, float]:
    """Named entries of a Mandel matrix: ``{"C11": C[0, 0], "C12": C[0, 1], ...}``.

    Args:
        C: ``(n, n)`` Mandel stiffness (or conductivity) matrix.
        components: ``[(i, j), ...]`` 0-based Mandel positions; default the upper
            triangle. Names are 1-based Mandel positions (``C33`` = shear in 2-D).
    """
    C = np.asarray(C, dtype=float)
    n = C.shape[0]
    pairs = components if components is not None else [(i, j) for i in range(n) for j in range(i, n)]
    return {f"C{i + 1}{j + 1}": float(C[i, j]) for i, j in pairs}


def effective_tensor_study(make_cell: Callable, bc: str = "periodic", degree: int = 1,
                           components=None, comm: MPI.Comm = MPI.COMM_WORLD,
                           petsc_options_prefix: str = "verify_"):
    """A ``study_fn(h)`` for :func:`mesh_convergence`: entries of ``C_eff`` at mesh size h.

    Args:
        make_cell: ``make_cell(h, comm) -> (micro, materials)`` (a Microstructure and
            its phase → material dict), e.g. ``lambda h, comm:
            (circular_inclusion(0.3, h=h, comm=comm), mats)`` or :func:`graded_cell`.
        bc: ``"periodic"``, ``"kubc"`` or ``"subc"``.
        degree: Lagrange degree of the fluctuation (1: P1, 2: P2).
        components: Mandel positions to report (see :func:`tensor_components`).
        comm: the RVE's communicator (one RVE distributed over its ranks).

    Returns:
        ``study_fn(h) -> {"C11": ..., "C12": ..., ..., "n_dofs": ...}``.
    """
    from ..cell.rve import RVE

    def study(h: float) -> dict:
        micro, materials = make_cell(h, comm)
        rve = RVE(micro, materials, bc=bc, degree=degree, petsc_options_prefix=petsc_options_prefix)
        out = tensor_components(rve.effective_tensor(), components)
        out["n_dofs"] = rve.n_dofs
        return out

    return study


def fe2_reaction_study(make_cell: Callable, load: float = 0.01, mode: str = "tension",
                       cells: int = 2, rve_degree: int = 1, comm: MPI.Comm = MPI.COMM_WORLD):
    """A ``study_fn(h)`` for :func:`mesh_convergence`: an FE² macro reaction vs micro h.

    The macro problem is :class:`~dolfinx_multiscale.macro.Beam` (``cells`` elements
    along the beam, on ``comm``) whose material is an
    :class:`~dolfinx_multiscale.macro.fe2.FE2Material` with the RVE of ``make_cell(h,
    MPI.COMM_SELF)`` at every macro quadrature point; one load step of ``load``.

    Returns:
        ``study_fn(h) -> {"reaction": R, "n_dofs": micro dofs}`` (same on all ranks).
    """
    from ..macro.fe2 import FE2Material
    from ..macro.problems import Beam
    from ..cell.rve import RVE

    def study(h: float) -> dict:
        micro, materials = make_cell(h, MPI.COMM_SELF)
        rve = RVE(micro, materials, degree=rve_degree, petsc_options_prefix="verify_fe2_")
        beam = Beam(lambda m: FE2Material(rve, m), cells=cells, mode=mode, comm=comm)
        beam.run([load])
        return {"reaction": beam.reaction(), "n_dofs": rve.n_dofs}

    return study


def graded_cell(n: int, modulus: Callable | None = None, nu: float = 0.3,
                comm: MPI.Comm = MPI.COMM_WORLD):
    """A smoothly graded elastic unit cell: a structured periodic mesh with one phase per
    cell whose Young's modulus is a smooth periodic field sampled at the cell midpoint.

    The exact cell problem has a smooth (``C^∞``) solution, so this is the
    verification problem with a clean asymptotic range: ``C_ii(h) = C_ii + c h² + …``
    for P1 (energy error ``O(h²)``) and for P2 (the per-cell sampling of the modulus,
    an ``O(h²)`` midpoint-rule error, dominates the ``O(h⁴)`` P2 energy error).

    Args:
        n: cells per side (``h = 1/n``); the "crossed" triangulation (``4 n²``
            triangles), so the mesh is symmetric and nested under ``n → 2n``.
        modulus: ``modulus(x, y)`` → ``E`` (vectorised, positive, 1-periodic); default
            ``1 + 0.5 sin(2πx) cos(2πy) + 0.3 sin(2πy)``.
        nu: Poisson's ratio of every cell.
        comm: communicator of the mesh.

    Returns:
        ``(micro, materials)`` ready for :class:`~dolfinx_multiscale.cell.rve.RVE`: phase tag
        ``g + 1`` is global cell ``g``; the same on any number of ranks.
    """
    import dolfinx.mesh

    from ..materials import LinearElastic
    from ..geometry.microstructures import Microstructure

    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    if modulus is None:
        def modulus(x, y):
            return 1.0 + 0.5 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y) + 0.3 * np.sin(2 * np.pi * y)
    mesh = dolfinx.mesh.create_unit_square(comm, int(n), int(n),
                                           diagonal=dolfinx.mesh.DiagonalType.crossed)
    tdim = mesh.topology.dim
    imap = mesh.topology.index_map(tdim)
    cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    glob = imap.local_to_global(cells)
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, cells)[:, :2]
    owned = np.zeros((imap.size_global, 2))
    owned[glob[: imap.size_local]] = mid[: imap.size_local]
    mid_all = comm.allreduce(owned, op=MPI.SUM)
    E = np.asarray(modulus(mid_all[:, 0], mid_all[:, 1]), dtype=float)
    if E.shape != (imap.size_global,) or not np.all(E > 0):
        raise ValueError("modulus(x, y) must return positive values, one per point")
    cell_tags = dolfinx.mesh.meshtags(mesh, tdim, cells, (glob + 1).astype(np.int32))
    fraction = 1.0 / imap.size_global
    micro = Microstructure(mesh, cell_tags, (np.zeros(2), np.ones(2)),
                           {g + 1: fraction for g in range(imap.size_global)})
    return micro, {g + 1: LinearElastic(E=float(E[g]), nu=nu) for g in range(imap.size_global)}


# -- checks on one RVE ------------------------------------------------------------------
def tangent_check(rve, E: npt.ArrayLike, h: float = 1e-7) -> float:
    """Relative error of the condensed tangent against central finite differences.

    ``C_FD[:, k] = (Σ(E + h e_k) − Σ(E − h e_k)) / (2h)`` with ``Σ = rve.solve(·)[0]``
    (every solve from the committed state, nothing committed), compared with
    ``C = rve.solve(E)[1]``. The RVE is left with the trial state of ``E``.

    Args:
        rve: an :class:`~dolfinx_multiscale.cell.rve.RVE`.
        E: macro strain (Mandel ``(n,)``) or macro gradient.
        h: the finite-difference step (absolute, in strain units); the FD error is
            ``O(h²)`` plus (micro Newton tolerance × ``|Σ|``)/h.

    Returns:
        ``max|C_FD − C| / max|C|``.
    """
    if not h > 0:
        raise ValueError(f"h must be > 0; got {h}")
    E = np.asarray(E, dtype=float).reshape(-1)
    C = None
    C_fd = np.empty((rve.n, rve.n))
    for k in range(rve.n):
        dE = np.zeros(rve.n)
        dE[k] = h
        plus, _ = rve.solve(E + dE, tangent=False)
        minus, _ = rve.solve(E - dE, tangent=False)
        C_fd[:, k] = (plus - minus) / (2.0 * h)
    _, C = rve.solve(E, tangent=True)
    return float(np.abs(C_fd - C).max() / np.abs(C).max())


def hill_mandel_check(rve, E: npt.ArrayLike | None = None) -> float:
    """Hill–Mandel residual ``|⟨σ:ε⟩ − Σ:E| / (‖Σ‖ ‖E‖)`` of ``rve.solve(E)``.

    Args:
        rve: an :class:`~dolfinx_multiscale.cell.rve.RVE`.
        E: macro strain (Mandel ``(n,)``); ``None``: the maximum over the ``n`` unit
            strains.

    Returns:
        The residual (round-off for KUBC, periodic and SUBC alike).
    """
    loads = np.eye(rve.n) if E is None else [np.asarray(E, dtype=float).reshape(-1)]
    residuals = []
    for Ek in loads:
        rve.solve(Ek, tangent=False)
        residuals.append(rve.hill_mandel_residual())
    return float(max(residuals))


# -- report -----------------------------------------------------------------------------
def convergence_studies(report: Mapping) -> dict[str, Mapping]:
    """The studies of a convergence report, by name.

    Args:
        report: a :func:`mesh_convergence` dict (returned as ``{"": report}``) or a dict
            of them by study name (returned as a dict).

    Raises:
        ValueError: ``report`` is neither.
    """
    if "quantities" in report:
        return {"": report}
    if not report or not all(isinstance(v, Mapping) and "quantities" in v for v in report.values()):
        raise ValueError("report must be a mesh_convergence() dict or a dict of them by name")
    return dict(report)


def write_report(report: Mapping, json_path: str | Path, *, comm: MPI.Comm = MPI.COMM_WORLD) -> None:
    """Write a convergence report as strict JSON (NaN written as ``null``); rank 0 writes.

    Args:
        report: a :func:`mesh_convergence` dict, or a dict of them by study name (e.g.
            ``{"P1": ..., "P2": ...}``); see :func:`convergence_studies`.
        json_path: output ``.json``.
        comm: only its rank 0 writes (every rank checks ``report``).

    The log–log picture of the same report is
    :func:`~dolfinx_multiscale.viz.plot_mesh_convergence`.

    Raises:
        ValueError: ``report`` is not a convergence report (on every rank; nothing is
            written).
    """
    convergence_studies(report)
    if comm.rank == 0:
        Path(json_path).write_text(json.dumps(_json_ready(report), indent=2) + "\n")
