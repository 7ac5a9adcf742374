"""A local stand-in for the Taobao/Tmall, Pinduoduo and JD order APIs, for tests and `crm demo`.

It checks what the platforms check (app key, signature with the account's secret, timestamp within 10 minutes,
access token), answers in each platform's response shape (its error shape too), pages through a time window,
and serves deterministic orders per app key: modified over the last days, receivers in real districts of
core/data/divisions.csv, masked the way each platform masks them, and waybills on shipped orders.

Run alone: `python -m plugins.integrations.orders.simulator --port 8790` (serves the demo accounts).
Tests steer it: `clock_skew` (its clock runs off), `fail_pages` (pages answered with HTTP 500), `ship()`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from core import divisions
from plugins.integrations.orders.platforms import TOP_TIME, from_beijing, to_beijing, utc_now
from plugins.integrations.signing import platform_sign

TIMESTAMP_WINDOW = timedelta(minutes=10)
MAX_WINDOW = {"taobao": timedelta(days=1), "pdd": timedelta(minutes=30), "jd": timedelta(days=1)}
MAX_PAGE_SIZE = 100

DEMO_ACCOUNTS = [
    {"platform": "taobao", "app_key": "demo-taobao", "app_secret": "demo-taobao-secret",
     "access_token": "demo-taobao-session", "orders": 80, "days": 2},
    {"platform": "pdd", "app_key": "demo-pdd", "app_secret": "demo-pdd-secret",
     "access_token": "demo-pdd-token", "orders": 60, "days": 2},
    {"platform": "jd", "app_key": "demo-jd", "app_secret": "demo-jd-secret",
     "access_token": "demo-jd-token", "orders": 50, "days": 2},
]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩凯健俊帆帅旭宁颖晨欣怡婷雪琳晶倩"
_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
             "157", "158", "159", "180", "181", "182", "185", "186", "187", "188", "189")
_STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "长江路", "黄河路", "滨江大道",
            "学府路", "科技园路", "光明街", "东风路", "胜利路")
_LOGISTICS = {"taobao": "ZTO", "pdd": "115", "jd": "1499"}
# stages an order goes through, and what each platform calls them (None: the platform does not list it)
_STATUS = {
    "taobao": {"unpaid": "WAIT_BUYER_PAY", "pending": "WAIT_SELLER_SEND_GOODS", "shipped": "WAIT_BUYER_CONFIRM_GOODS",
               "finished": "TRADE_FINISHED", "closed": "TRADE_CLOSED"},
    "pdd": {"pending": 1, "shipped": 2, "finished": 3},
    "jd": {"pending": "WAIT_SELLER_STOCK_OUT", "shipped": "WAIT_GOODS_RECEIVE_CONFIRM", "finished": "FINISHED_L",
           "closed": "TRADE_CANCELED"},
}
_SPECIAL_DISTRICTS = ("419001", "429004", "441900", "310115", "110105")  # 济源, 仙桃, 东莞, 浦东, 朝阳


@dataclass
class SimOrder:
    order_id: str
    stage: str
    created: datetime  # naive UTC, like everything here until rendered
    paid: datetime | None
    consigned: datetime | None
    modified: datetime
    name: str
    phone: str
    district_code: str
    street: str
    waybill: str | None


@dataclass
class Account:
    platform: str
    app_key: str
    app_secret: str
    access_token: str
    orders: list[SimOrder] = field(default_factory=list)


def generate_orders(platform: str, app_key: str, count: int, days: float, anchor: datetime) -> list[SimOrder]:
    """`count` orders seeded by platform and app key: the same account always gets the same orders."""
    rng = random.Random(f"{platform}:{app_key}")
    pool = [d.code for d in divisions.districts()]
    specials = [c for c in _SPECIAL_DISTRICTS if divisions.get(c) is not None]
    stages = [s for s in ("unpaid", "pending", "shipped", "finished", "closed") if s in _STATUS[platform]]
    weights = {"unpaid": 5, "pending": 25, "shipped": 35, "finished": 30, "closed": 5}
    orders = []
    for i in range(count):
        modified = anchor - timedelta(seconds=rng.randrange(60, int(days * 86400)))
        stage = rng.choices(stages, [weights[s] for s in stages])[0]
        created = modified - timedelta(minutes=rng.randrange(30, 48 * 60))
        paid = None if stage == "unpaid" else created + timedelta(minutes=rng.randrange(1, 30))
        consigned = None
        if stage in ("shipped", "finished"):
            consigned = paid + (modified - paid) * rng.uniform(0.2, 0.9)
        name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
        phone = rng.choice(_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"
        district = specials[i // 7 % len(specials)] if specials and i % 7 == 3 else rng.choice(pool)
        street = f"{rng.choice(_STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2999)}室"
        waybill = f"75{rng.randrange(10 ** 12):012d}" if consigned else None
        order_id = {"taobao": f"{rng.randrange(10 ** 18, 10 ** 19)}",
                    "pdd": f"{to_beijing(created):%y%m%d}-{rng.randrange(10 ** 14, 10 ** 15)}",
                    "jd": f"{rng.randrange(10 ** 11, 10 ** 12)}"}[platform]
        orders.append(SimOrder(order_id, stage, created, paid, consigned, modified, name, phone, district, street,
                               waybill))
    return orders


# --- how each platform names places and masks receivers ---------------------------------------------------


def _places(code: str):
    district = divisions.get(code)
    province = divisions.province_of(code)
    city = divisions.city_of(code)
    return province, city, district


def _short(name: str) -> str:
    for ending in ("省", "市", "壮族自治区", "回族自治区", "维吾尔自治区", "自治区"):
        if name.endswith(ending) and len(name) > len(ending) + 1:
            return name[: -len(ending)]
    return name


def _taobao_area(code):
    province, city, district = _places(code)
    if province.code in divisions.MUNICIPALITIES:
        return _short(province.name), province.name, district.name
    if city is not None and city.code == district.code and district.level == "district":
        # a county-level city run by the province: Taobao puts it in the district field
        return province.name, "省直辖县级行政区划", district.name
    if district.level == "city":  # 东莞: no districts, Taobao gives a town
        return province.name, district.name, "东城街道"
    return province.name, city.name, district.name


def _pdd_area(code):
    province, city, district = _places(code)
    if province.code in divisions.MUNICIPALITIES:
        return province.name, province.name, district.name
    if city is not None and city.code == district.code:
        return province.name, district.name, ""
    return province.name, city.name, district.name


def _jd_area(code):
    province, city, district = _places(code)
    if province.code in divisions.MUNICIPALITIES:
        # JD's four levels shift by one for municipalities: the district is in `city`
        return _short(province.name), district.name, "城区"
    if city is not None and city.code == district.code:
        return _short(province.name), district.name, ""
    return _short(province.name), city.name, district.name


def _mask_tail(text: str, keep: int) -> str:
    return text[:keep] + "****"


def _render_taobao(order: SimOrder) -> dict:
    state, city, district = _taobao_area(order.district_code)
    trade = {"tid": int(order.order_id), "status": _STATUS["taobao"][order.stage],
             "created": f"{to_beijing(order.created):{TOP_TIME}}",
             "modified": f"{to_beijing(order.modified):{TOP_TIME}}",
             "receiver_name": order.name[0] + "**", "receiver_mobile": order.phone[:3] + "********",
             "receiver_state": state, "receiver_city": city, "receiver_district": district,
             "receiver_address": _mask_tail(order.street, 4), "oaid": f"oaid-{order.order_id[-8:]}"}
    if order.paid:
        trade["pay_time"] = f"{to_beijing(order.paid):{TOP_TIME}}"
    if order.consigned:
        trade["consign_time"] = f"{to_beijing(order.consigned):{TOP_TIME}}"
    sub = {"oid": int(order.order_id) + 1, "status": trade["status"]}
    if order.waybill:
        sub.update(invoice_no=order.waybill, logistics_company=_LOGISTICS["taobao"])
    trade["orders"] = {"order": [sub]}
    return trade


def _render_pdd(order: SimOrder) -> dict:
    province, city, town = _pdd_area(order.district_code)
    pending = order.stage == "pending"  # the receiver in clear only while the parcel waits to be sent
    row = {"order_sn": order.order_id, "order_status": _STATUS["pdd"][order.stage], "refund_status": 1,
           "created_time": f"{to_beijing(order.created):{TOP_TIME}}",
           "updated_at": f"{to_beijing(order.modified):{TOP_TIME}}",
           "pay_time": f"{to_beijing(order.paid):{TOP_TIME}}" if order.paid else "",
           "receiver_name": order.name if pending else order.name[0] + "*",
           "receiver_phone": order.phone if pending else order.phone[:7] + "****",
           "province": province, "city": city, "town": town,
           "address": order.street if pending else _mask_tail(order.street, 3),
           "tracking_number": order.waybill or "",
           "logistics_id": int(_LOGISTICS["pdd"]) if order.waybill else 0,
           "shipping_time": f"{to_beijing(order.consigned):{TOP_TIME}}" if order.consigned else ""}
    return row


def _render_jd(order: SimOrder) -> dict:
    province, city, county = _jd_area(order.district_code)
    return {"orderId": order.order_id, "orderState": _STATUS["jd"][order.stage],
            "orderStartTime": f"{to_beijing(order.created):{TOP_TIME}}",
            "paymentConfirmTime": f"{to_beijing(order.paid):{TOP_TIME}}" if order.paid else "",
            "modified": f"{to_beijing(order.modified):{TOP_TIME}}",
            "consigneeInfo": {"fullname": order.name[0] + "*" * (len(order.name) - 1),
                              "mobile": order.phone[:3] + "****" + order.phone[-4:], "telephone": "",
                              "province": province, "city": city, "county": county, "town": "",
                              "fullAddress": f"{province}{city}{county}****"},
            "waybill": order.waybill or "", "logisticsId": _LOGISTICS["jd"] if order.waybill else ""}


# --- the server --------------------------------------------------------------------------------------------


class Refusal(Exception):
    def __init__(self, kind: str, status: int = 200):
        super().__init__(kind)
        self.kind, self.status = kind, status


# (code, text) each platform answers a refusal with
_ERRORS = {
    "taobao": {"app_key": (29, "Invalid app Key"), "signature": (25, "Invalid signature"),
               "timestamp": (31, "Invalid timestamp"), "token": (27, "Invalid session"),
               "window": (41, "Invalid arguments:start_modified and end_modified")},
    "pdd": {"app_key": (10014, "client_id不存在"), "signature": (10016, "签名错误 sign error"),
            "timestamp": (10017, "timestamp已过期 timestamp expired"), "token": (10019, "access_token已过期"),
            "window": (10000, "参数错误: 时间间隔不能超过30分钟")},
    "jd": {"app_key": ("18", "Invalid app_key"), "signature": ("19", "Invalid signature"),
           "timestamp": ("20", "Invalid timestamp"), "token": ("67", "Invalid access_token"),
           "window": ("61", "Invalid arguments: start_date/end_date")},
}


def _error_body(platform: str, kind: str) -> dict:
    code, text = _ERRORS[platform].get(kind, (15, kind))
    if platform == "taobao":
        return {"error_response": {"code": code, "msg": text, "sub_code": f"isv.{kind}", "request_id": "sim"}}
    if platform == "pdd":
        return {"error_response": {"error_code": code, "error_msg": text, "sub_code": kind, "sub_msg": "",
                                   "request_id": "sim"}}
    return {"error_response": {"code": code, "zh_desc": text, "en_desc": text}}


class OrderSimulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, accounts: list[dict], anchor: datetime | None = None):
        super().__init__(address, _Handler)
        anchor = anchor or utc_now().replace(second=0, microsecond=0)
        self.accounts: dict[tuple[str, str], Account] = {}
        for spec in accounts:
            self.add_account(spec, anchor)
        self.clock_skew = timedelta(0)
        self.fail_pages: dict[str, set[int]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def add_account(self, spec: dict, anchor: datetime | None = None) -> Account:
        anchor = anchor or utc_now().replace(second=0, microsecond=0)
        account = Account(spec["platform"], spec["app_key"], spec["app_secret"], spec.get("access_token") or "")
        account.orders = generate_orders(account.platform, account.app_key, int(spec.get("orders", 60)),
                                         float(spec.get("days", 2)), anchor)
        self.accounts[(account.platform, account.app_key)] = account
        return account

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/router"

    def orders_of(self, platform: str, app_key: str) -> list[SimOrder]:
        return self.accounts[(platform, app_key)].orders

    def ship(self, platform: str, app_key: str, order_id: str, waybill: str) -> SimOrder:
        """The seller sends a waiting order now: it gets a waybill and a new modified time."""
        with self.lock:
            order = next(o for o in self.orders_of(platform, app_key) if o.order_id == order_id)
            order.stage, order.waybill = "shipped", waybill
            order.consigned = order.modified = utc_now().replace(microsecond=0) - timedelta(seconds=5)
            order.paid = order.paid or order.created
        return order

    # --- answering -------------------------------------------------------------------------------------

    def answer(self, params: dict[str, str]) -> tuple[int, dict]:
        if "type" in params:
            platform, key = "pdd", params.get("client_id", "")
        elif params.get("method") == "jingdong.pop.order.search":
            platform, key = "jd", params.get("app_key", "")
        elif params.get("method") == "taobao.trades.sold.increment.get":
            platform, key = "taobao", params.get("app_key", "")
        else:
            return 404, {"error_response": {"code": 22, "msg": "Invalid method"}}
        try:
            status, body = 200, self._serve(platform, key, params)
        except Refusal as refusal:
            if refusal.status != 200:
                return refusal.status, {"error": refusal.kind}
            status, body = 200, _error_body(platform, refusal.kind)
        return status, body

    def _serve(self, platform: str, key: str, params: dict[str, str]) -> dict:
        account = self.accounts.get((platform, key))
        if account is None:
            raise Refusal("app_key")
        signed = {k: v for k, v in params.items() if k != "sign"}
        if platform == "jd":
            signed = {k: v for k, v in signed.items() if k not in ("format", "sign_method")}
        if not hmac.compare_digest(platform_sign(account.app_secret, signed), params.get("sign", "").upper()):
            raise Refusal("signature")
        sent = self._timestamp(platform, params.get("timestamp", ""))
        if sent is None or abs(utc_now() + self.clock_skew - sent) > TIMESTAMP_WINDOW:
            raise Refusal("timestamp")
        token = params.get("session") if platform == "taobao" else params.get("access_token")
        if not hmac.compare_digest((token or "").encode(), account.access_token.encode()):
            raise Refusal("token")
        query = self._query(platform, params)
        if query is None or not (timedelta(0) <= query["end"] - query["start"] <= MAX_WINDOW[platform]):
            raise Refusal("window")
        with self.lock:
            self.requests.append({"platform": platform, "app_key": key, **query})
            if query["page"] in self.fail_pages.get(key, set()):
                raise Refusal("simulated outage", status=500)
            matching = sorted((o for o in account.orders if query["start"] <= o.modified <= query["end"]),
                              key=lambda o: (o.modified, o.order_id))
            first = (query["page"] - 1) * query["size"]
            rows = matching[first:first + query["size"]]
            has_next = first + query["size"] < len(matching)
            return self._body(platform, rows, len(matching), has_next)

    @staticmethod
    def _timestamp(platform: str, text: str) -> datetime | None:
        if platform == "pdd":
            try:
                return datetime.fromtimestamp(int(text), timezone.utc).replace(tzinfo=None)
            except (TypeError, ValueError, OverflowError):
                return None
        return from_beijing(text)

    @staticmethod
    def _query(platform: str, params: dict[str, str]) -> dict | None:
        try:
            if platform == "taobao":
                start, end = from_beijing(params["start_modified"]), from_beijing(params["end_modified"])
                page, size = int(params.get("page_no", 1)), int(params.get("page_size", 40))
            elif platform == "pdd":
                start = datetime.fromtimestamp(int(params["start_updated_at"]), timezone.utc).replace(tzinfo=None)
                end = datetime.fromtimestamp(int(params["end_updated_at"]), timezone.utc).replace(tzinfo=None)
                page, size = int(params.get("page", 1)), int(params.get("page_size", 100))
            else:
                business = json.loads(params["360buy_param_json"])
                start, end = from_beijing(business["start_date"]), from_beijing(business["end_date"])
                page, size = int(business.get("page", 1)), int(business.get("page_size", 20))
        except (KeyError, TypeError, ValueError):
            return None
        if start is None or end is None or page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return None
        return {"start": start, "end": end, "page": page, "size": size}

    @staticmethod
    def _body(platform: str, rows: list[SimOrder], total: int, has_next: bool) -> dict:
        if platform == "taobao":
            return {"trades_sold_increment_get_response": {
                "total_results": total, "has_next": has_next,
                "trades": {"trade": [_render_taobao(o) for o in rows]}, "request_id": "sim"}}
        if platform == "pdd":
            return {"order_sn_increment_get_response": {
                "total_count": total, "has_next": has_next, "order_sn_list": [_render_pdd(o) for o in rows],
                "request_id": "sim"}}
        return {"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
            "apiResult": {"success": True, "numberCode": 10100000, "englishErrCode": "", "chineseErrCode": ""},
            "orderInfoList": [_render_jd(o) for o in rows], "orderTotal": total}}}


class _Handler(BaseHTTPRequestHandler):
    server: OrderSimulator

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self._reply(*self.server.answer(params))

    def do_GET(self):
        self._reply(*self.server.answer(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))))

    def _reply(self, status: int, body: dict):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # quiet: tests and the demo print what matters themselves
        pass


def start_simulator(accounts: list[dict], port: int = 0, host: str = "127.0.0.1"):
    """Serve `accounts` in a daemon thread; returns (server, base_url). `server.shutdown()` stops it."""
    server = OrderSimulator((host, port), accounts)
    threading.Thread(target=server.serve_forever, name="order-simulator", daemon=True).start()
    return server, server.base_url


def main(argv=None):
    parser = argparse.ArgumentParser(description="Local Taobao/Pinduoduo/JD order API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args(argv)
    server = OrderSimulator((args.host, args.port), DEMO_ACCOUNTS)
    print(f"order simulator at {server.base_url}")
    for spec in DEMO_ACCOUNTS:
        print(f"  {spec['platform']}: app key {spec['app_key']}, secret {spec['app_secret']}, "
              f"token {spec['access_token']}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
