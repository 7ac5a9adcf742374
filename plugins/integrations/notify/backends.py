"""Message gateways. A backend takes one message and the recipient's phone and says how it went; a vendor's
SMS API becomes one more `Backend` subclass named in `BACKENDS` (and in the settings' choice)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from plugins.integrations.webhooks import http

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    """What a backend gets of a logged message (plain values: the send runs outside any transaction)."""

    id: int
    channel: str
    template: str
    params: dict
    purpose: str
    recipient_masked: str

    @classmethod
    def of(cls, message) -> "OutgoingMessage":
        return cls(message.id, message.channel, message.template, dict(message.params or {}), message.purpose,
                   message.recipient_masked)


@dataclass
class Outcome:
    sent: bool
    provider_message_id: str | None = None
    error: str | None = None


class Backend:
    name = "?"

    def __init__(self, settings: dict):
        self.settings = settings

    def send(self, message: OutgoingMessage, phone: str) -> Outcome:
        raise NotImplementedError


class LogBackend(Backend):
    """The default: writes the message to the application log (phone masked) and counts it as sent."""

    name = "log"

    def send(self, message, phone: str) -> Outcome:
        log.info("message %s to %s via %s: %s %s", message.id, message.recipient_masked, message.channel,
                 message.template, json.dumps(message.params, ensure_ascii=False))
        return Outcome(True, provider_message_id=f"log-{message.id}")


class HttpBackend(Backend):
    """POSTs the message as JSON to the franchise's gateway with its bearer token; a 2xx answer is sent
    (its JSON `id`, if any, is the provider's message id), anything else failed with the code."""

    name = "http"

    def send(self, message, phone: str) -> Outcome:
        url = self.settings.get("message_http_url")
        if not url:
            return Outcome(False, error="message_http_url: no gateway URL in the integrations settings")
        body = json.dumps({"message_id": message.id, "channel": message.channel, "template": message.template,
                           "params": message.params, "phone": phone, "purpose": message.purpose},
                          ensure_ascii=False).encode()
        headers = {"Idempotency-Key": f"crm-message-{message.id}"}
        token = self.settings.get("message_http_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        result = http.post(url, body, headers)
        if not result.ok:
            return Outcome(False, error=result.error or f"HTTP {result.status}: {result.excerpt[:200]}")
        return Outcome(True, provider_message_id=_provider_id(result.excerpt))


def _provider_id(text: str) -> str | None:
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    value = answer.get("id") if isinstance(answer, dict) else None
    return str(value)[:128] if value is not None else None


BACKENDS: dict[str, type[Backend]] = {"log": LogBackend, "http": HttpBackend}


def backend_for(settings: dict) -> Backend:
    name = settings.get("message_backend") or "log"
    if name not in BACKENDS:
        raise ValueError(f"message_backend: unknown gateway {name!r}, expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name](settings)
