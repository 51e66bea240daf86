"""FE²: an RVE solved at every macro quadrature point.

:class:`FE2Material` is the quadrature material
(:class:`~dolfinx_multiscale.macro.quadrature.LocalMaterial`) of an RVE seen as a law
(the material protocol): its point response is the homogenized RVE response
(downscaling ``E`` → cell problem → upscaling ``Σ = ⟨σ⟩`` and the condensed consistent
tangent ``∂Σ/∂E``). One RVE workspace is built per rank on ``MPI.COMM_SELF`` (compiled
forms, sparsity pattern and factorization reused by every point); each rank solves the
points of the cells it owns.

* A linear RVE is factorized once: ``Σ = C_eff E`` at every point, vectorised.
* An inelastic RVE keeps every point's state (fluctuation dofs and micro internal
  variables) in stacked arrays, like any law's history; :meth:`~FE2Material.update`
  solves each point from its committed state, :meth:`~FE2Material.commit` accepts the
  trial states.

Thermodynamic bookkeeping per point and converged step (Clausius–Duhem, Hill–Mandel in
increments): the macro work ``Σ_{n+1}:ΔE``, the micro work ``⟨σ_{n+1}:Δε⟩`` (equal by
Hill–Mandel), the change of stored energy ``Δψ̄`` and the intrinsic micro dissipation
``⟨D⟩ ≥ 0``. ``Σ:ΔE − Δψ̄ − ⟨D⟩ ≥ 0`` is the backward-Euler algorithmic dissipation,
``O(ΔE²)``.

Load balance: each rank solves the points of its own cells, and inelastic points cost
several times more than elastic ones, so a partition into compact halves is unbalanced
when plasticity localizes (near a clamp, a notch). :func:`cyclic_partitioner` deals many
small compact blocks to the ranks round-robin, so every rank gets a share of every region.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import numpy.typing as npt

from ..errors import RVEConvergenceError
from ..materials.protocol import take
from .quadrature import LocalMaterial

__all__ = ["FE2Material", "cyclic_partitioner"]

_log = logging.getLogger(__name__)


def cyclic_partitioner(blocks_per_rank: int = 8, ghost_mode=None):
    """A macro-mesh cell partitioner that balances localized FE² work over the ranks.

    The mesh's dual graph is partitioned (DOLFINx's default graph partitioner) into
    ``blocks_per_rank × n_ranks`` compact blocks, and block ``b`` goes to rank
    ``b mod n_ranks``. Every rank then owns blocks spread over the whole domain, so a
    region where the RVEs are expensive (plastic) is shared by all ranks instead of
    landing on one. The price is more ghost cells and halo communication in the macro
    solve, which is cheap next to the RVE solves.

    Args:
        blocks_per_rank: blocks per rank (1 gives DOLFINx's default partition).
        ghost_mode: a :class:`dolfinx.mesh.GhostMode` (default ``shared_facet``, like
            :func:`dolfinx.mesh.create_rectangle`).

    Returns:
        A ``partitioner`` for :func:`dolfinx.mesh.create_mesh`,
        :func:`~dolfinx.mesh.create_rectangle` or :func:`~dolfinx.mesh.create_box`.

    Example::

        mesh = dolfinx.mesh.create_rectangle(MPI.COMM_WORLD, [[0, 0], [2, 1]], [40, 20],
                                             partitioner=cyclic_partitioner())
    """
    import dolfinx.graph
    import dolfinx.mesh

    if not isinstance(blocks_per_rank, int) or blocks_per_rank < 1:
        raise ValueError(f"blocks_per_rank must be an integer >= 1; got {blocks_per_rank!r}")
    mode = dolfinx.mesh.GhostMode.shared_facet if ghost_mode is None else ghost_mode
    graph_partitioner = dolfinx.mesh.create_cell_partitioner(mode, 2)

    def partition(comm, n_parts, cell_types, cells):
        blocks = graph_partitioner(comm, n_parts * blocks_per_rank, cell_types, cells)
        dest, offsets = blocks.array % n_parts, blocks.offsets
        n = offsets.size - 1
        # per cell: the owner first, then its ghost ranks, each once and not the owner
        cell = np.repeat(np.arange(n), np.diff(offsets))
        owner = dest[offsets[:-1]]
        ghost = np.ones(dest.size, dtype=bool)
        ghost[offsets[:-1]] = False
        ghost &= dest != owner[cell]
        pairs = np.unique(np.column_stack([cell[ghost], dest[ghost]]), axis=0).reshape(-1, 2)
        out_cell = np.concatenate([np.arange(n), pairs[:, 0]])
        out_rank = np.concatenate([owner, pairs[:, 1]])
        order = np.lexsort((np.arange(out_cell.size) >= n, out_cell))  # by cell, owner first
        out_offsets = np.concatenate([[0], np.cumsum(np.bincount(out_cell, minlength=n))])
        return dolfinx.graph.adjacencylist(out_rank[order].astype(np.int32),
                                           out_offsets.astype(np.int32))._cpp_object

    return partition


class FE2Material(LocalMaterial):
    """An FE² material: the RVE's homogenized response at every macro quadrature point.

    The quadrature material (:class:`~dolfinx_multiscale.macro.quadrature.LocalMaterial`)
    of the RVE seen as a law: every point keeps its own state (fluctuation dofs and
    micro history, :meth:`RVE.initial_state <dolfinx_multiscale.cell.rve.RVE.initial_state>`)
    and :meth:`update` solves each point from its committed state.

    Args:
        rve: the :class:`~dolfinx_multiscale.cell.rve.RVE` workspace (or a
            :class:`~dolfinx_multiscale.cell.reduced.ReducedRVE` of one); its mesh must
            live on ``MPI.COMM_SELF`` (every rank owns one workspace). Every point starts from
            the RVE's virgin state.
        mesh: the macro mesh (same dimension as the RVE; 2-D is plane strain).
        quadrature_degree: 1 for P1 macro displacements, 2 for P2.
        subdomain: ``(cell_tags, tag)`` to use the material on some cells only.

    Attributes:
        rve: as given.
        micro_iterations: micro Newton iterations of the last update, per point ``(N,)``.
        sigma33: plane strain (2-D): the upscaled out-of-plane stress ``⟨σ33⟩`` of the
            last update, per point ``(N,)``.
        solves: number of RVE solves done by this rank (all updates).
        busy_s: seconds this rank spent in point updates (all updates): the work to
            balance over the ranks.
        step_energy: after each commit of an inelastic RVE (``{}`` before), per point ``(N,)``: the macro
            work ``Σ_{n+1}:ΔE``, the micro work ``⟨σ_{n+1}:Δε⟩`` (equal by Hill–Mandel),
            ``delta_psi`` and the intrinsic ``dissipation`` ``⟨D⟩ ≥ 0`` of the step.
    """

    def __init__(self, rve, mesh, quadrature_degree: int = 1, subdomain=None):
        if rve.comm.size != 1:
            raise ValueError("the RVE prototype must live on MPI.COMM_SELF: each rank solves its own points")
        if rve.kinematics.field_shape(rve.dim) != (rve.dim,):
            raise ValueError(f"FE2Material needs an elasticity RVE (small or finite strain); got {rve.kinematics.name!r}")
        super().__init__(rve, mesh, quadrature_degree, subdomain)
        if rve.dim != self.dim:
            raise ValueError(f"RVE is {rve.dim}-D but the macro mesh is {self.dim}-D")
        self.rve = rve
        self.solves = 0
        self.busy_s = 0.0
        N = self.n_points
        self.micro_iterations = np.zeros(N, dtype=np.int64)
        self.sigma33 = np.zeros(N)
        self.strain_committed = np.zeros((N, self.n))
        self.step_energy: dict[str, npt.NDArray[np.float64]] = {}
        if rve.is_linear:  # set up C_eff (one factorization) and Σ33 now, not in the first update
            rve.update(np.zeros((0, self.n)), {}, need_tangent=False)

    def _respond(self, strain):
        t0 = time.perf_counter()
        try:
            sigma, tangent = super()._respond(strain)
        except RVEConvergenceError as exc:
            i = exc.point
            if i is None:
                raise
            x = self._point_coordinates(i)
            raise RVEConvergenceError(f"RVE at macro point {i} (x = {np.round(x, 6).tolist()}, cell "
                                      f"{self.cells[i // self.n_per_cell]}), macro strain "
                                      f"{strain[i].tolist()}: {exc}", exc.E, exc.residuals) from exc
        N = len(strain)
        self.solves += N
        self.busy_s += time.perf_counter() - t0
        trial = self.trial_state
        if self.dim == 2 and "sigma33" in trial:
            self.sigma33 = trial["sigma33"].copy()
        if "newton_iterations" in trial:
            self.micro_iterations = trial["newton_iterations"].astype(np.int64)
            reduced = ""
            if self.stats is not None:  # a reduced RVE: its model and its fallbacks
                last = self.stats["last"]
                reduced = f", {last['reduced']} by the reduced model, {last['fallback']} by the full RVE"
            _log.info("    FE2 update: %d points on this rank (%d by the elastic shortcut%s), %d micro Newton "
                      "iterations, %.2f s", N, int(trial["elastic_shortcut"].sum()), reduced,
                      int(self.micro_iterations.sum()), time.perf_counter() - t0)
        return sigma, tangent

    @property
    def stats(self) -> dict | None:
        """The law's counters when it is a reduced RVE
        (:class:`~dolfinx_multiscale.cell.reduced.ReducedRVE`: shortcut, reduced and
        fallback points, checked and flagged points, the largest error indicator, the
        audit; cumulative and ``"last"`` update and check), else ``None``."""
        return getattr(self.rve, "stats", None)

    def _point_coordinates(self, i: int) -> npt.NDArray[np.float64]:
        import dolfinx.mesh

        cell = self.cells[i // self.n_per_cell]
        return dolfinx.mesh.compute_midpoints(self.mesh, self.dim, np.array([cell], dtype=np.int32))[0]

    def commit(self) -> None:
        """Accept every point's trial state (the macro step converged) and record the
        step's energies (:attr:`step_energy`)."""
        if self.rve.is_linear:
            return
        old, new = self.state, self.trial_state
        super().commit()
        self.step_energy = {
            "macro_work": np.einsum("pi,pi->p", self.stress_values, self.strain - self.strain_committed),
            "micro_work": new["micro_work"].copy(),
            "delta_psi": new["free_energy"] - old["free_energy"],
            "dissipation": new["step_dissipation"].copy(),
        }
        self.strain_committed = self.strain.copy()

    def restore_state(self, state: dict) -> None:
        """Make ``state`` the committed state of every point (see
        :meth:`LocalMaterial.restore_state`); the committed macro strain is its ``"E"``."""
        super().restore_state(state)
        if "E" in state:
            self.strain_committed = np.array(state["E"], dtype=float)

    def rve_at(self, i: int):
        """The RVE workspace holding point ``i``'s committed state and fields.

        Re-solves the point at its committed macro strain (already converged: no
        iterations), so ``rve.w``, ``rve.cell_fields()``, :func:`~dolfinx_multiscale.viz.plot_rve`
        and :meth:`write_rve` show that point. Local to this rank (``i < n_points``).
        """
        if not 0 <= i < self.n_points:
            raise ValueError(f"point index must be in [0, {self.n_points}); got {i}")
        rve = self.rve
        if rve.is_linear:
            rve.solve(self.strain[i], tangent=False)
            return rve
        rve.committed_state = take(self.state, i)
        rve.solve(self.state["E"][i], tangent=False)
        return rve

    def write_rve(self, i: int, path) -> None:
        """Write point ``i``'s RVE fluctuation, stress and equivalent plastic strain (cell
        averages) to a VTX (ADIOS2 ``.bp``) folder. Local to this rank."""
        import dolfinx.fem
        import dolfinx.io

        rve = self.rve_at(i)
        fields = rve.cell_fields()
        W = dolfinx.fem.functionspace(rve.mesh, ("DG", 0, (rve.n,)))
        stress = dolfinx.fem.Function(W, name="stress")
        stress.x.array[:] = fields["stress"].reshape(-1)
        out = [stress]
        if "p" in fields:
            P = dolfinx.fem.functionspace(rve.mesh, ("DG", 0))
            p = dolfinx.fem.Function(P, name="p")
            p.x.array[:] = fields["p"]
            out.append(p)
        V1 = dolfinx.fem.functionspace(rve.mesh, ("Lagrange", 1, rve.w.ufl_shape))
        w = dolfinx.fem.Function(V1, name="fluctuation")
        w.interpolate(rve.w)
        with dolfinx.io.VTXWriter(rve.mesh.comm, str(path), [w]) as vtx:
            vtx.write(0.0)
        with dolfinx.io.VTXWriter(rve.mesh.comm, str(path).replace(".bp", "_cells.bp"), out) as vtx:
            vtx.write(0.0)

    def committed_history(self, key: str, tag: int | None = None) -> npt.NDArray[np.float64]:
        """A committed micro history variable averaged over each point's RVE, ``(N,)``
        (zeros for a linear RVE).

        Args:
            key: e.g. ``"p"`` (equivalent plastic strain).
            tag: phase (default: the volume average over all phases, 0 where absent).
        """
        if self.rve.is_linear:
            return np.zeros(self.n_points)
        return self.rve.average_history(self.state, key, tag)
