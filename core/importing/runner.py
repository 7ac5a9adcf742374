"""The import job: a dry run that checks every row, then (when someone starts it) the write.

Both phases stream the file in batches of `BATCH` rows: each batch costs a few lookups (existing customers by
credit code, phone hash or external ID; waybills; account managers), never one query per row. Besides one
batch, a pass keeps only the keys already seen, to find duplicates inside the file (about 300 bytes a row:
some 30 MB for 100,000 rows), and the ids it wrote.

The write is one transaction: either every row goes in (mode "all", refused when any row has a problem) or,
with "valid_only", exactly the rows without problems. The run's status moves in that transaction too, so a
job retried after a crash finds either nothing committed (and does it again) or "done" (and does nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import ARRAY, and_, any_, bindparam, delete, func, or_, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import selectinload

from core.audit import AUDIT_SUMMARY, audit_entry
from core.clock import utcnow
from core.errors import UserInputError
from core.extensions import db
from core.importing.reader import ImportFileError, open_table
from core.importing.templates import ENTITIES, CellError, cell_text, columns_for
from core.jobs import enqueue
from core.lowcode.fields import locale as current_locale
from core.models import Contact, Customer, Shipment
from core.models.imports import CHUNK_BYTES, ImportFile, ImportRun
from core.privacy import MASKS, NORMALISERS, PersonalDataError, normalise_phone, personal_fields, vault
from core.tenancy import Scope, ScopeError, current_scope, may_write, scope_as, scope_for_user
from core.views.labels import LABELS

log = logging.getLogger(__name__)

BATCH = 1000
PREVIEW_LIMIT = 20  # problems kept on the run for the status page (the report has them all)
PROGRESS_EVERY = 10  # batches between two progress commits of the dry run
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # CRM_IMPORT_MAX_BYTES
DEFAULT_KEEP_DAYS = 30  # CRM_IMPORT_KEEP_DAYS: days uploads and reports are kept

# translated only when a duplicate is found
SAME_CREDIT_CODE = _l("the same credit code as row %(row)d")
SAME_PHONE = _l("the same phone as row %(row)d")
SAME_EXTERNAL_ID = _l("the same external ID as row %(row)d")
SAME_CUSTOMER = _l("updates the same customer as row %(row)d")
SAME_CONTACT = _l("the same customer and phone as row %(row)d")
SAME_WAYBILL = _l("the same waybill number as row %(row)d")


def max_bytes() -> int:
    return int(current_app.config.get("CRM_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


# --- web side: upload, start the write -----------------------------------------------------------------


def create_import(entity: str, franchise_id: int | None, filename: str, stream, user,
                  content_length: int | None = None) -> ImportRun:
    """Store an upload and enqueue its dry run (the caller commits). Raises UserInputError (or ScopeError)
    with a message naming the file for what the form can tell at once: unknown entity, franchise out of scope,
    empty or oversize file."""
    if entity not in ENTITIES:
        raise UserInputError(_("Choose what to import."))
    scope = current_scope()
    if franchise_id is None and not scope.all and len(scope.franchise_ids) == 1:
        franchise_id = next(iter(scope.franchise_ids))
    if franchise_id is None:
        raise ScopeError(_("Franchise: choose the franchise to import into."))
    if not scope.allows(franchise_id) or not may_write(ENTITIES[entity].model, franchise_id):
        raise ScopeError(_("Franchise: you cannot import into this franchise."))
    filename = (filename or "upload.xlsx").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload.xlsx"
    limit = max_bytes()
    if content_length is not None and content_length > limit + 64 * 1024:  # the form around the file is small
        raise ImportFileError(_too_big(filename, content_length, limit))
    run = ImportRun(franchise_id=franchise_id, entity=entity, filename=filename, status="queued", mode="check",
                    locale=current_locale()[:8], created_by_id=getattr(user, "id", None), created_at=utcnow())
    db.session.add(run)
    db.session.flush()
    size, seq = 0, 0
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise ImportFileError(_too_big(filename, size, limit, at_least=True))
        _store_chunk(run, "upload", seq, chunk)
        seq += 1
    if size == 0:
        raise ImportFileError(_("%(file)s is empty.", file=filename))
    run.size_bytes = size
    enqueue(run_import, run.id, "check", franchise_id=franchise_id, user_id=getattr(user, "id", None))
    return run


def _too_big(filename, size, limit, at_least=False) -> str:
    if at_least:
        return _("%(file)s is larger than %(limit)s, the limit for imports.", file=filename, limit=size_text(limit))
    return _("%(file)s is %(size)s; the limit for imports is %(limit)s.", file=filename, size=size_text(size),
             limit=size_text(limit))


def request_write(run: ImportRun, mode: str, user) -> None:
    """Start the write of a checked run ("all" or "valid_only"); the caller commits. Raises UserInputError."""
    if mode not in ("all", "valid_only"):
        raise UserInputError(_("Unknown import mode."))
    if not current_scope().allows(run.franchise_id):
        raise ScopeError(_("Franchise: you cannot import into this franchise."))
    if run.status != "checked":
        raise UserInputError(_("This import is not waiting to be started (it is: %(status)s).",
                               status=run.status_label))
    if mode == "all" and run.rows_invalid:
        raise UserInputError(_("The dry run found problems in %(count)d row(s): fix the file, or import only the "
                               "valid rows.", count=run.rows_invalid))
    if not run.rows_valid:
        raise UserInputError(_("No row can be imported."))
    # compare-and-set: a second click, or a second web process, finds the run no longer "checked"
    claimed = db.session.execute(
        update(ImportRun).where(ImportRun.id == run.id, ImportRun.status == "checked")
        .values(status="importing", mode=mode, started_at=None, error=None)
    ).rowcount
    if not claimed:
        raise UserInputError(_("This import has already been started."))
    enqueue(run_import, run.id, "write", franchise_id=run.franchise_id, user_id=getattr(user, "id", None))


def _store_chunk(run: ImportRun, kind: str, seq: int, data: bytes) -> None:
    chunk = ImportFile(franchise_id=run.franchise_id, run_id=run.id, kind=kind, seq=seq, data=data)
    db.session.add(chunk)
    db.session.flush()
    db.session.expunge(chunk)  # one chunk in memory at a time


def store_file(run: ImportRun, kind: str, handle) -> None:
    db.session.execute(delete(ImportFile).where(ImportFile.run_id == run.id, ImportFile.kind == kind))
    seq = 0
    while True:
        data = handle.read(CHUNK_BYTES)
        if not data:
            return
        _store_chunk(run, kind, seq, data)
        seq += 1


def has_file(run_id: int, kind: str) -> bool:
    return db.session.scalar(select(func.count(ImportFile.id)).where(
        ImportFile.run_id == run_id, ImportFile.kind == kind)) > 0


def file_chunks(run_id: int, kind: str):
    """The stored file, chunk by chunk (one chunk in memory at a time)."""
    ids = db.session.scalars(select(ImportFile.id).where(ImportFile.run_id == run_id, ImportFile.kind == kind)
                             .order_by(ImportFile.seq)).all()
    for chunk_id in ids:
        yield db.session.scalar(select(ImportFile.data).where(ImportFile.id == chunk_id))


def spool_file(run_id: int, kind: str):
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    for data in file_chunks(run_id, kind):
        handle.write(data)
    handle.seek(0)
    return handle


def purge_files(franchise_id: int | None = None, older_than_days: float | None = None) -> int:
    """Delete the uploads and reports of a franchise's runs (every franchise's: None) older than
    CRM_IMPORT_KEEP_DAYS (default 30): they hold personal data. The runs stay listed. Returns chunks removed.

    Fits a periodic job of core: `PeriodicJob("import_files_purge", "core.importing.runner:purge_files", ...)`.
    """
    days = older_than_days if older_than_days is not None else float(
        current_app.config.get("CRM_IMPORT_KEEP_DAYS", DEFAULT_KEEP_DAYS))
    old = select(ImportRun.id).where(ImportRun.created_at < utcnow() - dt.timedelta(days=days))
    if franchise_id is not None:
        old = old.where(ImportRun.franchise_id == franchise_id)
    removed = db.session.execute(delete(ImportFile).where(ImportFile.run_id.in_(old))).rowcount
    db.session.commit()
    return removed


# --- the job -------------------------------------------------------------------------------------------


def run_import(run_id: int, phase: str):
    """The job: "check" (the dry run) or "write". Safe to run twice: each phase claims its run first."""
    if phase == "check":
        return _check(run_id)
    if phase == "write":
        return _write(run_id)
    raise ValueError(f"unknown import phase {phase!r}")


def _stale_before() -> dt.datetime:
    return utcnow() - dt.timedelta(seconds=int(current_app.config.get("CRM_JOB_TIMEOUT", 1800)))


def _authorised_scope(run: ImportRun) -> Scope:
    """The uploader's scope narrowed to the run's franchise; raises ScopeError if it no longer covers it."""
    user = db.session.get(User, run.created_by_id) if run.created_by_id else None
    if user is None or not user.is_active:
        raise ScopeError(_("The user who uploaded this file can no longer import."))
    scope = scope_for_user(user)
    if not scope.allows(run.franchise_id):
        raise ScopeError(_("Franchise: the uploader cannot import into this franchise."))
    narrowed = Scope(False, frozenset({run.franchise_id}))
    with scope_as(narrowed):
        if not may_write(ENTITIES[run.entity].model, run.franchise_id):
            raise ScopeError(_("Franchise: this franchise does not take imports of this kind."))
    return narrowed


def _pass(run, write: bool):
    """One pass over the upload under the importer's scope: (outcome, None), or (None, the failed run's answer)."""
    try:
        with scope_as(_authorised_scope(run)), spool_file(run.id, "upload") as upload:
            return ImportPass(run, upload, write=write).process(), None
    except (UserInputError, ScopeError) as exc:
        db.session.rollback()
        return None, _fail(run.id, str(exc))
    except Exception:
        db.session.rollback()
        log.exception("import %s: %s failed", run.id, "write" if write else "dry run")
        if write:
            message = _("The import stopped on an unexpected error; nothing was stored. Try again, or tell your "
                        "administrator.")
        else:
            message = _("The dry run stopped on an unexpected error; nothing was imported. Try again, or tell your "
                        "administrator.")
        return None, _fail(run.id, message)


def _check(run_id: int):
    claimed = db.session.execute(
        update(ImportRun).where(ImportRun.id == run_id, or_(
            ImportRun.status == "queued",
            and_(ImportRun.status == "checking", ImportRun.started_at < _stale_before())))
        .values(status="checking", started_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:
        log.info("import %s: dry run already done or running", run_id)
        return None
    run = db.session.get(ImportRun, run_id)
    with force_locale(run.locale or "zh"):
        outcome, failure = _pass(run, write=False)
        if outcome is None:
            return failure
        run = db.session.get(ImportRun, run_id)
        outcome.apply_to(run)
        run.status, run.checked_at, run.finished_at = "checked", utcnow(), utcnow()
        outcome.save_report(run)
        db.session.commit()
    return {"status": "checked", "valid": outcome.valid, "invalid": outcome.invalid}


def _write(run_id: int):
    # the run's row is locked for the whole write: a second copy of this job waits, then finds it done
    run = db.session.execute(select(ImportRun).where(ImportRun.id == run_id).with_for_update()).scalar_one_or_none()
    if run is None or run.status != "importing":
        db.session.rollback()
        log.info("import %s: write already done or not requested", run_id)
        return None
    run.started_at = utcnow()
    with force_locale(run.locale or "zh"):
        outcome, failure = _pass(run, write=True)
        if outcome is None:
            return failure

        if run.mode == "all" and outcome.invalid:
            # the data changed since the dry run (a waybill arrived meanwhile...): all or nothing means nothing
            db.session.rollback()
            run = db.session.get(ImportRun, run_id)
            outcome.apply_to(run)
            run.status, run.finished_at = "failed", utcnow()
            run.error = _("%(count)d row(s) no longer pass the checks; nothing was imported. See the report.",
                          count=outcome.invalid)
            outcome.save_report(run)
            db.session.commit()
            return {"status": "failed", "invalid": outcome.invalid}

        outcome.apply_to(run)
        run.rows_created, run.rows_updated = outcome.created, outcome.updated
        run.status, run.finished_at = "done", utcnow()
        entry = audit_entry(action="import", model=ENTITIES[run.entity].model.__name__, record_id=run.id,
                            franchise_id=run.franchise_id,
                            changes={"file": [None, run.filename], "created": [None, outcome.created],
                                     "updated": [None, outcome.updated], "skipped": [None, outcome.invalid],
                                     "mode": [None, run.mode]})
        user = db.session.get(User, run.created_by_id) if run.created_by_id else None
        entry.user_id, entry.username = getattr(user, "id", None), getattr(user, "username", None) or "system"
        db.session.add(entry)
        outcome.save_report(run)
        # the upload holds personal data and is not needed any more
        db.session.execute(delete(ImportFile).where(ImportFile.run_id == run_id, ImportFile.kind == "upload"))
        if run.entity == "customers" and outcome.touched_ids:
            _queue_duplicate_scan(run.franchise_id, outcome.touched_ids)
        created, updated = outcome.created, outcome.updated
        db.session.commit()
    return {"status": "done", "created": created, "updated": updated}


def _fail(run_id: int, message: str):
    db.session.execute(update(ImportRun).where(ImportRun.id == run_id)
                       .values(status="failed", error=str(message)[:2000], finished_at=utcnow()))
    db.session.commit()
    return {"status": "failed", "error": str(message)}


def _queue_duplicate_scan(franchise_id: int, customer_ids: list[int]) -> None:
    """Have the duplicate finder (core.dedupe, when present) look at the imported customers.

    Queued in the import's transaction, so the scan runs once the customers are committed, and only then."""
    try:
        from core import dedupe
    except ImportError:
        return
    if hasattr(dedupe, "scan_later"):
        dedupe.scan_later(franchise_id, customer_ids)
    else:
        enqueue(dedupe.scan_customers, franchise_id, customer_ids=sorted(set(customer_ids)), queue="low",
                franchise_id=franchise_id)


# --- one pass over the file ----------------------------------------------------------------------------


@dataclass
class Row:
    number: int
    raw: dict  # column key -> the cell as read
    values: dict = field(default_factory=dict)  # column key -> parsed value (non-empty cells only)
    problems: list = field(default_factory=list)  # (column key, message)
    item: object = None
    existing: object = None  # the stored record this row updates
    keys: dict = field(default_factory=dict)  # normalised keys: credit_code, phone_hash, external_id, ...

    def problem(self, key: str, message) -> None:
        if not any(k == key for k, _m in self.problems):  # the first problem of a cell is the one to fix
            self.problems.append((key, str(message)))


class ImportPass:
    """Reads the file once; checks (and with `write`, saves) every row; writes the report as it goes."""

    def __init__(self, run: ImportRun, upload, write: bool):
        self.run = run
        self.run_id, self.franchise_id = run.id, run.franchise_id
        self.filename, self.locale = run.filename, run.locale or "zh"
        self.write = write
        self.valid_only = run.mode == "valid_only"
        self.spec = ENTITIES[run.entity]
        self.columns = columns_for(run.entity, run.franchise_id)
        self.by_key = {c.key: c for c in self.columns}
        others = {str(spec.label_plural): columns_for(key, run.franchise_id)
                  for key, spec in ENTITIES.items() if key != run.entity}
        self.table = open_table(upload, self.filename, self.columns, str(self.spec.label_plural), others)
        self.importer = IMPORTERS[run.entity](self)
        self.total = self.valid = self.invalid = 0
        self.new = self.matched = self.created = self.updated = 0
        self.touched_ids: list[int] = []
        self.preview: list = []
        self.stopped_writing = False
        self._report = _Report()

    # --- driving the pass ---

    def process(self) -> "ImportPass":
        if self.write:
            db.session.info[AUDIT_SUMMARY] = True  # one summary entry for the import, not one per row
        try:
            return self._run()
        except BaseException:
            self._report.discard()
            raise
        finally:
            db.session.info.pop(AUDIT_SUMMARY, None)

    def _run(self) -> "ImportPass":
        batch, batches = [], 0
        example_row = self.table.header_row + 1
        for number, raw in self.table.rows():
            if number == example_row and self._is_template_example(raw):
                continue
            batch.append(Row(number, raw))
            if len(batch) >= BATCH:
                self._batch(batch)
                batch, batches = [], batches + 1
                if not self.write and batches % PROGRESS_EVERY == 0:
                    self._progress()
        if batch:
            self._batch(batch)
        if self.total == 0:
            raise ImportFileError(_("Sheet \"%(sheet)s\" of %(file)s has no rows to import below its header row.",
                                    sheet=self.table.sheet.name, file=self.filename))
        return self

    def _is_template_example(self, raw) -> bool:
        for key in self.table.headers:
            column = self.by_key[key]
            if column.definition is not None:
                continue
            expected = "" if column.example is None else cell_text(column.example)
            if cell_text(raw.get(key)) != expected:
                return False
        return True

    def _progress(self):
        db.session.execute(update(ImportRun).where(ImportRun.id == self.run_id)
                           .values(rows_total=self.total, rows_valid=self.valid, rows_invalid=self.invalid))
        db.session.commit()

    def _batch(self, rows: list[Row]) -> None:
        for row in rows:
            self._parse(row)
        with db.session.no_autoflush:
            self.importer.prepare(rows)
            for row in rows:
                self.importer.check(row)
        good = [row for row in rows if not row.problems]
        bad = [row for row in rows if row.problems]
        self.total += len(rows)
        self.valid += len(good)
        self.invalid += len(bad)
        for row in good:
            if row.existing is not None:
                self.matched += 1
            else:
                self.new += 1
        for row in bad:
            self.importer.discard(row)
            for key, message in row.problems:
                self._report_problem(row, key, message)
        if not self.write:
            # checking a row that updates a stored record changed that record in the session: forget it all
            db.session.rollback()
            return
        if bad and not self.valid_only:
            self.stopped_writing = True  # all or nothing: keep checking for the report, write no more
        if self.stopped_writing:
            for row in good:
                self.importer.discard(row)
            return
        if good:
            updated_ids = [row.existing.id for row in good if row.existing is not None]
            self.importer.save(good)
            self.touched_ids.extend(updated_ids)
            self.touched_ids.extend(row.item.id for row in good if row.existing is None)
            self.updated += len(updated_ids)
            self.created += len(good) - len(updated_ids)

    def _parse(self, row: Row) -> None:
        for key, value in row.raw.items():
            try:
                parsed = self.by_key[key].parse(value)
            except CellError as exc:
                row.problem(key, str(exc))
                continue
            if parsed is not None:
                row.values[key] = parsed

    # --- the report ---

    def column_title(self, key: str) -> str:
        if key in self.table.headers:
            return self.table.headers[key]
        column = self.by_key.get(key)
        if column is not None:
            return column.label_in(self.locale)
        if key.startswith("custom:"):
            return key[len("custom:"):]
        return str(LABELS.get(key, key))

    def _report_problem(self, row: Row, key: str, message: str) -> None:
        shown = self.importer.shown_value(row, key)
        entry = [row.number, self.column_title(key), shown, message]
        if len(self.preview) < PREVIEW_LIMIT:
            self.preview.append(entry)
        self._report.add(entry)

    def apply_to(self, run: ImportRun) -> None:
        run.rows_total, run.rows_valid, run.rows_invalid = self.total, self.valid, self.invalid
        run.rows_new, run.rows_matched = self.new, self.matched
        run.preview = self.preview
        run.notes = "; ".join(self.table.ignored)[:2000] or None
        run.error = None

    def save_report(self, run: ImportRun) -> None:
        summary = [
            (_("File"), run.filename), (_("Sheet"), self.table.sheet.name), (_("Rows"), self.total),
            (_("Rows without problems"), self.valid), (_("Rows with problems"), self.invalid),
        ]
        if self.write:
            summary += [(_("Rows created"), self.created), (_("Rows updated"), self.updated)]
        else:
            summary += [(_("Would create"), self.new), (_("Would update"), self.matched)]
        if self.table.ignored:
            summary.append((_("Ignored columns"), "; ".join(self.table.ignored)))
        with self._report.finish(summary) as handle:
            store_file(run, "report", handle)

    def close(self) -> None:
        """Drop the report if it was not saved (its temporary file included)."""
        self._report.discard()


class _Report:
    """The problem report, written row by row into a write-only workbook (a temporary file)."""

    def __init__(self):
        self.saved = False
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(_("Problems")[:31])
        bold = Font(bold=True)
        header = []
        for text in (_("Row"), _("Column"), _("Value"), _("Problem")):
            cell = WriteOnlyCell(self.sheet, value=text)
            cell.font = bold
            header.append(cell)
        for letter, width in zip("ABCD", (8, 28, 28, 70)):
            self.sheet.column_dimensions[letter].width = width
        self.sheet.append(header)

    def add(self, entry) -> None:
        self.sheet.append(entry)

    def discard(self) -> None:
        """Drop the unfinished report and its temporary file (nothing to do once it was saved)."""
        if self.saved:
            return
        self.saved = True
        try:
            self.sheet.close()
            self.sheet._writer.cleanup()
        except Exception:  # nothing was written
            pass

    def finish(self, summary):
        sheet = self.workbook.create_sheet(_("Summary")[:31])
        sheet.column_dimensions["A"].width = 24
        sheet.column_dimensions["B"].width = 60
        for label, value in summary:
            sheet.append([label, value])
        handle = tempfile.TemporaryFile(suffix=".xlsx")
        self.saved = True
        self.workbook.save(handle)
        handle.seek(0)
        return handle


# --- per entity ----------------------------------------------------------------------------------------


def insert_new(model, items: list) -> None:
    """Insert checked, transient `items` of `model` with one executemany; their ids are set on them.

    The items stay outside the session: the unit of work would cost far more per row. On PostgreSQL the ids are
    drawn from the table's sequence first and the rows go in as a plain executemany, which psycopg pipelines
    (an INSERT ... RETURNING of 1,000 rows has 25,000 placeholders that psycopg parses in Python, about 0.3 ms
    per row); elsewhere (SQLite) a multi-row INSERT ... RETURNING gives the ids.
    """
    if not items:
        return
    table = model.__table__
    attributes = [(attr.key, attr.columns[0]) for attr in sa_inspect(model).column_attrs
                  if attr.columns[0].table is table and attr.key != "id"]
    defaults = {key: _python_default(column) for key, column in attributes}
    rows = []
    for item in items:
        values = item.__dict__
        row = {}
        for key, column in attributes:
            if key in values:
                row[column.name] = values[key]
            else:
                default = defaults[key]
                row[column.name] = default() if callable(default) else default
        rows.append(row)
    if db.engine.dialect.name == "postgresql":
        ids = db.session.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                                      "FROM generate_series(1, :n)"), {"table": table.name, "n": len(rows)}).all()
        for row, new_id in zip(rows, ids):
            row["id"] = new_id
        db.session.execute(table.insert(), rows)
    else:
        ids = db.session.scalars(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows).all()
    for item, new_id in zip(items, ids):
        item.id = new_id


def update_existing(model, items: list) -> None:
    """Write the changed columns of stored `items` (changed in the session, not flushed), an executemany per
    set of changed columns, then let the session forget the changes: the unit of work would group only
    neighbouring rows that changed the same columns (about one statement for every two rows here)."""
    if not items:
        return
    table = model.__table__
    attributes = [(attr.key, attr.columns[0]) for attr in sa_inspect(model).column_attrs
                  if attr.columns[0].table is table and attr.key != "id"]
    onupdate = {column.name: _python_default_of(column.onupdate) for _key, column in attributes
                if column.onupdate is not None}
    groups: dict[tuple, list] = defaultdict(list)
    for item in items:
        state = sa_inspect(item)
        row = {column.name: item.__dict__[key] for key, column in attributes
               if key in state.committed_state and state.attrs[key].history.has_changes()}
        if not row:
            continue
        for name, default in onupdate.items():
            if name not in row:
                row[name] = default() if callable(default) else default
        row["_id"] = item.id
        groups[tuple(sorted(row))].append(row)
    with db.session.no_autoflush:  # the session must not write these rows first
        for keys, rows in groups.items():
            statement = (table.update().where(table.c.id == bindparam("_id"))
                         .values({name: bindparam(name) for name in keys if name != "_id"})
                         .execution_options(crm_audit=False))  # the import writes one summary entry itself
            db.session.execute(statement, rows)
    for item in items:
        db.session.expire(item)


def _python_default(column):
    return _python_default_of(column.default)


def _python_default_of(default):
    """What a column default (or onupdate) gives a row: a value, a callable to call per row, or None."""
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return lambda: default.arg(None)
    return None


def one_of(column, values):
    """`column IN (values)` for a batch's keys: on PostgreSQL `= ANY(array)`, one parameter instead of a
    thousand (psycopg parses every placeholder of a statement in Python)."""
    values = sorted(values)
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _phone_hash(value) -> str | None:
    try:
        normalised = normalise_phone(value)
    except PersonalDataError:
        return None
    return vault().blind_index("phone", normalised) if normalised else None


class _Importer:
    """What differs per entity: batch lookups, matching, building the record, saving."""

    model = None

    def __init__(self, import_pass: ImportPass):
        self.p = import_pass
        self.franchise_id = import_pass.franchise_id
        self.write = import_pass.write
        self.definitions = [c.definition for c in import_pass.columns if c.definition is not None]
        self.personal = personal_fields(self.model)
        self.seen: dict[str, dict] = defaultdict(dict)  # key name -> {normalised value: first row number}

    def prepare(self, rows: list[Row]) -> None:
        """Batch lookups for these rows."""

    def check(self, row: Row) -> None:
        raise NotImplementedError

    def save(self, rows: list[Row]) -> None:
        """New records go in with one INSERT per batch, updated ones with an UPDATE per set of changed columns."""
        insert_new(self.model, [row.item for row in rows if row.existing is None])
        update_existing(self.model, [row.existing for row in rows if row.existing is not None])

    def discard(self, row: Row) -> None:
        # a stored record changed for validation must not be flushed when its row has problems
        if self.write and row.existing is not None and row.existing in db.session:
            db.session.expire(row.existing)

    def once(self, row: Row, name: str, value, column: str, message) -> bool:
        """Record `value` of key `name` as seen in `row`; a problem (and False) when an earlier row had it.

        `message` is a lazy string with a %(row)d placeholder, translated only when it is needed."""
        if value in (None, ""):
            return True
        first = self.seen[name].setdefault(value, row.number)
        if first != row.number:
            row.problem(column, str(message) % {"row": first})
            return False
        return True

    def apply_custom(self, row: Row, item) -> None:
        custom = dict(item.custom or {})
        for definition in self.definitions:
            key = f"custom:{definition.key}"
            if key in row.values:
                custom[definition.key] = row.values[key]
            if definition.required and custom.get(definition.key) in (None, "", []) \
                    and not any(k == key for k, _m in row.problems):
                row.problem(key, _("required"))
        item.custom = custom

    def set_personal(self, row: Row, item, key: str) -> None:
        """Give `item` a personal value (the model normalises, encrypts and hashes it); the dry run, which
        stores nothing, only normalises it the same way: encrypting is most of the cost."""
        if key not in row.values:
            return
        try:
            if self.write:
                setattr(item, key, row.values[key])
            else:
                NORMALISERS[self.personal[key].kind](row.values[key], key)
        except PersonalDataError as exc:
            row.problem(key, str(exc.problem))

    def model_errors(self, row: Row, item) -> None:
        for name, message in item.validation_errors().items():
            row.problem(name, message)  # the models name their fields as the columns are keyed

    def shown_value(self, row: Row, key: str) -> str:
        value = row.raw.get(key)
        if value is None:
            return ""
        text = cell_text(value)
        column = self.p.by_key.get(key)
        mask = column.mask if column is not None else None
        if mask == "name" and not self.name_is_personal(row):
            mask = None
        return MASKS[mask](text) if mask else text

    def name_is_personal(self, row: Row) -> bool:
        return True

    # customers are referred to by credit code, phone or external ID, tried in that order
    def customer_index(self, references) -> dict:
        codes = {ref.strip().upper() for ref in references if ref}
        hashes = {h for h in (_phone_hash(ref) for ref in references) if h}
        externals = {ref.strip() for ref in references if ref}
        found = {"credit_code": defaultdict(list), "phone_hash": defaultdict(list), "external_id": defaultdict(list)}
        if not codes:
            return found
        keys = [one_of(Customer.credit_code, codes), one_of(Customer.external_id, externals)]
        if hashes:
            keys.append(one_of(Customer.phone_hash, hashes))
        query = select(Customer.id, Customer.credit_code, Customer.phone_hash, Customer.external_id).where(
            Customer.franchise_id == self.franchise_id, Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None), or_(*keys))
        for customer_id, code, phone_hash, external in db.session.execute(query):
            if code in codes:
                found["credit_code"][code].append(customer_id)
            if phone_hash in hashes:
                found["phone_hash"][phone_hash].append(customer_id)
            if external in externals:
                found["external_id"][external].append(customer_id)
        return found

    def resolve_customer(self, row: Row, index: dict, key: str = "customer") -> int | None:
        reference = row.values.get(key)
        if reference is None:
            return None
        candidates = (("credit_code", reference.strip().upper()), ("phone_hash", _phone_hash(reference)),
                      ("external_id", reference.strip()))
        for name, value in candidates:
            ids = sorted(set(index[name].get(value, []))) if value else []
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                row.problem(key, _("%(count)d customers of the franchise have this %(what)s: merge them first",
                                   count=len(ids), what=_key_label(name)))
                return None
        row.problem(key, _("no customer of this franchise has this credit code, phone or external ID"))
        return None


def _key_label(name: str) -> str:
    return str(LABELS.get({"phone_hash": "phone"}.get(name, name), name))


class CustomerImporter(_Importer):
    model = Customer
    ATTRIBUTES = ("kind", "name", "company_name", "credit_code", "license_no", "industry", "billing_mode",
                  "credit_rating", "preferred_delivery_time", "district_code", "tags", "status", "source",
                  "external_id", "marketing_opt_out")

    def prepare(self, rows):
        codes, hashes, externals, usernames = set(), set(), set(), set()
        for row in rows:
            values = row.values
            if "credit_code" in values:
                row.keys["credit_code"] = values["credit_code"].strip().upper()
                codes.add(row.keys["credit_code"])
            if "phone" in values:
                row.keys["phone_hash"] = _phone_hash(values["phone"])
                if row.keys["phone_hash"]:
                    hashes.add(row.keys["phone_hash"])
            if "external_id" in values:
                row.keys["external_id"] = values["external_id"]
                externals.add(values["external_id"])
            if "account_manager" in values:
                usernames.add(values["account_manager"])
        self.matches = {"credit_code": defaultdict(list), "phone_hash": defaultdict(list),
                        "external_id": defaultdict(list)}
        if codes or hashes or externals:
            conditions = []
            if codes:
                conditions.append(one_of(Customer.credit_code, codes))
            if hashes:
                conditions.append(one_of(Customer.phone_hash, hashes))
            if externals:
                conditions.append(one_of(Customer.external_id, externals))
            # the account manager and their franchises are loaded with them: the model's check reads them
            found = db.session.scalars(select(Customer).where(
                Customer.franchise_id == self.franchise_id, Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None), or_(*conditions)).order_by(Customer.id)
                .options(selectinload(Customer.account_manager).selectinload(User.franchises))).all()
            for customer in found:
                if customer.credit_code in codes:
                    self.matches["credit_code"][customer.credit_code].append(customer)
                if customer.phone_hash in hashes:
                    self.matches["phone_hash"][customer.phone_hash].append(customer)
                if customer.external_id in externals:
                    self.matches["external_id"][customer.external_id].append(customer)
        self.users = self._users(usernames)

    def _users(self, usernames) -> dict:
        if not usernames:
            return {}
        users = db.session.scalars(select(User).where(User.username.in_(usernames), User.active.is_(True))
                                   .options(selectinload(User.franchises))).all()
        return {user.username: user for user in users}

    def check(self, row):
        keys = row.keys
        # in-file duplicates: a key twice would create two customers or update one twice
        self.once(row, "credit_code", keys.get("credit_code"), "credit_code", SAME_CREDIT_CODE)
        self.once(row, "phone_hash", keys.get("phone_hash"), "phone", SAME_PHONE)
        self.once(row, "external_id", keys.get("external_id"), "external_id", SAME_EXTERNAL_ID)
        existing = None
        for name, column in (("credit_code", "credit_code"), ("phone_hash", "phone"), ("external_id", "external_id")):
            found = self.matches[name].get(keys.get(name)) if keys.get(name) else None
            if not found:
                continue
            if len(found) > 1:
                row.problem(column, _("%(count)d customers of the franchise have this %(what)s: merge them first",
                                      count=len(found), what=_key_label(name)))
                return
            existing = found[0]
            break
        if existing is not None and not self.once(row, "customer", existing.id, "name", SAME_CUSTOMER):
            return
        values = row.values
        if existing is None:
            kind = values.get("kind") or ("B" if values.get("credit_code") or values.get("company_name") else "C")
            item = Customer(franchise_id=self.franchise_id, kind=kind, status="active", source="import",
                            marketing_opt_out=False, custom={})
        else:
            item = existing
        for attribute in self.ATTRIBUTES:
            if attribute in values and not (existing is None and attribute == "kind"):
                setattr(item, attribute, values[attribute])
        self.set_personal(row, item, "phone")
        self.set_personal(row, item, "id_number")
        if "account_manager" in values:
            user = self.users.get(values["account_manager"])
            if user is None:
                row.problem("account_manager", _("no active user named %(name)s", name=values["account_manager"]))
            else:
                # the relation for the model's check (the user works in the franchise), the column for the INSERT
                item.account_manager, item.account_manager_id = user, user.id
        self.apply_custom(row, item)
        self.model_errors(row, item)
        row.item, row.existing = item, existing

    def name_is_personal(self, row):
        kind = row.values.get("kind") or (row.existing.kind if row.existing is not None else None)
        return kind != "B"


class ContactImporter(_Importer):
    model = Contact
    ATTRIBUTES = ("name", "title", "email", "is_primary", "note")

    def prepare(self, rows):
        references = {row.values["customer"] for row in rows if "customer" in row.values}
        self.customers = self.customer_index(references)
        hashes = set()
        for row in rows:
            if "phone" in row.values:
                row.keys["phone_hash"] = _phone_hash(row.values["phone"])
                if row.keys["phone_hash"]:
                    hashes.add(row.keys["phone_hash"])
        self.contacts = {}
        if hashes:
            found = db.session.scalars(select(Contact).where(
                Contact.franchise_id == self.franchise_id, one_of(Contact.phone_hash, hashes))
                .order_by(Contact.id)).all()
            for contact in found:
                self.contacts.setdefault((contact.customer_id, contact.phone_hash), contact)

    def check(self, row):
        customer_id = self.resolve_customer(row, self.customers)
        if customer_id is None:
            if "customer" not in row.values:
                row.problem("customer", _("required"))
            return
        phone_hash = row.keys.get("phone_hash")
        if phone_hash and not self.once(row, "contact", (customer_id, phone_hash), "phone", SAME_CONTACT):
            return
        existing = self.contacts.get((customer_id, phone_hash)) if phone_hash else None
        item = existing or Contact(franchise_id=self.franchise_id, customer_id=customer_id, is_primary=False,
                                   custom={})
        for attribute in self.ATTRIBUTES:
            if attribute in row.values:
                setattr(item, attribute, row.values[attribute])
        self.set_personal(row, item, "phone")
        self.apply_custom(row, item)
        self.model_errors(row, item)
        row.item, row.existing = item, existing


class ShipmentImporter(_Importer):
    model = Shipment
    ATTRIBUTES = ("service_product", "weight_kg", "fee", "declared_value", "receiver_name", "receiver_district_code",
                  "external_order_id", "status", "created_at", "promised_at")

    def prepare(self, rows):
        references = {row.values["customer"] for row in rows if "customer" in row.values}
        self.customers = self.customer_index(references)
        numbers = set()
        for row in rows:
            number = str(row.values.get("waybill_no") or "").strip().upper()
            carrier = str(row.values.get("carrier") or "CRM").strip() or "CRM"
            row.keys["waybill"] = (carrier, number) if number else None
            if number:
                numbers.add(number)
        self.stored = set()
        if numbers:
            self.stored = set(db.session.execute(select(Shipment.carrier, Shipment.waybill_no)
                                                 .where(one_of(Shipment.waybill_no, numbers))).all())

    def check(self, row):
        waybill = row.keys.get("waybill")
        if waybill is not None:
            if waybill in self.stored:
                row.problem("waybill_no", _("waybill %(number)s already exists", number=waybill[1]))
            else:
                self.once(row, "waybill", waybill, "waybill_no", SAME_WAYBILL)
        values = row.values
        customer_id = self.resolve_customer(row, self.customers) if "customer" in values else None
        item = Shipment(franchise_id=self.franchise_id, carrier=waybill[0] if waybill else "CRM",
                        waybill_no=values.get("waybill_no"), customer_id=customer_id, service_product="standard",
                        status="CREATED", custom={})
        for attribute in self.ATTRIBUTES:
            if attribute in values:
                setattr(item, attribute, values[attribute])
        if item.created_at is None:
            item.created_at = utcnow()
        self.set_personal(row, item, "receiver_phone")
        self.set_personal(row, item, "receiver_address")
        self.apply_custom(row, item)
        # stored waybills were looked up for the whole batch in prepare()
        errors = item.validation_errors(check_clash=False)
        for name, message in errors.items():
            row.problem(name, message)
        row.item, row.existing = item, None


IMPORTERS = {"customers": CustomerImporter, "contacts": ContactImporter, "shipments": ShipmentImporter}
