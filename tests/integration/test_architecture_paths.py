"""The two paths of docs/architecture.md, measured (issue 10): the wamc/ and workers/ files on the
call stacks while one send and one incoming message cross a real daemon and worker.

tests/support/pathtrace/sitecustomize.py, loaded through PYTHONPATH in the daemon and (inherited)
its worker, records the stack — across ``create_task`` hops — of every call that carries this
test's marker text. Each side is cut at its sink: the daemon's frame send (ZeroMQ) and the
worker's ``Connection.send`` of ``Runtime.evaluate`` (workers/cdp.py) for a send; the worker's frame send and the daemon's WebSocket frame
for an incoming message. The files must be exactly the ones docs/architecture.md lists, and at
most 8 per side.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from tests.integration.test_events_ws import Consumer
from tests.support import REPO, Daemon, wait_for

PHONE = "5511900000881"
CONTACT = "5511955550881"
MAX_FILES = 8
SINKS = [
    "zmq/_future.py::send_multipart",  # the daemon's ROUTER
    "zmq/_future.py::send",  # the worker's DEALER
    "workers/cdp.py::send",  # the worker's command to Chromium
    "aiohttp/web_ws.py::send_str",
]
# (path, side) -> the heading of its list in docs/architecture.md
LISTS = {
    ("send", "daemon"): "A send, daemon side",
    ("send", "worker"): "A send, worker side",
    ("incoming", "worker"): "An incoming message, worker side",
    ("incoming", "daemon"): "An incoming message, daemon side",
}


def documented() -> dict[tuple[str, str], list[str]]:
    """The files named in each numbered list of docs/architecture.md, in order."""
    text = (REPO / "docs" / "architecture.md").read_text()
    found = {}
    for key, heading in LISTS.items():
        match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", text, re.S | re.M)
        assert match, f"docs/architecture.md has no section {heading!r}"
        items = re.findall(r"^\d+\. .*?`((?:wamc|workers)/[\w/]+\.py)`", match.group(1), re.M)
        found[key] = list(dict.fromkeys(items))
    return found


def measured(trace_dir: Path, markers: dict[str, str]) -> dict[tuple[str, str], set[str]]:
    """Per (path, side): the files on the stacks of marked calls up to that side's first sink."""
    records: dict[int, list[dict[str, Any]]] = {}
    for path in trace_dir.glob("trace-*.jsonl"):
        records[int(path.stem.split("-")[1])] = [
            json.loads(x) for x in path.read_text().split("\n") if x
        ]
    found: dict[tuple[str, str], set[str]] = {}
    for name, marker in markers.items():
        for lines in records.values():
            mine = sorted((r for r in lines if r["marker"] == marker), key=lambda r: r["seq"])
            sink = next((i for i, r in enumerate(mine) if r["sink"]), None)
            if sink is None:
                continue
            files = found.setdefault((name, mine[sink]["side"]), set())
            for r in mine[: sink + 1]:
                files.update(r["files"])
    return found


async def test_send_and_incoming_paths_match_the_docs(
    make_daemon: Any, sim_http: Any, tmp_path: Path
) -> None:
    trace_dir = tmp_path / "trace"
    trace_dir.mkdir()
    markers = {
        "send": f"trace-send-{secrets.token_hex(6)}",
        "incoming": f"trace-in-{secrets.token_hex(6)}",
    }
    spec = {
        "dir": str(trace_dir),
        "repo": str(REPO),
        "roots": [str(REPO / "wamc") + os.sep, str(REPO / "workers") + os.sep],
        "markers": list(markers.values()),
        "sinks": SINKS,
    }
    path = os.pathsep.join(
        filter(None, [str(REPO / "tests/support/pathtrace"), os.environ.get("PYTHONPATH")])
    )
    daemon: Daemon = await make_daemon(
        {"PYTHONPATH": path, "WAMC_TEST_PATH_TRACE": json.dumps(spec)}
    )
    await daemon.connect_scanned(sim_http, "paths", PHONE)

    code, sent = await daemon.call(
        "POST", "/api/clients/paths/send-message", json={"to": CONTACT, "text": markers["send"]}
    )
    assert code == 201, sent
    async with Consumer(daemon, "client=paths") as consumer:
        await sim_http.deliver(PHONE, CONTACT, markers["incoming"])

        def arrived() -> bool:
            return any(
                e.get("data", {}).get("body") == markers["incoming"] for e in consumer.events
            )

        await wait_for(arrived, timeout=60, what="the incoming message on the WebSocket")

    got = measured(trace_dir, markers)
    docs = documented()
    assert set(got) == set(LISTS), f"sides seen: {sorted(got)}"
    for key in LISTS:
        assert sorted(got[key]) == sorted(docs[key]), f"{key}: traced {sorted(got[key])}"
    assert all(len(docs[key]) <= MAX_FILES for key in LISTS), {k: len(docs[k]) for k in LISTS}
