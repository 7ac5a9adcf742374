"""The push endpoints partners call: `POST /integrations/push/<provider>/<franchise code>`.

Machines call these, not people: no login, no session, no CSRF token; the provider's signature is the
credential, and a WSGI gateway answers them before the admin shell's per-request machinery. Every request
is logged (`InboundPayload`) with its outcome, a refusal with its reason, and answered in the provider's own
reply format, never with a 500 for a bad payload. The hot path keeps per-process caches of the franchise codes
and settings (`CRM_INTEGRATION_CACHE_TTL` seconds).
"""

from __future__ import annotations

import json
import logging
import time
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Request as HttpRequest
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.extensions import db
from core.plugins import registry
from core.tenancy import Franchise
from plugins.integrations import settings, signing
from plugins.integrations.inbound import store, store_pg
from plugins.integrations.inbound.models import InboundPayload, seal_body
from plugins.integrations.inbound.pushes import PushRejected, Request, providers

log = logging.getLogger(__name__)
PAYLOADS = InboundPayload.__table__
LOG = insert(PAYLOADS)
LOG_RETURNING_ID = insert(PAYLOADS).returning(PAYLOADS.c.id)
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


def _signature_headers(http) -> dict[str, str]:
    return {name: http.headers[name] for name in (signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER)
            if name in http.headers}


def _read_body(http) -> bytes:
    limit = int(current_app.config.get("CRM_PUSH_MAX_BYTES", 4 * 1024 * 1024))
    if http.content_length is not None and http.content_length > limit:
        raise PushRejected(413, "too_large", f"the body is larger than {limit} bytes", "body")
    body = http.stream.read(limit + 1)
    if len(body) > limit:
        raise PushRejected(413, "too_large", f"the body is larger than {limit} bytes", "body")
    return body


class PushGateway:
    """WSGI middleware: `POST /integrations/push/<provider>/<franchise code>` answered in front of the shell.

    Partners are machines: they need none of what the admin shell does for people on every request
    (session cookie, login manager, CSRF, the login rate limiter, translations), and at a thousand pushes a
    second that machinery costs as much as the push. Everything else goes on to the Flask app unchanged.
    """

    PREFIX = "/integrations/push/"

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        parts = path[len(self.PREFIX):].split("/") if path.startswith(self.PREFIX) else ()
        if len(parts) != 2 or not all(parts) or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        http = HttpRequest(environ)
        with self.app.app_context():
            status, reply = push(parts[0], parts[1], http)
        response = Response(json.dumps(reply, ensure_ascii=False), status, mimetype="application/json")
        return response(environ, start_response)


def install(app) -> None:
    """Put the gateway in front of the app (inside ProxyFix, so the sender's address is the real one)."""
    outer = app.wsgi_app
    if isinstance(outer, ProxyFix):
        outer.app = PushGateway(app, outer.app)
    else:
        app.wsgi_app = PushGateway(app, outer)


def push(provider: str, franchise_code: str, http) -> tuple[int, dict]:
    """One push: (HTTP status, reply in the provider's format). Never raises."""
    handler = state()["providers"].get(provider)
    franchise_id, config, body = None, {}, b""
    try:
        if handler is None:
            raise PushRejected(404, "unknown_provider", f"unknown provider {provider[:32]!r}; known: "
                                                        f"{', '.join(state()['providers'])}")
        body = _read_body(http)
        franchise_id = _franchise_id(franchise_code)
        if franchise_id is None or not registry().is_active(settings.PLUGIN, franchise_id):
            franchise_id = None
            raise PushRejected(404, "unknown_franchise", f"no franchise {franchise_code[:32]!r} takes pushes")
        config = franchise_settings(franchise_id)
        status, summary = process(handler, franchise_id, config,
                                  Request(body, _signature_headers(http), time.time()), remote_addr=http.remote_addr)
        return status, handler.reply(config, summary=summary)
    except PushRejected as rejected:
        db.session.rollback()
        log_rejected(provider, franchise_id, Request(body, _signature_headers(http), 0), rejected, http.remote_addr)
        reply = handler.reply(config, rejected=rejected) if handler else {"error": {
            "code": rejected.code, "field": rejected.field, "message": rejected.message}}
        return rejected.status, reply
    except Exception:  # the database or a bug: the provider retries later; nobody sees a trace
        db.session.rollback()
        log.exception("tracking push from %s for %s failed", provider, franchise_code)
        unavailable = PushRejected(503, "unavailable", "temporarily unavailable, please retry")
        return 503, handler.reply(config, rejected=unavailable) if handler else {"error": unavailable.message}


def process(handler, franchise_id: int, config: dict, push_request: Request, remote_addr: str | None = None,
            replay_of: int | None = None) -> tuple[int, dict]:
    """Verify, parse, store and log one push in one transaction; raises PushRejected (nothing written)."""
    events = handler.parse(push_request, config, state()["zone"])
    values = _payload_values(handler.name, franchise_id, push_request, remote_addr, replay_of)
    source = "replay" if replay_of else "push"
    if db.engine.dialect.name == "postgresql":
        summary = store_pg.store(franchise_id, handler.name, events, values, source)
        _refuse_foreign(summary.get("foreign"))
    else:
        summary = _store_portably(handler.name, franchise_id, events, values, source)
    db.session.commit()
    return 200, summary


def _store_portably(provider: str, franchise_id: int, events, values: dict, source: str) -> dict:
    plan = store.plan(franchise_id, provider, events)
    _refuse_foreign(plan.foreign)
    values.update(outcome=plan.outcome, http_status=200, waybill_no=(plan.waybills or [None])[0],
                  waybill_count=len(plan.waybills), events_total=plan.total, events_new=len(plan.new),
                  events_duplicate=plan.duplicate, events_unmatched=len(plan.unmatched))
    payload_id = None
    if plan.unmatched:  # inbox rows point at the payload they came in
        payload_id = db.session.execute(LOG_RETURNING_ID, values).scalar_one()
    else:
        db.session.execute(LOG, values)
    store.apply(plan, payload_id, source=source, now=values["received_at"])
    return plan.summary()


def _refuse_foreign(foreign) -> None:
    if foreign:
        raise PushRejected(403, "foreign_waybill", f"waybill {foreign[0]} belongs to another franchise"
                           + (f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""), "waybill_no")


def _payload_values(provider, franchise_id, push_request: Request, remote_addr, replay_of, keep=None) -> dict:
    body = push_request.body if keep is None else push_request.body[:keep]
    return {
        "franchise_id": franchise_id, "provider": provider[:16], "received_at": utcnow(),
        "body_enc": seal_body(body) if body else None,
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
        db.session.execute(LOG, values)
        db.session.commit()
    except Exception:  # logging a refusal must not turn it into an error
        db.session.rollback()
        log.exception("could not log a refused push")
