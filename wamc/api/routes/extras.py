"""The route table's section of forwards and polls (issue 11, "also expected"); mentions are a
field of send-message, poll votes the ``poll.vote`` event."""

from __future__ import annotations

from wamc.api import extras_models as XM
from wamc.api.handlers import message_extras
from wamc.api.routes.common import IDEMPOTENCY_KEY, SEND_ERRORS, C
from wamc.api.routes.messaging import MSG
from wamc.api.spec import CLIENT_PARAM, MESSAGE_PARAM, Route

# fmt: off
MESSAGE_EXTRAS = [
    Route("POST", MSG + "/forward", message_extras.forward, "send", "forward_message",
          "Forward a message to another chat", "messages", ok=201,
          response=XM.ForwardResult, request=XM.Forward,
          errors=(*SEND_ERRORS, "invalid_message_id"),
          params=(CLIENT_PARAM, MESSAGE_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `forwardMessages` (its `forwardMessage` is deprecated in 4.6): the "
          "message (text, media, location, …) goes to `to` marked as forwarded; `id` is the "
          "copy's. Paced like a text. 404 message_not_found for a message the page does not "
          "have (or deleted for everyone), 422 not_on_whatsapp for a recipient who is not."),
    Route("POST", C + "/send-poll", message_extras.send_poll, "send", "send_poll",
          "Send a poll", "messages", ok=201, response=XM.PollResult, request=XM.SendPoll,
          errors=SEND_ERRORS, params=(CLIENT_PARAM, IDEMPOTENCY_KEY),
          description="wa-js `sendCreatePollMessage`: 2-12 distinct options; `selectable_count` "
          "1 for a single choice, 0 for any number. Paced like a text. Each vote (and each "
          "change of a vote) comes back as a `poll.vote` event `{id, chat_id, sender, selected, "
          "timestamp}` naming the options chosen (`[]`: the vote was withdrawn)."),
]
# fmt: on
