"""Every table of the daemon's database, and the columns added since the first release."""

from __future__ import annotations

CORE = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    desired TEXT NOT NULL DEFAULT 'running',
    created_at TEXT NOT NULL,
    me TEXT,
    state TEXT NOT NULL DEFAULT 'stopped',
    worker_pid INTEGER,
    worker_started REAL,
    browser_pid INTEGER,
    boot TEXT,
    delivered_dn INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    client TEXT NOT NULL,
    id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    from_me INTEGER NOT NULL,
    sender TEXT,
    recipient TEXT,
    body TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    ack INTEGER NOT NULL DEFAULT 0,
    key_id TEXT NOT NULL,
    lid TEXT,
    PRIMARY KEY (client, id)
);
-- One person can appear as …@lid and as …@c.us: the same message then has two serialized ids
-- but one key id, so duplicates are suppressed on the key id too.
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages (client, from_me, key_id);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (client, chat_id, timestamp DESC);
CREATE TABLE IF NOT EXISTS events (
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (client, seq)
);
-- The last seq of a deleted client: a client created again under the same id continues after
-- it, so a consumer resuming with ?since=<id>:<seq> never skips the new events.
CREATE TABLE IF NOT EXISTS event_seq_floor (
    client TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
-- Worker events that could not be applied (bad shape, or a failure while storing): acknowledged
-- to the worker (never retried forever) and kept here for an operator.
CREATE TABLE IF NOT EXISTS dead_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client TEXT NOT NULL,
    dn INTEGER NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_events_by_client ON dead_events (client, id);
"""

SECURITY = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS api_tokens_by_client ON api_tokens (client);
CREATE TABLE IF NOT EXISTS audit (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    key_id TEXT,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client TEXT,
    status INTEGER NOT NULL,
    result TEXT NOT NULL,
    remote TEXT,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS audit_by_client ON audit (client, n);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (timestamp);
CREATE TABLE IF NOT EXISTS idempotency (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client, key)
);
"""

WEBHOOKS = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    client TEXT,
    url TEXT NOT NULL,
    events TEXT,
    secret TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    max_attempts INTEGER NOT NULL,
    backoff_base REAL NOT NULL,
    backoff_max REAL NOT NULL,
    timeout REAL NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_lane ON webhook_outbox (status, webhook_id, client, id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL,
    outbox_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    client TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);
"""

# Media (issue 11): the per-client download cache's index (files under sessions/<id>/media/).
MEDIA = """
CREATE TABLE IF NOT EXISTS media_cache (
    client TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    mimetype TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    used REAL NOT NULL,
    PRIMARY KEY (client, msg_id)
);
CREATE INDEX IF NOT EXISTS media_cache_lru ON media_cache (client, used);
"""

# Retention and exports (issue 11): per-client settings, and per chat the newest message ever
# stored (kept by a trigger, so every insert path keeps it) and what retention deleted: rows may
# go, the marks stay, so the worker's backfill never fetches and publishes them again.
RETENTION = """
CREATE TABLE IF NOT EXISTS client_settings (
    client TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_marks (
    client TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    id TEXT NOT NULL,
    pruned_before INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client, chat_id)
);
CREATE INDEX IF NOT EXISTS chat_marks_by_time ON chat_marks (client, timestamp DESC);
CREATE TRIGGER IF NOT EXISTS chat_marks_on_insert AFTER INSERT ON messages BEGIN
    INSERT INTO chat_marks (client, chat_id, timestamp, id)
    VALUES (NEW.client, NEW.chat_id, NEW.timestamp, NEW.id)
    ON CONFLICT (client, chat_id) DO UPDATE SET timestamp = excluded.timestamp, id = excluded.id
    WHERE excluded.timestamp >= chat_marks.timestamp;
END;
-- A database made before the marks: seeded once from the messages it holds.
INSERT OR IGNORE INTO chat_marks (client, chat_id, timestamp, id)
    SELECT client, chat_id, MAX(timestamp), id FROM messages
    WHERE NOT EXISTS (SELECT 1 FROM chat_marks) GROUP BY client, chat_id;
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (client, timestamp);
"""

_STATS_COLUMNS = """
    messages_in INTEGER NOT NULL DEFAULT 0,
    messages_out INTEGER NOT NULL DEFAULT 0,
    send_failures INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    connected_seconds REAL NOT NULL DEFAULT 0,
    desired_seconds REAL NOT NULL DEFAULT 0,"""
STATS = f"""
-- Analytics (wamc/storage/stats.py): counters per client and UTC hour, and per client and UTC
-- day, added to where the facts happen; client '' (never a client id) holds every client's sum.
-- GET /api/stats and /api/clients/{{id}}/stats read only these.
CREATE TABLE IF NOT EXISTS stats_hourly (
    client TEXT NOT NULL,
    hour INTEGER NOT NULL,{_STATS_COLUMNS}
    PRIMARY KEY (client, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_daily (
    client TEXT NOT NULL,
    day INTEGER NOT NULL,{_STATS_COLUMNS}
    PRIMARY KEY (client, day)
) WITHOUT ROWID;
-- One-time steps already done to this database (ONCE below), by name.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Ray backend (issue 14): where each client was last placed with its epoch (sticky placement,
# stale workers fenced), and the nodes an operator drained (kept across restarts).
PLACEMENT = """
CREATE TABLE IF NOT EXISTS placements (
    client TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    epoch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS node_drains (
    node TEXT PRIMARY KEY,
    since TEXT NOT NULL
);
"""

SCHEMA = CORE + SECURITY + WEBHOOKS + MEDIA + RETENTION + STATS + PLACEMENT

# (table, column, type) added after the first release: created on open when missing.
ADDED_COLUMNS = (
    ("messages", "lid", "TEXT"),
    ("clients", "worker_secret_hash", "TEXT"),
    ("clients", "worker_curve_public", "TEXT"),
    ("clients", "stop_outcome", "TEXT"),
    # Failed sign-ins are counted into one row per address and minute, not one row each.
    ("audit", "count", "INTEGER NOT NULL DEFAULT 1"),
    # When the stored state began: a daemon adopting the worker keeps the client's `since`.
    ("clients", "state_since", "TEXT"),
    # Replies and the other message kinds (issue 11): the quoted message's id, and the
    # kind-specific parts (location, contacts, poll, system) as one JSON object.
    ("messages", "quoted_id", "TEXT"),
    ("messages", "details", "TEXT"),
    ("messages", "media", "TEXT"),  # a media message's file: JSON {mimetype, filename, …}
    # An expiring token (portal invites): refused after this ISO 8601 UTC time.
    ("api_tokens", "expires_at", "TEXT"),
)

# (name, statements) run once per database, when opened by the first version that has them; the
# name is recorded in ``meta`` in the same transaction.
ONCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The stored message history becomes the analytics of the hours (and days) it happened in.
    (
        "stats_backfill_messages",
        (
            "INSERT INTO stats_hourly (client, hour, messages_in, messages_out)"
            " SELECT client, timestamp - timestamp % 3600 AS h, SUM(from_me = 0), SUM(from_me = 1)"
            " FROM messages WHERE timestamp > 0 AND client != '' GROUP BY client, h",
            "INSERT INTO stats_hourly (client, hour, messages_in, messages_out)"
            " SELECT '', hour, SUM(messages_in), SUM(messages_out) FROM stats_hourly"
            " WHERE client != '' GROUP BY hour",
            "INSERT INTO stats_daily (client, day, messages_in, messages_out)"
            " SELECT client, hour - hour % 86400 AS d, SUM(messages_in), SUM(messages_out)"
            " FROM stats_hourly GROUP BY client, d",
        ),
    ),
)
