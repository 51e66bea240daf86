"""RVE homogenization against independent references (issue 4).

References: the material tensor itself (homogeneous cells), the exact laminate
(homogenization.laminate_*), the KUBC/periodic/SUBC ordering, Voigt–Reuss and
Hashin–Shtrikman bounds, Perrins et al. (1979) for square arrays of cylinders.
"""

from mpi4py import MPI

import numpy as np
import pytest

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell import SolverPolicy
from dolfinx_multiscale.studies import references as hom
from dolfinx_multiscale.geometry import microstructures as ms

COMM = MPI.COMM_SELF
BCS = ("periodic", "kubc", "subc")
SOFT, STIFF = dm.LinearElastic(E=1.0, nu=0.3), dm.LinearElastic(E=10.0, nu=0.25)


def psd_margin(A):
    """Smallest eigenvalue of the symmetric part of ``A`` relative to ``‖A‖``."""
    return np.linalg.eigvalsh(0.5 * (A + A.T)).min() / np.linalg.norm(A)


@pytest.fixture(scope="module")
def inclusion2d():
    return ms.circular_inclusion(0.3, h=0.05, comm=COMM)


@pytest.fixture(scope="module")
def random2d():
    return ms.random_inclusions(5, 0.3, dim=2, seed=3, min_gap=0.02, h=0.04, comm=COMM)


@pytest.mark.parametrize("bc", BCS)
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_homogeneous_cell_returns_material_tensor(inclusion2d, bc, physics):
    mat = dm.LinearElastic(E=3.0, nu=0.2) if physics == "elasticity" else dm.Conductivity([[2.0, 0.3], [0.3, 1.0]])
    rve = dm.RVE(inclusion2d, {1: mat, 2: mat}, bc=bc)
    C = rve.effective_tensor()
    ref = mat.matrix(2)
    assert np.abs(C - ref).max() <= 1e-10 * np.abs(ref).max()


@pytest.mark.parametrize("bc", BCS)
def test_homogeneous_cell_3d(bc):
    micro = ms.spherical_inclusion(0.2, h=0.25, comm=COMM)
    rve = dm.RVE(micro, {1: SOFT, 2: SOFT}, bc=bc)
    ref = SOFT.matrix(3)
    assert np.abs(rve.effective_tensor() - ref).max() <= 1e-10 * np.abs(ref).max()


LAMINATES = [  # (dim, fractions, direction)
    (2, (0.4, 0.6), 0),
    (2, (0.3, 0.3, 0.4), 1),
    (3, (0.5, 0.5), 2),
    (3, (0.2, 0.5, 0.3), 0),
]


def _layer_materials(n, physics):
    if physics == "elasticity":
        mats = [SOFT, STIFF, dm.LinearElastic(E=4.0, nu=0.35)]
    else:
        mats = [dm.Conductivity(1.0), dm.Conductivity(10.0), dm.Conductivity(3.0)]
    return {k + 1: mats[k] for k in range(n)}


@pytest.mark.parametrize("dim,fractions,direction", LAMINATES)
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_laminate_periodic_is_exact_and_bracketed(dim, fractions, direction, physics):
    micro = ms.laminate(fractions, direction=direction, dim=dim, h=0.1 if dim == 2 else 0.25, comm=COMM)
    mats = _layer_materials(len(fractions), physics)
    phase_mats = [mats[k + 1].matrix(dim) for k in range(len(fractions))]
    if physics == "elasticity":
        exact = hom.laminate_stiffness(phase_mats, fractions, direction, dim)
    else:
        exact = hom.laminate_conductivity(phase_mats, fractions, direction, dim)
    C = {bc: dm.RVE(micro, mats, bc=bc).effective_tensor() for bc in BCS}
    assert np.abs(C["periodic"] - exact).max() <= 1e-8 * np.abs(exact).max()
    # KUBC stiffer, SUBC softer than exact, strictly in some direction
    for stiffer, softer in ((C["kubc"], exact), (exact, C["subc"])):
        assert psd_margin(stiffer - softer) >= -1e-10
        assert np.linalg.eigvalsh(stiffer - softer).max() > 1e-6 * np.abs(exact).max()


@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
def test_random_inclusions_bc_ordering_and_bounds(random2d, physics):
    if physics == "elasticity":
        mats = {1: SOFT, 2: STIFF}
    else:
        mats = {1: dm.Conductivity(1.0), 2: dm.Conductivity(20.0)}
    C = {bc: dm.RVE(random2d, mats, bc=bc).effective_tensor() for bc in BCS}
    assert psd_margin(C["kubc"] - C["periodic"]) >= -1e-10
    assert psd_margin(C["periodic"] - C["subc"]) >= -1e-10
    f = [random2d.volume_fractions[1], random2d.volume_fractions[2]]
    phase = [mats[1].matrix(2), mats[2].matrix(2)]
    voigt, reuss = hom.voigt_bound(phase, f), hom.reuss_bound(phase, f)
    for c in C.values():
        assert psd_margin(voigt - c) >= -1e-10
        assert psd_margin(c - reuss) >= -1e-10
        assert dm.tensors.symmetry_error(c) <= 1e-10
        assert np.linalg.eigvalsh(c).min() > 0


def test_hexagonal_fibres_inside_hashin_shtrikman():
    micro = ms.fibre_array(0.4, packing="hexagonal", h=0.04, comm=COMM)
    rve = dm.RVE(micro, {1: SOFT, 2: STIFF}, bc="periodic")
    C = rve.effective_tensor()
    kappa, mu = hom.bulk_shear_from_isotropic(C, 2)
    # transversely isotropic: C is isotropic in the plane up to discretisation
    assert np.abs(C - hom.isotropic_from_bulk_shear(kappa, mu, 2)).max() < 2e-3 * np.abs(C).max()
    b = hom.hashin_shtrikman_elastic(SOFT.lmbda + SOFT.mu, SOFT.mu, STIFF.lmbda + STIFF.mu, STIFF.mu,
                                     micro.volume_fractions[2], 2)
    assert b.bulk_lower <= kappa <= b.bulk_upper
    assert b.shear_lower <= mu <= b.shear_upper


def test_square_array_conductivity_matches_perrins():
    f, kf = 0.4, 10.0
    micro = ms.fibre_array(f, packing="square", h=0.015, comm=COMM)
    K = dm.RVE(micro, {1: dm.Conductivity(1.0), 2: dm.Conductivity(kf)}).effective_tensor()
    lo, hi = hom.hashin_shtrikman_conductivity(1.0, kf, micro.volume_fractions[2], 2)
    assert lo <= K[0, 0] <= hi and lo <= K[1, 1] <= hi
    # Perrins, McKenzie & McPhedran, Proc. R. Soc. A 369 (1979): square array of cylinders
    ref = hom.rayleigh_square_array(1.0, kf, micro.volume_fractions[2])
    assert K[0, 0] == pytest.approx(ref, rel=2e-3)
    assert abs(K[0, 1]) < 1e-5 * K[0, 0]  # unstructured mesh: cubic symmetry up to O(h²)


@pytest.mark.parametrize("bc", BCS)
def test_hill_mandel_and_average_strain(random2d, bc):
    rve = dm.RVE(random2d, {1: SOFT, 2: STIFF}, bc=bc)
    E = np.array([0.01, -0.004, 0.003])
    Sigma, C = rve.solve(E)
    assert rve.hill_mandel_residual() <= 1e-10
    assert np.allclose(rve.average_stress(), Sigma, rtol=1e-12)
    assert np.allclose(Sigma, C @ E, rtol=1e-10)
    # ⟨ε⟩ = E: exact for KUBC and periodic (boundary integral of w ⊗ n vanishes),
    # and imposed for SUBC (the minimal kinematic constraint).
    assert np.abs(rve.average_strain() - E).max() <= 1e-10 * np.abs(E).max()


def test_mesh_convergence_p1_p2():
    """The periodic tensor converges under refinement; P2 converges faster than P1."""
    mats = {1: SOFT, 2: STIFF}
    hs = (0.08, 0.04, 0.02)
    values = {1: [], 2: []}
    for degree in (1, 2):
        for h in hs:
            micro = ms.circular_inclusion(0.3, h=h, comm=COMM)
            values[degree].append(dm.RVE(micro, mats, degree=degree).effective_tensor()[2, 2])
    ref = values[2][-1]
    err1 = [abs(v - ref) for v in values[1][:-1]]
    assert err1[1] < err1[0] / 2.5  # P1: energy converges at ~O(h²) (geometry included)
    # P1 and P2 agree better and better
    diff = [abs(a - b) for a, b in zip(values[1], values[2])]
    assert diff[2] < diff[1] < diff[0]


def test_material_and_phase_mismatch(inclusion2d):
    with pytest.raises(ValueError, match=r"mesh phase tags \[1, 2\], material keys \[1, 3\]"):
        dm.RVE(inclusion2d, {1: SOFT, 3: STIFF})
    with pytest.raises(ValueError, match="bc must be one of"):
        dm.RVE(inclusion2d, {1: SOFT, 2: STIFF}, bc="mixed")
    with pytest.raises(ValueError, match="one physics"):
        dm.RVE(inclusion2d, {1: SOFT, 2: dm.Conductivity(1.0)})


def test_non_periodic_mesh_is_rejected():
    import dolfinx.mesh

    mesh = dolfinx.mesh.create_unit_square(COMM, 6, 6)
    x = mesh.geometry.x
    inner = (x[:, 1] > 1e-12) & (x[:, 1] < 1 - 1e-12) & (x[:, 0] > 1 - 1e-12)
    x[inner, 1] += 0.01  # move right-face nodes: no longer images of the left face
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local
    tags = dolfinx.mesh.meshtags(mesh, tdim, np.arange(n, dtype=np.int32), np.ones(n, dtype=np.int32))
    micro = ms.Microstructure(mesh, tags, (np.zeros(2), np.ones(2)), {1: 1.0})
    with pytest.raises(dm.NotPeriodicError, match=r"1\.000e-02"):
        dm.RVE(micro, {1: SOFT}, bc="periodic")
    assert dm.RVE(micro, {1: SOFT}, bc="kubc").effective_tensor().shape == (3, 3)


@pytest.mark.parametrize("bc", BCS)
def test_iterative_3d_solver_gives_the_direct_tensor(bc):
    """3-D RVEs above SolverPolicy.iterative_dofs use CG + GAMG (rigid-body near-null
    space): the tensor equals the MUMPS one."""
    micro = ms.spherical_inclusion(0.2, h=0.25, comm=COMM)
    direct = dm.RVE(micro, {1: SOFT, 2: STIFF}, bc=bc).effective_tensor()
    rve = dm.RVE(micro, {1: SOFT, 2: STIFF}, bc=bc, petsc_options_prefix=f"gamg_{bc}_",
                 solver_policy=SolverPolicy(iterative_dofs={2: 0, 3: 0}))
    assert rve.linear_solver.ksp.getType() == "cg"
    assert np.abs(rve.effective_tensor() - direct).max() <= 1e-9 * np.abs(direct).max()


@pytest.mark.parametrize("coo_assembly_dofs", [10**9, 0], ids=["coo", "in-place"])
@pytest.mark.parametrize("bc", BCS)
def test_reduced_stiffness_equals_petsc_ptap(inclusion2d, bc, coo_assembly_dofs):
    """K̃, copied from the CSR entries by COO (small cells) or assembled straight through
    its local-to-global map (large cells), equals PETSc's PᵀKP of the assembled K."""
    import dolfinx.fem.petsc

    rve = dm.RVE(inclusion2d, {1: SOFT, 2: STIFF}, bc=bc,
                 solver_policy=SolverPolicy(coo_assembly_dofs=coo_assembly_dofs))
    assert rve.linear_solver.in_place == (coo_assembly_dofs == 0)
    rve.effective_tensor()
    K = dolfinx.fem.petsc.assemble_matrix(rve.discretisation.a)
    K.assemble()
    reference = K.ptap(rve.constraint.P)
    difference = rve.linear_solver.Kr.copy()
    difference.axpy(-1.0, reference)
    assert difference.norm() <= 1e-14 * reference.norm()


@pytest.mark.parametrize("dim", [2, 3])
def test_voxel_stiffness_is_exact_for_bilinear_fields(dim):
    """On quadrilaterals/hexahedra (voxels) the stiffness is integrated exactly: the
    energy ``uᵀ K u`` of the Q1 field ``u = x y (z)`` is ``∫ |∇u|² = 2/3`` (2-D) and
    ``1/3`` (3-D) on the unit box; one point per cell (the simplices' rule) gives less
    and leaves the hourglass modes without stiffness."""
    import dolfinx.fem as fem
    import dolfinx.mesh as dmesh

    from dolfinx_multiscale.geometry.microstructures import Microstructure

    cell = dmesh.CellType.quadrilateral if dim == 2 else dmesh.CellType.hexahedron
    mesh = (dmesh.create_unit_square(COMM, 4, 4, cell) if dim == 2
            else dmesh.create_unit_cube(COMM, 3, 3, 3, cell))
    n_cells = mesh.topology.index_map(dim).size_local
    tags = dmesh.meshtags(mesh, dim, np.arange(n_cells, dtype=np.int32), np.ones(n_cells, dtype=np.int32))
    micro = Microstructure(mesh, tags, (np.zeros(dim), np.ones(dim)), {1: 1.0})
    rve = dm.RVE(micro, {1: dm.Conductivity(1.0)})
    rve.effective_tensor()  # fills the point tangents
    u = fem.Function(rve.V)
    u.interpolate(lambda x: np.prod(x[:dim], axis=0))
    K = rve.discretisation.assemble_local_stiffness().to_scipy()
    assert u.x.array @ (K @ u.x.array) == pytest.approx(2 / 3 if dim == 2 else 1 / 3, rel=1e-13)


def test_solver_defaults_do_not_leak_between_rves(inclusion2d):
    """A small RVE's defaults (PETSc's own LDLᵀ) are not left in the options database for
    the next RVE with the same prefix; an option set by the user is kept and used."""
    from petsc4py import PETSc

    small = dm.RVE(ms.circular_inclusion(0.3, h=0.2, comm=COMM), {1: SOFT, 2: STIFF})
    assert small.n_dofs <= 500 and small.linear_solver.ksp.getPC().getFactorSolverType() == "petsc"
    assert not PETSc.Options().hasName("rve_pc_factor_mat_solver_type")
    large = dm.RVE(inclusion2d, {1: SOFT, 2: STIFF})
    assert large.linear_solver.ksp.getPC().getFactorSolverType() == "mumps"
    assert large.linear_solver.ksp.getPC().getType() == "cholesky"  # every material SPD
    PETSc.Options()["user_pc_type"] = "lu"
    try:
        user = dm.RVE(inclusion2d, {1: SOFT, 2: STIFF}, petsc_options_prefix="user_")
        assert user.linear_solver.ksp.getPC().getType() == "lu"
        assert np.abs(user.effective_tensor() - large.effective_tensor()).max() <= 1e-12
    finally:
        PETSc.Options().delValue("user_pc_type")


def test_newton_tolerance_loosens_the_micro_newton_for_a_block(inclusion2d):
    """Inside ``newton_tolerance(rve, 1e-4)`` a plastic point takes fewer micro Newton
    iterations, with Σ within 1e-5 of the tight solve's (a tenth of the tolerance); after
    the block the RVE
    solves to its own tolerance again (the same Σ bit for bit); a bad tolerance is refused."""
    from dolfinx_multiscale.cell.rve import newton_tolerance

    rve = dm.RVE(inclusion2d, {1: dm.J2Plasticity(E=1.0, nu=0.3, sy0=0.005, H=0.05),
                               2: dm.LinearElastic(E=10.0, nu=0.25)})
    E = np.array([0.02, -0.006, 0.004])  # several times the first yield
    tight = rve.solve(E, tangent=False)[0]
    tight_iterations = rve.newton_iterations
    with newton_tolerance(rve, 1e-4):
        loose = rve.solve(E, tangent=False)[0]
        assert rve.newton_iterations < tight_iterations
    assert 0 < np.abs(loose - tight).max() <= 1e-5 * np.abs(tight).max()
    assert np.array_equal(rve.solve(E, tangent=False)[0], tight) and rve.newton_iterations == tight_iterations
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="rtol"), newton_tolerance(rve, bad):
            pass
