"""Settings: environment variables override an optional ``wamc.toml``; defaults otherwise.

The names ``WAMC_HOST``, ``WAMC_PORT``, ``WAMC_HOME``, ``WAMC_API_KEY``, ``WAMC_WHATSAPP_URL``,
``WAMC_WAJS_PATH`` and ``WAMC_BROWSER_PATH`` are a contract with outside tooling.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import stat
import tempfile
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_WHATSAPP_URL = "https://web.whatsapp.com/"
BROWSER_CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
)
# Unix socket paths must fit in sun_path (108 bytes including the NUL).
MAX_IPC_PATH = 100


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4000
    home: Path = PROJECT_DIR
    api_key: str | None = None
    whatsapp_url: str = DEFAULT_WHATSAPP_URL
    wajs_path: Path | None = None
    browser_path: str | None = None
    # ZeroMQ endpoint the daemon binds and workers connect to; derived from home when empty.
    # A tcp:// endpoint is encrypted (CurveZMQ); workers dial ``zmq_advertise`` when set.
    zmq_endpoint: str = ""
    # The gateway's address as its users reach it (links it hands out: portal invites); empty:
    # http://<host>:<port> of this daemon (a wildcard host read as 127.0.0.1).
    public_url: str = ""
    zmq_advertise: str = ""
    # Given to workers by the daemon on a TCP link: the public half of its Curve key (Z85).
    zmq_server_key: str = ""
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 10.0
    request_timeout: float = 30.0
    restart_backoff_base: float = 1.0
    restart_backoff_max: float = 60.0
    max_fast_failures: int = 5
    fast_failure_window: float = 120.0
    stop_timeout: float = 15.0
    # How many browsers may boot at once (restore of 50 clients on 2 cores).
    start_concurrency: int = 2
    start_slot_timeout: float = 60.0
    # How long a worker waits for a lost daemon before closing its browser and exiting.
    worker_grace: float = 20.0
    # SIGTERM normally leaves workers to be adopted by the next daemon; 1 stops them all.
    stop_workers_on_exit: int = 0
    # Workers refuse to run as root (Chromium needs --no-sandbox there) unless this is 1.
    allow_root: int = 0
    # QR codes shown before the client is stopped with reason qr_timeout (WhatsApp idles ~6).
    qr_max_codes: int = 8
    # "Open in another window": take the session back (1) or stay disconnected (0).
    takeover: int = 1
    # Recycle a browser whose whole tree (worker + Chromium) passes this PSS; 0 = off.
    memory_limit_mb: float = 1536.0
    # Restart every browser after this many hours (at a quiet moment); 0 = never.
    recycle_hours: float = 0.0
    recycle_check_interval: float = 10.0
    # API security (see README "API security"). 0 disables a limit.
    max_clients: int = 50
    cors_origins: str = ""  # comma-separated origins allowed to call the API; empty = CORS off
    api_rate_per_minute: int = 600  # per client token
    api_rate_burst: int = 100
    admin_rate_per_minute: int = 6000  # the admin key (operator, dashboard, scripts)
    max_streams_per_key: int = 25  # open /ws + /api/events per key; beyond: 429
    auth_failures_per_minute: int = 30  # failed sign-ins per address (bursts as many); beyond: 429
    trusted_proxies: str = ""  # comma-separated IPs/CIDRs whose X-Forwarded-For is believed
    audit_retention_days: float = 90.0  # audit rows older than this are pruned; 0 = keep
    event_retention_days: float = 30.0  # event log kept for resuming (/ws?since=); 0 = forever
    ws_queue_size: int = 1000  # events a /ws or SSE consumer may fall behind before it is dropped
    webhook_allow_private: int = 0  # 1: webhooks may reach private/loopback addresses
    # Outgoing message pacing per client, to look less like a bot (reduces ban risk).
    send_interval: float = 0.5  # minimum seconds between two sends of one client
    send_jitter: float = 1.0  # plus a random 0..jitter seconds
    send_queue_size: int = 100  # sends waiting per client; beyond: 429 send_queue_full
    # /health says "degraded" (still 200) below this free disk space or at this many pending
    # webhook deliveries (wamc/api/handlers/health_checks.py); 0 turns a check off.
    disk_min_free_mb: float = 500.0
    webhook_backlog_max: int = 1000
    # Logs (wamc/log.py): "text" lines or "json" (one object per line) for log shippers; the
    # lowest level written, for the daemon and every worker.
    log_format: str = "text"
    log_level: str = "INFO"
    # "Is this number on WhatsApp?" per client: enumerating numbers is a known ban trigger.
    number_lookups_per_minute: int = 30  # 0 = no limit
    number_lookup_burst: int = 10
    # Media (issue 11): size limits per kind in MB (WhatsApp's own), the per-client download
    # cache (LRU), fetching incoming media on arrival, and how long one media command may take.
    media_max_image_mb: float = 16.0
    media_max_video_mb: float = 16.0
    media_max_audio_mb: float = 16.0
    media_max_document_mb: float = 100.0
    media_cache_mb: float = 512.0
    media_auto_download: int = 0
    media_timeout: float = 120.0
    # Where a worker keeps a file it is sending until its page has it (a folder per client
    # inside; default: ``sessions/<id>/media/tmp`` under the worker host's WAMC_HOME). The bytes
    # come over the link: the worker never reads the daemon's folders.
    worker_media_dir: Path | None = None
    # Retention (issue 11), per client overridable (PATCH /api/clients/{id}/settings); 0 = keep.
    message_retention_days: float = 0.0  # stored messages older than this are deleted
    media_retention_days: float = 0.0  # cached media files older than this are deleted
    retention_interval: float = 3600.0  # seconds between two retention passes
    # Scheduled exports into sessions/<id>/exports/ (0 = off; fractions of an hour allowed).
    export_every_hours: float = 0.0
    export_keep_days: float = 30.0  # exports older than this are deleted
    # Events per second a page may feed its worker (bursts of 500 pass at once; a flood beyond
    # its queue is dropped): the hostile-page guard, raised for a busy account's history sync.
    page_event_rate: float = 100.0
    # GET /metrics (Prometheus) also accepts this bearer token (the admin key always works).
    metrics_token: str = ""
    # Analytics (wamc/daemon/analytics.py): seconds between two accountings of connected time.
    stats_interval: float = 60.0
    # Profile store (issue 14, wamc/daemon/profiles): a folder (a shared mount) for snapshots
    # of each client's browser profile, taken at clean stops; unset = off. Also every this many
    # minutes while connected (a quiet-moment recycle; 0 = off); the newest N kept per client.
    profile_store: Path | None = None
    profile_snapshot_minutes: float = 0.0
    profile_keep: int = 3
    # Where workers run (issue 14, docs/scale-out.md): "local" processes, or "ray": on the host
    # agents of a Ray cluster (``ray_address`` is what ``ray.init(address=…)`` takes).
    backend: str = "local"
    ray_address: str = ""
    ray_namespace: str = "wamc"
    # Test-only fault injection (wamc/daemon/faults.py): a named point where the daemon crashes.
    fault_crash: str = ""

    @property
    def sessions_dir(self) -> Path:
        return self.home / "sessions"

    @property
    def state_dir(self) -> Path:
        """The daemon's own files: ids cannot contain a dot, so no client collides."""
        return self.sessions_dir / ".wamc"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "wamc.db"

    @property
    def api_key_file(self) -> Path:
        return self.state_dir / "api_key"

    def client_dir(self, client_id: str) -> Path:
        return self.sessions_dir / client_id

    def endpoint(self) -> str:
        if self.zmq_endpoint:
            return self.zmq_endpoint
        path = str(self.state_dir / "workers.sock")
        if len(path) > MAX_IPC_PATH:
            path = str(private_runtime_dir(self.state_dir) / "workers.sock")
        return f"ipc://{path}"

    def base_url(self) -> str:
        """Where users reach the gateway (``public_url``, else this daemon's host and port)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def advertised_endpoint(self) -> str:
        """What workers dial: ``zmq_advertise``, else the bound endpoint (a wildcard host read as
        this host)."""
        if self.zmq_advertise:
            return self.zmq_advertise
        return (
            self.endpoint()
            .replace("tcp://0.0.0.0:", "tcp://127.0.0.1:")
            .replace("tcp://*:", "tcp://127.0.0.1:")
        )

    def resolved_wajs_path(self) -> Path:
        return self.wajs_path or (PROJECT_DIR / "vendor" / "wa-js" / "wppconnect-wa.js")

    def resolved_browser_path(self) -> str | None:
        if self.browser_path:
            return self.browser_path
        for candidate in BROWSER_CANDIDATES:
            if os.access(candidate, os.X_OK):
                return candidate
        found = shutil.which("chromium-headless-shell")
        return found or playwright_headless_shell()

    def ensure_api_key(self) -> str:
        """The configured key, else the one kept in a 0600 file, generated on first use."""
        if self.api_key:
            return self.api_key
        path = self.api_key_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key


@functools.cache
def private_runtime_dir(state_dir: Path) -> Path:
    """A short, unguessable, 0700 folder for the worker socket when ``state_dir`` is too deep.

    Its path is kept in ``state_dir/runtime-dir`` so the next daemon binds the same socket (its
    adopted workers reconnect there); a recorded folder that is not ours and private is replaced.
    """
    record = state_dir / "runtime-dir"
    with contextlib.suppress(OSError):
        recorded = Path(record.read_text().strip())
        st = recorded.lstat()
        if (
            stat.S_ISDIR(st.st_mode)
            and st.st_uid == os.getuid()
            and stat.S_IMODE(st.st_mode) == 0o700
            and len(str(recorded)) <= MAX_IPC_PATH - 20
        ):
            return recorded
    state_dir.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    if len(base) > MAX_IPC_PATH - 40:
        base = tempfile.gettempdir()
    made = Path(tempfile.mkdtemp(prefix="wamc-", dir=base))  # 0700, random name
    tmp = record.with_suffix(".tmp")
    tmp.write_text(f"{made}\n")
    tmp.replace(record)
    return made


def playwright_headless_shell() -> str | None:
    """The newest headless shell ``playwright install chromium-headless-shell`` downloaded."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"
    )
    candidates = sorted(
        Path(root).glob("chromium_headless_shell-*/chrome-*/*headless*shell"),
        key=lambda p: (
            int(p.parent.parent.name.rsplit("-", 1)[-1] or 0)
            if p.parent.parent.name.rsplit("-", 1)[-1].isdigit()
            else 0
        ),
    )
    executables = [str(p) for p in candidates if os.access(p, os.X_OK) and p.is_file()]
    return executables[-1] if executables else None


_ENV = {
    "host": "WAMC_HOST",
    "port": "WAMC_PORT",
    "home": "WAMC_HOME",
    "api_key": "WAMC_API_KEY",
    "whatsapp_url": "WAMC_WHATSAPP_URL",
    "wajs_path": "WAMC_WAJS_PATH",
    "browser_path": "WAMC_BROWSER_PATH",
    "zmq_endpoint": "WAMC_ZMQ_ENDPOINT",
    "public_url": "WAMC_PUBLIC_URL",
    "zmq_advertise": "WAMC_ZMQ_ADVERTISE",
    "zmq_server_key": "WAMC_ZMQ_SERVER_KEY",
    "heartbeat_interval": "WAMC_HEARTBEAT_INTERVAL",
    "heartbeat_timeout": "WAMC_HEARTBEAT_TIMEOUT",
    "request_timeout": "WAMC_REQUEST_TIMEOUT",
    "restart_backoff_base": "WAMC_RESTART_BACKOFF_BASE",
    "restart_backoff_max": "WAMC_RESTART_BACKOFF_MAX",
    "max_fast_failures": "WAMC_MAX_FAST_FAILURES",
    "fast_failure_window": "WAMC_FAST_FAILURE_WINDOW",
    "stop_timeout": "WAMC_STOP_TIMEOUT",
    "max_clients": "WAMC_MAX_CLIENTS",
    "cors_origins": "WAMC_CORS_ORIGINS",
    "api_rate_per_minute": "WAMC_API_RATE_PER_MINUTE",
    "api_rate_burst": "WAMC_API_RATE_BURST",
    "admin_rate_per_minute": "WAMC_ADMIN_RATE_PER_MINUTE",
    "max_streams_per_key": "WAMC_MAX_STREAMS_PER_KEY",
    "auth_failures_per_minute": "WAMC_AUTH_FAILURES_PER_MINUTE",
    "trusted_proxies": "WAMC_TRUSTED_PROXIES",
    "audit_retention_days": "WAMC_AUDIT_RETENTION_DAYS",
    "event_retention_days": "WAMC_EVENT_RETENTION_DAYS",
    "ws_queue_size": "WAMC_WS_QUEUE_SIZE",
    "webhook_allow_private": "WAMC_WEBHOOK_ALLOW_PRIVATE",
    "send_interval": "WAMC_SEND_INTERVAL",
    "send_jitter": "WAMC_SEND_JITTER",
    "send_queue_size": "WAMC_SEND_QUEUE_SIZE",
    "number_lookups_per_minute": "WAMC_NUMBER_LOOKUPS_PER_MINUTE",
    "number_lookup_burst": "WAMC_NUMBER_LOOKUP_BURST",
    "start_concurrency": "WAMC_START_CONCURRENCY",
    "start_slot_timeout": "WAMC_START_SLOT_TIMEOUT",
    "worker_grace": "WAMC_WORKER_GRACE",
    "stop_workers_on_exit": "WAMC_STOP_WORKERS_ON_EXIT",
    "allow_root": "WAMC_ALLOW_ROOT",
    "qr_max_codes": "WAMC_QR_MAX_CODES",
    "takeover": "WAMC_TAKEOVER",
    "memory_limit_mb": "WAMC_MEMORY_LIMIT_MB",
    "recycle_hours": "WAMC_RECYCLE_HOURS",
    "recycle_check_interval": "WAMC_RECYCLE_CHECK_INTERVAL",
    "fault_crash": "WAMC_FAULT_CRASH",
    "disk_min_free_mb": "WAMC_DISK_MIN_FREE_MB",
    "webhook_backlog_max": "WAMC_WEBHOOK_BACKLOG_MAX",
    "log_format": "WAMC_LOG_FORMAT",
    "log_level": "WAMC_LOG_LEVEL",
    "media_max_image_mb": "WAMC_MEDIA_MAX_IMAGE_MB",
    "media_max_video_mb": "WAMC_MEDIA_MAX_VIDEO_MB",
    "media_max_audio_mb": "WAMC_MEDIA_MAX_AUDIO_MB",
    "media_max_document_mb": "WAMC_MEDIA_MAX_DOCUMENT_MB",
    "media_cache_mb": "WAMC_MEDIA_CACHE_MB",
    "media_auto_download": "WAMC_MEDIA_AUTO_DOWNLOAD",
    "media_timeout": "WAMC_MEDIA_TIMEOUT",
    "worker_media_dir": "WAMC_WORKER_MEDIA_DIR",
    "message_retention_days": "WAMC_MESSAGE_RETENTION_DAYS",
    "media_retention_days": "WAMC_MEDIA_RETENTION_DAYS",
    "retention_interval": "WAMC_RETENTION_INTERVAL",
    "export_every_hours": "WAMC_EXPORT_EVERY_HOURS",
    "export_keep_days": "WAMC_EXPORT_KEEP_DAYS",
    "page_event_rate": "WAMC_PAGE_EVENT_RATE",
    "metrics_token": "WAMC_METRICS_TOKEN",
    "stats_interval": "WAMC_STATS_INTERVAL",
    "profile_store": "WAMC_PROFILE_STORE",
    "profile_snapshot_minutes": "WAMC_PROFILE_SNAPSHOT_MINUTES",
    "profile_keep": "WAMC_PROFILE_KEEP",
    "backend": "WAMC_BACKEND",
    "ray_address": "WAMC_RAY_ADDRESS",
    "ray_namespace": "WAMC_RAY_NAMESPACE",
}
LOG_FORMATS = ("text", "json")
BACKENDS = ("local", "ray")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    pass


def _convert(name: str, raw: object) -> object:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(raw)  # type: ignore[call-overload]  # any TOML/env value: bad ones raise below
        if kind == "float":
            return float(raw)  # type: ignore[arg-type]  # any TOML/env value: bad ones raise below
        if kind in ("Path", "Path | None"):
            return Path(str(raw)).expanduser().resolve()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"invalid value for {_ENV[name]}: {raw!r}") from exc


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("WAMC_HOME") or PROJECT_DIR).expanduser().resolve()
    values: dict[str, object] = {}
    toml_path = home / "wamc.toml"
    if toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{toml_path}: {exc}") from exc
        for key, raw in data.items():
            if key in _ENV:
                values[key] = _convert(key, raw)
    for key, var in _ENV.items():
        if env.get(var):
            values[key] = _convert(key, env[var])
    values["home"] = home
    _check_logs(values)
    if str(values.get("backend", "local")) not in BACKENDS:
        raise SettingsError(f"WAMC_BACKEND must be one of {', '.join(BACKENDS)}")
    if not (1 <= int(values.get("port", 4000)) <= 65535):  # type: ignore[call-overload]  # _convert made it an int
        raise SettingsError("WAMC_PORT must be between 1 and 65535")
    return Settings(**values)  # type: ignore[arg-type]  # each value converted to its field type


def _check_logs(values: dict[str, object]) -> None:
    """The log format and level, case-insensitive, normalised (``json``, ``DEBUG``)."""
    fmt = str(values.get("log_format", "text")).strip().lower()
    if fmt not in LOG_FORMATS:
        raise SettingsError(f"WAMC_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}: {fmt!r}")
    level = str(values.get("log_level", "INFO")).strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"WAMC_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}: {level!r}")
    values["log_format"], values["log_level"] = fmt, level
