"""Screens for data-subject requests: export everything held about a customer, erase their personal data.

Both need their own permission ("PersonalData": can_export, can_erase; HQ and franchise IT by default),
a reason, and are written to the audit log. The unmask permission lives on the same permission view.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from core.extensions import db
from core.models import Customer
from core.privacy import PersonalDataError
from core.subject_rights import erase_customer, export_customer
from core.tenancy import ScopedInterface

PERMISSION_VIEW = "PersonalData"


def privacy_actions_allowed() -> dict[str, bool]:
    from flask import current_app

    sm = current_app.appbuilder.sm
    return {action: bool(sm.has_access(f"can_{action}", PERMISSION_VIEW)) for action in ("export", "erase")}


class PersonalDataView(BaseView):
    route_base = "/personal-data"
    class_permission_name = PERMISSION_VIEW
    # kept explicitly: can_unmask has no page of its own but must survive permission syncs
    base_permissions = ["can_unmask", "can_export", "can_erase"]
    method_permission_name = {"export": "export", "erase_form": "erase", "erase": "erase"}
    default_view = "erase_form"

    def _customer(self, customer_id):
        customer = ScopedInterface(Customer).get(customer_id)
        if customer is None:
            abort(404)
        return customer

    @expose("/export/<int:customer_id>", methods=["POST"])
    @has_access
    def export(self, customer_id):
        customer = self._customer(customer_id)
        try:
            document = export_customer(customer, request.form.get("reason", ""))
        except PersonalDataError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for("CustomerView.show", pk=customer_id))
        db.session.commit()
        return Response(document, mimetype="application/json",
                        headers={"Content-Disposition": f"attachment; filename=customer-{customer_id}-data.json"})

    @expose("/erase/<int:customer_id>", methods=["GET"])
    @has_access
    def erase_form(self, customer_id):
        customer = self._customer(customer_id)
        return self.render_template("crm/erase_customer.html", customer=customer)

    @expose("/erase/<int:customer_id>", methods=["POST"])
    @has_access
    def erase(self, customer_id):
        customer = self._customer(customer_id)
        if request.form.get("confirm", "").strip() != str(customer.id):
            flash(_("Type the customer's ID to confirm the erasure."), "danger")
            return redirect(url_for(".erase_form", customer_id=customer_id))
        try:
            counts = erase_customer(customer, request.form.get("reason", ""))
        except PersonalDataError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".erase_form", customer_id=customer_id))
        db.session.commit()
        flash(_("Personal data erased: %(count)s shipments anonymised, statistics kept.",
                count=counts["shipments"]), "success")
        return redirect(url_for("CustomerView.show", pk=customer_id))
