"""Franchise IT manages the users of its franchises: create, assign, change roles, deactivate.

HQ keeps FAB's own user screens (Security menu) for everything else. Here a franchise admin sees only users
assigned to at least one of its franchises, can assign only its franchises and only non-HQ roles, and an
edit keeps the user's assignments to franchises it cannot see.
"""

from flask import current_app
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.security import generate_password_hash
from wtforms import PasswordField
from wtforms import validators as wtv

from core.extensions import db
from core.errors import UserInputError
from core.tenancy import Franchise, ScopedInterface, current_scope, hq_role_names, is_hq
from core.views.base import ScopedModelView


class FranchiseUserInterface(ScopedInterface):
    def criterion(self):
        if self.obj is not User:
            return super().criterion()
        scope = current_scope()
        if scope.all:
            return None
        return User.franchises.any(scope.criterion(Franchise.id))


def assignable_role_names():
    """Roles a franchise admin may give: none of the HQ roles."""
    hq_roles = hq_role_names()
    public = current_app.config.get("AUTH_ROLE_PUBLIC")
    names = [n for n in db.session.scalars(select(Role.name)) if n != public]
    if current_scope().all:
        return names
    return [n for n in names if n not in hq_roles]


def franchises_in_scope(franchises) -> str:
    """A user's franchises as the viewer may see them: their own by name, the others counted."""
    scope = current_scope()
    visible = [str(f) for f in franchises or [] if scope.allows(f.id)]
    hidden = len(franchises or []) - len(visible)
    if hidden:
        visible.append(str(_l("+%(n)s other", n=hidden)))
    return ", ".join(visible)


class FranchiseUserView(ScopedModelView):
    datamodel = FranchiseUserInterface(User)
    entity_label, entity_label_plural = _l("User"), _l("Franchise users")
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_columns = ["username", "first_name", "last_name", "email", "active", "roles", "franchises"]
    show_columns = list_columns + ["last_login", "login_count"]
    add_columns = ["username", "first_name", "last_name", "email", "active", "roles", "franchises", "password",
                   "conf_password"]
    edit_columns = ["first_name", "last_name", "email", "active", "roles", "franchises"]
    search_columns = ["username", "first_name", "last_name", "email", "active"]
    label_columns = {"username": _l("User name"), "first_name": _l("First name"), "last_name": _l("Last name"),
                     "email": _l("Email"), "active": _l("Active"), "roles": _l("Roles"),
                     "franchises": _l("Franchises"), "password": _l("Password"),
                     "conf_password": _l("Confirm password"), "last_login": _l("Last login"),
                     "login_count": _l("Logins")}
    add_form_extra_fields = {
        "password": PasswordField(_l("Password"), validators=[wtv.DataRequired(), wtv.Length(min=8)],
                                  widget=BS3PasswordFieldWidget()),
        "conf_password": PasswordField(_l("Confirm password"), widget=BS3PasswordFieldWidget(),
                                       validators=[wtv.EqualTo("password", message=_l("Passwords must match"))]),
    }
    formatters_columns = {"franchises": franchises_in_scope}
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "roles": [["name", FilterInFunction, assignable_role_names]],
    }

    def _check(self, user):
        if not user.roles:
            raise UserInputError(_l("Roles: choose at least one role."))
        scope = current_scope()
        if scope.all:
            return
        if is_hq(user):
            raise UserInputError(_l("Roles: only HQ can manage HQ users or give HQ roles."))
        if not any(scope.allows(f.id) for f in user.franchises):
            raise UserInputError(_l("Franchises: assign at least one of your franchises."))
        if any(not scope.allows(f.id) for f in user.franchises if f not in self._kept(user)):
            raise UserInputError(_l("Franchises: you can only assign your own franchises."))

    @staticmethod
    def _kept(user):
        return getattr(user, "_kept_franchises", [])

    def pre_add(self, user):
        self._check(user)
        user.password = generate_password_hash(user.password)

    def pre_update(self, user):
        scope = current_scope()
        if not scope.all:
            state = db.inspect(user)
            # the form offers only the admin's franchises: keep the user's other assignments
            kept = [f for f in (state.attrs.franchises.history.deleted or []) if not scope.allows(f.id)]
            kept += [f for f in (state.attrs.franchises.history.unchanged or []) if not scope.allows(f.id)]
            user._kept_franchises = kept
            for franchise in kept:
                if franchise not in user.franchises:
                    user.franchises.append(franchise)
            # someone who also works elsewhere keeps the powers other franchises gave them
            if kept and (state.attrs.roles.history.has_changes() or state.attrs.active.history.has_changes()):
                raise UserInputError(_l("Roles: this user also works in other franchises; only HQ can change "
                                        "their roles or switch them off."))
            hq_roles = hq_role_names()
            if any(r.name in hq_roles for r in (state.attrs.roles.history.deleted or [])):
                raise UserInputError(_l("Roles: only HQ can manage HQ users or give HQ roles."))
        self._check(user)

