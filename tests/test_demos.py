"""Every demo runs to completion (its own assertions included), serially and on 2 ranks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = sorted((Path(__file__).resolve().parents[1] / "demos").glob("*.py"))
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("nproc", [1, 2])
@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.stem)
def test_demo(demo, nproc, tmp_path):
    cmd = [sys.executable, str(demo), "--out", str(tmp_path)]
    if nproc > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(nproc), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "every demo writes at least one picture"
