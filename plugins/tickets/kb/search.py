"""Finding knowledge articles for an agent: every term of the query must occur in the title, the keywords or
the body; title hits rank above keyword hits, keyword hits above body hits.

Chinese has no spaces between words, so a query is split on whitespace and punctuation only and each piece is
matched as a substring (LIKE): "丢件 理赔" finds articles containing both, on PostgreSQL and SQLite alike. The
knowledge base is small (hundreds of articles per franchise), which a LIKE scan serves well.
"""

from __future__ import annotations

import re

from sqlalchemy import case, literal, or_, select

from core.extensions import db
from core.tenancy import scope_criterion
from plugins.tickets.kb.models import KbArticle

MAX_TERMS = 8
EXCERPT_CHARS = 120
# whitespace and ASCII / full-width punctuation separate terms
_SEPARATORS = re.compile(r"[\s,.;:!?'\"()\[\]{}<>/\\|+\-_=*&^%$#@~`，。、；：！？（）【】《》〈〉「」『』“”‘’…—·]+")
TITLE_WEIGHT, KEYWORD_WEIGHT, BODY_WEIGHT = 100, 10, 1


def query_terms(query: str | None) -> list[str]:
    """The distinct terms of a query, in order, at most MAX_TERMS."""
    terms = []
    for term in _SEPARATORS.split(query or ""):
        term = term.strip().lower()
        if term and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_articles(query: str | None, language: str | None = None, limit: int = 10) -> list[KbArticle]:
    """Published articles the current user may see (the franchise's and HQ's) matching every term, best first."""
    terms = query_terms(query)
    if not terms:
        return []
    score = literal(0)
    statement = select(KbArticle).where(KbArticle.published.is_(True))
    condition = scope_criterion(KbArticle)
    if condition is not None:
        statement = statement.where(condition)
    if language:
        statement = statement.where(KbArticle.language == language)
    for term in terms:
        pattern = _like(term)
        in_title = KbArticle.title.ilike(pattern, escape="\\")
        in_keywords = KbArticle.keywords.ilike(pattern, escape="\\")
        in_body = KbArticle.body.ilike(pattern, escape="\\")
        statement = statement.where(or_(in_title, in_keywords, in_body))
        score = score + case((in_title, TITLE_WEIGHT), (in_keywords, KEYWORD_WEIGHT), else_=BODY_WEIGHT)
    statement = statement.order_by(score.desc(), KbArticle.helpful.desc(), KbArticle.updated_at.desc(),
                                   KbArticle.id.desc()).limit(max(1, min(int(limit), 50)))
    return list(db.session.scalars(statement))


def excerpt(article: KbArticle, query: str | None, width: int = EXCERPT_CHARS) -> str:
    """A piece of the body around the first term found in it (the start of the body if none is)."""
    body = " ".join((article.body or "").split())
    lowered = body.lower()
    positions = [lowered.find(term) for term in query_terms(query)]
    positions = [p for p in positions if p >= 0]
    start = max(0, min(positions) - width // 4) if positions else 0
    piece = body[start:start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(body) else "")
