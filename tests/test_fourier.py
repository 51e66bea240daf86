"""The Fourier (reference-medium Green operator) preconditioner of periodic voxel cells
(cell/fourier.py), against independent references: the energy of affine fields in one
element, the exactness of the Green operator on a homogeneous cell (one CG iteration, the
phase tensor), exact laminates, the direct solver on random images, and its iteration
count (independent of the resolution, far below Jacobi-preconditioned CG)."""

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import pytest

import dolfinx.fem
import dolfinx.mesh

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell.boundary import kubc, periodic
from dolfinx_multiscale.cell.fourier import GreenPreconditioner
from dolfinx_multiscale.cell.voxels import q1_stiffness
from dolfinx_multiscale.cell.solver import SolverPolicy
from dolfinx_multiscale.kinematics import CONDUCTION, SMALL_STRAIN
from dolfinx_multiscale.studies.references import laminate_conductivity, laminate_stiffness
from dolfinx_multiscale.tensors import to_mandel

COMM = MPI.COMM_SELF
LAWS = {"elasticity": {0: dm.LinearElastic(E=1.0, nu=0.3), 1: dm.LinearElastic(E=10.0, nu=0.25)},
        "conduction": {0: dm.Conductivity(1.0), 1: dm.Conductivity(10.0)}}
OFF = SolverPolicy(fourier_preconditioner=False)


def random_image(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) < 0.35).astype(np.uint8)


def anisotropic(n, seed):
    """A random symmetric positive definite Mandel stiffness ``(n, n)``."""
    A = np.random.default_rng(seed).standard_normal((n, n))
    return A @ A.T + n * np.eye(n)


@pytest.mark.parametrize("dim", [2, 3])
def test_q1_stiffness_energy_of_affine_fields(dim):
    """``uᵀ K_e u = |box| ε·C ε`` for the nodal values of an affine field (exact strain
    ``ε``), and rigid translations carry no energy."""
    h = np.array([0.7, 1.3, 0.4])[:dim]
    nodes = np.array(np.meshgrid(*[[0, 1]] * dim, indexing="ij")).reshape(dim, -1).T * h  # product order
    rng = np.random.default_rng(dim)
    C = anisotropic(3 if dim == 2 else 6, dim)
    Ke = q1_stiffness(SMALL_STRAIN, C, h).reshape(2**dim * dim, -1)
    H = rng.standard_normal((dim, dim))
    u = (nodes @ H.T).reshape(-1)  # u(x) = H x
    eps = to_mandel(H)
    assert u @ Ke @ u == pytest.approx(np.prod(h) * eps @ C @ eps, rel=1e-12)
    assert np.abs(Ke @ np.tile(rng.standard_normal(dim), 2**dim)).max() < 1e-12 * np.abs(Ke).max()
    K = np.diag(rng.random(dim) + 1.0)
    Ke = q1_stiffness(CONDUCTION, K, h).reshape(2**dim, -1)
    g = rng.standard_normal(dim)
    theta = nodes @ g
    assert theta @ Ke @ theta == pytest.approx(np.prod(h) * g @ K @ g, rel=1e-12)


@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("shape", [(6, 9), (5, 4, 7)])
def test_homogeneous_cell_is_solved_in_one_iteration(shape, physics):
    """The Green operator of the (anisotropic) phase itself is the exact inverse of the
    reduced operator: ``Γ̃ K̃ x = x`` for a random ``x``, CG solves a random right-hand
    side in one iteration, and the tensor is the phase's."""
    dim = len(shape)
    n = 3 if dim == 2 else 6
    law = (dm.LinearElastic(C=anisotropic(n, 1)) if physics == "elasticity"
           else dm.Conductivity(anisotropic(dim, 2)))
    micro = dm.from_image(np.full(shape, 4, dtype=np.uint8), voxel_size=(0.3, 0.7, 1.1)[:dim], comm=COMM)
    rve = dm.RVE(micro, {4: law})
    C = rve.effective_tensor()
    assert np.abs(C - law.matrix(dim)).max() <= 1e-12 * np.abs(C).max()
    assert_exact_inverse(rve.linear_solver)


def assert_exact_inverse(solver):
    assert solver.preconditioner is not None and solver.ksp.getType() == "cg"
    x, y, z = (solver.Kr.createVecRight() for _ in range(3))
    x.setRandom()
    solver.Kr.mult(x, y)
    solver.ksp.getPC().apply(y, z)
    z.axpy(-1.0, x)
    assert z.norm() <= 1e-12 * x.norm()
    before = solver.n_krylov_iterations
    solver.solve(y, z)
    assert solver.n_krylov_iterations - before == 1
    z.axpy(-1.0, x)
    assert z.norm() <= 1e-12 * x.norm()


@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("dim", [2, 3])
def test_voxel_laminate_is_exact(dim, physics):
    labels = np.zeros((12, 12) if dim == 2 else (6, 6, 6), dtype=np.uint8)
    rows = slice(4, 9) if dim == 2 else slice(2, 5)
    labels[..., rows, :] = 1  # layers along y
    fraction = labels.mean()
    rve = dm.RVE(dm.from_image(labels, voxel_size=0.5, comm=COMM), LAWS[physics])
    assert rve.linear_solver.preconditioner is not None
    laws = [LAWS[physics][t].matrix(dim) for t in (0, 1)]
    exact = (laminate_stiffness if physics == "elasticity" else laminate_conductivity)(
        laws, [1 - fraction, fraction], 1, dim)
    assert np.abs(rve.effective_tensor() - exact).max() <= 1e-10 * np.abs(exact).max()


@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("shape", [(20, 17), (7, 6, 9)])
def test_random_image_equals_the_default_solver(shape, physics):
    micro = dm.from_image(random_image(shape), voxel_size=(1.0, 0.5, 2.0)[:len(shape)], comm=COMM)
    fourier = dm.RVE(micro, LAWS[physics])
    default = dm.RVE(micro, LAWS[physics], solver_policy=OFF)
    assert fourier.linear_solver.preconditioner is not None and default.linear_solver.preconditioner is None
    C, C_ref = fourier.effective_tensor(), default.effective_tensor()
    assert np.abs(C - C_ref).max() <= 1e-10 * np.abs(C_ref).max()


def test_iterations_do_not_grow_with_the_resolution():
    """The same two-phase geometry at 8² and 32² voxels: the Fourier-preconditioned CG
    needs about the same iterations (κ ≤ contrast, whatever the grid), CG with Jacobi
    (κ ~ N²) needs several times more at 32²."""
    base = random_image((8, 8), seed=3)
    iterations = {}
    opts = PETSc.Options()
    opts["jacobi_pc_type"] = "jacobi"  # the options of a prefix override the Fourier PC
    try:
        for factor in (1, 4):
            micro = dm.from_image(np.kron(base, np.ones((factor, factor), dtype=np.uint8)), 1.0 / factor, comm=COMM)
            for prefix in ("fourier_", "jacobi_"):
                rve = dm.RVE(micro, LAWS["elasticity"], petsc_options_prefix=prefix)
                rve.effective_tensor()
                assert rve.linear_solver.ksp.getPC().getType() == prefix[:-1].replace("fourier", "python")
                iterations[prefix, factor] = rve.linear_solver.n_krylov_iterations
    finally:
        opts.delValue("jacobi_pc_type")
    assert iterations["fourier_", 4] <= 1.1 * iterations["fourier_", 1] + 3
    assert iterations["fourier_", 4] <= 60 * 3  # 3 load cases, contrast 10, ksp_rtol 1e-12
    assert iterations["jacobi_", 4] >= 5 * iterations["fourier_", 4]


def test_used_only_where_it_applies():
    image = random_image((6, 7))
    micro = dm.from_image(image, voxel_size=1.0, comm=COMM)
    assert dm.RVE(micro, LAWS["elasticity"], bc="kubc").linear_solver.preconditioner is None
    assert dm.RVE(micro, LAWS["elasticity"], solver_policy=OFF).linear_solver.preconditioner is None
    j2 = {0: LAWS["elasticity"][0], 1: dm.J2Plasticity(E=10.0, nu=0.25, sy0=1.0, H=1.0)}
    assert dm.RVE(micro, j2).linear_solver.preconditioner is None  # not linear
    msh = dm.microstructures.circular_inclusion(volume_fraction=0.2, h=0.2, comm=COMM)
    assert dm.RVE(msh, {1: LAWS["elasticity"][0], 2: LAWS["elasticity"][1]}).linear_solver.preconditioner is None


def test_bad_cells_are_refused():
    mesh = dolfinx.mesh.create_unit_square(COMM, 8, 8)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (2,)))
    box = (np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="on the voxel grid"):
        GreenPreconditioner(V, periodic(V, box), (4, 4), (0.25, 0.25), box[0], SMALL_STRAIN)
    with pytest.raises(ValueError, match="periodic cell"):
        GreenPreconditioner(V, kubc(V, box), (8, 8), (0.125, 0.125), box[0], SMALL_STRAIN)
    with pytest.raises(ValueError, match="elasticity or conduction"):
        GreenPreconditioner(V, periodic(V, box), (8, 8), (0.125, 0.125), box[0], dm.kinematics.FINITE_STRAIN)


@pytest.mark.parametrize("bc", ["periodic", "subc"])
@pytest.mark.parametrize("physics", ["elasticity", "conduction"])
@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 5)])
def test_per_phase_elements_equal_the_forms(shape, physics, bc):
    """``K̃`` and the unit loads of a linear voxel cell assembled from one element matrix /
    load per phase equal DOLFINx's assembly of the forms with the point tangents (node
    blocks under periodic BCs, dof by dof under SUBC's pins)."""
    micro = dm.from_image(random_image(shape, seed=5), voxel_size=(0.3, 0.7, 1.1)[:len(shape)], comm=COMM)
    rve = dm.RVE(micro, LAWS[physics], bc=bc, solver_policy=SolverPolicy(fourier_preconditioner=False,
                                                                       coo_assembly_dofs=0))
    rve.effective_tensor()  # the per-phase route (a linear voxel cell)
    K_voxels = rve.linear_solver.Kr.copy()
    K_form = rve.discretisation.assemble_stiffness(rve.linear_solver.Kr)
    K_voxels.axpy(-1.0, K_form)
    assert K_voxels.norm() <= 1e-13 * K_form.norm()
    assert K_form.norm() > 0
    disc = rve.discretisation
    loads = disc.voxel_unit_loads(rve.laws.constant_tangents(rve.initial_tangent()[2]),
                                  [disc.create_vector() for _ in range(disc.n)])
    for f_voxels, f_form in zip(loads, disc.unit_vectors(disc.load, [disc.create_vector() for _ in range(disc.n)])):
        f_voxels.axpy(-1.0, f_form)
        assert f_voxels.norm() <= 1e-13 * f_form.norm()
