"""The Q1 voxel element: the stiffness of one box with a constant tangent.

Every cell of a voxel mesh (:func:`~dolfinx_multiscale.geometry.microstructures.from_image`)
is the same box, so a phase with a constant tangent ``C`` has one element stiffness,

    K_e = Σ_q w_q B_qᵀ C B_q,

(2 × 2 (× 2) Gauss points, exact for Q1 on a box; ``B_q`` the generalized strain of the
element's nodal values at point ``q``): the symbol of the Fourier preconditioner
(:mod:`.fourier`) and the per-phase assembly (stiffness and unit loads) of linear voxel cells
(:meth:`CellDiscretisation.assemble_stiffness
<dolfinx_multiscale.cell.discretisation.CellDiscretisation.assemble_stiffness>`) are
built from it.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from ..kinematics import CONDUCTION, SMALL_STRAIN, Kinematics
from ..tensors import to_mandel

__all__ = ["check_physics", "element_nodes", "q1_load", "q1_stiffness"]


def check_physics(kinematics: Kinematics) -> None:
    """Raise ``ValueError`` unless ``kinematics`` is ``SMALL_STRAIN`` or ``CONDUCTION``."""
    if kinematics not in (SMALL_STRAIN, CONDUCTION):
        raise ValueError(f"the voxel element takes elasticity or conduction; got {kinematics.name}")


def element_nodes(dim: int) -> npt.NDArray[np.int64]:
    """The offsets ``(2^d, d)`` (physical order, in {0, 1}) of the element's nodes from its
    low corner, in the order of :func:`q1_stiffness`: ``itertools.product((0, 1), repeat=d)``
    (node ``a`` at ``Σ_α o_aα 2^(d−1−α)``)."""
    return np.array(list(itertools.product((0, 1), repeat=dim)))


def q1_stiffness(kinematics: Kinematics, C: npt.ArrayLike, spacing: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The stiffness of one Q1 box element with the constant tangent ``C``.

    ``K_e = Σ_q w_q B_qᵀ C B_q`` with 2 (× 2 (× 2)) Gauss points per axis (exact on a box),
    ``B_q`` the generalized strain (Mandel strain, or the gradient for conduction) of the
    element's nodal values at point ``q``.

    Args:
        kinematics: ``SMALL_STRAIN`` or ``CONDUCTION``.
        C: the tangent, Mandel ``(n, n)`` (``n = 3`` / ``6``) or the conductivity ``(d, d)``.
        spacing: the box edges ``(h_x, h_y[, h_z])``.

    Returns:
        ``K_e`` of shape ``(2^d, bs, 2^d, bs)`` (``bs = d`` for elasticity, 1 for
        conduction): node ``a`` is at offset ``element_nodes(d)[a]`` from the low corner.
    """
    C = np.asarray(C, dtype=float)
    return sum(w * np.einsum("iab,ij,jcd->abcd", B, C, B) for w, B in _gauss_strain_matrices(kinematics, spacing))


def q1_load(kinematics: Kinematics, C: npt.ArrayLike, spacing: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The element loads of the unit macro strains, ``f_e = Σ_q w_q B_qᵀ C`` ``(2^d, bs, n)``:
    column ``k`` is ``∫_e B(v) · C e_k`` (the cell problem's unit load; :func:`q1_stiffness`'s
    arguments and node order)."""
    C = np.asarray(C, dtype=float)
    return sum(w * np.einsum("iab,ij->abj", B, C) for w, B in _gauss_strain_matrices(kinematics, spacing))


def _gauss_strain_matrices(kinematics: Kinematics, spacing: npt.ArrayLike):
    """Yield ``(w_q, B_q)`` of the 2^d Gauss points of a box: the weight and the strain
    matrix ``(n, 2^d, bs)``."""
    check_physics(kinematics)
    h = np.asarray(spacing, dtype=float)
    d = h.size
    nodes = element_nodes(d)
    g = 0.5 / np.sqrt(3.0)
    for xi in itertools.product((0.5 - g, 0.5 + g), repeat=d):
        factors = np.where(nodes == 1, xi, 1.0 - np.asarray(xi))  # (2^d, d)
        G = np.empty((nodes.shape[0], d))  # ∂φ_a / ∂x_α
        for alpha in range(d):
            G[:, alpha] = (2 * nodes[:, alpha] - 1) / h[alpha] * np.prod(np.delete(factors, alpha, axis=1), axis=1)
        yield np.prod(h) / 2**d, _strain_matrix(kinematics, G)


def _strain_matrix(kinematics: Kinematics, G: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``B`` ``(n, 2^d, bs)``: the generalized strain of the unit nodal values, from the
    shape function gradients ``G`` ``(2^d, d)``."""
    if kinematics is CONDUCTION:
        return G.T[:, :, None]
    d = G.shape[1]
    H = np.einsum("ij,ak->aijk", np.eye(d), G)  # grad of the unit nodal vector (a, i)
    return np.moveaxis(to_mandel(H), -1, 0)
