"""Media crosses the daemon⇄worker link in chunk frames (issue 11 Decision), not through a folder
the two share: here the workers keep their files in a folder of their own
(``WAMC_WORKER_MEDIA_DIR``, as a worker on another host of the Ray backend would), and a
document of several chunks still goes out and comes back byte-identical."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.test_media import form, sent_record, stored
from wamc.simulator.media import pdf
from wamc.wire import frames as F
from wamc.wire.transfer import WINDOW

PHONE_A = "5511900000111"
PHONE_B = "5511900000112"


async def test_media_goes_over_the_link_with_no_shared_folder(
    make_daemon: Any, sim_http: Any, tmp_path: Path
) -> None:
    worker_host = tmp_path / "worker-host"  # the workers' disk: the daemon never looks here
    daemon = await make_daemon({"WAMC_WORKER_MEDIA_DIR": str(worker_host)})
    await daemon.connect_scanned(sim_http, "acme", PHONE_A)
    await daemon.connect_scanned(sim_http, "shop", PHONE_B)
    # More chunks than the window holds, the last one short.
    document = pdf("chunked", pad_to=(WINDOW + 2) * F.CHUNK_MAX + 4321)
    digest = hashlib.sha256(document).hexdigest()

    code, body = await daemon.call(
        "POST",
        "/api/clients/acme/send-media",
        data=form({"to": PHONE_B, "caption": "chunks"}, document, "big.pdf", "application/pdf"),
        timeout=aiohttp.ClientTimeout(120),
    )
    assert code == 201 and body["type"] == "document", body
    record = await sent_record(sim_http, PHONE_A, body["id"])
    assert record["sha256"] == digest and record["size"] == len(document)

    # The worker wrote its copy on its own disk (a private folder it made), the daemon its own;
    # both are gone once the send answered.
    own = worker_host / "acme"
    assert own.is_dir() and stat.S_IMODE(own.stat().st_mode) == 0o700
    assert list(own.iterdir()) == []
    assert list((daemon.home / "sessions" / "acme" / "media" / "tmp").iterdir()) == []
    assert not (daemon.home / "sessions" / "acme" / "media" / "tmp" / "acme").exists()

    # Back the other way: the receiver's worker streams the page's file to the daemon's cache
    # and writes nothing on its own disk.
    got = await stored(daemon, "shop", f"{PHONE_A}@c.us", lambda m: m["type"] == "document")
    assert got["media"]["sha256"] == digest
    code, data = await daemon.call("GET", got["media_url"], timeout=aiohttp.ClientTimeout(120))
    assert code == 200 and data == document
    cached = list((daemon.home / "sessions" / "shop" / "media" / "cache").iterdir())
    assert [p.read_bytes() == document for p in cached] == [True]
    assert not (worker_host / "shop").exists()
    assert list((daemon.home / "sessions" / "shop" / "media" / "tmp").iterdir()) == []

    # No chunk or ack of these transfers was refused as a bad frame.
    for client in ("acme", "shop"):
        status = await daemon.status(client)
        assert status["bad_frames"] == 0, status
