"""A page of platform orders into the CRM: order rows (upserted, personal data encrypted), receiver districts as
GB/T 2260 codes, and shipments for waybills, linked to the shop's business customer.

One page costs two lookups (its orders, its waybills), whatever its size. Storing the same page twice changes
nothing: values are compared before they are written, because an encrypted value written again would differ.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core import divisions
from core.clock import utcnow
from core.extensions import db
from core.models import Shipment
from core.privacy import PersonalDataError, normalise_phone
from plugins.integrations.orders.models import OrderShop, PlatformOrderRow
from plugins.integrations.orders.platforms import PlatformOrder, looks_masked

# waybills the shops' orders carry are this network's own
CARRIER = "CRM"


def _waybill(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    return text or None


def _full_phone(value: str | None) -> str | None:
    """The number when the platform sent it in full (Pinduoduo, while the order waits to ship); else None."""
    if not value or looks_masked(value):
        return None
    try:
        return normalise_phone(value, "receiver_phone")
    except PersonalDataError:
        return None


class _Changes:
    def __init__(self, row):
        self.row, self.changed = row, False

    def set(self, name, value):
        if getattr(self.row, name) != value:
            setattr(self.row, name, value)
            self.changed = True


def store_page(shop: OrderShop, orders: list[PlatformOrder]) -> int:
    """Upsert `orders` of `shop` and link their waybills; returns how many orders were new. The caller commits."""
    latest = {o.order_id: o for o in orders}  # an order listed twice in a page: the later copy wins
    if not latest:
        return 0
    existing = {row.platform_order_id: row for row in db.session.scalars(
        select(PlatformOrderRow).where(PlatformOrderRow.shop_id == shop.id,
                                       PlatformOrderRow.platform_order_id.in_(list(latest))))}
    waybills = {w for w in (_waybill(o.waybill_no) for o in latest.values()) if w}
    # across every franchise: a waybill of another franchise must be recognised to be refused
    shipments = {s.waybill_no: s for s in db.session.scalars(
        select(Shipment).where(Shipment.carrier == CARRIER, Shipment.waybill_no.in_(sorted(waybills))))} \
        if waybills else {}
    new = 0
    for order in latest.values():
        row = existing.get(order.order_id)
        if row is None:
            row = PlatformOrderRow(franchise_id=shop.franchise_id, shop=shop, platform_order_id=order.order_id[:64])
            db.session.add(row)
            new += 1
        changes = _Changes(row)
        area_problem = _apply(changes, order)
        link_problem = _link(changes, shop, order, shipments)
        changes.set("problem", "; ".join(p for p in (area_problem, link_problem) if p) or None)
        if changes.changed and row.id is not None:
            row.updated_at = utcnow()
    return new


def _apply(changes: _Changes, order: PlatformOrder) -> str | None:
    row = changes.row
    for name in ("status", "created_at", "paid_at", "consigned_at", "modified_at"):
        changes.set(name, getattr(order, name))
    changes.set("receiver_name", (order.receiver_name or "")[:64] or None)
    changes.set("logistics_company", (order.logistics_company or "")[:32] or None)
    phone = _full_phone(order.receiver_phone)
    if phone is not None:
        if row.receiver_phone != phone:
            row.receiver_phone = phone
            changes.changed = True
        changes.set("receiver_phone_shown", None)
    else:
        # a masked number after shipment does not erase the full one given while the order waited
        changes.set("receiver_phone_shown", (order.receiver_phone or "")[:32] or None)
    address = (order.address or "").strip() or None
    if address is not None and (not looks_masked(address) or row.receiver_address is None) \
            and row.receiver_address != address:
        row.receiver_address = address
        changes.changed = True
    area = " ".join(p for p in (order.province, order.city, order.district) if p)
    changes.set("receiver_area", area[:128] or None)
    code = divisions.resolve(order.province, order.city, order.district)
    changes.set("receiver_district_code", code)
    if code is None or not divisions.is_district(code):
        return str(_l("receiver district not recognised: %(area)s", area=area or "-"))
    return None


def _link(changes: _Changes, shop: OrderShop, order: PlatformOrder, shipments: dict) -> str | None:
    """Link the order's waybill to a shipment of the shop's franchise, creating it when new; the problem or None."""
    row = changes.row
    waybill = _waybill(order.waybill_no)
    if waybill is None:
        return None  # not shipped yet: a later pull brings the waybill
    if waybill != row.waybill_no:
        changes.set("waybill_no", waybill[:32])
        _point(changes, None)
    shipment = shipments.get(waybill)
    if shipment is None:
        shipment, problem = _new_shipment(shop, row, waybill)
        if shipment is None:
            return problem
        shipments[waybill] = shipment
    if shipment.franchise_id != shop.franchise_id:
        _point(changes, None)
        return str(_l("waybill %(number)s belongs to another franchise: not linked", number=waybill))
    _point(changes, shipment)
    return None


def _point(changes: _Changes, shipment) -> None:
    # by id where there is one: reading `row.shipment` would load it, one query per order
    row = changes.row
    if shipment is not None and shipment.id is None:
        row.shipment = shipment
        changes.changed = True
    else:
        changes.set("shipment_id", shipment.id if shipment is not None else None)


def _new_shipment(shop: OrderShop, row: PlatformOrderRow, waybill: str):
    code = row.receiver_district_code
    shipment = Shipment(
        franchise_id=shop.franchise_id, carrier=CARRIER, waybill_no=waybill, customer_id=shop.customer_id,
        receiver_name=row.receiver_name, receiver_district_code=code if divisions.is_district(code) else None,
        external_order_id=row.platform_order_id, service_product="standard", status="CREATED",
        created_at=row.consigned_at or row.paid_at or row.created_at or utcnow())
    if row.receiver_phone_enc:
        shipment.receiver_phone = row.receiver_phone
    if row.receiver_address_enc:
        shipment.receiver_address = row.receiver_address
    errors = shipment.validation_errors(check_clash=False)
    if errors:
        return None, str(_l("no shipment for waybill %(number)s: %(errors)s", number=waybill,
                            errors="; ".join(f"{k}: {v}" for k, v in errors.items())))
    db.session.add(shipment)
    return shipment, None
