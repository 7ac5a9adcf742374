"""The scheduled order pull: per franchise, each active shop, time window by time window, page by page.

A shop's cursor is saved with every page, so a pull that stops (network, platform, crash) resumes at the page
it did not finish. Windows overlap a little because platforms index late updates late; storing is idempotent,
so the overlap costs requests, never duplicates. One shop's failure is recorded on that shop and the others
go on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from core.clock import utcnow
from core.extensions import db
from plugins.integrations.orders.mapping import store_page
from plugins.integrations.orders.models import OrderShop
from plugins.integrations.orders.platforms import ADAPTERS, Adapter, PlatformError

log = logging.getLogger(__name__)

FIRST_PULL_DAYS = 3  # how far back a new shop's first pull reaches
OVERLAP = timedelta(minutes=5)
MAX_WINDOWS_PER_RUN = 400  # a shop months behind catches up over several runs rather than in one long job
MAX_PAGES_PER_WINDOW = 1000  # a platform that always says "more" must not keep a worker forever


def adapter_for(shop: OrderShop) -> Adapter:
    page_size = int(current_app.config.get("CRM_ORDER_PAGE_SIZE", 100))
    return ADAPTERS[shop.platform](shop.app_key, shop.app_secret, shop.access_token, shop.base_url or None,
                                   page_size=page_size)


def pull_orders(franchise_id: int, shop_id: int | None = None) -> dict:
    """The periodic job (and "Pull now" with `shop_id`): pull every active shop of the franchise."""
    query = select(OrderShop.id).where(OrderShop.franchise_id == franchise_id).order_by(OrderShop.id)
    query = query.where(OrderShop.id == shop_id) if shop_id is not None else query.where(OrderShop.active.is_(True))
    results = {}
    for sid in db.session.scalars(query).all():
        results[sid] = pull_shop(sid)
    return results


def pull_shop(shop_id: int, now: datetime | None = None) -> str:
    """Pull one shop up to now; "ok" or the error recorded on the shop."""
    shop = db.session.get(OrderShop, shop_id)
    try:
        _pull(shop, now or utcnow())
    except PlatformError as exc:
        return _record_failure(shop_id, str(exc))
    except Exception as exc:  # a bug or a database error in one shop must not stop the other shops
        log.exception("order pull of shop %s failed", shop_id)
        return _record_failure(shop_id, f"{type(exc).__name__}: {exc}")
    shop.last_pull_at, shop.last_outcome, shop.last_error = utcnow(), "ok", None
    db.session.commit()
    return "ok"


def _record_failure(shop_id: int, message: str) -> str:
    db.session.rollback()  # the unfinished page goes; the pages before it were committed with the cursor
    shop = db.session.get(OrderShop, shop_id)
    shop.last_pull_at, shop.last_outcome, shop.last_error = utcnow(), "failed", message[:4000]
    db.session.commit()
    return message


def _pull(shop: OrderShop, now: datetime) -> None:
    adapter = adapter_for(shop)
    if shop.pulled_until is None:
        shop.pulled_until = now - timedelta(days=FIRST_PULL_DAYS)
    for _ in range(MAX_WINDOWS_PER_RUN):
        if shop.window_end is None:
            if shop.pulled_until >= now:
                return
            start = shop.pulled_until - OVERLAP
            shop.window_end, shop.next_page = min(start + adapter.max_window, now), 1
        start = shop.pulled_until - OVERLAP
        _pull_window(shop, adapter, start, shop.window_end)
        shop.pulled_until, shop.window_end, shop.next_page = shop.window_end, None, 1
        db.session.commit()


def _pull_window(shop: OrderShop, adapter: Adapter, start: datetime, end: datetime) -> None:
    for _ in range(MAX_PAGES_PER_WINDOW):
        page = adapter.fetch(start, end, shop.next_page)
        shop.orders_pulled = (shop.orders_pulled or 0) + store_page(shop, page.orders)
        if not page.has_next:
            return
        shop.next_page += 1
        db.session.commit()  # this page's orders and the cursor past it, together
    raise PlatformError(f"{adapter.label}: more than {MAX_PAGES_PER_WINDOW} pages in one window")
