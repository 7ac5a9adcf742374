"""Outbound webhooks: franchise admins subscribe URLs to domain events; each event goes out signed
(HMAC-SHA256 over timestamp and body), through jobs, with retries and backoff, a delivery log and re-send."""

from core.jobs import PeriodicJob
from plugins.integrations.webhooks.delivery import on_domain_event, retry_due, send_delivery
from plugins.integrations.webhooks.models import EVENTS, WebhookDelivery, WebhookSubscription
from plugins.integrations.webhooks.views import PERMISSIONS, add_views

MODELS = [WebhookSubscription, WebhookDelivery]
PERIODIC_JOBS = [PeriodicJob("webhook_retries", retry_due, interval=60)]

__all__ = ["EVENTS", "MODELS", "PERIODIC_JOBS", "PERMISSIONS", "add_views", "on_domain_event", "send_delivery"]
