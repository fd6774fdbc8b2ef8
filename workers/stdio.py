"""The worker's raw stderr (``logs/clients/<id>.stderr``) kept under a size cap.

The daemon opens that file for the worker's stdout and stderr; Chromium inherits it.
Renaming it under open handles would leave them appending to the renamed file, so the worker
rotates it itself, and only when nothing else holds it: at start and before each browser launch.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

CAP = 1 << 20  # bytes; the previous file is kept as <name>.1, so at most ~2 MiB per client

_path: Path | None = None


def init(path: Path, cap: int = CAP) -> bool:
    """Remember the worker's stderr file and cap it now."""
    global _path
    _path = path
    return cap_stderr(path, cap)


def recap(cap: int = CAP) -> bool:
    """Cap again (before a browser launch: the previous browser has exited)."""
    return cap_stderr(_path, cap) if _path is not None else False


def cap_stderr(path: Path | None, cap: int = CAP) -> bool:
    """If fd 2 is ``path`` and it is over ``cap`` bytes: move it to ``<path>.1`` and re-open.

    fd 1 follows when it shares the file. True when rotated.
    """
    if path is None:
        return False
    try:
        err = os.fstat(2)
        st = path.stat()
    except OSError:
        return False
    if (err.st_dev, err.st_ino) != (st.st_dev, st.st_ino) or err.st_size <= cap:
        return False
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    same_stdout = False
    with contextlib.suppress(OSError):
        out = os.fstat(1)
        same_stdout = (out.st_dev, out.st_ino) == (st.st_dev, st.st_ino)
    try:
        os.replace(path, path.with_name(path.name + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError:
        return False
    os.dup2(fd, 2)
    if same_stdout:
        os.dup2(fd, 1)
    os.close(fd)
    return True
