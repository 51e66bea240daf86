"""The generalized strain of each physics, as objects (not strings).

A :class:`Kinematics` owns what differs between the physics a cell problem or a macro
material can solve: the shape of the unknown field, the size ``n`` of the generalized
strain and stress vectors, the UFL map from the field to that strain, the names of its
components and the tensor form of a macro strain. The RVE, the quadrature materials,
the load-path parser and the command line ask the kinematics instead of comparing
physics names.

* :data:`SMALL_STRAIN` — elasticity: displacement ``u`` ``(d,)``, strain ``ε = sym ∇u``
  as a Mandel vector (``n = 3`` in 2-D plane strain, 6 in 3-D; ``docs/conventions.md``).
* :data:`CONDUCTION` — a scalar potential ``θ`` (temperature, concentration, pressure),
  generalized strain ``∇θ`` (``n = d``) and flux ``j = K ∇θ``.
* :data:`FINITE_STRAIN` — total Lagrangian finite strain: displacement ``u`` ``(d,)``,
  generalized strain the displacement gradient ``H = Grad u = F − I`` flattened row-major
  (``n = d²``: ``[H11, H12, H21, H22]`` in 2-D plane strain with ``F33 = 1``), stress the
  first Piola–Kirchhoff ``P`` in the same order, tangent ``A = ∂P/∂F`` ``(d², d²)``
  (not symmetric-reduced). ``H = 0`` is the undeformed state, as ``ε = 0`` is for small
  strain, so the cell problem ``F = I + H̄ + Grad w`` is written like the others.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import ufl

from .tensors import SQRT2, from_mandel, mandel_index_pairs, mandel_size, tensor_component_index

__all__ = ["CONDUCTION", "Conduction", "FINITE_STRAIN", "FiniteStrain", "KINEMATICS", "Kinematics", "SMALL_STRAIN",
           "SmallStrain", "kinematics", "mandel_strain", "mandel_to_tensor"]


def mandel_strain(u: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """Mandel vector of ``ε(u) = sym ∇u``: ``[ε11, ε22, √2ε12]`` or the 3-D 6-vector."""
    e = ufl.sym(ufl.grad(u))
    if u.ufl_shape == (2,):
        return ufl.as_vector([e[0, 0], e[1, 1], SQRT2 * e[0, 1]])
    return ufl.as_vector([e[0, 0], e[1, 1], e[2, 2], SQRT2 * e[1, 2], SQRT2 * e[0, 2], SQRT2 * e[0, 1]])


def mandel_to_tensor(v: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """Symmetric UFL tensor from a Mandel UFL vector of length 3 (2-D) or 6 (3-D)."""
    if v.ufl_shape == (3,):
        return ufl.as_matrix([[v[0], v[2] / SQRT2], [v[2] / SQRT2, v[1]]])
    return ufl.as_matrix([[v[0], v[5] / SQRT2, v[4] / SQRT2],
                          [v[5] / SQRT2, v[1], v[3] / SQRT2],
                          [v[4] / SQRT2, v[3] / SQRT2, v[2]]])


class Kinematics:
    """The generalized strain of one physics (see the module docstring).

    Attributes:
        name: the physics name used by the command line and in JSON (``"elasticity"``,
            ``"conduction"``, ``"finite"``).
        tensor_name: the symbol of the effective tensor (``"C"``, ``"K"``, ``"A"``).
        has_out_of_plane_stress: 2-D plane strain has a ``σ33`` (``P33``) to report.
        affine_elastic_range: the response is affine in the macro strain while no point
            yields (small strain), so the batched elastic shortcut of FE² applies.
        control_names: the keys of the prescribed strain-like and stress-like
            components in a load path (``("strain", "stress")``, ``("F", "P")``).
        component_noun: what a component is called in error messages.
    """

    name: str
    tensor_name: str
    has_out_of_plane_stress: bool = False
    affine_elastic_range: bool = False
    control_names: tuple[str, str] = ("strain", "stress")
    component_noun: str = "tensor component"

    def reference(self, dim: int) -> npt.NDArray[np.float64]:
        """The value of the prescribed strain-like quantity at rest, as a vector: a load
        path gives ``reference + E`` (0 for small strain and conduction, the identity
        ``F = I`` at finite strain)."""
        return np.zeros(self.size(dim))

    def size(self, dim: int) -> int:  # pragma: no cover - abstract
        """Number ``n`` of components of the generalized strain in ``dim`` dimensions."""
        raise NotImplementedError

    def field_shape(self, dim: int) -> tuple[int, ...]:  # pragma: no cover - abstract
        """Value shape of the unknown field (``(d,)`` displacement, ``()`` potential)."""
        raise NotImplementedError

    def strain(self, u: ufl.core.expr.Expr) -> ufl.core.expr.Expr:  # pragma: no cover - abstract
        """The generalized strain of the field ``u`` as a UFL vector of ``size(d)``."""
        raise NotImplementedError

    def component_keys(self, dim: int) -> list[str]:  # pragma: no cover - abstract
        """The names of the components, in vector order (``"11"``, ``"22"``, ...)."""
        raise NotImplementedError

    def component(self, key: str, dim: int) -> tuple[int, float]:
        """Vector position of a named component and the factor from its tensor value
        (here: its place among :meth:`component_keys`, factor 1).

        Raises:
            ValueError: ``key`` names no component in ``dim`` dimensions.
        """
        keys = self.component_keys(dim)
        if key not in keys:
            raise ValueError(f"{self.component_noun} must be one of {', '.join(keys)} in {dim}-D; got {key!r}")
        return keys.index(key), 1.0

    def as_tensor(self, E: npt.ArrayLike) -> npt.NDArray[np.float64]:  # pragma: no cover - abstract
        """A generalized strain vector ``(n,)`` in tensor form (``(d, d)`` or ``(d,)``)."""
        raise NotImplementedError

    def stress_tensor(self, v: ufl.core.expr.Expr) -> ufl.core.expr.Expr:  # pragma: no cover - abstract
        """The UFL stress (flux) of a generalized stress vector, in tensor form."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<kinematics {self.name!r}>"


class SmallStrain(Kinematics):
    """Small-strain elasticity: Mandel strain ``[ε11, ε22, √2ε12]`` (3-D: 6 components)."""

    name = "elasticity"
    tensor_name = "C"
    has_out_of_plane_stress = True
    affine_elastic_range = True

    def size(self, dim: int) -> int:
        return mandel_size(dim)

    def field_shape(self, dim: int) -> tuple[int, ...]:
        return (dim,)

    def strain(self, u):
        return mandel_strain(u)

    def component_keys(self, dim: int) -> list[str]:
        return [f"{i + 1}{j + 1}" for i, j in mandel_index_pairs(dim)]

    def component(self, key: str, dim: int) -> tuple[int, float]:
        k = tensor_component_index(key, dim)
        i, j = mandel_index_pairs(dim)[k]
        return k, (1.0 if i == j else SQRT2)

    def as_tensor(self, E):
        return from_mandel(E)

    def stress_tensor(self, v: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """The UFL stress tensor of a generalized stress vector (a Mandel vector)."""
        return mandel_to_tensor(v)


class Conduction(Kinematics):
    """Conduction (heat, diffusion, Darcy): generalized strain ``∇θ``, ``n = d``."""

    name = "conduction"
    tensor_name = "K"
    component_noun = "gradient component"

    def size(self, dim: int) -> int:
        return dim

    def field_shape(self, dim: int) -> tuple[int, ...]:
        return ()

    def strain(self, u):
        return ufl.grad(u)

    def component_keys(self, dim: int) -> list[str]:
        return [str(i + 1) for i in range(dim)]

    def as_tensor(self, E):
        return np.asarray(E, dtype=float)

    def stress_tensor(self, v):
        return v


class FiniteStrain(Kinematics):
    """Total Lagrangian finite strain: ``H = Grad u = F − I`` and ``P``, row-major ``(d²,)``."""

    name = "finite"
    tensor_name = "A"
    has_out_of_plane_stress = True
    control_names = ("F", "P")

    def reference(self, dim: int) -> npt.NDArray[np.float64]:
        return np.eye(dim).ravel()

    def size(self, dim: int) -> int:
        return dim * dim

    def field_shape(self, dim: int) -> tuple[int, ...]:
        return (dim,)

    def strain(self, u):
        g = ufl.grad(u)
        d = u.ufl_shape[0]
        return ufl.as_vector([g[i, j] for i in range(d) for j in range(d)])

    def component_keys(self, dim: int) -> list[str]:
        return [f"{i + 1}{j + 1}" for i in range(dim) for j in range(dim)]

    def as_tensor(self, E):
        """The ``(d, d)`` tensor of a row-major ``(d²,)`` vector (``H`` or ``P``)."""
        E = np.asarray(E, dtype=float)
        d = int(round(np.sqrt(E.shape[-1])))
        return E.reshape(E.shape[:-1] + (d, d))

    def stress_tensor(self, v: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """The UFL ``P`` ``(d, d)`` of a row-major vector of ``d²`` components."""
        d = int(round(np.sqrt(v.ufl_shape[0])))
        return ufl.as_matrix([[v[i * d + j] for j in range(d)] for i in range(d)])


SMALL_STRAIN = SmallStrain()
CONDUCTION = Conduction()
FINITE_STRAIN = FiniteStrain()
#: the kinematics by physics name
KINEMATICS = {k.name: k for k in (SMALL_STRAIN, CONDUCTION, FINITE_STRAIN)}


def kinematics(name: str) -> Kinematics:
    """The kinematics of a physics name (``"elasticity"``, ``"conduction"`` or ``"finite"``)."""
    try:
        return KINEMATICS[name]
    except KeyError:
        raise ValueError(f"physics must be one of {sorted(KINEMATICS)}; got {name!r}") from None
