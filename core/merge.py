"""Merging two customers of a franchise into one, and undoing it.

Every row that points at the merged customer moves to the survivor: contacts, addresses, shipments,
contracts, communication records, and the rows of any plugin table with a foreign key to crm_customer (found
in the metadata, so a new plugin needs nothing here). A plugin whose table cannot be moved that way (one row
per customer, a composite key) sets `__merge_skip__ = True` on its model and handles "customers.merged".
The ids of what moved are kept on the `CustomerMerge`, so an undo moves back exactly those rows and leaves
whatever was added to the survivor since.

Both functions run in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Table, UniqueConstraint, func, inspect, select, update

from core.audit import AUDIT_SUMMARY, audit_entry
from core.clock import utcnow
from core.errors import UserInputError
from core.events import emit
from core.extensions import db
from core.models.customer import Customer
from core.models.dedupe import CustomerMerge, DuplicateCandidate
from core.tenancy import ScopeError, current_scope, may_write, scope_as, scope_for_user

log = logging.getLogger(__name__)

MERGED = "merged"
MERGE_ACTION, UNDO_ACTION = "merge", "merge_undo"  # the audit log's names (core.audit.ACTIONS)
# tables that point at customers to describe merges, not to belong to a customer
OWN_TABLES = {DuplicateCandidate.__tablename__, CustomerMerge.__tablename__}
# what a merge never copies onto the survivor: identity, lifecycle, and what the merge itself sets
NOT_FILLED = {"id", "franchise_id", "kind", "name", "status", "source", "created_at", "updated_at",
              "merged_into_id", "erased_at", "custom", "marketing_opt_out"}
CHUNK = 500


class MergeError(UserInputError):
    pass


@dataclass(frozen=True)
class CustomerLink:
    """A column that points at crm_customer, in a table whose rows a merge moves."""

    table: Table
    column: Column
    key: Column
    label: str

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


# --- which rows belong to a customer -------------------------------------------------------------------


def _models_by_table() -> dict[str, type]:
    return {mapper.local_table.name: mapper.class_ for mapper in db.Model.registry.mappers
            if isinstance(mapper.local_table, Table)}


def _unique_with(table: Table, column: Column) -> bool:
    """Whether `column` is part of a key that allows one row per customer: moving could then collide."""
    keys = [set(table.primary_key.columns)]
    keys += [set(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    keys += [set(i.columns) for i in table.indexes if i.unique]
    return any(column in key for key in keys)


def customer_links() -> list[CustomerLink]:
    """Every column of every table that points at a customer and can be moved to another one."""
    customer_table = Customer.__table__
    models = _models_by_table()
    links = []
    for table in db.metadata.sorted_tables:
        model = models.get(table.name)
        if table.name in OWN_TABLES or getattr(model, "__merge_skip__", False):
            continue
        for fk in table.foreign_keys:
            if fk.column.table is not customer_table or fk.parent is customer_table.c.merged_into_id:
                continue
            primary = list(table.primary_key.columns)
            if len(primary) != 1 or _unique_with(table, fk.parent):
                log.debug("merge leaves %s.%s to its plugin: not movable row by row", table.name, fk.parent.name)
                continue
            label = str(getattr(model, "__crm_label__", None) or table.name)
            links.append(CustomerLink(table, fk.parent, primary[0], label))
    return links


def link_labels() -> dict[str, str]:
    return {link.name: link.label for link in customer_links()}


def rows_pointing_at(customer_id: int) -> list[tuple[CustomerLink, int]]:
    """How many rows of each linked table point at the customer (for the confirm page)."""
    counts = []
    for link in customer_links():
        count = db.session.scalar(select(func.count()).select_from(link.table).where(link.column == customer_id))
        if count:
            counts.append((link, count))
    return counts


def _move(link: CustomerLink, from_id: int, to_id: int, keys=None) -> list:
    """Point the rows at `to_id`: all rows of `from_id`, or just `keys` of them (undo). Returns the keys moved."""
    if keys is None:
        keys = list(db.session.scalars(select(link.key).where(link.column == from_id).order_by(link.key)))
    moved = []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        # only rows still pointing where the merge left them: a row moved or deleted since stays as it is
        still_there = list(db.session.scalars(
            select(link.key).where(link.key.in_(chunk), link.column == from_id)))
        if still_there:
            db.session.execute(update(link.table).where(link.key.in_(still_there)).values({link.column.name: to_id}))
            moved.extend(still_there)
    return moved


# --- survivor fields -----------------------------------------------------------------------------------


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fillable_columns() -> list[str]:
    return [attr.key for attr in inspect(Customer).column_attrs if attr.key not in NOT_FILLED]


def fields_to_fill(survivor: Customer, merged: Customer) -> list[str]:
    """Fields empty on the survivor that the merged customer has; custom values as "custom.<key>"."""
    names = [key for key in _fillable_columns()
             if _empty(getattr(survivor, key)) and not _empty(getattr(merged, key))]
    if merged.marketing_opt_out and not survivor.marketing_opt_out:
        names.append("marketing_opt_out")  # an opt-out of either holds for both: consent is not merged away
    mine = survivor.custom or {}
    names += [f"custom.{key}" for key, value in (merged.custom or {}).items()
              if _empty(mine.get(key)) and not _empty(value)]
    return names


def _fill(survivor: Customer, merged: Customer) -> dict:
    """Copy the fields to fill; returns the survivor's values before (all empty, so no personal data)."""
    before, custom_before = {}, {}
    custom = dict(survivor.custom or {})
    for name in fields_to_fill(survivor, merged):
        if name.startswith("custom."):
            key = name[len("custom."):]
            custom_before[key] = custom.get(key)
            custom[key] = merged.custom[key]
        else:
            before[name] = getattr(survivor, name)
            setattr(survivor, name, getattr(merged, name))
    if custom_before:
        before["custom"] = custom_before
        survivor.custom = custom  # a new dict: the JSON column notices assignments, not mutations
    return before


def _restore(survivor: Customer, merged: Customer, before: dict) -> list[str]:
    """Put back the survivor fields the merge filled, unless someone changed them since."""
    restored = []
    for name, value in before.items():
        if name == "custom":
            continue
        if getattr(survivor, name) == getattr(merged, name):
            setattr(survivor, name, value)
            restored.append(name)
    custom = dict(survivor.custom or {})
    for key, value in (before.get("custom") or {}).items():
        if custom.get(key) == (merged.custom or {}).get(key):
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
            restored.append(f"custom.{key}")
    if before.get("custom"):
        survivor.custom = custom
    return restored


# --- checks --------------------------------------------------------------------------------------------


def _scope_of(user):
    return scope_for_user(user) if user is not None else current_scope()


def _check_writer(user, franchise_id: int) -> None:
    with scope_as(_scope_of(user)):
        if not may_write(Customer, franchise_id):
            raise ScopeError(_l("Customer: no such record."), field="customer")


def _lock(*customers: Customer) -> None:
    # two people merging the same customers at once: the second waits, then sees the first one's result
    ids = sorted(c.id for c in customers)
    db.session.execute(select(Customer.id).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update())
    for customer in customers:
        db.session.refresh(customer)


def _check_mergeable(survivor: Customer, merged: Customer) -> None:
    if survivor.id == merged.id:
        raise MergeError(_l("A customer cannot be merged with itself."))
    if survivor.franchise_id != merged.franchise_id:
        raise MergeError(_l("Only customers of the same franchise can be merged."))
    for customer in (survivor, merged):
        if customer.status == MERGED or customer.merged_into_id is not None:
            raise MergeError(_l("%(name)s was already merged into another customer.", name=customer.display_name))
        if customer.erased_at is not None:
            raise MergeError(_l("%(name)s: personal data was erased; it cannot be merged.",
                                name=customer.display_name))


# --- audit ---------------------------------------------------------------------------------------------


def _audit(action: str, customer: Customer, user, changes: dict) -> None:
    entry = audit_entry(action=action, model="Customer", record_id=customer.id, franchise_id=customer.franchise_id,
                        changes=changes)
    if user is not None:
        entry.user_id, entry.username = user.id, user.username
    db.session.add(entry)


class _Summarised:
    """Rows changed inside get no audit entry each: the merge writes its own, without personal values."""

    def __enter__(self):
        db.session.flush()  # what was pending before is somebody else's change, audited as usual
        db.session.info[AUDIT_SUMMARY] = True

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                db.session.flush()
        finally:
            db.session.info.pop(AUDIT_SUMMARY, None)


def _set_pair_status(survivor_id: int, merged_id: int, franchise_id: int, old: str, new: str) -> None:
    a, b = sorted((survivor_id, merged_id))
    db.session.execute(update(DuplicateCandidate).where(
        DuplicateCandidate.franchise_id == franchise_id, DuplicateCandidate.customer_a_id == a,
        DuplicateCandidate.customer_b_id == b, DuplicateCandidate.status == old).values(status=new))


# --- merge and undo ------------------------------------------------------------------------------------


def merge_customers(survivor: Customer, merged: Customer, user) -> CustomerMerge:
    """Merge `merged` into `survivor`; returns the recorded merge. Raises MergeError or ScopeError."""
    for customer in (survivor, merged):
        _check_writer(user, customer.franchise_id)
    _lock(survivor, merged)
    _check_mergeable(survivor, merged)
    with _Summarised():
        moved = {link.name: _move(link, merged.id, survivor.id) for link in customer_links()}
        db.session.expire_all()  # loaded collections (survivor.contacts ...) predate the UPDATEs
        before = _fill(survivor, merged)
        merge = CustomerMerge(franchise_id=survivor.franchise_id, survivor_id=survivor.id, merged_id=merged.id,
                              moved={name: ids for name, ids in moved.items() if ids}, survivor_before=before,
                              merged_status=merged.status, merged_by_id=getattr(user, "id", None),
                              merged_at=utcnow())
        merged.status, merged.merged_into_id = MERGED, survivor.id
        db.session.add(merge)
    _set_pair_status(survivor.id, merged.id, survivor.franchise_id, "open", "merged")
    counts = merge.moved_counts()
    _audit(MERGE_ACTION, survivor, user, {"merge": [None, merge.id], "merged_customer": [None, merged.id],
                                          "moved": [None, counts], "filled": [None, sorted(_names(before))]})
    _audit(MERGE_ACTION, merged, user, {"merge": [None, merge.id], "status": [merge.merged_status, MERGED],
                                        "merged_into_id": [None, survivor.id]})
    emit("customers.merged", survivor.franchise_id,
         {"merge_id": merge.id, "survivor_id": survivor.id, "merged_id": merged.id})
    return merge


def _names(before: dict) -> list[str]:
    return [k for k in before if k != "custom"] + [f"custom.{k}" for k in before.get("custom") or {}]


def undo_merge(merge: CustomerMerge, user) -> dict[str, int]:
    """Move the rows of `merge` back and restore both customers; returns how many rows went back per table."""
    _check_writer(user, merge.franchise_id)
    db.session.execute(select(CustomerMerge.id).where(CustomerMerge.id == merge.id).with_for_update())
    db.session.refresh(merge)
    survivor, merged = merge.survivor, merge.merged
    _lock(survivor, merged)
    _check_undoable(merge, survivor, merged)
    links = {link.name: link for link in customer_links()}
    with _Summarised():
        back = {}
        for name, keys in (merge.moved or {}).items():
            link = links.get(name)
            if link is None:  # the plugin is gone: its rows stay with the survivor
                log.warning("undo of merge %s: %s is no longer installed", merge.id, name)
                continue
            back[name] = len(_move(link, survivor.id, merged.id, keys=list(keys)))
        db.session.expire_all()
        restored = _restore(survivor, merged, merge.survivor_before or {})
        merged.status, merged.merged_into_id = merge.merged_status or "active", None
        merge.undone_at, merge.undone_by_id = utcnow(), getattr(user, "id", None)
    _set_pair_status(survivor.id, merged.id, merge.franchise_id, "merged", "open")
    _audit(UNDO_ACTION, survivor, user, {"merge": [merge.id, None], "moved_back": [None, back],
                                         "restored": [None, sorted(restored)]})
    _audit(UNDO_ACTION, merged, user, {"merge": [merge.id, None], "status": [MERGED, merged.status],
                                       "merged_into_id": [survivor.id, None]})
    emit("customers.merge_undone", merge.franchise_id,
         {"merge_id": merge.id, "survivor_id": survivor.id, "merged_id": merged.id})
    return back


def _check_undoable(merge: CustomerMerge, survivor: Customer, merged: Customer) -> None:
    if merge.undone_at is not None:
        raise MergeError(_l("This merge was already undone."))
    if survivor.status == MERGED or survivor.merged_into_id is not None:
        raise MergeError(_l("%(name)s was merged into another customer since: undo that merge first.",
                            name=survivor.display_name))
    if merged.merged_into_id != survivor.id:
        raise MergeError(_l("The merged customer changed since the merge; it cannot be undone."))
    if merged.erased_at is not None:
        raise MergeError(_l("%(name)s: personal data was erased since; the merge cannot be undone.",
                            name=merged.display_name))
