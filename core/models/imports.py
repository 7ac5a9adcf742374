"""Excel imports: one `ImportRun` per uploaded file, its dry run and its write, and the files it keeps.

The uploaded workbook and the problem report live in the database (`ImportFile`, in chunks of at most
`CHUNK_BYTES`), not on a web host's disk: the job may run on any worker host, and neither the upload nor the
download ever holds a whole file in memory.
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import relationship

from core.clock import utcnow
from core.tenancy import InFranchise

CHUNK_BYTES = 1024 * 1024

# queued -> checking -> checked | failed;  checked -> importing -> done | failed
IMPORT_STATUSES = {
    "queued": _l("Waiting for the dry run"), "checking": _l("Dry run in progress"),
    "checked": _l("Dry run finished"), "importing": _l("Importing"), "done": _l("Imported"),
    "failed": _l("Failed"),
}
# "check" until someone starts the write
IMPORT_MODES = {"check": _l("Dry run only"), "all": _l("All rows"), "valid_only": _l("Valid rows only")}


class ImportRun(InFranchise, Model):
    __tablename__ = "crm_import_run"
    __crm_label__ = _l("Import")
    __table_args__ = (Index("ix_crm_import_run_franchise_created", "franchise_id", "created_at"),)

    id = Column(Integer, primary_key=True)
    entity = Column(String(32), nullable=False)  # a key of core.importing.templates.ENTITIES
    filename = Column(String(255), nullable=False)
    size_bytes = Column(Integer, nullable=False, default=0)
    status = Column(String(16), nullable=False, default="queued")
    mode = Column(String(16), nullable=False, default="check")
    locale = Column(String(8), nullable=False, default="zh")  # the uploader's language: report and messages
    rows_total = Column(Integer, nullable=False, default=0)
    rows_valid = Column(Integer, nullable=False, default=0)
    rows_invalid = Column(Integer, nullable=False, default=0)
    rows_new = Column(Integer, nullable=False, default=0)  # dry run: valid rows that would create a record
    rows_matched = Column(Integer, nullable=False, default=0)  # dry run: valid rows that would update one
    rows_created = Column(Integer, nullable=False, default=0)
    rows_updated = Column(Integer, nullable=False, default=0)
    error = Column(Text)  # what is wrong with the file as a whole, or why the write stopped
    notes = Column(Text)  # columns that were not recognised and were ignored
    preview = Column(JSON)  # the first problems, [[row, column, value, problem], ...], for the status page
    created_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    created_by = relationship(User, foreign_keys=[created_by_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)
    started_at = Column(DateTime)  # the current phase's job claimed the run
    checked_at = Column(DateTime)
    finished_at = Column(DateTime)

    def __repr__(self):
        return f"{self.entity} {self.filename}"

    @property
    def status_label(self) -> str:
        return str(IMPORT_STATUSES.get(self.status, self.status))

    @property
    def mode_label(self) -> str:
        return str(IMPORT_MODES.get(self.mode, self.mode))

    @property
    def entity_label(self) -> str:
        from core.importing.templates import ENTITIES

        spec = ENTITIES.get(self.entity)
        return str(spec.label_plural) if spec is not None else self.entity

    @property
    def may_import_all(self) -> bool:
        return self.status == "checked" and self.rows_invalid == 0 and self.rows_valid > 0

    @property
    def may_import_valid(self) -> bool:
        return self.status == "checked" and self.rows_invalid > 0 and self.rows_valid > 0


class ImportFile(Model):
    """One chunk of an import's upload ("upload") or problem report ("report"), in order of `seq`."""

    __tablename__ = "crm_import_file"
    __table_args__ = (Index("ix_crm_import_file_run", "franchise_id", "run_id", "kind", "seq"),)

    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=False)
    run_id = Column(Integer, ForeignKey("crm_import_run.id", ondelete="CASCADE"), nullable=False)
    kind = Column(String(8), nullable=False)
    seq = Column(Integer, nullable=False)
    data = Column(LargeBinary, nullable=False)
