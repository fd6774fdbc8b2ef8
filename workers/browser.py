"""One persistent Chromium per worker, driven over its DevTools pipe, with wa-js and our bridge.

The worker speaks CDP itself (workers/cdp.py): no Playwright driver process per client. What
the page sends through the binding is untrusted and checked before the worker sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from loguru import logger

from wamc.wire.launch import BrowserProxy
from workers import chromium, stdio
from workers.cdp import CdpError, Connection
from workers.interception import Handler, Interception
from workers.page_events import Dropped, clean
from workers.page_gate import PageGate, Throttled
from workers.page_rules import (
    allowed_location,
    end_browser,
    first_line,
    origin_of,
    page_error,
    retrieve,
)

__all__ = ["Browser", "BrowserError", "allowed_location", "first_line"]

HERE = Path(__file__).parent
BRIDGE_JS = HERE / "bridge.js"
PRELOAD_JS = HERE / "preload.js"
BINDING = "__wamcBinding"  # raw; workers/preload.js wraps it as __wamcEmit
PAYLOAD_MAX = 16 << 20  # characters of one binding call; bridge.js sends far less
FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
LOAD_TIMEOUT = 60.0  # seconds from a navigation to WhatsApp Web's DOMContentLoaded
DOCUMENT_WAIT = 10.0  # seconds a call waits for the page's document (a reload under way)

EmitFn = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class BrowserError(RuntimeError):
    pass


class Browser:
    """A persistent Chromium on ``profile_dir`` showing ``url`` in its one page."""

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
        self.proc: asyncio.subprocess.Process | None = None
        self.conn: Connection | None = None
        self.session = ""  # the page's CDP session
        self.page_url = "about:blank"
        self.pid: int | None = None
        self.closed = asyncio.Event()
        self.interception: Interception | None = None
        self._main_frame = ""
        self._contexts: dict[int, str] = {}  # default-world execution context -> frame id
        self._loaded: list[str] = []  # loader ids that reached DOMContentLoaded, newest last
        self._load_waiters: list[asyncio.Future[None]] = []
        self._document = asyncio.Event()  # the main frame has a document to call into
        self._closing: asyncio.Future[bool] | None = None
        self._going_back: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self.gate = PageGate(self._emit)
        self.foreign_calls = Throttled("binding called from outside the main frame: ignored")
        self.bad_events = Throttled("malformed page event dropped")
        self.bridge_errors = Throttled("bridge dropped a WPP event")
        self.went_away = Throttled("page navigated away to another origin: going back")
        self.extra_pages = Throttled("the page opened another page: closed")

    async def start(self) -> None:
        if not self.wajs_path.is_file():
            raise BrowserError(f"wa-js bundle not found at {self.wajs_path} (run scripts/setup.sh)")
        if not self.executable:
            raise BrowserError("no headless Chromium found (run scripts/setup.sh)")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.closed = asyncio.Event()
        self._closing = None
        self._contexts, self._loaded, self._main_frame = {}, [], ""
        self._document.clear()
        stdio.recap()  # the previous browser is gone: the new one inherits a capped stderr
        argv = chromium.command_line(self.executable, self.profile_dir, self.proxy)
        try:
            self.proc, self.conn = await chromium.launch(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            raise BrowserError(f"cannot launch Chromium: {exc}") from exc
        self.pid = self.proc.pid
        self._keep(asyncio.ensure_future(self._watch_close(self.conn, self.closed)))
        try:
            await asyncio.wait_for(self._open_page(self.conn), 60)
        except (CdpError, TimeoutError, OSError, ValueError) as exc:
            await self.close(keep_running=True)
            raise BrowserError(f"cannot launch Chromium: {first_line(exc)}") from exc
        if self.proxy is not None:  # the server only: never the credentials
            logger.info("browser goes through the proxy {}", self.proxy.server)

    async def _watch_close(self, conn: Connection, closed: asyncio.Event) -> None:
        await conn.closed.wait()
        closed.set()

    async def _open_page(self, conn: Connection) -> None:
        """Attach to the one page (closing any other a restored profile opened) and set it up."""
        targets = (await conn.send("Target.getTargets")).get("targetInfos") or []
        pages = [t["targetId"] for t in targets if t.get("type") == "page"]
        if not pages:
            pages = [(await conn.send("Target.createTarget", {"url": "about:blank"}))["targetId"]]
        for extra in pages[1:]:
            await conn.send("Target.closeTarget", {"targetId": extra})
        # Only one WhatsApp Web per profile: a page the page opens (window.open) would be a
        # second instance outside our init scripts, so it is closed as soon as it appears.
        conn.on("Target.targetCreated", lambda p: self._on_target(conn, pages[0], p))
        await conn.send("Target.setDiscoverTargets", {"discover": True})
        with contextlib.suppress(CdpError):  # a worker our init scripts never saw is not kept
            await conn.send(
                "Storage.clearDataForOrigin",
                {"origin": origin_of(self.url), "storageTypes": "service_workers"},
            )
        params = {"targetId": pages[0], "flatten": True}
        self.session = session = (await conn.send("Target.attachToTarget", params))["sessionId"]
        for method, listener in (
            ("Runtime.executionContextCreated", self._context_created),
            ("Runtime.executionContextDestroyed", self._context_destroyed),
            ("Runtime.executionContextsCleared", self._contexts_cleared),
            ("Runtime.bindingCalled", self._on_binding),
            ("Page.frameNavigated", self._on_navigated),
            ("Page.lifecycleEvent", self._on_lifecycle),
            ("Page.javascriptDialogOpening", self._on_dialog),
            ("Inspector.targetCrashed", self._on_crash),
        ):
            conn.on(method, listener, session)
        preload = [PRELOAD_JS.read_text(), self.wajs_path.read_text(), BRIDGE_JS.read_text()]
        await asyncio.gather(
            conn.send("Page.enable", session=session),
            conn.send("Page.setLifecycleEventsEnabled", {"enabled": True}, session),
            conn.send("Runtime.addBinding", {"name": BINDING}, session),
            *(
                conn.send("Page.addScriptToEvaluateOnNewDocument", {"source": src}, session)
                for src in preload
            ),
            conn.send("Emulation.setFocusEmulationEnabled", {"enabled": True}, session),
            # No "HeadlessChrome" brand in navigator.userAgentData and Sec-CH-UA either.
            conn.send(
                "Emulation.setUserAgentOverride",
                {"userAgent": chromium.user_agent(self.executable)},
                session,
            ),
            conn.send("Inspector.enable", session=session),
        )
        tree = (await conn.send("Page.getFrameTree", session=session))["frameTree"]["frame"]
        self._main_frame, self.page_url = tree["id"], tree.get("url", "about:blank")
        await conn.send("Runtime.enable", session=session)
        credentials = self.proxy.credentials() if self.proxy is not None else None
        self.interception = Interception(conn, session, credentials)
        if credentials is not None:
            await self.interception.apply()

    def _context_created(self, params: dict[str, Any]) -> None:
        ctx = params.get("context")
        if not isinstance(ctx, dict):
            return
        aux, ident = ctx.get("auxData"), ctx.get("id")
        if isinstance(aux, dict) and aux.get("isDefault") and isinstance(ident, int):
            self._contexts[ident] = str(aux.get("frameId", ""))
            if self._contexts[ident] == self._main_frame:
                self._document.set()

    def _context_destroyed(self, params: dict[str, Any]) -> None:
        ident = params.get("executionContextId")
        if isinstance(ident, int):
            self._contexts.pop(ident, None)
        if self._main_context() is None:
            self._document.clear()

    def _on_crash(self, _params: dict[str, Any]) -> None:
        """The renderer died: its documents are gone (a new renderer numbers its own)."""
        self._contexts.clear()
        self._loaded = []
        self._document.clear()
        self._emit("page_crash", {})

    def _on_target(self, conn: Connection, ours: str, params: dict[str, Any]) -> None:
        info = params.get("targetInfo")
        if not isinstance(info, dict) or info.get("type") != "page":
            return
        target = info.get("targetId")
        if isinstance(target, str) and target != ours:
            self.extra_pages.hit(str(info.get("url", ""))[:120])
            self._keep(asyncio.ensure_future(conn.send("Target.closeTarget", {"targetId": target})))

    def _contexts_cleared(self, _params: dict[str, Any]) -> None:
        self._contexts.clear()
        self._document.clear()

    def _main_context(self) -> int | None:
        """The execution context of the main frame's document (none between documents)."""
        for ctx, frame in self._contexts.items():
            if frame == self._main_frame:
                return ctx
        return None

    def _on_navigated(self, params: dict[str, Any]) -> None:
        """WhatsApp Web must stay open: a navigation to another origin is undone."""
        frame = params.get("frame")
        if (
            not isinstance(frame, dict)
            or frame.get("parentId")
            or frame.get("id") != self._main_frame
        ):
            return
        self.page_url = str(frame.get("url", ""))
        if frame.get("unreachableUrl") or self.page_url.startswith("chrome-error:"):
            return  # our own navigation failed: open() raises, its caller retries with backoff
        if not allowed_location(self.page_url, self.url):
            self.went_away.hit(self.page_url[:120])
            if self._going_back is None or self._going_back.done():  # one at a time
                self._going_back = asyncio.ensure_future(self.open())
                self._keep(self._going_back)

    def _on_lifecycle(self, params: dict[str, Any]) -> None:
        if params.get("name") != "DOMContentLoaded" or params.get("frameId") != self._main_frame:
            return
        self._loaded = [*self._loaded[-7:], str(params.get("loaderId"))]
        for waiter in self._load_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _on_dialog(self, params: dict[str, Any]) -> None:
        """No one answers a dialog in a headless browser: leave pages, dismiss the rest (a
        pending ``alert`` would block the page's JavaScript)."""
        accept = params.get("type") == "beforeunload"
        send = self._send("Page.handleJavaScriptDialog", {"accept": accept})
        self._keep(asyncio.ensure_future(send))

    def has_profile(self) -> bool:
        return self.profile_dir.is_dir() and any(self.profile_dir.iterdir())

    def move_profile_aside(self) -> Path:
        """Keep an unusable profile for inspection; the next launch starts a fresh one."""
        target = self.profile_dir.with_name(f"profile.unusable-{int(time.time())}")
        if self.profile_dir.exists():
            self.profile_dir.rename(target)
        return target

    async def open(self) -> None:
        """Navigate to WhatsApp Web and wait for its DOM, LOAD_TIMEOUT in all; retried by the
        caller while the network is down (a failed navigation raises)."""
        if self.conn is None:
            raise BrowserError("no page")
        nav = asyncio.ensure_future(self._navigate())
        ended = asyncio.ensure_future(self.conn.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {nav, ended}, timeout=LOAD_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            if not nav.done():
                nav.cancel()
        if nav in done:
            return nav.result()
        if ended in done:
            raise BrowserError("the browser closed while opening the page")
        raise BrowserError(f"{self.url} did not load within {LOAD_TIMEOUT:.0f} s")

    async def _navigate(self) -> None:
        loop = asyncio.get_running_loop()
        loaded: asyncio.Future[None] = loop.create_future()
        self._load_waiters.append(loaded)
        try:
            res = await self._send("Page.navigate", {"url": self.url})
            if res.get("errorText"):
                raise BrowserError(f"cannot open {self.url}: {res['errorText']}")
            loader = res.get("loaderId")
            while loader and loader not in self._loaded:
                await loaded
                loaded = loop.create_future()
                self._load_waiters.append(loaded)
        finally:
            self._load_waiters = [w for w in self._load_waiters if not w.done() and w is not loaded]

    reload = open

    def _on_binding(self, params: dict[str, Any]) -> None:
        """``__wamcEmit(name, data)`` from the page: only WhatsApp's main frame may call it, and
        what it sends is checked and paced before the worker sees it (workers/page_events.py)."""
        if params.get("name") != BINDING:
            return
        ident = params.get("executionContextId")
        frame = self._contexts.get(ident) if isinstance(ident, int) else None
        if frame is None or frame != self._main_frame:
            self.foreign_calls.hit("from a frame that is not the page's")
            return
        if not allowed_location(self.page_url, self.url) or self.page_url.startswith("about:"):
            self.foreign_calls.hit(f"from the main frame at {self.page_url[:120]!r}")
            return
        payload = params.get("payload")
        try:
            if not isinstance(payload, str) or len(payload) > PAYLOAD_MAX:
                raise Dropped("not a JSON [name, data] pair of a sane size")
            decoded = json.loads(payload) if payload else None
            if not isinstance(decoded, list) or len(decoded) != 2:
                raise Dropped("not a JSON [name, data] pair")
            name, data = clean(decoded[0], decoded[1])
        except (Dropped, ValueError, RecursionError) as exc:
            self.bad_events.hit(str(exc)[:200])
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
        task.add_done_callback(retrieve)

    async def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.conn is None or not self.session:
            raise BrowserError("no page")
        return await self.conn.send(method, params, self.session)

    async def call(self, fn: str, *args: Any, timeout: float = 30.0) -> Any:
        """Call ``window.__wamc.<fn>(*args)`` in the page's document; its JSON answer."""
        if not FUNCTION.fullmatch(fn):
            raise ValueError(f"not a bridge function name: {fn!r}")
        if self._main_context() is None:  # between documents (a reload): wait a little
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._document.wait(), min(timeout, DOCUMENT_WAIT))
        ctx = self._main_context()
        if ctx is None:
            raise BrowserError("the page has no document yet")
        params = {
            "expression": f"window.__wamc.{fn}(...{json.dumps(list(args))})",
            "contextId": ctx,
            "awaitPromise": True,
            "returnByValue": True,
        }
        try:
            res = await asyncio.wait_for(self._send("Runtime.evaluate", params), timeout)
        except CdpError as exc:
            raise BrowserError(f"{fn}: {exc}") from None
        if "exceptionDetails" in res:
            raise BrowserError(f"{fn}: {page_error(res['exceptionDetails'])}")
        result = res.get("result")
        return result.get("value") if isinstance(result, dict) else None

    @contextlib.asynccontextmanager
    async def routed(self, prefix: str, handler: Handler) -> AsyncIterator[None]:
        """The page's requests under ``prefix`` answered by ``handler`` (workers/media.py)."""
        if self.interception is None:
            raise BrowserError("no page")
        async with self.interception.route(prefix, handler):
            yield

    async def close(self, keep_running: bool = False) -> bool:
        """Ask Chromium to close (it flushes the profile) and wait; SIGKILL only what is left.

        ``keep_running``: the worker goes on (profile recovery); the close is not a crash.
        True when the browser closed by itself. A second call while one runs waits for it.
        """
        if keep_running:
            self.closed = asyncio.Event()  # waiters of the old browser's close are not woken
        if self._closing is None or self._closing.done():
            conn, proc, pid = self.conn, self.proc, self.pid
            self.conn, self.session, self.interception = None, "", None
            self._closing = asyncio.ensure_future(end_browser(conn, proc, pid, self.profile_dir))
        return await asyncio.shield(self._closing)
