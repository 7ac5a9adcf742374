"""Messages out: the SMS / WeChat-template gateway other plugins reach through `crm_send_message`, with
a log backend by default and an HTTP backend per franchise, a daily limit per customer and the opt-out."""

from plugins.integrations.notify.backends import BACKENDS, Backend, HttpBackend, LogBackend, OutgoingMessage, Outcome
from plugins.integrations.notify.models import Message
from plugins.integrations.notify.service import customer_messages, deliver_message, erase_customer, send_message
from plugins.integrations.notify.views import PERMISSIONS, add_views

MODELS = [Message]
PERIODIC_JOBS: list = []

__all__ = ["BACKENDS", "Backend", "HttpBackend", "LogBackend", "MODELS", "Message", "OutgoingMessage", "Outcome",
           "PERIODIC_JOBS", "PERMISSIONS", "add_views", "customer_messages", "deliver_message", "erase_customer",
           "send_message"]
