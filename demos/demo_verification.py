# # Verification: mesh convergence, observed order, Richardson, tangent and Hill–Mandel
#
# Can the numbers be trusted? Four checks, each with a number that must come out:
#
# 1. **Mesh convergence of `C_eff`** (P1 and P2) on a problem whose order is known in
#    advance: a smoothly graded cell (Young's modulus
#    `E(x, y) = 1 + 0.5 sin 2πx cos 2πy + 0.3 sin 2πy`, one value per cell of a
#    structured mesh). The diagonal entries `C_ii` are energies, so P1 converges like
#    `h²`; P2 too, because the per-cell sampling of `E` is an `O(h²)` error. Observed
#    order from three meshes, and the Richardson-extrapolated value.
# 2. The same for the practical case, a circular fibre on unstructured Gmsh meshes:
#    the straight-sided polygon misses the circle's area by `O(h²)`, so P2 is not
#    better than `h²` there either, and the P1 error changes sign on coarse meshes.
# 3. **An FE² macro quantity**: the end reaction of a small `Beam` whose material is an
#    RVE at every Gauss point, as the RVE mesh is refined.
# 4. **The consistent tangent** of an elastoplastic RVE against central finite
#    differences, and the **Hill–Mandel** condition for the three boundary conditions.
#
# Run `python demos/demo_verification.py [--n 8] [--out results]`, serially or under
# `mpiexec -n 2` (the RVEs are distributed; the numbers do not change).

# +
import argparse
import json
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale import verification as vf
from dolfinx_multiscale.viz import plot_mesh_convergence

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--n", type=int, default=8, help="cells per side of the coarsest graded mesh")
parser.add_argument("--h", type=float, default=0.1, help="coarsest mesh size of the fibre cell")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)


def say(*text):
    if comm.rank == 0:
        print(*text, flush=True)


# -

# ## 1. The graded cell, P1 and P2
# Three nested meshes `n, 2n, 4n` (`h = 1/n`) for P1. P2 starts one level finer
# (`2n, 4n, 8n`): on `n = 8` its `C33` is still pre-asymptotic (observed order 1.4 from
# 8–16–32, 1.9 from 16–32–64), the P2 energy error and the sampling error having
# opposite signs there.

diagonal = [(0, 0), (1, 1), (2, 2)]
hs = [1.0 / (args.n * 2**k) for k in range(3)]
reports = {}
for degree in (1, 2):
    study = vf.effective_tensor_study(lambda h, c: vf.graded_cell(round(1 / h), comm=c),
                                      degree=degree, components=diagonal, comm=comm)
    levels = hs if degree == 1 else [h / 2 for h in hs]
    reports[f"graded P{degree}"] = rep = vf.mesh_convergence(study, levels, theoretical_order=2)
    for name, data in rep["quantities"].items():
        say(f"graded P{degree} {name}: values {np.round(data['values'], 6).tolist()}  "
            f"observed order {data['observed_order']:.2f}  Richardson {data['richardson']:.6f}")
    say(f"  dofs {rep['n_dofs']}")
for degree in (1, 2):  # the order is known in advance: 2
    for name, data in reports[f"graded P{degree}"]["quantities"].items():
        assert abs(data["observed_order"] - 2.0) < 0.2, (degree, name, data["observed_order"])

# P1 and P2 approach the same limit from opposite sides; their Richardson values agree
# far better than their finest values do.

for name in ("C11", "C22", "C33"):
    q1, q2 = (reports[f"graded P{k}"]["quantities"][name] for k in (1, 2))
    gap_fine = abs(q1["values"][-1] - q2["values"][-1])
    gap_rich = abs(q1["richardson"] - q2["richardson"])
    say(f"{name}: |P1 - P2| finest {gap_fine:.2e}, Richardson {gap_rich:.2e}")
    assert gap_rich < gap_fine

# ## 2. A circular fibre on unstructured meshes

mats = {1: dm.LinearElastic(E=1.0, nu=0.3), 2: dm.LinearElastic(E=10.0, nu=0.3)}


def fibre_cell(h, c):
    return dm.microstructures.circular_inclusion(0.3, h=h, comm=c), mats


hs_fibre = [args.h / 2**k for k in range(3)]
for degree in (1, 2):
    study = vf.effective_tensor_study(fibre_cell, degree=degree, components=diagonal, comm=comm)
    reports[f"fibre P{degree}"] = rep = vf.mesh_convergence(study, hs_fibre, theoretical_order=2)
    orders = {k: d["observed_order"] for k, d in rep["quantities"].items()}
    say(f"fibre P{degree}: observed orders "
        + ", ".join(f"{k} {'n/a' if p is None else f'{p:.2f}'}" for k, p in orders.items())
        + f"  (dofs {rep['n_dofs']})")

# The P1 orders of the fibre cell are not `2`, some are negative: on these meshes the
# discretization error (too stiff) and the polygon's missing fibre area (too soft)
# have opposite signs and partly cancel, so the differences do not yet shrink
# geometrically. An observed order far from the theoretical one says "not in the
# asymptotic range": refine before trusting a Richardson value. P2, whose
# discretization error is small, shows the geometric `h²` cleanly.

# ## 3. FE²: the reaction of a beam whose material is the graded RVE

fe2 = vf.fe2_reaction_study(lambda h, c: vf.graded_cell(round(1 / h), comm=c), load=0.01,
                            mode="tension", cells=2, comm=comm)
reports["FE2 reaction"] = rep = vf.mesh_convergence(fe2, hs, theoretical_order=2)
data = rep["quantities"]["reaction"]
say(f"FE2 beam reaction: {np.round(data['values'], 8).tolist()}  observed order "
    f"{data['observed_order']:.2f}  Richardson {data['richardson']:.8f}")
assert abs(data["observed_order"] - 2.0) < 0.35

# ## 4. Consistent tangent and Hill–Mandel

cell = dm.microstructures.circular_inclusion(0.3, h=0.1, comm=comm)
j2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05, Hk=0.02)
rve = dm.RVE(cell, {1: j2, 2: dm.LinearElastic(E=10.0, nu=0.25)}, rtol=1e-12)
E_plastic = np.array([0.02, -0.005, 0.004])
tangent_error = vf.tangent_check(rve, E_plastic, h=1e-7)
say(f"FD tangent check (J2 matrix, <p> = {rve.mean_plastic_strain():.2e}): relative error {tangent_error:.2e}")
assert tangent_error < 1e-5
hill_mandel = {}
for bc in ("kubc", "periodic", "subc"):
    hill_mandel[bc] = vf.hill_mandel_check(dm.RVE(cell, mats, bc=bc))
    say(f"Hill-Mandel residual, {bc}: {hill_mandel[bc]:.1e}")
assert max(hill_mandel.values()) < 1e-10

# ## Report
# One JSON with every study and a log–log picture of the errors (against the
# Richardson value) with the fitted orders.

vf.write_report(reports, out / "verification.json", comm=comm)
plot_mesh_convergence(reports, out / "verification.png", comm=comm)
if comm.rank == 0:
    data = json.loads((out / "verification.json").read_text())
    data["tangent_check"] = tangent_error
    data["hill_mandel"] = hill_mandel
    (out / "verification.json").write_text(json.dumps(data, indent=2) + "\n")
say(f"wrote {out / 'verification.json'} and {out / 'verification.png'}")
