"""The material protocol: what every constitutive law, and the RVE itself, provides.

A *material* maps a generalized strain to a generalized stress and a consistent tangent
at many points at once, from a committed history (``docs/conventions.md`` for Mandel
order and shapes). :class:`~dolfinx_multiscale.materials.LinearElastic`,
:class:`~dolfinx_multiscale.materials.Conductivity`,
:class:`~dolfinx_multiscale.materials.J2Plasticity`,
:class:`~dolfinx_multiscale.materials.GeneralizedMaxwell` follow it, and so does the
:class:`~dolfinx_multiscale.RVE` seen from outside (a homogenized law whose state is
its fluctuation and micro internal variables). A quadrature material
(:class:`~dolfinx_multiscale.macro.quadrature.LocalMaterial`, FE²) therefore handles the
points of any law the same way.

States are flat ``dict[str, ndarray]`` whose arrays have the points on their first axis,
so that one point's state is ``{k: v[i]}`` and a set of points is sliced or stored with
:func:`take` and :func:`put`; a law checks a given state with :func:`check_state`.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..kinematics import Kinematics

__all__ = ["Material", "State", "check_state", "put", "real_parameter", "repeat", "take"]

#: a history: arrays with the points on their first axis
State = dict[str, npt.NDArray]


@runtime_checkable
class Material(Protocol):
    """A constitutive law evaluated at ``N`` points at once.

    Attributes:
        kinematics: the generalized strain it works in
            (:data:`~dolfinx_multiscale.kinematics.SMALL_STRAIN`: Mandel strain, ``n = 3``
            in 2-D plane strain, 6 in 3-D; :data:`~dolfinx_multiscale.kinematics.CONDUCTION`:
            ``∇θ``, ``n = d``).
        is_linear: the tangent never changes (one factorization serves every solve).
        spd_tangent: every point tangent is symmetric positive (semi)definite (a
            stiffness may be factorized with LDLᵀ). An optional ``symmetric_tangent``
            (default: ``spd_tangent``) says the tangent is symmetric but maybe indefinite
            (hyperelasticity: symmetric indefinite LDLᵀ).
        varying_tangent: the tangent changes from one Newton iteration to the next
            (plasticity); ``False`` when it depends on the time step only.

    Materials that are not linear also give ``free_energy(strain, state) -> (N,)`` (the
    stored energy density) and ``dissipation(state_old, state_new) -> (N,)`` (the energy
    dissipated per unit volume over the increment, ``≥ 0``: Clausius–Duhem). A law whose
    new state carries outputs besides its history (e.g. the stress) may name the history
    in ``history_keys`` (what ``update``, ``free_energy`` and ``dissipation`` read): an RVE
    then stores only those keys for each of its micro points.

    A law with an elastic range may give ``elastic_trial(strain (N, n), state) -> (N,)
    bool``: ``True`` only where ``update`` from ``state`` to ``strain`` is certainly
    elastic — history unchanged, no dissipation, the stress ``σ_n + D₀ (ε − ε_n)`` with
    the tangent ``D₀`` of the virgin state and the free energy quadratic with it
    (:meth:`J2Plasticity.elastic_trial
    <dolfinx_multiscale.materials.J2Plasticity.elastic_trial>`: the trial yield
    function). ``False`` is always safe. An RVE whose inelastic phases all have it
    checks elastic increments at a fraction of an update (:mod:`~dolfinx_multiscale.cell.batch`);
    a rate-dependent law (``GeneralizedMaxwell``: its history relaxes in every step)
    has none.

    A law whose consistent tangent departs from its elastic one ``D₀`` by a deviatoric
    projector and a rank-one term may give ``update_in_parts(strain, state) -> (stress,
    (a (N,), b (N,), m (N, n)), new_state)``: ``update(strain, state, False)``'s stress and
    state with ``D − D₀ = −a P − b m⊗m``, ``P`` the deviatoric projector
    (:func:`~dolfinx_multiscale.tensors.deviatoric_projector`), at every point (``a = b =
    0`` where it is elastic), from the same evaluation at a fraction of a tangent's cost
    (:meth:`J2Plasticity.update_in_parts
    <dolfinx_multiscale.materials.J2Plasticity.update_in_parts>`). A hyper-reduced 3-D
    cell then builds its reduced stiffness and macro tangent in a quarter of the flops and
    runs the law without its tangent (:mod:`~dolfinx_multiscale.cell.galerkin`), and its
    step check applies the micro tangents without forming them
    (:mod:`~dolfinx_multiscale.cell.tangents`).
    """

    kinematics: Kinematics
    is_linear: bool
    spd_tangent: bool
    varying_tangent: bool

    def initial_state(self, n_points: int) -> State:
        """The virgin history of ``n_points`` points (``{}`` for a law without one)."""

    def update(self, strain: npt.ArrayLike, state: State, need_tangent: bool = True,
               out: State | None = None, guess: State | None = None
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None, State]:
        """Stress, tangent and new history at ``N`` points.

        Args:
            strain: generalized strain at the end of the increment, ``(N, n)``.
            state: the committed history at its start (never modified).
            need_tangent: compute the consistent tangent ``∂σ/∂ε`` (else ``None``).
            out: a spare state with the arrays of ``state`` (not ``state`` itself) that
                the law may fill and return as the new state instead of allocating one
                (large histories: the RVE's); laws that build new arrays ignore it.
            guess: the new state of the same points from an earlier evaluation of the
                same increment (e.g. the previous macro Newton iteration), which an
                iterative law (the RVE) may start from; the answer does not depend on it
                beyond round-off. Closed-form laws ignore it.

        Returns:
            ``(stress (N, n), tangent (N, n, n) | None, new_state)``.
        """


def real_parameter(name: str, value: object, *, allow_inf: bool = False) -> float:
    """``value`` as a float, rejecting what is not a real number or not finite.

    The one validation of the scalar parameters of every law (ranges are checked by
    the law itself).

    Args:
        name: the parameter's name, for the message.
        value: the given value.
        allow_inf: accept ``±inf`` (e.g. a fully relaxed time step); ``nan`` never.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is ``nan`` (or ``±inf`` unless allowed).
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number; got {value!r}") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be {'a number, not nan' if allow_inf else 'finite'}; got {value!r}")
    return x


def _shape_text(shape: tuple) -> str:
    """``("N", 6)`` → ``"(N, 6)"``, ``("N",)`` → ``"(N,)"``."""
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_state(state: State, shapes: dict[str, tuple[int | str, ...]], n: int | None = None
                ) -> tuple[npt.NDArray[np.float64], ...]:
    """The arrays of a law's history, checked against their expected shapes.

    The one check of a given state shared by the laws with a history.

    Args:
        state: the history (other keys than those of ``shapes`` are ignored).
        shapes: the expected shape of each array by key, with ``"N"`` for the point
            axis, e.g. ``{"eps_p": ("N", 6), "p": ("N",)}``; ``N`` is the first
            dimension of the first array.
        n: the number of points the state must have (that of the strain), if given.

    Returns:
        The arrays (as float arrays, not copied when already so) in the order of
        ``shapes``.

    Raises:
        ValueError: a key is missing, an array has the wrong shape, or the state has
            not ``n`` points.
    """
    arrays = []
    try:
        for k in shapes:
            a = state[k]
            arrays.append(a if isinstance(a, np.ndarray) and a.dtype == np.float64 else np.asarray(a, dtype=float))
    except KeyError as e:
        raise ValueError(f"state must have keys {_join([repr(k) for k in shapes])}; missing {e}") from None
    first = arrays[0].shape[0] if arrays[0].ndim else -1
    if first < 0 or any(a.shape != tuple(first if s == "N" else s for s in shape)
                        for a, shape in zip(arrays, shapes.values())):
        wanted = [f"state[{k!r}] {'must have shape ' if i == 0 else 'shape '}{_shape_text(shapes[k])}"
                  for i, k in enumerate(shapes)]
        raise ValueError(f"{_join(wanted)}; got {_join([str(a.shape) for a in arrays])}")
    if n is not None and first != n:
        raise ValueError(f"state has {first} points but the strain has {n}")
    return tuple(arrays)


def repeat(state: State, n: int) -> State:
    """``n`` copies of a one-point state (arrays without the point axis) → ``n`` points."""
    return {k: np.repeat(np.asarray(v)[None], n, axis=0) for k, v in state.items()}


def take(state: State, index, keys=None) -> State:
    """The state of the points ``index`` (an int: one point, without the point axis), all
    of it or its ``keys``."""
    return {k: state[k][index] for k in (state if keys is None else keys)}


def put(state: State, index, values: State) -> None:
    """Write ``values`` (the state of the points ``index``) into ``state`` in place."""
    for k, v in state.items():
        v[index] = values[k]
