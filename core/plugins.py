"""Plugin discovery, the plugin manager, and where each plugin is active.

Discovery: built-in plugins are the packages under `plugins/`, third-party ones come from the entry-point
group `crm.plugins`, and `CRM_EXTRA_PLUGINS` names more modules (tests, local development). A plugin whose
`DEPENDS` are not all installed is refused at start-up, and a misspelled hook fails `check_pending()`.

Activation lives in `crm_plugin_activation`: rows per plugin at three levels (global, region, franchise),
the narrowest row that says something wins. `enabled` is what franchise IT switches; `available` is HQ's
say on whether a region or franchise may use the plugin at all. A plugin is active in a franchise when it
is available there, enabled there, and every plugin it depends on is active there too.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from dataclasses import dataclass

import pluggy
from flask import current_app, has_app_context
from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, UniqueConstraint, event, select
from sqlalchemy.orm import Session

from core import hookspecs
from core.clock import utcnow
from core.extensions import db
from core.tenancy import Franchise, Scope, eq_or_null

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crm.plugins"


class PluginError(Exception):
    pass


class PluginActivation(Model):
    __tablename__ = "crm_plugin_activation"
    __audited__ = True
    __audit_kind__ = "config"
    __table_args__ = (UniqueConstraint("plugin", "region_id", "franchise_id", name="uq_plugin_activation_scope"),)
    id = Column(Integer, primary_key=True)
    plugin = Column(String(64), nullable=False, index=True)
    region_id = Column(Integer, ForeignKey("crm_region.id", ondelete="CASCADE"), nullable=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), nullable=True)
    enabled = Column(Boolean, nullable=True)
    available = Column(Boolean, nullable=True)
    updated_at = Column(DateTime, default=utcnow)
    updated_by = Column(String(64))


@dataclass
class PluginInfo:
    name: str
    version: str
    module: object
    depends: tuple[str, ...] = ()
    source: str = "built-in"
    label: str = ""


def _plugin_name(module) -> str:
    name = getattr(module, "NAME", None)
    if not name:
        raise PluginError(f"plugin module {module.__name__} has no NAME")
    return name


class PluginRegistry:
    """The pluggy manager plus what the app knows about each plugin."""

    def __init__(self, config):
        self.activation_ttl = float(config.get("CRM_PLUGIN_ACTIVATION_TTL", 5))
        self._active_cache: dict[str, tuple[float, frozenset[int], bool]] = {}
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._model_owner: dict[type, str] = {}
        self._discover(config)

    # --- discovery ---------------------------------------------------------------------------------

    def _discover(self, config):
        disabled = set(config.get("CRM_DISABLED_PLUGINS", []))
        try:
            import plugins as builtin
        except ImportError:  # pragma: no cover - the package ships with core
            builtin = None
        if builtin is not None:
            for mod in sorted(pkgutil.iter_modules(builtin.__path__), key=lambda m: m.name):
                if mod.ispkg and mod.name not in disabled:
                    self.register(importlib.import_module(f"plugins.{mod.name}"), source="built-in")
        for dotted in config.get("CRM_EXTRA_PLUGINS", []):
            self.register(importlib.import_module(dotted), source="extra")
        if config.get("CRM_LOAD_ENTRYPOINTS", True):
            before = set(self.pm.get_plugins())
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            dists = {id(p): d for p, d in self.pm.list_plugin_distinfo()}
            for plugin in set(self.pm.get_plugins()) - before:
                name = _plugin_name(plugin)
                dist = dists.get(id(plugin))
                version = getattr(plugin, "VERSION", None) or (dist.version if dist else "0")
                self._record(plugin, name, version, source="entry point")
        self.pm.check_pending()
        missing = {
            name: [d for d in info.depends if d not in self.plugins]
            for name, info in self.plugins.items()
        }
        missing = {k: v for k, v in missing.items() if v}
        if missing:
            detail = "; ".join(f"{k} needs {', '.join(v)}" for k, v in missing.items())
            raise PluginError(f"plugins with missing dependencies: {detail}")
        for name in self.plugins:
            for models in self.pm.subset_hook_caller("crm_models", self._others(name))():
                for model in models or []:
                    self._model_owner[model] = name

    def _others(self, name):
        return [p for n, p in ((n, self.pm.get_plugin(n)) for n in self.plugins) if n != name and p]

    def _record(self, module, name, version, source):
        self.plugins[name] = PluginInfo(
            name=name,
            version=str(version),
            module=module,
            depends=tuple(getattr(module, "DEPENDS", ())),
            source=source,
            label=str(getattr(module, "LABEL", name)),
        )

    def register(self, module, source="extra"):
        name = _plugin_name(module)
        if name in self.plugins:
            return
        self.pm.register(module, name=name)
        self._record(module, name, getattr(module, "VERSION", "0"), source)

    @property
    def hook(self):
        return self.pm.hook

    def call_for(self, hook_name: str, plugin: str, **kwargs):
        """Call one hook of one plugin only."""
        return self.pm.subset_hook_caller(hook_name, self._others(plugin))(**kwargs)

    def owner_of_model(self, model) -> str | None:
        return self._model_owner.get(model)

    def settings_schema(self, plugin: str):
        results = self.call_for("crm_settings_schema", plugin)
        return results[0] if results else None

    # --- activation --------------------------------------------------------------------------------

    def active_franchises(self, plugin: str) -> frozenset[int]:
        """Ids of the franchises where `plugin` is active now."""
        return self._activation(plugin)[0]

    def active_everywhere(self, plugin: str) -> bool:
        """Whether `plugin` is active in every franchise (HQ queries then need no franchise condition)."""
        return self._activation(plugin)[1]

    def _activation(self, plugin: str) -> tuple[frozenset[int], bool]:
        # Kept for a few seconds per process (CRM_PLUGIN_ACTIVATION_TTL): read on every request otherwise.
        # Changes made in this process clear it at once; other processes see them within the TTL.
        now = time.monotonic()
        cached = self._active_cache.get(plugin)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        franchises = db.session.execute(select(Franchise.id, Franchise.region_id)).all()
        active = self._compute_active(plugin, franchises, set())
        everywhere = len(active) == len(franchises)
        self._active_cache[plugin] = (now + self.activation_ttl, active, everywhere)
        return active, everywhere

    def forget_activation(self) -> None:
        self._active_cache.clear()

    def _compute_active(self, plugin: str, franchises, seen: set) -> frozenset[int]:
        if plugin not in self.plugins or plugin in seen:
            return frozenset()
        seen = seen | {plugin}
        rows = db.session.scalars(select(PluginActivation).where(PluginActivation.plugin == plugin)).all()
        active = {franchise_id for franchise_id, region_id in franchises
                  if resolve_activation(rows, franchise_id, region_id)}
        for dep in self.plugins[plugin].depends:
            active &= self._compute_active(dep, franchises, seen)
        return frozenset(active)

    def is_active(self, plugin: str, franchise_id: int) -> bool:
        return franchise_id in self.active_franchises(plugin)

    def scope_where_active(self, plugin: str, scope: Scope) -> Scope:
        return scope.intersect(self.active_franchises(plugin))

    def hook_for_franchise(self, hook_name: str, franchise_id: int):
        """A caller of `hook_name` that reaches only plugins active in `franchise_id`."""
        inactive = [self.pm.get_plugin(n) for n in self.plugins if not self.is_active(n, franchise_id)]
        return self.pm.subset_hook_caller(hook_name, [p for p in inactive if p is not None])


def resolve_activation(rows, franchise_id: int, region_id: int) -> bool:
    """Narrowest setting wins, separately for `available` (HQ) and `enabled` (franchise IT)."""
    by_level = {"franchise": None, "region": None, "global": None}
    for row in rows:
        if row.franchise_id == franchise_id:
            by_level["franchise"] = row
        elif row.franchise_id is None and row.region_id == region_id:
            by_level["region"] = row
        elif row.franchise_id is None and row.region_id is None:
            by_level["global"] = row

    def narrowest(attr, default):
        for level in ("franchise", "region", "global"):
            row = by_level[level]
            if row is not None and getattr(row, attr) is not None:
                return getattr(row, attr)
        return default

    return narrowest("available", True) and narrowest("enabled", False)


def registry() -> PluginRegistry:
    return current_app.extensions["crm_plugins"]


UNCHANGED = object()


def set_activation(plugin: str, *, enabled=UNCHANGED, available=UNCHANGED, franchise_id: int | None = None,
                   region_id: int | None = None, user: str | None = None):
    """Upsert the activation row of one scope (in the caller's transaction).

    `enabled` and `available` take True, False, or None (inherit from the wider scope); left out = unchanged.
    """
    reg = registry()
    if plugin not in reg.plugins:
        raise PluginError(f"unknown plugin: {plugin}")
    row = db.session.scalars(
        select(PluginActivation).where(
            PluginActivation.plugin == plugin,
            eq_or_null(PluginActivation.franchise_id, franchise_id),
            eq_or_null(PluginActivation.region_id, region_id),
        )
    ).first()
    if row is None:
        row = PluginActivation(plugin=plugin, franchise_id=franchise_id, region_id=region_id)
        db.session.add(row)
    if enabled is not UNCHANGED:
        row.enabled = enabled
    if available is not UNCHANGED:
        row.available = available
    row.updated_by = user
    row.updated_at = utcnow()
    return row


@event.listens_for(Session, "before_flush")
def _note_activation_changes(session, flush_context, instances):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (PluginActivation, Franchise)):
            session.info["crm_activation_changed"] = True
            return


@event.listens_for(Session, "after_commit")
def _forget_activation_after_commit(session):
    if session.info.pop("crm_activation_changed", False) and has_app_context():
        current_app.extensions["crm_plugins"].forget_activation()


@event.listens_for(Session, "after_rollback")
def _keep_activation_after_rollback(session):
    session.info.pop("crm_activation_changed", None)
