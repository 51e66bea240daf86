"""Empirical cubature against exact integrals (Gauss–Legendre, polynomials)."""

from __future__ import annotations

import numpy as np
import pytest

from dolfinx_multiscale.cell.cubature import empirical_cubature


def test_integrates_polynomials_with_few_positive_weights():
    """Monomials x^k, k ≤ 7, sampled at 400 midpoints of [0, 1]: the ECM picks at most 8
    points with positive weights whose rule integrates every monomial like the full rule
    (to 1e-10) and, like it, the exact 1/(k+1) to O(h²)."""
    P = 400
    x = (np.arange(P) + 0.5) / P
    w = np.full(P, 1.0 / P)
    g = np.column_stack([x**k for k in range(8)])
    points, omega = empirical_cubature(g, w, tolerance=1e-12)
    assert points.size <= 8 and (omega > 0).all()
    assert np.allclose(omega @ g[points], w @ g, rtol=0, atol=1e-10)
    assert np.allclose(omega @ g[points], 1.0 / np.arange(1, 9), rtol=1e-4)  # the midpoint rule: O(h²)


def test_tolerance_trades_points_for_accuracy():
    """A looser tolerance selects fewer points and is still within it."""
    rng = np.random.default_rng(0)
    P = 300
    x = rng.uniform(size=P)
    w = rng.uniform(0.5, 1.5, size=P) / P
    g = np.column_stack([np.sin((k + 1) * np.pi * x) for k in range(12)])
    exact = w @ g
    tight = empirical_cubature(g, w, 1e-10)
    loose = empirical_cubature(g, w, 1e-2)
    assert loose[0].size < tight[0].size
    for points, omega in (tight, loose):
        assert (omega > 0).all()
    assert np.linalg.norm(tight[1] @ g[tight[0]] - exact) <= 1e-8 * np.linalg.norm(exact)


def test_points_where_every_integrand_vanishes_are_never_chosen():
    """Integrands that vanish outside a sub-domain (the elastic phase of a cell), nearly
    dependent (400 random combinations of 144 cosines) plus the sub-domain's indicator:
    the chosen points all lie inside, the weights sum to the sub-domain's measure (to the
    tolerance) and none exceeds 0.05 (a point outside, chosen for the round-off of the
    basis there, took a weight of 1e11 before)."""
    rng = np.random.default_rng(1)
    P = 500
    x = rng.uniform(size=(P, 2))
    w = rng.uniform(0.5, 1.5, size=P) / P
    inside = x[:, 0] < 0.6
    g = np.column_stack([np.cos(i * np.pi * x[:, 0]) * np.cos(j * np.pi * x[:, 1]) for i in range(12) for j in range(12)])
    g = g @ rng.standard_normal((g.shape[1], 400))
    g[~inside] = 0.0
    g = np.column_stack([g, inside.astype(float)])
    for tolerance in (1e-2, 1e-3, 1e-4):
        points, omega = empirical_cubature(g, w, tolerance)
        assert inside[points].all() and (omega > 0).all() and omega.max() < 0.05
        assert abs(omega.sum() - w[inside].sum()) <= 2 * tolerance * w[inside].sum()


def test_points_with_zero_weight_are_never_chosen_and_nothing_to_integrate():
    P = 50
    x = np.linspace(0, 1, P)
    w = np.full(P, 1.0 / P)
    w[::2] = 0.0
    points, _ = empirical_cubature(np.column_stack([np.ones(P), x]), w, 1e-10)
    assert (w[points] > 0).all()
    points, omega = empirical_cubature(np.zeros((P, 3)), w, 1e-3)
    assert points.size == 0 and omega.size == 0


def test_bad_tolerance():
    with pytest.raises(ValueError, match="tolerance"):
        empirical_cubature(np.ones((3, 1)), np.ones(3), 0.0)
    with pytest.raises(ValueError, match="samples must have shape"):
        empirical_cubature(np.ones((4, 1)), np.ones(3), 1e-3)
