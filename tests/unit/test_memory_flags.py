"""The browser's memory flags keep what Playwright itself asks of Chromium.

Chromium honours only the last ``--enable-features``: ours (workers/browser.py MEMORY_ARGS)
replaces Playwright's, so it must repeat every feature Playwright enables. This reads them from
the installed driver, so a Playwright upgrade that adds one fails here, not silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import playwright

from workers.browser import CHROMIUM_ARGS

BUNDLE = Path(playwright.__file__).parent / "driver" / "package" / "lib" / "coreBundle.js"


def playwright_enabled_features() -> set[str]:
    text = BUNDLE.read_text(encoding="utf-8")
    block = re.search(r"enabledFeatures = \(\) => \[(.*?)\]\.filter", text, re.S)
    assert block is not None, f"Playwright's enabledFeatures not found in {BUNDLE}"
    body = re.sub(r"//[^\n]*", "", block.group(1))  # comments may quote feature-like words
    return set(re.findall(r'"([A-Za-z0-9]+)"', body))


def test_one_enable_features_switch_that_keeps_playwrights() -> None:
    switches = [a for a in CHROMIUM_ARGS if a.startswith("--enable-features=")]
    assert len(switches) == 1, switches
    ours = set(switches[0].split("=", 1)[1].split(","))
    theirs = playwright_enabled_features()
    assert theirs, "Playwright enables no feature: the parser is out of date"
    assert theirs <= ours, f"Playwright enables {sorted(theirs - ours)}: add them to MEMORY_ARGS"
    assert "NetworkServiceInProcess2" in ours


def test_no_renderer_heap_limit() -> None:
    """A V8 heap cap would crash the page of a large account: only the size mode is set."""
    js = [a for a in CHROMIUM_ARGS if a.startswith("--js-flags=")]
    assert js == ["--js-flags=--optimize-for-size"]
    assert not any("max-old-space" in a for a in CHROMIUM_ARGS)
