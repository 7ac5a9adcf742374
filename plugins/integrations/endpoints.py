"""The push endpoints partners call: `POST /integrations/push/<provider>/<franchise code>`.

Machines call these, not people: no login, no session, no CSRF token; the provider's signature is the
credential. Every request is logged (`InboundPayload`) with its outcome, a refusal with its reason, and
answered in the provider's own reply format, never with a 500 for a bad payload. The hot path keeps
per-process caches of the franchise codes and settings (`CRM_INTEGRATION_CACHE_TTL` seconds).
"""

from __future__ import annotations

import logging
import time
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import insert, select

from core.clock import utcnow
from core.extensions import db
from core.plugins import registry
from core.privacy import vault
from core.tenancy import Franchise
from plugins.integrations import ingest, settings, signing
from plugins.integrations.inbox_models import InboundPayload
from plugins.integrations.pushes import PushRejected, Request, providers

log = logging.getLogger(__name__)
blueprint = Blueprint("integrations_push", __name__)
PAYLOADS = InboundPayload.__table__
REJECTED_BODY_KEEP = 64 * 1024  # a refused body is kept for diagnosis, up to this much


class _Cache:
    """A small per-process cache with a time to live (0 = no caching)."""

    def __init__(self):
        self.items: dict = {}

    def get(self, key, load, ttl: float):
        now = time.monotonic()
        hit = self.items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if ttl > 0:
            self.items[key] = (now + ttl, value)
        return value


def state():
    state = current_app.extensions.get("integrations_push")
    if state is None:
        config = current_app.config
        state = current_app.extensions["integrations_push"] = {
            "providers": providers(int(config.get("CRM_PUSH_MAX_EVENTS", 10000))),
            "zone": ZoneInfo(config.get("CRM_TIMEZONE", "Asia/Shanghai")),
            "franchises": _Cache(), "settings": _Cache(),
        }
    return state


def _ttl() -> float:
    return float(current_app.config.get("CRM_INTEGRATION_CACHE_TTL", 10))


def _franchise_id(code: str) -> int | None:
    def load():
        return db.session.scalar(select(Franchise.id).where(Franchise.code == code, Franchise.active.is_(True)))

    return state()["franchises"].get(code, load, _ttl())


def franchise_settings(franchise_id: int) -> dict:
    return state()["settings"].get(franchise_id, lambda: settings.current(franchise_id), _ttl())


def _signature_headers() -> dict[str, str]:
    return {name: request.headers[name] for name in (signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER)
            if name in request.headers}


def _read_body() -> bytes:
    limit = int(current_app.config.get("CRM_PUSH_MAX_BYTES", 4 * 1024 * 1024))
    if request.content_length is not None and request.content_length > limit:
        raise PushRejected(413, "too_large", f"the body is larger than {limit} bytes", "body")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PushRejected(413, "too_large", f"the body is larger than {limit} bytes", "body")
    return body


@blueprint.route("/integrations/push/<provider>/<franchise_code>", methods=["POST"])
def push(provider: str, franchise_code: str):
    handler = state()["providers"].get(provider)
    franchise_id, config, body = None, {}, b""
    try:
        if handler is None:
            raise PushRejected(404, "unknown_provider", f"unknown provider {provider[:32]!r}; known: "
                                                        f"{', '.join(state()['providers'])}")
        body = _read_body()
        franchise_id = _franchise_id(franchise_code)
        if franchise_id is None or not registry().is_active(settings.PLUGIN, franchise_id):
            franchise_id = None
            raise PushRejected(404, "unknown_franchise", f"no franchise {franchise_code[:32]!r} takes pushes")
        config = franchise_settings(franchise_id)
        status, summary = process(handler, franchise_id, config, Request(body, _signature_headers(), time.time()),
                                  remote_addr=request.remote_addr)
        return jsonify(handler.reply(config, summary=summary)), status
    except PushRejected as rejected:
        db.session.rollback()
        log_rejected(provider, franchise_id, Request(body, _signature_headers(), 0), rejected, request.remote_addr)
        reply = handler.reply(config, rejected=rejected) if handler else {"error": {
            "code": rejected.code, "field": rejected.field, "message": rejected.message}}
        return jsonify(reply), rejected.status
    except Exception:  # the database or a bug: the provider retries later; nobody sees a trace
        db.session.rollback()
        log.exception("tracking push from %s for %s failed", provider, franchise_code)
        unavailable = PushRejected(503, "unavailable", "temporarily unavailable, please retry")
        reply = handler.reply(config, rejected=unavailable) if handler else {"error": unavailable.message}
        return jsonify(reply), 503


def process(handler, franchise_id: int, config: dict, push_request: Request, remote_addr: str | None = None,
            replay_of: int | None = None) -> tuple[int, dict]:
    """Verify, parse, store and log one push in one transaction; raises PushRejected (nothing written)."""
    events = handler.parse(push_request, config, state()["zone"])
    plan = ingest.plan(franchise_id, handler.name, events)
    if plan.foreign:
        raise PushRejected(403, "foreign_waybill", f"waybill {plan.foreign[0]} belongs to another franchise"
                           + (f" (and {len(plan.foreign) - 1} more)" if len(plan.foreign) > 1 else ""),
                           "waybill_no")
    values = _payload_values(handler.name, franchise_id, push_request, remote_addr, replay_of)
    values.update(outcome=plan.outcome, http_status=200, waybill_no=(plan.waybills or [None])[0],
                  waybill_count=len(plan.waybills), events_total=plan.total, events_new=len(plan.new),
                  events_duplicate=plan.duplicate, events_unmatched=len(plan.unmatched))
    statement = insert(PAYLOADS).values(**values)
    payload_id = None
    if plan.unmatched:  # inbox rows point at the payload they came in
        payload_id = db.session.execute(statement.returning(PAYLOADS.c.id)).scalar_one()
    else:
        db.session.execute(statement)
    ingest.apply(plan, payload_id, source="replay" if replay_of else "push", now=values["received_at"])
    db.session.commit()
    return 200, plan.summary()


def _payload_values(provider, franchise_id, push_request: Request, remote_addr, replay_of, keep=None) -> dict:
    body = push_request.body if keep is None else push_request.body[:keep]
    return {
        "franchise_id": franchise_id, "provider": provider[:16], "received_at": utcnow(),
        "body_enc": vault().encrypt(body.decode("utf-8", errors="replace")) if body else None,
        "body_bytes": len(push_request.body),
        "signed_timestamp": (push_request.headers.get(signing.TIMESTAMP_HEADER) or "")[:16] or None,
        "signature": (push_request.headers.get(signing.SIGNATURE_HEADER) or "")[:128] or None,
        "remote_addr": (remote_addr or "")[:64] or None, "replay_of_id": replay_of,
    }


def log_rejected(provider: str, franchise_id: int | None, push_request: Request, rejected: PushRejected,
                 remote_addr: str | None, replay_of: int | None = None) -> None:
    try:
        values = _payload_values(provider, franchise_id, push_request, remote_addr, replay_of,
                                 keep=REJECTED_BODY_KEEP)
        values.update(outcome="rejected", http_status=rejected.status, reason=rejected.reason[:255])
        db.session.execute(insert(PAYLOADS).values(**values))
        db.session.commit()
    except Exception:  # logging a refusal must not turn it into an error
        db.session.rollback()
        log.exception("could not log a refused push")


def exempt_from_csrf(app) -> None:
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blueprint)
