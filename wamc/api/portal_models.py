"""Request and answer of ``POST /api/clients/{id}/portal-invite`` (the client owner's page)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from wamc.validation import known_scopes

# What the portal page uses: state, QR and messages (read), a test message (send), the pairing
# code and start/restart/log out (control), its webhooks (webhooks).
PORTAL_SCOPES = ["read", "send", "control", "webhooks"]
WEEK = 7 * 24 * 3600
MAX_TTL = 90 * 24 * 3600


class PortalInviteCreate(BaseModel):
    """Every field is optional: an empty body makes a week-long invite with the portal's scopes."""

    model_config = ConfigDict(extra="forbid")

    expires_in: StrictInt = Field(  # a JSON number: "3600" or true are refused, not coerced
        default=WEEK, ge=1, le=MAX_TTL, description="seconds the link stays valid (max 90 days)"
    )
    scopes: list[str] = Field(
        default_factory=lambda: list(PORTAL_SCOPES),
        min_length=1,
        max_length=4,
        description="a subset of read, send, control, webhooks; must include read",
    )
    name: str = Field(default="portal invite", max_length=100)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: list[str]) -> list[str]:
        known_scopes(v)
        if "read" not in v:
            raise ValueError("the portal needs the 'read' scope")
        return v


class PortalInvite(BaseModel):
    url: str = Field(
        examples=["http://127.0.0.1:4000/portal#token=wamc_…"],
        description="the link to hand to the client's owner: the token is in the fragment, "
        "which browsers never send to a server; shown only in this answer",
    )
    token_id: str = Field(
        examples=["tok_0123456789abcdef"],
        description="revoke it with DELETE /api/clients/{id}/tokens/{token_id}",
    )
    client: str
    scopes: list[str]
    expires_at: str


class WhoAmI(BaseModel):
    key_id: str = Field(examples=["tok_0123456789abcdef"], description="'admin' or a token id")
    admin: bool
    client: str | None = Field(description="the token's client; null for the admin key")
    scopes: list[str] = Field(examples=[["read", "send", "control", "webhooks"]])
    name: str | None = None
    expires_at: str | None = Field(default=None, description="null: never expires")
