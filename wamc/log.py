"""Loguru set-up: one line per event, the client id on every line, rotated files under logs/."""

from __future__ import annotations

import sys
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


def _base(level: str) -> None:
    logger.remove()
    logger.configure(extra={"client": "-"}, patcher=one_line)
    logger.add(sys.stderr, level=level, format=FORMAT, backtrace=False, diagnose=False)


def setup_daemon_logging(settings: Settings, level: str = "INFO") -> None:
    _base(level)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    (settings.logs_dir / "clients").mkdir(exist_ok=True)
    logger.add(
        settings.logs_dir / "wamc.log",
        level=level,
        format=FORMAT,
        rotation=ROTATION,
        retention=RETENTION,
        enqueue=True,
        backtrace=False,
        diagnose=False,
    )


def setup_worker_logging(settings: Settings, client_id: str, level: str = "INFO") -> None:
    """A worker writes its own file; its raw stderr (tracebacks before logging) goes elsewhere."""
    logger.remove()
    logger.configure(extra={"client": client_id}, patcher=one_line)
    path = settings.logs_dir / "clients" / f"{client_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger.add(
        path,
        level=level,
        format=FORMAT,
        rotation=ROTATION,
        retention=RETENTION,
        backtrace=False,
        diagnose=False,
    )
