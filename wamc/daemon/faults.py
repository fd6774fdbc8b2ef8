"""Fault injection for the test suite (not a documented setting): crash at a named point.

``WAMC_FAULT_CRASH=<point>`` (read by wamc/config.py) makes the daemon exit at once, without
cleanup, the first time it reaches :func:`crash_point` with that name.
"""

from __future__ import annotations

import os

_armed: str = ""
CRASH_EXIT_CODE = 70


def arm(point: str) -> None:
    global _armed
    _armed = point


def crash_point(name: str) -> None:
    if _armed and _armed == name:
        os._exit(CRASH_EXIT_CODE)
