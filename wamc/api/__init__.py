"""The HTTP API: REST, event streams (WebSocket, SSE), the OpenAPI document and the dashboard.

``routes.py`` is the one route table; ``app.py`` builds the aiohttp application from it.
"""

from wamc.api.addresses import parse_networks
from wamc.api.app import begin_shutdown, create_app
from wamc.api.keys import FULL_STOP, STOP, WEBHOOKS

__all__ = ["FULL_STOP", "STOP", "WEBHOOKS", "begin_shutdown", "create_app", "parse_networks"]
