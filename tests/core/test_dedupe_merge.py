"""Duplicate customers are found, merged with everything that belongs to them, and merges can be undone."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from flask_babel import force_locale
from flask_appbuilder import Model
from sqlalchemy import Column, ForeignKey, Integer, String, func, select

from core import jobs
from core.audit import AuditLog
from core.dedupe import name_key, scan_customers, scan_later
from core.extensions import db
from core.merge import MergeError, merge_customers, undo_merge
from core.models import Address, CommunicationRecord, Contact, Contract, Customer, Shipment
from core.models.dedupe import CustomerMerge, DuplicateCandidate
from core.tenancy import EVERYTHING, Scope, ScopeError, scope_as
from tests.conftest import add_user

WEST_LAKE, BINJIANG = "330106", "330108"
_numbers = itertools.count(1)


class LoyaltyCard(Model):
    """What a plugin might keep per customer: nothing in core knows this table."""

    __tablename__ = "test_dedupe_loyalty_card"
    id = Column(Integer, primary_key=True)
    franchise_id = Column(Integer, ForeignKey("crm_franchise.id"), nullable=False)
    customer_id = Column(Integer, ForeignKey("crm_customer.id"), nullable=False)
    number = Column(String(32), nullable=False)


@pytest.fixture(scope="module")
def screens(app):
    """An account manager in A and one in B (their role template carries the dedupe permissions)."""
    from core.tenancy import Franchise

    with app.app_context():
        add_user(app, "amy", "Account Manager", franchises=[db.session.get(Franchise, app.config["TEST_IDS"]["A"])])
        add_user(app, "ben", "Account Manager", franchises=[db.session.get(Franchise, app.config["TEST_IDS"]["B"])])
    return app


def phone() -> str:
    return f"139{next(_numbers):08d}"


def customer(franchise_id, name, kind="C", district=WEST_LAKE, **values) -> Customer:
    item = Customer(franchise_id=franchise_id, kind=kind, name=name, district_code=district, **values)
    db.session.add(item)
    return item


def scan(franchise_id, customer_ids=None) -> int:
    with scope_as(Scope(False, frozenset({franchise_id}))):
        found = scan_customers(franchise_id, customer_ids)
    db.session.commit()
    return found


def pair(a: Customer, b: Customer) -> DuplicateCandidate | None:
    low, high = sorted((a.id, b.id))
    return db.session.scalar(select(DuplicateCandidate).where(DuplicateCandidate.customer_a_id == low,
                                                              DuplicateCandidate.customer_b_id == high))


def user(app, username):
    return app.appbuilder.sm.find_user(username=username)


# --- finding ---------------------------------------------------------------------------------------------


def test_names_compare_without_spaces_brackets_and_company_suffixes():
    assert name_key("杭州 鲜果贸易有限公司") == name_key("杭州鲜果贸易（西湖）") == "杭州鲜果贸易"
    assert name_key("ＡＢＣ旗舰店") == "abc"
    assert name_key("店") == "店"  # a name is never stripped to nothing


def test_pairs_are_found_by_phone_credit_code_and_similar_name_in_one_district(app, ids):
    with app.app_context():
        shared = phone()
        wang = customer(ids["A"], "王芳", phone=shared)
        wang_again = customer(ids["A"], "王小芳", phone=shared, district=BINJIANG)
        elsewhere = customer(ids["B"], "王芳", phone=shared)  # another franchise's customer: never paired
        shop = customer(ids["A"], "云达物流", kind="B", credit_code="91330106MA2GL0WN1X", district=None)
        same_code = customer(ids["A"], "云达速递服务部", kind="B", credit_code="91330106MA2GL0WN1X", district=None)
        fruit = customer(ids["A"], "杭州鲜果贸易有限公司", kind="B")
        fruit_short = customer(ids["A"], "杭州鲜果贸易", kind="B")
        fruit_far = customer(ids["A"], "杭州鲜果贸易有限公司", kind="B", district=BINJIANG)
        hardware = customer(ids["A"], "鸿运五金建材商行", kind="B")
        hardware_typo = customer(ids["A"], "鸿运五金建才", kind="B")
        li = customer(ids["A"], "李秀英")
        li_again = customer(ids["A"], "李秀英")
        li_longer = customer(ids["A"], "李秀英华")  # persons: only an equal name is a hint
        db.session.commit()

        scan(ids["A"])

        assert pair(wang, wang_again).reason_list() == ["phone"]
        assert pair(wang, elsewhere) is None
        assert pair(shop, same_code).reason_list() == ["credit_code"]
        assert pair(fruit, fruit_short).reason_list() == ["name_district"]
        assert pair(fruit, fruit_far) is None and pair(fruit_short, fruit_far) is None
        assert pair(hardware, hardware_typo).reason_list() == ["name_district"]
        assert pair(li, li_again).reason_list() == ["name_district"]
        assert pair(li, li_longer) is None
        assert pair(shop, same_code).score > pair(fruit, fruit_short).score
        assert all(p.franchise_id == ids["A"] and p.status == "open"
                   for p in (pair(wang, wang_again), pair(li, li_again)))


def test_reasons_add_up_in_one_pair(app, ids):
    with app.app_context():
        shared = phone()
        first = customer(ids["A"], "顺路快运有限公司", kind="B", phone=shared)
        second = customer(ids["A"], "顺路快运", kind="B", phone=shared)
        db.session.commit()
        scan(ids["A"])
        found = pair(first, second)
        assert found.reason_list() == ["name_district", "phone"] and found.score == 90


def test_a_large_scan_writes_in_batches_while_it_reads_and_loses_no_pair(app, ids, monkeypatch):
    import core.dedupe

    monkeypatch.setattr(core.dedupe, "BATCH", 2)  # every few rows read, a batch is written in between
    with app.app_context():
        shared = phone()
        family = [customer(ids["A"], name, phone=shared) for name in ("秦一", "秦二", "秦三", "秦四", "秦五")]
        db.session.commit()
        assert scan(ids["A"], [c.id for c in family]) == 10
        assert all(pair(a, b) is not None for a, b in itertools.combinations(family, 2))
        scan(ids["A"])
        assert all(pair(a, b).reason_list() == ["phone"] for a, b in itertools.combinations(family, 2))


def test_scanning_again_stores_no_second_pair_and_keeps_dismissed_pairs_dismissed(app, ids):
    with app.app_context():
        shared = phone()
        one, two = customer(ids["A"], "周杰", phone=shared), customer(ids["A"], "周洁", phone=shared)
        db.session.commit()
        scan(ids["A"])
        assert scan(ids["A"]) == 0
        found = pair(one, two)
        found.status = "dismissed"
        db.session.commit()
        scan(ids["A"])
        scan(ids["A"], [one.id, two.id])
        rows = db.session.scalars(select(DuplicateCandidate).where(
            DuplicateCandidate.customer_a_id == min(one.id, two.id),
            DuplicateCandidate.customer_b_id == max(one.id, two.id))).all()
        assert [row.status for row in rows] == ["dismissed"]


def test_a_full_scan_forgets_open_pairs_that_no_longer_match(app, ids):
    with app.app_context():
        shared = phone()
        one, two = customer(ids["A"], "吴敏", phone=shared), customer(ids["A"], "吴静", phone=shared)
        db.session.commit()
        scan(ids["A"])
        assert pair(one, two) is not None
        two.phone = phone()  # the number was mistyped
        db.session.commit()
        scan(ids["A"])
        assert pair(one, two) is None


def test_an_import_scans_only_its_new_customers_after_it_commits(app, ids):
    with app.app_context():
        shared = phone()
        old_one, old_two = customer(ids["A"], "郑强", phone=shared), customer(ids["A"], "郑刚", phone=shared)
        db.session.commit()
        new = customer(ids["A"], "郑伟", phone=shared, source="import")
        db.session.flush()
        scan_later(ids["A"], [new.id])
        db.session.commit()  # the scan runs in-process once the import is committed
        db.session.expire_all()
        assert pair(new, old_one) is not None and pair(new, old_two) is not None
        assert pair(old_one, old_two) is None  # not part of this import: left to the nightly scan


def test_a_very_common_phone_gives_no_pairs(app, ids):
    from core.dedupe import COMMON_VALUE_LIMIT

    with app.app_context():
        switchboard = phone()
        many = [customer(ids["A"], f"客户{i}", phone=switchboard, district=None)
                for i in range(COMMON_VALUE_LIMIT + 1)]
        db.session.commit()
        scan(ids["A"])
        assert pair(many[0], many[1]) is None


def test_the_nightly_scan_is_a_core_schedule_for_every_active_franchise(app, ids):
    with app.app_context():
        shared = phone()
        one, two = customer(ids["B"], "冯雪", phone=shared), customer(ids["B"], "冯雪梅", phone=shared)
        db.session.commit()
        jobs.sync_schedules()
        schedule = db.session.scalar(select(jobs.JobSchedule).where(jobs.JobSchedule.name == "core.dedupe_scan"))
        assert schedule is not None and schedule.plugin == "core"
        schedule.next_run_at = jobs.utcnow()
        db.session.commit()
        franchises = jobs.franchises_running("core")
        assert {ids["A"], ids["B"]} <= set(franchises)
        assert jobs.run_due() == len(franchises)  # the runs happen in-process after the commit
        db.session.expire_all()
        assert pair(one, two).franchise_id == ids["B"]
        runs = db.session.scalars(select(jobs.JobOutbox).where(jobs.JobOutbox.schedule_id == schedule.id)).all()
        assert {run.status for run in runs} == {"finished"}


def test_a_scan_outside_the_callers_scope_is_refused(app, ids):
    with app.app_context(), scope_as(Scope(False, frozenset({ids["B"]}))):
        with pytest.raises(ScopeError):
            scan_customers(ids["A"])


# --- merging -----------------------------------------------------------------------------------------------


def _everything_of(franchise_id, owner: Customer) -> dict:
    number = next(_numbers)
    rows = {
        "contact": Contact(franchise_id=franchise_id, customer=owner, name="陈经理"),
        "address": Address(franchise_id=franchise_id, customer=owner, district_code=WEST_LAKE),
        "shipment": Shipment(franchise_id=franchise_id, customer=owner, waybill_no=f"YD{number:012d}"),
        "contract": Contract(franchise_id=franchise_id, customer=owner, number=f"HT-{number}",
                             start_date=dt.date(2026, 1, 1)),
        "record": CommunicationRecord(franchise_id=franchise_id, customer=owner, topic="报价"),
        "card": LoyaltyCard(franchise_id=franchise_id, customer_id=owner.id, number=f"VIP{number}"),
    }
    db.session.add_all(rows.values())
    db.session.flush()
    return rows


def _owner(row) -> int:
    db.session.refresh(row)
    return row.customer_id


def _entries(action, customer_id):
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.model == "Customer",
                                                     AuditLog.record_id == str(customer_id))).all()


def test_a_merge_moves_every_row_fills_empty_fields_is_audited_and_undone_exactly(app, ids):
    with app.app_context():
        hq = user(app, "hq")
        code = "91330106MA2B1U7N5Q"
        survivor = customer(ids["A"], "蓝海贸易", kind="B", district=None, credit_code=code)
        merged = customer(ids["A"], "蓝海贸易有限公司", kind="B", phone=phone(), company_name="杭州蓝海贸易有限公司",
                          credit_code=code, status="dormant", custom={"wechat": "lanhai"})
        db.session.flush()
        kept = _everything_of(ids["A"], survivor)
        moving = _everything_of(ids["A"], merged)
        db.session.commit()
        scan(ids["A"], [merged.id])
        assert pair(survivor, merged).reason_list() == ["credit_code"]
        merged_phone = merged.phone

        with scope_as(EVERYTHING):
            merge = merge_customers(survivor, merged, hq)
        db.session.commit()

        assert {name: _owner(row) for name, row in moving.items()} == {name: survivor.id for name in moving}
        assert {name: _owner(row) for name, row in kept.items()} == {name: survivor.id for name in kept}
        db.session.refresh(survivor)
        db.session.refresh(merged)
        assert (merged.status, merged.merged_into_id) == ("merged", survivor.id)
        assert survivor.phone == merged_phone and survivor.company_name == "杭州蓝海贸易有限公司"
        assert survivor.district_code == WEST_LAKE and survivor.custom == {"wechat": "lanhai"}
        assert merge.moved["test_dedupe_loyalty_card.customer_id"] == [moving["card"].id]
        assert set(merge.moved) == {"crm_contact.customer_id", "crm_address.customer_id", "crm_shipment.customer_id",
                                    "crm_contract.customer_id", "crm_communication.customer_id",
                                    "test_dedupe_loyalty_card.customer_id"}
        assert pair(survivor, merged).status == "merged"
        [entry] = _entries("merge", survivor.id)
        assert entry.username == "hq" and entry.changes["moved"][1]["crm_contact.customer_id"] == 1
        assert merged_phone not in str(entry.changes)  # the log names fields, never personal values
        assert _entries("merge", merged.id)[0].changes["status"] == ["dormant", "merged"]
        # one summary per customer, not an entry per moved row
        assert not db.session.scalars(select(AuditLog).where(AuditLog.model == "Contact",
                                                             AuditLog.record_id == str(moving["contact"].id),
                                                             AuditLog.action != "create")).all()
        events = db.session.scalars(select(jobs.JobOutbox).where(jobs.JobOutbox.func == "core.events:deliver")).all()
        assert any(e.args[0] == "customers.merged" and e.args[2]["merge_id"] == merge.id for e in events)

        added_since = Contact(franchise_id=ids["A"], customer_id=survivor.id, name="新联系人")
        db.session.add(added_since)
        db.session.commit()

        with scope_as(EVERYTHING):
            back = undo_merge(merge, hq)
        db.session.commit()

        assert back["crm_contact.customer_id"] == 1
        assert {name: _owner(row) for name, row in moving.items()} == {name: merged.id for name in moving}
        assert {name: _owner(row) for name, row in kept.items()} == {name: survivor.id for name in kept}
        assert _owner(added_since) == survivor.id
        db.session.refresh(survivor)
        db.session.refresh(merged)
        assert (merged.status, merged.merged_into_id) == ("dormant", None)
        assert survivor.phone is None and survivor.company_name is None and survivor.district_code is None
        assert survivor.custom == {}
        assert merge.undone_at is not None and merge.undone_by_id == hq.id
        assert pair(survivor, merged).status == "open"
        assert _entries("merge_undo", survivor.id) and _entries("merge_undo", merged.id)
        with scope_as(EVERYTHING), pytest.raises(MergeError):
            undo_merge(merge, hq)


def test_undo_keeps_a_field_someone_changed_after_the_merge(app, ids):
    with app.app_context():
        hq = user(app, "hq")
        survivor = customer(ids["A"], "北辰", kind="B")
        merged = customer(ids["A"], "北辰商行", kind="B", company_name="北辰商贸")
        db.session.commit()
        with scope_as(EVERYTHING):
            merge = merge_customers(survivor, merged, hq)
        db.session.commit()
        survivor.company_name = "北辰商贸有限公司"
        db.session.commit()
        with scope_as(EVERYTHING):
            undo_merge(merge, hq)
        db.session.commit()
        assert survivor.company_name == "北辰商贸有限公司"


def test_undo_is_refused_once_the_survivor_was_merged_further(app, ids):
    with app.app_context():
        hq = user(app, "hq")
        first, second, third = (customer(ids["A"], name) for name in ("褚一", "褚二", "褚三"))
        db.session.commit()
        with scope_as(EVERYTHING):
            earlier = merge_customers(second, first, hq)
            db.session.commit()
            merge_customers(third, second, hq)
            db.session.commit()
            with force_locale("en"), pytest.raises(MergeError, match="undo that merge first"):
                undo_merge(earlier, hq)


def test_a_merge_is_refused_for_itself_a_merged_customer_across_franchises_and_outside_the_users_scope(app, ids):
    with app.app_context():
        hq, bob = user(app, "hq"), user(app, "bob")
        mine, twin, gone = (customer(ids["A"], name) for name in ("卫东", "卫冬", "卫栋"))
        theirs = customer(ids["B"], "卫东")
        db.session.commit()
        with scope_as(EVERYTHING):
            merge_customers(mine, gone, hq)
            db.session.commit()
            with pytest.raises(MergeError):
                merge_customers(mine, mine, hq)
            with pytest.raises(MergeError):
                merge_customers(twin, gone, hq)  # already merged
            with pytest.raises(MergeError):
                merge_customers(gone, twin, hq)  # into a merged one: no chains
            with pytest.raises(MergeError):
                merge_customers(mine, theirs, hq)
        with pytest.raises(ScopeError):
            merge_customers(mine, twin, bob)
        db.session.rollback()
        assert db.session.get(Customer, twin.id).status == "active"


# --- screens -----------------------------------------------------------------------------------------------


def _open_pair(app, ids, names=("蒋丽", "蒋莉")):
    with app.app_context():
        shared = phone()
        one, two = customer(ids["A"], names[0], phone=shared), customer(ids["A"], names[1], phone=shared)
        db.session.commit()
        scan(ids["A"], [one.id, two.id])
        return pair(one, two).id, one.id, two.id


def test_the_duplicates_screen_lists_masked_pairs_and_merges_after_a_confirm_page(screens, ids, client_for):
    app = screens
    pair_id, one_id, two_id = _open_pair(app, ids)
    with app.app_context():
        db.session.add(Contact(franchise_id=ids["A"], customer_id=two_id, name="蒋助理"))
        db.session.commit()
    amy = client_for("amy")
    listing = amy.get("/duplicates/list/?psize_DuplicateCandidateView=100").get_data(as_text=True)
    rows = listing.split("<tbody>")[-1]
    assert "蒋*" in rows and "蒋丽" not in rows and "139****" in rows, rows[:3000]
    confirm = amy.get(f"/duplicates/merge/{pair_id}/a")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "crm-merge-moves" in page and ": 1</li>" in page  # the one contact that will move
    response = amy.post(f"/duplicates/merge/{pair_id}/a")
    assert response.status_code == 302 and f"/customers/show/{one_id}" in response.headers["Location"]
    with app.app_context():
        assert db.session.get(Customer, two_id).merged_into_id == one_id
        merge = db.session.scalar(select(CustomerMerge).where(CustomerMerge.merged_id == two_id))
        assert merge.merged_by.username == "amy"
        merge_id = merge.id
    assert f"/duplicates/merge/{pair_id}/a" not in amy.get("/duplicates/list/").get_data(as_text=True)
    merges = amy.get("/merges/list/").get_data(as_text=True)
    assert "蒋*" in merges
    amy.post("/merges/action_post", data={"action": "undo", "rowid": [str(merge_id)]})
    with app.app_context():
        assert db.session.get(Customer, two_id).merged_into_id is None
        assert db.session.get(CustomerMerge, merge_id).undone_at is not None


def test_dismissing_a_pair_takes_it_off_the_list(screens, ids, client_for):
    pair_id, _, _ = _open_pair(screens, ids, ("沈阳", "沈洋"))
    amy = client_for("amy")
    amy.post("/duplicates/action_post", data={"action": "dismiss", "rowid": [str(pair_id)]})
    with screens.app_context():
        assert db.session.get(DuplicateCandidate, pair_id).status == "dismissed"
    assert amy.get(f"/duplicates/merge/{pair_id}/a").status_code == 404


def test_another_franchise_cannot_see_merge_or_undo(screens, ids, client_for):
    app = screens
    pair_id, one_id, two_id = _open_pair(app, ids, ("韩梅", "韩梅梅"))
    ben = client_for("ben")
    assert ben.get(f"/duplicates/merge/{pair_id}/a").status_code == 404
    assert ben.post(f"/duplicates/merge/{pair_id}/a").status_code == 404
    assert ben.get(f"/duplicates/show/{pair_id}").status_code == 404
    with app.app_context():
        assert db.session.get(Customer, two_id).status == "active"
        with scope_as(EVERYTHING):
            merge = merge_customers(db.session.get(Customer, one_id), db.session.get(Customer, two_id),
                                    user(app, "hq"))
        db.session.commit()
        merge_id = merge.id
    assert ben.get(f"/merges/show/{merge_id}").status_code == 404
    ben.post("/merges/action_post", data={"action": "undo", "rowid": [str(merge_id)]})
    with app.app_context():
        assert db.session.get(CustomerMerge, merge_id).undone_at is None
    assert client_for("alice").get("/duplicates/list/").status_code == 403  # agents do not merge


def test_the_candidate_table_counts_no_pair_twice(app):
    with app.app_context():
        duplicates = db.session.execute(
            select(DuplicateCandidate.customer_a_id, DuplicateCandidate.customer_b_id, func.count())
            .group_by(DuplicateCandidate.customer_a_id, DuplicateCandidate.customer_b_id)
            .having(func.count() > 1)).all()
        assert db.session.scalar(select(func.count()).select_from(DuplicateCandidate)) > 0
        assert duplicates == []
