"""The dashboard's Nodes panel and where each client runs (issue 14 item 3), in a real browser.

Against a real daemon on a real Ray cluster on this machine (loopback only, token auth; one
module-scoped cluster: a node with 2 wamc slots and one with 1; the Ray test ends by killing
the small one), real workers and the simulator; two browsers for workers at most. Placement is
deterministic (most free slots, then memory, then node id), so every step knows where each
client must land. And with the local backend: no nodes panel, no node row, no Move button, no
failing request. Screenshots (desktop, phone, dark) go to $WAMC_TEST_ARTIFACTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Response, expect

from tests.e2e.conftest import PHONE, artifacts_dir, open_dashboard, sign_in
from tests.support import Daemon, wait_for
from tests.support.ray_cluster import LocalCluster, end_agents, local_cluster, nodes_of, ray_env

pytestmark = pytest.mark.timeout(300)
SLOW = 90_000  # ms: a worker with its Chromium starting (or moving) on a loaded 2-core machine


@pytest.fixture(scope="module")
def two_nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, str, str]]:
    """The cluster, its node with 2 slots ("big") and its node with 1 ("small")."""
    with local_cluster(tmp_path_factory.mktemp("ray"), 0) as made:
        big = made.add(slots=2)
        small = made.add(slots=1)
        yield made, big, small


def card(page: Page, client: str) -> Any:
    return page.locator(f'li.card[data-id="{client}"]')


def node_card(page: Page, node: str) -> Any:
    return page.locator(f'#node-list li[data-node="{node}"]')


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(artifacts_dir() / f"dashboard-nodes-{name}.png"), full_page=True)


async def ready(daemon: Daemon, wanted: set[str]) -> None:
    async def probe() -> bool:
        return {k for k, v in (await nodes_of(daemon)).items() if v["alive"]} == wanted

    await wait_for(probe, 90, 0.3, what="both nodes with their agents")


async def placed(daemon: Daemon, client: str) -> str:
    """The node ``client`` runs on once it shows a QR."""
    status = await daemon.wait_state(client, "qr", timeout=120)
    assert status["node"], status
    return str(status["node"])


async def move_in_ui(page: Page, client: str, node: str) -> None:
    await card(page, client).locator('button[data-act="move"]').click()
    dialog = page.locator("#move-dialog")
    await expect(dialog).to_be_visible()
    await page.select_option("#move-node", node)
    await dialog.locator("button[type=submit]").click()


async def test_nodes_panel_shows_slots_and_clients_moves_and_drains(
    browser: Browser, make_daemon: Any, two_nodes: tuple[LocalCluster, str, str]
) -> None:
    cluster, big, small = two_nodes
    daemon = await make_daemon(ray_env(cluster))
    try:
        await ready(daemon, {big, small})
        code, body = await daemon.call("POST", "/api/clients/x/connect")
        assert code == 202, body
        assert await placed(daemon, "x") == big  # 2 free slots beat 1

        page = await open_dashboard(browser, daemon)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await sign_in(page)
        panel = page.locator("#nodes")
        await expect(panel).to_be_visible()
        await expect(page.locator("#node-list > li")).to_have_count(2)
        await expect(page.locator("#nodes-summary")).to_have_text("2 nodes · 1 of 3 slots used")
        b, s = node_card(page, big), node_card(page, small)
        await expect(b.locator(".nid")).to_have_text(big[:12])
        await expect(b.locator(".badge")).to_have_text("Alive")
        await expect(b.locator('[data-n="slots"]')).to_have_text("1 used · 1 free of 2")
        await expect(b.locator('[data-n="clients"]')).to_have_text("x")
        await expect(s.locator('[data-n="slots"]')).to_have_text("0 used · 1 free of 1")
        await expect(s.locator('[data-n="clients"]')).to_have_text("none")
        await expect(b.locator('[data-n="address"]')).to_contain_text("127.0.0.1")
        await expect(b.locator('[data-n="memory"]')).to_contain_text(" free of ", timeout=20_000)
        await expect(b.locator('[data-n="cpu"]')).to_contain_text("%")
        await expect(card(page, "x").locator('[data-f="node"]')).to_have_text(big[:12])
        await shot(page, "desktop")

        # Move x to the small node from its card: the card and both nodes follow, no reload.
        await page.evaluate("window.__noReload = true")
        await move_in_ui(page, "x", small)
        await expect(page.locator("#move-dialog")).to_be_hidden()
        await expect(card(page, "x")).to_have_attribute("data-node", small, timeout=SLOW)
        assert await placed(daemon, "x") == small
        await expect(s.locator('[data-n="slots"]')).to_have_text("1 used · 0 free of 1")
        await expect(s.locator('[data-n="clients"]')).to_have_text("x")
        await expect(b.locator('[data-n="clients"]')).to_have_text("none")

        # y lands on the big node (the only free slot); moving it to the full one is refused
        # with the API's own words, and the dialog stays open.
        code, body = await daemon.call("POST", "/api/clients/y/connect")
        assert code == 202, body
        assert await placed(daemon, "y") == big
        await expect(card(page, "y").locator('[data-f="node"]')).to_have_text(big[:12])
        await move_in_ui(page, "y", small)
        move_error = page.locator("#move-error")
        await expect(move_error).to_have_text(f"Not moved: node '{small}' has no free slot")
        await expect(page.locator("#move-dialog")).to_be_visible()
        await page.click("#move-cancel")
        assert (await daemon.status("y"))["node"] == big

        # Drain the small node, confirmed first: it shows draining and x is moved to big.
        await s.locator('button[data-node-act="drain"]').click()
        await expect(page.locator("#confirm-title")).to_have_text("Drain node?")
        await expect(page.locator("#confirm-text")).to_contain_text("its clients (x) are moved")
        await page.click("#confirm-ok")
        await expect(s.locator(".badge")).to_have_text("Draining")
        await expect(s).to_have_attribute("data-state", "draining")
        await expect(s.locator('button[data-node-act="undrain"]')).to_be_visible()
        await expect(s.locator('button[data-node-act="drain"]')).to_be_hidden()
        assert (await nodes_of(daemon))[small]["draining"] is True
        await expect(card(page, "x")).to_have_attribute("data-node", big, timeout=SLOW)
        await expect(s.locator('[data-n="clients"]')).to_have_text("none", timeout=20_000)
        await expect(b.locator('[data-n="slots"]')).to_have_text("2 used · 0 free of 2")
        await shot(page, "draining")

        # A move to the draining node: the API's node_unavailable detail is shown.
        await move_in_ui(page, "y", small)
        await expect(move_error).to_have_text(f"Not moved: node '{small}' is lost or draining")
        await page.click("#move-cancel")

        # Undo the drain: alive again, Drain offered again; the moved client stays where it went.
        await s.locator('button[data-node-act="undrain"]').click()
        await expect(s.locator(".badge")).to_have_text("Alive")
        await expect(s.locator('button[data-node-act="drain"]')).to_be_visible()
        assert (await nodes_of(daemon))[small]["draining"] is False
        assert (await daemon.status("x"))["node"] == big

        # The confirm dialog asked about a drain; a delete asks in its own words again.
        await card(page, "y").locator('button[data-act="delete"]').click()
        await expect(page.locator("#confirm-title")).to_have_text("Delete client?")
        await expect(page.locator("#confirm-ok")).to_have_text("Delete")
        await page.click("#confirm-cancel")
        assert await page.evaluate("window.__noReload") is True
        # The console shows only the two refused moves (Chromium logs every 4xx answer).
        refused = [e for e in errors if "status of 409" in e]
        assert len(refused) == 2 and len(errors) == 2, errors

        # The small node dies (its raylet killed; the last use of this module's cluster): no
        # event says so, the panel's bounded refresh shows it lost.
        cluster.remove(small)
        await expect(s.locator(".badge")).to_have_text("Lost", timeout=60_000)
        await expect(s).to_have_attribute("data-state", "lost")
        await expect(s.locator('[data-n="memory"]')).to_have_text("—")  # no stale figures
        await expect(s.locator('[data-n="cpu"]')).to_have_text("—")
        await expect(page.locator("#nodes-summary")).to_have_text("2 nodes · 2 of 2 slots used")
        assert (await nodes_of(daemon))[small]["alive"] is False

        phone = await open_dashboard(browser, daemon, PHONE, color_scheme="dark")
        await sign_in(phone)
        await expect(node_card(phone, small).locator(".badge")).to_have_text("Lost")
        await expect(card(phone, "x").locator('[data-f="node"]')).to_have_text(big[:12])
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width  # nothing wider than the phone
        await shot(phone, "phone-dark")
    finally:
        end_agents(daemon)


async def test_local_backend_has_no_nodes_panel(browser: Browser, daemon: Daemon) -> None:
    code, body = await daemon.call("GET", "/api/nodes")
    assert (code, body) == (200, {"backend": "local", "nodes": []})
    code, body = await daemon.call("POST", "/api/clients/solo/connect")
    assert code == 202, body

    page = await open_dashboard(browser, daemon)
    failed: list[str] = []
    errors: list[str] = []

    def on_response(r: Response) -> None:
        if r.status >= 400:
            failed.append(f"{r.request.method} {r.url} -> {r.status}")

    page.on("response", on_response)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in(page)
    solo = card(page, "solo")
    await expect(solo).to_be_visible()
    await wait_for(
        lambda: page.evaluate("window.wamcNodes.backend === 'local'"),
        20,
        what="the dashboard to read /api/nodes",
    )
    await expect(page.locator("#nodes")).to_be_hidden()
    await expect(solo.locator('[data-row="node"]')).to_be_hidden()
    await expect(solo.locator('button[data-act="move"]')).to_be_hidden()
    await expect(solo.locator('button[data-act="details"]')).to_be_visible()
    assert await page.locator("#app").get_attribute("data-cluster") is None
    assert failed == [] and errors == [], (failed, errors)
    await shot(page, "local")
