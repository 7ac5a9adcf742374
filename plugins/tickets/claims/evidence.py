"""Claim evidence: photos and PDF documents, checked by content (not only by the name the browser sends)
and by the franchise's size limit, kept in the database."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.clock import utcnow
from core.extensions import db
from plugins.tickets import settings
from plugins.tickets.claims.models import Claim, ClaimEvidence
from plugins.tickets.workflow import TicketError, record

CONTENT_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "application/pdf": "PDF"}
MB = 1024 * 1024


def sniffed_type(head: bytes) -> str | None:
    """The content type the file's first bytes show, among the accepted ones."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def max_bytes(franchise_id: int) -> int:
    return int(settings.current(franchise_id)["max_evidence_mb"]) * MB


def add_evidence(claim: Claim, filename: str, content_type: str | None, stream, user) -> ClaimEvidence:
    """Store an uploaded file for the claim, or raise TicketError("file", ...) and store nothing."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if not name:
        raise TicketError("file", _l("choose a file"))
    if claim.status == "rejected":
        raise TicketError("status", _l("a rejected claim takes no more evidence"))
    limit = max_bytes(claim.franchise_id)
    content = stream.read(limit + 1)  # one byte more tells a file over the limit without reading it all
    if len(content) > limit:
        raise TicketError("file", _l("larger than %(mb)d MB", mb=limit // MB))
    if not content:
        raise TicketError("file", _l("the file is empty"))
    declared = (content_type or "").split(";")[0].strip().lower()
    actual = sniffed_type(content[:16])
    if actual is None or (declared and declared != "application/octet-stream" and declared != actual):
        raise TicketError("file", _l("only JPEG, PNG or WebP photos and PDF documents are accepted"))
    evidence = ClaimEvidence(claim=claim, franchise_id=claim.franchise_id, filename=name, content_type=actual,
                             size=len(content), content=content, uploaded_by_id=getattr(user, "id", None),
                             uploaded_at=utcnow())
    db.session.add(evidence)
    record(claim.ticket, "claim", user, body=_("Evidence added to claim %(claim)s: %(name)s",
                                               claim=repr(claim), name=name),
           data={"claim_id": claim.id, "action": "evidence", "filename": name, "size": len(content)})
    return evidence
