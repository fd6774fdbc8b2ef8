"""The one route table: routing, authorization (``scope``) and the OpenAPI document.

Each entry says method, path, handler, the scope a key needs, the request/response models
(from ``wamc/validation/`` and the API's model modules), the error codes it may answer and its
documentation. The factory builds the router from ``ROUTES``, the security middleware reads the
scope of the matched entry, and ``openapi.py`` renders the document from it. See ``spec.Route``
for the fields. Its sections live in this package's modules; ``ROUTES`` is their one order (the
order aiohttp matches in).
"""

from __future__ import annotations

from wamc.api.routes.core import (
    ANALYTICS,
    CLIENTS,
    DASHBOARD,
    DOCS,
    EVENTS,
    EXPORT,
    MESSAGES,
    OPS,
    PORTAL,
    SYSTEM,
    TOKENS,
    WEBHOOKS,
)
from wamc.api.routes.extras import MESSAGE_EXTRAS
from wamc.api.routes.messaging import MEDIA, MESSAGE_ACTIONS
from wamc.api.routes.nodes import NODES
from wamc.api.routes.people import CONTACT_ROUTES, GROUP_ROUTES
from wamc.api.spec import Route

ROUTES: tuple[Route, ...] = (
    *SYSTEM,
    *OPS,
    *CLIENTS,
    *MESSAGES,
    *MEDIA,
    *EVENTS,
    *TOKENS,
    *DOCS,
    *DASHBOARD,
    *ANALYTICS,
    *EXPORT,
    *WEBHOOKS,
    *PORTAL,
    *MESSAGE_ACTIONS,
    *MESSAGE_EXTRAS,
    *CONTACT_ROUTES,
    *GROUP_ROUTES,
    *NODES,
)
