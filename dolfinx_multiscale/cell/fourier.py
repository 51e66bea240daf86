"""The Fourier (reference-medium Green operator) preconditioner of periodic voxel cells.

On a voxel cell (one Q1 box per voxel of an image,
:func:`~dolfinx_multiscale.geometry.microstructures.from_image`) the stiffness ``K⁰`` of a
*homogeneous* reference medium ``C⁰`` has the same stencil at every node of the periodic
node grid: it is block circulant, so the discrete Fourier transform of the grid
diagonalises it,

    (K⁰ u)^(k) = K̂⁰(k) û(k),   K̂⁰(k) = Σ_{a,b} K_e[a, b] exp(2πi Σ_α k_α (o_b − o_a)_α / N_α),

``K_e[a, b]`` the ``bs × bs`` blocks of the Q1 element stiffness of ``C⁰`` (2 × 2 (× 2)
Gauss points, exact on a box), ``o_a`` the offsets of the element's nodes, ``k_α`` the
wave number and ``N_α`` the nodes along axis ``α``: one Hermitian ``bs × bs`` block per
wave vector, singular only at ``k = 0`` (the rigid translations). Its pseudo-inverse is
the Green operator ``Γ⁰`` of the reference medium; as the preconditioner of the cell's CG
(Moulinec & Suquet 1998; Ladecký et al., Appl. Math. Comput. 446 (2023) 127835; FANS,
muSpectre/muGrid) it bounds ``κ(Γ⁰ K) ≤ c_max / c_min`` for ``c_min C⁰ ≤ C(x) ≤ c_max C⁰``
whatever the resolution. The reference medium is the volume average ``C⁰ = ⟨D⟩`` of the
point tangents (for isotropic phases: the mean Lamé parameters, muGrid's choice).

The periodic cell problem drops its pinned node ``p`` (:func:`~.boundary.periodic`):
``K̃ = Sᵀ K S``, ``S`` the extension by zero of the reduced unknowns to the grid. For a
homogeneous medium its inverse is exactly

    K̃⁰⁻¹ = Tᵀ Γ⁰ T,   T r = S r − e_p Σ_nodes r,   Tᵀ u = Sᵀ (u − u_p),

(the load balanced at the pinned node, the solution shifted to vanish there; per
component): that is :meth:`GreenPreconditioner.apply`, symmetric positive definite on the
reduced space, and one CG iteration solves a homogeneous cell.

**MPI.** The node grid is split in slabs along the first array axis (``z`` in 3-D, ``y`` in
2-D). A reduced vector goes to the slabs (one ``Alltoallv``), is transformed by
``scipy.fft`` along the slab's own axes (real to complex), transposed (one ``Alltoallv``)
and transformed along the first axis; back the same way. Memory: the slab and the
inverse symbol, ``bs² / 2`` complex numbers per node.
"""

from __future__ import annotations

from mpi4py import MPI
from petsc4py import PETSc

import numpy as np
import numpy.typing as npt

import dolfinx.fem

from ..kinematics import Kinematics
from .boundary import CellConstraint
from .voxels import check_physics, element_nodes, q1_stiffness

__all__ = ["GreenPreconditioner"]

_GRID_TOL = 1e-6  # relative to the voxel size: a dof farther from a grid node is not on the grid
_MODE_CHUNK = 1 << 16  # wave vectors per block of the symbol's set-up (bounds its temporaries)


class GreenPreconditioner:
    """The reference-medium Green operator on a periodic voxel cell, as a PETSc ``PC``
    context (``pc.setType("python"); pc.setPythonContext(this)``; module docstring).

    Args:
        V: the fluctuation space (Q1 on the voxel mesh; block size ``bs``).
        constraint: the periodic :class:`~.boundary.CellConstraint` of ``V`` (one node pinned).
        shape: the voxels (= periodic nodes) per *array* axis, ``(n_y, n_x)`` or
            ``(n_z, n_y, n_x)`` (:attr:`VoxelImage.shape
            <dolfinx_multiscale.geometry.images.VoxelImage.shape>`).
        spacing: the voxel size ``(h_x, h_y[, h_z])``, physical order.
        lower: the cell's low corner (physical order).
        kinematics: ``SMALL_STRAIN`` or ``CONDUCTION``.

    The map between the reduced unknowns and the grid comes from the dof coordinates
    (vectorised, once); :meth:`set_reference` sets the medium. Collective.

    Raises:
        ValueError: a dof off the node grid, a constraint that is not periodic with one
            pinned node, or another physics.

    Attributes:
        shape, spacing, kinematics: as given.
        comm, bs: the space's communicator and block size (components per node).
        reference: the reference tangent ``C⁰`` (``None`` before :meth:`set_reference`).
        n_applications: applications so far.
    """

    def __init__(self, V: dolfinx.fem.FunctionSpace, constraint: CellConstraint, shape, spacing, lower,
                 kinematics: Kinematics):
        check_physics(kinematics)
        if constraint.kind != "periodic" or constraint.average_constraint:
            raise ValueError(f"the Fourier preconditioner needs a periodic cell; got bc {constraint.kind!r}")
        self.comm = comm = V.mesh.comm
        self.shape = shape = tuple(int(n) for n in shape)
        self.spacing = np.asarray(spacing, dtype=float)
        self.kinematics = kinematics
        self.reference: npt.NDArray[np.float64] | None = None
        self.n_applications = 0
        d = len(shape)
        self.bs = bs = V.dofmap.index_map_bs
        n_own = V.dofmap.index_map.size_local
        # the array-order grid index of every owned node, from its coordinates
        x = V.tabulate_dof_coordinates()[:n_own, :d]
        t = (x - np.asarray(lower, dtype=float)[:d]) / self.spacing
        off = np.abs(t - np.rint(t)).max(initial=0.0)
        if comm.allreduce(off, op=MPI.MAX) > _GRID_TOL:
            raise ValueError("the Fourier preconditioner needs the dofs on the voxel grid (Q1 on the image's "
                             f"voxel mesh); a dof is {off:.3g} voxels off")
        index = np.mod(np.rint(t).astype(np.int64)[:, ::-1], shape)  # array order, periodic images wrapped
        node = np.ravel_multi_index(tuple(index.T), shape)
        flat = (node[:, None] * bs + np.arange(bs)).reshape(-1)  # grid entry of every owned dof
        # the owned reduced unknowns: each has its master dof on this rank
        start, end = constraint.P.getOwnershipRangeColumn()
        red = constraint.reduced_index
        mine = (red >= start) & (red < end)
        grid_of = np.full(end - start, -1, dtype=np.int64)
        grid_of[red[mine] - start] = flat[mine]
        if comm.allreduce(bool((grid_of < 0).any()), op=MPI.LOR):
            raise ValueError("the Fourier preconditioner could not place every reduced unknown on the grid")
        node_major = np.array_equal(grid_of % bs, np.tile(np.arange(bs), grid_of.size // bs))
        if not comm.allreduce(node_major, op=MPI.LAND):
            raise ValueError("the Fourier preconditioner needs the reduced unknowns numbered node by node")
        self._inverse: npt.NDArray[np.complex128] | None = None  # K̂⁰(k)⁻¹ of this rank's modes

        # slabs along array axis 0, the exchange of the reduced unknowns with them, the
        # split of the transformed axis 1, the pinned node
        size, rank = comm.size, comm.rank
        per_plane = int(np.prod(shape[1:])) * bs
        self._bounds0 = np.array([r * shape[0] // size for r in range(size + 1)])
        modes1 = shape[1] // 2 + 1 if len(shape) == 2 else shape[1]  # axis 1 after the local transform
        self._bounds1 = np.array([r * modes1 // size for r in range(size + 1)])
        self._slab_shape = (int(np.diff(self._bounds0)[rank]),) + shape[1:] + (bs,)
        owner = np.searchsorted(self._bounds0, grid_of // per_plane, side="right") - 1
        self._order = np.argsort(owner, kind="stable")
        self._send = np.bincount(owner, minlength=size)
        self._recv = np.array(comm.alltoall(self._send.tolist())) if size > 1 else self._send
        got = self._exchange(grid_of[self._order].astype(np.float64), forward=True)  # exact below 2**53
        self._slab_index = np.rint(got).astype(np.int64) - self._bounds0[rank] * per_plane
        covered = np.zeros(int(np.prod(self._slab_shape)), dtype=bool)
        covered[self._slab_index] = True
        missing = np.flatnonzero(~covered)
        one_node = missing.size == 0 or (missing[0] % bs == 0 and np.array_equal(missing, missing[0] + np.arange(bs)))
        if comm.allreduce(missing.size) != bs or not comm.allreduce(one_node, op=MPI.LAND):
            raise ValueError("the Fourier preconditioner needs a periodic cell with exactly one pinned node")
        self._pin = int(missing[0]) // bs if missing.size else -1  # local node of the slab

    def set_reference(self, C: npt.ArrayLike) -> None:
        """Set the reference medium ``C⁰`` (Mandel ``(n, n)``, or the conductivity
        ``(d, d)``; symmetric positive definite) and compute the inverse symbol
        ``K̂⁰(k)⁻¹`` of this rank's wave vectors (0 at ``k = 0``). Nothing is done when
        ``C`` equals the current reference. Collective only in that it needs the same
        ``C`` on every rank."""
        C = np.asarray(C, dtype=float)
        if self.reference is not None and np.array_equal(C, self.reference):
            return
        shape, bs, d = self.shape, self.bs, len(self.shape)
        Ke = q1_stiffness(self.kinematics, C, self.spacing)  # (2^d, bs, 2^d, bs), physical offsets
        offsets = element_nodes(d)[:, ::-1]  # array order
        # wave numbers of this rank's modes (axis 0 whole, axis 1 split, the last axis halved)
        waves = [np.fft.fftfreq(shape[0], 1.0 / shape[0])]
        for axis in range(1, d):
            k = (np.arange(shape[axis] // 2 + 1) if axis == d - 1 else np.fft.fftfreq(shape[axis], 1.0 / shape[axis]))
            waves.append(k[self._bounds1[self.comm.rank]: self._bounds1[self.comm.rank + 1]] if axis == 1 else k)
        # phase of node a: exp(2πi Σ_α k_α o_aα / N_α), a product over the axes
        n_nodes = offsets.shape[0]
        modes = tuple(k.size for k in waves)
        phase = np.ones(modes + (n_nodes,), dtype=np.complex128)
        for axis, k in enumerate(waves):
            e = np.exp(2j * np.pi * np.multiply.outer(k, offsets[:, axis]) / shape[axis])  # (n_k, 2^d)
            phase *= e.reshape((1,) * axis + (k.size,) + (1,) * (d - 1 - axis) + (n_nodes,))
        phase = phase.reshape(-1, n_nodes)
        Kb = Ke.transpose(2, 0, 1, 3).reshape(n_nodes, -1)  # [b, (a, i, j)]
        inverse = np.empty((phase.shape[0], bs, bs), dtype=np.complex128)
        has_zero = all(k.size and k[0] == 0 for k in waves)  # this rank holds k = 0 (first)
        for s in range(0, phase.shape[0], _MODE_CHUNK):  # K̂⁰ = Σ_ab conj(φ_a) K_e[a, b] φ_b, in chunks
            p = phase[s: s + _MODE_CHUNK]
            symbol = np.einsum("ma,maij->mij", p.conj(), (p @ Kb).reshape(-1, n_nodes, bs, bs))
            if s == 0 and has_zero:
                symbol[0] = np.eye(bs)  # singular at k = 0: projected out below
            inverse[s: s + len(p)] = np.linalg.inv(symbol)
        if has_zero:
            inverse[0] = 0.0  # the translations
        self._inverse = inverse.reshape(modes + (bs, bs))
        self.reference = C.copy()

    # -- the PC ---------------------------------------------------------------------
    def setUp(self, pc: PETSc.PC) -> None:  # noqa: N802 (petsc4py's name)
        """Nothing to do: the operator's values do not enter (petsc4py's hook)."""
        if self.reference is None:
            raise RuntimeError("GreenPreconditioner: set_reference() before the first solve")

    def apply(self, pc: PETSc.PC, x: PETSc.Vec, y: PETSc.Vec) -> None:
        """``y = Tᵀ Γ⁰ T x`` (module docstring). Collective."""
        r = x.getArray(readonly=True)
        total = r.reshape(-1, self.bs).sum(axis=0)
        if self.comm.size > 1:
            total = self.comm.allreduce(total)
        slab = np.zeros(self._slab_shape)
        flat = slab.reshape(-1)
        flat[self._slab_index] = self._exchange(r[self._order], forward=True)
        nodes = slab.reshape(-1, self.bs)
        if self._pin >= 0:
            nodes[self._pin] = -total
        u = self._inverse_transform(np.einsum("...ij,...j->...i", self._inverse, self._forward_transform(slab)))
        u_nodes = u.reshape(-1, self.bs)
        shift = u_nodes[self._pin].copy() if self._pin >= 0 else np.zeros(self.bs)
        if self.comm.size > 1:
            shift = self.comm.allreduce(shift)
        out = np.empty_like(r)
        out[self._order] = self._exchange(u.reshape(-1)[self._slab_index], forward=False)
        out.reshape(-1, self.bs)[:] -= shift
        y.array[:] = out
        self.n_applications += 1

    # -- the distributed transforms -------------------------------------------------
    def _exchange(self, values: npt.NDArray[np.float64], forward: bool) -> npt.NDArray[np.float64]:
        """Reduced unknowns (sorted by slab owner) → the slab's entries (``forward``), or back."""
        if self.comm.size == 1:
            return values
        send, recv = (self._send, self._recv) if forward else (self._recv, self._send)
        out = np.empty(int(recv.sum()))
        self.comm.Alltoallv([np.ascontiguousarray(values), (send, _displacements(send)), MPI.DOUBLE],
                            [out, (recv, _displacements(recv)), MPI.DOUBLE])
        return out

    def _forward_transform(self, slab: npt.NDArray[np.float64]) -> npt.NDArray[np.complex128]:
        """Real slab ``(n0_local, N1, …, bs)`` → the modes of this rank ``(N0, m1_local, …, bs)``."""
        import scipy.fft

        d = len(self.shape)
        if self.comm.size == 1:
            return scipy.fft.rfftn(slab, axes=tuple(range(d)))
        a = scipy.fft.rfftn(slab, axes=tuple(range(1, d)))
        b = self._transpose(a, forward=True)
        return scipy.fft.fft(b, axis=0, overwrite_x=True)

    def _inverse_transform(self, modes: npt.NDArray[np.complex128]) -> npt.NDArray[np.float64]:
        """:meth:`_forward_transform`'s inverse."""
        import scipy.fft

        d = len(self.shape)
        if self.comm.size == 1:
            return scipy.fft.irfftn(modes, s=self.shape, axes=tuple(range(d)))
        b = scipy.fft.ifft(modes, axis=0, overwrite_x=True)
        a = self._transpose(b, forward=False)
        return scipy.fft.irfftn(a, s=self.shape[1:], axes=tuple(range(1, d)))

    def _transpose(self, a: npt.NDArray[np.complex128], forward: bool) -> npt.NDArray[np.complex128]:
        """Split along axis 0 → split along axis 1 (``forward``), or back."""
        comm, rank = self.comm, self.comm.rank
        n0, n1 = np.diff(self._bounds0), np.diff(self._bounds1)
        rest = int(np.prod(a.shape[2:]))
        if forward:  # a: (n0_local, M1, ...)
            send = np.concatenate([a[:, self._bounds1[r]: self._bounds1[r + 1]].reshape(-1)
                                   for r in range(comm.size)])
            send_counts, recv_counts = n0[rank] * n1 * rest, n0 * n1[rank] * rest
            out_shape = (self.shape[0], int(n1[rank])) + a.shape[2:]
        else:  # a: (N0, m1_local, ...)
            send = np.ascontiguousarray(a).reshape(-1)
            send_counts, recv_counts = n0 * n1[rank] * rest, n0[rank] * n1 * rest
        recv = np.empty(int(recv_counts.sum()), dtype=np.complex128)
        comm.Alltoallv([send, (send_counts, _displacements(send_counts)), MPI.C_DOUBLE_COMPLEX],
                       [recv, (recv_counts, _displacements(recv_counts)), MPI.C_DOUBLE_COMPLEX])
        if forward:
            return recv.reshape(out_shape)
        blocks = np.split(recv, np.cumsum(recv_counts)[:-1])
        return np.concatenate([blk.reshape((int(n0[rank]), int(n1[r])) + a.shape[2:])
                               for r, blk in enumerate(blocks)], axis=1)


def _displacements(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
