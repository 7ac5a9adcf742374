"""Screens of the knowledge base (categories, articles, canned replies, reply rules) and the JSON endpoints
the ticket page calls: article search, the canned replies of a ticket filled in, suggestions for e-mail text.

HQ writes shared rows (franchise left empty, every franchise sees them); franchise IT writes its own.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access, has_access_api, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import update
from wtforms import ValidationError

from core.extensions import db
from core.tenancy import Franchise, ScopedInterface, current_scope
from core.views.base import ScopedModelView
from plugins.tickets.kb.permissions import ARTICLES_MENU, CATEGORIES_MENU, REPLIES_MENU, RULES_MENU
from plugins.tickets.kb.models import LANGUAGES, CannedReply, KbArticle, KbCategory, ReplyRule
from plugins.tickets.kb.placeholders import PLACEHOLDERS, placeholder_problem
from plugins.tickets.kb.replies import render, replies_for, suggest
from plugins.tickets.kb.search import excerpt, search_articles
from plugins.tickets.menu import add_view
from plugins.tickets.models import Ticket

MAX_SUGGEST_TEXT = 20000


def text_with_breaks(value) -> Markup:
    """Plain text shown as typed: escaped, line breaks kept (an article is never HTML)."""
    return Markup("<br>\n").join(escape(line) for line in (value or "").splitlines())


def _language_label(code):
    return LANGUAGES.get(code, code or "")


def _placeholders_known(form, field):
    problem = placeholder_problem(field.data)
    if problem:
        raise ValidationError(problem)


class SharedRowsView(ScopedModelView):
    """A configuration screen whose rows are a franchise's or, with the franchise left empty, HQ's (shared).

    Staff of one franchise who leave the franchise empty write their own franchise's row: only HQ shares."""

    plugin = "tickets"
    base_order = ("id", "desc")

    def _fill_franchise(self, item):
        scope = current_scope()
        if item.franchise is None and item.franchise_id is None and not scope.all and len(scope.franchise_ids) == 1:
            # the relationship, not the column: a form's empty choice set it to None, which would win at flush
            item.franchise = db.session.get(Franchise, next(iter(scope.franchise_ids)))

    def pre_add(self, item):
        self._fill_franchise(item)
        super().pre_add(item)

    def pre_update(self, item):
        self._fill_franchise(item)
        super().pre_update(item)


class KbCategoryView(SharedRowsView):
    route_base = "/tickets/kb/categories"
    datamodel = ScopedInterface(KbCategory)
    entity_label, entity_label_plural = _l("Knowledge category"), _l("Knowledge categories")
    list_columns = ["name_zh", "name_en", "position", "franchise"]
    add_columns = edit_columns = ["name_zh", "name_en", "position", "franchise"]
    show_columns = list_columns
    search_columns = ["name_zh", "name_en", "franchise"]
    base_order = ("position", "asc")
    label_columns = {"name_zh": _l("Name (Chinese)"), "name_en": _l("Name (English)"), "position": _l("Position"),
                     "franchise": _l("Franchise (empty: shared by HQ)")}


class KbArticleView(SharedRowsView):
    route_base = "/tickets/kb/articles"
    datamodel = ScopedInterface(KbArticle)
    entity_label, entity_label_plural = _l("Knowledge article"), _l("Knowledge articles")
    list_columns = ["title", "category", "language", "published", "views", "helpful", "updated_at", "franchise"]
    add_columns = edit_columns = ["title", "category", "language", "keywords", "body", "published", "franchise"]
    show_columns = ["title", "category", "language", "keywords", "body", "views", "helpful", "published",
                    "updated_at", "franchise"]
    search_columns = ["title", "keywords", "body", "category", "language", "published", "franchise"]
    base_order = ("updated_at", "desc")
    label_columns = {"title": _l("Title"), "category": _l("Category"), "language": _l("Language"),
                     "keywords": _l("Keywords"), "body": _l("Text"), "published": _l("Published"),
                     "views": _l("Views"), "helpful": _l("Helpful"), "updated_at": _l("Updated"),
                     "franchise": _l("Franchise (empty: shared by HQ)")}
    description_columns = {"keywords": _l("Extra search words and synonyms, comma separated")}
    formatters_columns = {"body": text_with_breaks, "language": _language_label}

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        article = self.datamodel.get(pk, self._base_filters)
        if article is None:
            abort(404)
        # a counter, not an edit: no audit line, no new "updated" time
        db.session.execute(update(KbArticle).where(KbArticle.id == article.id)
                           .values(views=KbArticle.views + 1, updated_at=KbArticle.updated_at))
        db.session.commit()
        return super().show(pk)


class CannedReplyView(SharedRowsView):
    route_base = "/tickets/kb/canned-replies"
    datamodel = ScopedInterface(CannedReply)
    entity_label, entity_label_plural = _l("Canned reply"), _l("Canned replies")
    list_columns = ["title", "language", "team", "active", "franchise"]
    add_columns = edit_columns = ["title", "language", "body", "team", "active", "franchise"]
    show_columns = ["title", "language", "body", "team", "active", "franchise"]
    search_columns = ["title", "body", "language", "team", "active", "franchise"]
    base_order = ("title", "asc")
    label_columns = {"title": _l("Title"), "language": _l("Language"), "body": _l("Text"),
                     "team": _l("Team (empty: every team)"), "active": _l("Active"),
                     "franchise": _l("Franchise (empty: shared by HQ)")}
    validators_columns = {"body": [_placeholders_known]}
    formatters_columns = {"body": text_with_breaks, "language": _language_label}

    # the placeholders are listed where the text is typed
    description_columns = {"body": _l("Placeholders: %(allowed)s",
                                      allowed=", ".join(f"{{{name}}}" for name in PLACEHOLDERS))}
    # the dropdown lists only the teams of the user's franchises (the scoped interface), active ones
    add_form_query_rel_fields = edit_form_query_rel_fields = {"team": [["active", FilterEqual, True]]}


class ReplyRuleView(SharedRowsView):
    route_base = "/tickets/kb/reply-rules"
    datamodel = ScopedInterface(ReplyRule)
    entity_label, entity_label_plural = _l("Reply suggestion rule"), _l("Reply rules")
    list_columns = ["position", "keywords", "canned_reply", "active", "franchise"]
    add_columns = edit_columns = ["position", "keywords", "canned_reply", "active", "franchise"]
    show_columns = list_columns
    search_columns = ["keywords", "active", "franchise"]
    base_order = ("position", "asc")
    label_columns = {"position": _l("Position"), "keywords": _l("Keywords (any of)"),
                     "canned_reply": _l("Suggested reply"), "active": _l("Active"),
                     "franchise": _l("Franchise (empty: shared by HQ)")}
    description_columns = {"keywords": _l("Comma separated; a rule suggests its reply when any keyword occurs in "
                                          "the e-mail text (case-insensitive). Lowest position first.")}


def _ticket_or_404(ticket_id):
    ticket = ScopedInterface(Ticket).get(ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _reply_json(canned, ticket, agent) -> dict:
    text = render(canned, ticket, agent) if ticket is not None else canned.body
    return {"id": canned.id, "title": canned.title, "text": text}


def _json_error(field, message, status=422):
    return jsonify(message={field: [str(message)]}), status


class KbLookupView(BaseView):
    """JSON for the ticket page (session login; POSTs carry the page's CSRF token in `X-CSRFToken`)."""

    plugin = "tickets"
    route_base = "/tickets/kb"
    default_view = "search"

    @expose("/search")
    @has_access_api
    @permission_name("read")
    def search(self):
        """GET ?q=..&lang=..&limit=.. -> [{id, title, excerpt, url}]"""
        query = request.args.get("q", "")
        language = request.args.get("lang") or None
        if language is not None and language not in LANGUAGES:
            return _json_error("lang", _("not one of: %(values)s", values=", ".join(LANGUAGES)))
        limit = request.args.get("limit", 10, type=int)
        articles = search_articles(query, language=language, limit=limit)
        return jsonify([{"id": a.id, "title": a.title, "excerpt": excerpt(a, query),
                         "url": url_for("KbArticleView.show", pk=a.id)} for a in articles])

    @expose("/replies/<int:ticket_id>")
    @has_access_api
    @permission_name("read")
    def replies(self, ticket_id):
        """GET -> the canned replies available to the ticket, filled in: [{id, title, text}]"""
        ticket = _ticket_or_404(ticket_id)
        return jsonify([_reply_json(c, ticket, g.user) for c in replies_for(ticket)])

    @expose("/suggest", methods=["POST"])
    @has_access_api
    @permission_name("read")
    def suggest(self):
        """POST {"text": .., "ticket_id": optional, "franchise_id": optional} -> [{id, title, text}]"""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _json_error("text", _("a JSON object with the e-mail text is required"), 400)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _json_error("text", _("required"))
        if len(text) > MAX_SUGGEST_TEXT:
            return _json_error("text", _("at most %(n)d characters", n=MAX_SUGGEST_TEXT))
        ticket, franchise_id = None, body.get("franchise_id")
        if body.get("ticket_id") is not None:
            if not isinstance(body["ticket_id"], int):
                return _json_error("ticket_id", _("must be a number"))
            ticket = _ticket_or_404(body["ticket_id"])
            franchise_id = ticket.franchise_id
        elif franchise_id is not None:
            if not isinstance(franchise_id, int) or not current_scope().allows(franchise_id):
                return _json_error("franchise_id", _("no such franchise"))
        else:
            scope = current_scope()
            if not scope.all and len(scope.franchise_ids) == 1:
                franchise_id = next(iter(scope.franchise_ids))
        return jsonify([_reply_json(c, ticket, g.user) for c in suggest(franchise_id, text)])


def add_views(appbuilder, category) -> None:
    add_view(appbuilder, KbArticleView, ARTICLES_MENU, _l("Knowledge articles"), "fa-book")
    add_view(appbuilder, KbCategoryView, CATEGORIES_MENU, _l("Knowledge categories"), "fa-folder-open")
    add_view(appbuilder, CannedReplyView, REPLIES_MENU, _l("Canned replies"), "fa-comment-o")
    add_view(appbuilder, ReplyRuleView, RULES_MENU, _l("Reply rules"), "fa-magic")
    appbuilder.add_view_no_menu(KbLookupView)

