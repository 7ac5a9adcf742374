"""Fixed choice lists of the shared domain: stored codes, translated labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

CUSTOMER_KINDS = {"B": _l("Business (B)"), "C": _l("Person (C)")}
CUSTOMER_STATUSES = {"prospect": _l("Prospect"), "active": _l("Active"), "dormant": _l("Dormant"),
                     "lost": _l("Churned"), "merged": _l("Merged")}
SOURCE_CHANNELS = {"counter": _l("Counter"), "phone": _l("Phone"), "app": _l("App"),
                   "mini_program": _l("Mini-program"), "ecommerce": _l("E-commerce platform"),
                   "import": _l("Import"), "api": _l("API")}
BILLING_MODES = {"monthly": _l("Monthly settlement"), "cash": _l("Cash")}
CREDIT_RATINGS = {"AAA": "AAA", "AA": "AA", "A": "A", "B": "B", "C": "C"}
INDUSTRIES = {"ecommerce": _l("E-commerce"), "manufacturing": _l("Manufacturing"), "retail": _l("Retail"),
              "food": _l("Food and fresh produce"), "pharma": _l("Pharmaceuticals"),
              "electronics": _l("Electronics"), "apparel": _l("Apparel"), "documents": _l("Documents and office"),
              "other": _l("Other")}
DELIVERY_TIMES = {"anytime": _l("Any time"), "morning": _l("Morning"), "afternoon": _l("Afternoon"),
                  "evening": _l("Evening"), "weekend": _l("Weekend")}
ADDRESS_KINDS = {"sender": _l("Sender address"), "return": _l("Return address")}
SERVICE_PRODUCTS = {"standard": _l("Standard"), "economy": _l("Economy"), "express": _l("Next-day express"),
                    "heavy": _l("Heavy freight"), "cold_chain": _l("Cold chain"), "same_city": _l("Same city")}
CONTRACT_STATUSES = {"draft": _l("Draft"), "active": _l("Active"), "expired": _l("Expired"),
                     "terminated": _l("Terminated")}
COMMUNICATION_CHANNELS = {"visit": _l("Visit"), "phone": _l("Phone"), "wechat": _l("WeChat"),
                          "email": _l("E-mail"), "meeting": _l("Meeting"), "other": _l("Other")}
TRACKING_SOURCES = {"push": _l("Provider push"), "poll": _l("Provider poll"), "manual": _l("Entered by staff"),
                    "import": _l("Import"), "demo": _l("Demo data"),
                    "inbox": _l("Matched from the inbox"), "replay": _l("Replayed payload")}


def label(choices: dict, code) -> str:
    if code is None or code == "":
        return ""
    return str(choices.get(code, code))


def as_select(choices: dict, blank: bool = False) -> list[tuple[str, object]]:
    """Options for a select field; labels stay lazy so each request shows its own language."""
    options = [(code, text) for code, text in choices.items()]
    return [("", "—")] + options if blank else options
