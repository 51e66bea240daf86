# # FE² from a run file: checkpointed, stopped and restarted
#
# A long FE² run should survive a crash, a wall-time limit or a `kill`. This demo runs
# the run file `demos/fe2_plate.toml` (a clamped fibre-composite plate, bent and
# released, an RVE at every macro point) three ways:
#
# 1. uninterrupted;
# 2. in two chunks: three steps with checkpoints (`max_steps=3`, what a batch job that
#    runs out of time leaves behind: the JSON of the finished steps and their
#    checkpoints), then a restart from the newest checkpoint;
#
# and checks that the chunked run gives the uninterrupted run's reactions to 1e-12. The
# same from the shell:
#
#     dolfinx-multiscale fe2 demos/fe2_plate.toml --json plate.json --checkpoint ck --max-steps 3
#     mpiexec -n 2 dolfinx-multiscale fe2 demos/fe2_plate.toml --json plate.json --checkpoint ck --restart ck
#
# (a restart may use another rank count: the checkpoints are keyed by the mesh's input
# numbering, `docs/run-files.md`). Run `python demos/fe2_run_file.py`, serially or under
# `mpiexec -n 2`.

# +
import argparse
import shutil
from pathlib import Path

from mpi4py import MPI

import numpy as np

from dolfinx_multiscale.runs import read_run, run
from dolfinx_multiscale.viz import pyplot, save_figure

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", default="results", help="output directory")
args, _ = parser.parse_known_args()
comm = MPI.COMM_WORLD
out = Path(args.out)
checkpoints = out / "fe2_plate_checkpoints"
if comm.rank == 0:
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(checkpoints, ignore_errors=True)
comm.barrier()
spec = read_run(Path(__file__).resolve().parent / "fe2_plate.toml")
# -

# ## Uninterrupted

full = run(spec, json_path=out / "fe2_plate.json", comm=comm)

# ## Three steps, then a restart from the checkpoint

first = run(spec, json_path=out / "fe2_plate_chunked.json", checkpoint=checkpoints, max_steps=3, comm=comm)
assert not first["complete"] and len(first["steps"]) == 3
chunked = run(spec, json_path=out / "fe2_plate_chunked.json", checkpoint=checkpoints, restart=checkpoints, comm=comm)

# ## The same answer

load = np.array([s["load"] for s in full["steps"]])
reaction = np.array([s["reactions"]["right"][1] for s in full["steps"]])
restarted = np.array([s["reactions"]["right"][1] for s in chunked["steps"]])
difference = np.abs(restarted - reaction).max() / np.abs(reaction).max()
if comm.rank == 0:
    print(" step   load   end reaction (uninterrupted)   (restarted after step 3)")
    for s, a, b in zip(full["steps"], reaction, restarted):
        print(f"{s['step']:5d} {s['load']:6.2f} {a:28.10e} {b:26.10e}")
    print(f"largest relative difference: {difference:.1e}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    deflection = -0.02 * np.concatenate([[0.0], load])
    ax.plot(deflection, np.concatenate([[0.0], reaction]), "o-", label="uninterrupted")
    ax.plot(deflection[4:], restarted[3:], "x", ms=10, label="restarted after step 3")
    ax.set_xlabel("end deflection")
    ax.set_ylabel("end reaction $F_y$ per unit thickness")
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, out / "fe2_run_file.png")
assert chunked["complete"] and difference <= 1e-12
# the plate unloads with a residual (plastic) reaction, and the two supports balance
assert abs(reaction[-1]) > 1e-5
for s in full["steps"]:
    assert np.abs(np.add(s["reactions"]["left"], s["reactions"]["right"])).max() <= 1e-12
