"""``wamc logs``: the daemon's or a client's log; follows rotation; through the API when the
files are not here or not readable by this user."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from wamc.cli.http import Api, check_id, settings

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
POLL_SECONDS = 0.5
API_MAX_LINES = 1000


def level_of(line: str) -> str | None:
    """The level of a text line (``<date> <time>Z LEVEL [client] msg``) or a JSON line; None for a
    continuation line (a multi-line record keeps its first line's level)."""
    if line.startswith("{"):
        try:
            value = json.loads(line).get("level")
        except (ValueError, AttributeError):
            return None
        name = value.get("name") if isinstance(value, dict) else value
        return str(name).upper() if name else None
    parts = line.split(maxsplit=3)  # date, time, level, the rest
    return parts[2] if len(parts) > 2 and parts[2] in LEVELS else None


class LevelFilter:
    def __init__(self, minimum: str | None) -> None:
        self.rank = LEVELS.index(minimum) if minimum else 0
        self.keep = True

    def __call__(self, line: str) -> bool:
        level = level_of(line)
        if level is not None:
            self.keep = level not in LEVELS or LEVELS.index(level) >= self.rank
        return self.keep


def tail_file(path: Path, count: int) -> list[str]:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        pos, data = fh.tell(), b""
        while pos > 0 and data.count(b"\n") <= count:
            step = min(64 * 1024, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count else []


def follow_file(
    path: Path, stop: Callable[[], bool] = lambda: False, from_end: bool = True
) -> Iterator[str]:
    """New lines of ``path`` as they are written, across rotation (the file renamed and a new
    one created, or truncated): the old file is read to its end, then the new one from its
    start."""
    fh: TextIO = path.open(encoding="utf-8", errors="replace")
    if from_end:
        fh.seek(0, os.SEEK_END)
    partial = ""
    try:
        while not stop():
            chunk = fh.read()
            if chunk:
                partial += chunk
                *done, partial = partial.split("\n")
                yield from done
                continue
            if _rotated(path, fh):
                fh.close()
                fh = path.open(encoding="utf-8", errors="replace")
                continue
            time.sleep(POLL_SECONDS)
    finally:
        fh.close()


def _rotated(path: Path, fh: TextIO) -> bool:
    try:
        now = path.stat()
    except FileNotFoundError:
        return False  # between the rename and the new file
    mine = os.fstat(fh.fileno())
    return now.st_ino != mine.st_ino or now.st_size < fh.tell()


def follow_api(fetch: Callable[[int], list[str]], seen: list[str]) -> Iterator[str]:
    """New lines by polling the API's tail: what comes after the last lines already seen."""
    while True:
        time.sleep(POLL_SECONDS * 2)
        lines = fetch(API_MAX_LINES)
        fresh = new_lines(seen, lines)
        yield from fresh
        seen = (seen + fresh)[-50:]


def new_lines(seen: list[str], lines: list[str]) -> list[str]:
    """The lines of ``lines`` after the longest suffix of ``seen`` found in it (all when none)."""
    for k in range(min(len(seen), 50), 0, -1):
        tail = seen[-k:]
        for start in range(len(lines) - k, -1, -1):
            if lines[start : start + k] == tail:
                return lines[start + k :]
    return lines


def _source(client_id: str | None, remote: bool) -> tuple[Path | None, Callable[[int], list[str]]]:
    s = settings()
    path = s.logs_dir / ("wamc.log" if client_id is None else f"clients/{client_id}.log")
    api_path = "/api/logs" if client_id is None else f"/api/clients/{client_id}/logs"
    api = Api(s)

    def fetch(n: int) -> list[str]:
        return list(api.call("GET", f"{api_path}?lines={min(max(n, 1), API_MAX_LINES)}")["lines"])

    local = not remote and os.access(path, os.R_OK) and path.is_file()
    return (path if local else None), fetch


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (across rotation).")
@click.option("--client", "client_id", metavar="ID", help="A client's log instead of the daemon's.")
@click.option("--level", type=click.Choice(LEVELS, case_sensitive=False), help="At least this.")
@click.option(
    "-n",
    "--lines",
    "count",
    default=50,
    show_default=True,
    type=click.IntRange(0),
    help="How many.",
)
@click.option("--remote", is_flag=True, help="Read through the API even when the file is here.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def logs(
    follow: bool, client_id: str | None, level: str | None, count: int, remote: bool, as_json: bool
) -> None:
    """Print the last lines of the daemon's log (or a client's), optionally following it."""
    if client_id is not None:
        check_id(client_id)
    path, fetch = _source(client_id, remote)
    keep = LevelFilter(level.upper() if level else None)
    emit = _emitter(as_json, client_id)
    first = tail_file(path, count) if path else (fetch(count) if count else [])
    for line in first:
        if keep(line):
            emit(line)
    if not follow:
        return
    stream = follow_file(path) if path else follow_api(fetch, first or fetch(1))
    for line in stream:
        if keep(line):
            emit(line)


def _emitter(as_json: bool, client_id: str | None) -> Callable[[str], None]:
    if not as_json:
        return lambda line: click.echo(line)  # piped too: log lines stay lines for grep

    def emit(line: str) -> None:
        if line.startswith("{"):
            click.echo(line)
            return
        record: dict[str, Any] = {"client": client_id, "level": level_of(line), "line": line}
        click.echo(json.dumps(record, ensure_ascii=False))

    return emit
