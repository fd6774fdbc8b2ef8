"""A 50 MB document goes out without the daemon holding it (issue 11): multipart is streamed to
a private file of the daemon, then over ZeroMQ to the worker in 1 MiB chunk frames, a window of
them at a time. Measured in the daemon itself (tracemalloc, through
tests/support/traced_serve.py) and from outside (its RSS)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.support import Daemon, wait_for
from wamc.simulator.media import pdf

PHONE_A = "5511900000201"
PHONE_B = "5511900000202"
MiB = 1024 * 1024


class TracedDaemon(Daemon):
    """The daemon started through tests/support/traced_serve.py (tracemalloc on)."""

    COMMAND = ["-m", "tests.support.traced_serve"]
    START_TIMEOUT = 60.0

    async def start(self) -> None:
        self.trace_file = self.home / "trace.json"
        self.env["WAMC_TEST_TRACE_FILE"] = str(self.trace_file)
        await super().start()

    async def traced(self) -> dict[str, int]:
        """(current, peak since the last call) of the daemon's traced memory; resets the peak."""
        assert self.proc is not None
        self.trace_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR2)
        await wait_for(self.trace_file.exists, timeout=10, what="the trace report")
        return json.loads(self.trace_file.read_text())


async def test_50mb_document_streams_through_a_flat_daemon(
    tmp_path: Path, simulator: Any, sim_http: Any
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    daemon = TracedDaemon(home, simulator, {"WAMC_MEDIA_TIMEOUT": "240"})
    try:
        await daemon.start()
        await daemon.connect_scanned(sim_http, "acme", PHONE_A)
        big = tmp_path / "big.pdf"
        big.write_bytes(pdf("fifty megabytes", pad_to=50 * 1024 * 1024))
        digest = hashlib.sha256(big.read_bytes()).hexdigest()
        proc = psutil.Process(daemon.proc.pid)  # type: ignore[union-attr]

        base = await daemon.traced()
        rss_before = proc.memory_info().rss
        rss_max = rss_before
        stop = asyncio.Event()

        async def sample_rss() -> None:
            nonlocal rss_max
            while not stop.is_set():
                rss_max = max(rss_max, proc.memory_info().rss)
                await asyncio.sleep(0.05)  # the sampling pace, not synchronisation

        sampler = asyncio.create_task(sample_rss())
        with big.open("rb") as fh:
            data = aiohttp.FormData()
            data.add_field("to", PHONE_B)
            data.add_field("file", fh, filename="big.pdf", content_type="application/pdf")
            code, body = await daemon.call(
                "POST",
                "/api/clients/acme/send-media",
                data=data,
                timeout=aiohttp.ClientTimeout(300),
            )
        stop.set()
        await sampler
        during = await daemon.traced()
        assert code == 201 and body["type"] == "document", body

        peak_growth = during["peak"] - base["current"]
        rss_growth = rss_max - rss_before
        print(
            f"\n50 MB upload: traced peak +{peak_growth / MiB:.2f} MiB, RSS +{rss_growth / MiB:.2f} MiB"
        )
        assert peak_growth <= 4 * MiB, peak_growth
        assert rss_growth < 16 * MiB, rss_growth

        sent = [m for m in await sim_http.sent(PHONE_A) if m["id"] == body["id"]]
        assert sent and sent[0]["sha256"] == digest and sent[0]["size"] == big.stat().st_size
        # The upload's temporary file is gone once the send answered.
        assert not list((home / "sessions" / "acme" / "media" / "tmp").iterdir())
        assert os.path.getsize(big) == 50 * 1024 * 1024
    finally:
        await daemon.close()
