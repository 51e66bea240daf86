# # FE² with a hyper-reduced RVE under error control
#
# The clamped composite beam of the FE² benchmarks (elastic fibres in a J2 matrix, plane
# strain) is bent and released twice: once with the full RVE at every macro point
# (exact FE²), once with a hyper-reduced RVE trained on random load paths of the cell.
# The reduced RVE is a POD–Galerkin cell (the elastic unit fluctuations plus POD modes,
# as many as the validation error of the macro stress asks for) whose elastic part is
# integrated exactly and whose inelastic stress is integrated by an empirical cubature
# (a few dozen of the cell's micro points with non-negative weights): a reduced Newton
# iteration costs the same whatever the cell size. Once the macro Newton has converged,
# every reduced point is reconstructed on the full cell and its error estimated (the
# cubature error plus the Galerkin error of the PCG-corrected full residual, accumulated
# over the point's reduced steps); a point whose estimate times the safety factor
# measured at training exceeds the tolerance is re-solved by the full RVE and the macro
# Newton continues. A few reduced points per step are also solved exactly (the audit).
# The script prints both force curves, the split of the points (elastic shortcut /
# reduced / full), the audit and the time split, checks that the reactions agree to
# 3 × the tolerance, and writes the curves and the map of the points solved by the full
# RVE. Run `python demos/fe2_reduced_rve.py [--cells 6] [--micro-h 0.1] [--tolerance
# 1e-3]`, serially or under `mpiexec -n 2`.

# +
import argparse
import logging
import time
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material, cyclic_partitioner
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.viz import plot_macro, pyplot, save_figure

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--cells", type=int, default=6, help="macro cells along the beam")
parser.add_argument("--micro-h", type=float, default=0.1, help="mesh size of the cell")
parser.add_argument("--tolerance", type=float, default=1e-3, help="relative error of Σ allowed without fallback")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
logging.basicConfig(level=logging.INFO if comm.rank == 0 else logging.WARNING, format="%(message)s")
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
# -

# ## The cell, and its reduced model
# Every rank owns a serial cell workspace. Rank 0 trains the model once (random
# proportional, non-proportional and one-step load–unload paths up to 8 times the
# cell's first-yield strain) and saves it; every rank loads it, as a production run
# would load a model trained beforehand (`dolfinx-multiscale reduce`).

cell = dm.microstructures.circular_inclusion(0.3, h=args.micro_h, comm=MPI.COMM_SELF)
materials = {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05), 2: dm.LinearElastic(E=10.0, nu=0.25)}
model_file = out / "reduced_rve.npz"
t0 = time.perf_counter()
if comm.rank == 0:
    trained = dm.ReducedRVE.train(dm.RVE(cell, materials), tolerance=args.tolerance, paths=12)
    trained.save(model_file)
comm.barrier()
training_s = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
model = dm.ReducedRVE.load(model_file, dm.RVE(cell, materials))

# ## Exact and reduced FE², side by side

loads = [0.02, 0.04, 0.0]
runs = {}
for name, law in (("exact", dm.RVE(cell, materials)), ("reduced", model)):
    beam = Beam(lambda mesh: FE2Material(law, mesh), cells=args.cells, comm=comm,
                partitioner=cyclic_partitioner() if comm.size > 1 else None)
    t = time.perf_counter()
    history = beam.run(loads)
    runs[name] = {"beam": beam, "history": history, "wall_s": comm.allreduce(time.perf_counter() - t, op=MPI.MAX)}

exact, reduced = runs["exact"], runs["reduced"]
stats = {k: comm.allreduce(reduced["beam"].material.stats[k])
         for k in ("shortcut", "reduced", "fallback", "checked", "flagged", "audited", "audit_above")}
audit_error = comm.allreduce(reduced["beam"].material.stats["audit_max_error"], op=MPI.MAX)
r_exact = np.array([h["reaction"] for h in exact["history"]])
r_reduced = np.array([h["reaction"] for h in reduced["history"]])
if comm.rank == 0:
    print(f"model: {model.modes} modes from {model.info['samples']} snapshots, {model.cubature_points} of "
          f"{model.info['cell_points']} micro points, safety {model.safety:.2f} with "
          f"{model.check_iterations} CG iterations in the check, training {training_s:.1f} s")
    print(" step   load   reaction exact   reaction reduced   rel. diff")
    for k, (a, b) in enumerate(zip(r_exact, r_reduced), start=1):
        print(f"{k:5d} {loads[k - 1]:6.3f} {a:16.8f} {b:18.8f} {abs(b - a) / np.abs(r_exact).max():11.2e}")
    total = stats["shortcut"] + stats["reduced"] + stats["fallback"]
    print(f"point updates: {stats['shortcut']} elastic shortcut, {stats['reduced']} reduced, "
          f"{stats['fallback']} by the full RVE ({100 * stats['fallback'] / max(total, 1):.0f} %); "
          f"{stats['checked']} reduced answers checked, {stats['flagged']} flagged; audit: {stats['audited']} "
          f"points, largest error {audit_error:.1e}, {stats['audit_above']} above the tolerance")
    print(f"time: exact {exact['wall_s']:.1f} s; reduced {reduced['wall_s']:.1f} s online + {training_s:.1f} s "
          f"training")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0] + loads, [0] + r_exact.tolist(), "o-", label="exact FE²")
    ax.plot([0] + loads, [0] + r_reduced.tolist(), "x--", label=f"hyper-reduced RVE (tol {args.tolerance:g})")
    ax.set_xlabel("end deflection")
    ax.set_ylabel("end force per unit thickness")
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, out / "fe2_reduced_curves.png")
material = reduced["beam"].material
plot_macro(reduced["beam"].u, {"fell back (last update)": material.cell_average(
    (material.trial_state["reduced"] == 0) & (material.trial_state["elastic_shortcut"] == 0)).astype(float),
    "indicator": material.cell_average(material.state["indicator"])},
    out / "fe2_reduced_fallback_map.png", title="reduced FE²: points solved by the full RVE")
assert np.abs(r_reduced - r_exact).max() <= 3 * args.tolerance * np.abs(r_exact).max()
assert all(h["cuts"] == 0 for h in reduced["history"])
