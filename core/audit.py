"""Append-only audit log: who changed what, when, in which franchise, field by field.

Models opt in with `__audited__ = True`; configuration models (plugin activation, custom fields, layouts,
roles) also set `__audit_kind__ = "config"`. Changes are captured in `before_flush`, so every path that
writes through the ORM (screens, APIs, jobs, the CLI) is audited the same way.
"""

from __future__ import annotations

import datetime as dt
import decimal

from flask import has_request_context
from flask_babel import lazy_gettext as _l
from flask_appbuilder import Model
from sqlalchemy import JSON, Column, DateTime, Integer, String, Text, event, inspect
from sqlalchemy.orm import RelationshipProperty, Session, foreign, relationship
from sqlalchemy.orm.base import NO_VALUE

from core.clock import utcnow
from core.tenancy import Franchise, current_user_obj, franchise_column

SECRET_FIELDS = {"password", "secret", "token"}
REDACTED = "[personal data]"
# session.info key: while set, rows written by a bulk operation (an import, an erase) get no entry each;
# the operation writes one summary entry instead (an erase must not copy what it erases into the log)
AUDIT_SUMMARY = "crm_audit_summary"


class AuditLog(Model):
    __tablename__ = "crm_audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    user_id = Column(Integer, nullable=True)
    username = Column(String(128))
    franchise_id = Column(Integer, nullable=True, index=True)
    action = Column(String(24), nullable=False)  # create, update, delete, bulk_update, config.create, ...
    model = Column(String(64), nullable=False, index=True)
    record_id = Column(String(64))
    changes = Column(JSON)
    reason = Column(Text)  # why, where the actor must say (e.g. unmasking personal data)
    # no foreign key: entries outlive the franchise they mention
    franchise = relationship(Franchise, primaryjoin=lambda: foreign(AuditLog.franchise_id) == Franchise.id,
                             viewonly=True)

    def __repr__(self):
        return f"{self.action} {self.model}#{self.record_id}"


ACTIONS = {
    "create": _l("Record created"), "update": _l("Record changed"), "delete": _l("Record deleted"),
    "config.create": _l("Configuration created"), "config.update": _l("Configuration changed"),
    "config.delete": _l("Configuration deleted"),
    "unmask": _l("Personal data shown"), "export": _l("Personal data exported"),
    "erase": _l("Personal data erased"), "import": _l("Records imported"),
    "merge": _l("Customers merged"), "merge_undo": _l("Merge undone"),
}


def describe_action(action: str) -> str:
    return str(ACTIONS.get(action, action))


def describe_changes(changes) -> str:
    """`field: before → after` per changed field, for people rather than machines."""
    def show(value):
        if value in (None, "", [], {}):
            return "∅"
        if isinstance(value, bool):
            return str(_l("Yes") if value else _l("No"))
        if isinstance(value, dict):
            return ", ".join(f"{k}={show(v)}" for k, v in value.items())
        return ", ".join(map(show, value)) if isinstance(value, list) else str(value)

    return "; ".join(f"{field}: {show(before)} → {show(after)}" for field, (before, after) in (changes or {}).items())


class AuditLogIsAppendOnly(Exception):
    pass


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime, decimal.Decimal)):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_FIELDS)


def _changes(obj, action: str) -> dict:
    state = inspect(obj)
    changes = {}
    ignored = getattr(type(obj), "__audit_ignore__", ())
    redacted = getattr(type(obj), "__audit_redact__", ())
    for attr in state.mapper.attrs:
        key = attr.key
        is_collection = isinstance(attr, RelationshipProperty)
        if key in ignored or (is_collection and action != "update"):
            continue  # relationships of new or deleted rows show up as their foreign keys
        hist = state.attrs[key].history
        if action == "update" and not hist.has_changes():
            continue
        if action == "create":
            before, after = None, getattr(obj, key, None)
        elif action == "delete":
            before, after = state.attrs[key].loaded_value, None
            if before is NO_VALUE:  # never loaded: nothing to report
                continue
        else:
            before = hist.deleted[0] if hist.deleted and len(hist.deleted) == 1 else list(hist.deleted or [])
            after = hist.added[0] if hist.added and len(hist.added) == 1 else list(hist.added or [])
            if is_collection:  # record what was unchanged plus what changed
                before = [str(v) for v in (hist.unchanged or [])] + [str(v) for v in (hist.deleted or [])]
                after = [str(v) for v in (hist.unchanged or [])] + [str(v) for v in (hist.added or [])]
        if _is_secret(key):
            before, after = ("***" if before else before), ("***" if after else after)
        elif key in redacted:  # personal data: the log says it changed, never what it was
            before, after = (REDACTED if before else before), (REDACTED if after else after)
        if before in ([], None, "", {}) and after in ([], None, "", {}):
            continue
        changes[key] = [_plain(before), _plain(after)]
    return changes


def audit_entry(action: str, model: str, record_id=None, franchise_id=None, changes=None, reason=None) -> AuditLog:
    user = current_user_obj() if has_request_context() else None
    return AuditLog(
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", None) or "system",
        franchise_id=franchise_id,
        action=action,
        model=model,
        record_id=None if record_id is None else str(record_id),
        changes=changes,
        reason=reason,
    )


def _franchise_of(obj):
    column = franchise_column(type(obj))
    return getattr(obj, column.key, None) if column is not None else None


@event.listens_for(Session, "before_flush")
def _record_changes(session, flush_context, instances):
    # Attribute history is only readable before the flush: take the diff now, write the entry after it.
    pending = session.info.setdefault("crm_audit_pending", [])
    for action, objs in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            if isinstance(obj, AuditLog) and action != "create":
                raise AuditLogIsAppendOnly("the audit log cannot be changed or deleted")
            if not getattr(type(obj), "__audited__", False):
                continue
            if action == "update" and not session.is_modified(obj, include_collections=True):
                continue
            if session.info.get(AUDIT_SUMMARY):
                continue
            changes = _changes(obj, action)
            if action == "update" and not changes:
                continue  # only bookkeeping fields changed (e.g. a user's last login)
            pending.append((action, obj, changes))


@event.listens_for(Session, "after_flush_postexec")
def _write_entries(session, flush_context):
    # New rows have their ids now; commit flushes again, so the entries join the same transaction.
    pending = session.info.pop("crm_audit_pending", None)
    for action, obj, changes in pending or ():
        kind = getattr(type(obj), "__audit_kind__", None)
        identity = inspect(obj).identity
        session.add(audit_entry(
            action=f"config.{action}" if kind == "config" else action,
            model=type(obj).__name__,
            record_id=identity[0] if identity else getattr(obj, "id", None),
            franchise_id=_franchise_of(obj),
            changes=changes,
        ))


@event.listens_for(Session, "do_orm_execute")
def _guard_bulk_statements(state):
    """Bulk UPDATE/DELETE skip the flush events: refuse them on the log, record them on audited models."""
    if not (state.is_update or state.is_delete) or state.execution_options.get("crm_audit") is False:
        return
    for mapper in state.all_mappers:
        model = mapper.class_
        if model is AuditLog:
            raise AuditLogIsAppendOnly("the audit log cannot be changed or deleted")
        if getattr(model, "__audited__", False):
            kind = "config." if getattr(model, "__audit_kind__", None) == "config" else ""
            state.session.add(audit_entry(
                action=f"{kind}bulk_{'update' if state.is_update else 'delete'}",
                model=model.__name__,
                changes={"statement": [None, str(state.statement)]},
            ))


@event.listens_for(Session, "after_rollback")
def _forget_entries(session):
    session.info.pop("crm_audit_pending", None)
