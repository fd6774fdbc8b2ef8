"""Schemathesis fuzzes the live ``/openapi.json`` of a real daemon, with the simulator behind it.

No 5xx, no answer outside the document (status, content type, headers, body schema), no crash.
Bounded: few examples per operation, WAMC_MAX_CLIENTS=3 so fuzzed ``connect`` calls start at
most three Chromium workers, ``/api/shutdown`` left out (it would end the run by design).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import API_KEY, Daemon

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
MAX_EXAMPLES = os.environ.get("WAMC_FUZZ_EXAMPLES", "60")


def st_binary() -> str | None:
    local = Path(sys.executable).parent / "st"
    return str(local) if local.exists() else shutil.which("st")


async def run_schemathesis(d: Daemon, report: Path, extra: list[str]) -> str:
    st = st_binary()
    assert st, "schemathesis is a test dependency (pip install -e '.[test]')"
    proc = await asyncio.create_subprocess_exec(
        st,
        "run",
        f"{d.base}/openapi.json",
        f"--header=X-Api-Key: {API_KEY}",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        "--phases=examples,coverage,fuzzing",
        # /api/shutdown would end the run by design; webhooks would be pointed at fuzzed URLs
        # (traffic leaves the machine); /api/events never ends: none is fuzzed here.
        "--exclude-path=/api/shutdown",
        "--exclude-path=/api/events",  # an endless Server-Sent Events stream
        "--exclude-path-regex=webhooks",
        "--workers=1",
        "--request-timeout=30",
        "--seed=20260101",
        "--no-shrink",
        "--suppress-health-check=all",
        "--report=junit",
        f"--report-dir={report}",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=report.parent,  # its cache (.schemathesis/) stays out of the checkout
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError(
            "schemathesis did not finish in 240 s:\n" + out.decode(errors="replace")[-4000:]
        ) from None
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-8000:] + "\n--- daemon ---\n" + d.tail(60)
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counts and counts[1] == counts[2] and int(counts[1]) >= 100, text[-3000:]
    return text


@pytest.mark.timeout(400)
async def test_schemathesis_finds_no_failure(tmp_path: Path, simulator: Any, sim_http: Any) -> None:
    d = Daemon(
        tmp_path / "home",
        simulator,
        extra_env={
            "WAMC_MAX_CLIENTS": "3",
            "WAMC_API_RATE_PER_MINUTE": "0",
            "WAMC_ADMIN_RATE_PER_MINUTE": "0",
            "WAMC_SEND_INTERVAL": "0",
            "WAMC_SEND_JITTER": "0",
            "WAMC_REQUEST_TIMEOUT": "10",
            "WAMC_START_CONCURRENCY": "1",
        },
    )
    d.home.mkdir()
    await d.start()
    try:
        # The documented examples use client "acme": make it a real, connected client.
        await d.connect_scanned(sim_http, "acme", "5511900000031")
        # Pass 1: everything but the control calls, against a connected client: sends, chats
        # and history go through a real worker and Chromium.
        control = ["connect", "disconnect", "restart", "logout", "delete_client"]
        await run_schemathesis(
            d, tmp_path / "pass1", [f"--exclude-operation-id={o}" for o in control]
        )
        assert (await d.status("acme"))["state"] == "connected"
        assert await sim_http.sent("5511900000031"), "the documented example send went out"
        # Pass 2: every operation. Control calls race by design (a send while a restart stops
        # the worker answers 502/503/504, as documented), so no client is connected here.
        code, _ = await d.call("DELETE", "/api/clients/acme")
        assert code == 202
        await run_schemathesis(d, tmp_path / "pass2", [])
        # The daemon is still alive and answering after the fuzzing.
        code, body = await d.call("GET", "/health")
        assert code == 200 and body["status"] == "ok"
        assert body["clients"] <= 3
    finally:
        await d.close()


def test_document_covers_every_route_code_and_event() -> None:
    """The document is built from the route table and the models: nothing is left out."""
    from wamc.api.openapi import build_document
    from wamc.api.routes import ROUTES
    from wamc.errors import CODES
    from wamc.events import EVENT_NAMES

    doc = build_document(ROUTES)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["x-problem-codes"]) == set(CODES)
    for code in CODES:
        assert f"`{code}`" in doc["info"]["description"]
    api_routes = {
        (r.method, r.path)
        for r in ROUTES
        if r.path.startswith("/api/") or r.path in ("/ws", "/health", "/openapi.json", "/metrics")
    }
    for method, path in api_routes:
        op = doc["paths"][path][method.lower()]
        assert op["operationId"] and op["summary"] and op["responses"]
        if path.startswith("/api/"):
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            assert "Retry-After" in op["responses"]["429"]["headers"]
    # The document lists exactly the routes a consumer calls: the API, /ws, /health, the spec,
    # the metrics.
    assert api_routes == {(r.method, r.path) for r in ROUTES if r.listed}
    schemas = doc["components"]["schemas"]
    for name in EVENT_NAMES:
        assert f"Event.{name}" in schemas
    send = doc["paths"]["/api/clients/{id}/send-message"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SendMessage"
    )
    assert schemas["SendMessage"]["additionalProperties"] is False
    assert {"201", "409", "429", "504"} <= set(send["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])
