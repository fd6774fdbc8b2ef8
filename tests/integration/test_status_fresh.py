"""``GET /api/clients/{id}/status`` answers from a cache of encoded bytes (wamc/daemon/registry.py)
behind a router that remembers matches (wamc/api/router.py): a change of the client must be in
the very next answer, and a remembered path must still answer for the client it names."""

from __future__ import annotations

from typing import Any

from tests.support import Daemon, wait_for

PHONE = "5511900007301"


async def status(daemon: Daemon, client: str) -> dict[str, Any]:
    code, body = await daemon.call("GET", f"/api/clients/{client}/status")
    assert code == 200, body
    return body  # type: ignore[no-any-return]  # a JSON object


async def test_a_change_is_in_the_next_status(daemon: Daemon, sim_http: Any) -> None:
    await daemon.connect_scanned(sim_http, "acme", PHONE)
    for _ in range(20):  # answered (and cached) many times over
        seen = await status(daemon, "acme")
        assert seen["state"] == "connected" and seen["me"] is not None
    code, body = await daemon.call("POST", "/api/clients/acme/disconnect")
    assert code == 202, body
    # The answer of the disconnect is the state at that moment; the next status is never older.
    after = await status(daemon, "acme")
    assert after["desired"] == "stopped"

    async def stopped() -> bool:
        return (await status(daemon, "acme"))["state"] == "stopped"

    await wait_for(stopped, 30, what="acme stopped")
    final = await status(daemon, "acme")
    assert final["me"] is None and final["pid"] is None and final["uptime_seconds"] is None


async def test_a_remembered_path_answers_for_its_own_client(daemon: Daemon) -> None:
    for client in ("one", "two"):
        code, body = await daemon.call("POST", f"/api/clients/{client}/connect")
        assert code == 202, body
    for _ in range(3):  # the second time on: from the router's memory
        assert (await status(daemon, "one"))["id"] == "one"
        assert (await status(daemon, "two"))["id"] == "two"
    code, body = await daemon.call("GET", "/api/clients/nobody/status")
    assert code == 404 and body["code"] == "client_not_found"
    code, body = await daemon.call("GET", "/api/clients/one/no-such-thing")
    assert code == 404 and body["code"] == "not_found"
    code, body = await daemon.call("PUT", "/api/clients/one/status")
    assert code == 405 and body["code"] == "method_not_allowed"
    for client in ("one", "two"):
        await daemon.call("DELETE", f"/api/clients/{client}")
