"""The gateway benchmark's baseline: a bare aiohttp handler answering a fixed JSON body (the
same bytes wamc's status answer had), in its own process like the daemon.

    python -m bench.bare_aiohttp --port 4100 --body status.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web


def app(body: bytes) -> web.Application:
    async def status(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    application = web.Application()
    application.router.add_get("/api/clients/{id}/status", status)
    return application


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    web.run_app(app(args.body.read_bytes()), host="127.0.0.1", port=args.port, access_log=None)
