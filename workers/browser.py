"""One persistent Chromium per worker, driven by Playwright, with wa-js and our bridge injected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from loguru import logger
from playwright.async_api import BrowserContext, Page, async_playwright

from wamc.wire.launch import BrowserProxy
from wamc.wire.process import browser_cmdline_matches, kill_tree
from workers import stdio
from workers.page_events import Dropped, clean
from workers.page_gate import PageGate, Throttled

BRIDGE_JS = Path(__file__).with_name("bridge.js")
# WhatsApp Web refuses user agents containing "HeadlessChrome".
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.0.0 Safari/537.36"
)
# Memory (issue 13; measured by bench/memory.py, figures in docs/benchmarks.md). Each is a mode
# Chromium ships and supports, and none changes what WhatsApp Web can do:
MEMORY_ARGS = [
    # The network service in the browser process instead of its own (≈ 9 MB private per
    # client): Chromium's own choice on low-memory Android. WhatsApp Web sees the same network
    # stack; a crash in it now ends the browser, which the worker restarts like any crash.
    # Chromium honours only the LAST --enable-features: Playwright's own (chromiumSwitches'
    # enabledFeatures, checked by tests/unit/test_memory_flags.py) are repeated here.
    "--enable-features=CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies,"
    "NetworkServiceInProcess2",
    # With --disable-gpu the GPU process still loads SwiftShader for WebGL (Playwright passes
    # --enable-unsafe-swiftshader); without it that process only composites (≈ 10 MB private
    # less). The page loses WebGL, as on a machine whose GPU Chrome blocklists: WhatsApp Web
    # draws with the DOM, 2D canvas (the QR code) and <img>/<video>, which are unchanged.
    "--disable-software-rasterizer",
    # The renderer's V8 in its memory-saving mode (as on low-memory devices): the heap grows
    # less and is collected sooner. The heavy page's renderer idles at ≈ 125 MB private instead
    # of ≈ 365 MB; the same JavaScript runs, the cost is GC time (see the load times in
    # docs/benchmarks.md). No heap limit is set: a large account is never cut short.
    "--js-flags=--optimize-for-size",
]
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--mute-audio",
    *MEMORY_ARGS,
]

EmitFn = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class BrowserError(RuntimeError):
    pass


def use_sandbox() -> bool:
    """Chromium keeps its sandbox (user namespaces) unless we are root, where it cannot start.

    Playwright adds ``--no-sandbox`` unless told otherwise (``chromium_sandbox``).
    """
    return os.geteuid() != 0


def chrome_major(executable: str | None, timeout: float = 5.0) -> str:
    """Chrome major version for a believable user agent; a recent default if unknown.

    No shell: the path is one argv entry, whatever characters it holds.
    """
    if executable:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            out = subprocess.run(
                [executable, "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            ).stdout
            for token in out.split():
                if token[:1].isdigit() and "." in token:
                    return token.split(".")[0]
    return "140"


class Browser:
    """A persistent browser context on ``profile_dir`` showing ``url``."""

    def __init__(
        self,
        profile_dir: Path,
        url: str,
        wajs_path: Path,
        executable: str | None,
        on_event: EmitFn,
        proxy: BrowserProxy | None = None,
    ) -> None:
        self.profile_dir = profile_dir
        self.proxy = proxy  # from the daemon at spawn (wamc/wire/launch.py); may hold a password
        self.url = url
        self.wajs_path = wajs_path
        self.executable = executable
        self.on_event = on_event
        self._pw: Any = None
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.pid: int | None = None
        self.closed = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.gate = PageGate(self._emit)
        self.foreign_calls = Throttled("binding called from outside the main frame: ignored")
        self.bad_events = Throttled("malformed page event dropped")
        self.bridge_errors = Throttled("bridge dropped a WPP event")

    async def start(self) -> None:
        if not self.wajs_path.is_file():
            raise BrowserError(f"wa-js bundle not found at {self.wajs_path} (run scripts/setup.sh)")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.closed = asyncio.Event()
        stdio.recap()  # the previous driver is gone: the new one inherits a capped stderr
        self._pw = await async_playwright().start()
        try:
            self.context = await self._pw.chromium.launch_persistent_context(
                user_data_dir=str(self.profile_dir),
                executable_path=self.executable,
                headless=True,
                args=CHROMIUM_ARGS,
                chromium_sandbox=use_sandbox(),
                user_agent=USER_AGENT.format(major=chrome_major(self.executable)),
                service_workers="block",
                viewport={"width": 1280, "height": 800},
                **({"proxy": self.proxy.playwright()} if self.proxy is not None else {}),
            )
        except Exception as exc:
            await self._pw.stop()
            raise BrowserError(f"cannot launch Chromium: {exc}") from exc
        self.pid = find_browser_pid(self.profile_dir)
        if self.proxy is not None:  # the server only: never the credentials
            logger.info("browser goes through the proxy {}", self.proxy.server)
        closed = self.closed
        self.context.on("close", lambda _ctx: closed.set())
        await self.context.add_init_script(
            script="window.WPPConfig = Object.assign({disableGoogleAnalytics: true}, window.WPPConfig || {});"
        )
        await self.context.add_init_script(path=str(self.wajs_path))
        await self.context.add_init_script(path=str(BRIDGE_JS))
        await self.context.expose_binding("__wamcEmit", self._on_binding)
        pages = self.context.pages
        self.page = pages[0] if pages else await self.context.new_page()
        for extra in pages[1:]:
            await extra.close()
        self.page.on("crash", lambda _p: self._emit("page_crash", {}))
        self.page.on("framenavigated", self._on_navigated)

    def _on_navigated(self, frame: Any) -> None:
        """WhatsApp Web must stay open: a navigation to another origin is undone."""
        page = self.page
        if page is None or frame != page.main_frame:
            return
        if not allowed_location(frame.url, self.url):
            logger.warning("page navigated away to another origin: going back")
            self._keep(asyncio.ensure_future(self.open()))

    def has_profile(self) -> bool:
        return self.profile_dir.is_dir() and any(self.profile_dir.iterdir())

    def move_profile_aside(self) -> Path:
        """Keep an unusable profile for inspection; the next launch starts a fresh one."""
        target = self.profile_dir.with_name(f"profile.unusable-{int(time.time())}")
        if self.profile_dir.exists():
            self.profile_dir.rename(target)
        return target

    async def open(self) -> None:
        """Navigate to WhatsApp Web; retried by the caller while the network is down."""
        assert self.page is not None
        await self.page.goto(self.url, wait_until="domcontentloaded", timeout=60_000)

    async def _on_binding(self, source: Any, *args: Any) -> None:
        """``__wamcEmit(name, data)`` from the page: only WhatsApp's main frame may call it, and
        what it sends is checked and paced before the worker sees it (workers/page_events.py)."""
        page = self.page
        frame = source.get("frame") if isinstance(source, dict) else None
        if page is None or frame is None or frame is not page.main_frame:
            self.foreign_calls.hit(f"from {_short_url(frame)}")
            return
        if not allowed_location(frame.url, self.url) or frame.url.startswith("about:"):
            self.foreign_calls.hit(f"from the main frame at {_short_url(frame)}")
            return
        name, data = (*args, None, None)[:2]
        try:
            name, data = clean(name, data)
        except Dropped as exc:
            self.bad_events.hit(str(exc))
            return
        if name == "bridge_error":  # logged here (rate-limited), never passed on
            self.bridge_errors.hit(f"{data['event']}: {data['error']}")
            return
        self.gate.offer(name, data)

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        result = self.on_event(name, data)
        if asyncio.iscoroutine(result):
            self._keep(asyncio.ensure_future(result))

    def _keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a reference until done: the event loop keeps only weak ones."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def call(self, fn: str, *args: Any, timeout: float = 30.0) -> Any:
        """Call ``window.__wamc.<fn>(*args)`` in the page."""
        if self.page is None:
            raise BrowserError("no page")
        expr = f"(args) => window.__wamc.{fn}(...args)"
        return await asyncio.wait_for(self.page.evaluate(expr, list(args)), timeout)

    async def reload(self) -> None:
        if self.page is not None:
            await self.page.goto(self.url, wait_until="domcontentloaded", timeout=60_000)

    async def close(self, keep_running: bool = False) -> bool:
        """Close gracefully, so Chromium flushes the profile; SIGKILL only what is left.

        ``keep_running``: the worker goes on (profile recovery); the close is not a crash.
        True when the browser closed by itself.
        """
        if keep_running:
            self.closed = asyncio.Event()  # waiters of the old browser's close are not woken
        pid = self.pid
        graceful = self.context is None
        try:
            if self.context is not None:
                await asyncio.wait_for(self.context.close(), 15)
                graceful = True
        except Exception as exc:
            logger.warning("browser did not close gracefully: {}", first_line(exc))
        with contextlib.suppress(Exception):
            if self._pw is not None:
                await asyncio.wait_for(self._pw.stop(), 10)
        if pid and kill_browser_tree(pid, self.profile_dir):
            logger.warning("browser {} still running after its close: SIGKILLed", pid)
            graceful = False
        elif pid and graceful:
            logger.info("browser {} closed cleanly", pid)
        return graceful


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None when it has no such origin."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host or port is None:
        return None
    return scheme, host.rstrip("."), port


def allowed_location(url: str, whatsapp_url: str) -> bool:
    """The page may show WhatsApp Web's exact origin (scheme, host and port) or about:blank."""
    if url == "about:blank":
        return True
    mine = _origin(whatsapp_url)
    return mine is not None and _origin(url) == mine


def _short_url(frame: Any) -> str:
    try:
        return repr(str(frame.url)[:120]) if frame is not None else "an unknown frame"
    except Exception:
        return "a frame"


def find_browser_pid(profile_dir: Path) -> int | None:
    """The Chromium main process using ``profile_dir`` (Playwright starts it in its own session)."""
    me = psutil.Process()
    for proc in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if browser_cmdline_matches(proc.cmdline(), profile_dir):
                return proc.pid
    return None


def kill_browser_tree(pid: int, profile_dir: Path) -> bool:
    """SIGKILL the browser's process group and stragglers, if ``pid`` is still our Chromium.

    After a graceful close the pid is gone and may be reused: the profile proves it is ours.
    True when something was killed."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or not browser_cmdline_matches(
            proc.cmdline(), profile_dir
        ):
            return False
    except psutil.Error:
        return False
    kill_tree(pid)
    logger.debug("browser {} killed", pid)
    return True
