"""The plugin contract of courier-crm.

A plugin is a module (or object) with a `NAME`, a `VERSION`, optionally `DEPENDS` (names of plugins it
needs) and functions marked `@hookimpl` named after the hooks below. Every hook takes keyword arguments
only and is prefixed `crm_`. Registration hooks are called once when the app starts; domain events are
delivered after the transaction that raised them commits, through the job outbox, and only to plugins
active in the event's franchise.

    from core.hookspecs import hookimpl
    NAME, VERSION = "hello", "1.0"

    @hookimpl
    def crm_models():
        return [Greeting]
"""

import pluggy

PROJECT = "crm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- Registration (called once at start-up) ---------------------------------------------------------


@hookspec
def crm_models():
    """Return the SQLAlchemy model classes this plugin owns.

    Rows of these models are scoped by their `franchise_id` and hidden where the plugin is inactive.
    """


@hookspec
def crm_migration_dirs():
    """Return Alembic version directories of this plugin (each with its own branch label)."""


@hookspec
def crm_views(appbuilder, category):
    """Register the plugin's screens and REST APIs.

    Call `appbuilder.add_view(...)`, `add_view_no_menu(...)` and `add_api(...)` with views built on
    `core.views.ScopedModelView` / `ScopedModelRestApi` (or with `plugin = NAME` set on any view), so
    their menus hide, and their pages and APIs answer 404, where the plugin is inactive. `category` is the
    default menu category for the plugin (its label).
    """


@hookspec
def crm_permissions():
    """Return role templates extensions: {role template name: [(permission, view name), ...]}.

    Role template names are those of `core.roles.ROLE_TEMPLATES` (e.g. "Frontline Agent"). Permissions
    given here are added to those roles by `crm init`.
    """


@hookspec
def crm_custom_field_targets():
    """Return model classes (with `core.lowcode.CustomFieldsMixin`) that admins may add custom fields to."""


@hookspec
def crm_periodic_jobs():
    """Return periodic jobs: [core.jobs.PeriodicJob(name, func, cron="0 2 * * *" | interval=seconds)].

    Each runs once per franchise where the plugin is active; `func(franchise_id)` is called in a job
    whose scope is that franchise.
    """


@hookspec
def crm_dashboard_widgets():
    """Return home-page widgets: [core.dashboard.Widget(key, title, render)].

    `render(scope)` gets the viewer's franchise scope (restricted to franchises where the plugin is active)
    and returns {"kind": "figure", "value": ..., "unit": ...} or {"kind": "chart", "option": <ECharts option>}.
    """


@hookspec
def crm_settings_schema():
    """Return a marshmallow Schema class for this plugin's per-franchise settings (or None)."""


@hookspec
def crm_customer_panels():
    """Return panels for the customer 360 page: [core.customer360.Panel(key, title, render, order)].

    `render(customer)` returns HTML markup (escape what you show; use `core.privacy.masked` for personal
    data) or None to show nothing. Panels of a plugin appear only where it is active in the customer's
    franchise.
    """


@hookspec
def crm_customer_metrics():
    """Return figures per customer this plugin can compute: [core.customer_metrics.CustomerMetric(key, label,
    query, window_days)]. Other plugins read them set-based (e.g. tiering's tag rules: "complaints in 90 days
    >= 2"); keys are unique across plugins."""


@hookspec
def crm_customer_data(customer):
    """Return {section name: list of dicts} of what this plugin holds about `customer`.

    Used by the data-subject export (PIPL art. 45): plaintext, because the customer asked for their data.
    """


@hookspec
def crm_customer_erase(customer):
    """Anonymise the personal data this plugin holds about `customer` (PIPL art. 47); keep statistics.

    Called inside the erase's transaction; do not commit.
    """


@hookspec
def crm_demo(app, franchise_ids):
    """`crm demo` ran core's demo data for `franchise_ids`: add this plugin's demo data (idempotent: a second
    run keeps what exists) and start what the demo needs in this process (e.g. a local simulator).

    Return lines to print for the person running the demo (or None).
    """


# --- Questions with one answer -----------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_send_message(franchise_id, customer_id, channel, template, params, purpose):
    """Send a text message to a customer through the franchise's gateway: the first plugin that can answers.

    `channel` is "sms" or "wechat", `template` a template code, `params` its values, `purpose` "service"
    (about a parcel or ticket of theirs: contract necessity), "survey" or "marketing" (consent: a customer's
    opt-out blocks these, domain.md 4). Returns {"status": "sent" | "queued" | "opted_out" |
    "rate_limited" | "no_recipient" | "failed", "message_id": int | None, "detail": str}; None when no active
    plugin sends messages. Call it inside a transaction: the message is logged in it and sent after commit.
    """


@hookspec(firstresult=True)
def crm_customer_tier(franchise_id, customer_id):
    """The customer's tier code ("A", "B", "C" ...) as the tiering plugin keeps it; None when no active plugin
    knows. Tickets read it at intake for dispatch rules and SLA policies."""


@hookspec(firstresult=True)
def crm_customer_service_level(franchise_id, customer_id):
    """What the customer's tier is owed, as the tiering plugin keeps it: {"tier": "A", "callback_days": int | None,
    "dedicated_manager": bool, "ticket_priority": "urgent" | "high" | "normal" | "low" | None, "sla_policy_name":
    str | None}; None when no active plugin knows. Tickets raise a new ticket's priority to `ticket_priority`."""


@hookspec(firstresult=True)
def crm_segment_customers(franchise_id, segment_id):
    """A SELECT of the `crm_customer.id`s in a saved customer segment (the tiering plugin's), restricted to
    `franchise_id`, for target lists (campaigns, surveys) built set-based with INSERT ... SELECT; None when no
    active plugin has that segment."""


@hookspec(firstresult=True)
def crm_segments(franchise_id):
    """The saved customer segments usable in `franchise_id`: [(segment_id, name)]; None when no active plugin
    keeps segments."""


@hookspec(firstresult=True)
def crm_ticket_sla_policy(ticket):
    """The SLA policy (a `plugins.tickets` SlaPolicy of the ticket's franchise) that applies to `ticket`, when a
    plugin decides it (e.g. by the customer's tier service level); None to let the policies' own conditions
    choose."""


# --- Domain events (after commit, at least once, only where the plugin is active) ---------------------


@hookspec
def crm_domain_event(event, franchise_id, payload):
    """A domain event happened in `franchise_id`: `event` is its name (e.g. "shipment.exception").

    Raised with `core.events.emit(event, franchise_id, payload)` inside a transaction and delivered after
    it commits; the payload carries an `event_id`, the same on every delivery of one event. May be delivered
    more than once: handlers must be idempotent.

    The integrations plugin raises "shipment.exception" {shipment_id, waybill_no, kind (an exception status or
    STALLED), occurred_at, source (event | watch), provider, detail} once per shipment and kind, and
    "shipment.delivered" {shipment_id, waybill_no, delivered_at}.
    The tickets plugin raises "ticket.created", "ticket.resolved" and "ticket.closed" {ticket_id, type, category,
    customer_id, shipment_id, waybill_no, channel, resolution_code, team_id, assignee_id} ("auto_closed": true
    when the auto-close job closed it) and "ticket.sla_breached" {ticket_id, escalation_level, type, target
    (first_response | resolution), priority, team_id}.
    The tiering plugin raises "tier.changed" {customer_id, from_tier, to_tier, run_id, measure, method} for each
    customer a recompute moved to another tier (not for a customer's first tier).
    Core raises "customers.merged" {merge_id, survivor_id, merged_id} and "customers.merge_undone" (same
    keys). A merge already moves (and its undo moves back) the rows of every table with a foreign key to
    `crm_customer`, plugin tables included; handle these events for other data only, or set
    `__merge_skip__ = True` on a model whose rows you move yourself.
    """

