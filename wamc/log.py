"""Loguru set-up: one line per event, the client id on every line, rotated files under logs/.

``WAMC_LOG_FORMAT=json`` (``Settings.log_format``) writes each line as one JSON object for log
shippers: ``ts``, ``level``, ``client`` (null for the daemon itself), ``module``, ``msg`` and,
with a traceback, ``exception``; ``WAMC_LOG_LEVEL`` is the lowest level written.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from loguru import logger

from wamc.config import Settings

FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS!UTC}Z {level:<7} [{extra[client]}] {message}"
ROTATION = "20 MB"
RETENTION = 5


def one_line(record: Any) -> None:
    """Nothing a page, a worker or a caller said can forge a log line: control characters in
    the message and the client id are escaped (a record bound with ``multiline=True``, such as
    the task dump, keeps its newlines)."""
    extra = record["extra"]
    client = str(extra.get("client", "-"))
    if not client.isprintable():
        extra["client"] = escape(client)
    message = record["message"]
    if not message.isprintable():
        if extra.get("multiline"):
            record["message"] = "\n".join(escape(line) for line in message.split("\n"))
        else:
            record["message"] = escape(message)


def escape(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def json_line(record: Any) -> str:
    """A loguru format function: the record as one JSON object (json.dumps escapes every
    control character, so a line stays a line)."""
    client = str(record["extra"].get("client", "-"))
    fields: dict[str, Any] = {
        "ts": record["time"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "level": record["level"].name,
        "client": None if client == "-" else client,
        "module": module_name(record["name"]),
        "msg": record["message"],
    }
    exc = record["exception"]
    if exc is not None and exc.type is not None:
        fields["exception"] = "".join(
            traceback.format_exception(exc.type, exc.value, exc.traceback)
        )
    record["extra"]["json"] = json.dumps(fields, ensure_ascii=False, default=str)
    return "{extra[json]}\n"


def module_name(name: str) -> str:
    """``python -m workers`` logs from ``__main__``: name it by its real module."""
    if name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        return str(getattr(spec, "name", None) or name)
    return name


def line_format(settings: Settings) -> str | Callable[[Any], str]:
    return json_line if settings.log_format == "json" else FORMAT


def _base(settings: Settings, level: str) -> None:
    logger.remove()
    logger.configure(extra={"client": "-"}, patcher=one_line)
    fmt = line_format(settings)
    logger.add(sys.stderr, level=level, format=fmt, backtrace=False, diagnose=False)


def setup_daemon_logging(settings: Settings, level: str | None = None) -> None:
    level = level or settings.log_level
    _base(settings, level)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    (settings.logs_dir / "clients").mkdir(exist_ok=True)
    logger.add(
        settings.logs_dir / "wamc.log",
        level=level,
        format=line_format(settings),
        rotation=ROTATION,
        retention=RETENTION,
        enqueue=True,
        backtrace=False,
        diagnose=False,
    )


def setup_worker_logging(settings: Settings, client_id: str, level: str | None = None) -> None:
    """A worker writes its own file; its raw stderr (tracebacks before logging) goes elsewhere."""
    level = level or settings.log_level
    logger.remove()
    logger.configure(extra={"client": client_id}, patcher=one_line)
    path = settings.logs_dir / "clients" / f"{client_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger.add(
        path,
        level=level,
        format=line_format(settings),
        rotation=ROTATION,
        retention=RETENTION,
        backtrace=False,
        diagnose=False,
    )


LOG_READ_MAX_BYTES = 4 * 1024 * 1024


def tail_lines(path: Path, count: int, max_bytes: int = LOG_READ_MAX_BYTES) -> list[str]:
    """The last ``count`` lines of a text file, reading backwards in blocks (bounded)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return []
    with fh:
        fh.seek(0, 2)
        end = fh.tell()
        pos = end
        data = b""
        block = 64 * 1024
        while pos > 0 and data.count(b"\n") <= count and end - pos < max_bytes:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    if pos > 0 and lines:
        lines = lines[1:]  # the first one is probably cut
    return lines[-count:]
