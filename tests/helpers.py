"""Kept for branches still importing waits from here; new code imports tests.support."""

from tests.support.wait import session_on_disk, wait_for

__all__ = ["session_on_disk", "wait_for"]
