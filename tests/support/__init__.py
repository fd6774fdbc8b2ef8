"""What tests and bench/ share: a real daemon process, the simulator and its control API, waits.

tests/conftest.py only wires these into pytest fixtures; bench/ imports them directly.
"""

from tests.support.daemon import API_KEY, REPO, Daemon, free_port, kill_strays, processes_under
from tests.support.simulator import SimControl, running_simulator
from tests.support.wait import session_on_disk, wait_for

__all__ = [
    "API_KEY",
    "REPO",
    "Daemon",
    "SimControl",
    "free_port",
    "kill_strays",
    "processes_under",
    "running_simulator",
    "session_on_disk",
    "wait_for",
]
