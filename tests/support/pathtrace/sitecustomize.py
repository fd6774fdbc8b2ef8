"""Test-only path tracer, loaded at interpreter start through PYTHONPATH (never in production).

Enabled by ``WAMC_TEST_PATH_TRACE`` (JSON: ``dir``, ``repo``, ``roots``, ``markers``, ``sinks``) in the
daemon and, through the inherited environment, in its workers. For every call of one of our
functions (under ``roots``) or of a library ``sink`` whose arguments carry a marker, it writes
the project files on the call stack — the running loop callback's frames plus the stacks that
created its task, so a hop through ``create_task`` keeps its origin (only for a task that takes
the marked message along: in its arguments, or created inside a marked call) — as one JSON
line. tests/unit/
test_architecture_paths.py compares them with docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import weakref
from asyncio import base_events
from typing import Any

_SPEC = os.environ.get("WAMC_TEST_PATH_TRACE")


def _install(cfg: dict[str, Any]) -> None:
    roots = tuple(cfg["roots"])
    markers = [m.encode() for m in cfg["markers"]]
    sinks = {tuple(s.split("::")) for s in cfg["sinks"]}  # (file suffix, function)
    sink_names = {name for _, name in sinks}
    kinds: dict[Any, str | None] = {}
    origins: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()
    seq = itertools.count()
    out: list[Any] = []
    armed: list[bool] = []  # set at the first marked call: tasks made before keep no origin

    def rel(path: str) -> str | None:
        return os.path.relpath(path, cfg["repo"]) if path.startswith(roots) else None

    def ours_on_stack(frame: Any) -> set[str]:
        """Our files on the stack of the running event-loop callback (not the process's entry
        frames below the loop: cli.py and serve.py are under every callback)."""
        found = set()
        while frame is not None:
            if frame.f_code.co_name == "_run_once" and frame.f_code.co_filename.endswith(
                "asyncio/base_events.py"
            ):
                break
            name = rel(frame.f_code.co_filename)
            if name is not None:
                found.add(name)
            frame = frame.f_back
        return found

    def task_origin() -> frozenset[str]:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return frozenset()
        return origins.get(task, frozenset()) if task is not None else frozenset()

    original_create_task = base_events.BaseEventLoop.create_task

    def create_task(self: Any, coro: Any, *args: Any, **kw: Any) -> Any:
        task = original_create_task(self, coro, *args, **kw)
        if armed and hands_over_a_message(coro, sys._getframe(1)):
            origins[task] = frozenset(ours_on_stack(sys._getframe(1))) | task_origin()
        return task

    def hands_over_a_message(coro: Any, frame: Any) -> bool:
        """Does this new task carry a marked message: in its coroutine's arguments, or created
        inside a marked call? (A long-lived task started before, e.g. a WebSocket's sender,
        only receives the message later through a queue: its creator is not on the path.)"""
        started = getattr(coro, "cr_frame", None)
        if started is not None and carried(list(started.f_locals.values())) is not None:
            return True
        while frame is not None:
            if frame.f_code.co_name == "_run_once" and frame.f_code.co_filename.endswith(
                "asyncio/base_events.py"
            ):
                return False
            if kind_of(frame.f_code) is not None and carried(call_args(frame)) is not None:
                return True
            frame = frame.f_back
        return False

    base_events.BaseEventLoop.create_task = create_task  # type: ignore[method-assign]  # test-only hook

    def carried(obj: Any, depth: int = 0) -> bytes | None:
        if depth > 4:
            return None
        if isinstance(obj, str):
            obj = obj.encode(errors="replace")
        if isinstance(obj, bytes | bytearray):
            return next((m for m in markers if m in obj), None)
        if isinstance(obj, dict):
            items: Any = obj.values()
        elif isinstance(obj, list | tuple):
            items = obj
        elif hasattr(obj, "__struct_fields__"):
            items = [getattr(obj, f, None) for f in obj.__struct_fields__]
        else:
            try:
                return carried(bytes(memoryview(obj)), depth + 1)
            except TypeError:
                return None
        for item in itertools.islice(items, 200):
            hit = carried(item, depth + 1)
            if hit is not None:
                return hit
        return None

    def kind_of(code: Any) -> str | None:
        kind = kinds.get(code, "?")
        if kind == "?":
            kind = None
            if code.co_name in sink_names and any(  # a sink may be one of our own functions
                code.co_filename.endswith(f) and code.co_name == n for f, n in sinks
            ):
                kind = "sink"
            elif rel(code.co_filename) is not None:
                kind = "ours"
            kinds[code] = kind
        return kind

    def call_args(frame: Any) -> list[Any]:
        code = frame.f_code
        nargs = code.co_argcount + code.co_kwonlyargcount
        return [frame.f_locals.get(n) for n in code.co_varnames[:nargs] if n != "self"]

    def trace(frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return None
        code = frame.f_code
        kind = kind_of(code)
        if kind is None:
            return None
        hit = carried(call_args(frame))
        if hit is not None:
            record(frame, kind, hit)
        return None

    def record(frame: Any, kind: str, hit: bytes) -> None:
        armed.append(True)
        if not out:
            path = os.path.join(cfg["dir"], f"trace-{os.getpid()}.jsonl")
            out.append(open(path, "a", buffering=1))  # noqa: SIM115 - lives as long as the process
        side = "worker" if "workers" in " ".join(sys.argv) else "daemon"
        files = sorted(ours_on_stack(frame) | task_origin())
        where = (
            f"{rel(frame.f_code.co_filename) or frame.f_code.co_filename}::{frame.f_code.co_name}"
        )
        line = {"seq": next(seq), "side": side, "marker": hit.decode(), "sink": kind == "sink"}
        out[0].write(json.dumps({**line, "at": where, "files": files}) + "\n")

    sys.settrace(trace)


if _SPEC:
    _install(json.loads(_SPEC))
