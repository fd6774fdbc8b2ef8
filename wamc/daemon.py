"""``wamc serve``: the parent daemon. Composes store, event bus, transport, supervisor, gateway."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import signal

from aiohttp import web
from loguru import logger

from wamc import __version__, faults
from wamc import events as E
from wamc.api import WEBHOOKS, begin_shutdown, create_app
from wamc.api.addresses import parse_networks
from wamc.api.handlers import system
from wamc.clients import ClientManager
from wamc.config import Settings
from wamc.events import EventBus
from wamc.log import setup_daemon_logging
from wamc.privilege import ROOT_REFUSED, UMASK, is_root, private_dir, secure_tree
from wamc.storage import Database
from wamc.supervisor import LocalProcessBackend
from wamc.timeutil import utc_now_iso
from wamc.transport import Transport
from wamc.validation import legacy_client_ids
from wamc.webhooks import WebhookService


class DaemonError(RuntimeError):
    pass


MIN_API_KEY_LENGTH = 32
HANDLER_GRACE = 1.0


def check_settings(settings: Settings, key: str) -> None:
    """Refuse to serve with a key short enough to guess, or proxies that cannot be parsed."""
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise DaemonError(str(exc)) from None
    if len(key) < MIN_API_KEY_LENGTH:
        where = "WAMC_API_KEY" if settings.api_key else str(settings.api_key_file)
        raise DaemonError(
            f"the API key ({where}) is {len(key)} characters; at least {MIN_API_KEY_LENGTH} "
            "are required. Unset WAMC_API_KEY to use the generated key (`wamc api-key` prints "
            "it), or set a longer random one"
        )


def acquire_lock(settings: Settings) -> int:
    """One daemon per WAMC_HOME: an flock on sessions/.wamc/daemon.lock."""
    private_dir(settings.state_dir)
    fd = os.open(settings.state_dir / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonError(f"another wamc daemon already runs for {settings.home}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def dump_tasks() -> None:
    """SIGUSR1: write every asyncio task's stack to the log (for a stuck daemon)."""
    buf = io.StringIO()
    for task in asyncio.all_tasks():
        buf.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=8, file=buf)
    logger.bind(multiline=True).warning("asyncio tasks:\n{}", buf.getvalue())


async def serve(settings: Settings) -> None:
    lock_fd = acquire_lock(settings)
    faults.arm(settings.fault_crash)
    settings.sessions_dir.mkdir(parents=True, exist_ok=True)
    api_key = settings.ensure_api_key()
    check_settings(settings, api_key)
    store = Database(settings.db_path)
    await store.open()
    bus = EventBus(store)
    webhooks = WebhookService(store, bus)  # its outbox is written with each event
    manager: ClientManager | None = None
    transport = Transport(
        settings.endpoint(),
        lambda cid, msg: manager.on_frame(cid, msg),  # type: ignore[union-attr]
        lambda cid, reason, oversize: manager.on_bad_frame(cid, reason, oversize),  # type: ignore[union-attr]
        lambda route, secret: manager.authenticate(route, secret),  # type: ignore[union-attr]
    )
    manager = ClientManager(settings, store, bus, LocalProcessBackend(settings), transport)
    started_at = utc_now_iso()
    app = create_app(settings, manager, bus, store, api_key, started_at)
    stop = asyncio.Event()
    app[system.STOP] = stop
    app[system.FULL_STOP] = False
    app[WEBHOOKS] = webhooks
    # Handlers still running this long after the streams closed are cancelled: a SIGTERM exits
    # within seconds whatever the consumers do.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=HANDLER_GRACE
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    watchdog: asyncio.Task[None] | None = None
    retention: asyncio.Task[None] | None = None
    try:
        await webhooks.start()
        retention = asyncio.create_task(E.retention_loop(store), name="event-retention")
        await manager.load()  # before any worker frame is read: adopted workers must be known
        legacy = legacy_client_ids(manager.clients)
        if legacy:
            logger.warning(
                "clients stored under ids no longer valid (status, disconnect and delete still "
                "reach them; consider deleting them): {}",
                ", ".join(repr(i) for i in legacy),
            )
        await transport.start()
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise DaemonError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
            ) from None
        logger.info(
            "wamc {} listening on http://{}:{} (home {}, workers at {})",
            __version__,
            settings.host,
            settings.port,
            settings.home,
            settings.endpoint(),
        )
        await bus.publish(None, E.DAEMON_STARTED, {"version": __version__, "pid": os.getpid()})
        await manager.restore()
        watchdog = asyncio.create_task(manager.watchdog())
        recycler = asyncio.create_task(manager.recycler())
        await stop.wait()
    finally:
        await begin_shutdown(app)  # queued sends 503, every WebSocket 1001 / SSE shutdown
        if watchdog is not None:
            watchdog.cancel()
            recycler.cancel()
        if settings.stop_workers_on_exit or app[system.FULL_STOP]:
            logger.info("shutting down: stopping every worker")
            await manager.stop_all()
        else:
            await manager.detach_all()
        await runner.cleanup()
        await transport.close()
        await webhooks.stop(grace=HANDLER_GRACE)
        if retention is not None:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
        await store.close()
        with contextlib.suppress(OSError):
            os.close(lock_fd)
        logger.info("daemon stopped")
        await logger.complete()


def run(settings: Settings) -> None:
    # Before the first file is opened: logs 0640/0750 for the service's group, sessions 0700.
    os.umask(UMASK)
    secure_tree(settings.sessions_dir, settings.logs_dir)
    setup_daemon_logging(settings)
    if is_root():
        if settings.allow_root:
            logger.warning("running as root (WAMC_ALLOW_ROOT=1): Chromium runs without its sandbox")
        else:
            logger.error("running as root: {}", ROOT_REFUSED)
    asyncio.run(serve(settings))
