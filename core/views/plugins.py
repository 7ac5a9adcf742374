"""The plugin screen: where each plugin is active, switches per scope, and per-franchise settings."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from marshmallow import fields
from sqlalchemy import select

from core.extensions import db
from core.plugin_settings import save_settings, settings_for
from core.plugins import PluginActivation, registry, set_activation
from core.tenancy import Franchise, Region, current_scope, current_user_obj


def _visible_franchises():
    query = current_scope().restrict(select(Franchise).order_by(Franchise.code), Franchise.id)
    return db.session.scalars(query).all()


class PluginActivationView(BaseView):
    route_base = "/plugins"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        reg = registry()
        scope = current_scope()
        franchises = _visible_franchises()
        regions = db.session.scalars(select(Region).order_by(Region.code)).all() if scope.all else []
        rows = {(r.plugin, r.region_id, r.franchise_id): r for r in db.session.scalars(select(PluginActivation))}
        plugins = []
        for name, info in sorted(reg.plugins.items()):
            active = reg.active_franchises(name)
            plugins.append({
                "info": info,
                "global": rows.get((name, None, None)),
                "regions": [(region, rows.get((name, region.id, None))) for region in regions],
                "franchises": [(f, rows.get((name, None, f.id)), f.id in active) for f in franchises],
                "has_settings": reg.settings_schema(name) is not None,
            })
        return self.render_template("crm/plugins.html", plugins=plugins, is_hq=scope.all)

    @expose("/set", methods=["POST"])
    @has_access
    def set(self):
        name = request.form.get("plugin", "")
        if name not in registry().plugins:
            abort(404)
        level = request.form.get("level")
        target = request.form.get("target", type=int)
        value = {"on": True, "off": False, "inherit": None}.get(request.form.get("value"))
        field = request.form.get("field", "enabled")
        scope = current_scope()
        if field not in ("enabled", "available") or (field == "available" and not scope.all):
            flash(_("Only HQ decides where a plugin is available."), "danger")
            return redirect(url_for(".list"))
        if level == "franchise" and target is not None and scope.allows(target):
            kwargs = {"franchise_id": target}
        elif level in ("region", "global") and scope.all:
            kwargs = {"region_id": target} if level == "region" else {}
        else:
            flash(_("You cannot change this scope."), "danger")
            return redirect(url_for(".list"))
        user = current_user_obj()
        # value None = inherit from the wider scope
        set_activation(name, user=getattr(user, "username", None), **{field: value}, **kwargs)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for(".list"))

    @expose("/<name>/settings/<int:franchise_id>", methods=["GET", "POST"])
    @has_access
    def settings(self, name, franchise_id):
        reg = registry()
        if name not in reg.plugins or not current_scope().allows(franchise_id):
            abort(404)
        schema_class = reg.settings_schema(name)
        if schema_class is None:
            abort(404)
        franchise = db.session.get(Franchise, franchise_id)
        errors = {}
        values = settings_for(reg, name, franchise_id)
        if request.method == "POST":
            raw = {}
            for field_name, field in schema_class().fields.items():
                if isinstance(field, fields.Boolean):
                    raw[field_name] = field_name in request.form
                elif request.form.get(field_name, "") != "":
                    raw[field_name] = request.form[field_name]
            errors = save_settings(reg, name, franchise_id, raw)[1]
            if not errors:
                flash(_("Settings saved."), "success")
                return redirect(url_for(".settings", name=name, franchise_id=franchise_id))
            values = {**values, **raw}
        form_fields = [(n, f, "Boolean" if isinstance(f, fields.Boolean)
                        else "secret" if f.metadata.get("secret") else "text")
                       for n, f in schema_class().fields.items()]
        # a stored secret never goes back to the browser: the form says whether one is set
        secrets_set = {n for n, f, kind in form_fields if kind == "secret" and values.get(n)}
        values = {n: v for n, v in values.items() if n not in secrets_set}
        return self.render_template("crm/plugin_settings.html", plugin=reg.plugins[name], franchise=franchise,
                                    fields=form_fields, values=values, errors=errors,
                                    secrets_set=secrets_set)
