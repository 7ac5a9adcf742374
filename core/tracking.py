"""Recording tracking events on a shipment: the shipment's status follows its newest event."""

from __future__ import annotations

from core.models import Shipment, TrackingEvent


def apply_event(shipment: Shipment, event: TrackingEvent) -> bool:
    """Make `event` the shipment's current status if it is the newest; True when the status changed."""
    if shipment.status_at is not None and event.occurred_at < shipment.status_at:
        return False  # an older scan arriving late does not roll the status back
    changed = shipment.status != event.status
    shipment.status = event.status
    shipment.status_at = event.occurred_at
    if event.status == "DELIVERED" and shipment.delivered_at is None:
        shipment.delivered_at = event.occurred_at
    return changed
