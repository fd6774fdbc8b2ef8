"""``wamc serve``: the composition root. Builds store, event bus, webhooks, worker link, the
daemon's parts (wamc/daemon/) and the API, starts them in order and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import re
import signal
from dataclasses import dataclass, field

from aiohttp import web
from loguru import logger

from wamc import __version__
from wamc import events as E
from wamc.api import WEBHOOKS, begin_shutdown, create_app
from wamc.api.addresses import parse_networks
from wamc.api.handlers import system
from wamc.config import Settings
from wamc.daemon import checks, faults, server_key
from wamc.daemon.backend import Backend, LocalProcessBackend
from wamc.daemon.link import Transport
from wamc.daemon.manager import ClientManager
from wamc.daemon.profiles import FolderStore
from wamc.events import EventBus
from wamc.log import setup_daemon_logging
from wamc.privilege import private_dir, secure_tree
from wamc.storage import Database
from wamc.timeutil import utc_now_iso
from wamc.validation import legacy_client_ids
from wamc.webhooks import WebhookService
from wamc.wire.curve import is_remote
from wamc.wire.process import ROOT_REFUSED, UMASK, is_root


class DaemonError(RuntimeError):
    pass


MIN_API_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
HANDLER_GRACE = 1.0


def check_settings(settings: Settings, key: str) -> None:
    """Refuse to serve with a key or metrics token short enough to guess, or proxies that
    cannot be parsed."""
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
    if settings.profile_store is not None:  # issue 14: a store that cannot be written is an error
        try:
            FolderStore(settings.profile_store)
        except OSError as exc:
            raise DaemonError(f"WAMC_PROFILE_STORE ({settings.profile_store}): {exc}") from None
    if settings.public_url and not re.fullmatch(
        r"https?://[^\s/?#]+(/[^\s?#]*)?", settings.public_url
    ):
        raise DaemonError(
            f"WAMC_PUBLIC_URL must be an http(s) base URL like https://wa.example.com, not "
            f"{settings.public_url[:80]!r}"
        )
    token = settings.metrics_token
    if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise DaemonError(
            f"WAMC_METRICS_TOKEN is {len(token)} characters; at least "
            f"{MIN_METRICS_TOKEN_LENGTH} are required (e.g. `openssl rand -hex 24`)"
        )


def acquire_lock(settings: Settings) -> int:
    """One daemon per WAMC_HOME: an flock on sessions/.wamc/daemon.lock."""
    private_dir(settings.state_dir)
    fd = os.open(settings.state_dir / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonError(
            f"another wamc daemon already runs for {settings.home}; stop it first: "
            "bash scripts/stop.sh (under supervisord), or wamc shutdown"
        ) from None
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


@dataclass
class Services:
    """Everything ``serve`` builds, so startup and shutdown read as two short lists."""

    settings: Settings
    store: Database
    bus: EventBus
    webhooks: WebhookService
    link: Transport
    manager: ClientManager
    app: web.Application
    runner: web.AppRunner
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def make_backend(settings: Settings, store: Database, server_key: bytes | None) -> Backend:
    """Local processes, or (WAMC_BACKEND=ray) host agents on a Ray cluster; Ray is imported
    only then."""
    if settings.backend != "ray":
        return LocalProcessBackend(settings, server_key)
    if server_key is None:
        raise DaemonError(
            "WAMC_BACKEND=ray needs a TCP worker link: set WAMC_ZMQ_ENDPOINT=tcp://0.0.0.0:PORT "
            "(and WAMC_ZMQ_ADVERTISE to what the nodes dial)"
        )
    from wamc.daemon.ray_backend import RayBackend
    from wamc.daemon.ray_cluster import RayCluster, RayUnavailable

    cluster = RayCluster(settings, server_key)
    try:
        await cluster.connect()
    except RayUnavailable as exc:
        raise DaemonError(str(exc)) from None
    backend = RayBackend(settings, cluster, store)
    await backend.load()
    await cluster.refresh()
    return backend


async def build(settings: Settings, api_key: str) -> Services:
    store = Database(settings.db_path)
    await store.open()
    bus = EventBus(store, settings.ws_queue_size)
    # Its outbox is written with each event.
    webhooks = WebhookService(store, bus, settings.webhook_allow_private == 1)
    keys = server_key.load_or_create(settings.state_dir) if is_remote(settings.endpoint()) else None
    link = Transport(settings.endpoint(), keys)
    try:
        backend = await make_backend(settings, store, keys[0] if keys else None)
    except BaseException:
        await store.close()  # its thread would keep the process from exiting
        raise
    manager = ClientManager.build(settings, store, bus, backend, link)
    app = create_app(settings, manager, bus, store, api_key, utc_now_iso())
    stop = asyncio.Event()
    app[system.STOP] = stop
    app[system.FULL_STOP] = False
    app[WEBHOOKS] = webhooks
    # Handlers still running this long after the streams closed are cancelled: a SIGTERM exits
    # within seconds whatever the consumers do.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=HANDLER_GRACE
    )
    return Services(settings, store, bus, webhooks, link, manager, app, runner, stop)


async def start(svc: Services) -> None:
    settings, manager = svc.settings, svc.manager
    await svc.webhooks.start()
    await manager.supervisor.load()  # before any worker frame is read: adopted workers known
    await manager.retention.load()
    # Messages, media and events (per client): first, so it is cancelled last (shutdown).
    svc.tasks.append(asyncio.create_task(manager.retention.run(), name="retention"))
    legacy = legacy_client_ids(manager.clients)
    if legacy:
        logger.warning(
            "clients stored under ids no longer valid (status, disconnect and delete still "
            "reach them; consider deleting them): {}",
            ", ".join(repr(i) for i in legacy),
        )
    await svc.link.start(manager.inbox, manager.ingest)
    await svc.runner.setup()
    site = web.TCPSite(svc.runner, settings.host, settings.port)
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
    await svc.bus.publish(None, E.DAEMON_STARTED, {"version": __version__, "pid": os.getpid()})
    await manager.supervisor.restore()
    svc.tasks.append(asyncio.create_task(checks.watchdog(manager.supervisor), name="watchdog"))
    svc.tasks.append(asyncio.create_task(checks.recycler(manager.supervisor), name="recycler"))
    svc.tasks.append(asyncio.create_task(manager.exports.run(), name="exports"))
    svc.tasks.append(asyncio.create_task(manager.analytics.loop(manager.clients), name="analytics"))
    monitor = getattr(getattr(manager.supervisor.backend, "cluster", None), "monitor", None)
    if monitor is not None:  # Ray backend: nodes found, lost and reported
        svc.tasks.append(asyncio.create_task(monitor(), name="ray-nodes"))


async def shutdown(svc: Services) -> None:
    await begin_shutdown(svc.app)  # queued sends 503, every WebSocket 1001 / SSE shutdown
    for task in svc.tasks[1:]:  # watchdog, recycler, exports: before the workers go
        task.cancel()
    supervisor = svc.manager.supervisor
    if svc.settings.stop_workers_on_exit or svc.app[system.FULL_STOP]:
        logger.info("shutting down: stopping every worker")
        await supervisor.stop_all()
    else:
        await supervisor.detach_all()
    await svc.runner.cleanup()
    await svc.link.close()
    await svc.webhooks.stop(grace=HANDLER_GRACE)
    for task in svc.tasks[:1]:  # retention: until the last event is written
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    try:  # the uptime of the last minutes
        await svc.manager.analytics.account_all(svc.manager.clients.values())
    except Exception:
        logger.exception("analytics: last accounting failed")
    await svc.store.close()


async def serve(settings: Settings) -> None:
    """The daemon until SIGTERM/SIGINT (or a stop through the API): signals only set ``stop``."""
    lock_fd = acquire_lock(settings)
    faults.arm(settings.fault_crash)
    settings.sessions_dir.mkdir(parents=True, exist_ok=True)
    api_key = settings.ensure_api_key()
    check_settings(settings, api_key)
    svc = await build(settings, api_key)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, svc.stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    try:
        await start(svc)
        await svc.stop.wait()
    finally:
        await shutdown(svc)
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
