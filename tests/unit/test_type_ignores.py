"""Issue 10: no ``# type: ignore`` in wamc/ or workers/ without an error code and a reason after
it on the same line (mypy checks the code is still needed: warn_unused_ignores)."""

from __future__ import annotations

import re

from tests.support import REPO

IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[\w\-, ]+\])?(?P<rest>.*)$")


def test_every_type_ignore_says_why() -> None:
    seen, bad = 0, []
    for root in ("wamc", "workers"):
        for path in sorted((REPO / root).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                match = IGNORE.search(line)
                if match is None:
                    continue
                seen += 1
                reason = match.group("rest").strip().lstrip("#").strip()
                if not match.group("code") or len(reason) < 8:
                    bad.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert seen >= 1  # the scan reads the code (wamc/config.py has some)
    assert bad == []
