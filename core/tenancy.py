"""Regions, franchises, who may see which franchise, and the one scoped data interface.

Deny by default: a user sees the franchises that `current_scope()` gives and nothing else. HQ roles see all,
a region manager the franchises of the managed regions, everyone else the franchises assigned to them.
Every list, count, show, edit, delete, action, export and dropdown goes through `ScopedInterface`.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, g, has_app_context, has_request_context
from flask_appbuilder import Model
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from flask_appbuilder.exceptions import DatabaseException
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, false, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import declared_attr, relationship, selectinload

from core.errors import UserInputError, database_error_message
from core.extensions import db
from core.lowcode.models import CustomFieldsMixin

user_franchise = Table(
    "crm_user_franchise",
    Model.metadata,
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
    Column("franchise_id", Integer, ForeignKey("crm_franchise.id", ondelete="CASCADE"), primary_key=True),
)

region_manager = Table(
    "crm_region_manager",
    Model.metadata,
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
    Column("region_id", Integer, ForeignKey("crm_region.id", ondelete="CASCADE"), primary_key=True),
)


class Region(Model):
    __tablename__ = "crm_region"
    __audited__ = True
    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)
    name = Column(String(128), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    managers = relationship(User, secondary=region_manager, backref="managed_regions")

    def __repr__(self):
        return f"{self.name} ({self.code})"


class Franchise(CustomFieldsMixin, Model):
    __tablename__ = "crm_franchise"
    __crm_label__ = _l("Franchise")
    __audited__ = True
    id = Column(Integer, primary_key=True)
    code = Column(String(32), unique=True, nullable=False)
    name = Column(String(128), nullable=False)
    region_id = Column(Integer, ForeignKey("crm_region.id"), nullable=False, index=True)
    region = relationship(Region, backref="franchises")
    active = Column(Boolean, nullable=False, default=True)
    users = relationship(User, secondary=user_franchise, backref="franchises")

    def __repr__(self):
        return f"{self.name} ({self.code})"


class InFranchise:
    """A business row: it belongs to exactly one franchise, which is what the scope filters on."""

    @declared_attr
    def franchise_id(cls):
        return Column(Integer, ForeignKey("crm_franchise.id"), nullable=False)

    @declared_attr
    def franchise(cls):
        return relationship(Franchise, foreign_keys=lambda: [cls.franchise_id])


class ScopeError(UserInputError):
    """A write would put a row into a franchise outside the writer's scope (or point at such a row)."""

    def __init__(self, message, field: str = "franchise"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Scope:
    """The franchises a user may see: every one (HQ) or an explicit set (maybe empty)."""

    all: bool
    franchise_ids: frozenset[int] = frozenset()

    def allows(self, franchise_id: int | None) -> bool:
        return self.all or franchise_id in self.franchise_ids

    def intersect(self, franchise_ids) -> "Scope":
        ids = frozenset(franchise_ids)
        return Scope(False, ids if self.all else self.franchise_ids & ids)

    def restrict(self, query, column):
        """`query` limited to this scope on `column` (a franchise id column)."""
        condition = self.criterion(column)
        return query if condition is None else query.where(condition)

    def criterion(self, column):
        """A SQL condition restricting `column` (a franchise id column) to this scope."""
        if self.all:
            return None
        if not self.franchise_ids:
            return false()
        return column.in_(sorted(self.franchise_ids))


EVERYTHING = Scope(True)
NOTHING = Scope(False)

# Jobs, the CLI and event handlers run outside a request: they set their scope explicitly.
_scope_override: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("crm_scope", default=None)


@contextmanager
def scope_as(scope: Scope):
    token = _scope_override.set(scope)
    try:
        yield scope
    finally:
        _scope_override.reset(token)


def hq_role_names() -> set[str]:
    return set(current_app.config.get("CRM_HQ_ROLES", ["Admin"]))


def is_hq(user) -> bool:
    hq_roles = hq_role_names()
    return any(role.name in hq_roles for role in getattr(user, "roles", []) or [])


def eq_or_null(column, value):
    """`column = value`, or `column IS NULL` for None (SQL's `= NULL` matches nothing)."""
    return column.is_(None) if value is None else column == value


def scope_for_user(user) -> Scope:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "id", None):
        return NOTHING
    if is_hq(user):
        return EVERYTHING
    session = db.session
    ids = set(session.scalars(select(user_franchise.c.franchise_id).where(user_franchise.c.user_id == user.id)))
    ids.update(
        session.scalars(
            select(Franchise.id)
            .join(region_manager, region_manager.c.region_id == Franchise.region_id)
            .where(region_manager.c.user_id == user.id)
        )
    )
    return Scope(False, frozenset(ids))


def current_user_obj():
    if has_request_context():
        user = getattr(g, "user", None)
        if user is not None:
            return user
        from flask_login import current_user

        return current_user._get_current_object() if current_user else None
    return None


def current_scope() -> Scope:
    """The franchise scope of whoever is acting now: an explicit override, else the request's user."""
    override = _scope_override.get()
    if override is not None:
        return override
    if not has_request_context():
        return NOTHING
    user = current_user_obj()
    cache_key = getattr(user, "id", None)
    cached = getattr(g, "_crm_scope", None)
    if cached is not None and cached[0] == cache_key:
        return cached[1]
    scope = scope_for_user(user)
    g._crm_scope = (cache_key, scope)
    return scope


def franchise_column(model):
    """The column that places a row of `model` in a franchise, or None for unscoped models."""
    if model is Franchise:
        return Franchise.id
    return getattr(model, "franchise_id", None)


def model_scope(model) -> Scope:
    """The user's scope narrowed to the franchises where the plugin owning `model` is active."""
    scope = current_scope()
    if has_app_context():
        plugins = current_app.extensions.get("crm_plugins")
        if plugins is not None:
            owner = plugins.owner_of_model(model)
            # HQ with the plugin on everywhere needs no franchise list in the query
            if owner is not None and not (scope.all and plugins.active_everywhere(owner)):
                scope = plugins.scope_where_active(owner, scope)
    return scope


def scope_criterion(model):
    """The WHERE condition (or None) that keeps `model`'s rows inside the current scope."""
    column = franchise_column(model)
    if model is Region:
        scope = current_scope()
        if scope.all:
            return None
        return Region.id.in_(select(Franchise.region_id).where(scope.criterion(Franchise.id)))
    if column is None:
        return None
    scope = model_scope(model)
    condition = scope.criterion(column)
    if condition is not None and getattr(model, "__shared_rows__", False):
        # configuration rows with no franchise apply to everyone and are visible to everyone
        return or_(column.is_(None), condition)
    return condition


def may_write(model, franchise_id) -> bool:
    """Whether the current user may write a row of `model` placed in `franchise_id` (None = every franchise)."""
    if franchise_id is None:
        # only configuration rows may apply to every franchise, and only HQ writes those
        return bool(getattr(model, "__shared_rows__", False)) and current_scope().all
    return model_scope(model).allows(franchise_id)


def check_write_scope(item) -> None:
    """Set or verify the franchise of an item about to be written; raise ScopeError if outside scope.

    An update is checked twice: the new franchise and the stored one must both be writable, so a row can
    neither be moved into another franchise nor taken out of one.
    """
    model = type(item)
    column = franchise_column(model)
    if column is None:
        return
    if model is Franchise:
        if item.id is None and not current_scope().all:
            raise ScopeError(_l("Only HQ can create franchises."))
        if item.id is not None and not current_scope().allows(item.id):
            raise ScopeError(_l("Franchise: you cannot change rows of this franchise."))
        return
    attr = column.key
    state = db.inspect(item)
    value = assigned_franchise(item, column)
    scope = model_scope(model)
    shared = getattr(model, "__shared_rows__", False)
    if value is None and not shared and not scope.all and len(scope.franchise_ids) == 1:
        value = next(iter(scope.franchise_ids))
    if value is None and not shared:
        raise ScopeError(_l("Franchise: a franchise is required."))
    if not may_write(model, value):
        raise ScopeError(_l("Franchise: you cannot write rows of this franchise."))
    if state.persistent:
        history = state.attrs[attr].history
        stored = (history.deleted or history.unchanged or [None])[0]
        if not may_write(model, stored):
            raise ScopeError(_l("Franchise: you cannot change rows of this franchise."))
    setattr(item, attr, value)
    _check_references(item, column)


def _check_references(item, own_column) -> None:
    """A row may point only at rows its writer can see: an API body can name any id, a form cannot."""
    open_references = getattr(type(item), "__open_references__", ())
    for rel in db.inspect(type(item)).relationships:
        if rel.direction.name != "MANYTOONE" or any(c.key == own_column.key for c in rel.local_columns):
            continue
        if rel.key in open_references:
            continue
        target = getattr(item, rel.key, None)
        column = franchise_column(type(target)) if target is not None else None
        if column is None:
            continue
        if not model_scope(type(target)).allows(getattr(target, column.key)):
            raise ScopeError(_l("%(field)s: no such record.", field=rel.key), field=rel.key)


def assigned_franchise(item, column=None):
    """The franchise an item is being put in: a set relationship (forms and APIs set those) or the column."""
    column = column if column is not None else franchise_column(type(item))
    for rel in db.inspect(type(item)).relationships:
        if rel.direction.name == "MANYTOONE" and any(c.key == column.key for c in rel.local_columns):
            related = getattr(item, rel.key, None)
            if related is not None:
                identity = db.inspect(related).identity
                return identity[0] if identity else None
    return getattr(item, column.key, None)


@contextmanager
def _readable_database_errors():
    # FAB re-raises driver errors whose text carries the SQL; users get the constraint that refused the write
    try:
        yield
    except (SQLAlchemyError, DatabaseException) as exc:
        raise UserInputError(database_error_message(exc)) from exc


class ScopedInterface(SQLAInterface):
    """FAB's SQLAlchemy interface with the franchise scope added to every query and write.

    The scope goes into `apply_filters`, which FAB uses for list, count and get (so show, edit, delete and
    every action that fetches by primary key), and related interfaces are built from the same class, so
    dropdowns and related lists are scoped too. Counts are capped (see `query_count`).
    """

    def criterion(self):
        """The WHERE condition (or None) this interface adds to every query of its model."""
        return scope_criterion(self.obj)

    def _scoped(self, query):
        condition = self.criterion()
        return query if condition is None else query.filter(condition)

    def apply_filters(self, query, filters):
        return self._scoped(super().apply_filters(query, filters))

    def _get_base_query(self, query, filters=None, order_column="", order_direction=""):
        return super()._get_base_query(self._scoped(query), filters, order_column, order_direction)

    def query_count(self, query, filters=None, select_columns=None) -> int:
        # Count at most CAP+1 rows: the pager shows "CAP+" instead of counting millions of rows per page.
        cap = current_app.config.get("CRM_LIST_COUNT_CAP", 10000) if has_app_context() else 10000
        inner = self._apply_inner_all(query, filters, select_columns=None, aliases_mapping={})
        limited = inner.with_entities(self.obj.__mapper__.primary_key[0]).order_by(None).limit(cap + 1).subquery()
        return self.session.execute(select(func.count()).select_from(limited)).scalar_one()

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False):
        """FAB's list query, with each page's parent rows (franchise, customer ...) loaded in one query per
        relation instead of one per row, and no COUNT when the first page is not full (a search by phone or
        waybill): its length is the count."""
        query = self.session.query(self.obj)
        if not select_columns:  # REST lists select their columns through joins already
            query = query.options(*self._parents_in_bulk())
        rows = self.apply_all(query, filters, order_column, order_direction, page, page_size, select_columns,
                              outer_default_load).all()
        name = self.obj.__name__
        result = [getattr(row, name) for row in rows] if rows and hasattr(rows[0], name) else rows
        if page_size is None or (not page and len(result) < page_size):
            return len(result), result
        return self.query_count(self.session.query(self.obj), filters, select_columns), result

    def _parents_in_bulk(self):
        return [selectinload(rel.class_attribute) for rel in db.inspect(self.obj).relationships
                if rel.direction.name == "MANYTOONE"]

    def get_related_obj(self, col_name, value):
        related = self.get_related_interface(col_name)
        if col_name in getattr(self.obj, "__open_references__", ()):
            return SQLAInterface(related.obj, self.session).get(value)
        return related.get(value)

    def add(self, item, commit=True):
        check_write_scope(item)
        with _readable_database_errors():
            return super().add(item, commit)

    def edit(self, item, commit=True):
        check_write_scope(item)
        with _readable_database_errors():
            return super().edit(item, commit)

    def delete(self, item, commit=True):
        column = franchise_column(type(item))
        if column is not None and not may_write(type(item), getattr(item, column.key)):
            raise ScopeError(_l("Franchise: you cannot delete rows of this franchise."))
        with _readable_database_errors():
            return super().delete(item, commit)

    def delete_all(self, items):
        for item in items:
            self.delete(item, commit=False)
        self.session.commit()
