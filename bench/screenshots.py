"""Screenshots of the dashboard's analytics view for docs/: light and dark at desktop width, and
phone width, over 30 days of demo counters (bench/analytics_data.py) served by a real daemon.

.venv/bin/python -m bench.screenshots [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import Browser, async_playwright  # noqa: E402

from bench.analytics_data import seed  # noqa: E402
from tests.support import API_KEY, Daemon, running_simulator  # noqa: E402
from wamc.config import load_settings  # noqa: E402

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CLIENTS = ["acme", "bakery", "clinic", "dental_2", "garage", "hotel-sul", "pizza", "shop_2"]
SHOTS = [  # file, viewport, colour scheme
    ("analytics-light.png", {"width": 1280, "height": 900}, "light"),
    ("analytics-dark.png", {"width": 1280, "height": 900}, "dark"),
    ("analytics-phone.png", {"width": 390, "height": 844}, "light"),
]


async def shoot(browser: Browser, d: Daemon, path: Path, viewport: dict, scheme: str) -> None:
    context = await browser.new_context(viewport=viewport, color_scheme=scheme)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(d.base + "/admin/instances#analytics")
    await page.fill("#signin-key", API_KEY)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#an-tiles .an-tile")  # drawn (wait_for_function: CSP)
    await page.wait_for_selector("#an-clients tbody tr")
    await page.mouse.move(0, 0)  # no hover highlight on a chart
    await page.screenshot(path=str(path), full_page=True)
    await context.close()
    print(f"wrote {path}")


async def main(out: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="wamc-shots-")) / "home"
    try:
        await seed(home, days=30, ids=CLIENTS)
        async with running_simulator() as sim:
            d = Daemon(home, sim)
            await d.start()
            try:
                exe = load_settings().resolved_browser_path()
                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
                    for name, viewport, scheme in SHOTS:
                        await shoot(browser, d, out / name, viewport, scheme)
                    await browser.close()
            finally:
                await d.close()
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    asyncio.run(main(parser.parse_args().out))
