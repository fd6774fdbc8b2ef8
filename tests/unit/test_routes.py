"""The one route table (wamc/api/routes/) drives routing, authorization and the document:
its entries must agree with each other and with the rules that apply where no entry matches."""

from __future__ import annotations

from aiohttp import web

from wamc.api.app import add_routes
from wamc.api.keys import METRICS
from wamc.api.metrics import Metrics
from wamc.api.middleware import needs_key
from wamc.api.openapi import build_document
from wamc.api.routes import ROUTES
from wamc.api.spec import SCOPES
from wamc.errors import CODES


def test_entries_are_unique_and_well_formed() -> None:
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    listed = [r.op_id for r in ROUTES if r.listed]
    assert len(set(listed)) == len(listed), "operation ids are unique"
    for r in ROUTES:
        assert r.scope in SCOPES, r
        assert r.method in {"GET", "POST", "PATCH", "DELETE"}, r
        assert set(r.errors) <= set(CODES), (r.op_id, set(r.errors) - set(CODES))
        assert r.listed or r.scope == "public", f"{r.path}: an unlisted route must be public"


def test_public_entries_are_exactly_the_paths_that_need_no_key() -> None:
    """An unmatched path (404, HEAD) falls back to ``needs_key``: the table must agree with it,
    or a route would be public only when it matches."""
    for r in ROUTES:
        assert (r.scope == "public") == (not needs_key(r.path)), (r.method, r.path, r.scope)


def test_listed_entries_are_the_api_and_its_document() -> None:
    for r in ROUTES:
        api = r.path.startswith("/api/") or r.path in (
            "/health",
            "/ws",
            "/openapi.json",
            "/metrics",
        )
        assert r.listed == api, r.path


def test_router_index_maps_every_entry_to_its_route() -> None:
    app = web.Application()
    app[METRICS] = Metrics()
    index = add_routes(app, ROUTES)
    router = app.router
    assert list(index.values()) == list(ROUTES)
    for route, entry in index.items():
        assert route.method == entry.method
        assert route.resource is not None and route.resource.canonical == entry.path
    # GET also answers HEAD (as web.get did), and HEAD has no entry: it needs the admin key.
    heads = [r for r in router.routes() if r.method == "HEAD"]
    assert len(heads) == sum(1 for r in ROUTES if r.method == "GET")
    assert not set(heads) & set(index)


def test_document_scopes_come_from_the_entries() -> None:
    doc = build_document(ROUTES)
    for r in ROUTES:
        if not r.listed:
            continue
        op = doc["paths"][r.path][r.method.lower()]
        assert op["operationId"] == r.op_id
        if r.scope == "public":
            assert op["security"] == []
        elif r.scope == "admin":
            assert "Authorization: needs the admin key." in op["description"]
        elif r.scope == "any":
            assert "Authorization: any valid key or token." in op["description"]
        else:
            assert f"Authorization: needs the `{r.scope}` scope." in op["description"]
