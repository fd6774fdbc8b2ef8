"""Least privilege: file modes for the service's folders and the rule that workers avoid root.

Stdlib only. What the worker needs too (umask, root refusal) is in ``wamc/wire/process.py``.

The service runs as an unprivileged user (``scripts/start.sh`` creates ``wamc``); an operator in
that user's group may read the logs (dirs 0750, files 0640) but never the sessions (0700): they
hold every client's WhatsApp profile, the message store and the API key.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SESSIONS_MODE = 0o700
LOGS_DIR_MODE = 0o750
LOG_FILE_MODE = 0o640


def secure_tree(sessions_dir: Path, logs_dir: Path) -> None:
    """Create the folders with their modes and tighten what an older version left too open.

    Only what this process owns is changed (never other users' files), never through a symlink.
    """
    sessions_dir.mkdir(mode=SESSIONS_MODE, parents=True, exist_ok=True)
    logs_dir.mkdir(mode=LOGS_DIR_MODE, parents=True, exist_ok=True)
    (logs_dir / "clients").mkdir(mode=LOGS_DIR_MODE, exist_ok=True)
    _chmod_own(sessions_dir, SESSIONS_MODE)
    for root, dirs, files in os.walk(logs_dir):
        base = Path(root)
        _chmod_own(base, LOGS_DIR_MODE)
        for name in files:
            _chmod_own(base / name, LOG_FILE_MODE, only_narrow=True)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]


def private_dir(path: Path) -> None:
    """A 0700 folder, also when an older version created it more open."""
    path.mkdir(mode=SESSIONS_MODE, parents=True, exist_ok=True)
    _chmod_own(path, SESSIONS_MODE)


def _chmod_own(path: Path, mode: int, only_narrow: bool = False) -> None:
    """chmod ``path`` (not a symlink, owned by us) to ``mode``; ``only_narrow`` never widens."""
    with contextlib.suppress(OSError):
        st = path.lstat()
        if st.st_uid != os.geteuid() or (st.st_mode & 0o170000) == 0o120000:
            return
        current = st.st_mode & 0o7777
        target = current & mode if only_narrow else mode
        if current != target:
            os.chmod(path, target)  # not a symlink (checked above); lchmod is not on Linux
