"""Domain refusals (wamc/errors.py) and their one HTTP mapping (wamc/api/problems.py)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from wamc.api.problems import HTTP, PROBLEM_JSON, problem, problem_body, status_of
from wamc.errors import CODES, Refused, Throttled

ROOT = Path(__file__).resolve().parents[2] / "wamc"
DOMAIN = [
    "daemon",
    "security",
    "webhooks",
    "events",
    "storage",
    "wire",
    "errors.py",
    "validation",
]


def test_every_code_has_exactly_one_http_mapping() -> None:
    assert list(HTTP) == list(CODES)  # same codes, same order (the OpenAPI table follows it)
    for code in CODES:
        body = problem_body(Refused(code, "d", field="f"))
        assert body == {
            "type": "https://wamc.dev/problems/" + code,
            "title": HTTP[code][1],
            "status": HTTP[code][0],
            "detail": "d",
            "code": code,
            "field": "f",
        }


def test_unknown_code_is_refused_at_the_raise_site() -> None:
    with pytest.raises(KeyError):
        Refused("no_such_code", "x")


def test_empty_detail_renders_the_title_and_no_field() -> None:
    body = problem_body(Refused("unauthorized"))
    assert body["detail"] == "Missing or wrong API key" and "field" not in body


def test_throttled_renders_429_with_whole_second_retry_after() -> None:
    resp = problem(Throttled("rate_limited", "slow down", 0.2))
    assert resp.status == 429 and resp.content_type == PROBLEM_JSON
    assert resp.headers["Retry-After"] == "1"
    assert json.loads(resp.text or "")["detail"] == "slow down"
    assert problem(Throttled("too_many_streams", "x", 2.5)).headers["Retry-After"] == "3"
    assert "Retry-After" not in problem(Refused("forbidden")).headers
    assert status_of("worker_timeout") == 504


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_code_knows_no_http_errors() -> None:
    """The daemon, security, webhooks and validation raise ``Refused``; only wamc/api maps it."""
    files = [
        p for d in DOMAIN for p in ([ROOT / d] if d.endswith(".py") else (ROOT / d).rglob("*.py"))
    ]
    assert len(files) > 20
    for path in files:
        bad = {m for m in _imports(path) if m == "wamc.api" or m.startswith("wamc.api.")}
        assert not bad, (path, bad)
        assert "problem+json" not in path.read_text(), path
