"""Integration inbox screens: every payload received (masked), events waiting for their waybill, and the
exceptions raised per shipment; replay of a stored payload."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from core.models.statuses import status_label
from core.privacy import mask_id_number, mask_phone
from core.tenancy import ScopedInterface
from core.views import ScopedModelView
from plugins.integrations.inbound import inbox
from plugins.integrations.inbound.models import (OUTCOMES, PROVIDERS, InboundPayload, ShipmentException,
                                               UnmatchedEvent, open_body)
from plugins.integrations.inbound.pushes import PushRejected

_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
REPLAY_LIMIT = 100


def mask_free_text(text: str) -> str:
    """Phones and ID numbers inside trace texts and payloads, masked as everywhere else."""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def readable_body(payload: InboundPayload) -> str:
    """The stored body as people read it: form fields decoded, JSON indented, personal data masked."""
    if not payload.body_enc:
        return ""
    raw = open_body(payload.body_enc)
    text = raw.decode("utf-8", errors="replace")
    parts = [text]
    if payload.provider in ("kuaidi100", "kdniao"):
        try:
            parts = [f"{key}:\n{_indented(value)}" for key, value in parse_qsl(text, keep_blank_values=True)]
        except ValueError:
            pass
    else:
        parts = [_indented(text)]
    shown = "\n\n".join(parts)
    if payload.body_bytes > len(raw):
        shown += "\n\n" + _("(only the beginning was kept)")
    return mask_free_text(shown)


def _indented(value: str) -> str:
    try:
        return json.dumps(json.loads(value), ensure_ascii=False, indent=2)
    except ValueError:
        return value


def _choice(options):
    return lambda value: str(options.get(value, value or ""))


class InboundPayloadView(ScopedModelView):
    route_base = "/integrations/payloads"
    datamodel = ScopedInterface(InboundPayload)
    entity_label, entity_label_plural = _l("Inbound payload"), _l("Inbound payloads")
    can_add = can_edit = can_delete = False
    list_columns = ["received_at", "provider", "franchise", "outcome", "http_status", "reason", "waybill_no",
                    "events_total", "events_new", "events_duplicate", "events_unmatched"]
    show_columns = list_columns + ["waybill_count", "body_bytes", "remote_addr", "replay_of_id", "body"]
    search_columns = ["outcome", "provider", "waybill_no", "received_at", "http_status", "franchise"]
    base_order = ("received_at", "desc")
    label_columns = {
        "received_at": _l("Received"), "provider": _l("Provider"), "franchise": _l("Franchise"),
        "outcome": _l("Outcome"), "http_status": _l("HTTP status"), "reason": _l("Why refused"),
        "waybill_no": _l("Waybill"), "waybill_count": _l("Waybills"), "events_total": _l("Events"),
        "events_new": _l("New"), "events_duplicate": _l("Duplicates"), "events_unmatched": _l("Unmatched"),
        "body_bytes": _l("Size (bytes)"), "remote_addr": _l("Sender address"), "replay_of_id": _l("Replay of"),
        "body": _l("Payload (masked)"),
    }
    formatters_columns = {"outcome": _choice(OUTCOMES), "provider": _choice(PROVIDERS)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.formatters_columns = {**self.formatters_columns,
                                   "body": lambda value: Markup("<pre style='max-height:40em'>%s</pre>")
                                   % escape(value)}

    def _get_show_widget(self, pk, item, *args, **kwargs):
        item.body = readable_body(item)  # shown only here: lists never decrypt
        return super()._get_show_widget(pk, item, *args, **kwargs)

    @action("replay", _l("Replay"), _l("Process the selected payloads again with today's settings?"), "fa-repeat")
    def replay(self, items):
        items = items if isinstance(items, list) else [items]
        if len(items) > REPLAY_LIMIT:
            flash(_("Replay at most %(count)d payloads at a time.", count=REPLAY_LIMIT), "warning")
            return redirect(self.get_redirect())
        done = refused = 0
        for payload in items:
            try:
                summary = inbox.replay(payload)
            except PushRejected as rejected:
                refused += 1
                flash(_("Payload %(id)d refused again: %(reason)s", id=payload.id, reason=rejected.reason), "danger")
                continue
            done += 1
            flash(_("Payload %(id)d replayed: %(new)d new, %(duplicates)d duplicate, %(unmatched)d unmatched "
                    "events.", id=payload.id, new=summary["accepted"], duplicates=summary["duplicates"],
                    unmatched=summary["unmatched"]), "success")
        return redirect(self.get_redirect())


class UnmatchedEventView(ScopedModelView):
    route_base = "/integrations/unmatched"
    datamodel = ScopedInterface(UnmatchedEvent)
    entity_label, entity_label_plural = _l("Unmatched event"), _l("Unmatched events")
    can_add = can_edit = can_delete = False
    list_columns = ["received_at", "waybill_no", "provider", "occurred_at", "status", "raw_code", "location",
                    "matched_at", "shipment", "franchise"]
    show_columns = list_columns + ["carrier", "raw_text", "payload_id"]
    search_columns = ["waybill_no", "provider", "status", "matched_at", "received_at", "franchise"]
    base_order = ("received_at", "desc")
    label_columns = {
        "received_at": _l("Received"), "waybill_no": _l("Waybill"), "provider": _l("Provider"),
        "occurred_at": _l("Time"), "status": _l("Status"), "raw_code": _l("Provider code"),
        "location": _l("Location"), "matched_at": _l("Matched"), "shipment": _l("Shipment"),
        "franchise": _l("Franchise"), "carrier": _l("Carrier"), "raw_text": _l("Text (masked)"),
        "payload_id": _l("Payload"),
    }
    formatters_columns = {"status": status_label, "provider": _choice(PROVIDERS),
                          "raw_text": lambda value: mask_free_text(value or "")}

    @action("match", _l("Match now"), None, "fa-link", multiple=True)
    def match(self, items):
        items = items if isinstance(items, list) else [items]
        matched = sum(inbox.match_unmatched(fid) for fid in sorted({i.franchise_id for i in items}))
        flash(_("%(count)d event(s) found their shipment.", count=matched), "success" if matched else "info")
        return redirect(self.get_redirect())


class ShipmentExceptionView(ScopedModelView):
    route_base = "/integrations/exceptions"
    datamodel = ScopedInterface(ShipmentException)
    entity_label, entity_label_plural = _l("Shipment exception"), _l("Shipment exceptions")
    can_add = can_edit = can_delete = False
    list_columns = ["raised_at", "shipment", "kind", "occurred_at", "source", "detail", "franchise"]
    show_columns = list_columns
    search_columns = ["kind", "source", "raised_at", "shipment_id", "franchise"]
    base_order = ("raised_at", "desc")
    label_columns = {"raised_at": _l("Raised"), "shipment": _l("Shipment"), "kind": _l("Kind"),
                     "occurred_at": _l("Since"), "source": _l("Source"), "detail": _l("Detail"),
                     "franchise": _l("Franchise"), "shipment_id": _l("Shipment ID")}
    formatters_columns = {
        "kind": lambda value: str(_l("Stalled (no update)")) if value == "STALLED" else status_label(value),
        "source": _choice({"event": _l("Tracking event"), "watch": _l("Scheduled watch")}),
        "detail": lambda value: mask_free_text(value or ""),
    }
