"""Media in the dashboard's client details (issue 11, item 12), in a real browser against a real
daemon, worker and the simulator: an incoming image shows as a thumbnail (the download endpoint
fetched with the key, shown as a blob: URL under the page's CSP), a document gets a download
button, and a file sent from the dashboard reaches the simulator byte for byte. No console error,
no failed request."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from typing import Any

from playwright.async_api import Browser, expect

from tests.e2e.conftest import artifacts_dir, open_dashboard, sign_in
from tests.support import Daemon, wait_for
from wamc.simulator.media import pdf, png

# The RGB bytes of an <img> drawn on a canvas, hashed.
PIXELS_SHA256 = """async (img) => {
    const c = document.createElement("canvas");
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const ctx = c.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
    const rgb = new Uint8Array((rgba.length / 4) * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4) {
        rgb[j++] = rgba[i]; rgb[j++] = rgba[i + 1]; rgb[j++] = rgba[i + 2];
    }
    const d = await crypto.subtle.digest("SHA-256", rgb);
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}"""
PHONE = "5511900000401"
PEER = "5511988880401"


def rgb_sha256(png_bytes: bytes) -> str:
    """The SHA-256 of an 8-bit RGB PNG's pixels (the simulator's PNGs: one IDAT, filter 0)."""
    width, height = struct.unpack(">II", png_bytes[16:24])
    start = png_bytes.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", png_bytes[start - 8 : start - 4])
    raw = zlib.decompress(png_bytes[start : start + length])
    stride = 1 + width * 3
    assert len(raw) == stride * height and all(raw[y * stride] == 0 for y in range(height))
    return hashlib.sha256(
        b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))
    ).hexdigest()


async def test_thumbnail_of_an_incoming_image_and_a_file_sent_from_the_dashboard(
    browser: Browser, daemon: Daemon, sim_http: Any
) -> None:
    await daemon.connect_scanned(sim_http, "media", PHONE)
    image = png(120, 80, seed=11)
    got = await sim_http.post(
        "/control/media",
        {
            "to": PHONE,
            "from": PEER,
            "kind": "image",
            "caption": "the chart",
            "data": base64.b64encode(image).decode(),
            "mimetype": "image/png",
        },
    )
    doc = await sim_http.post(
        "/control/media", {"to": PHONE, "from": PEER, "kind": "document", "caption": "terms"}
    )

    async def stored() -> bool:
        code, body = await daemon.call("GET", "/api/clients/media/messages/recent")
        return code == 200 and {got["id"], doc["id"]} <= {m["id"] for m in body["messages"]}

    await wait_for(stored, 30, what="both media messages stored")

    page = await open_dashboard(browser, daemon)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    await sign_in(page)
    card = page.locator('li.card[data-id="media"]')
    await expect(card.locator(".badge")).to_have_text("Connected", timeout=60_000)
    await card.locator('button[data-act="details"]').click()

    item = page.locator(f'#detail-messages li[data-msg="{got["id"]}"]')
    await expect(item).to_have_attribute("data-thumb", "loaded", timeout=30_000)
    thumb = item.locator(".media-thumb img")
    await expect(thumb).to_be_visible()
    src = await thumb.get_attribute("src")
    assert src is not None and src.startswith("blob:"), src
    # The thumbnail is the file itself: its pixels, read back through a canvas, are the PNG's.
    assert await thumb.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [120, 80]
    assert await thumb.evaluate(PIXELS_SHA256) == rgb_sha256(image)
    doc_item = page.locator(f'#detail-messages li[data-msg="{doc["id"]}"]')
    await expect(doc_item.locator("button.media-download")).to_contain_text("Download")

    # A file sent from the dashboard: multipart to send-media, the same bytes at WhatsApp.
    document = pdf("sent from the dashboard")
    await page.fill("#send-to", f"+{PEER}")
    await page.set_input_files(
        "#send-file",
        files=[{"name": "terms.pdf", "mimeType": "application/pdf", "buffer": document}],
    )
    await page.fill("#send-file-caption", "signed")
    await page.click("#send-file-form button[type=submit]")
    await expect(page.locator("#send-file-result")).to_contain_text(
        "Sent terms.pdf as document", timeout=30_000
    )

    async def arrived() -> dict[str, Any] | None:
        found = [m for m in await sim_http.sent(PHONE) if m.get("filename") == "terms.pdf"]
        return found[0] if found else None

    record = await wait_for(arrived, 30, what="the dashboard's file at the simulator")
    assert record["sha256"] == hashlib.sha256(document).hexdigest()
    assert record["caption"] == "signed" and record["mimetype"] == "application/pdf"
    await page.screenshot(path=str(artifacts_dir() / "dashboard-media.png"))

    assert await page.evaluate("window.wamcMedia.stats") == {"thumbs": 1, "failed": 0, "sent": 1}
    assert problems == [], problems

    # Closing the details gives the blob URLs back.
    assert await page.evaluate("window.wamcMedia.liveUrls()") == 1
    await page.locator("#detail-dialog .dialog-head button").click()
    await expect(page.locator("#detail-dialog")).to_be_hidden()
    await page.wait_for_function("() => window.wamcMedia.liveUrls() === 0")  # on close
