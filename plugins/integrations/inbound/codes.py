"""Provider status codes -> the canonical status (domain.md 1.7). The raw code is always kept as sent."""

from __future__ import annotations

# Kuaidi100: `state` 0-14 and, with resultv2, 3-digit sub-states per trace item (`statusCode`)
KUAIDI100 = {
    "101": "CREATED", "102": "CREATED",
    "1": "PICKED_UP", "103": "PICKED_UP",
    "0": "IN_TRANSIT", "1002": "IN_TRANSIT", "1003": "IN_TRANSIT",
    "1001": "ARRIVED_DEST",
    "5": "OUT_FOR_DELIVERY",
    "501": "HELD_AT_STATION",
    "3": "DELIVERED", "301": "DELIVERED", "302": "DELIVERED", "303": "DELIVERED", "304": "DELIVERED",
    # 疑难 without a sub-state: a failed delivery is by far its commonest cause
    "2": "FAILED_ATTEMPT",
    "201": "DELAYED", "202": "DELAYED", "208": "DELAYED",
    "203": "REFUSED", "14": "REFUSED",
    "204": "FAILED_ATTEMPT", "206": "FAILED_ATTEMPT",
    "205": "LOCKER_OVERDUE",
    "207": "ADDRESS_PROBLEM",
    "209": "DAMAGED",
    "210": "CANCELLED", "401": "CANCELLED",
    "4": "RETURNED",
    "6": "RETURNING",
    "7": "IN_TRANSIT",  # handed to another carrier
    "8": "IN_TRANSIT", "10": "IN_TRANSIT", "11": "IN_TRANSIT", "12": "IN_TRANSIT",
    "13": "DELAYED",  # customs problem
}

# the per-item `status` text of resultv2 traces when an item carries no code
KUAIDI100_TEXT = {
    "揽收": "PICKED_UP", "在途": "IN_TRANSIT", "派件": "OUT_FOR_DELIVERY", "签收": "DELIVERED",
    "疑难": "FAILED_ATTEMPT", "退签": "RETURNED", "退回": "RETURNING", "转投": "IN_TRANSIT",
    "拒签": "REFUSED", "清关": "IN_TRANSIT", "待清关": "IN_TRANSIT", "清关中": "IN_TRANSIT",
    "已清关": "IN_TRANSIT", "清关异常": "DELAYED", "投柜或驿站": "HELD_AT_STATION", "下单": "CREATED",
}

# Kdniao: `State` 0-4 and `StateEx` / per-trace `Action`
KDNIAO = {
    "10": "CREATED",
    "1": "PICKED_UP",
    "2": "IN_TRANSIT", "204": "IN_TRANSIT", "206": "IN_TRANSIT", "5": "IN_TRANSIT",
    "6": "IN_TRANSIT", "601": "IN_TRANSIT", "602": "IN_TRANSIT", "603": "IN_TRANSIT", "604": "IN_TRANSIT",
    "201": "ARRIVED_DEST", "205": "ARRIVED_DEST",
    "202": "OUT_FOR_DELIVERY",
    "211": "HELD_AT_STATION",
    "3": "DELIVERED", "301": "DELIVERED", "302": "DELIVERED", "304": "DELIVERED", "311": "DELIVERED",
    "418": "DELIVERED",  # taken out of the locker by the receiver
    "4": "FAILED_ATTEMPT",  # 问题件 without detail
    "405": "FAILED_ATTEMPT", "416": "FAILED_ATTEMPT", "419": "FAILED_ATTEMPT",
    "401": "DELAYED", "402": "DELAYED", "403": "DELAYED", "417": "DELAYED", "422": "DELAYED",
    "404": "REFUSED",
    "406": "RETURNED",
    "407": "RETURNING",
    "412": "LOCKER_OVERDUE",
    "413": "CANCELLED", "415": "CANCELLED",
    "414": "DAMAGED",
    "420": "ADDRESS_PROBLEM", "421": "ADDRESS_PROBLEM", "423": "ADDRESS_PROBLEM",
}


def kuaidi100_status(code: str | None, text: str | None = None) -> str | None:
    return KUAIDI100.get((code or "").strip()) or KUAIDI100_TEXT.get((text or "").strip())


def kdniao_status(code: str | None) -> str | None:
    return KDNIAO.get((code or "").strip())
