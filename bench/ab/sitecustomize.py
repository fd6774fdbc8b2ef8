"""Bench-only A/B switch for bench/memory.py: never on the product's path.

bench/memory.py puts this folder on the PYTHONPATH of the daemon it starts (so of its workers)
and describes a variant in ``WAMC_BENCH_TWEAK`` (JSON). In a worker process only, before
anything else runs, it changes what the product would launch:

- ``env``: variables set (a string) or removed (null) in the worker's environment, which its
  Chromium inherits (e.g. ``MALLOC_ARENA_MAX``);
- ``args_add`` / ``args_remove``: Chromium flags added to / removed from
  ``workers.chromium.CHROMIUM_ARGS`` once that module is imported (exact strings);
- ``label``: how the report names the variant (ignored here).

So one invocation can measure the product as it is against the product with a change undone
(or a candidate added), alternating, on the same machine state.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
from typing import Any


def _tweak() -> dict[str, Any] | None:
    argv = getattr(sys, "orig_argv", [])
    if not any(a == "-m" and b == "workers" for a, b in zip(argv, argv[1:], strict=False)):
        return None  # the daemon, or anything else that inherits the PYTHONPATH
    raw = os.environ.get("WAMC_BENCH_TWEAK")
    return json.loads(raw) if raw else None


class _PatchBrowser(importlib.abc.MetaPathFinder):
    """Edits ``workers.chromium.CHROMIUM_ARGS`` right after the module is executed."""

    def __init__(self, add: list[str], remove: list[str]) -> None:
        self.add, self.remove = add, remove

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "workers.chromium":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module  # type: ignore[union-attr]  # a source loader
        add, remove = self.add, self.remove

        def exec_module(module: Any) -> None:
            real_exec(module)
            args = [a for a in module.CHROMIUM_ARGS if a not in remove]
            module.CHROMIUM_ARGS[:] = args + [a for a in add if a not in args]

        spec.loader.exec_module = exec_module  # type: ignore[union-attr, method-assign]  # bench only
        return spec


def _apply(tweak: dict[str, Any]) -> None:
    for name, value in (tweak.get("env") or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    add, remove = tweak.get("args_add") or [], tweak.get("args_remove") or []
    if add or remove:
        sys.meta_path.insert(0, _PatchBrowser(add, remove))


_t = _tweak()
if _t:
    _apply(_t)
