"""The app factory: Flask + Flask-AppBuilder + database + plugins + views, in one function."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, request
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import verify_jwt_in_request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError

from core import fab_speedups
from core.extensions import db, migrate
from core.jobs import collect_periodic_jobs
from core.plugins import PluginRegistry
from core.tenancy import Franchise, current_scope, current_user_obj

log = logging.getLogger(__name__)
CORE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = CORE_DIR / "migrations"


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app. `overrides` (a dict of settings) wins over config.py and the environment."""
    import config as defaults

    overrides = dict(overrides or {})
    instance_path = overrides.get("INSTANCE_PATH", defaults.INSTANCE_PATH)
    app = Flask("core", instance_path=instance_path, template_folder=str(CORE_DIR / "templates"),
                static_folder=None)
    app.config.from_object(defaults)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    _ensure_keys(app)

    fab_speedups.install()
    if app.config.get("CRM_PROXY_COUNT"):
        # behind a load balancer: the client address (login rate limit, logs) comes from X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = int(app.config["CRM_PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    CSRFProtect(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))

    registry = PluginRegistry(app.config)
    app.extensions["crm_plugins"] = registry
    app.extensions["crm_migration_dirs"] = _migration_dirs(registry)
    app.extensions["crm_custom_field_targets"] = _custom_field_targets(registry)
    app.extensions["crm_periodic_jobs"] = collect_periodic_jobs(registry)

    app.register_blueprint(Blueprint("crm_static", __name__, static_folder=str(CORE_DIR / "static"),
                                     static_url_path="/crm-static"))
    with app.app_context():
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        _audit_security_models(appbuilder)
        _add_core_views(appbuilder)
        _add_plugin_views(app, appbuilder, registry)
    app.before_request(_plugin_gate)
    _register_error_pages(app)
    return app


def _register_error_pages(app: Flask) -> None:
    """Errors as a page in the admin shell (or JSON under /api/), never a bare server page or a trace."""

    def handle(error):
        original = getattr(error, "original_exception", None) or (
            None if isinstance(error, HTTPException) else error)
        if original is not None:
            log.error("unhandled error on %s", request.path, exc_info=original)
            error = InternalServerError()
        if request.path.startswith("/api/"):
            return jsonify(message=error.description or error.name), error.code
        try:
            page = render_template("crm/error.html", appbuilder=app.appbuilder, code=error.code, name=error.name,
                                   base_template=app.appbuilder.base_template)
        except Exception:  # the error page itself must not fail
            return f"{error.code} {error.name}", error.code
        return page, error.code

    app.register_error_handler(Exception, handle)  # HTTP errors included
    # browsers ask for it on every first visit; the shell has no icon
    app.add_url_rule("/favicon.ico", "favicon", lambda: ("", 204))


def _migration_dirs(registry) -> list[str]:
    """Each plugin owns its migrations: its version directories join core's (one Alembic branch each)."""
    plugin_dirs = [str(d) for dirs in registry.hook.crm_migration_dirs() for d in (dirs or [])]
    return [str(MIGRATIONS_DIR / "versions"), *plugin_dirs]


def _ensure_keys(app: Flask) -> None:
    """The embedded default keeps generated keys in the instance folder; production sets them in the env."""
    for setting, make in (("SECRET_KEY", lambda: secrets.token_urlsafe(48)),
                          ("CRM_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode())):
        if app.config.get(setting):
            continue
        path = Path(app.instance_path) / setting.lower()
        if not path.exists():
            # written aside, then linked into place: processes starting together all read the first key
            draft = path.with_name(f".{path.name}.{os.getpid()}")
            draft.write_text(make())
            draft.chmod(0o600)
            try:
                os.link(draft, path)
                log.warning("%s is not set: generated one in %s (set it in the environment in production)",
                            setting, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        app.config[setting] = path.read_text().strip()


def _audit_security_models(appbuilder) -> None:
    """Role, permission and user changes made in FAB's own screens go to the audit log as configuration."""
    for model in (appbuilder.sm.role_model, appbuilder.sm.user_model):
        model.__audited__ = True
        model.__audit_kind__ = "config"
    # bookkeeping FAB writes at every login is not a change anybody made
    appbuilder.sm.user_model.__audit_ignore__ = {"last_login", "login_count", "fail_login_count", "changed_on",
                                                 "changed_by_fk", "changed_by", "password"}


def _custom_field_targets(registry) -> dict:
    from core.models import DOMAIN_MODELS

    targets = {model.__tablename__: model for model in (Franchise, *DOMAIN_MODELS)}
    for models in registry.hook.crm_custom_field_targets():
        for model in models or []:
            targets[model.__tablename__] = model
    return targets


def _add_core_views(appbuilder) -> None:
    from core.views.platform import (AuditLogView, CustomFieldApi, CustomFieldView, FormLayoutView, JobRunView,
                                     JobScheduleView)
    from core.views.plugins import PluginActivationView
    from core.views.tenancy import FranchiseApi, FranchiseView, RegionApi, RegionView
    from core.views import customers, dedupe, imports, shipments
    from core.views.users import FranchiseUserView

    tenancy = _l("Tenancy")
    platform = _l("Platform")
    appbuilder.add_view(RegionView, "Regions", label=_l("Regions"), icon="fa-globe", category="Tenancy",
                        category_label=tenancy, category_icon="fa-sitemap")
    appbuilder.add_view(FranchiseView, "Franchises", label=_l("Franchises"), icon="fa-building",
                        category="Tenancy")
    appbuilder.add_view(FranchiseUserView, "Franchise users", label=_l("Users"), icon="fa-users",
                        category="Tenancy")
    appbuilder.add_view(PluginActivationView, "Plugins", label=_l("Plugins"), icon="fa-plug", category="Platform",
                        category_label=platform, category_icon="fa-cogs")
    appbuilder.add_view(CustomFieldView, "Custom fields", label=_l("Custom fields"), icon="fa-list-alt",
                        category="Platform")
    appbuilder.add_view(FormLayoutView, "Form layouts", label=_l("Form layouts"), icon="fa-columns",
                        category="Platform")
    appbuilder.add_view(JobScheduleView, "Schedules", label=_l("Schedules"), icon="fa-clock-o", category="Platform")
    appbuilder.add_view(JobRunView, "Job runs", label=_l("Job runs"), icon="fa-tasks", category="Platform")
    appbuilder.add_view(AuditLogView, "Audit log", label=_l("Audit log"), icon="fa-history", category="Platform")
    for api in (RegionApi, FranchiseApi, CustomFieldApi):
        appbuilder.add_api(api)
    customers.register(appbuilder)
    imports.register(appbuilder)
    shipments.register(appbuilder)
    dedupe.register(appbuilder)


def _add_plugin_views(app: Flask, appbuilder, registry) -> None:
    """Let each plugin register its views; remember which blueprints and menu items belong to which plugin."""
    gated = {}
    for name, info in registry.plugins.items():
        before = set(map(id, appbuilder.baseviews))
        registry.call_for("crm_views", name, appbuilder=appbuilder, category=info.label)
        added = [v for v in appbuilder.baseviews if id(v) not in before]
        for view in added:
            view.plugin = getattr(view, "plugin", None) or name
            gated[view.blueprint.name] = view.plugin
        _gate_menu(appbuilder.menu.get_list(), {id(v) for v in added}, name, registry)
    app.extensions["crm_plugin_blueprints"] = gated


def _gate_menu(items, view_ids, plugin, registry) -> None:
    for item in items:
        if item.childs:
            _gate_menu(item.childs, view_ids, plugin, registry)
        elif item.baseview is not None and id(item.baseview) in view_ids:
            item.cond = _visible_for(plugin, registry)


def _visible_for(plugin, registry):
    def visible():
        scope = registry.scope_where_active(plugin, current_scope())
        return bool(scope.franchise_ids)

    return visible


def _plugin_gate():
    """Pages and APIs of a plugin answer 404 to users in whose franchises it is not active."""
    plugin = current_app.extensions.get("crm_plugin_blueprints", {}).get(request.blueprint)
    if plugin is None:
        return None
    if request.path.startswith("/api/"):
        try:
            verify_jwt_in_request(optional=True)
        except Exception:
            return None  # the API's own @protect answers 401
    user = current_user_obj()
    if user is None or not getattr(user, "is_authenticated", False):
        return None  # FAB sends anonymous users to the login page (or 401)
    registry = current_app.extensions["crm_plugins"]
    if registry.scope_where_active(plugin, current_scope()).franchise_ids:
        return None
    if request.path.startswith("/api/"):
        return jsonify(message="Not found"), 404
    abort(404)
