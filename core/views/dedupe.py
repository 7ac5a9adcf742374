"""The "Duplicates" screen (probable duplicate customers: merge one into the other, or dismiss the pair) and the
"Merges" screen (what each merge moved, with undo). Both under the Customers menu."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import and_, exists

from core.errors import UserInputError
from core.extensions import db
from core.merge import fields_to_fill, link_labels, merge_customers, rows_pointing_at, undo_merge
from core.models import Customer, choices
from core.models.dedupe import REASONS, CustomerMerge, DuplicateCandidate
from core.tenancy import ScopedInterface, current_user_obj
from core.views.base import ScopedModelView, timestamp
from core.views.labels import LABELS

CATEGORY = "Customers"


def _live(customer_id_column):
    return exists().where(Customer.id == customer_id_column, Customer.status != "merged",
                          Customer.erased_at.is_(None))


class OpenPairInterface(ScopedInterface):
    """Pairs whose two customers are both still there: once one is merged away or erased, the pair is moot."""

    def criterion(self):
        scope = super().criterion()
        both_live = and_(_live(DuplicateCandidate.customer_a_id), _live(DuplicateCandidate.customer_b_id))
        return both_live if scope is None else and_(scope, both_live)


def customer_summary(customer) -> Markup:
    """Masked name and phone, linked to the customer's page: enough to judge, nothing in full."""
    if customer is None:
        return Markup("")
    text = " · ".join(part for part in (customer.display_name, customer.phone_masked) if part)
    status = "" if customer.status == "active" else f" ({choices.label(choices.CUSTOMER_STATUSES, customer.status)})"
    href = url_for("CustomerView.show", pk=customer.id)
    return Markup('<a href="{}">{}</a>{}').format(href, text, status)


def reason_labels(reasons: str) -> str:
    found = set((reasons or "").split(","))
    return ", ".join(str(label) for key, label in REASONS.items() if key in found)


def filled_fields(before) -> str:
    """The labels of the survivor fields a merge filled in (custom values by their key)."""
    before = before or {}
    names = [str(LABELS.get(key, key)) for key in before if key != "custom"]
    return ", ".join(names + list(before.get("custom") or {}))


def _one(items):
    return items if not isinstance(items, list) else (items[0] if len(items) == 1 else None)


class DuplicateCandidateView(ScopedModelView):
    route_base = "/duplicates"
    datamodel = OpenPairInterface(DuplicateCandidate)
    entity_label, entity_label_plural = _l("Duplicate candidate"), _l("Duplicates")
    base_permissions = ["can_list", "can_show"]
    # one "merge" permission for both directions and the confirm page; FAB adds the actions' to base_permissions
    method_permission_name = {"merge_keep_a": "merge", "merge_keep_b": "merge", "confirm_merge": "merge",
                              "dismiss": "dismiss"}
    base_filters = [["status", FilterEqual, "open"]]
    base_order = ("score", "desc")
    list_columns = ["customer_a", "customer_b", "reasons", "score", "found_at", "franchise", "id"]
    show_columns = ["customer_a", "customer_b", "reasons", "score", "found_at", "seen_at", "franchise"]
    order_columns = ["score", "found_at"]
    search_columns = ["score", "found_at", "franchise"]
    label_columns = {"customer_a": _l("Customer A"), "customer_b": _l("Customer B"), "reasons": _l("Why"),
                     "score": _l("Score"), "found_at": _l("Found"), "seen_at": _l("Last found"),
                     "franchise": LABELS["franchise"], "id": _l("Merge")}
    formatters_columns = {"customer_a": customer_summary, "customer_b": customer_summary, "reasons": reason_labels}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.formatters_columns = {**self.formatters_columns, "id": self._merge_links}

    def _merge_links(self, pk):
        if not self.appbuilder.sm.has_access("can_merge", self.class_permission_name):
            return ""
        return Markup('<a href="{}">{}</a> · <a href="{}">{}</a>').format(
            url_for(".confirm_merge", pk=pk, keep="a"), _("keep A"), url_for(".confirm_merge", pk=pk, keep="b"),
            _("keep B"))

    @action("merge_keep_a", _l("Merge, keeping A"), None, "fa-compress")
    def merge_keep_a(self, items):
        return self._to_confirm(items, "a")

    @action("merge_keep_b", _l("Merge, keeping B"), None, "fa-compress")
    def merge_keep_b(self, items):
        return self._to_confirm(items, "b")

    def _to_confirm(self, items, keep):
        pair = _one(items)
        if pair is None:
            flash(_("Merge one pair at a time."), "warning")
            return redirect(self.get_redirect())
        return redirect(url_for(".confirm_merge", pk=pair.id, keep=keep))

    @action("dismiss", _l("Not a duplicate"), _l("Dismiss the selected pairs? They will not be suggested again."),
            "fa-times")
    def dismiss(self, items):
        items = items if isinstance(items, list) else [items]
        for pair in items:
            pair.status = "dismissed"
        db.session.commit()
        flash(_("%(count)d pair(s) dismissed.", count=len(items)), "success")
        return redirect(self.get_redirect())

    @expose("/merge/<int:pk>/<keep>", methods=["GET", "POST"])
    @has_access
    @permission_name("merge")
    def confirm_merge(self, pk, keep):
        """What the merge will move (GET), and the merge itself (POST)."""
        pair = self.datamodel.get(pk, self._base_filters)
        if pair is None or keep not in ("a", "b"):
            abort(404)
        survivor, merged = (pair.customer_a, pair.customer_b) if keep == "a" else (pair.customer_b, pair.customer_a)
        if request.method == "POST":
            return self._merge(survivor, merged)
        return self._render_confirm(pair, survivor, merged)

    def _merge(self, survivor, merged):
        try:
            merge_customers(survivor, merged, current_user_obj())
        except UserInputError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".list"))
        db.session.commit()
        flash(_("Merged into %(name)s. Customers → Merges can undo it.", name=survivor.display_name), "success")
        return redirect(url_for("CustomerView.show", pk=survivor.id))

    def _render_confirm(self, pair, survivor, merged):
        moves = [(link.label, count) for link, count in rows_pointing_at(merged.id)]
        fills = [str(LABELS.get(_field_name(name), _field_name(name))) for name in fields_to_fill(survivor, merged)]
        return self.render_template(
            "crm/merge_confirm.html", survivor=survivor, merged=merged, moves=moves, fills=fills,
            reasons=reason_labels(pair.reasons), summary=customer_summary, timestamp=timestamp, labels=LABELS,
            status_label=lambda code: choices.label(choices.CUSTOMER_STATUSES, code))


def _field_name(name: str) -> str:
    return name.split(".", 1)[1] if name.startswith("custom.") else name


class CustomerMergeView(ScopedModelView):
    route_base = "/merges"
    datamodel = ScopedInterface(CustomerMerge)
    entity_label, entity_label_plural = _l("Merge"), _l("Merges")
    base_permissions = ["can_list", "can_show"]
    method_permission_name = {"undo": "undo"}
    base_order = ("merged_at", "desc")
    list_columns = ["merged_at", "survivor", "merged", "moved", "merged_by", "undone_at", "franchise"]
    show_columns = ["merged_at", "survivor", "merged", "moved", "survivor_before", "merged_status", "merged_by",
                    "undone_at", "undone_by", "franchise"]
    order_columns = ["merged_at", "undone_at"]
    search_columns = ["merged_at", "undone_at", "franchise"]
    label_columns = {"merged_at": _l("Merged"), "survivor": _l("Kept"), "merged": _l("Merged into it"),
                     "moved": _l("Moved"), "survivor_before": _l("Filled in"), "merged_status": _l("Status before"),
                     "merged_by": _l("By"), "undone_at": _l("Undone"), "undone_by": _l("Undone by"),
                     "franchise": LABELS["franchise"]}
    formatters_columns = {"survivor": customer_summary, "merged": customer_summary,
                          "survivor_before": lambda before: filled_fields(before),
                          "merged_status": lambda code: choices.label(choices.CUSTOMER_STATUSES, code)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.formatters_columns = {**self.formatters_columns, "moved": self._moved_summary}

    @staticmethod
    def _moved_summary(moved) -> str:
        labels = link_labels()
        return ", ".join(f"{labels.get(name, name)}: {len(ids)}" for name, ids in (moved or {}).items() if ids)

    @action("undo", _l("Undo"), _l("Undo the selected merges? What moved goes back to the merged customer."),
            "fa-undo")
    def undo(self, items):
        items = items if isinstance(items, list) else [items]
        done = 0
        for merge in items:
            try:
                undo_merge(merge, current_user_obj())
            except UserInputError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                continue
            db.session.commit()
            done += 1
        if done:
            flash(_("%(count)d merge(s) undone.", count=done), "success")
        return redirect(self.get_redirect())


def register(appbuilder) -> None:
    appbuilder.add_view(DuplicateCandidateView, "Duplicates", label=_l("Duplicates"), icon="fa-clone",
                        category=CATEGORY, category_label=_l("Customers"), category_icon="fa-users")
    appbuilder.add_view(CustomerMergeView, "Merges", label=_l("Merges"), icon="fa-compress", category=CATEGORY)
