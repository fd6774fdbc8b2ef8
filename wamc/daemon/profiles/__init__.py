"""Profile store (automatic session backup): browser profiles snapshotted at clean stops into a
``ProfileStore`` (``WAMC_PROFILE_STORE``) and restored when a client starts without one."""

from wamc.daemon.profiles.snapshots import Restore, needs_restore, restore_newest, take_snapshot
from wamc.daemon.profiles.store import BadSnapshot, FolderStore, Manifest, ProfileStore

__all__ = [
    "BadSnapshot",
    "FolderStore",
    "Manifest",
    "ProfileStore",
    "Restore",
    "needs_restore",
    "restore_newest",
    "take_snapshot",
]
