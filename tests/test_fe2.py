"""FE² (issue 5): the quadrature-space FE2Material against independent references."""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx.fem.petsc

import dolfinx_multiscale as dm
from dolfinx_multiscale.macro.fe2 import FE2Material
from dolfinx_multiscale.macro.problems import Beam
from dolfinx_multiscale.macro.quadrature import LocalMaterial

COMM = MPI.COMM_SELF
J2 = dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05, Hk=0.02)
FIBRE = dm.LinearElastic(E=10.0, nu=0.25)


@pytest.fixture(scope="module")
def cell2d():
    return dm.microstructures.circular_inclusion(0.3, h=0.15, comm=COMM)


@pytest.fixture(scope="module")
def cell3d():
    return dm.microstructures.spherical_inclusion(0.2, h=0.4, comm=COMM)


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("dim", [2, 3])
def test_linear_micro_equals_homogenized_macro(dim, cell2d, cell3d):
    micro = cell2d if dim == 2 else cell3d
    elastic = dm.LinearElastic(E=1.0, nu=0.3)
    rve = dm.RVE(micro, {1: elastic, 2: FIBRE})
    C = rve.effective_tensor()
    ref = Beam(lambda m: LocalMaterial(dm.LinearElastic(C=C), m), dim=dim, cells=4)
    ref.run([0.05])
    fe2 = Beam(lambda m: FE2Material(rve, m), dim=dim, cells=4)
    fe2.run([0.05])
    assert rel(fe2.u.x.array, ref.u.x.array) <= 1e-8
    # the same micro model through the nonlinear path (every point solved by the RVE
    # Newton, a J2 matrix that never yields) gives the same macro answer
    never_yields = dm.J2Plasticity(E=1.0, nu=0.3, sy0=1e6)
    rve_nl = dm.RVE(micro, {1: never_yields, 2: FIBRE})
    nl = Beam(lambda m: FE2Material(rve_nl, m), dim=dim, cells=4)
    nl.run([0.05])
    assert rel(nl.u.x.array, ref.u.x.array) <= 1e-8


@pytest.mark.parametrize("dim", [2, 3])
def test_homogeneous_j2_micro_equals_single_scale(dim, cell2d, cell3d):
    micro = cell2d if dim == 2 else cell3d
    loads = [0.02, 0.04, 0.02, -0.01] if dim == 2 else [0.03, 0.0]
    ref = Beam(lambda m: LocalMaterial(J2, m), dim=dim, cells=4)
    ref_hist = ref.run(loads)
    fe2 = Beam(lambda m: FE2Material(dm.RVE(micro, {1: J2, 2: J2}), m), dim=dim, cells=4)
    fe2_hist = fe2.run(loads)
    assert rel(fe2.u.x.array, ref.u.x.array) <= 1e-8
    assert np.allclose([r["reaction"] for r in fe2_hist], [r["reaction"] for r in ref_hist], rtol=1e-8)
    assert fe2.material.committed_history("p").max() > 1e-3  # it did go plastic


def test_point_history_equals_virtual_test_of_its_strain_path(cell2d):
    """No history leaks between points: every FE² point equals a separate RVE driven along
    that point's own macro strain path (the virtual test of issue 8)."""
    rve = dm.RVE(cell2d, {1: J2, 2: FIBRE})
    beam = Beam(lambda m: FE2Material(rve, m), cells=4)
    strains, stresses = [], []
    beam.run([0.03, 0.06, 0.0], on_step=lambda s, t: (strains.append(beam.material.strain.copy()),
                                                      stresses.append(beam.material.stress_values.copy())))
    strains, stresses = np.array(strains), np.array(stresses)
    p = beam.material.committed_history("p")
    for i in (int(np.argmax(p)), int(np.argmin(p))):
        single = dm.RVE(cell2d, {1: J2, 2: FIBRE})
        for k in range(len(strains)):
            S, _ = single.solve(strains[k, i])
            single.commit()
            assert rel(S, stresses[k, i]) <= 1e-8


def test_macro_newton_quadratic_and_thermodynamics(cell2d):
    rve = dm.RVE(cell2d, {1: J2, 2: FIBRE})
    beam = Beam(lambda m: FE2Material(rve, m), cells=4)
    energies = []
    history = beam.run([0.04, 0.08], on_step=lambda s, t: energies.append(dict(beam.material.step_energy)))
    r = np.array(history[-1]["residuals"])
    r = r[r > 1e-12 * r[0]]
    ratios = r[2:] / r[1:-1] ** 2
    assert r.size >= 4 and ratios[-1] <= 10 * ratios[:-1].max()  # quadratic: r_{k+1}/r_k² bounded
    for e in energies:
        assert e["dissipation"].min() >= -1e-12
        assert e["dissipation"].max() > 0
        # Hill–Mandel in increments: Σ_{n+1}:ΔE = ⟨σ_{n+1}:Δε⟩ at every point
        assert np.abs(e["macro_work"] - e["micro_work"]).max() <= 1e-8 * np.abs(e["macro_work"]).max()
        # Clausius–Duhem: what the macro point absorbs and does not store is at least
        # what the microstructure dissipates (the rest is backward Euler's own O(ΔE²))
        assert np.all(e["macro_work"] - e["delta_psi"] >= e["dissipation"] - 1e-12)


def test_cut_and_retried_step_equals_smaller_steps(cell2d):
    def beam(max_iterations):
        return Beam(lambda m: FE2Material(dm.RVE(cell2d, {1: J2, 2: FIBRE}), m), cells=4,
                    max_iterations=max_iterations)

    cut = beam(5)
    hist = cut.run([0.08])
    assert hist[0]["cuts"] >= 1 and len(hist[0]["substeps"]) > 1
    direct = beam(15)
    direct.run(hist[0]["substeps"])
    assert rel(cut.u.x.array, direct.u.x.array) <= 1e-8


def test_failure_after_bound_names_point_and_strain(cell2d):
    rve = dm.RVE(cell2d, {1: J2, 2: FIBRE}, max_iterations=1, line_search_cuts=0)
    beam = Beam(lambda m: FE2Material(rve, m), cells=4)
    with pytest.raises(dm.MacroConvergenceError,
                       match=r"load step 1 \(load 0.2\) failed after 2 step cuts.*macro point \d+ .*macro strain"):
        beam.run([0.2], max_cuts=2)


def test_snes_nonlinear_problem_with_attach(cell2d):
    rve = dm.RVE(cell2d, {1: J2, 2: FIBRE})
    ref = Beam(lambda m: FE2Material(rve, m), cells=4)
    ref.run([0.04])
    beam = Beam(lambda m: FE2Material(dm.RVE(cell2d, {1: J2, 2: FIBRE}), m), cells=4)
    problem = dolfinx.fem.petsc.NonlinearProblem(
        beam.F, beam.u, J=beam.J, bcs=beam.bcs, petsc_options_prefix="fe2_snes_",
        petsc_options={"snes_type": "newtonls", "snes_linesearch_type": "basic", "snes_rtol": 1e-10,
                       "snes_atol": 1e-14, "ksp_type": "preonly", "pc_type": "lu",
                       "pc_factor_mat_solver_type": "mumps"})
    beam.material.attach(problem)
    beam.set_load(0.04)
    problem.solve()
    assert problem.solver.getConvergedReason() > 0
    beam.material.commit()
    assert rel(beam.u.x.array, ref.u.x.array) <= 1e-8


def test_rve_must_be_serial_and_match_dimension(cell2d):
    import dolfinx.mesh

    rve = dm.RVE(cell2d, {1: J2, 2: FIBRE})
    mesh3 = dolfinx.mesh.create_unit_cube(COMM, 1, 1, 1)
    with pytest.raises(ValueError, match="RVE is 2-D but the macro mesh is 3-D"):
        FE2Material(rve, mesh3)


def test_fe2_and_single_scale_materials_share_one_form(cell2d):
    """FE² on one subdomain, an ordinary material on the other, in the same residual:
    with the same law on both sides the answer is the all-single-scale one; a linear RVE
    is factorized once for the whole mesh."""
    import dolfinx.fem as fem
    import dolfinx.mesh
    import ufl

    from dolfinx_multiscale.macro.newton import NewtonSolver
    from dolfinx_multiscale.macro.quadrature import derivative

    elastic = dm.LinearElastic(E=1.0, nu=0.3)
    rve = dm.RVE(cell2d, {1: elastic, 2: FIBRE})
    C = rve.effective_tensor()
    mesh = dolfinx.mesh.create_rectangle(COMM, [[0, 0], [2, 1]], [6, 3])
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local
    mid = dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))
    tags = dolfinx.mesh.meshtags(mesh, tdim, np.arange(n, dtype=np.int32),
                                 np.where(mid[:, 0] < 1.0, 1, 2).astype(np.int32))
    V = fem.functionspace(mesh, ("Lagrange", 1, (2,)))
    left = dolfinx.mesh.locate_entities_boundary(mesh, 1, lambda x: np.isclose(x[0], 0.0))
    bc = fem.dirichletbc(np.zeros(2), fem.locate_dofs_topological(V, 1, left), V)
    traction = fem.Constant(mesh, np.array([0.01, -0.005]))
    right = dolfinx.mesh.locate_entities_boundary(mesh, 1, lambda x: np.isclose(x[0], 2.0))
    ds = ufl.Measure("ds", domain=mesh, subdomain_data=dolfinx.mesh.meshtags(
        mesh, 1, right, np.full(right.size, 7, dtype=np.int32)))

    def solve(first, second):
        u = fem.Function(V)
        v, du = ufl.TestFunction(V), ufl.TrialFunction(V)
        eps = ufl.sym(ufl.grad(v))
        F = (ufl.inner(first.stress(u), eps) * first.dx(1) + ufl.inner(second.stress(u), eps) * second.dx(2)
             - ufl.inner(traction, v) * ds(7))
        J = derivative(F, u, du, [first, second])
        NewtonSolver(F, J, u, [bc], [first, second]).solve()
        return u

    local = dm.LinearElastic(C=C)
    ref = solve(LocalMaterial(local, mesh, subdomain=(tags, 1)), LocalMaterial(local, mesh, subdomain=(tags, 2)))
    fe2 = FE2Material(rve, mesh, subdomain=(tags, 1))
    mixed = solve(fe2, LocalMaterial(local, mesh, subdomain=(tags, 2)))
    assert fe2.n_points == int(np.sum(mid[:, 0] < 1.0)) * fe2.n_per_cell
    assert rel(mixed.x.array, ref.x.array) <= 1e-8
    assert rve.linear_solver.n_factorizations == 1


def test_cyclic_partitioner_checks_its_argument_and_is_plain_serially():
    import dolfinx.mesh

    from dolfinx_multiscale.macro.fe2 import cyclic_partitioner

    with pytest.raises(ValueError, match="blocks_per_rank"):
        cyclic_partitioner(0)
    mesh = dolfinx.mesh.create_rectangle(MPI.COMM_SELF, [[0, 0], [2, 1]], [6, 3], partitioner=cyclic_partitioner())
    assert mesh.topology.index_map(2).size_local == 36


def test_batched_elastic_shortcut_equals_the_per_point_path(cell2d):
    """Load–unload bending: the batched elastic shortcut (batch=True) gives the per-point
    Newton's reactions, displacements and committed histories to 1e-10 (micro and macro
    Newton tolerances 1e-12 and 1e-13: the two paths take different Newton iterates, so
    answers merely within the default tolerances could differ by 1e-10); it is taken on
    every point whose increment stays elastic in the whole cell (also when unloading from
    a plastic state) and never on a point that yields."""
    loads = [0.02, 0.04, 0.03, 0.0, -0.02]
    runs = {}
    for batch in (False, True):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell2d, {1: J2, 2: FIBRE}, batch=batch, rtol=1e-12), m), cells=6)
        snapshots = []
        history = beam.run(loads, on_step=lambda s, t: snapshots.append(
            {k: v.copy() for k, v in beam.material.state.items()}))
        runs[batch] = (np.array([h["reaction"] for h in history]), beam.u.x.array.copy(), snapshots)
    (r0, u0, s0), (r1, u1, s1) = runs[False], runs[True]
    assert rel(r1, r0) <= 1e-10 and rel(u1, u0) <= 1e-10
    for a, b in zip(s0, s1):
        assert rel(b["1:p"], a["1:p"] + 1e-300) <= 1e-10 or np.abs(b["1:p"] - a["1:p"]).max() <= 1e-14
        assert not a["elastic_shortcut"].any()  # the per-point path never takes it
    shortcut_total, yielded_total = 0, 0
    previous = np.zeros_like(s1[0]["1:p"])
    for snap in s1:
        shortcut = snap["elastic_shortcut"] == 1
        yielded = (snap["1:p"] > previous).any(axis=1)
        assert not (shortcut & yielded).any()
        assert shortcut.sum() == (~yielded).sum()  # every elastic point took the shortcut
        assert (snap["newton_iterations"][shortcut] <= 1).all()  # 1: an inherited residual corrected
        shortcut_total += shortcut.sum()
        yielded_total += yielded.sum()
        previous = snap["1:p"]
    assert shortcut_total > 0 and yielded_total > 0
    # elastic unloading from a plastic state took it too
    unloaded = (s1[2]["elastic_shortcut"] == 1) & (s1[1]["1:p"] > 0).any(axis=1)
    assert unloaded.any()


@pytest.mark.parametrize("bc", ["kubc", "subc"])
def test_batched_path_for_every_boundary_condition(cell2d, bc):
    """The batched residual check (projection of SUBC's multipliers) and the batched
    elastic correction (Schur complement of SUBC's constraint) give the per-point answers."""
    out = {}
    for batch in (False, True):
        beam = Beam(lambda m: FE2Material(dm.RVE(cell2d, {1: J2, 2: FIBRE}, bc=bc, batch=batch, rtol=1e-12), m), cells=4,
                    rtol=1e-13)
        history = beam.run([0.03, 0.0])
        out[batch] = (np.array([h["reaction"] for h in history]), beam.u.x.array.copy(),
                      int(beam.material.state["elastic_shortcut"].sum()))
    (r0, u0, k0), (r1, u1, k1) = out[False], out[True]
    assert rel(r1, r0) <= 1e-10 and rel(u1, u0) <= 1e-10
    assert k0 == 0 and k1 > 0


class _SwitchingLaw:
    """A law with a post-convergence check: it answers with stiffness ``soft`` until its
    first check flags every point, then with ``stiff`` (a stand-in for a reduced model
    whose flagged points are re-solved by a finer one)."""

    def __init__(self, soft, stiff):
        self.soft, self.stiff, self.law = soft, stiff, soft
        self.checks = 0
        self.kinematics, self.is_linear, self.spd_tangent = stiff.kinematics, True, True
        self.varying_tangent = False

    def initial_state(self, n):
        return self.stiff.initial_state(n)

    def update(self, strain, state, need_tangent=True, out=None, guess=None):
        return self.law.update(strain, state, need_tangent)

    def check_converged(self, strain, state, trial, reference_stress):
        self.checks += 1
        flagged = self.law is self.soft
        self.law = self.stiff
        return np.full(len(strain), flagged)


def test_post_convergence_hook_makes_newton_iterate_on():
    """A material whose check flags points after the first convergence: the macro Newton
    iterates on and ends at the solution of the law the check switched to (the reaction of
    the stiff material alone, to 1e-12), calling the hook once per convergence."""
    soft, stiff = dm.LinearElastic(E=0.5, nu=0.3), dm.LinearElastic(E=1.0, nu=0.3)
    switching = _SwitchingLaw(soft, stiff)
    hooked = Beam(lambda m: LocalMaterial(switching, m), cells=4)
    reference = Beam(lambda m: LocalMaterial(stiff, m), cells=4)
    r_hooked, r_ref = hooked.run([0.01])[-1], reference.run([0.01])[-1]
    assert switching.checks == 2
    assert abs(r_hooked["reaction"] - r_ref["reaction"]) <= 1e-12 * abs(r_ref["reaction"])
    assert r_hooked["newton_iterations"][0] > r_ref["newton_iterations"][0]
