"""Demo and scale data: what `crm demo` and `crm seed` put in the database looks like a real network.

Runs on SQLite, or on PostgreSQL (COPY path) when CRM_TEST_DATABASE_URL names one."""

import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import divisions, seeding
from core.audit import AuditLog
from core.clock import utcnow
from core.demo import DEMO_CUSTOMERS, DEMO_SHIPMENTS, HOME_DISTRICTS, seed_demo
from core.extensions import db
from core.models import Address, CommunicationRecord, Contact, Contract, Customer, Shipment, TrackingEvent
from core.models.customer import credit_code_problem
from core.models.statuses import STATUSES
from core.privacy import Vault, normalise_id_number, normalise_phone
from core.roles import templates_with_plugins
from core.tenancy import Franchise
from tests.conftest import ENCRYPTION_KEY

ROOT = Path(__file__).resolve().parents[2]
# core's demo data alone: the plugins' demos (orders pulled by integrations...) are tested with the plugins
APP_SETTINGS = {"CRM_DISABLED_PLUGINS": ["integrations"]}
DEMO_CODES = sorted(HOME_DISTRICTS)


@pytest.fixture(scope="module")
def demo(app):
    """The demo seeded once for the module; (logins, seconds it took)."""
    with app.app_context():
        started = time.perf_counter()
        logins = seed_demo(app)
        return logins, time.perf_counter() - started


@pytest.fixture
def ctx(app, demo):
    with app.app_context():
        yield
        db.session.rollback()


def demo_ids():
    return dict(db.session.execute(select(Franchise.code, Franchise.id).where(Franchise.code.in_(DEMO_CODES))).all())


def test_demo_is_quick_and_has_a_login_for_every_role(app, demo, ctx):
    logins, seconds = demo
    assert seconds < 60
    roles = {role for _, role, _ in logins}
    assert set(templates_with_plugins(app.extensions["crm_plugins"])) <= roles
    assert {"hq", "sh01_account", "sh01_agent"} <= {name for name, _, _ in logins}
    # generated rows bypass the ORM: one audit entry says what was generated
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "import", AuditLog.model == "Customer"))
    assert entry.changes["generated"][1]["crm_customer"] == DEMO_CUSTOMERS


def test_every_demo_franchise_has_customers_of_its_own_city(demo, ctx):
    ids = demo_ids()
    per_franchise = dict(db.session.execute(
        select(Customer.franchise_id, func.count()).where(Customer.franchise_id.in_(ids.values()))
        .group_by(Customer.franchise_id)).all())
    assert sum(per_franchise.values()) == DEMO_CUSTOMERS
    for code, fid in ids.items():
        assert per_franchise.get(fid, 0) >= 80, code
    home_city = {fid: divisions.city_of(HOME_DISTRICTS[code]).code for code, fid in ids.items()}
    for fid, district in db.session.execute(select(Customer.franchise_id, Customer.district_code)
                                            .where(Customer.franchise_id.in_(ids.values()))):
        assert divisions.is_district(district), district
        assert divisions.city_of(district).code == home_city[fid]
    kinds = Counter(kind for (kind,) in db.session.execute(select(Customer.kind)))
    assert 0.15 < kinds["B"] / DEMO_CUSTOMERS < 0.35


def test_business_customers_have_valid_codes_contacts_and_contracts(demo, ctx):
    vault = Vault(ENCRYPTION_KEY)
    business = db.session.scalars(select(Customer).where(Customer.kind == "B")).all()
    for customer in business:
        assert credit_code_problem(customer.credit_code) is None, customer.credit_code
        assert customer.credit_code[2:8] == customer.district_code  # registered where it is
        assert customer.validation_errors() == {}
    contacts = defaultdict(list)
    for contact in db.session.scalars(select(Contact)):
        contacts[contact.customer_id].append(contact)
    assert {c.id for c in business} == set(contacts)  # contacts only at businesses, every business has one
    assert all(sum(c.is_primary for c in people) == 1 for people in contacts.values())
    assert sum(len(people) >= 2 for people in contacts.values()) > 0.3 * len(business)
    for people in list(contacts.values())[:50]:
        for contact in people:
            phone = vault.decrypt(contact.phone_enc)
            assert normalise_phone(phone) == phone and len(phone) == 11
            assert contact.phone_hash == vault.blind_index("phone", phone)
    kinds = dict(db.session.execute(select(Customer.id, Customer.kind)).all())
    contracts = db.session.scalars(select(Contract)).all()
    assert contracts and all(kinds[c.customer_id] == "B" for c in contracts)
    assert all(c.end_date >= c.start_date for c in contracts)
    assert {c.status for c in contracts} >= {"active", "expired"}
    today = utcnow().date()
    assert all((c.status == "active") == (c.start_date <= today <= c.end_date) for c in contracts)


def test_persons_have_valid_phones_ids_and_addresses(demo, ctx):
    vault = Vault(ENCRYPTION_KEY)
    persons = db.session.scalars(select(Customer).where(Customer.kind == "C").limit(300)).all()
    for person in persons:
        phone = vault.decrypt(person.phone_enc)
        assert normalise_phone(phone) == phone
        if person.id_number_enc:
            number = vault.decrypt(person.id_number_enc)
            assert normalise_id_number(number) == number and number[:6] == person.district_code
        assert person.billing_mode != "monthly"
    for address in db.session.scalars(select(Address).limit(500)):
        assert divisions.is_district(address.district_code)
        assert address.city_code == divisions.city_of(address.district_code).code
        assert address.province_code == divisions.province_of(address.district_code).code
        assert "号" in vault.decrypt(address.detail_enc)
    now = utcnow()
    for record in db.session.scalars(select(CommunicationRecord).limit(500)):
        assert record.occurred_at <= now and record.validation_errors() == {}


def test_shipments_end_in_the_status_of_their_last_event(demo, ctx):
    shipments = {s.id: s for s in db.session.scalars(select(Shipment))}
    assert len(shipments) == DEMO_SHIPMENTS
    events = defaultdict(list)
    for event in db.session.scalars(select(TrackingEvent).order_by(TrackingEvent.shipment_id,
                                                                   TrackingEvent.occurred_at)):
        events[event.shipment_id].append(event)
    assert set(events) == set(shipments)
    born = dict(db.session.execute(select(Customer.id, Customer.created_at)).all())
    now = utcnow()
    for sid, shipment in shipments.items():
        trail = events[sid]
        assert trail[0].status == "CREATED" and trail[0].occurred_at == shipment.created_at
        assert trail[-1].status == shipment.status and trail[-1].occurred_at == shipment.status_at
        assert shipment.delivered_at == (shipment.status_at if shipment.status == "DELIVERED" else None)
        assert all(e.status in STATUSES for e in trail) and trail[-1].occurred_at <= now
        assert born[shipment.customer_id] <= shipment.created_at
        assert now - timedelta(days=181) < shipment.created_at <= now
        assert divisions.is_district(shipment.receiver_district_code)
        assert shipment.waybill_no.isdigit() and len(shipment.waybill_no) == 13


def test_a_delivered_parcel_takes_the_usual_path_in_one_to_four_days(demo, ctx):
    paths = defaultdict(list)
    for sid, status, at in db.session.execute(
            select(TrackingEvent.shipment_id, TrackingEvent.status, TrackingEvent.occurred_at)
            .order_by(TrackingEvent.shipment_id, TrackingEvent.occurred_at)):
        paths[sid].append((status, at))
    normal = [p for p in paths.values() if p[-1][0] == "DELIVERED"
              and not {s for s, _ in p} & {"FAILED_ATTEMPT", "DAMAGED"}]
    assert len(normal) > 0.9 * DEMO_SHIPMENTS
    days = []
    for path in normal:
        statuses = [s for s, _ in path]
        transit = statuses.count("IN_TRANSIT")
        assert 3 <= transit <= 6
        assert statuses == (["CREATED", "PICKED_UP"] + ["IN_TRANSIT"] * transit
                            + ["ARRIVED_DEST", "OUT_FOR_DELIVERY"]
                            + (["HELD_AT_STATION"] if "HELD_AT_STATION" in statuses else []) + ["DELIVERED"])
        days.append((path[-1][1] - path[1][1]).total_seconds() / 86400)
    assert 1 <= statistics.median(days) <= 4
    assert sum(0.5 <= d <= 4.5 for d in days) > 0.97 * len(days)
    lockers = sum("HELD_AT_STATION" in [s for s, _ in p] for p in normal)
    assert 0.4 < lockers / len(normal) < 0.8  # 投柜/驿站 is very common in cities


def test_exceptions_happen_at_realistic_rates(demo, ctx):
    week_ago = utcnow() - timedelta(days=7)  # older parcels have finished their journey
    done = set(db.session.scalars(select(Shipment.id).where(Shipment.created_at < week_ago)))
    seen = defaultdict(set)
    for sid, status in db.session.execute(select(TrackingEvent.shipment_id, TrackingEvent.status)):
        if sid in done:
            seen[status].add(sid)
    for status, (low, high) in seeding.RATE_BOUNDS.items():
        rate = len(seen[status]) / len(done)
        assert low <= rate <= high, (status, rate)
    assert len(seen["DAMAGED"]) >= 1 and seen["RETURNED"]


def test_a_fifth_of_the_shops_sends_most_parcels(demo, ctx):
    per_shop = dict(db.session.execute(
        select(Customer.id, func.count(Shipment.id)).outerjoin(Shipment, Shipment.customer_id == Customer.id)
        .where(Customer.kind == "B").group_by(Customer.id)).all())
    volumes = sorted(per_shop.values(), reverse=True)
    top = sum(volumes[: len(volumes) // 5]) / sum(volumes)
    assert 0.7 < top < 0.9
    business = db.session.scalar(select(func.count()).select_from(Shipment).join(Customer)
                                 .where(Customer.kind == "B"))
    assert 0.75 < business / DEMO_SHIPMENTS < 0.95


def test_parcels_go_to_the_destination_franchise_of_their_city(demo, ctx):
    homes = {fid: HOME_DISTRICTS[code] for code, fid in demo_ids().items()}
    rows = db.session.execute(select(Shipment.dest_franchise_id, Shipment.receiver_district_code)).all()
    cities = {divisions.city_of(d).code for d in homes.values()}
    for dest, district in rows:
        city = divisions.city_of(district).code
        if dest is None:
            assert city not in cities
        else:
            assert divisions.city_of(homes[dest]).code == city
    assert 0.1 < sum(dest is not None for dest, _ in rows) / len(rows) < 0.9


def test_demo_twice_keeps_the_data(app, demo, ctx):
    before = {model: db.session.scalar(select(func.count()).select_from(model))
              for model in (Customer, Contact, Shipment, TrackingEvent)}
    messages = []
    logins = seed_demo(app, log=messages.append)
    after = {model: db.session.scalar(select(func.count()).select_from(model))
             for model in (Customer, Contact, Shipment, TrackingEvent)}
    assert before == after
    assert logins == demo[0] and "kept" in messages[0]


def test_the_same_seed_gives_the_same_data(app):
    sites = [seeding.Site(1, "X1", "杭州余杭加盟商", "330110"), seeding.Site(2, "X2", "北京朝阳加盟商", "110105")]
    now = utcnow().replace(microsecond=0) - timedelta(days=3)

    def rows():
        plan = seeding.Plan(customers=120, shipments=900, seed=7, now=now)
        generator = seeding.Generator(plan, sites, Vault("k"), 1, 1)
        batches = list(generator.customers()) + list(generator.shipments())
        # ciphertexts carry random nonces; everything else repeats
        plain = {table: [i for i, c in enumerate(seeding.COLUMNS[table]) if not c.endswith("_enc")]
                 for table in seeding.COLUMNS}
        return [(table, [tuple(row[i] for i in plain[table]) for row in batch]) for table, batch in batches]

    with app.app_context():
        first, second = rows(), rows()
    assert first == second
    assert sum(len(batch) for table, batch in first if table == "crm_shipment") == 900


def test_identifiers_pass_their_checks():
    codes = {seeding.credit_code("310115", n * 7919) for n in range(2000)}
    assert len(codes) == 2000 and all(credit_code_problem(code) is None for code in codes)
    phones = {seeding.mobile(n, 12345) for n in range(50_000)}
    assert len(phones) == 50_000 and all(normalise_phone(p) == p for p in list(phones)[:2000])
    number = seeding.id_number("330110", date(1990, 5, 17), 42)
    assert normalise_id_number(number) == number
    assert len({seeding.waybill(n, 99) for n in range(50_000)}) == 50_000


@pytest.fixture(scope="module")
def crm(db_url, tmp_path_factory):
    env = {**os.environ, "CRM_DATABASE_URL": db_url, "CRM_EXTRA_PLUGINS": "tests.plugins.sample",
           "CRM_LOAD_ENTRYPOINTS": "0", "CRM_SECRET_KEY": "cli-secret", "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
           "CRM_INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
           "CRM_DISABLED_PLUGINS": ",".join(APP_SETTINGS["CRM_DISABLED_PLUGINS"])}
    env.pop("REDIS_URL", None)

    def run(*args):
        result = subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout

    return run


def test_crm_seed_adds_a_consistent_data_set(app, demo, crm):
    with app.app_context():
        before_customers = db.session.scalar(select(func.max(Customer.id)))
        before_shipments = db.session.scalar(select(func.max(Shipment.id)))
        franchises = db.session.scalar(select(func.count()).select_from(Franchise))
    out = crm("seed", "--customers", "300", "--shipments", "4000", "--franchises", str(franchises + 2),
              "--seed", "3")
    assert "4,000 rows" in out and "done in" in out
    with app.app_context():
        new_customers = db.session.scalars(select(Customer).where(Customer.id > before_customers)).all()
        assert len(new_customers) == 300
        fresh = select(Shipment).where(Shipment.id > before_shipments)
        new_shipments = db.session.scalars(fresh).all()
        assert len(new_shipments) == 4000
        assert db.session.scalar(select(func.count()).select_from(Franchise)) == franchises + 2  # two opened
        owners = {c.id: c.franchise_id for c in new_customers}
        assert all(owners[s.customer_id] == s.franchise_id for s in new_shipments)
        last = {}
        for event in db.session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id > before_shipments)
                                        .order_by(TrackingEvent.occurred_at)):
            last[event.shipment_id] = event.status
        assert last == {s.id: s.status for s in new_shipments}
        # a second run adds again: new ids, new waybills, new phone numbers
    crm("seed", "--customers", "50", "--shipments", "500", "--franchises", "2", "--seed", "3")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer).where(
            Customer.id > before_customers)) == 350
        duplicates = db.session.execute(select(Shipment.waybill_no).group_by(Shipment.waybill_no)
                                        .having(func.count() > 1)).all()
        assert duplicates == []
        phones = db.session.execute(select(Customer.phone_hash).group_by(Customer.phone_hash)
                                    .having(func.count() > 1)).all()
        assert phones == []
        # the app's own screens find a generated customer by phone number
        vault = Vault(ENCRYPTION_KEY)
        customer = db.session.get(Customer, before_customers + 1)
        assert customer.phone == vault.decrypt(customer.phone_enc)
