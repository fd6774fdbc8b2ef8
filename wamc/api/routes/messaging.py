"""The route table's messaging sections (issue 11): replies, reactions, read, typing, edits,
deletes, locations, contact cards, and media."""

from __future__ import annotations

from wamc.api import message_models as MM
from wamc.api.handlers import (
    media,
    message_actions,
)
from wamc.api.media_models import SendMedia, SendMediaResult
from wamc.api.routes.common import IDEMPOTENCY_KEY, SEND_ERRORS, C
from wamc.api.spec import (
    CHAT_PARAM,
    CLIENT_ERRORS,
    CLIENT_PARAM,
    MESSAGE_PARAM,
    WORKER_ERRORS,
    Route,
    query,
)

# fmt: off
# Replies, reactions, read, typing, edits, deletes, locations and contacts (issue 11). After
# DASHBOARD: GET …/messages/recent is matched first, and "recent" is no message id anyway.
MSG = C + "/messages/{msgId}"
ACTION_ERRORS = (*CLIENT_ERRORS, "invalid_message_id", "message_not_found", *WORKER_ERRORS)
PACED_ERRORS = ("send_queue_full", "idempotency_conflict", "invalid_parameter")
MESSAGE_ACTIONS = [
    Route("POST", MSG + "/reaction", message_actions.react, "send", "react",
          "React to a message (or remove your reaction)", "messages", response=MM.ReactionResult,
          request=MM.Reaction,
          errors=(*ACTION_ERRORS, "invalid_json", "invalid_field", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendReactionToMessage`. An empty emoji removes your reaction. "
          "It goes out through the client's paced send queue; the `message.reaction` event "
          "follows (with `sender` your own id)."),
    Route("PATCH", MSG, message_actions.edit, "send", "edit_message", "Edit a message you sent",
          "messages", response=MM.EditResult, request=MM.EditMessage,
          errors=(*ACTION_ERRORS, "invalid_json", "invalid_field", "not_own_message",
                  "edit_window_passed", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `editMessage`: your own text messages, within WhatsApp's edit "
          "window (15 minutes; later: 409 edit_window_passed; someone else's message: 409 "
          "not_own_message). The `message.edited` event follows and the history shows the new "
          "text."),
    Route("DELETE", MSG, message_actions.delete, "send", "delete_message",
          "Delete a message for everyone or for this account only", "messages",
          response=MM.DeleteResult, errors=(*ACTION_ERRORS, "not_own_message", *PACED_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY,
                  query("for", {"type": "string", "enum": ["everyone", "me"]},
                        "everyone (the default for your own messages) or me (any message; the "
                        "default for others')")),
          description="wa-js `deleteMessage`. For everyone: only your own messages (409 "
          "not_own_message); the history keeps it as type `revoked` and `message.revoked` "
          "follows. For me: it leaves this account's history and `message.deleted` follows."),
    Route("POST", C + "/chats/{chatId}/read", message_actions.mark_read, "send", "mark_read",
          "Mark a chat read (blue ticks for its messages)", "messages",
          response=MM.ReadResult, errors=(*CLIENT_ERRORS, "invalid_chat_id", "chat_not_found",
                                          *WORKER_ERRORS),
          params=(CLIENT_PARAM, CHAT_PARAM), description="wa-js `markIsRead`."),
    Route("POST", C + "/chats/{chatId}/typing", message_actions.typing, "send", "typing",
          "Show typing…, recording… or stop (paused) in a chat", "messages",
          response=MM.TypingResult, request=MM.Typing,
          errors=(*CLIENT_ERRORS, "invalid_chat_id", "chat_not_found", "invalid_json",
                  "invalid_field", *WORKER_ERRORS),
          params=(CLIENT_PARAM, CHAT_PARAM),
          description="wa-js `markIsComposing`, `markIsRecording`, `markIsPaused`."),
    Route("POST", C + "/send-location", message_actions.send_location, "send", "send_location",
          "Send a location", "messages", ok=201, response=MM.KindResult,
          request=MM.SendLocation,
          errors=SEND_ERRORS,
          params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendLocationMessage`; paced like a text. `reply_to` quotes a "
          "message."),
    Route("POST", C + "/send-contact", message_actions.send_contact, "send", "send_contact",
          "Send one or more contact cards", "messages", ok=201, response=MM.KindResult,
          request=MM.SendContact,
          errors=SEND_ERRORS,
          params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendVCardContactMessage`: each contact is a phone number or "
          "chat id with an optional display name; paced like a text."),
]
MEDIA = [  # issue 11
    Route("POST", C + "/send-media", media.send_media, "send", "send_media",
          "Send an image, video, audio, voice note, document or sticker", "messages", ok=201,
          response=SendMediaResult, request=SendMedia, params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          errors=(*SEND_ERRORS, "unsupported_media_type", "not_on_whatsapp", "message_not_found"),
          description="`multipart/form-data` with the fields `file`, `to` and optionally "
          "`caption`, `filename`, `reply_to`, `as` (image, video, audio, voice, document, "
          "sticker; default: from the type sniffed from the bytes), streamed to disk; or the "
          "JSON body below with `media.data` in base64 (at most 16 MB) or `media.url` (fetched "
          "by the gateway: public http(s) addresses only). Limits per kind: "
          "WAMC_MEDIA_MAX_IMAGE_MB (images, stickers), WAMC_MEDIA_MAX_VIDEO_MB, "
          "WAMC_MEDIA_MAX_AUDIO_MB (audio, voice), WAMC_MEDIA_MAX_DOCUMENT_MB: 413 "
          "payload_too_large beyond. 415 unsupported_media_type when the bytes are not an "
          "allowed type of the kind (a voice note must be OGG/Opus, a sticker WebP; documents "
          "take any type; nothing is transcoded). Paced like send-message; `type` is WhatsApp's "
          "(`ptt` for a voice note). With an Idempotency-Key, a retried upload (the same fields "
          "and the same bytes) answers the first answer and sends nothing; the same key with "
          "another file is 409 idempotency_conflict."),
    Route("GET", C + "/messages/{msgId}/media", media.message_media, "read", "message_media",
          "Download a message's media", "messages",
          errors=(*CLIENT_ERRORS, "invalid_message_id", "message_not_found", "media_gone",
                  *WORKER_ERRORS),
          params=(CLIENT_PARAM, MESSAGE_PARAM,
                  query("download", {"type": "string", "enum": ["0", "1"]},
                        "1: as an attachment with its file name (Content-Disposition)")),
          content={"*/*": {"schema": {"type": "string", "format": "binary"}}},
          description="The file with its content type, fetched from WhatsApp through the "
          "client's worker on first request and kept in a per-client cache "
          "(WAMC_MEDIA_CACHE_MB, least recently used out). 410 media_gone when WhatsApp no "
          "longer has it. The message must be stored (history)."),
]
# fmt: on
