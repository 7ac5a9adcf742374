"""The "Tag rules" screens: the list (conditions in words, who the rule belongs to, how many customers it tags
now), add and edit with the condition builder and a preview count, delete. HQ's rules (no franchise) apply to
every franchise without its own rule of that tag; franchise IT writes its franchise's rules only."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, has_access_api, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.tenancy import current_user_obj, may_write, scope_criterion
from plugins.tiering import conditions_form as builder
from plugins.tiering.fields import catalogue, describe
from plugins.tiering.menu import TEMPLATE_FOLDER, add_view
from plugins.tiering.models import TagRule
from plugins.tiering.tagrules.permissions import RULES_MENU
from plugins.tiering.tagrules.rules import delete_rule, preview_count, save_rule, tagged_counts

PAGE_SIZE = 50


def visible_rule(pk: int) -> TagRule | None:
    """A rule the viewer may see (HQ's rows included), else None: out of scope rows are absent."""
    query = select(TagRule).where(TagRule.id == pk)
    condition = scope_criterion(TagRule)
    return db.session.scalar(query if condition is None else query.where(condition))


def _user_id():
    return getattr(current_user_obj(), "id", None)


def _form_values(form) -> dict:
    return {"tag": form.get("tag", ""), "description": form.get("description", ""),
            "active": form.get("active") in ("y", "on", "true", "1")}


class TagRuleView(BaseView):
    plugin = "tiering"
    route_base = "/tiering/tag-rules"
    default_view = "list"
    template_folder = TEMPLATE_FOLDER
    base_permissions = ["can_list", "can_add", "can_edit", "can_delete"]

    def _may(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(f"can_{permission}", self.class_permission_name))

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self):
        page = max(request.args.get("page", 0, type=int) or 0, 0)
        query = select(TagRule).order_by(TagRule.franchise_id.is_(None).desc(), TagRule.franchise_id, TagRule.tag)
        condition = scope_criterion(TagRule)
        if condition is not None:
            query = query.where(condition)
        rules = db.session.scalars(query.offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        more, rules = len(rules) > PAGE_SIZE, rules[:PAGE_SIZE]
        counts = tagged_counts([rule.id for rule in rules])
        catalogues: dict = {}
        rows = []
        for rule in rules:
            if rule.franchise_id not in catalogues:
                catalogues[rule.franchise_id] = catalogue(rule.franchise_id)
            fields = catalogues[rule.franchise_id]
            rows.append({"rule": rule, "franchise": builder.franchise_label(rule.franchise),
                         "conditions": [describe(c, fields) for c in rule.conditions or []],
                         "tagged": counts.get(rule.id, 0),
                         "writable": may_write(TagRule, rule.franchise_id)})
        return self.render_template("tiering/tagrules_list.html", rows=rows, page=page, more=more,
                                    may_add=self._may("add"), may_edit=self._may("edit"),
                                    may_delete=self._may("delete"), title=_("Tag rules"))

    def _form(self, rule: TagRule | None):
        """Add (rule None) or edit: GET shows the form, POST checks and saves or shows the message."""
        errors, values = {}, {"tag": "", "description": "", "active": True}
        franchise_id = rule.franchise_id if rule is not None else None
        raw_franchise = "" if rule is None else str(rule.franchise_id or "")
        if rule is not None:
            values = {"tag": rule.tag, "description": rule.description or "", "active": rule.active}
        rows = builder.rows_for_form(rule.conditions if rule is not None else [])
        choices = builder.franchise_choices(TagRule)
        if rule is None and choices:  # a new rule starts in the first place the user may put it
            raw_franchise = choices[0][0]
            franchise_id = int(raw_franchise) if raw_franchise else None
        if request.method == "POST":
            values = _form_values(request.form)
            try:
                if rule is None:
                    raw_franchise = request.form.get("franchise", "")
                    franchise_id = builder.read_franchise(raw_franchise, TagRule)
                fields = catalogue(franchise_id)
                rows = builder.read_rows(request.form, fields)
                rule_saved, errors = save_rule(rule, franchise_id, {**values, "conditions": rows}, _user_id())
            except builder.FranchiseChoiceError as exc:
                errors = {"franchise": str(exc)}
            if not errors:
                db.session.commit()
                flash(_("Tag rule %(tag)s saved: the tags follow after the recompute.", tag=rule_saved.tag),
                      "success")
                return redirect(url_for(".list"))
            db.session.rollback()
            rows = builder.rows_for_form(rows)
        fields = catalogue(franchise_id)
        return self.render_template(
            "tiering/tagrules_form.html", rule=rule, values=values, errors=errors, choices=choices,
            raw_franchise=raw_franchise, franchise_label=builder.franchise_label(rule.franchise) if rule else None,
            b=builder.builder_context(fields, rows), title=_("Edit tag rule") if rule else _("Add tag rule")
        ), (400 if errors else 200)

    @expose("/add", methods=["GET", "POST"])
    @has_access
    @permission_name("add")
    def add(self):
        return self._form(None)

    def _writable(self, pk: int) -> TagRule:
        rule = visible_rule(pk)
        if rule is None:
            abort(404)
        if not may_write(TagRule, rule.franchise_id):
            abort(403)  # HQ's rows are read-only to a franchise: it overrides them with its own rule
        return rule

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("edit")
    def edit(self, pk):
        return self._form(self._writable(pk))

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("delete")
    def delete(self, pk):
        rule = self._writable(pk)
        tag = rule.tag
        delete_rule(rule, _user_id())
        db.session.commit()
        flash(_("Tag rule %(tag)s deleted.", tag=tag), "success")
        return redirect(url_for(".list"))

    @expose("/preview", methods=["POST"])
    @has_access_api
    @permission_name("list")
    def preview(self):
        """POST the form -> {"count": n} customers matching now, or 400 {"message", "errors"}."""
        rule = visible_rule(request.form.get("rule_id", type=int) or 0) if request.form.get("rule_id") else None
        try:
            franchise_id = (rule.franchise_id if rule is not None
                            else builder.read_franchise(request.form.get("franchise", ""), TagRule))
        except builder.FranchiseChoiceError as exc:
            return jsonify(message=str(exc), errors={"franchise": str(exc)}), 400
        conditions, message, _rows = builder.read_conditions(request.form, franchise_id, required=True)
        if message:
            return jsonify(message=message, errors={"conditions": message}), 400
        tag = (request.form.get("tag") or "").strip()
        return jsonify(count=preview_count(franchise_id, tag, conditions))

    @expose("/fields")
    @has_access_api
    @permission_name("list")
    def fields(self):
        """GET ?franchise=<id or empty for HQ> -> the builder's grouped fields for that franchise."""
        try:
            franchise_id = builder.read_franchise(request.args.get("franchise", ""), TagRule)
        except builder.FranchiseChoiceError as exc:
            return jsonify(message=str(exc), errors={"franchise": str(exc)}), 400
        return jsonify(builder.fields_for(franchise_id))


def add_views(appbuilder) -> None:
    add_view(appbuilder, TagRuleView, RULES_MENU, _l("Tag rules"), "fa-tags")
