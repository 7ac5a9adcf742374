"""Knowledge base and canned replies: agents find articles of their franchise and HQ's, fill canned replies
for a ticket, and get a reply suggested for an incoming e-mail."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.tenancy import Scope, scope_as
from plugins.tickets.kb.models import CannedReply, KbArticle, ReplyRule
from plugins.tickets.kb.replies import render, replies_for, suggest
from plugins.tickets.kb.search import query_terms, search_articles
from plugins.tickets.routing.models import Team
from tests.plugins.tickets.conftest import make_customer, make_shipment, make_ticket


def _article(franchise_id, title, body, keywords=None, language="zh", published=True):
    article = KbArticle(franchise_id=franchise_id, title=title, body=body, keywords=keywords, language=language,
                        published=published)
    db.session.add(article)
    return article


@pytest.fixture(scope="module")
def kb(app):
    """Articles of A, of B, HQ's shared ones, a draft; canned replies and rules of A, B and HQ."""
    ids = app.config["TEST_IDS"]
    a, b = ids["A"], ids["B"]
    with app.app_context():
        rows = {
            "body_hit": _article(a, "派送延误怎么处理", "如果快递丢失，请先核实最后一条轨迹，再联系网点。"),
            "title_hit": _article(a, "快递丢失理赔流程", "先登记，再提交证据，三个工作日内审核。"),
            "keyword_hit": _article(a, "异常件处理", "按照异常件流程处理。", keywords="丢失,短少"),
            "other": _article(b, "快递丢失（B 网点内部）", "B 的内部流程。"),
            "shared": _article(None, "总部：快递丢失赔付标准", "保价件按声明价值赔付。"),
            "draft": _article(a, "快递丢失草稿", "未发布。", published=False),
            "english": _article(a, "Lost parcel claims", "Check the last scan, then file a claim.", language="en"),
        }
        team = Team(franchise_id=a, name="投诉组")
        db.session.add(team)
        db.session.flush()
        replies = {
            "team": CannedReply(franchise_id=a, team=team, title="投诉组致歉", body="{customer_name}您好，投诉组已受理。"),
            "franchise": CannedReply(franchise_id=a, title="查件回复",
                                     body="{customer_name}您好，运单{waybill_no}（工单{ticket_no}）将在{due_date}前处理。"
                                          "客服{agent_name}"),
            "english": CannedReply(franchise_id=a, language="en", title="Lookup reply",
                                   body="Dear {customer_name}, waybill {waybill_no}."),
            "hq": CannedReply(franchise_id=None, title="总部通用致歉", body="非常抱歉给您带来不便。"),
            "other": CannedReply(franchise_id=b, title="B 的回复", body="B 网点回复"),
            "inactive": CannedReply(franchise_id=a, title="停用", body="停用", active=False),
        }
        db.session.add_all(replies.values())
        db.session.flush()
        db.session.add_all([
            ReplyRule(franchise_id=a, keywords="破损, 损坏，Broken", canned_reply=replies["franchise"], position=20),
            ReplyRule(franchise_id=None, keywords="投诉", canned_reply=replies["hq"], position=10),
            ReplyRule(franchise_id=b, keywords="破损", canned_reply=replies["other"], position=1),
            ReplyRule(franchise_id=a, keywords="破损", canned_reply=replies["inactive"], position=5),
        ])
        db.session.commit()
        made = {"articles": {k: v.id for k, v in rows.items()}, "replies": {k: v.id for k, v in replies.items()},
                "team": team.id}
    return made


def _titles(response):
    assert response.status_code == 200, response.data[:300]
    return [row["title"] for row in response.json]


def test_query_terms_split_on_spaces_and_chinese_punctuation():
    assert query_terms("快递丢失，理赔  Lost?") == ["快递丢失", "理赔", "lost"]


def test_search_finds_chinese_articles_title_hits_first_and_keeps_to_the_agents_franchise_and_hq(client_for, kb):
    titles = _titles(client_for("alice").get("/tickets/kb/search", query_string={"q": "丢失"}))
    assert titles[:2] == ["快递丢失理赔流程", "总部：快递丢失赔付标准"] or \
        titles[:2] == ["总部：快递丢失赔付标准", "快递丢失理赔流程"]
    assert titles.index("异常件处理") < titles.index("派送延误怎么处理")  # keyword hit above body-only hit
    assert titles[-1] == "派送延误怎么处理"
    assert "快递丢失（B 网点内部）" not in titles and "快递丢失草稿" not in titles


def test_every_term_must_match(client_for, kb):
    alice = client_for("alice")
    assert _titles(alice.get("/tickets/kb/search", query_string={"q": "丢失 理赔"})) == ["快递丢失理赔流程"]
    assert _titles(alice.get("/tickets/kb/search", query_string={"q": "丢失 不存在的词"})) == []


def test_search_result_carries_an_excerpt_and_a_link_to_the_article(client_for, kb):
    rows = client_for("alice").get("/tickets/kb/search", query_string={"q": "核实"}).json
    assert [r["title"] for r in rows] == ["派送延误怎么处理"]
    assert "核实" in rows[0]["excerpt"]
    assert rows[0]["url"].endswith(f"/tickets/kb/articles/show/{kb['articles']['body_hit']}")


def test_search_by_language_and_case_insensitive(client_for, kb):
    alice = client_for("alice")
    assert _titles(alice.get("/tickets/kb/search", query_string={"q": "LOST", "lang": "en"})) == ["Lost parcel claims"]
    assert alice.get("/tickets/kb/search", query_string={"q": "x", "lang": "fr"}).status_code == 422


def test_search_of_the_other_franchise_sees_its_own_and_hq(app, kb, ids):
    with app.test_request_context(), scope_as(Scope(False, frozenset({ids["B"]}))):
        titles = [a.title for a in search_articles("快递丢失")]
    assert sorted(titles) == sorted(["快递丢失（B 网点内部）", "总部：快递丢失赔付标准"])


def test_article_page_shows_the_text_escaped_with_line_breaks_and_counts_views(app, client_for, ids):
    with app.app_context():
        article = _article(ids["A"], "换行测试", "第一行<script>alert(1)</script>\n第二行")
        db.session.commit()
        article_id, updated = article.id, article.updated_at
    alice = client_for("alice")
    page = alice.get(f"/tickets/kb/articles/show/{article_id}").get_data(as_text=True)
    assert "第一行&lt;script&gt;alert(1)&lt;/script&gt;<br>\n第二行" in page
    alice.get(f"/tickets/kb/articles/show/{article_id}")
    with app.app_context():
        stored = db.session.get(KbArticle, article_id)
        assert (stored.views, stored.updated_at) == (2, updated)
    assert client_for("bob").get(f"/tickets/kb/articles/show/{article_id}").status_code == 404


def _ticket_for_replies(ids, team_id=None):
    person = make_customer(ids["A"], name="张三丰", kind="C")
    shipment = make_shipment(ids["A"], customer=person)
    return make_ticket(ids["A"], customer=person, shipment=shipment, waybill_no=shipment.waybill_no,
                       team_id=team_id, resolution_due=datetime(2024, 5, 1, 2, 30))


def test_render_fills_placeholders_with_the_masked_person_name_and_local_due_time(app, kb, ids):
    with app.test_request_context():
        ticket = _ticket_for_replies(ids)
        agent = app.appbuilder.sm.find_user("alice")
        agent.first_name, agent.last_name = "丽", "王"
        canned = db.session.get(CannedReply, kb["replies"]["franchise"])
        text = render(canned, ticket, agent)
        db.session.rollback()
    assert text == (f"张**您好，运单{ticket.waybill_no}（工单{ticket.number}）将在2024-05-01 10:30前处理。客服王丽")


def test_render_leaves_an_unknown_placeholder_of_an_old_reply_alone(app, ids):
    with app.test_request_context():
        ticket = _ticket_for_replies(ids)
        canned = CannedReply(franchise_id=ids["A"], title="旧", body="{customer_name} {old_field} {")
        assert render(canned, ticket, None) == "张** {old_field} {"
        db.session.rollback()


def test_replies_of_a_ticket_are_its_teams_its_franchises_and_hqs_in_the_users_language_first(
        app, client_for, kb, ids):
    with app.app_context():
        ticket = _ticket_for_replies(ids, team_id=kb["team"])
        db.session.commit()
        ticket_id = ticket.id
    alice = client_for("alice")
    rows = alice.get(f"/tickets/kb/replies/{ticket_id}").json
    titles = [r["title"] for r in rows]
    assert set(titles) == {"投诉组致歉", "查件回复", "Lookup reply", "总部通用致歉"}
    assert titles[-1] == "Lookup reply"  # default locale zh: Chinese replies first
    assert titles[0] == "投诉组致歉"  # the team's own before the franchise's and HQ's
    assert next(r["text"] for r in rows if r["title"] == "投诉组致歉") == "张**您好，投诉组已受理。"
    alice.get("/lang/en")
    assert alice.get(f"/tickets/kb/replies/{ticket_id}").json[0]["title"] == "Lookup reply"
    assert client_for("bob").get(f"/tickets/kb/replies/{ticket_id}").status_code == 404


def test_replies_without_team_leave_out_team_replies(app, kb, ids):
    with app.test_request_context(), scope_as(Scope(False, frozenset({ids["A"]}))):
        ticket = _ticket_for_replies(ids)
        titles = {c.title for c in replies_for(ticket)}
        db.session.rollback()
    assert titles == {"查件回复", "Lookup reply", "总部通用致歉"}


def test_unknown_placeholder_is_refused_when_saving_with_the_allowed_ones_named(app, client_for, ids):
    ait = client_for("ait")
    ait.get("/lang/en")
    page = ait.post("/tickets/kb/canned-replies/add", data={
        "title": "坏模板", "language": "zh", "body": "您好 {customer} ，运单 {waybill_no}", "active": "y"},
        follow_redirects=True).get_data(as_text=True)
    assert "unknown placeholder {customer}" in page
    assert "{customer_name}" in page and "{agent_name}" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CannedReply)
                                 .where(CannedReply.title == "坏模板")) == 0
        errors = CannedReply(franchise_id=ids["A"], title="x", body="{nope}").validation_errors()
    assert list(errors) == ["body"]


def test_franchise_it_saves_a_reply_for_its_own_franchise(app, client_for, ids):
    ait = client_for("ait")
    response = ait.post("/tickets/kb/canned-replies/add", data={
        "title": "A 的模板", "language": "zh", "body": "{customer_name}您好", "active": "y"})
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.scalars(select(CannedReply).where(CannedReply.title == "A 的模板")).one()
        assert saved.franchise_id == ids["A"]


def test_a_reply_cannot_name_a_team_of_another_franchise(app, ids):
    with app.app_context():
        team_b = Team(franchise_id=ids["B"], name="B 查件组")
        db.session.add(team_b)
        db.session.flush()
        errors = CannedReply(franchise_id=ids["A"], team=team_b, title="x", body="y").validation_errors()
        db.session.rollback()
    assert list(errors) == ["team"]


def test_keywords_of_an_email_suggest_replies_in_rule_order(app, client_for, kb, ids):
    alice = client_for("alice")
    rows = alice.post("/tickets/kb/suggest", json={"text": "我要投诉，包裹破损了"}).json
    assert [r["title"] for r in rows] == ["总部通用致歉", "查件回复"]
    assert [r["title"] for r in alice.post("/tickets/kb/suggest", json={"text": "item BROKEN"}).json] == ["查件回复"]
    assert alice.post("/tickets/kb/suggest", json={"text": "谢谢"}).json == []
    bob_rows = client_for("bob").post("/tickets/kb/suggest", json={"text": "包裹破损"}).json
    assert [r["title"] for r in bob_rows] == ["B 的回复"]
    with app.test_request_context(), scope_as(Scope(False, frozenset({ids["A"]}))):
        assert [c.title for c in suggest(ids["A"], "损坏")] == ["查件回复"]


def test_suggest_fills_in_the_ticket_when_given_and_refuses_bad_input(app, client_for, kb, ids):
    with app.app_context():
        ticket = _ticket_for_replies(ids)
        db.session.commit()
        ticket_id, waybill = ticket.id, ticket.waybill_no
    alice = client_for("alice")
    rows = alice.post("/tickets/kb/suggest", json={"text": "破损", "ticket_id": ticket_id}).json
    assert rows[0]["text"].startswith(f"张**您好，运单{waybill}")
    assert alice.post("/tickets/kb/suggest", json={"text": ""}).status_code == 422
    assert "text" in alice.post("/tickets/kb/suggest", json={"text": 5}).json["message"]
    assert client_for("bob").post("/tickets/kb/suggest", json={"text": "破损", "ticket_id": ticket_id}).status_code == 404


def test_hq_shares_an_article_and_franchise_it_cannot_edit_it(app, client_for, ids):
    hq = client_for("hq")
    assert hq.post("/tickets/kb/articles/add", data={"title": "总部新文章", "language": "zh", "body": "内容",
                                                     "published": "y"}).status_code == 302
    with app.app_context():
        article = db.session.scalars(select(KbArticle).where(KbArticle.title == "总部新文章")).one()
        assert article.franchise_id is None
        article_id = article.id
    client_for("ait").post(f"/tickets/kb/articles/edit/{article_id}", data={
        "title": "改掉", "language": "zh", "body": "内容", "published": "y"})
    with app.app_context():
        assert db.session.get(KbArticle, article_id).title == "总部新文章"


def test_lookup_needs_a_login(app):
    assert app.test_client().get("/tickets/kb/search?q=x").status_code == 401
