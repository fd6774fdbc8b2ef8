"""``/openapi.json`` and Swagger UI (``/api-docs``), both public.

Swagger UI's files come from the ``swagger-ui-py`` package (``swagger_ui/static``): nothing is
loaded from a CDN, the page works offline.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aiohttp import web

from wamc.api.keys import ROUTE_TABLE
from wamc.api.openapi import document_json

DOCS_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wamc API</title>
<link rel="icon" type="image/png" href="/api-docs/favicon-32x32.png">
<link rel="stylesheet" href="/api-docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-docs/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body>
</html>
"""
# No persistAuthorization: the key stays in the page's memory, never in localStorage.
DOCS_INIT = """window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""


async def openapi_json(request: web.Request) -> web.Response:
    routes = request.app[ROUTE_TABLE]
    text = document_json(routes)
    return web.Response(text=text, content_type="application/json")


def swagger_dir() -> Path | None:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "static"
    return path if path.is_dir() else None


def _docs_headers(ctype: str) -> dict[str, str]:
    return {
        "Content-Type": ctype,
        "Content-Security-Policy": DOCS_CSP,
        "Cache-Control": "no-cache",
    }


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, headers=_docs_headers("text/html; charset=utf-8"))


async def api_docs_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/api-docs")


async def api_docs_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "init.js":
        return web.Response(text=DOCS_INIT, headers=_docs_headers("text/javascript"))
    base = swagger_dir()
    if name not in DOCS_FILES or base is None or not (base / name).is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(base / name, headers=_docs_headers(DOCS_FILES[name]))
