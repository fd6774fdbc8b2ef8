"""Schemathesis fuzzes the live ``/openapi.json`` of a real daemon, with the simulator behind it.

No 5xx, no answer outside the document (status, content type, headers, body schema), no crash.
Bounded: few examples per operation, WAMC_MAX_CLIENTS=3 so fuzzed ``connect`` calls start at
most three Chromium workers, ``/api/shutdown`` left out (it would end the run by design).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, Daemon
from tests.integration.test_core_flow import connect_and_scan

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
MAX_EXAMPLES = os.environ.get("WAMC_FUZZ_EXAMPLES", "12")


def st_binary() -> str | None:
    local = Path(sys.executable).parent / "st"
    return str(local) if local.exists() else shutil.which("st")


@pytest.mark.timeout(400)
async def test_schemathesis_finds_no_failure(tmp_path: Path, simulator: Any, sim_http: Any) -> None:
    st = st_binary()
    assert st, "schemathesis is a test dependency (pip install -e '.[test]')"
    d = Daemon(
        tmp_path / "home",
        simulator,
        extra_env={
            "WAMC_MAX_CLIENTS": "3",
            "WAMC_API_RATE_PER_MINUTE": "0",
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
        await connect_and_scan(d, sim_http, "acme", "5511900000031")
        report = tmp_path / "st-report"
        proc = await asyncio.create_subprocess_exec(
            st,
            "run",
            f"{d.base}/openapi.json",
            "--header",
            f"X-Api-Key: {API_KEY}",
            "--checks",
            CHECKS,
            "--max-examples",
            MAX_EXAMPLES,
            "--phases",
            "examples,coverage,fuzzing",
            "--exclude-path",
            "/api/shutdown",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--seed",
            "20260101",
            "--no-shrink",
            "--suppress-health-check",
            "all",
            "--report",
            "junit",
            "--report-dir",
            str(report),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-8000:] + "\n--- daemon ---\n" + d.tail(60)
        assert "passed" in text.lower() or "no issues found" in text.lower(), text[-3000:]
        # The daemon is still alive and answering after the fuzzing.
        code, body = await d.call("GET", "/health")
        assert code == 200 and body["status"] == "ok"
        assert body["clients"] <= 3
    finally:
        await d.close()
