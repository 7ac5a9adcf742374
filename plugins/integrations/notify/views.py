"""The Messages screen: the log of messages to customers, read-only, phone numbers masked."""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms import validators as wtv

from core.tenancy import ScopedInterface
from core.views.base import ScopedModelView
from plugins.integrations.menu import add_view
from plugins.integrations.notify.models import CHANNELS, MESSAGE_STATUSES, PURPOSES, Message

MESSAGES_MENU = "Messages"


def _choices(options):
    return lambda: [("", "—")] + [(code, str(label)) for code, label in options.items()]


def _label(options):
    return lambda code: str(options.get(code, code or ""))


def _select(options):
    return SelectField(choices=_choices(options), widget=Select2Widget(), validators=[wtv.Optional()])


class MessageLogView(ScopedModelView):
    route_base = "/integrations/messages"
    datamodel = ScopedInterface(Message)
    entity_label, entity_label_plural = _l("Message"), _l("Messages")
    base_permissions = ["can_list", "can_show", "can_export"]
    list_columns = ["created_at", "customer", "recipient_masked", "channel", "template", "purpose", "status",
                    "backend", "sent_at", "franchise"]
    show_columns = ["created_at", "customer", "recipient_masked", "channel", "template", "params", "purpose",
                    "status", "error", "backend", "provider_message_id", "sent_at", "franchise"]
    # no customer dropdown: it would load every customer; the customer's 360 page is the way in
    search_columns = ["status", "channel", "purpose", "template", "backend", "created_at", "franchise"]
    order_columns = ["created_at", "status", "sent_at"]
    base_order = ("created_at", "desc")
    label_columns = {"created_at": _l("Created"), "customer": _l("Customer"), "recipient_masked": _l("Phone"),
                     "channel": _l("Channel"), "template": _l("Template"), "params": _l("Values"),
                     "purpose": _l("Purpose"), "status": _l("Status"), "error": _l("Why"),
                     "backend": _l("Gateway"), "provider_message_id": _l("Gateway message id"),
                     "sent_at": _l("Sent"), "franchise": _l("Franchise")}
    search_form_extra_fields = {"status": _select(MESSAGE_STATUSES), "channel": _select(CHANNELS),
                                "purpose": _select(PURPOSES)}
    formatters_columns = {"status": _label(MESSAGE_STATUSES), "channel": _label(CHANNELS),
                          "purpose": _label(PURPOSES)}


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, MessageLogView, MESSAGES_MENU, _l("Messages"), "fa-commenting")


READ = [("can_list", "MessageLogView"), ("can_show", "MessageLogView"), ("menu_access", MESSAGES_MENU)]
PERMISSIONS = {
    "Franchise IT": READ + [("can_export", "MessageLogView")],
    "Outlet Manager": READ,
    "Account Manager": READ,
}
