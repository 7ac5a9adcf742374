"""Demo data of the tickets plugin: per franchise a calendar with holidays, teams of its users, dispatch rules,
SLA policies, a callback rule and tickets in every state; HQ's shared knowledge base and canned replies."""

from __future__ import annotations

import datetime as dt
import random

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select

from core.extensions import db
from core.models import Shipment
from core.tenancy import Franchise, Scope, scope_as
from plugins.tickets import workflow
from plugins.tickets.desk.intake import IntakeError, create_ticket
from plugins.tickets.followup.models import CallbackRule
from plugins.tickets.kb.models import CannedReply, KbArticle, KbCategory, ReplyRule
from plugins.tickets.models import Ticket
from plugins.tickets.routing.models import DispatchRule, Team, TeamMember
from plugins.tickets.sla.models import BusinessCalendar, CalendarDay, PeakSeason, SlaPolicy

TICKETS_PER_FRANCHISE = 30
HOLIDAYS = [("2026-10-01", "2026-10-07", "国庆节"), ("2027-01-01", "2027-01-01", "元旦")]
MAKEUP_DAYS = [("2026-10-10", "国庆调休")]
TEAMS = [("查件组", ["inquiry", "address_change", "other"]), ("投诉组", ["complaint"]), ("理赔组", ["claim"]),
         ("异常件组", ["exception"])]
POLICIES = [  # name, conditions, first response and resolution in business minutes
    ("紧急 Urgent", {"priorities": ["urgent"]}, 30, 4 * 60),
    ("投诉 Complaints", {"types": ["complaint"]}, 60, 2 * 8 * 60),
    ("理赔 Claims", {"types": ["claim"]}, 120, 5 * 8 * 60),
    ("标准 Standard", {}, 120, 8 * 60),
]
SAMPLES = [  # type, category, subject
    ("inquiry", None, "查询包裹到哪里了"), ("inquiry", None, "显示已签收但没收到"),
    ("complaint", "delay", "承诺次日达，三天未到"), ("complaint", "delivery_service", "未经同意放驿站"),
    ("complaint", "attitude", "快递员态度差"), ("complaint", "charges", "到付多收费"),
    ("claim", "damaged", "外包装破损，物品碎裂"), ("claim", "lost", "包裹丢失申请理赔"),
    ("address_change", None, "修改收件地址"), ("other", None, "发票开具"),
]


def add_demo(app, franchise_ids) -> list[str]:
    lines = []
    _shared_knowledge()
    for franchise_id in franchise_ids:
        with scope_as(Scope(False, frozenset({franchise_id}))):
            if db.session.scalar(select(func.count()).select_from(Team).where(Team.franchise_id == franchise_id)):
                continue  # a second demo run keeps what is there
            _setup(franchise_id)
            made = _tickets(franchise_id)
            db.session.commit()
        code = db.session.get(Franchise, franchise_id).code
        lines.append(f"tickets demo {code}: 4 teams, {len(POLICIES)} SLA policies, {made} tickets")
    return lines


def _setup(franchise_id: int) -> None:
    users = db.session.scalars(select(User).join(User.franchises).where(Franchise.id == franchise_id)
                               .order_by(User.id)).all()
    lead = next((u.id for u in users if any(r.name == "Outlet Manager" for r in u.roles)), None)
    agents = [u.id for u in users if any(r.name in ("Frontline Agent", "Outlet Manager") for r in u.roles)]
    setup_franchise(franchise_id, lambda index: agents, lambda index: lead)
    db.session.add(CallbackRule(franchise_id=franchise_id, name="投诉结案回访", types=["complaint"], delay_hours=24))
    db.session.flush()


def setup_franchise(franchise_id: int, members_of, lead_of, cap: int | None = None) -> list[Team]:
    """A franchise's calendar (holidays, a make-up day), 双11, the TEAMS with a dispatch rule each and the
    POLICIES; `members_of(i)` / `lead_of(i)` give the user ids of team i. Also the benchmark's set-up."""
    calendar = BusinessCalendar(franchise_id=franchise_id, name="工作日 9-18", is_default=True)
    db.session.add(calendar)
    for first, last, name in HOLIDAYS:
        day = dt.date.fromisoformat(first)
        while day <= dt.date.fromisoformat(last):
            db.session.add(CalendarDay(franchise_id=franchise_id, calendar=calendar, day=day, kind="holiday",
                                       name=name))
            day += dt.timedelta(days=1)
    for day, name in MAKEUP_DAYS:
        db.session.add(CalendarDay(franchise_id=franchise_id, calendar=calendar, day=dt.date.fromisoformat(day),
                                   kind="workday", name=name))
    db.session.add(PeakSeason(franchise_id=franchise_id, name="双11", starts_at=dt.datetime(2026, 11, 10, 16),
                              ends_at=dt.datetime(2026, 11, 20, 16), factor=1.5))
    teams = []
    for index, (name, types) in enumerate(TEAMS):
        team = Team(franchise_id=franchise_id, name=name, lead_id=lead_of(index), calendar=calendar,
                    assignment="least_busy" if name == "投诉组" else "round_robin")
        if cap is not None:
            team.max_open_per_agent = cap
        db.session.add(team)
        for user_id in members_of(index):
            db.session.add(TeamMember(franchise_id=franchise_id, team=team, user_id=user_id))
        db.session.add(DispatchRule(franchise_id=franchise_id, name=f"{name}: {', '.join(types)}",
                                    position=(index + 1) * 10, types=types, team=team))
        teams.append(team)
    for position, (name, conditions, first, resolution) in enumerate(POLICIES):
        db.session.add(SlaPolicy(franchise_id=franchise_id, name=name, position=(position + 1) * 10,
                                 first_response_minutes=first, resolution_minutes=resolution, **conditions))
    db.session.flush()
    return teams


def _tickets(franchise_id: int) -> int:
    rng = random.Random(franchise_id)
    shipments = db.session.scalars(select(Shipment).where(Shipment.franchise_id == franchise_id)
                                   .order_by(Shipment.created_at.desc()).limit(TICKETS_PER_FRANCHISE)).all()
    agent = db.session.scalar(select(User).join(User.franchises).where(Franchise.id == franchise_id)
                              .order_by(User.id).limit(1))
    made = 0
    for index, shipment in enumerate(shipments):
        kind, category, subject = SAMPLES[index % len(SAMPLES)]
        values = {"type": kind, "category": category, "subject": subject, "waybill_no": shipment.waybill_no,
                  "channel": rng.choice(["phone", "wechat", "chat", "app"]), "franchise_id": franchise_id,
                  "priority": rng.choice(["normal", "normal", "high", "low"]),
                  "reporter_role": rng.choice(["sender", "receiver"])}
        try:
            ticket = create_ticket(values, agent).ticket
        except IntakeError:
            continue
        made += 1
        _advance(ticket, index, agent)
    return made


def _advance(ticket: Ticket, index: int, agent) -> None:
    """Move some demo tickets along, so every status and the timeline have something to show."""
    stage = index % 5
    if stage >= 1:
        workflow.reply(ticket, agent, "您好，已收到您的反馈，正在为您核实。")
    if stage == 2:
        workflow.change_status(ticket, "waiting", agent, note="等待客户提供照片")
    if stage >= 3:
        workflow.change_status(ticket, "resolved", agent, resolution_code="answered", note="已向客户说明")
    if stage == 4:
        workflow.change_status(ticket, "closed", agent)


def _shared_knowledge() -> None:
    if db.session.scalar(select(func.count()).select_from(KbArticle).where(KbArticle.franchise_id.is_(None))):
        return
    claims = KbCategory(name_zh="理赔", name_en="Claims", position=10)
    delivery = KbCategory(name_zh="派送", name_en="Delivery", position=20)
    db.session.add_all([claims, delivery])
    db.session.add_all([
        KbArticle(category=claims, language="zh", title="保价快件理赔标准",
                  body="保价快件按声明价值赔偿；未保价快件按运费的三倍以内赔偿。\n需提供：外包装照片、物品照片、价值证明。",
                  keywords="理赔,赔偿,保价,破损,丢失"),
        KbArticle(category=delivery, language="zh", title="未经同意放驿站的处理",
                  body="按《快递市场管理办法》，未经用户同意不得代为确认收到快件或擅自放置驿站。\n先致歉，联系派送员二次上门。",
                  keywords="驿站,代收,投递服务"),
        KbArticle(category=claims, language="en", title="Claims for insured parcels",
                  body="Insured parcels are compensated up to the declared value.", keywords="claim,insured"),
    ])
    reply = CannedReply(language="zh", title="查件答复",
                        body="{customer_name}您好，您的快件 {waybill_no} 正在派送途中，我们会在 {due_date} 前给您答复。")
    claim = CannedReply(language="zh", title="理赔材料",
                        body="您好，理赔单 {ticket_no} 需要您提供外包装和物品照片，请回复本消息上传。")
    db.session.add_all([reply, claim])
    db.session.add_all([ReplyRule(keywords="到哪,物流,查件,没收到", canned_reply=reply, position=10),
                        ReplyRule(keywords="破损,丢失,理赔,赔偿", canned_reply=claim, position=20)])
    db.session.flush()

