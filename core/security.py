"""Security manager: FAB's database login, the rate limit on the REST login FAB leaves out, and permission
checks answered from a short per-process cache.

FAB asks the database once per permission check: a page with a full menu made some 35 queries before
showing a row. Roles change rarely; each process keeps every role's (permission, view) pairs for
`CRM_PERMISSION_CACHE_TTL` seconds (5 by default), and forgets them at once when this process writes a
role, permission or view (other processes follow within the TTL, as with plugin activation).
"""

from __future__ import annotations

import threading
import time

from flask import current_app
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import Permission, PermissionView, Role, ViewMenu, assoc_permissionview_role
from sqlalchemy import event, select
from sqlalchemy.orm import Session

# per security manager (one per app: tests run several apps on different databases in one process)
_caches: dict[int, dict] = {}
_lock = threading.Lock()


def forget_permissions() -> None:
    _caches.clear()


@event.listens_for(Session, "after_flush")
def _forget_on_role_changes(session, flush_context):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (Role, PermissionView, Permission, ViewMenu)):
            forget_permissions()
            return


class CrmSecurityManager(SecurityManager):
    def register_views(self):
        super().register_views()
        # FAB rate-limits the login form only; /api/v1/security/login needs the same limit.
        app = current_app
        if app.config.get("AUTH_RATE_LIMITED") and "SecurityApi" in app.blueprints:
            self.limiter.limit(app.config["AUTH_RATE_LIMIT"], methods=["POST"])(app.blueprints["SecurityApi"])

    def _permissions(self) -> dict:
        """{"pairs": role id -> its (permission, view) pairs, "public": the Public role's id}, read in one
        query and kept for the TTL."""
        ttl = float(current_app.config.get("CRM_PERMISSION_CACHE_TTL", 5))
        cache = _caches.get(id(self))
        if cache is not None and time.monotonic() - cache["at"] < ttl:
            return cache
        with _lock:
            rows = self.session.execute(
                select(assoc_permissionview_role.c.role_id, Permission.name, ViewMenu.name)
                .join(PermissionView, PermissionView.id == assoc_permissionview_role.c.permission_view_id)
                .join(Permission, Permission.id == PermissionView.permission_id)
                .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)).all()
            collected: dict[int, set] = {}
            for role_id, permission, view in rows:
                collected.setdefault(role_id, set()).add((permission, view))
            pairs = {role_id: frozenset(found) for role_id, found in collected.items()}
            public = self.session.scalar(select(Role.id).where(Role.name == self.auth_role_public))
            cache = _caches[id(self)] = {"pairs": pairs, "public": public, "at": time.monotonic()}
        return cache

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        pairs = self._permissions()["pairs"]
        return any((permission_name, view_name) in pairs.get(role_id, ()) for role_id in role_ids)

    def find_roles_permission_view_menus(self, permission_name, role_ids):
        # FAB reads `.view_menu.name` of what this returns (the menu: one call for every item)
        pairs = self._permissions()["pairs"]
        names = {view for role_id in role_ids for permission, view in pairs.get(role_id, ())
                 if permission == permission_name}
        return [_Named(name) for name in sorted(names)]

    def is_item_public(self, permission_name, view_name) -> bool:
        cache = self._permissions()
        return (permission_name, view_name) in cache["pairs"].get(cache["public"], ())


class _Named:
    """Stands in for a PermissionView where FAB only reads `pv.view_menu.name`."""

    def __init__(self, name):
        self.view_menu = self
        self.name = name
