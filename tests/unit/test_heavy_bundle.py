"""The heavy page's generated bundle and the reports it sends (wamc/simulator/heavy.py)."""

from __future__ import annotations

import pytest
from aiohttp import web

from wamc.simulator import heavy


def test_bundle_is_deterministic_and_multi_megabyte() -> None:
    small = heavy.HeavyModel(modules=50)
    first = heavy.bundle.__wrapped__(small)
    assert first == heavy.bundle.__wrapped__(small)
    assert first.count(b'__d("m') == 50 and b"heavyMain(" in first
    full = heavy.bundle()
    assert len(full) >= 5_000_000 and full.count(b'__d("m') == heavy.MODEL.modules


def test_reports_keep_only_typed_known_fields() -> None:
    pages = heavy.HeavyPages("heavy")
    pages.record(
        {
            "profile": "p" * 500,
            "phone": 12,
            "idb_messages": 20001,
            "heap_used": -5,
            "dom_nodes": True,
            "load_ms": 1e300,
            "seeded": "yes",
            "evil": {"x": 1},
        }
    )
    (page,) = pages.describe()["pages"]
    assert page["profile"] == "p" * 64 and page["phone"] is None
    assert page["idb_messages"] == 20001
    assert page["heap_used"] is None and page["dom_nodes"] is None and page["load_ms"] is None
    assert page["seeded"] is False and "evil" not in page
    with pytest.raises(web.HTTPBadRequest):
        pages.record(["not", "an", "object"])


def test_reports_are_bounded_and_weight_is_checked() -> None:
    pages = heavy.HeavyPages("light")
    for i in range(heavy.MAX_PAGES + 10):
        pages.record({"profile": f"p{i}"})
    assert len(pages.pages) == heavy.MAX_PAGES and "p0" not in pages.pages
    assert pages.describe()["weight"] == "light" and "bundle_bytes" not in pages.describe()
    with pytest.raises(ValueError):
        heavy.HeavyPages("medium")
