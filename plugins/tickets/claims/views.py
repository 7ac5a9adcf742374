"""Claims screens: the list (the charged franchise sees the claims charged to it), a claim's page with its
evidence and the steps the user may take as small forms, opening a claim from a ticket, evidence upload and
download, and the approval limits per role."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from werkzeug.routing import BuildError
from wtforms import SelectField
from wtforms import validators as wtv

from core.extensions import db
from core.tenancy import (Franchise, ScopedInterface, current_scope, current_user_obj, is_hq, model_scope,
                          scope_criterion)
from core.views.base import ScopedModelView
from plugins.tickets.claims import evidence as evidence_files
from plugins.tickets.claims import service
from plugins.tickets.claims.models import (CHARGEBACK_STATUSES, CLAIM_STATUSES, PAYOUT_METHODS, Claim,
                                           ClaimApprovalLimit, ClaimEvidence)
from plugins.tickets.menu import TEMPLATE_FOLDER, add_view
from plugins.tickets.models import Ticket
from plugins.tickets.workflow import TicketError

CLAIMS_MENU = "Claims"
LIMITS_MENU = "Claim approval limits"


class ClaimInterface(ScopedInterface):
    """The franchise scope, widened by the claims charged back to a franchise of the scope: the charged
    franchise sees those claims (list, page, evidence) and no other claim of the owner."""

    def criterion(self):
        own = scope_criterion(self.obj)
        if self.obj is not Claim or own is None:
            return own
        return or_(own, model_scope(Claim).criterion(Claim.responsible_franchise_id))


def visible_claim(pk) -> Claim | None:
    """The claim if the current user may see it (out of scope = absent)."""
    query = select(Claim).where(Claim.id == pk)
    condition = ClaimInterface(Claim).criterion()
    return db.session.scalars(query if condition is None else query.where(condition)).first()


def visible_ticket(reference) -> Ticket | None:
    """A ticket of the user's scope by number (T00000012) or id."""
    text = str(reference or "").strip().upper().lstrip("T")
    if not text.isdigit():
        return None
    query = select(Ticket).where(Ticket.id == int(text))
    condition = scope_criterion(Ticket)
    return db.session.scalars(query if condition is None else query.where(condition)).first()


def _label(options):
    return lambda code: str(options.get(code, code or ""))


def _select(options):
    return SelectField(choices=lambda: [("", "—")] + [(k, str(v)) for k, v in options.items()],
                       widget=Select2Widget(), validators=[wtv.Optional()])


def ticket_url(ticket) -> str | None:
    # the desk's ticket page, when the desk is there to link to
    try:
        return url_for("TicketView.show", pk=ticket.id)
    except BuildError:
        return None






def _page_texts() -> dict:
    return {
        "title": _("Claim"), "ticket": _("Ticket"), "waybill": _("Waybill"), "franchise": _("Franchise"),
        "requested": _("Requested"), "declared": _("Declared value"),
        "over_declared": _("Above the declared value: HQ approval"), "assessed": _("Assessed"),
        "approved": _("Approved by"), "rejected": _("Rejected because"), "paid": _("Paid"),
        "chargeback": _("Charge-back"), "evidence": _("Evidence"), "no_evidence": _("No evidence yet."),
        "upload": _("Add evidence"), "assess": _("Assess"), "amount": _("Amount (CNY)"), "note": _("Note"),
        "approve_title": _("Approve the amount"), "approve": _("Approve"), "reject": _("Reject"),
        "reason": _("Reason"), "pay": _("Record payout"), "charge_back": _("Charge back"),
        "accept": _("Accept the charge-back"), "dispute": _("Dispute the charge-back"),
        "settle": _("Settle the charge-back"), "back": _("Back"),
    }


class ClaimView(ScopedModelView):
    template_folder = TEMPLATE_FOLDER
    route_base = "/tickets/claims"
    datamodel = ClaimInterface(Claim)
    entity_label, entity_label_plural = _l("Claim"), _l("Claims")
    base_permissions = ["can_list", "can_show", "can_open", "can_upload", "can_assess", "can_approve", "can_pay",
                        "can_charge_back", "can_answer_chargeback"]
    list_columns = ["number", "ticket", "status", "requested_amount", "declared_value", "assessed_amount",
                    "paid_amount", "chargeback_status", "responsible_franchise", "franchise", "created_at"]
    search_columns = ["status", "chargeback_status", "franchise", "created_at"]
    order_columns = ["created_at", "status", "requested_amount"]
    base_order = ("created_at", "desc")
    label_columns = {"number": _l("Claim"), "ticket": _l("Ticket"), "status": _l("Status"),
                     "requested_amount": _l("Requested"), "declared_value": _l("Declared value"),
                     "assessed_amount": _l("Assessed"), "paid_amount": _l("Amount paid"),
                     "chargeback_status": _l("Charge-back"), "responsible_franchise": _l("Charged to"),
                     "franchise": _l("Franchise"), "created_at": _l("Created")}
    search_form_extra_fields = {"status": _select(CLAIM_STATUSES), "chargeback_status": _select(CHARGEBACK_STATUSES)}
    formatters_columns = {"status": _label(CLAIM_STATUSES), "chargeback_status": _label(CHARGEBACK_STATUSES)}

    def _render(self, template: str, status: int = 200, **context):
        return self.render_template(template, **context), status

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", self.class_permission_name)

    def _claim_page(self, claim: Claim, errors=None, values=None, status: int = 200):
        user = current_user_obj()
        owner = current_scope().allows(claim.franchise_id)
        hq = is_hq(user)
        can = {
            "upload": owner and claim.status != "rejected" and self._may("upload"),
            "assess": owner and claim.status in ("submitted", "assessed") and self._may("assess"),
            "approve": owner and claim.status in ("submitted", "assessed") and self._may("approve"),
            "pay": owner and claim.status == "approved" and self._may("pay"),
            "charge_back": owner and claim.status in ("approved", "paid") and self._may("charge_back")
            and (claim.chargeback_status == "none" or (hq and claim.chargeback_status == "disputed")),
            "answer": claim.chargeback_status == "pending" and self._may("answer_chargeback")
            and (hq or current_scope().allows(claim.responsible_franchise_id)),
            "settle": self._may("charge_back") and ((claim.chargeback_status == "accepted" and owner)
                                                    or (claim.chargeback_status == "disputed" and hq)),
        }
        franchises = []
        if can["charge_back"]:
            allowed = service.chargeable_franchises(claim, user)
            query = select(Franchise).order_by(Franchise.code).where(Franchise.id != claim.franchise_id)
            if allowed is not None:
                query = query.where(Franchise.id.in_(sorted(allowed) or [-1]))
            franchises = db.session.scalars(query).all()
        return self._render("tickets/claims/claim.html", status=status, t=_page_texts(), claim=claim, can=can,
                            errors=errors or {},
                            values=values or {}, statuses={k: str(v) for k, v in CLAIM_STATUSES.items()},
                            chargebacks={k: str(v) for k, v in CHARGEBACK_STATUSES.items()},
                            methods={k: str(v) for k, v in PAYOUT_METHODS.items()}, franchises=franchises,
                            money=service.money, over_declared=service.over_declared(claim),
                            ticket_link=ticket_url(claim.ticket))

    def _claim_or_404(self, pk) -> Claim:
        claim = visible_claim(pk)
        if claim is None:
            abort(404)
        return claim

    @expose("/show/<int:pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self._claim_page(self._claim_or_404(pk))

    def _step(self, pk, action: str, do):
        """Run one step on the claim: saved and back to its page, or the page again with the refusal."""
        claim = self._claim_or_404(pk)
        try:
            do(claim, current_user_obj())
            db.session.commit()
        except TicketError as exc:
            db.session.rollback()
            claim = self._claim_or_404(pk)
            message = f"{exc.field}: {exc.problem}"
            return self._claim_page(claim, errors={action: message}, values=request.form, status=422)
        flash(_("Saved."), "success")
        return redirect(url_for(".show", pk=pk))

    @expose("/assess/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("assess")
    def assess(self, pk):
        form = request.form
        return self._step(pk, "assess", lambda c, u: service.assess(c, form.get("amount"), form.get("note"), u))

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve(self, pk):
        return self._step(pk, "approve", service.approve)

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("approve")
    def reject(self, pk):
        return self._step(pk, "reject", lambda c, u: service.reject(c, request.form.get("reason"), u))

    @expose("/pay/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("pay")
    def pay(self, pk):
        form = request.form
        return self._step(pk, "pay", lambda c, u: service.pay(c, form.get("amount"), form.get("method"), u))

    @expose("/charge-back/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("charge_back")
    def charge_back(self, pk):
        form = request.form
        return self._step(pk, "charge_back", lambda c, u: service.charge_back(
            c, form.get("responsible_franchise_id"), form.get("amount"), u))

    @expose("/settle-charge-back/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("charge_back")
    def settle_chargeback(self, pk):
        return self._step(pk, "settle_chargeback", service.settle_chargeback)

    @expose("/accept-charge-back/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("answer_chargeback")
    def accept_chargeback(self, pk):
        return self._step(pk, "accept_chargeback", service.accept_chargeback)

    @expose("/dispute-charge-back/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("answer_chargeback")
    def dispute_chargeback(self, pk):
        return self._step(pk, "dispute_chargeback",
                          lambda c, u: service.dispute_chargeback(c, request.form.get("reason"), u))

    @expose("/open", methods=["GET", "POST"])
    @has_access
    @permission_name("open")
    def open(self):
        """Open a claim on a ticket (`?ticket=T00000012` from the ticket page fills the ticket in)."""
        values = request.form if request.method == "POST" else {"ticket": request.args.get("ticket", "")}
        errors = {}
        if request.method == "POST":
            ticket = visible_ticket(values.get("ticket"))
            if ticket is None:
                errors["ticket"] = _("No such ticket.")
            else:
                try:
                    claim = service.open_claim(ticket, values.get("requested_amount"), current_user_obj(),
                                               note=values.get("note"))
                    db.session.commit()
                except TicketError as exc:
                    db.session.rollback()
                    errors[exc.field if exc.field in ("ticket", "requested_amount") else "ticket"] = \
                        f"{exc.field}: {exc.problem}"
                else:
                    flash(_("Claim %(claim)s opened.", claim=claim.number), "success")
                    return redirect(url_for(".show", pk=claim.id))
        fields = [("ticket", _("Ticket number"), "input"), ("requested_amount", _("Amount requested (CNY)"), "input"),
                  ("note", _("What happened"), "textarea")]
        return self._render("tickets/claims/open.html", status=422 if errors else 200, t={
            "title": _("Open a claim"), "submit": _("Open the claim"), "back": _("Back")},
            fields=fields, values=values, errors=errors)

    @expose("/upload/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("upload")
    def upload(self, pk):
        claim = self._claim_or_404(pk)
        if not current_scope().allows(claim.franchise_id):
            abort(404)  # the charged franchise reads the evidence; the claim's franchise collects it
        error = None
        if request.method == "POST":
            upload = request.files.get("file")
            try:
                if upload is None:
                    raise TicketError("file", _("choose a file"))
                evidence_files.add_evidence(claim, upload.filename, upload.mimetype, upload.stream,
                                            current_user_obj())
                db.session.commit()
            except TicketError as exc:
                db.session.rollback()
                claim = self._claim_or_404(pk)
                error = f"{exc.field}: {exc.problem}"
            else:
                flash(_("Evidence added."), "success")
                return redirect(url_for(".show", pk=pk))
        limit = evidence_files.max_bytes(claim.franchise_id) // evidence_files.MB
        return self._render("tickets/claims/upload.html", status=422 if error else 200, claim=claim, error=error, t={
            "title": _("Add evidence to claim"), "file": _("Photo or PDF"), "submit": _("Upload"),
            "back": _("Back"),
            "help": _("JPEG, PNG, WebP or PDF, at most %(mb)d MB.", mb=limit)})

    @expose("/evidence/<int:pk>", methods=["GET"])
    @has_access
    @permission_name("show")
    def evidence(self, pk):
        item = db.session.get(ClaimEvidence, pk)
        if item is None or visible_claim(item.claim_id) is None:
            abort(404)
        response = send_file(io.BytesIO(item.content), mimetype=item.content_type, download_name=item.filename,
                             as_attachment=item.content_type == "application/pdf")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def role_choices():
    from flask import current_app

    roles = current_app.appbuilder.sm.get_all_roles()
    return [(role.name, role.name) for role in sorted(roles, key=lambda r: r.name) if role.name != "Public"]


class ClaimApprovalLimitView(ScopedModelView):
    route_base = "/tickets/claim-limits"
    datamodel = ScopedInterface(ClaimApprovalLimit)
    entity_label, entity_label_plural = _l("Claim approval limit"), _l("Claim approval limits")
    list_columns = ["role_name", "max_amount", "franchise"]
    show_columns = add_columns = edit_columns = ["role_name", "max_amount", "franchise"]
    search_columns = ["role_name", "franchise"]
    order_columns = ["role_name", "max_amount"]
    base_order = ("role_name", "asc")
    label_columns = {"role_name": _l("Role"), "max_amount": _l("Largest amount (CNY)"), "franchise": _l("Franchise")}
    description_columns = {"max_amount": _l("Claims up to this amount may be approved by users with this role; "
                                            "above every limit, and above a parcel's declared value, only HQ")}
    add_form_extra_fields = edit_form_extra_fields = {
        "role_name": SelectField(_l("Role"), choices=role_choices, widget=Select2Widget(),
                                 validators=[wtv.InputRequired()]),
    }


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, ClaimView, CLAIMS_MENU, _l("Claims"), "fa-money")
    add_view(appbuilder, ClaimApprovalLimitView, LIMITS_MENU, _l("Claim approval limits"), "fa-balance-scale")


CLAIM_READ = [("can_list", "ClaimView"), ("can_show", "ClaimView"), ("menu_access", CLAIMS_MENU)]
LIMIT_READ = [("can_list", "ClaimApprovalLimitView"), ("can_show", "ClaimApprovalLimitView"),
              ("menu_access", LIMITS_MENU)]
LIMIT_WRITE = LIMIT_READ + [(p, "ClaimApprovalLimitView") for p in ("can_add", "can_edit", "can_delete")]
CLAIM_WORK = [(p, "ClaimView") for p in ("can_assess", "can_approve", "can_pay", "can_charge_back",
                                         "can_answer_chargeback")]
CLAIM_INTAKE = [("can_open", "ClaimView"), ("can_upload", "ClaimView")]

PERMISSIONS = {
    "Frontline Agent": CLAIM_READ + CLAIM_INTAKE,
    "Outlet Manager": CLAIM_READ + CLAIM_INTAKE + CLAIM_WORK + LIMIT_READ,
    "Account Manager": CLAIM_READ,
    "Franchise IT": CLAIM_READ + LIMIT_WRITE,
}
