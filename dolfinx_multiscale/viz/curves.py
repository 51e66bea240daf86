"""Matplotlib figures (off-screen, Agg backend) of curves and study reports.

Stress–strain curves of a load path, mesh-convergence reports, RVE-size ensembles,
Monte Carlo results, scale- and time-scale-separation reports. Every function takes the
JSON-ready dict a study returns (:mod:`~dolfinx_multiscale.studies`) and only draws it.
The functions with a ``comm`` argument may be called on every rank (rank 0 writes); the
others are called on one rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mpi4py import MPI

import numpy as np

__all__ = [
    "plot_load_path",
    "plot_mesh_convergence",
    "plot_monte_carlo",
    "plot_rve_size_study",
    "plot_scale_separation",
    "plot_time_scale_separation",
    "pyplot",
    "save_figure",
]


def pyplot():
    """``matplotlib.pyplot`` with the off-screen Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Lay out, write and close a matplotlib figure; returns the path."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def plot_load_path(records: list[dict], path: str | Path, components: list[int] | None = None,
                   labels: list[str] | None = None, finite: bool = False) -> Path:
    """Stress–strain curves of a load path (:func:`~dolfinx_multiscale.studies.loading.load_path`
    records) as a PNG.

    One panel per component: ``Σ_k`` against ``E_k`` (Mandel components, so shear
    panels show ``√2 σ12`` against ``√2 ε12``), with the origin prepended; loading and
    unloading appear as one polyline with markers. At finite strain (``finite``): ``P_ij``
    against ``F_ij`` from the undeformed state, and one more panel with the ellipticity
    indicator of every step (its first sign change marked). Call it on one rank.

    Args:
        records: the list returned by :func:`~dolfinx_multiscale.studies.loading.load_path`.
        path: output PNG.
        components: vector indices to plot (default: the components whose strain and
            stress both change along the path, i.e. not the stress-free ones).
        labels: component names for the axes (default ``"k"``).
        finite: the records are finite-strain ones (``E`` = ``F − I``, ``Sigma`` = ``P``).
    """
    plt = pyplot()
    n = len(records[0]["E"])
    rest = np.eye(int(round(np.sqrt(n)))).ravel() if finite else np.zeros(n)
    E = rest + np.vstack([np.zeros(n)] + [r["E"] for r in records])
    S = np.vstack([np.zeros(len(records[0]["Sigma"]))] + [r["Sigma"] for r in records])
    if components is None:
        noise = 1e-8 * np.abs(S).max()
        components = [k for k in range(E.shape[1]) if np.ptp(E[:, k]) > 0 and np.ptp(S[:, k]) > noise] or [0]
    labels = labels or [str(k) for k in range(E.shape[1])]
    panels = len(components) + int(finite)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4), squeeze=False)
    strain_name, stress_name, notation = ("F", "P", "") if finite else ("E", "Σ", " (Mandel)")
    for ax, k in zip(axes[0], components):
        ax.plot(E[:, k], S[:, k], "o-", ms=3)
        ax.set_xlabel(f"{strain_name}[{labels[k]}]{notation}")
        ax.set_ylabel(f"{stress_name}[{labels[k]}]{notation}")
        ax.grid(True, alpha=0.3)
    if finite:
        ax = axes[0][-1]
        steps = [r["step"] for r in records]
        indicator = [r["ellipticity"]["min"] for r in records]
        ax.plot(steps, indicator, "o-", ms=3)
        ax.axhline(0.0, color="k", lw=0.8)
        lost = [r["step"] for r in records if r.get("loss_of_ellipticity")]
        if lost:
            ax.axvline(lost[0], color="r", ls="--", label=f"loss of ellipticity, step {lost[0]}")
            ax.legend()
        ax.set_xlabel("step")
        ax.set_ylabel("min_n λ_min(Q(n))")
        ax.grid(True, alpha=0.3)
        fig.suptitle(f"RVE load path (finite strain): {len(records)} steps")
    else:
        p_mean = [r.get("p_mean", 0.0) for r in records]
        fig.suptitle(f"RVE load path: {len(records)} steps, final <p> = {p_mean[-1]:.3e}")
    return save_figure(fig, path)


def plot_mesh_convergence(report: Mapping, path: str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> Path | None:
    """Log–log PNG of a mesh-convergence report (rank 0 writes).

    One panel per study: the error of every quantity (against the reference, or the
    Richardson estimate) against ``h``, with the fitted order in the legend and a slope
    line of the theoretical order. The JSON side is
    :func:`~dolfinx_multiscale.studies.verification.write_report`.

    Args:
        report: a :func:`~dolfinx_multiscale.studies.verification.mesh_convergence`
            dict, or a dict of them by study name (e.g. ``{"P1": ..., "P2": ...}``).
        path: output ``.png``.
        comm: only its rank 0 writes (every rank checks ``report``).

    Returns:
        The path on rank 0, ``None`` on the other ranks.

    Raises:
        ValueError: ``report`` is neither of the above (on every rank).
    """
    from ..studies.verification import convergence_studies

    studies = convergence_studies(report)
    if comm.rank != 0:
        return None
    plt = pyplot()

    ncols = min(3, len(studies))
    nrows = -(-len(studies) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.2 * nrows), squeeze=False)
    for ax in axes.ravel()[len(studies):]:
        ax.set_visible(False)
    for ax, (title, study) in zip(axes.ravel(), studies.items()):
        h = np.asarray(study["h"], dtype=float)
        for name, data in study["quantities"].items():
            err = np.array(data["errors"], dtype=float).reshape(h.size, -1)
            p = np.array(data["observed_order"], dtype=float).reshape(-1)
            for k in range(err.shape[1]):
                e = err[:, k]
                keep = np.isfinite(e) & (e > 0)
                if keep.sum() < 2:
                    continue
                label = name if err.shape[1] == 1 else f"{name}[{k}]"
                order = f"{p[k]:.2f}" if np.isfinite(p[k]) else "n/a"
                ax.loglog(h[keep], e[keep], "o-", label=f"{label}: p = {order}")
        p_th = study.get("theoretical_order")
        if p_th:
            lines = [line.get_ydata() for line in ax.get_lines()]
            if lines:
                y0 = min(np.min(y) for y in lines)
                hh = np.array([h.min(), h.max()])
                ax.loglog(hh, y0 * (hh / h.min()) ** p_th, "k--", lw=1, label=f"slope {p_th:g}")
        kind = {d["error_kind"] for d in study["quantities"].values()}
        ax.set_xlabel("mesh size h")
        ax.set_ylabel("error" + (" (vs Richardson)" if kind == {"richardson"} else ""))
        ax.set_title(title or "mesh convergence")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=120)


def plot_rve_size_study(report: dict, path: str | Path, components=None,
                        comm: MPI.Comm = MPI.COMM_WORLD) -> Path | None:
    """PNG of an :func:`~dolfinx_multiscale.studies.uq.rve_size_study`: per component,
    the ensemble mean ± CI of every boundary condition against the size (the KUBC/SUBC
    bracket closing on the periodic value), plus the relative bracket width. Rank 0
    writes and gets the path, the others ``None``.

    Args:
        report: the :func:`~dolfinx_multiscale.studies.uq.rve_size_study` dict.
        path: output ``.png``.
        components: Mandel positions ``[(i, j), ...]`` (default ``(0, 0)`` and the last
            diagonal entry, the shear modulus ``2μ`` in elasticity).
    """
    if comm.rank != 0:
        return None
    plt = pyplot()

    rows = report["sizes_report"]
    n = np.asarray(rows[0]["mean"][report["bcs"][0]]).shape[0]
    components = components or [(0, 0), (n - 1, n - 1)]
    sizes = np.array([r["size"] for r in rows], dtype=float)
    fig, axes = plt.subplots(1, len(components) + 1, figsize=(4.6 * (len(components) + 1), 4.0))
    colours = {"kubc": "tab:red", "periodic": "tab:green", "subc": "tab:blue"}
    for ax, (i, j) in zip(axes, components):
        for bc in report["bcs"]:
            mean = np.array([r["mean"][bc][i][j] for r in rows])
            half = np.array([r["half_width"][bc][i][j] for r in rows])
            ax.errorbar(sizes, mean, yerr=half, fmt="o-", capsize=4, color=colours.get(bc), label=bc)
            for r in rows:
                ax.plot([r["size"]] * len(r["C"][bc]), [c[i][j] for c in r["C"][bc]], ".",
                        color=colours.get(bc), alpha=0.35)
        ax.set_xscale("log")
        ax.set_xlabel("size N (inclusions per cell)")
        ax.set_title(f"C{i + 1}{j + 1}: mean ± {int(100 * report['level'])} % CI")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    ax = axes[-1]
    widths = [r["bracket_width"] for r in rows]
    if all(w is not None for w in widths):
        ax.loglog(sizes, widths, "ko-", label="‖C̄_KUBC − C̄_SUBC‖ / ‖C̄_PBC‖")
    ax.loglog(sizes, [r["ci_half_width"] for r in rows], "s--", color="tab:green",
              label="CI half-width / max|C̄|")
    tol = report.get("tolerance") or {}
    for key, style in (("bracket", "k:"), ("ci", "g:")):
        if key in tol:
            ax.axhline(tol[key], ls=":", color=style[0], label=f"tolerance ({key})")
    ax.set_xlabel("size N")
    ax.set_title("relative widths" + (f"; smallest RVE: N = {report['smallest_size']}"
                                      if report.get("smallest_size") else ""))
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def plot_monte_carlo(result: dict, path: str | Path, names: Sequence[str] | None = None,
                     comm: MPI.Comm = MPI.COMM_WORLD) -> Path | None:
    """PNG of :func:`~dolfinx_multiscale.studies.uq.monte_carlo` results: histogram of
    each scalar quantity and the running mean with its confidence band against the number
    of samples. Rank 0 writes and gets the path, the others ``None``.

    Args:
        result: a :func:`~dolfinx_multiscale.studies.uq.monte_carlo` dict, or a dict of them by study name.
        path: output ``.png``.
        names: for dict-valued samples, the scalar quantities to show (default all
            scalar ones).
    """
    if comm.rank != 0:
        return None
    plt = pyplot()

    studies = {"": result} if "samples" in result else result
    panels = []
    for title, res in studies.items():
        samples = res["samples"] if isinstance(res["samples"], dict) else {"q": res["samples"]}
        for name, x in samples.items():
            if np.ndim(x) != 1 or (names is not None and name not in names):
                continue
            if isinstance(res["samples"], dict):
                def pick(field, res=res, name=name):
                    return res[field][name]
            else:
                def pick(field, res=res):
                    return res[field]
            panels.append((f"{title} {name}".strip(), x, pick, res))
    if not panels:
        raise ValueError("no scalar quantity to plot")
    fig, axes = plt.subplots(2, len(panels), figsize=(4.4 * len(panels), 6.4), squeeze=False)
    for k, (label, x, pick, res) in enumerate(panels):
        ax = axes[0, k]
        ax.hist(x, bins=max(5, int(np.sqrt(x.size))), color="tab:blue", alpha=0.7)
        ax.axvline(pick("mean"), color="k", label="mean")
        ax.axvspan(pick("lower"), pick("upper"), color="k", alpha=0.15,
                   label=f"{int(100 * res['level'])} % CI of the mean")
        ax.set_title(label)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.legend(fontsize=7)
        ax = axes[1, k]
        m, hw = np.asarray(pick("running_mean")), np.asarray(pick("running_half_width"))
        nn = np.asarray(res["n_running"])
        ax.plot(nn, m, "k-")
        ax.fill_between(nn, m - hw, m + hw, color="tab:blue", alpha=0.3)
        ax.set_xlabel("number of samples")
        ax.set_title("running mean ± CI half-width")
        ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_scale_separation(report: dict, path: str | Path) -> Path:
    """Matplotlib PNG of a
    :func:`~dolfinx_multiscale.studies.scale_separation.dns_vs_homogenized` report
    (call on one rank).

    Left: the errors against ``ε`` (log–log) with their fitted rates. Right: the
    boundary layer, the maximum of the cell-averaged stress error over each layer of
    cells against its distance from the boundary, for every ``ε``: at a fixed distance
    it falls with ``ε``, in the outer layer it does not.
    """
    plt = pyplot()

    eps = np.asarray(report["epsilon"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {"reaction_error": "end reaction", "l2_error": "L2 displacement",
              "interior_stress_error": "cell-avg stress, interior",
              "boundary_stress_error": "cell-avg stress, outer layer of cells",
              "clamped_stress_error": "cell-avg stress, cells at the clamp"}
    for key, label in labels.items():
        rate = report.get("rates", {}).get(key)
        ax1.loglog(eps, report[key], "o-", label=f"{label} (rate {rate:.2f})" if rate is not None else label)
    ax1.loglog(eps, eps * report["reaction_error"][0] / eps[0], "k:", lw=1, label="slope 1")
    ax1.set_xlabel("ε = cell size / plate height")
    ax1.set_ylabel("relative error of the homogenized answer")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=7)
    for e, x, col in zip(eps, report["layer_distance"], report["layer_error"]):
        ax2.semilogy(x, col, "o-", ms=3, label=f"ε = 1/{round(1 / e)}")
    ax2.set_xlabel("distance of the cell centre from the boundary (plate height 1)")
    ax2.set_ylabel("max over a layer of cells of the\ncell-averaged stress error")
    ax2.set_title("boundary layer: the outer cells do not converge", fontsize=9)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("Scale separation: homogenized vs DNS cantilever")
    return save_figure(fig, path)


def plot_time_scale_separation(report: dict, path: str | Path) -> Path:
    """Matplotlib PNG of a
    :func:`~dolfinx_multiscale.studies.scale_separation.time_scale_separation` report
    (call on one rank).

    Left: the end reaction histories (DNS, transient FE², quasi-static) per ``τ/T``.
    Right: the errors against ``τ/T`` (log–log).
    """
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, ratio in enumerate(report["ratio"]):
        t = [0.0] + report["times"][k]
        (line,) = ax1.plot(t, [0.0] + report["reaction_dns"][k], "-", lw=2, label=f"τ/T = {ratio:g}")
        ax1.plot(t, [0.0] + report["reaction_fe2"][k], "o", ms=3, color=line.get_color(),
                 label="transient FE² (dots)" if k == 0 else None)
        ax1.plot(t, [0.0] + report["reaction_quasi_static"][k], "--", color=line.get_color(),
                 label="quasi-static (dashed)" if k == 0 else None)
    ax1.set_xlabel("t / T")
    ax1.set_ylabel("end reaction (lines: DNS)")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=6, ncol=2)
    r = np.asarray(report["ratio"])
    ax2.loglog(r, report["error_quasi_static"], "o-", label="quasi-static vs DNS")
    ax2.loglog(r, report["error_time_scale"], "s-", label="quasi-static FE² vs transient FE²")
    ax2.loglog(r, report["error_fe2"], "^-", label="transient FE² vs DNS")
    ax2.set_xlabel("τ_micro / T_macro")
    ax2.set_ylabel("max_t |R − R_ref| / max_t |R_ref|")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle("Time-scale separation: viscoelastic matrix, ramp over T then hold")
    return save_figure(fig, path)
