"""The heavy page (``--weight heavy``): a WhatsApp-weight bundle, account and chat list.

The light page weighs a few hundred kilobytes; WhatsApp Web loads megabytes of script and holds
thousands of messages in memory and IndexedDB, so memory figures measured on the light page say
little about the real one. In heavy mode the page also loads ``/heavy.js``: a bundle generated
here, deterministically, at first request (megabytes of modules with real bodies, so V8 parses,
compiles and keeps them), followed by ``static/heavy-runtime.js``, which seeds an account
(~300 chats, ~20,000 messages) into IndexedDB once per profile, loads it into memory, renders the
chat list and appends every message the page announces. The page reports what it holds to
``POST /sim/heavy/report``; ``GET /control/heavy`` returns those reports. See docs/simulator.md.
"""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
WEIGHTS = ("light", "heavy")
NO_STORE = {"Cache-Control": "no-store"}
MAX_PAGES = 1000  # reports kept (one per browser profile)


@dataclass(frozen=True)
class HeavyModel:
    """The numbers of the heavy page (docs/simulator.md explains the choices)."""

    chats: int = 300
    messages: int = 20_000
    modules: int = 3_200  # generated modules: ~2 KB of code each
    media_share: float = 0.15  # messages with an inline JPEG thumbnail
    thumb_bytes: int = 1_800
    seed: int = 20261130


MODEL = HeavyModel()

_WORDS = [
    "message",
    "chat",
    "contact",
    "group",
    "status",
    "label",
    "sticker",
    "media",
    "upload",
    "download",
    "cipher",
    "session",
    "prekey",
    "receipt",
    "presence",
    "call",
    "poll",
    "newsletter",
    "community",
    "device",
    "sync",
    "history",
    "quote",
    "reply",
    "mention",
    "reaction",
    "ephemeral",
    "archive",
    "mute",
    "pin",
    "starred",
    "search",
    "draft",
    "thumbnail",
    "wallpaper",
]

# Method bodies the generator varies (identifiers, constants, strings): enough shapes that the
# bundle is not one function repeated, like a real app's code.
_BODIES = (
    "let s = {k}; for (let i = 0; i < x.length; i++) s = (s * 31 + x.charCodeAt(i)) | 0; "
    "return s ^ this.{f};",
    "const out = []; for (const [k, v] of Object.entries(x || {{}})) if (v != null) "
    "out.push(`${{k}}={{v}}:{w}`); return out.join('&');",
    "if (!x) return this.{f}; const y = {{ ...x, {w}: this.{f} + {k}, at: Date.now() }}; "
    "this.cache.set(y.{w}, y); return y;",
    "return (x || []).filter((e) => e && e.{w} !== {k}).map((e) => ({{ id: e.id, "
    "{w}: String(e.{w}).toUpperCase(), n: {k} }}));",
    "switch (x) {{ case {k}: return '{w}'; case {k2}: return this.{f}; default: "
    "return x > {k} ? '{w}:' + x : null; }}",
    "const m = /^({w})_(\\d+)$/.exec(String(x)); if (!m) throw new TypeError('bad {w}: ' + x); "
    "return {{ kind: m[1], n: Number(m[2]) + {k} }};",
    "return new Promise((resolve) => {{ const v = this.{f} * {k}; queueMicrotask(() => "
    "resolve({{ {w}: v, ok: v > {k2} }})); }});",
    "let a = 0, b = 1; for (let i = 0; i < ({k} % 20) + 5; i++) [a, b] = [b, (a + b) % {k2}]; "
    "this.{f} = a; return a;",
)


def _module(rnd: random.Random, i: int) -> str:
    name = f"WAWeb{rnd.choice(_WORDS).title()}{rnd.choice(_WORDS).title()}{i:04d}"
    deps = [f"m{j}" for j in rnd.sample(range(i), min(i, rnd.randint(0, 3)))]
    fields = [f"{rnd.choice(_WORDS)}{n}" for n in range(rnd.randint(4, 9))]
    strings = {
        f"s{n}": " ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(3, 12)))
        for n in range(rnd.randint(4, 10))
    }
    methods = []
    for n in range(rnd.randint(5, 9)):
        body = rnd.choice(_BODIES).format(
            k=rnd.randint(1, 9999),
            k2=rnd.randint(10_000, 99_999),
            f=rnd.choice(fields),
            w=rnd.choice(_WORDS),
        )
        methods.append(f"    on{rnd.choice(_WORDS).title()}{n}(x) {{ {body} }}")
    ctor = " ".join(f"this.{f} = a.{f} ?? {rnd.randint(0, 999)};" for f in fields)
    instances = rnd.randint(4, 24)
    return (
        f'__d("m{i}", {json.dumps(deps)}, function (require, exports, rt) {{\n'
        f"  const S = {json.dumps(strings)};\n"
        f"  class {name} {{\n"
        f"    constructor(a) {{ {ctor} this.cache = new Map(); this.label = S.s0; }}\n"
        + "\n".join(methods)
        + "\n  }\n"
        f"  exports.{name} = {name};\n"
        f"  exports.init = function (rt) {{\n"
        f"    const items = [];\n"
        f"    for (let i = 0; i < {instances}; i++) items.push(new {name}({{ {fields[0]}: i }}));\n"
        + "".join(
            f"    try {{ items[0].{m.split('(')[0].strip()}(S.s1); }} catch (e) {{}}\n"
            for m in methods[:3]
        )
        + f'    rt.keep("{name}", {{ items, strings: S, byId: new Map(items.map((x, i) => [i, x])) }});\n'
        "  };\n"
        "});\n"
    )


@functools.cache
def bundle(model: HeavyModel = MODEL) -> bytes:
    """The heavy bundle: runtime, generated modules, then the call that starts it."""
    rnd = random.Random(model.seed)
    runtime = (STATIC_DIR / "heavy-runtime.js").read_text()
    modules = "".join(_module(rnd, i) for i in range(model.modules))
    cfg = {
        "chats": model.chats,
        "messages": model.messages,
        "mediaShare": model.media_share,
        "thumbBytes": model.thumb_bytes,
        "seed": model.seed,
    }
    text = (
        "/* Generated by wamc/simulator/heavy.py: a stand-in for WhatsApp Web's bundles. */\n"
        "(() => {\n'use strict';\n"
        f"{runtime}\n{modules}\nheavyMain({json.dumps(cfg)});\n}})();\n"
    )
    return text.encode()


class HeavyPages:
    """The last report of each heavy page (per browser profile), for GET /control/heavy."""

    def __init__(self, weight: str) -> None:
        if weight not in WEIGHTS:
            raise ValueError(f"weight must be one of {', '.join(WEIGHTS)}, not {weight!r}")
        self.weight = weight
        self.pages: dict[str, dict[str, Any]] = {}

    def record(self, data: Any) -> None:
        report = _clean(data)
        key = str(report.get("profile") or "?")
        if key not in self.pages and len(self.pages) >= MAX_PAGES:
            self.pages.pop(next(iter(self.pages)))
        self.pages[key] = {**report, "received_at": time.time()}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"weight": self.weight, "pages": list(self.pages.values())}
        if self.weight == "heavy":
            out["model"] = asdict(MODEL)
            out["bundle_bytes"] = len(bundle())
        return out


_INT_FIELDS = (
    "idb_messages",
    "idb_chats",
    "model_messages",
    "model_chats",
    "dom_nodes",
    "heap_used",
    "heap_total",
    "modules",
    "kept_objects",
    "load_ms",
)


def _clean(data: Any) -> dict[str, Any]:
    """Keep the known fields of a page's report, typed; anything else is dropped."""
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="a report is a JSON object")
    out: dict[str, Any] = {}
    for key in ("profile", "phone"):
        value = data.get(key)
        out[key] = value[:64] if isinstance(value, str) else None
    for key in _INT_FIELDS:
        n = data.get(key)
        if isinstance(n, bool) or not isinstance(n, int | float) or not 0 <= n < 2**53:
            n = None
        out[key] = None if n is None else int(n)
    out["seeded"] = data.get("seeded") is True
    return out


HEAVY_KEY = web.AppKey("heavy", HeavyPages)


async def _heavy_js(request: web.Request) -> web.Response:
    return web.Response(
        body=bundle(), headers={**NO_STORE, "Content-Type": "text/javascript; charset=utf-8"}
    )


async def _report(request: web.Request) -> web.Response:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="body must be JSON") from None
    request.app[HEAVY_KEY].record(data)
    return web.json_response({"ok": True})


async def _control(request: web.Request) -> web.Response:
    return web.json_response(request.app[HEAVY_KEY].describe())


def index_handler(weight: str) -> Any:
    """The page; in heavy mode its bundle loads before whatsapp.js, as WhatsApp's do."""
    html = (STATIC_DIR / "index.html").read_text()
    anchor = '<script src="whatsapp.js">'
    if weight == "heavy":
        if anchor not in html:
            raise RuntimeError(f"static/index.html has no {anchor}: cannot add the heavy bundle")
        html = html.replace(anchor, f'<script src="heavy.js"></script>\n  {anchor}')

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", headers=NO_STORE)

    return handler


def setup(app: web.Application, weight: str) -> list[web.RouteDef]:
    """Attach the heavy page's state to ``app``; the routes to add (control one in both modes)."""
    app[HEAVY_KEY] = HeavyPages(weight)
    routes = [web.get("/control/heavy", _control)]
    if weight == "heavy":
        routes += [web.get("/heavy.js", _heavy_js), web.post("/sim/heavy/report", _report)]
    return routes
