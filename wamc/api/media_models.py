"""The media endpoints' request and response models (schemas of /openapi.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wamc.validation import _Out


class MediaSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str | None = Field(default=None, description="the file, base64 (at most 16 MB)")
    url: str | None = Field(default=None, max_length=2048, description="or a public http(s) URL")
    mimetype: str | None = Field(default=None, max_length=255, examples=["application/pdf"])
    filename: str | None = Field(default=None, max_length=255, examples=["invoice.pdf"])


class SendMedia(BaseModel):
    """The JSON form of send-media (multipart/form-data carries the same fields, ``file``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str = Field(min_length=1, max_length=128, examples=["+55 11 98888-7777"])
    media: MediaSource
    caption: str | None = Field(default=None, max_length=4096)
    reply_to: str | None = Field(default=None, max_length=600)
    as_: Literal["image", "video", "audio", "voice", "document", "sticker"] | None = Field(
        default=None, alias="as", description="default: from the MIME type sniffed from the bytes"
    )


class MediaInfo(_Out):
    mimetype: str | None = Field(examples=["image/png"])
    filename: str | None = None
    size: int | None = Field(default=None, description="bytes")
    caption: str | None = None
    sha256: str | None = Field(default=None, description="hex SHA-256 of the file")


class SendMediaResult(_Out):
    id: str | None = Field(examples=["true_5511988887777@c.us_3EB0ABCDEF"])
    ack: int = Field(examples=[1])
    to: str = Field(examples=["5511988887777@c.us"])
    type: str = Field(
        examples=["image"],
        description="WhatsApp's type: image, video, audio, ptt (voice), document or sticker",
    )


MODELS: tuple[type[BaseModel], ...] = (MediaSource, SendMedia, MediaInfo, SendMediaResult)
