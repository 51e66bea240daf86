"""The response of one cell solve: its fields, averages, energies and Hill–Mandel check.

A :class:`CellResponse` is what a solve leaves behind (the trial state until it is
committed): the macro strain ``E``, the fluctuation dofs, the point strains
``ε = E + B(w)`` and stresses, and the new micro history. Everything reported about a
solve is computed from it:

* ``Σ = ⟨σ⟩``, ``⟨ε⟩`` (``= E`` up to round-off), plane strain ``Σ33 = ⟨σ33⟩``;
* the Hill–Mandel residual ``|⟨σ:ε⟩ − Σ:E| / (‖Σ‖ ‖E‖)``;
* energies (Clausius–Duhem): ``ψ̄ = ⟨ψ⟩``, the step's intrinsic dissipation ``⟨D⟩ ≥ 0``
  and micro work ``⟨σ_{n+1} : (ε_{n+1} − ε_n)⟩`` (``= Σ_{n+1} : ΔE`` by Hill–Mandel);
* cell averages of the fields for output.
"""

from __future__ import annotations

import dataclasses

from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

from ..kinematics import FINITE_STRAIN
from ..tensors import to_mandel, von_mises
from .discretisation import CellDiscretisation
from .phases import PhaseLaws

__all__ = ["CellResponse"]


@dataclasses.dataclass
class CellResponse:
    """The fields of one solve (see the module docstring).

    Attributes:
        disc, laws: the cell's discretisation and phase laws.
        E: the macro strain ``(n,)`` (Mandel, or the gradient for conduction).
        w: the fluctuation dofs (local, with ghosts).
        eps, sigma: point strains and stresses ``(N, n)``.
        sigma33: point out-of-plane stresses ``(N,)`` (plane strain; else 0).
        history: the new micro history (flat, ``"<tag>:<key>"``).
        W: the full-space unit fluctuations ``P W_k`` if the solve computed a tangent.
    """

    disc: CellDiscretisation
    laws: PhaseLaws
    E: npt.NDArray[np.float64]
    w: npt.NDArray[np.float64]
    eps: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64]
    sigma33: npt.NDArray[np.float64]
    history: dict
    W: list[PETSc.Vec] | None = None

    def state(self) -> dict:
        """The cell state of this response: ``"E"``, ``"w"`` and the micro history."""
        return {"E": self.E, "w": self.w, **self.history}

    def average_stress(self) -> npt.NDArray[np.float64]:
        """``Σ = ⟨σ⟩`` (or ``⟨j⟩``), shape ``(n,)``."""
        return self.disc.average(self.sigma)

    def average_strain(self) -> npt.NDArray[np.float64]:
        """``⟨ε⟩`` (or ``⟨∇θ⟩``), shape ``(n,)``."""
        return self.disc.average(self.eps)

    def average_sigma33(self) -> float:
        """``Σ33 = ⟨σ33⟩`` (2-D plane strain out-of-plane stress)."""
        return float(self.disc.average(self.sigma33))

    def hill_mandel_residual(self) -> float:
        """``|⟨σ:ε⟩ − Σ:E| / (‖Σ‖ ‖E‖)``, 0 when ``Σ`` or ``E`` vanishes.

        The denominator bounds ``|Σ:E|`` from above and stays meaningful when ``Σ ⟂ E``
        (e.g. at the end of an unloading path), where ``|Σ:E|`` alone would not; for
        proportional states the two coincide.
        """
        Sigma = self.average_stress()
        micro = float(self.disc.average(np.einsum("pi,pi->p", self.sigma, self.eps)))
        scale = float(np.linalg.norm(Sigma) * np.linalg.norm(self.E))
        return abs(micro - float(Sigma @ self.E)) / scale if scale > 0 else 0.0

    def mean_history(self, key: str) -> float:
        """``⟨key⟩``: volume average of a history variable (0 in phases without it)."""
        return float(self.disc.average(self.laws.point_values(self.history, key)))

    def free_energy(self) -> float:
        """``ψ̄ = ⟨ψ⟩``: stored energy per unit cell volume."""
        return float(self.disc.average(self.laws.free_energy(self.eps, self.history)))

    def dissipation(self, committed: dict) -> float:
        """``⟨D⟩``: energy dissipated per unit cell volume since the ``committed`` state."""
        return float(self.disc.average(self.laws.dissipation(committed, self.history)))

    def incremental_work(self, committed: dict) -> float:
        """``⟨σ_{n+1} : (ε_{n+1} − ε_n)⟩`` since the ``committed`` state (``"E"``, ``"w"``)."""
        eps_n = committed["E"] + self.disc.fluctuation_strain(committed["w"])
        self.disc.w.x.array[:] = self.w
        return float(self.disc.average(np.einsum("pi,pi->p", self.sigma, self.eps - eps_n)))

    def cell_fields(self) -> dict[str, npt.NDArray[np.float64]]:
        """Cell averages of the point fields, for output.

        Returns:
            ``"strain"`` and ``"stress"`` ``(n_cells, n)`` (Mandel / gradient, flux /
            ``H`` and ``P``) and, for elasticity, ``"von_mises"`` ``(n_cells,)`` (2-D: with
            the materials' ``σ33`` — plane strain — where they provide it, else
            ``σ33 = 0``; finite strain: of the Cauchy stress ``P Fᵀ / J``) and, for
            cells with plasticity, ``"p"`` (equivalent plastic strain, 0 in elastic phases).
            Rows cover the local cells (owned first, then ghosts).
        """
        disc = self.disc
        out = {"strain": disc.cell_average(self.eps), "stress": disc.cell_average(self.sigma)}
        if disc.kinematics is FINITE_STRAIN:  # the Cauchy stress σ = P Fᵀ / J
            F = np.eye(disc.dim) + disc.kinematics.as_tensor(self.eps)
            J = np.linalg.det(F)
            cauchy = to_mandel(np.einsum("pij,pkj->pik", disc.kinematics.as_tensor(self.sigma), F) / J[:, None, None])
            out["von_mises"] = disc.cell_average(von_mises(cauchy, self.sigma33 / J))
        elif disc.kinematics.has_out_of_plane_stress:
            out["von_mises"] = disc.cell_average(von_mises(self.sigma, self.sigma33))
        if any(key.endswith(":p") for key in self.history):
            out["p"] = disc.cell_average(self.laws.point_values(self.history, "p"))
        return out
