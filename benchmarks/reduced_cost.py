"""The hyper-reduced RVE's cost model: µs per reduced Newton iteration and per step check,
per macro point, against the number of modes ``r`` and cubature points ``m``.

The part's cell of ``benchmarks/fe2.py`` (``circular_inclusion(0.3, h=0.04)``, J2 matrix,
elastic fibre, 1 636 dofs, 1 534 micro points) with a model trained at ``--tolerance``
(or ``--model``): its basis truncated to ``r`` modes and its cubature to the first ``m``
points (weights rescaled to the same inelastic volume: the cost does not depend on
accuracy), ``M = 64`` macro points in plastic states evaluated in the chunks of FE². One
reduced iteration is the law at the ``m`` points (with tangents), the reduced internal
force and the reduced tangent ``K`` (``O(m n r²)``), one ``r × r`` solve; the step check
reconstructs the point on the whole cell (the law at all points, the residual and 4
preconditioned CG iterations). Printed: the table, and a least-squares fit

    t_iteration ≈ a + b m + c m r²   (µs per macro point)

Run (serial, a minute)::

    .venv/bin/python benchmarks/reduced_cost.py [--model model.npz] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import dolfinx_multiscale as dm
from dolfinx_multiscale.cell.galerkin import HyperReducedCell
from dolfinx_multiscale.cell.reduced import CHECK_CHUNK, CHUNK
from dolfinx_multiscale.materials.protocol import take
from fe2 import FIBRE, J2, REDUCED_CASES, best_of  # the part's laws and cell (this folder)

M = 64


def measure(model, r: int, m: int, E: np.ndarray, state: dict) -> dict:
    """µs per point evaluation of the reduced Newton (law, force, tangent, solve; each of
    the ``M`` points is evaluated until it has converged) and per point of one step check,
    with ``r`` modes and ``m`` cubature points, in the chunks and at the Newton tolerance of
    :class:`~dolfinx_multiscale.ReducedRVE`."""
    points, weights = model.points[:m], model.weights[:m]
    cell = HyperReducedCell(model.rve, model.basis[:, :r], (points, weights * model.weights.sum() / weights.sum()),
                            model.galerkin.rtol)
    committed = take(state, np.arange(M))
    q0 = cell.predict(E, committed, tangent=False)
    chunks = lambda size: [slice(s, s + size) for s in range(0, M, size)]  # noqa: E731
    solved = [cell.solve(E[c], take(committed, c), q0[c].copy()) for c in chunks(CHUNK)]
    q = np.concatenate([out[3] for out in solved])
    evaluations = int(sum((out[5] + 1).sum() for out in solved))  # each point until it has converged
    solve, _ = best_of(lambda: [cell.solve(E[c], take(committed, c), q0[c].copy()) for c in chunks(CHUNK)], 5)
    check, _ = best_of(lambda: [cell.reconstruct(E[c], take(committed, c), q[c], 0.0) for c in chunks(CHECK_CHUNK)], 3)
    return {"r": r, "m": m, "evaluations": evaluations, "us_per_iteration": 1e6 * solve / evaluations,
            "us_per_check": 1e6 * check / M}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained model of the part's cell (.npz); default: train one")
    parser.add_argument("--tolerance", type=float, default=1e-2)
    parser.add_argument("--json", help="write the numbers as JSON")
    args = parser.parse_args()
    micro = REDUCED_CASES["part"]["cell"]()
    rve = dm.RVE(micro, {1: J2, 2: FIBRE})
    model = (dm.ReducedRVE.load(args.model, rve) if args.model
             else dm.ReducedRVE.train(rve, tolerance=args.tolerance))
    rng = np.random.default_rng(0)
    E = 0.01 * rng.uniform(-1, 1, size=(M, rve.n))  # 2-4x the cell's first yield: plastic
    state = model.initial_state(M)
    rows = []
    for r in sorted({min(k, model.modes) for k in (6, 10, model.modes)}):
        for m in sorted({min(k, model.cubature_points) for k in (50, 100, model.cubature_points)}):
            rows.append(measure(model, r, m, E, state))
            row = rows[-1]
            print(f"r {r:3d}  m {m:4d}: {row['us_per_iteration']:7.1f} us per reduced iteration "
                  f"({row['evaluations']} point evaluations), {row['us_per_check']:7.1f} us per step check", flush=True)
    A = np.array([[1.0, row["m"], row["m"] * row["r"] ** 2] for row in rows])
    t = np.array([row["us_per_iteration"] for row in rows])
    coef = np.linalg.lstsq(A, t, rcond=None)[0]
    fit = {"a_us": coef[0], "b_us_per_point": coef[1], "c_us_per_point_mode2": coef[2]}
    print(f"fit: t_iteration = {coef[0]:.1f} + {coef[1]:.3f} m + {coef[2]:.2e} m r^2 us per macro point "
          f"(largest misfit {np.abs(A @ coef - t).max() / t.max():.0%}); step check "
          f"{np.mean([row['us_per_check'] for row in rows]):.0f} us per point ({rve.discretisation.n_points} "
          f"micro points, {rve.n_dofs} dofs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "fit": fit, "modes": model.modes, "cubature_points": model.cubature_points}, f,
                      indent=1)


if __name__ == "__main__":
    main()
