"""Screens: webhook subscriptions (CRUD, test event, audited secret reveal) and the delivery log (re-send)."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template_string, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2ManyWidget, Select2Widget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import delete
from wtforms import SelectField, SelectMultipleField
from wtforms import validators as wtv

from core.audit import audit_entry
from core.extensions import db
from core.tenancy import ScopedInterface
from core.views.base import ScopedModelView, timestamp
from plugins.integrations.menu import add_view
from plugins.integrations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from plugins.integrations.webhooks import delivery as sending
from plugins.integrations.webhooks.models import (ALL_EVENTS, DELIVERY_STATUSES, EVENTS, TEST_EVENT, WebhookDelivery,
                                                  WebhookSubscription, event_label)

SUBSCRIPTIONS_MENU = "Webhook subscriptions"
DELIVERIES_MENU = "Webhook deliveries"


def event_choices():
    return [(ALL_EVENTS, event_label(ALL_EVENTS))] + [(code, f"{label} ({code})") for code, label in EVENTS.items()]


class EventsField(SelectMultipleField):
    """The events column holds codes joined by commas; the form shows a multi-select of the catalogue."""

    def process_data(self, value):
        self.data = [v for v in (value or "").split(",") if v] if isinstance(value, str) else value

    def pre_validate(self, form):
        pass  # the model names unknown events, with the field, in its own message

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or []))


def events_text(value) -> str:
    return ", ".join(event_label(code) for code in (value or "").split(",") if code)


SECRET_PAGE = """{% extends "appbuilder/base.html" %}
{% block content %}
<h2>{{ t.title }}: {{ subscription.name }}</h2>
<div class="panel panel-default"><div class="panel-body">
<p>{{ t.intro }}</p>
<pre id="webhook-secret">{{ secret }}</pre>
<p class="text-muted">{{ t.how }}</p>
<a class="btn btn-default" href="{{ url_for('WebhookSubscriptionView.list') }}">{{ t.back }}</a>
</div></div>
{% endblock %}
"""


class WebhookSubscriptionView(ScopedModelView):
    route_base = "/integrations/webhooks"
    datamodel = ScopedInterface(WebhookSubscription)
    entity_label, entity_label_plural = _l("Webhook subscription"), _l("Webhook subscriptions")
    method_permission_name = {"send_test": "send_test", "reveal_secret": "reveal_secret",
                              "rotate_secret": "reveal_secret"}
    list_columns = ["name", "url", "events", "active", "franchise", "created_at"]
    show_columns = ["name", "url", "events", "active", "franchise", "created_at", "updated_at"]
    add_columns = edit_columns = ["name", "url", "events", "active", "franchise"]
    search_columns = ["name", "url", "active", "franchise"]
    order_columns = ["name", "created_at"]
    base_order = ("created_at", "desc")
    label_columns = {"name": _l("Name"), "url": _l("URL"), "events": _l("Events"), "active": _l("Active"),
                     "franchise": _l("Franchise"), "created_at": _l("Created"), "updated_at": _l("Updated")}
    description_columns = {
        "url": _l("http:// or https://; the receiver answers 2xx within the timeout, or the event is retried"),
        "events": _l("The domain events this URL receives; 'All events' includes events added later"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "events": EventsField(_l("Events"), choices=event_choices, widget=Select2ManyWidget(),
                              validators=[wtv.InputRequired()]),
    }
    formatters_columns = {"events": events_text}

    def post_add(self, item):
        flash(_("Subscription saved. Open it with 'Show signing secret' to set up the receiver's check."), "info")

    def pre_delete(self, item):
        super().pre_delete(item)
        # the log belongs to the subscription; keeping it would keep the foreign key from letting go
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == item.id))

    @action("send_test", _l("Send a test event"), None, "fa-paper-plane", multiple=True)
    def send_test(self, items):
        items = items if isinstance(items, list) else [items]
        sent = 0
        for subscription in items:
            if subscription.active:
                sending.send_test(subscription)
                sent += 1
        db.session.commit()  # the test deliveries are sent after this commit
        if sent:
            flash(_("%(count)d test event(s) queued: see the delivery log.", count=sent), "success")
        if sent < len(items):
            flash(_("Inactive subscriptions receive nothing, not even a test event."), "warning")
        return redirect(url_for("WebhookDeliveryView.list"))

    @action("reveal_secret", _l("Show signing secret"),
            _l("Show the signing secret? Seeing it is written to the audit log."), "fa-key", multiple=False)
    def reveal_secret(self, item):
        return self._secret_page(item, "reveal_secret")

    @action("rotate_secret", _l("New signing secret"),
            _l("Replace the signing secret? The receiver must be given the new one."), "fa-refresh", multiple=False)
    def rotate_secret(self, item):
        item = item[0] if isinstance(item, list) else item
        item.new_secret()
        return self._secret_page(item, "rotate_secret")

    def _secret_page(self, item, what):
        item = item[0] if isinstance(item, list) else item
        if item is None:
            abort(404)
        db.session.add(audit_entry(action=what, model=type(item).__name__, record_id=item.id,
                                   franchise_id=item.franchise_id))
        secret = item.secret
        db.session.commit()
        texts = {
            "title": _("Signing secret"),
            "intro": _("Give this secret to the receiver. Every request is signed with it."),
            "how": _("Check: HMAC-SHA256 with this secret over '<%(ts)s>.<raw body>' equals the hex after "
                     "'sha256=' in %(sig)s; refuse timestamps older than 5 minutes.",
                     ts=TIMESTAMP_HEADER, sig=SIGNATURE_HEADER),
            "back": _("Back"),
        }
        return render_template_string(SECRET_PAGE, appbuilder=self.appbuilder,
                                      base_template=self.appbuilder.base_template, subscription=item,
                                      secret=secret, t=texts)


def status_text(code) -> str:
    return str(DELIVERY_STATUSES.get(code, code or ""))


def json_block(value) -> Markup:
    return Markup("<pre>%s</pre>") % escape(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def history_table(entries) -> Markup:
    rows = Markup("").join(
        Markup("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>") % (
            escape(e.get("at", "")), escape(e.get("code") or "—"), escape(e.get("ms", "")), escape(e.get("error", "")))
        for e in entries or [])
    head = Markup("<tr><th>%s</th><th>%s</th><th>ms</th><th>%s</th></tr>") % (_("Time"), _("Response"), _("Error"))
    return Markup('<table class="table table-condensed">%s%s</table>') % (head, rows)


def delivery_event_choices():
    return [("", "—"), (TEST_EVENT, event_label(TEST_EVENT))] + [(c, str(l)) for c, l in EVENTS.items()]


def delivery_status_choices():
    return [("", "—")] + [(code, str(label)) for code, label in DELIVERY_STATUSES.items()]


class WebhookDeliveryView(ScopedModelView):
    route_base = "/integrations/webhook-deliveries"
    datamodel = ScopedInterface(WebhookDelivery)
    entity_label, entity_label_plural = _l("Webhook delivery"), _l("Webhook deliveries")
    base_permissions = ["can_list", "can_show"]
    method_permission_name = {"resend": "resend"}
    list_columns = ["created_at", "event", "subscription", "status", "attempts", "last_response_code",
                    "next_attempt_at", "duration_ms", "franchise"]
    show_columns = ["uid", "created_at", "event", "subscription", "status", "attempts", "last_response_code",
                    "response_excerpt", "last_error", "duration_ms", "last_attempt_at", "next_attempt_at",
                    "delivered_at", "history", "payload", "franchise"]
    search_columns = ["status", "event", "subscription", "last_response_code", "created_at", "franchise"]
    order_columns = ["created_at", "status", "attempts", "last_response_code", "next_attempt_at"]
    base_order = ("created_at", "desc")
    label_columns = {"uid": _l("Delivery id"), "created_at": _l("Created"), "event": _l("Event"),
                     "subscription": _l("Subscription"), "status": _l("Status"), "attempts": _l("Tries"),
                     "last_response_code": _l("Response code"), "response_excerpt": _l("Response"),
                     "last_error": _l("Error"), "duration_ms": _l("Duration (ms)"),
                     "last_attempt_at": _l("Last try"), "next_attempt_at": _l("Next try"),
                     "delivered_at": _l("Delivered"), "history": _l("Tries"), "payload": _l("Payload"),
                     "franchise": _l("Franchise")}
    search_form_extra_fields = {
        "status": SelectField(choices=delivery_status_choices, widget=Select2Widget(), validators=[wtv.Optional()]),
        "event": SelectField(choices=delivery_event_choices, widget=Select2Widget(), validators=[wtv.Optional()]),
    }
    formatters_columns = {"status": status_text, "event": event_label, "payload": json_block,
                          "history": history_table, "next_attempt_at": timestamp}

    @action("resend", _l("Send again"), _l("Send the selected deliveries again?"), "fa-repeat")
    def resend(self, items):
        items = items if isinstance(items, list) else [items]
        queued = sum(1 for item in items if sending.resend(item))
        db.session.commit()  # the sends start after this commit
        if queued:
            flash(_("%(count)d delivery(ies) queued to be sent again.", count=queued), "success")
        if queued < len(items):
            flash(_("Deliveries of inactive subscriptions, or being sent now, were left alone."), "warning")
        return redirect(self.get_redirect())


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, WebhookSubscriptionView, SUBSCRIPTIONS_MENU, _l("Webhook subscriptions"), "fa-share-alt")
    add_view(appbuilder, WebhookDeliveryView, DELIVERIES_MENU, _l("Webhook deliveries"), "fa-list-alt")


SUBSCRIPTION_PERMISSIONS = [(p, "WebhookSubscriptionView") for p in (
    "can_list", "can_show", "can_add", "can_edit", "can_delete", "can_export", "can_send_test", "can_reveal_secret")]
DELIVERY_PERMISSIONS = [(p, "WebhookDeliveryView") for p in ("can_list", "can_show", "can_resend")]

PERMISSIONS = {
    "Franchise IT": SUBSCRIPTION_PERMISSIONS + DELIVERY_PERMISSIONS
    + [("menu_access", SUBSCRIPTIONS_MENU), ("menu_access", DELIVERIES_MENU)],
}
