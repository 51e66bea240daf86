"""Under ``mpiexec``, every rank gets its own pytest base temporary directory: with a
shared one, the ranks race to clean up old runs (``PytestWarning: (rm_rf) error
removing ...``). Tests that need one folder on all ranks broadcast rank 0's path."""

import getpass
import tempfile
from pathlib import Path

from mpi4py import MPI


def pytest_configure(config):
    if config.option.basetemp is None:
        config.option.basetemp = (Path(tempfile.gettempdir())
                                  / f"pytest-mpi-{getpass.getuser()}-rank{MPI.COMM_WORLD.rank}")
