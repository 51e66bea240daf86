"""Mandel notation: conversions between symmetric tensors and vectors/matrices.

Mandel (orthonormal) notation stores a symmetric second-order tensor ``a`` as a vector
with the off-diagonal components scaled by √2, so that ``a : b = a_M · b_M`` and a
fourth-order tensor with minor symmetries becomes a matrix whose quadratic forms,
eigenvalues and inverse are those of the tensor.

Component order (``docs/conventions.md``):

* 2-D: ``[11, 22, 12]`` (3 components),
* 3-D: ``[11, 22, 33, 23, 13, 12]`` (6 components).

Voigt notation (used by some other codes) stores strains with engineering shears
``γ_ij = 2 ε_ij`` and stresses unscaled; :func:`mandel_to_voigt_stiffness` converts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "IN_PLANE",
    "SQRT2",
    "deviatoric_projector",
    "embed_plane_strain",
    "from_mandel",
    "isotropic_stiffness",
    "lame_parameters",
    "mandel_index_pairs",
    "mandel_size",
    "mandel_to_voigt_stiffness",
    "symmetry_error",
    "tensor_component_index",
    "to_mandel",
    "von_mises",
]

#: √2, the Mandel weight of a shear component
SQRT2 = float(np.sqrt(2.0))
#: the 2-D (plane strain) Mandel components ``[11, 22, 12]`` inside the 3-D order
IN_PLANE = np.array([0, 1, 5])
_PAIRS = {2: ((0, 0), (1, 1), (0, 1)), 3: ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))}


def mandel_size(dim: int) -> int:
    """Number of Mandel components of a symmetric ``dim × dim`` tensor (3 or 6)."""
    if dim not in _PAIRS:
        raise ValueError(f"dim must be 2 or 3; got {dim}")
    return dim * (dim + 1) // 2


def mandel_index_pairs(dim: int) -> tuple[tuple[int, int], ...]:
    """Tensor index pairs ``(i, j)`` of each Mandel component, in the package's order."""
    mandel_size(dim)
    return _PAIRS[dim]


def tensor_component_index(key: str, dim: int) -> int:
    """Mandel position of a tensor component given as ``"11"``, ``"12"``, ``"21"``, ....

    Args:
        key: two digits ``ij`` with ``1 ≤ i, j ≤ dim`` (tensor, not engineering, component).
        dim: 2 or 3.
    """
    if len(key) != 2 or not key.isdigit() or not all(1 <= int(c) <= dim for c in key):
        valid = ", ".join(f"{i + 1}{j + 1}" for i, j in mandel_index_pairs(dim))
        raise ValueError(f"tensor component must be one of {valid} in {dim}-D; got {key!r}")
    i, j = sorted((int(key[0]) - 1, int(key[1]) - 1))
    return mandel_index_pairs(dim).index((i, j))


def _weights(dim: int) -> npt.NDArray[np.float64]:
    return np.array([1.0 if i == j else SQRT2 for i, j in mandel_index_pairs(dim)])


def to_mandel(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Symmetric tensor(s) → Mandel vector(s).

    Args:
        a: array of shape ``(..., d, d)``, ``d`` = 2 or 3 (symmetric part is used).

    Returns:
        Array of shape ``(..., 3)`` (2-D) or ``(..., 6)`` (3-D).
    """
    a = np.asarray(a, dtype=float)
    d = a.shape[-1]
    if a.ndim < 2 or a.shape[-2] != d:
        raise ValueError(f"expected (..., d, d) tensors; got shape {a.shape}")
    sym = 0.5 * (a + np.swapaxes(a, -1, -2))
    return np.stack([sym[..., i, j] for i, j in mandel_index_pairs(d)], axis=-1) * _weights(d)


def from_mandel(v: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mandel vector(s) → symmetric tensor(s).

    Args:
        v: array of shape ``(..., 3)`` or ``(..., 6)``.

    Returns:
        Array of shape ``(..., 2, 2)`` or ``(..., 3, 3)``.
    """
    v = np.asarray(v, dtype=float)
    d = {3: 2, 6: 3}.get(v.shape[-1])
    if d is None:
        raise ValueError(f"Mandel vectors have 3 or 6 components; got shape {v.shape}")
    w = v / _weights(d)
    out = np.zeros(v.shape[:-1] + (d, d))
    for k, (i, j) in enumerate(mandel_index_pairs(d)):
        out[..., i, j] = w[..., k]
        out[..., j, i] = w[..., k]
    return out


def embed_plane_strain(eps: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], int]:
    """Strains as 3-D Mandel vectors: plane strain ``(N, 3)`` → ``(N, 6)``, 3-D unchanged.

    Args:
        eps: ``(N, 3)`` 2-D Mandel ``[11, 22, 12]`` (plane strain: ``ε33 = ε13 = ε23 = 0``)
            or ``(N, 6)`` 3-D Mandel ``[11, 22, 33, 23, 13, 12]``.

    Returns:
        ``(e3, dim)``: the ``(N, 6)`` strains (a new array for 2-D input, the input
        itself for 3-D) and the dimension of the input, 2 or 3.
    """
    eps = np.asarray(eps, dtype=float)
    if eps.ndim != 2 or eps.shape[1] not in (3, 6):
        raise ValueError("strain must have shape (N, 3) (2-D Mandel [11, 22, 12]) or (N, 6) "
                         f"(3-D Mandel [11, 22, 33, 23, 13, 12]); got {eps.shape}")
    if eps.shape[1] == 6:
        return eps, 3
    e3 = np.zeros((eps.shape[0], 6))
    e3[:, IN_PLANE] = eps
    return e3, 2


def lame_parameters(E: float, nu: float) -> tuple[float, float]:
    """Lamé parameters ``(λ, μ)`` from Young's modulus ``E`` and Poisson's ratio ``ν``.

    Raises:
        ValueError: unless ``E`` is finite, ``E > 0`` and ``-1 < ν < 0.5`` (``nan`` is
            rejected for both).
    """
    if not np.isfinite(E):
        raise ValueError(f"E must be finite; got {E}")
    if not E > 0:
        raise ValueError(f"E must be > 0; got {E}")
    if not -1.0 < nu < 0.5:
        raise ValueError(f"nu must be in (-1, 0.5); got {nu}")
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


def isotropic_stiffness(lmbda: float, mu: float, dim: int) -> npt.NDArray[np.float64]:
    """Isotropic stiffness ``C = λ I⊗I + 2μ I_s`` as a Mandel matrix.

    In 2-D this is the plane-strain stiffness (the in-plane block of the 3-D tensor).

    Returns:
        Array of shape ``(3, 3)`` (2-D) or ``(6, 6)`` (3-D).
    """
    n = mandel_size(dim)
    C = 2.0 * mu * np.eye(n)
    C[:dim, :dim] += lmbda
    return C


def deviatoric_projector(dim: int) -> npt.NDArray[np.float64]:
    """The deviatoric projector ``P = I_s − ⅓ I⊗I`` as a Mandel matrix (``P ε = dev ε``).

    In 2-D the in-plane block of the 3-D projector (plane strain).

    Returns:
        Array of shape ``(3, 3)`` (2-D) or ``(6, 6)`` (3-D).
    """
    P = np.eye(6)
    P[:3, :3] -= 1.0 / 3.0
    k = IN_PLANE if dim == 2 else np.arange(6)
    return P[np.ix_(k, k)]


def symmetry_error(C: npt.ArrayLike) -> float:
    """Relative asymmetry ``‖C − Cᵀ‖ / ‖C‖`` (Frobenius) of a square matrix."""
    C = np.asarray(C, dtype=float)
    return float(np.linalg.norm(C - C.T) / np.linalg.norm(C))


def mandel_to_voigt_stiffness(C: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Mandel stiffness matrix → Voigt stiffness (engineering shear strains).

    ``C_V[a, b] = C_M[a, b] / (w_a w_b)`` with ``w = 1`` on normal and ``√2`` on shear
    components; the component order is unchanged.
    """
    C = np.asarray(C, dtype=float)
    d = {3: 2, 6: 3}.get(C.shape[-1])
    if d is None or C.shape[-2:] != (C.shape[-1], C.shape[-1]):
        raise ValueError(f"expected a (3, 3) or (6, 6) Mandel matrix; got shape {C.shape}")
    w = _weights(d)
    return C / np.outer(w, w)


def von_mises(sigma: npt.ArrayLike, sigma33: npt.ArrayLike | float = 0.0) -> npt.NDArray[np.float64]:
    """Von Mises equivalent stress ``√(3/2 s:s)``, ``s`` the deviator.

    Args:
        sigma: Mandel stresses, shape ``(..., 3)`` (2-D in-plane) or ``(..., 6)``.
        sigma33: out-of-plane normal stress for 2-D input (plane strain: ``σ33 ≠ 0``),
            broadcastable to ``sigma.shape[:-1]``; ignored in 3-D.

    Returns:
        Array of shape ``sigma.shape[:-1]``.
    """
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape[-1] == 3:
        full = np.zeros(sigma.shape[:-1] + (6,))
        full[..., [0, 1, 5]] = sigma
        full[..., 2] = sigma33
        sigma = full
    elif sigma.shape[-1] != 6:
        raise ValueError(f"Mandel stresses have 3 or 6 components; got shape {sigma.shape}")
    dev = sigma.copy()
    dev[..., :3] -= sigma[..., :3].mean(axis=-1, keepdims=True)
    return np.sqrt(1.5 * np.einsum("...i,...i->...", dev, dev))
