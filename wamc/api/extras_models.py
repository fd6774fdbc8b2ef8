"""Request and answer models of forwards and polls (issue 11, "also expected"); they validate
requests and are schemas of /openapi.json. Mentions are a field of ``SendMessage``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wamc.validation import MESSAGE_ID, SendResult

POLL_OPTIONS_MAX = 12  # WhatsApp's limit


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Forward(_In):
    to: str = Field(
        min_length=1,
        max_length=128,
        examples=["+55 11 98888-7777"],
        description="a phone number or chat id (a group too)",
    )


class SendPoll(_In):
    to: str = Field(min_length=1, max_length=128, examples=["120363012345678901@g.us"])
    name: str = Field(min_length=1, max_length=255, examples=["Lunch on Friday?"])
    options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=2, max_length=POLL_OPTIONS_MAX, examples=[["Pizza", "Sushi", "Salad"]]
    )
    selectable_count: int = Field(
        default=1,
        ge=0,
        le=POLL_OPTIONS_MAX,
        examples=[1],
        description="how many options a voter may pick: 1 (default) a single choice, 0 any number",
    )
    reply_to: str | None = Field(
        default=None, pattern=MESSAGE_ID.pattern, description="id of the message to quote"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name is empty")
        return v

    @model_validator(mode="after")
    def _choices(self) -> SendPoll:
        if any(not o.strip() for o in self.options):
            raise ValueError("options: an option is empty")
        if len({o.strip() for o in self.options}) != len(self.options):
            raise ValueError("options: each option once")
        if self.selectable_count > len(self.options):
            raise ValueError("selectable_count: more than there are options")
        return self


class ForwardResult(SendResult):
    forwarded_from: str = Field(
        examples=["false_5511977770001@c.us_3EB0C0FFEE"], description="the message forwarded"
    )


class PollResult(SendResult):
    type: str = Field(examples=["poll_creation"], description="WhatsApp's type of a poll")


REQUESTS: tuple[type[BaseModel], ...] = (Forward, SendPoll)
ANSWERS: tuple[type[BaseModel], ...] = (ForwardResult, PollResult)
