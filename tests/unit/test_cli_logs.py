"""``wamc logs``: levels of text and JSON lines, following a file across rotation, API tails."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from wamc.cli.logs import LevelFilter, follow_file, level_of, new_lines

INFO = "2026-11-30 15:21:39.236Z INFO    [good] client created"
WARN = "2026-11-30 15:21:38.983Z WARNING [-] running as root"


def test_level_of_text_json_and_continuation_lines() -> None:
    assert level_of(INFO) == "INFO" and level_of(WARN) == "WARNING"
    assert level_of('{"ts": "x", "level": "error", "msg": "m"}') == "ERROR"
    assert level_of('{"record": 1, "level": {"name": "DEBUG"}}') == "DEBUG"
    assert level_of("  File 'x.py', line 3") is None and level_of("{not json") is None


def test_a_continuation_line_follows_its_records_level() -> None:
    keep = LevelFilter("WARNING")
    assert [keep(ln) for ln in (INFO, "  more of info", WARN, "  more of warn")] == [
        False,
        False,
        True,
        True,
    ]


def test_new_lines_after_the_last_seen_even_with_repeats() -> None:
    assert new_lines(["a", "b"], ["a", "b", "c", "d"]) == ["c", "d"]
    assert new_lines(["x", "b"], ["b", "x", "b", "c"]) == ["c"]
    assert new_lines(["gone"], ["p", "q"]) == ["p", "q"]  # nothing in common: all of it
    assert new_lines([], ["p"]) == ["p"]


def test_follow_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "wamc.log"
    path.write_text("old 0\n")
    got: list[str] = []
    done = threading.Event()

    def follow() -> None:
        for line in follow_file(path, stop=done.is_set, from_end=False):
            got.append(line)
            if line == "new 2":
                done.set()

    reader = threading.Thread(target=follow)
    reader.start()
    with path.open("a") as fh:
        fh.write("old 1\nold ")
        fh.flush()
        time.sleep(0.7)  # not a synchronisation: the result is the same whenever it reads
        fh.write("2\n")  # a line written in two parts comes out whole
    path.rename(tmp_path / "wamc.2026-11-30.log")  # rotation: renamed, then a new file
    with (tmp_path / "wamc.2026-11-30.log").open("a") as fh:
        fh.write("old 3\n")  # the last words of the old file are not lost
    path.write_text("new 1\nnew 2\n")
    reader.join(20)
    assert not reader.is_alive()
    assert got == ["old 0", "old 1", "old 2", "old 3", "new 1", "new 2"]
