"""One persistent Chromium per worker, driven over its DevTools pipe, with wa-js and our bridge.

The worker speaks CDP itself (workers/cdp.py): no Playwright driver process per client. What
the page sends through the binding is untrusted and checked before the worker sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from loguru import logger

from wamc.wire.launch import BrowserProxy
from wamc.wire.process import browser_cmdline_matches, kill_tree
from workers import chromium, stdio
from workers.cdp import CdpError, Connection
from workers.interception import Handler, Interception
from workers.page_events import Dropped, clean
from workers.page_gate import PageGate, Throttled

HERE = Path(__file__).parent
BRIDGE_JS = HERE / "bridge.js"
PRELOAD_JS = HERE / "preload.js"
BINDING = "__wamcBinding"  # raw; workers/preload.js wraps it as __wamcEmit
PAYLOAD_MAX = 16 << 20  # characters of one binding call; bridge.js sends far less
FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CLOSE_WAIT = 15.0  # seconds for Chromium to flush the profile and exit after Browser.close

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
        self._tasks: set[asyncio.Future[Any]] = set()
        self.gate = PageGate(self._emit)
        self.foreign_calls = Throttled("binding called from outside the main frame: ignored")
        self.bad_events = Throttled("malformed page event dropped")
        self.bridge_errors = Throttled("bridge dropped a WPP event")

    async def start(self) -> None:
        if not self.wajs_path.is_file():
            raise BrowserError(f"wa-js bundle not found at {self.wajs_path} (run scripts/setup.sh)")
        if not self.executable:
            raise BrowserError("no headless Chromium found (run scripts/setup.sh)")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.closed = asyncio.Event()
        self._contexts, self._loaded, self._main_frame = {}, [], ""
        stdio.recap()  # the previous browser is gone: the new one inherits a capped stderr
        argv = chromium.command_line(self.executable, self.profile_dir, self.proxy)
        try:
            self.proc, self.conn = await chromium.launch(argv)
        except OSError as exc:
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
        params = {"targetId": pages[0], "flatten": True}
        self.session = session = (await conn.send("Target.attachToTarget", params))["sessionId"]
        for method, listener in (
            ("Runtime.executionContextCreated", self._context_created),
            ("Runtime.executionContextDestroyed", self._context_destroyed),
            ("Runtime.executionContextsCleared", lambda _p: self._contexts.clear()),
            ("Runtime.bindingCalled", self._on_binding),
            ("Page.frameNavigated", self._on_navigated),
            ("Page.lifecycleEvent", self._on_lifecycle),
            ("Page.javascriptDialogOpening", self._on_dialog),
            ("Inspector.targetCrashed", lambda _p: self._emit("page_crash", {})),
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

    def _context_destroyed(self, params: dict[str, Any]) -> None:
        ident = params.get("executionContextId")
        if isinstance(ident, int):
            self._contexts.pop(ident, None)

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
        if not allowed_location(self.page_url, self.url):
            logger.warning("page navigated away to another origin: going back")
            self._keep(asyncio.ensure_future(self.open()))

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
        """Navigate to WhatsApp Web and wait for its DOM; retried by the caller while the network
        is down (a failed navigation raises)."""
        loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._load_waiters.append(loaded)
        try:
            res = await self._send("Page.navigate", {"url": self.url})
            if res.get("errorText"):
                raise BrowserError(f"cannot open {self.url}: {res['errorText']}")
            loader = res.get("loaderId")
            deadline = asyncio.get_running_loop().time() + 60
            while loader and loader not in self._loaded:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise BrowserError(f"{self.url} did not load within 60 s")
                await asyncio.wait_for(asyncio.shield(loaded), left)
                loaded = asyncio.get_running_loop().create_future()
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
        task.add_done_callback(_retrieve)

    async def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.conn is None or not self.session:
            raise BrowserError("no page")
        return await self.conn.send(method, params, self.session)

    async def call(self, fn: str, *args: Any, timeout: float = 30.0) -> Any:
        """Call ``window.__wamc.<fn>(*args)`` in the page's document; its JSON answer."""
        if not FUNCTION.fullmatch(fn):
            raise ValueError(f"not a bridge function name: {fn!r}")
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
        True when the browser closed by itself.
        """
        if keep_running:
            self.closed = asyncio.Event()  # waiters of the old browser's close are not woken
        conn, proc, pid = self.conn, self.proc, self.pid
        self.conn, self.session, self.interception = None, "", None
        graceful = proc is None
        if proc is not None and proc.returncode is None and conn is not None:
            with contextlib.suppress(CdpError, TimeoutError):
                await asyncio.wait_for(conn.send("Browser.close"), CLOSE_WAIT)
            try:
                await asyncio.wait_for(proc.wait(), CLOSE_WAIT)
                graceful = True
            except TimeoutError:
                logger.warning("browser did not close within {:.0f}s", CLOSE_WAIT)
        if conn is not None:
            conn.close()
        if pid and kill_browser_tree(pid, self.profile_dir):
            logger.warning("browser {} still running after its close: SIGKILLed", pid)
            graceful = False
        elif pid and graceful:
            logger.info("browser {} closed cleanly", pid)
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)  # reaped: no zombie
        return graceful


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A background CDP call whose page went away: its error is expected, not an alarm."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        logger.debug("background page call failed: {}", first_line(exc))


def page_error(details: Any) -> str:
    """The message of an exception thrown in the page (``Error: wamc:code: text`` for refusals)."""
    if not isinstance(details, dict):
        return "the page threw"
    exc = details.get("exception")
    if isinstance(exc, dict):
        text = exc.get("description") or exc.get("value")
        if text is not None:
            return str(text)[:2000]
    return str(details.get("text") or "the page threw")[:2000]


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
