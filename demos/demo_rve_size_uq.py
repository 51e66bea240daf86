# # RVE size, boundary conditions and uncertainty quantification
#
# Three questions about a random fibre composite (plane strain, 30 % fibres ten times
# stiffer than the matrix):
#
# 1. **Is there an RVE, and how large must it be?** Ensembles of random cells of growing
#    size `N` (number of fibres in the cell, at fixed volume fraction) under KUBC,
#    periodic and SUBC conditions: the mean and 95 % confidence interval of each
#    component, the KUBC/SUBC bracket closing on the periodic value, and the smallest
#    size whose bracket is within a tolerance.
# 2. **Aleatory uncertainty** (variability with known distributions): random
#    microstructures, and random phase properties, propagated by Monte Carlo to the
#    distribution of `C_eff`, of the effective modulus and of a macro quantity (the
#    reaction of a bent beam made of the homogenized material), with the estimator's
#    confidence interval and its convergence with the number of samples.
# 3. **Epistemic uncertainty** (a parameter known only to lie in an interval): the
#    interval of the same quantities, by optimization over the parameter box.
#
# Aleatory and epistemic results are reported separately. The ensembles and the Monte
# Carlo samples are shared among the MPI ranks (`mpiexec -n 2` gives the same numbers).
# Run `python demos/demo_rve_size_uq.py [--sizes 1,4,9,16] [--seeds 4] [--samples 32]`.

# +
import argparse
import json
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale import uq
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.macro.quadrature import LocalMaterial
from dolfinx_multiscale.viz import plot_monte_carlo, plot_rve_size_study

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--sizes", default="1,4,9,16", help="numbers of fibres per cell")
parser.add_argument("--seeds", type=int, default=4, help="realizations per size")
parser.add_argument("--samples", type=int, default=24, help="Monte Carlo samples")
parser.add_argument("--h-factor", type=float, default=0.6, dest="h_factor", help="mesh size / fibre radius")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)


def say(*text):
    if comm.rank == 0:
        print(*text, flush=True)


matrix, fibre = dm.LinearElastic(E=1.0, nu=0.3), dm.LinearElastic(E=10.0, nu=0.3)
materials = {1: matrix, 2: fibre}
# -

# ## 1. RVE size
# Size `N`: `N` fibres of radius `r_N = r_1 N^(-1/2)` in the unit cell, i.e. a window of
# `1/r_N` fibre radii on the same statistical microstructure; the mesh size is
# `0.6 r_N` at every size. Tolerance: the mean KUBC–SUBC bracket within 10 % of the
# periodic tensor (Frobenius norm).

sizes = [int(s) for s in args.sizes.split(",")]
study = uq.rve_size_study(sizes, args.seeds, 0.3, materials, h_factor=args.h_factor, comm=comm,
                          tolerance={"bracket": 0.10})
say(" N   dofs   C11 KUBC          C11 PBC           C11 SUBC          bracket  CI(PBC)")
for row in study["sizes_report"]:
    m, hw = row["mean"], row["half_width"]
    say(f"{row['size']:2d} {row['n_dofs'][0]:6d}  " + "  ".join(
        f"{m[bc][0][0]:.3f} ± {hw[bc][0][0]:.3f}" for bc in ("kubc", "periodic", "subc"))
        + f"  {row['bracket_width']:.3f}    {row['ci_half_width']:.3f}")
say(f"smallest size with the bracket within 10 %: N = {study['smallest_size']}  "
    f"({study['wall_s']:.1f} s on {comm.size} rank(s))")
plot_rve_size_study(study, out / "rve_size.png", comm=comm)
widths = [row["bracket_width"] for row in study["sizes_report"]]
assert all(row["ordering_ok"] for row in study["sizes_report"])  # C_SUBC ≤ C_PBC ≤ C_KUBC, every member
assert widths[-1] < 0.5 * widths[0]  # the bracket closes

# ## 2. Aleatory uncertainty (Monte Carlo)
# **Random microstructures**: 6 fibres at random positions (periodic cell, seed drawn per
# sample). **Random phase properties** on the shipped-like single-fibre cell: matrix
# `E₁ ~ N(1, 0.05²)`, fibre `E₂ ~ LogNormal(median 10, σ_log = 0.25)`,
# `ν₂ ~ U(0.2, 0.3)`. Each sample also gives the effective plane-strain modulus
# `E_eff = 1/S₁₁` (`S = C⁻¹`) and the end reaction of a bent beam (`Beam`, 4 × 2 cells)
# made of the homogenized material `LinearElastic(C=C_eff)`.

cell = dm.microstructures.circular_inclusion(0.3, h=0.1, comm=MPI.COMM_SELF)


def beam_reaction(C):
    beam = Beam(lambda mesh: LocalMaterial(dm.LinearElastic(C=C), mesh), cells=4, comm=MPI.COMM_SELF)
    beam.run([0.01])
    return beam.reaction()


def quantities(C):
    return {"C": C, "E_eff": 1.0 / np.linalg.inv(C)[0, 0], "reaction": beam_reaction(C)}


random_cell = uq.random_microstructure_sampler(6, 0.3, materials, h=0.07, min_gap=0.01)


def properties(rng):
    return {1: dm.LinearElastic(E=rng.normal(1.0, 0.05), nu=0.3),
            2: dm.LinearElastic(E=10.0 * rng.lognormal(0.0, 0.25), nu=rng.uniform(0.2, 0.3))}


random_props = uq.random_properties_sampler(cell, properties)
mc = {
    "random microstructure": uq.monte_carlo(lambda rng: quantities(random_cell(rng)),
                                            max(4, args.samples // 4), seed=1, comm=comm),
    "random properties": uq.monte_carlo(lambda rng: quantities(random_props(rng)), args.samples,
                                        seed=2, comm=comm),
}
say("\nALEATORY (Monte Carlo, 95 % CI of the mean; std = spread of the population)")
for name, res in mc.items():
    for q in ("E_eff", "reaction"):
        hw = res["running_half_width"][q]
        say(f"  {name:22s} {q:9s} mean {res['mean'][q]:.5g} ± {res['half_width'][q]:.2g}  "
            f"std {res['std'][q]:.2g}  (n = {res['n']}; CI half-width {hw[2]:.2g} at n = 4)")
plot_monte_carlo(mc, out / "monte_carlo.png", names=("E_eff", "reaction"), comm=comm)
props = mc["random properties"]
assert props["running_half_width"]["E_eff"][-1] < props["running_half_width"]["E_eff"][2]
# With the end displacement δ prescribed, the reaction is R = 2W/δ with the minimum
# energy W(C) = min_u ½ a_C(u, u), a minimum of functions linear in C, hence concave:
# by Jensen the mean reaction cannot exceed the reaction of the mean tensor. Using the
# mean tensor in place of the distribution (the "homogenize the mean" shortcut) is
# biased upward.
R_of_mean = beam_reaction(props["mean"]["C"])
say(f"  Jensen: mean reaction {props['mean']['reaction']:.6e} <= reaction of the mean tensor {R_of_mean:.6e}")
assert props["mean"]["reaction"] <= R_of_mean * (1 + 1e-12)

# ## 3. Epistemic uncertainty (intervals by optimization)
# The fibre modulus is only known to lie in `[5, 20]` and the matrix Poisson ratio in
# `[0.25, 0.35]`. The intervals of `E_eff` and of the beam reaction are found by
# bound-constrained optimization (L-BFGS-B, minimum and maximum) over that box; the
# 4 corners are evaluated too, for comparison.


def tensor(x):
    mats = {1: dm.LinearElastic(E=1.0, nu=float(x[1])), 2: dm.LinearElastic(E=float(x[0]), nu=0.3)}
    return dm.RVE(cell, mats).effective_tensor()


box = [(5.0, 20.0), (0.25, 0.35)]
epistemic = {
    "E_eff": uq.interval_propagation(lambda x: quantities(tensor(x))["E_eff"], box, comm=comm),
    "reaction": uq.interval_propagation(lambda x: beam_reaction(tensor(x)), box, comm=comm),
}
say("\nEPISTEMIC (E2 in [5, 20], nu1 in [0.25, 0.35]; interval by optimization)")
for q, res in epistemic.items():
    say(f"  {q:9s} [{res['lower']:.5g}, {res['upper']:.5g}]  at x_min = {np.round(res['argmin'], 4).tolist()}, "
        f"x_max = {np.round(res['argmax'], 4).tolist()}  ({res['n_evaluations']} evaluations; "
        f"corners [{res['corner_lower']:.5g}, {res['corner_upper']:.5g}])")
    assert res["lower"] <= res["corner_lower"] and res["upper"] >= res["corner_upper"]
E_nominal = quantities(tensor([10.0, 0.3]))["E_eff"]
assert epistemic["E_eff"]["lower"] < E_nominal < epistemic["E_eff"]["upper"]

# Both quantities are monotone in the parameters, so the corners already bound them.
# Not so the in-plane effective Poisson ratio `ν_eff = −S₁₂/S₁₁` when the fibre's
# modulus is only known to lie in `[0.5, 4]` (both phases with `ν = 0.3`): it is
# largest where the cell is homogeneous (`E₂ = E₁ = 1`, `ν_eff = ν/(1 − ν) = 3/7` in
# plane strain) and smaller on both sides. Corner sampling misses that maximum; the
# optimization finds it.


def poisson_ratio(x):
    mats = {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=float(x[0]), nu=0.3)}
    S = np.linalg.inv(dm.RVE(cell, mats).effective_tensor())
    return -S[0, 1] / S[0, 0]


epistemic["nu_eff"] = res = uq.interval_propagation(poisson_ratio, [(0.5, 4.0)], comm=comm)
say(f"  nu_eff    [{res['lower']:.5f}, {res['upper']:.5f}]  maximum at E2 = {res['argmax'][0]:.4f} "
    f"(exact 3/7 = {3 / 7:.5f} at E2 = 1); corners alone: [{res['corner_lower']:.5f}, {res['corner_upper']:.5f}]")
assert abs(res["upper"] - 3 / 7) < 1e-6 and res["corner_upper"] < 3 / 7 - 0.005

# ## Report

if comm.rank == 0:
    def summary(res):
        return {q: {k: np.asarray(res[k][q]).tolist() for k in ("mean", "std", "half_width", "lower", "upper")}
                for q in res["mean"]}

    report = {
        "rve_size": study,
        "aleatory": {name: {"n": res["n"], "level": res["level"], **summary(res)} for name, res in mc.items()},
        "epistemic": {q: {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in res.items()}
                      for q, res in epistemic.items()},
    }
    (out / "rve_size_uq.json").write_text(json.dumps(report, indent=2) + "\n")
say(f"wrote {out / 'rve_size.png'}, {out / 'monte_carlo.png'} and {out / 'rve_size_uq.json'}")
