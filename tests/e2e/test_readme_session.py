"""The README's "Try it without a phone" session, as a new user would follow it, then its result
in the dashboard: ``start.sh --simulator`` to a delivered message shown on the client's card.

The commands are read from the README itself (so the test breaks when the README drifts) and run
one by one through bash in a copied home on free ports. The copy holds what start.sh needs
(scripts/, supervisord.conf, a .venv link to this interpreter's); PYTHONPATH makes the daemon,
the simulator and the CLI import this checkout, WAMC_HOME points the CLI at the copy. As root,
wamc runs as the service user, like on a server. The dashboard is opened at the URL the README
gives, signed in with the key from the command the README names, and must show the client
connected with the message, without a console error.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, artifacts_dir, sign_in
from tests.service_user import SERVICE_USER, ensure_service_user, open_folder
from tests.support import REPO, free_port, processes_under

SLOW = 90_000  # ms: a worker with its Chromium on a loaded 2-core machine


def readme_section(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ )", text, re.M | re.S)
    assert match, f"README.md has no section {heading!r}"
    return match.group(1)


def sh_block(heading: str) -> list[str]:
    """The command lines of the first ```sh block in the README section ``heading``."""
    block = re.search(r"^```sh\n(.*?)^```", readme_section(heading), re.M | re.S)
    assert block, f"README.md's {heading!r} has no sh block"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def words(line: str) -> list[str]:
    return shlex.split(line, comments=True)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def run(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One copied-and-pasted line, as a shell runs it."""
    return subprocess.run(
        ["bash", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )


def copied_home(base: Path) -> Path:
    home = base / "wamc"
    home.mkdir()
    shutil.copytree(REPO / "scripts", home / "scripts")
    shutil.copy(REPO / "supervisord.conf", home / "supervisord.conf")
    (home / ".venv").symlink_to(Path(sys.prefix))
    return home


async def test_readme_simulator_session_ends_on_the_dashboard(
    browser: Browser, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:
            ensure_service_user()
            user = SERVICE_USER
            base = stack.enter_context(open_folder())
        else:
            user, base = pwd.getpwuid(os.getuid()).pw_name, tmp_path
        home = copied_home(base)
        port, sim_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WAMC_")},
            "WAMC_SKIP_SETUP": "1",  # the copy uses this checkout's set-up
            "WAMC_USER": user,
            "WAMC_PORT": str(port),
            "WAMC_SIMULATOR_PORT": str(sim_port),
            "WAMC_HOME": str(home),  # the copy's home (the code is this checkout's)
            "PYTHONPATH": str(REPO),
        }
        try:
            await session(browser, home, env, port, sim_port)
        finally:
            run("bash scripts/stop.sh --all", env, home)
            for proc in processes_under(home):
                proc.kill()


async def session(
    browser: Browser, home: Path, env: dict[str, str], port: int, sim_port: int
) -> None:
    lines = sh_block("Try it without a phone")
    assert words(lines[0]) == ["bash", "scripts/start.sh", "--simulator"], lines
    out: list[subprocess.CompletedProcess[str]] = []
    for line in lines:  # the README's session, command for command
        done = run(line, env, home)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        out.append(done)
    started, *_, status = out

    sim_url = f"http://127.0.0.1:{sim_port}/"
    assert f"  WhatsApp:   {sim_url}\n" in started.stdout, started.stdout
    assert f"  dashboard:  http://127.0.0.1:{port}/admin/instances\n" in started.stdout
    assert (home / "run" / "mode").read_text().strip() == "simulator"

    # What the session did, read back from its own commands.
    argvs = [words(line) for line in lines]
    scan = next(a for a in argvs if a[-3:-1] == ["simulator", "scan"])
    deliver = next(a for a in argvs if a[1:3] == ["simulator", "deliver"])
    client = scan[-1]
    assert deliver[3] == client, deliver
    sender, text = option(deliver, "--from"), option(deliver, "--text")
    phone = json.loads(out[argvs.index(scan)].stdout)["phone"]

    # `wamc status` (JSON when piped): the simulator's URL, the client connected.
    shown = json.loads(status.stdout)
    assert shown["system"]["whatsapp_url"] == sim_url
    assert [(c["id"], c["state"]) for c in shown["clients"]] == [(client, "connected")]

    await on_the_dashboard(browser, home, env, port, client, phone, sender, text)
    await modes_do_not_mix(home, env)


async def on_the_dashboard(
    browser: Browser,
    home: Path,
    env: dict[str, str],
    port: int,
    client: str,
    phone: str,
    sender: str,
    text: str,
) -> None:
    """The README's dashboard URL and key command; the card and the details show the session."""
    url = re.search(r"Open `(http://[^`]+)`", readme_section("Dashboard"))
    assert url, "README.md's Dashboard section names no URL to open"
    key_cmd = sh_block("API key")
    assert len(key_cmd) == 1, key_cmd
    key = run(key_cmd[0], env, home)
    assert key.returncode == 0, key.stderr

    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        await page.goto(url.group(1).replace(":4000/", f":{port}/"))
        assert page.url == f"http://127.0.0.1:{port}/admin/instances", page.url
        await sign_in(page, key.stdout.strip())
        await expect(page.locator("#app")).to_be_visible()
        await expect(page.locator("#conn")).to_have_attribute("data-live", "1")
        await the_card_and_details(page, client, phone, sender, text)
        assert errors == [], errors
    finally:
        await page.screenshot(path=str(artifacts_dir() / "readme-session-details.png"))
        await context.close()


async def the_card_and_details(page: Page, client: str, phone: str, sender: str, text: str) -> None:
    card = page.locator(f'li.card[data-id="{client}"]')
    await expect(page.locator("li.card")).to_have_count(1)
    await expect(card.locator(".badge")).to_have_text("Connected", timeout=SLOW)
    await expect(card.locator('[data-f="me"]')).to_have_text(f"+{phone}")
    await expect(card.locator('[data-f="last_message"]')).not_to_have_text("—")
    await expect(page.locator('[data-total="connected"]')).to_have_text("1")

    await card.locator('button[data-act="details"]').click()
    await expect(page.locator("#detail-dialog")).to_be_visible()
    item = page.locator("#detail-messages li")
    await expect(item).to_have_count(1)
    await expect(item.locator(".body")).to_have_text(text)
    await expect(item.locator(".meta")).to_contain_text(f"← +{sender}")


async def modes_do_not_mix(home: Path, env: dict[str, str]) -> None:
    """What the README says around the block: start.sh refuses to mix the modes; the running
    daemon names scripts/stop.sh; a second start.sh --simulator leaves the running one."""
    mixed = run("bash scripts/start.sh", env, home)
    assert mixed.returncode == 1
    assert "already runs wamc against the simulator" in mixed.stderr
    assert "bash scripts/stop.sh --all && bash scripts/start.sh\n" in mixed.stderr

    second = run(".venv/bin/wamc serve", env, home)
    assert second.returncode == 1 and "already runs" in second.stderr
    assert "bash scripts/stop.sh" in second.stderr

    again = run("bash scripts/start.sh --simulator", env, home)
    assert again.returncode == 0 and "already RUNNING" in again.stderr, again.stderr
