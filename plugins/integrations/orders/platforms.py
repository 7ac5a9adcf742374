"""Adapters for the order APIs of Taobao/Tmall (TOP), Pinduoduo and JD (JOS): one interface, three dialects.

Each adapter builds a signed request for a time window and page, sends it with urllib, and turns the answer into
`PlatformOrder`s plus whether another page follows. All three sign upper(md5(secret + k1v1k2v2... + secret))
over the parameters sorted by key (JD leaves `format` and `sign_method` out) and refuse a timestamp more
than 10 minutes off. Platform times are Beijing time; everything an adapter returns is naive UTC, as the
database stores it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from plugins.integrations.signing import platform_sign

BEIJING = ZoneInfo("Asia/Shanghai")
TIMEOUT_SECONDS = 20
TOP_TIME = "%Y-%m-%d %H:%M:%S"


def to_beijing(utc_naive: datetime) -> datetime:
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(BEIJING).replace(tzinfo=None)


def from_beijing(text) -> datetime | None:
    """A platform time ("2024-05-01 12:00:00", Beijing) as naive UTC; None when empty or unreadable."""
    if text in (None, "", 0):
        return None
    try:
        local = datetime.strptime(str(text).strip()[:19], TOP_TIME)
    except ValueError:
        return None
    return local.replace(tzinfo=BEIJING).astimezone(timezone.utc).replace(tzinfo=None)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class PlatformError(Exception):
    """The platform refused or could not be understood; `kind` says what a person should look at."""

    def __init__(self, message, kind: str = "platform", code=None):
        super().__init__(str(message))
        self.kind, self.code = kind, code


# what each kind tells the person who configured the shop
_KIND_MESSAGES = {
    "signature": _l("the platform refused the signature: check the app secret"),
    "timestamp": _l("the platform refused the request time (more than 10 minutes off): check this server's clock"),
    "auth": _l("the platform refused the app key or access token: check them or authorise the shop again"),
    "rate_limit": _l("the platform's call limit was reached: the next pull tries again"),
    "platform": _l("the platform answered with an error"),
}


def platform_refusal(label, kind: str, code, text) -> PlatformError:
    message = f"{label}: {_KIND_MESSAGES.get(kind, _KIND_MESSAGES['platform'])} [{code}: {text}]"
    return PlatformError(message, kind=kind, code=code)


@dataclass
class PlatformOrder:
    """One order, normalised: times naive UTC, receiver fields as the platform gave them (often masked)."""

    order_id: str
    status: str
    created_at: datetime | None = None
    paid_at: datetime | None = None
    consigned_at: datetime | None = None
    modified_at: datetime | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None
    logistics_company: str | None = None
    waybill_no: str | None = None


@dataclass
class OrderPage:
    orders: list[PlatformOrder] = field(default_factory=list)
    has_next: bool = False


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class Adapter:
    """The order API of one platform for one shop's credentials."""

    platform = ""
    label = ""
    default_base_url = ""
    max_window = timedelta(days=1)  # the longest time span one query may cover

    def __init__(self, app_key: str, app_secret: str, access_token: str | None, base_url: str | None = None,
                 page_size: int = 100):
        self.app_key, self.app_secret, self.access_token = app_key, app_secret, access_token or ""
        self.base_url = base_url or self.default_base_url
        self.page_size = page_size

    # --- to be given by each platform -------------------------------------------------------------------

    def unsigned_params(self, start: datetime, end: datetime, page: int, now: datetime) -> dict[str, str]:
        raise NotImplementedError

    def parse(self, body: dict, page: int) -> OrderPage:
        raise NotImplementedError

    def signing_params(self, params: dict[str, str]) -> dict[str, str]:
        """The parameters that take part in the signature."""
        return params

    # --- shared ------------------------------------------------------------------------------------------

    def signed_params(self, start: datetime, end: datetime, page: int, now: datetime | None = None) -> dict[str, str]:
        """The request for orders modified in [start, end] (naive UTC), page `page` (from 1), signed."""
        params = self.unsigned_params(start, end, page, now or utc_now())
        params["sign"] = platform_sign(self.app_secret, self.signing_params(params))
        return params

    def fetch(self, start: datetime, end: datetime, page: int, now: datetime | None = None) -> OrderPage:
        params = self.signed_params(start, end, page, now)
        request = Request(self.base_url, data=urlencode(params).encode(), method="POST",
                          headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        try:
            with urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                raw = response.read()
        except HTTPError as exc:
            raise PlatformError(_l("%(platform)s answered HTTP %(status)s at %(url)s", platform=self.label,
                                   status=exc.code, url=self.base_url), kind="network", code=exc.code) from exc
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PlatformError(_l("cannot reach %(platform)s at %(url)s: %(reason)s", platform=self.label,
                                   url=self.base_url, reason=reason), kind="network") from exc
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise self.bad_response(_l("not JSON")) from exc
        if not isinstance(body, dict):
            raise self.bad_response(_l("not a JSON object"))
        return self.parse(body, page)

    def bad_response(self, why) -> PlatformError:
        return PlatformError(_l("%(platform)s sent an answer this CRM cannot read: %(why)s", platform=self.label,
                                why=why), kind="bad_response")

    def _list(self, value, why) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.bad_response(why)
        return value

    def _orders(self, rows, read) -> list[PlatformOrder]:
        orders = []
        for row in rows:
            if not isinstance(row, dict):
                raise self.bad_response(_l("an order is not an object"))
            order = read(row)
            if not order.order_id:
                raise self.bad_response(_l("an order has no id"))
            orders.append(order)
        return orders


def _classify(code, text: str, table: dict) -> str:
    kind = table.get(str(code))
    if kind:
        return kind
    lowered = (text or "").lower()
    for needle, found in (("sign", "signature"), ("签名", "signature"), ("timestamp", "timestamp"),
                          ("时间戳", "timestamp"), ("session", "auth"), ("token", "auth"), ("app key", "auth"),
                          ("app_key", "auth"), ("limit", "rate_limit"), ("限流", "rate_limit")):
        if needle in lowered:
            return found
    return "platform"


# --- Taobao / Tmall (TOP) ----------------------------------------------------------------------------------

TAOBAO_FIELDS = ("tid,status,created,pay_time,consign_time,modified,receiver_name,receiver_mobile,receiver_phone,"
                 "receiver_state,receiver_city,receiver_district,receiver_town,receiver_address,orders")
# TOP's public error codes (the `msg` text decides when a code is not listed)
TAOBAO_ERRORS = {"25": "signature", "31": "timestamp", "27": "auth", "26": "auth", "29": "auth", "7": "rate_limit"}


class TaobaoAdapter(Adapter):
    platform, label = "taobao", "Taobao/Tmall"
    default_base_url = "https://eco.taobao.com/router/rest"
    method = "taobao.trades.sold.increment.get"
    max_window = timedelta(days=1)  # end_modified - start_modified <= 1 day

    def unsigned_params(self, start, end, page, now):
        return {"method": self.method, "app_key": self.app_key, "session": self.access_token,
                "timestamp": to_beijing(now).strftime(TOP_TIME), "format": "json", "v": "2.0",
                "sign_method": "md5", "fields": TAOBAO_FIELDS,
                "start_modified": to_beijing(start).strftime(TOP_TIME),
                "end_modified": to_beijing(end).strftime(TOP_TIME),
                "page_no": str(page), "page_size": str(self.page_size), "use_has_next": "true"}

    def parse(self, body, page):
        error = body.get("error_response")
        if isinstance(error, dict):
            text = " ".join(str(error.get(k) or "") for k in ("msg", "sub_code", "sub_msg")).strip()
            raise platform_refusal(self.label, _classify(error.get("code"), text, TAOBAO_ERRORS),
                                   error.get("code"), text)
        result = body.get("trades_sold_increment_get_response")
        if not isinstance(result, dict):
            raise self.bad_response(_l("no trades_sold_increment_get_response"))
        trades = result.get("trades") or {}
        rows = self._list(trades.get("trade") if isinstance(trades, dict) else trades, _l("trades is not a list"))
        return OrderPage(self._orders(rows, self._order), bool(result.get("has_next")))

    def _order(self, trade: dict) -> PlatformOrder:
        # the waybill sits on the sub-orders; a trade shipped in one parcel has one
        items = (trade.get("orders") or {}).get("order") if isinstance(trade.get("orders"), dict) else None
        shipped = [o for o in (items or []) if isinstance(o, dict) and _text(o.get("invoice_no"))]
        return PlatformOrder(
            order_id=_text(trade.get("tid")), status=_text(trade.get("status")) or "",
            created_at=from_beijing(trade.get("created")), paid_at=from_beijing(trade.get("pay_time")),
            consigned_at=from_beijing(trade.get("consign_time")), modified_at=from_beijing(trade.get("modified")),
            receiver_name=_text(trade.get("receiver_name")),
            receiver_phone=_text(trade.get("receiver_mobile")) or _text(trade.get("receiver_phone")),
            province=_text(trade.get("receiver_state")), city=_text(trade.get("receiver_city")),
            district=_text(trade.get("receiver_district")), address=_text(trade.get("receiver_address")),
            logistics_company=_text(shipped[0].get("logistics_company")) if shipped else None,
            waybill_no=_text(shipped[0].get("invoice_no")) if shipped else None)


# --- Pinduoduo ------------------------------------------------------------------------------------------

PDD_ERRORS = {"10016": "signature", "10017": "timestamp", "10019": "auth", "10020": "auth", "70031": "rate_limit"}
PDD_STATUSES = {"1": "WAIT_SEND", "2": "SHIPPED", "3": "SIGNED"}


class PddAdapter(Adapter):
    platform, label = "pdd", "Pinduoduo"
    default_base_url = "https://gw-api.pinduoduo.com/api/router"
    method = "pdd.order.number.list.increment.get"
    max_window = timedelta(minutes=30)  # end_updated_at - start_updated_at <= 30 minutes

    def unsigned_params(self, start, end, page, now):
        return {"type": self.method, "client_id": self.app_key, "access_token": self.access_token,
                "timestamp": str(int(now.replace(tzinfo=timezone.utc).timestamp())), "data_type": "JSON",
                "version": "V1",
                "start_updated_at": str(int(start.replace(tzinfo=timezone.utc).timestamp())),
                "end_updated_at": str(int(end.replace(tzinfo=timezone.utc).timestamp())),
                "order_status": "5", "refund_status": "5", "is_lucky_flag": "0",
                "page": str(page), "page_size": str(self.page_size), "use_has_next": "true"}

    def parse(self, body, page):
        error = body.get("error_response")
        if isinstance(error, dict):
            text = " ".join(str(error.get(k) or "") for k in ("error_msg", "sub_code", "sub_msg")).strip()
            raise platform_refusal(self.label, _classify(error.get("error_code"), text, PDD_ERRORS),
                                   error.get("error_code"), text)
        result = body.get("order_sn_increment_get_response")
        if not isinstance(result, dict):
            raise self.bad_response(_l("no order_sn_increment_get_response"))
        rows = self._list(result.get("order_sn_list"), _l("order_sn_list is not a list"))
        return OrderPage(self._orders(rows, self._order), bool(result.get("has_next")))

    def _order(self, row: dict) -> PlatformOrder:
        return PlatformOrder(
            order_id=_text(row.get("order_sn")), status=PDD_STATUSES.get(str(row.get("order_status")),
                                                                         str(row.get("order_status") or "")),
            created_at=from_beijing(row.get("created_time")), paid_at=from_beijing(row.get("pay_time")),
            consigned_at=from_beijing(row.get("shipping_time")), modified_at=from_beijing(row.get("updated_at")),
            receiver_name=_text(row.get("receiver_name")), receiver_phone=_text(row.get("receiver_phone")),
            # PDD's `town` is the district / county level
            province=_text(row.get("province")), city=_text(row.get("city")), district=_text(row.get("town")),
            address=_text(row.get("address")), logistics_company=_text(row.get("logistics_id")),
            waybill_no=_text(row.get("tracking_number")))


# --- JD (JOS) -------------------------------------------------------------------------------------------

JD_ERRORS = {"19": "signature", "20": "timestamp", "18": "auth", "67": "auth", "12": "rate_limit"}
JD_STATES = "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED"
JD_FIELDS = "orderId,orderState,orderStartTime,paymentConfirmTime,modified,consigneeInfo,waybill,logisticsId"


class JdAdapter(Adapter):
    platform, label = "jd", "JD"
    default_base_url = "https://api.jd.com/routerjson"
    method = "jingdong.pop.order.search"
    max_window = timedelta(days=1)

    def unsigned_params(self, start, end, page, now):
        business = {"start_date": to_beijing(start).strftime(TOP_TIME), "end_date": to_beijing(end).strftime(TOP_TIME),
                    "order_state": JD_STATES, "optional_fields": JD_FIELDS, "dateType": "0",
                    "page": str(page), "page_size": str(self.page_size)}
        return {"method": self.method, "app_key": self.app_key, "access_token": self.access_token,
                "timestamp": to_beijing(now).strftime(TOP_TIME), "v": "2.0", "format": "json",
                "sign_method": "md5",
                "360buy_param_json": json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)}

    def signing_params(self, params):
        return {k: v for k, v in params.items() if k not in ("format", "sign_method", "sign")}

    def parse(self, body, page):
        error = body.get("error_response")
        if isinstance(error, dict):
            text = str(error.get("en_desc") or error.get("zh_desc") or "")
            raise platform_refusal(self.label, _classify(error.get("code"), text, JD_ERRORS), error.get("code"), text)
        result = (body.get("jingdong_pop_order_search_responce") or {}).get("searchorderinfo_result")
        if not isinstance(result, dict):
            raise self.bad_response(_l("no searchorderinfo_result"))
        api = result.get("apiResult") or {}
        if isinstance(api, dict) and api.get("success") is False:
            text = str(api.get("englishErrCode") or api.get("chineseErrCode") or "")
            raise platform_refusal(self.label, _classify(api.get("numberCode"), text, {}), api.get("numberCode"), text)
        rows = self._list(result.get("orderInfoList"), _l("orderInfoList is not a list"))
        try:
            total = int(result.get("orderTotal") or 0)
        except (TypeError, ValueError) as exc:
            raise self.bad_response(_l("orderTotal is not a number")) from exc
        # JD gives a total, not a next flag
        return OrderPage(self._orders(rows, self._order), page * self.page_size < total)

    def _order(self, row: dict) -> PlatformOrder:
        consignee = row.get("consigneeInfo") if isinstance(row.get("consigneeInfo"), dict) else {}
        return PlatformOrder(
            order_id=_text(row.get("orderId")), status=_text(row.get("orderState")) or "",
            created_at=from_beijing(row.get("orderStartTime")), paid_at=from_beijing(row.get("paymentConfirmTime")),
            consigned_at=None, modified_at=from_beijing(row.get("modified")),
            receiver_name=_text(consignee.get("fullname")),
            receiver_phone=_text(consignee.get("mobile")) or _text(consignee.get("telephone")),
            province=_text(consignee.get("province")), city=_text(consignee.get("city")),
            district=_text(consignee.get("county")), address=_text(consignee.get("fullAddress")),
            logistics_company=_text(row.get("logisticsId")), waybill_no=_text(row.get("waybill")))


ADAPTERS: dict[str, type[Adapter]] = {a.platform: a for a in (TaobaoAdapter, PddAdapter, JdAdapter)}
PLATFORMS = {name: adapter.label for name, adapter in ADAPTERS.items()}

_MASKED = re.compile(r"[*＊]")


def looks_masked(value: str | None) -> bool:
    return bool(value and _MASKED.search(value))
