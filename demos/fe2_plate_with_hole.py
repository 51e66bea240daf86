# # FE²: a plate with a hole made of an elastoplastic fibre composite
#
# The seed's FE² chapter end to end. A quarter of a plate with a circular hole
# (plane strain, symmetry on the left and bottom edges) is pulled at its top edge
# and released. There is no macroscopic constitutive law: at every macro
# quadrature point the stress is the average stress of a periodic RVE (elastic
# fibres in a J2 matrix with isotropic hardening) driven by the local macro strain
# (downscaling), and the macro tangent is the RVE's condensed consistent tangent
# (upscaling). The macro Newton therefore converges quadratically. Per step the
# script reports macro residuals, RVE solves and micro iterations, and writes the
# force–displacement curve, pictures of the macro fields and XDMF output.
#
# Run `python demos/fe2_plate_with_hole.py [--macro-h 0.15] [--micro-h 0.1]
# [--steps 4]`, serially or under `mpiexec -n 2` (each rank solves the RVEs of its
# own macro points).

# +
import argparse
import json
import logging
import time
from pathlib import Path

from mpi4py import MPI

import numpy as np

import dolfinx.fem as fem
import dolfinx.io
import dolfinx.mesh
import gmsh
import ufl

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material, cyclic_partitioner
from dolfinx_multiscale.macro.newton import NewtonSolver, incremental_solve
from dolfinx_multiscale.viz import plot_macro

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--macro-h", type=float, default=0.2, help="macro mesh size (plate side 1)")
parser.add_argument("--micro-h", type=float, default=0.1, help="RVE mesh size (cell side 1)")
parser.add_argument("--steps", type=int, default=4, help="loading steps (as many to unload)")
parser.add_argument("--delta", type=float, default=0.012, help="top displacement at peak")
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
logging.basicConfig(level=logging.INFO if comm.rank == 0 else logging.WARNING, format="%(message)s")
out = Path(args.out)
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
# -

# ## Macro geometry: a quarter plate with a hole, tagged edges
# Physical groups: 1 = left (x = 0), 2 = bottom (y = 0), 3 = top (y = 1).

# +
L, R = 1.0, 0.3
gmsh.initialize(["-noenv"])
gmsh.option.setNumber("General.Terminal", 0)
if comm.rank == 0:
    occ = gmsh.model.occ
    plate = occ.addRectangle(0, 0, 0, L, L)
    hole = occ.addDisk(0, 0, 0, R, R)
    occ.cut([(2, plate)], [(2, hole)])
    occ.synchronize()
    gmsh.model.addPhysicalGroup(2, [s for _, s in gmsh.model.getEntities(2)], 1)
    for curve in gmsh.model.getEntities(1):
        x = gmsh.model.occ.getCenterOfMass(*curve)
        for tag, hit in ((1, abs(x[0]) < 1e-8), (2, abs(x[1]) < 1e-8), (3, abs(x[1] - L) < 1e-8)):
            if hit:
                gmsh.model.addPhysicalGroup(1, [curve[1]], tag)
    gmsh.option.setNumber("Mesh.CharacteristicLengthMax", args.macro_h)
    gmsh.model.mesh.setSize(gmsh.model.getBoundary([(2, 1)], recursive=True), args.macro_h)
    gmsh.model.mesh.generate(2)
# Plasticity starts at the hole, so with compact halves one rank would solve most of the
# (costly) plastic RVEs; `cyclic_partitioner` deals small blocks round-robin instead.
data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=2, partitioner=cyclic_partitioner())
gmsh.finalize()
mesh, facets = data.mesh, data.facet_tags
# -

# ## The micro model: one RVE workspace per rank
# Periodic hexagonal-packing-free square cell with one fibre (30 %), meshed on
# `MPI.COMM_SELF`: every rank keeps its own compiled forms and factorizations.

micro = dm.microstructures.circular_inclusion(0.3, h=args.micro_h, comm=MPI.COMM_SELF)
matrix = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05)
fibre = dm.LinearElastic(E=10.0, nu=0.25)
rve = dm.RVE(micro, {1: matrix, 2: fibre}, bc="periodic")

# ## The macro problem, written like any DOLFINx model
# `material.stress(u)` is a UFL tensor; `material.derivative` gives the Jacobian
# with the consistent FE² tangent.

# +
V = fem.functionspace(mesh, ("Lagrange", 1, (2,)))
u = fem.Function(V, name="displacement")
v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
material = FE2Material(rve, mesh, quadrature_degree=1)


def eps(w):
    return ufl.sym(ufl.grad(w))


F = ufl.inner(material.stress(u), eps(v)) * material.dx
J = material.derivative(F, u, du)

fdim = mesh.topology.dim - 1
top_displacement = fem.Constant(mesh, 0.0)
bcs = [fem.dirichletbc(0.0, fem.locate_dofs_topological(V.sub(0), fdim, facets.find(1)), V.sub(0)),
       fem.dirichletbc(0.0, fem.locate_dofs_topological(V.sub(1), fdim, facets.find(2)), V.sub(1)),
       fem.dirichletbc(top_displacement, fem.locate_dofs_topological(V.sub(1), fdim, facets.find(3)), V.sub(1))]
solver = NewtonSolver(F, J, u, bcs, [material], rtol=1e-9)
n_points = comm.allreduce(material.n_points)
if comm.rank == 0:
    print(f"macro: {mesh.topology.index_map(2).size_global} cells, {n_points} quadrature points "
          f"= RVEs; micro: {rve.n_dofs} dofs each; {comm.size} rank(s)")
# -

# ## Reaction force on the top edge
# The discrete reaction is the residual of the internal forces tested with a field
# that is 1 in `y` on the top edge: `R = ∫ σ : ε(φ) dx`.

phi = fem.Function(V)
top_dofs = fem.locate_dofs_topological(V.sub(1), fdim, facets.find(3))
fem.dirichletbc(1.0, top_dofs, V.sub(1)).set(phi.x.array)
reaction_form = fem.form(ufl.inner(material.stress(u), eps(phi)) * material.dx)


def reaction() -> float:
    return comm.allreduce(fem.assemble_scalar(reaction_form), op=MPI.SUM)


# ## Load and unload

loads = [args.delta * k / args.steps for k in range(1, args.steps + 1)]
loads += [args.delta * k / args.steps for k in range(args.steps - 1, -1, -1)]
curve = [(0.0, 0.0)]
solves_before = [0]


def on_step(step, load):
    curve.append((load, reaction()))
    solves = comm.allreduce(material.solves - solves_before[0])
    solves_before[0] = material.solves
    if comm.rank == 0:
        print(f"step {step:2d}: top displacement {load:.4f}, force {curve[-1][1]:.6f}, "
              f"{solves} RVE solves, macro residuals {[f'{r:.1e}' for r in solver.residuals]}")


t0 = time.perf_counter()
history = incremental_solve(solver, lambda t: setattr(top_displacement, "value", t), loads, on_step=on_step)
wall = time.perf_counter() - t0

# ## Quadratic convergence of the macro Newton
# `r_{k+1} / r_k²` stays bounded over the last iterations of the plastic steps.

peak = history[args.steps - 1]["residuals"]
ratios = [peak[k + 1] / peak[k] ** 2 for k in range(1, len(peak) - 1) if peak[k + 1] > 1e-13 * peak[0]]
if comm.rank == 0:
    print(f"peak step residuals {[f'{r:.2e}' for r in peak]}; r_(k+1)/r_k^2 = {[f'{q:.1f}' for q in ratios]}")
    print(f"FE2 wall time {wall:.1f} s on {comm.size} rank(s)")

# ## Thermodynamics: dissipation per macro point
# Every point's intrinsic micro dissipation is non-negative, and Hill–Mandel holds
# in increments (macro work `Σ:ΔE` = micro work `⟨σ:Δε⟩`).

energy = material.step_energy
assert energy["dissipation"].min(initial=0.0) >= -1e-12
hm = np.abs(energy["macro_work"] - energy["micro_work"]).max(initial=0.0)
hm = comm.allreduce(hm, op=MPI.MAX)
assert hm <= 1e-8 * max(comm.allreduce(np.abs(energy["macro_work"]).max(initial=0.0), op=MPI.MAX), 1e-30)

# ## Output: curve, pictures, XDMF

# +
p_cell = material.cell_average(material.committed_history("p"))
vm_cell = material.cell_average(dm.tensors.von_mises(material.stress_values, material.sigma33))
plot_macro(u, {"equivalent plastic strain <p>": p_cell, "von Mises": vm_cell}, out / "fe2_plate_fields.png",
           title="FE2 plate with a hole after unloading")
if comm.rank == 0:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d, f = np.array(curve).T
    plt.figure(figsize=(5, 4))
    plt.plot(d, f, "o-")
    plt.xlabel("top displacement")
    plt.ylabel("reaction force (per unit thickness)")
    plt.title("FE2 plate with a hole: load and unload")
    plt.grid(alpha=0.3)
    plt.tight_layout()
    plt.savefig(out / "fe2_plate_curve.png", dpi=110)
    (out / "fe2_plate.json").write_text(json.dumps({
        "curve": curve, "n_macro_points": n_points, "rve_dofs": rve.n_dofs, "n_ranks": comm.size,
        "wall_s": wall, "history": history}, indent=1))
with dolfinx.io.XDMFFile(comm, out / "fe2_plate.xdmf", "w") as xdmf:
    xdmf.write_mesh(mesh)
    xdmf.write_function(u)
    xdmf.write_function(material.cell_function(p_cell, "p"))
    xdmf.write_function(material.cell_function(material.cell_average(material.stress_values), "stress_mandel"))
# -

# ## Inside the most plastic macro point
# Each rank pictures the RVE of its own most plastic point and writes its fields
# to VTX (`rve_rank<r>.bp`): the microstructure behind one Gauss point.

p_points = material.committed_history("p")
if material.n_points:
    worst = int(np.argmax(p_points))
    material.write_rve(worst, out / f"rve_rank{comm.rank}.bp")
    dm.viz.plot_rve(material.rve_at(worst), out / f"fe2_plate_rve_rank{comm.rank}.png",
                    title=f"RVE at macro point {worst} (rank {comm.rank}), <p> = {p_points[worst]:.3e}")

# Back at zero displacement the plate is in compression (negative reaction): the
# plastic strain left at the hole, where the stress concentrates, is a permanent
# set that the elastic rest of the plate pushes against.

assert curve[args.steps][1] > 0 and min(r["cuts"] for r in history) == 0
