"""The schemas of the settings endpoints (issue 11); the settings object itself is the typed
model the store keeps (wamc/storage/client_settings.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from wamc.storage.client_settings import ClientSettings, Retention


class ClientSettingsAnswer(BaseModel):
    id: str = Field(examples=["acme"])
    settings: ClientSettings = Field(description="the client's own values; null = the default")
    retention: Retention = Field(description="what applies: its own values over the defaults")


REQUESTS: tuple[type[BaseModel], ...] = (ClientSettings,)
MODELS: tuple[type[BaseModel], ...] = (ClientSettings, Retention, ClientSettingsAnswer)
