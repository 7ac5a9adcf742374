"""Fixed choice lists of tickets: stored codes, translated labels (complaint categories follow the
postal regulator's and WeChat's complaint enums, domain.md)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.models.choices import label  # noqa: F401  (the one way to show a code: `choices.label(TYPES, code)`)

TYPES = {"inquiry": _l("Inquiry (查件)"), "complaint": _l("Complaint (投诉)"), "claim": _l("Claim (理赔)"),
         "address_change": _l("Address change"), "exception": _l("Exception parcel (异常件)"), "other": _l("Other")}
CATEGORIES = {"delay": _l("Delay (延误)"), "lost": _l("Lost or short (丢失短少)"), "damaged": _l("Damaged (损毁)"),
              "delivery_service": _l("Delivery service (投递服务)"), "charges": _l("Charges (收费)"),
              "attitude": _l("Attitude (服务态度)"), "other": _l("Other")}
PRIORITIES = {"urgent": _l("Urgent"), "high": _l("High"), "normal": _l("Normal"), "low": _l("Low")}
# higher number = more urgent: sorting and "raise priority" on escalation use it
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
CHANNELS = {"phone": _l("Phone"), "chat": _l("Online chat"), "wechat": _l("WeChat"), "app": _l("App"),
            "email": _l("E-mail"), "api": _l("API"), "system": _l("System")}
STATUSES = {"new": _l("New"), "assigned": _l("Assigned"), "in_progress": _l("In progress"),
            "waiting": _l("Waiting on customer"), "resolved": _l("Resolved"), "closed": _l("Closed")}
# status categories (Frappe's idea): SLA and queue rules read the category, not the status itself
OPEN_STATUSES = ("new", "assigned", "in_progress", "waiting")
PAUSED_STATUSES = ("waiting",)
DONE_STATUSES = ("resolved", "closed")
# which status may follow which; a reopen goes from resolved or closed back to in progress
TRANSITIONS = {
    "new": {"assigned", "in_progress", "waiting", "resolved"},
    "assigned": {"new", "in_progress", "waiting", "resolved"},
    "in_progress": {"assigned", "waiting", "resolved"},
    "waiting": {"assigned", "in_progress", "resolved"},
    "resolved": {"closed", "in_progress"},
    "closed": {"in_progress"},
}
RESOLUTION_CODES = {"answered": _l("Answered / explained"), "redelivered": _l("Redelivered"),
                    "address_updated": _l("Address updated"), "found": _l("Parcel found and delivered"),
                    "compensated": _l("Compensated"), "returned": _l("Returned to sender"),
                    "no_fault": _l("No fault found"), "duplicate": _l("Duplicate request"),
                    "unreachable": _l("Customer unreachable"), "other": _l("Other")}
REPORTER_ROLES = {"sender": _l("Sender"), "receiver": _l("Receiver"), "other": _l("Other party")}
# exception kinds of the integrations plugin that make an urgent ticket (lost and damaged parcels)
URGENT_EXCEPTIONS = {"LOST", "DAMAGED"}
EXCEPTION_CATEGORY = {"LOST": "lost", "DAMAGED": "damaged", "DELAYED": "delay", "STALLED": "delay",
                      "FAILED_ATTEMPT": "delivery_service", "REFUSED": "delivery_service",
                      "RETURNING": "delivery_service", "RETURNED": "delivery_service",
                      "LOCKER_OVERDUE": "delivery_service", "ADDRESS_PROBLEM": "delivery_service"}
EVENT_KINDS = {"created": _l("Ticket created"), "status": _l("Status"), "assigned": _l("Assigned"), "team": _l("Team"),
               "priority": _l("Priority"), "note": _l("Internal note"), "reply": _l("Reply to customer"),
               "customer_reply": _l("Customer message"), "attached": _l("Another report"),
               "participant": _l("Participant"), "sla": _l("SLA"), "escalated": _l("Escalated"),
               "claim": _l("Claim"), "callback": _l("Callback"), "changed": _l("Changed")}
# the regulator's deadline for answering a complaint (快递市场管理办法): calendar days, not business hours
COMPLAINT_ANSWER_DAYS = 7
