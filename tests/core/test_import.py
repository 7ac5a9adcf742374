"""Excel import of customers, contacts and shipments: templates, the dry run, the report, the write.

The jobs run for real (in-process after the commit, as without Redis); files are built with openpyxl.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask_babel import force_locale, lazy_gettext
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, or_, select

from core.audit import AuditLog
from core.extensions import db
from core.lowcode.models import CustomFieldDefinition
from core.models import Contact, Customer, Shipment
from core.models.imports import ImportFile, ImportRun
from core.privacy import search_hash
from core.tenancy import Franchise
from tests.conftest import add_user

CREDIT_1 = "91310115MA1H7G8E3W"  # valid check characters (GB 32100)
CREDIT_2 = "91310000MA1FL8XQ30"


def credit_code(seventeen: str) -> str:
    from core.models.customer import _CREDIT_ALPHABET, _CREDIT_WEIGHTS

    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(seventeen, _CREDIT_WEIGHTS))
    return seventeen + _CREDIT_ALPHABET[(31 - total % 31) % 31]


@pytest.fixture(scope="module", autouse=True)
def importers(app):
    """Account managers (their role template grants imports) in franchises A and B: amy and ben."""
    from core.tenancy import Franchise

    with app.app_context():
        for username, code in (("amy", "A"), ("ben", "B")):
            franchise = db.session.get(Franchise, app.config["TEST_IDS"][code])
            add_user(app, username, "Account Manager", franchises=[franchise])


# --- helpers -------------------------------------------------------------------------------------------

CUSTOMER_HEADER = ["Type", "Name *", "Phone", "Company name", "Unified social credit code", "District", "Tags",
                   "External ID"]


def xlsx(header, rows, title="Customers", extra_sheets=()) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for other_title, other_rows in extra_sheets:
        other = workbook.create_sheet(other_title)
        for row in other_rows:
            other.append(row)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, data: bytes, entity="customers", filename="customers.xlsx", follow_redirects=False, **form):
    return client.post("/imports/add", data={"entity": entity, "file": (io.BytesIO(data), filename), **form},
                       content_type="multipart/form-data", follow_redirects=follow_redirects)


def latest_run(app, filename=None) -> ImportRun:
    with app.app_context():
        query = select(ImportRun).order_by(ImportRun.id.desc())
        if filename:
            query = query.where(ImportRun.filename == filename)
        run = db.session.scalars(query.limit(1)).first()
        db.session.expunge(run)
        return run


def count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def report_rows(client, run_id) -> list[tuple]:
    response = client.get(f"/imports/report/{run_id}")
    assert response.status_code == 200, response.data[:300]
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    return rows[1:]


def unique_tag(prefix="t") -> str:
    unique_tag.n = getattr(unique_tag, "n", 0) + 1
    return f"{prefix}{unique_tag.n}"


@pytest.fixture
def amy(client_for):
    return client_for("amy")


# --- templates -----------------------------------------------------------------------------------------


def test_template_has_the_columns_and_the_active_custom_fields_with_their_labels(app, amy, ids):
    with app.app_context():
        db.session.add_all([
            CustomFieldDefinition(entity="crm_customer", key="vip_level", label_zh="会员等级", label_en="VIP level",
                                  field_type="choice", choices="gold|金卡|Gold\nsilver|银卡|Silver", order=1),
            CustomFieldDefinition(entity="crm_customer", key="shop_url", label_zh="店铺网址", label_en="Shop URL",
                                  field_type="text", order=2, franchise_id=ids["B"]),
            CustomFieldDefinition(entity="crm_customer", key="retired", label_zh="停用字段", label_en="Retired",
                                  field_type="text", order=3, active=False),
        ])
        db.session.commit()
    response = amy.get("/imports/template/customers")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(response.data))
    data, guide = workbook.worksheets
    header = [c.value for c in data[1]]
    assert "名称 *" in header and "会员等级" in header
    assert "店铺网址" not in header and "停用字段" not in header  # franchise B's field, an inactive one
    example = [c.value for c in data[2]]
    assert example[header.index("会员等级")] == "gold"
    instructions = {row[0].value: row for row in guide.iter_rows(min_row=2) if row[0].value}
    assert "gold = 金卡" in instructions["会员等级"][2].value  # allowed values listed

    amy.get("/lang/en")
    english = load_workbook(io.BytesIO(amy.get("/imports/template/shipments").data)).worksheets[0]
    assert [c.value for c in english[1]][:2] == ["Waybill number *", "Carrier"]
    assert amy.get("/imports/template/nonsense").status_code == 404


# --- customers: dry run, report, write -----------------------------------------------------------------


def test_a_good_file_passes_the_dry_run_writes_nothing_then_imports_all(app, amy, ids):
    tag = unique_tag("good")
    code = credit_code("91440101MA5CXXX1A")
    rows = [["B", "广州好运商贸有限公司", "13800000001", "广州好运商贸有限公司", code, "440106", tag, "G-1"],
            ["C", "张三", "138 0000 0002", None, None, "310115", tag, None],
            [None, "李四", 13800000003, None, None, None, tag, "G-3"]]  # phone typed as a number
    before = count(app, Customer)
    page = upload(amy, xlsx(CUSTOMER_HEADER, rows), filename="good.xlsx", follow_redirects=True)
    assert page.status_code == 200
    run = latest_run(app, "good.xlsx")
    assert (run.status, run.franchise_id) == ("checked", ids["A"])
    assert (run.rows_total, run.rows_valid, run.rows_invalid, run.rows_new) == (3, 3, 0, 3)
    assert count(app, Customer) == before  # a dry run stores nothing
    status = amy.get(f"/imports/show/{run.id}").get_data(as_text=True)
    assert 'value="all"' in status and 'value="valid_only"' not in status

    assert amy.post(f"/imports/start/{run.id}", data={"mode": "all"}).status_code == 302
    run = latest_run(app, "good.xlsx")
    assert (run.status, run.rows_created, run.rows_updated) == ("done", 3, 0)
    with app.app_context():
        imported = db.session.scalars(select(Customer).where(Customer.tags == tag).order_by(Customer.id)).all()
        assert [c.kind for c in imported] == ["B", "C", "C"]
        assert {c.source for c in imported} == {"import"} and {c.franchise_id for c in imported} == {ids["A"]}
        assert imported[1].phone == "13800000002" and imported[2].phone == "13800000003"
        assert imported[0].credit_code == code
        # one summary entry in the audit log, none per customer
        entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "import",
                                                            AuditLog.record_id == str(run.id))).all()
        assert len(entries) == 1 and entries[0].username == "amy" and entries[0].changes["created"][1] == 3
        assert not db.session.scalars(select(AuditLog).where(
            AuditLog.model == "Customer", AuditLog.action == "create",
            AuditLog.record_id.in_([str(c.id) for c in imported]))).all()
        # the upload (personal data) is gone once imported; the report stays
        kinds = set(db.session.scalars(select(ImportFile.kind).where(ImportFile.run_id == run.id)))
        assert kinds == {"report"}


def test_errors_are_reported_by_row_and_column_and_nothing_is_written(app, amy):
    tag = unique_tag("bad")
    rows = [["B", "好公司", "13800000011", None, None, "440106", tag, None],
            ["C", "王五", "1234", None, None, "440106", tag, None],  # malformed phone
            ["C", "赵六", "13800000013", None, None, "999999", tag, None],  # unknown district
            ["B", "坏代码公司", None, None, "91440101MA5CXXX1AX", None, tag, None],  # wrong check character
            ["X", None, None, None, None, None, tag, None]]  # unknown type, no name
    before = count(app, Customer)
    upload(amy, xlsx(CUSTOMER_HEADER, rows), filename="bad.xlsx")
    run = latest_run(app, "bad.xlsx")
    assert (run.status, run.rows_total, run.rows_valid, run.rows_invalid) == ("checked", 5, 1, 4)
    assert count(app, Customer) == before
    problems = report_rows(amy, run.id)
    by_cell = {(row, column): (value, problem) for row, column, value, problem in problems}
    assert by_cell[(3, "Phone")][0] == "****"  # personal data is masked in the report
    with app.test_request_context("/"), force_locale("zh"):  # the report speaks the uploader's language
        assert by_cell[(3, "Phone")][1] == str(lazy_gettext("not a valid mobile or landline number"))
    assert "999999" in by_cell[(4, "District")][1]
    assert (5, "Unified social credit code") in by_cell
    assert (6, "Type") in by_cell and (6, "Name *") in by_cell
    assert all(isinstance(row, int) for row, *_rest in problems)
    # no "Import all" while rows have problems, on the page and in the back end
    page = amy.get(f"/imports/show/{run.id}").get_data(as_text=True)
    assert 'value="all"' not in page and 'value="valid_only"' in page
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    assert latest_run(app, "bad.xlsx").status == "checked" and count(app, Customer) == before


def test_import_valid_rows_only_writes_exactly_the_valid_rows(app, amy):
    tag = unique_tag("half")
    rows = [["C", "甲", "13800000021", None, None, None, tag, None],
            ["C", "乙", "not a phone", None, None, None, tag, None],
            ["C", "丙", "13800000023", None, None, None, tag, None]]
    upload(amy, xlsx(CUSTOMER_HEADER, rows), filename="half.xlsx")
    run = latest_run(app, "half.xlsx")
    assert (run.rows_valid, run.rows_invalid) == (2, 1)
    amy.post(f"/imports/start/{run.id}", data={"mode": "valid_only"})
    run = latest_run(app, "half.xlsx")
    assert (run.status, run.rows_created, run.rows_invalid) == ("done", 2, 1)
    with app.app_context():
        names = sorted(db.session.scalars(select(Customer.name).where(Customer.tags == tag)))
    assert names == ["丙", "甲"]


def test_existing_customers_are_updated_by_credit_code_then_phone_then_external_id(app, amy, ids):
    code = credit_code("91310000MA1FL8XQ3")
    with app.app_context():
        by_code = Customer(franchise_id=ids["A"], kind="B", name="旧名称公司", credit_code=code)
        by_phone = Customer(franchise_id=ids["A"], kind="C", name="老王")
        by_phone.phone = "13900000031"
        by_external = Customer(franchise_id=ids["A"], kind="C", name="老李", external_id="EXT-31")
        elsewhere = Customer(franchise_id=ids["B"], kind="B", name="B的公司", credit_code=code)
        db.session.add_all([by_code, by_phone, by_external, elsewhere])
        db.session.commit()
        code_id, phone_id, external_id, elsewhere_id = by_code.id, by_phone.id, by_external.id, elsewhere.id
    tag = unique_tag("match")
    rows = [[None, "新名称公司", None, None, code, None, tag, None],
            [None, None, "+86 139 0000 0031", None, None, None, tag, None],  # same phone, other spelling
            [None, None, None, None, None, "310115", tag, "EXT-31"]]
    before = count(app, Customer)
    upload(amy, xlsx(CUSTOMER_HEADER, rows), filename="match.xlsx")
    run = latest_run(app, "match.xlsx")
    assert (run.status, run.rows_valid, run.rows_matched, run.rows_new) == ("checked", 3, 3, 0), run.error
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    run = latest_run(app, "match.xlsx")
    assert (run.status, run.rows_created, run.rows_updated) == ("done", 0, 3)
    assert count(app, Customer) == before
    with app.app_context():
        updated = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.tags == tag))}
        assert set(updated) == {code_id, phone_id, external_id}
        assert updated[code_id].name == "新名称公司"
        assert updated[phone_id].name == "老王"  # an empty cell keeps the stored value
        assert updated[external_id].district_code == "310115"
        assert db.session.get(Customer, elsewhere_id).name == "B的公司"  # another franchise is never matched
        # one summary entry for the import: no entry per row, nor one per UPDATE statement
        assert not db.session.scalars(select(AuditLog).where(
            AuditLog.model == "Customer", or_(AuditLog.action == "bulk_update",
                                              (AuditLog.action == "update") & (AuditLog.record_id == str(code_id))))
        ).all()


def test_duplicate_keys_inside_the_file_are_errors(app, amy):
    tag = unique_tag("dup")
    rows = [["C", "一", "13800000041", None, None, None, tag, "D-1"],
            ["C", "二", "13800000041", None, None, None, tag, None],
            ["C", "三", None, None, None, None, tag, "D-1"]]
    upload(amy, xlsx(CUSTOMER_HEADER, rows), filename="dup.xlsx")
    run = latest_run(app, "dup.xlsx")
    assert (run.rows_valid, run.rows_invalid) == (1, 2)
    problems = {(row, column): problem for row, column, _value, problem in report_rows(amy, run.id)}
    assert "2" in problems[(3, "Phone")] and "2" in problems[(4, "External ID")]


def test_custom_field_values_are_checked_and_stored(app, amy):
    tag = unique_tag("cf")
    header = CUSTOMER_HEADER + ["VIP level"]
    rows = [["C", "金卡客户", None, None, None, None, tag, None, "Gold"],  # an English label is understood
            ["C", "错卡客户", None, None, None, None, tag, None, "platinum"]]
    upload(amy, xlsx(header, rows), filename="cf.xlsx")
    run = latest_run(app, "cf.xlsx")
    assert (run.rows_valid, run.rows_invalid) == (1, 1)
    assert run.preview[0][:2] == [3, "VIP level"] and "gold" in run.preview[0][3]
    amy.post(f"/imports/start/{run.id}", data={"mode": "valid_only"})
    with app.app_context():
        stored = db.session.scalars(select(Customer).where(Customer.tags == tag)).one()
        assert stored.custom == {"vip_level": "gold"}


# --- bad files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, expected", [
    ("notes.xlsx", b"name,phone\n\xe5\xbc\xa0\xe4\xb8\x89,138\n", "is not an Excel workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "Excel 97-2003"),
    ("wrong-sheet.xlsx", xlsx(["Product", "Price"], [["pen", 2]], title="Price list"),
     "No sheet of wrong-sheet.xlsx has the columns"),
    ("no-name.xlsx", xlsx(["Type", "Phone"], [["C", "13800000051"]]), "lacks the required column(s): Name"),
    ("shipments.xlsx", xlsx(["Waybill number", "Fee (CNY)"], [["YD00000000051", 5]], title="Shipments"),
     "holds Shipments, not Customers"),
    ("empty.xlsx", xlsx(CUSTOMER_HEADER, []), "has no rows to import"),
])
def test_bad_files_get_one_clear_message_naming_the_file(app, amy, name, data, expected):
    amy.get("/lang/en")
    before = count(app, Customer)
    upload(amy, data, filename=name)
    run = latest_run(app, name)
    assert run.status == "failed"
    assert expected in run.error and (name in run.error or "Sheet" in run.error)
    assert count(app, Customer) == before
    page = amy.get(f"/imports/show/{run.id}").get_data(as_text=True)
    assert 'id="import-error"' in page and 'value="all"' not in page


def test_an_oversize_file_is_refused_at_upload(app, amy):
    amy.get("/lang/en")
    app.config["CRM_IMPORT_MAX_BYTES"] = 2000
    try:
        runs_before = count(app, ImportRun)
        page = upload(amy, xlsx(CUSTOMER_HEADER, [["C", "x" * 10, None, None, None, None, "big", None]] * 50),
                      filename="big.xlsx", follow_redirects=True).get_data(as_text=True)
    finally:
        app.config.pop("CRM_IMPORT_MAX_BYTES")
    assert "big.xlsx is larger than 2 KB, the limit for imports." in page
    assert count(app, ImportRun) == runs_before


def test_the_example_row_of_the_template_is_skipped(app, amy):
    template = load_workbook(io.BytesIO(amy.get("/imports/template/customers").data))
    sheet = template.worksheets[0]
    sheet.append(["C", "模板之后的客户"])
    buffer = io.BytesIO()
    template.save(buffer)
    upload(amy, buffer.getvalue(), filename="from-template.xlsx")
    run = latest_run(app, "from-template.xlsx")
    assert (run.status, run.rows_total, run.rows_valid) == ("checked", 1, 1)


# --- who sees what -------------------------------------------------------------------------------------


def test_another_franchise_cannot_see_start_or_download_an_import(app, amy, client_for, api_headers, ids):
    upload(amy, xlsx(CUSTOMER_HEADER, [["C", "隐私客户", "13800000061", None, None, None, "p", None]]),
           filename="private.xlsx")
    run = latest_run(app, "private.xlsx")
    bob = client_for("ben")
    assert bob.get(f"/imports/show/{run.id}").status_code == 404
    assert bob.get(f"/imports/report/{run.id}").status_code == 404
    assert bob.post(f"/imports/start/{run.id}", data={"mode": "all"}).status_code == 404
    assert "private.xlsx" not in bob.get("/imports/list/").get_data(as_text=True)
    assert "private.xlsx" in amy.get("/imports/list/").get_data(as_text=True)
    headers = api_headers("ben")
    assert app.test_client().get(f"/api/v1/import/{run.id}", headers=headers).status_code == 404
    assert app.test_client().post(f"/api/v1/import/{run.id}/start", json={"mode": "all"},
                                  headers=headers).status_code == 404
    assert latest_run(app, "private.xlsx").status == "checked"
    # nor can bob import into amy's franchise
    runs_before = count(app, ImportRun)
    page = upload(bob, xlsx(CUSTOMER_HEADER, [["C", "闯入者", None, None, None, None, "x", None]]),
                  filename="intrude.xlsx", franchise_id=str(ids["A"]), follow_redirects=True)
    assert page.status_code == 200 and count(app, ImportRun) == runs_before


def test_a_retried_job_does_not_import_twice(app, amy):
    from core.importing.runner import run_import

    tag = unique_tag("retry")
    upload(amy, xlsx(CUSTOMER_HEADER, [["C", "重试", "13800000071", None, None, None, tag, None]]),
           filename="retry.xlsx")
    run = latest_run(app, "retry.xlsx")
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    with app.app_context():
        assert run_import(run.id, "write") is None and run_import(run.id, "check") is None
    assert count(app, Customer, tags=tag) == 1
    assert amy.post(f"/imports/start/{run.id}", data={"mode": "all"}).status_code == 302
    assert count(app, Customer, tags=tag) == 1


def test_the_api_uploads_reports_and_starts(app, api_headers):
    headers = api_headers("amy")
    client = app.test_client()
    tag = unique_tag("api")
    data = xlsx(CUSTOMER_HEADER, [["C", "接口客户", "13800000081", None, None, None, tag, None],
                                  ["C", "坏电话", "12", None, None, None, tag, None]])
    created = client.post("/api/v1/import/", headers=headers, content_type="multipart/form-data",
                          data={"entity": "customers", "file": (io.BytesIO(data), "api.xlsx")})
    assert created.status_code == 201, created.json
    run_id = created.json["id"]
    status = client.get(f"/api/v1/import/{run_id}", headers=headers).json["result"]
    assert status["status"] == "checked" and status["rows"]["invalid"] == 1
    assert status["problems"][0]["row"] == 3 and "*" in status["problems"][0]["value"]  # masked phone
    assert client.post(f"/api/v1/import/{run_id}/start", json={"mode": "all"}, headers=headers).status_code == 422
    started = client.post(f"/api/v1/import/{run_id}/start", json={"mode": "valid_only"}, headers=headers)
    assert started.status_code == 202 and started.json["result"]["rows"]["created"] == 1
    report = client.get(f"/api/v1/import/{run_id}/report", headers=headers)
    assert report.status_code == 200 and report.data[:2] == b"PK"
    spec = client.get("/api/v1/_openapi", headers=headers)
    assert spec.status_code == 200 and "/api/v1/import/{pk}/start" in spec.json["paths"]
    refused = client.post("/api/v1/import/", headers=headers, content_type="multipart/form-data",
                          data={"entity": "nonsense", "file": (io.BytesIO(data), "api.xlsx")})
    assert refused.status_code == 422


# --- contacts and shipments ----------------------------------------------------------------------------


def test_contacts_attach_to_customers_found_by_credit_code_phone_or_external_id(app, amy, ids):
    code = credit_code("91330100MA2AXXX7B")
    with app.app_context():
        company = Customer(franchise_id=ids["A"], kind="B", name="联系人公司", credit_code=code, external_id="C-91")
        db.session.add(company)
        db.session.commit()
        company_id = company.id
    header = ["Customer (credit code, phone or external ID)", "Name", "Phone", "E-mail", "Primary contact"]
    rows = [[code, "周采购", "13700000091", "zhou@example.com", "是"],
            ["C-91", "吴财务", None, None, "no"],
            ["NO-SUCH", "郑某", None, None, None],
            [code, "钱某", None, "not-an-email", None]]
    upload(amy, xlsx(header, rows, title="Contacts"), entity="contacts", filename="contacts.xlsx")
    run = latest_run(app, "contacts.xlsx")
    assert (run.status, run.rows_valid, run.rows_invalid) == ("checked", 2, 2)
    problems = {(p[0], p[1]) for p in run.preview}
    assert (4, header[0]) in problems and (5, "E-mail") in problems
    amy.post(f"/imports/start/{run.id}", data={"mode": "valid_only"})
    with app.app_context():
        contacts = db.session.scalars(select(Contact).where(Contact.customer_id == company_id)
                                      .order_by(Contact.id)).all()
        assert [(c.name, c.is_primary) for c in contacts] == [("周采购", True), ("吴财务", False)]
        assert contacts[0].phone_hash == search_hash("phone", "13700000091")


SHIPMENT_HEADER = ["Waybill number", "Customer (credit code, phone or external ID)", "Weight (kg)", "Fee (CNY)",
                   "Receiver phone", "Receiver district", "Shipped at"]


def test_shipments_with_stored_or_repeated_waybills_or_future_dates_are_refused(app, amy, ids):
    with app.app_context():
        db.session.add(Shipment(franchise_id=ids["A"], waybill_no="YD0000000101", created_at=dt.datetime(2024, 1, 1)))
        db.session.commit()
    future = dt.datetime.now() + dt.timedelta(days=3)
    rows = [["YD0000000102", None, 1.5, 12, "13600000101", "440106", dt.datetime(2024, 3, 1, 9, 30)],
            ["YD0000000101", None, 1, 8, None, None, "2024-03-01 10:00"],   # already stored
            ["yd0000000102", None, 2, 9, None, None, "2024-03-01"],         # repeats row 2
            ["YD0000000104", None, 2, 9, None, None, future],               # in the future
            ["YD0000000105", None, -1, 9, None, "000000", "yesterday"]]     # negative, bad district and date
    before = count(app, Shipment)
    upload(amy, xlsx(SHIPMENT_HEADER, rows, title="Shipments"), entity="shipments", filename="ships.xlsx")
    run = latest_run(app, "ships.xlsx")
    assert (run.status, run.rows_valid, run.rows_invalid) == ("checked", 1, 4)
    problems = {(row, column): problem for row, column, _v, problem in report_rows(amy, run.id)}
    assert "YD0000000101" in problems[(3, "Waybill number")]
    assert "2" in problems[(4, "Waybill number")]
    assert (5, "Shipped at") in problems
    assert {(6, "Weight (kg)"), (6, "Receiver district"), (6, "Shipped at")} <= set(problems)
    assert count(app, Shipment) == before
    amy.post(f"/imports/start/{run.id}", data={"mode": "valid_only"})
    with app.app_context():
        stored = db.session.scalars(select(Shipment).where(Shipment.waybill_no == "YD0000000102")).one()
        assert stored.created_at == dt.datetime(2024, 3, 1, 9, 30) and stored.receiver_phone == "13600000101"
        assert stored.franchise_id == ids["A"]
    assert count(app, Shipment) == before + 1


def test_a_waybill_stored_between_dry_run_and_import_makes_import_all_store_nothing(app, amy, ids):
    rows = [["YD0000000201", None, 1, 5, None, None, "2024-03-01"],
            ["YD0000000202", None, 1, 5, None, None, "2024-03-01"]]
    upload(amy, xlsx(SHIPMENT_HEADER, rows, title="Shipments"), entity="shipments", filename="race.xlsx")
    run = latest_run(app, "race.xlsx")
    assert run.may_import_all
    with app.app_context():
        db.session.add(Shipment(franchise_id=ids["B"], waybill_no="YD0000000202", created_at=dt.datetime(2024, 1, 1)))
        db.session.commit()
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    run = latest_run(app, "race.xlsx")
    assert run.status == "failed" and "1" in run.error
    assert count(app, Shipment, waybill_no="YD0000000201") == 0


def test_account_managers_are_named_by_user_name_and_must_work_in_the_franchise(app, amy, ids):
    with app.app_context():
        add_user(app, "am_a", "Account Manager", franchises=[db.session.get(Franchise, ids["A"])])
        add_user(app, "am_b", "Account Manager", franchises=[db.session.get(Franchise, ids["B"])])
    tag = unique_tag("am")
    header = ["Name", "Account manager", "Tags"]
    rows = [["有经理的客户", "am_a", tag], ["别家经理的客户", "am_b", tag], ["查无此人的客户", "nobody_here", tag]]
    upload(amy, xlsx(header, rows), filename="managers.xlsx")
    run = latest_run(app, "managers.xlsx")
    assert (run.rows_valid, run.rows_invalid) == (1, 2)
    assert [(p[0], p[1]) for p in run.preview] == [(3, "Account manager"), (4, "Account manager")]
    amy.post(f"/imports/start/{run.id}", data={"mode": "valid_only"})
    with app.app_context():
        stored = db.session.scalars(select(Customer).where(Customer.tags == tag)).one()
        assert stored.account_manager.username == "am_a"


def test_checking_and_writing_cost_a_few_queries_per_batch_not_one_per_row(app, ids):
    from sqlalchemy import event

    from core.importing.runner import BATCH, ImportPass
    from core.tenancy import Scope, scope_as

    def statements_for(rows: int, write: bool) -> int:
        tag = unique_tag("q")
        data = xlsx(CUSTOMER_HEADER, [["C", f"客户{i}", f"135{i:08d}", None, None, "310115", tag, f"{tag}-{i}"]
                                      for i in range(rows)])
        with app.app_context():
            run = ImportRun(franchise_id=ids["A"], entity="customers", filename="q.xlsx", status="checking",
                            mode="all", created_at=dt.datetime(2024, 1, 1))
            db.session.add(run)
            db.session.commit()
            seen = []
            # SQLite has no round trips and no ordered multi-row RETURNING: there the rows go in one by one
            in_process = db.engine.dialect.name == "sqlite"

            def listener(conn, cursor, statement, *args):
                if not (in_process and statement.startswith("INSERT INTO crm_customer ")):
                    seen.append(statement)

            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                with scope_as(Scope(False, frozenset({ids["A"]}))):
                    outcome = ImportPass(run, io.BytesIO(data), write=write).process()
                    outcome.close()
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
                db.session.rollback()
            assert outcome.valid == rows
            return len(seen)

    for write in (False, True):
        small, large = statements_for(BATCH // 2, write), statements_for(BATCH * 3, write)
        assert large - small < 30, (write, small, large)  # a handful per batch, never one per row


def test_imported_customers_are_queued_for_the_duplicate_scan(app, amy):
    pytest.importorskip("core.dedupe")
    from core.jobs import JobOutbox

    tag = unique_tag("scan")
    upload(amy, xlsx(CUSTOMER_HEADER, [["C", "查重客户", "13800000111", None, None, None, tag, None]]),
           filename="scan.xlsx")
    run = latest_run(app, "scan.xlsx")
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    with app.app_context():
        customer_id = db.session.scalars(select(Customer.id).where(Customer.tags == tag)).one()
        jobs = db.session.scalars(select(JobOutbox).where(JobOutbox.func == "core.dedupe:scan_customers")).all()
        assert any(job.kwargs.get("customer_ids") == [customer_id] for job in jobs)


def test_a_contact_with_the_same_phone_is_updated_not_added_again(app, amy, ids):
    code = credit_code("91330100MA2AXXX8C")
    with app.app_context():
        company = Customer(franchise_id=ids["A"], kind="B", name="回头公司", credit_code=code)
        db.session.add(company)
        db.session.flush()
        contact = Contact(franchise_id=ids["A"], customer_id=company.id, name="孙经理", title="经理")
        contact.phone = "13700000121"
        db.session.add(contact)
        db.session.commit()
        company_id = company.id
    header = ["Customer (credit code, phone or external ID)", "Name", "Phone", "Job title"]
    upload(amy, xlsx(header, [[code, None, "137 0000 0121", "总经理"]], title="Contacts"), entity="contacts",
           filename="contact-again.xlsx")
    run = latest_run(app, "contact-again.xlsx")
    assert (run.rows_valid, run.rows_matched) == (1, 1), run.preview
    amy.post(f"/imports/start/{run.id}", data={"mode": "all"})
    with app.app_context():
        contacts = db.session.scalars(select(Contact).where(Contact.customer_id == company_id)).all()
        assert [(c.name, c.title) for c in contacts] == [("孙经理", "总经理")]


def test_agents_do_not_import_and_the_imports_menu_is_under_customers(client_for, amy):
    assert client_for("alice").get("/imports/add").status_code == 403
    home = amy.get("/").get_data(as_text=True)
    assert "/imports/list/" in home


def test_the_upload_page_offers_entities_templates_and_the_franchises_of_the_user(client_for, amy):
    page = amy.get("/imports/add").get_data(as_text=True)
    assert 'name="file"' in page and 'value="shipments"' in page and "/imports/template/contacts" in page
    assert 'name="franchise_id"' not in page  # one franchise: nothing to choose
    hq_page = client_for("hq").get("/imports/add").get_data(as_text=True)
    assert 'name="franchise_id"' in hq_page and "Franchise B" in hq_page


def test_checking_shipments_looks_waybills_up_per_batch(app, ids):
    from sqlalchemy import event

    from core.importing.runner import BATCH, ImportPass
    from core.tenancy import Scope, scope_as

    def statements_for(rows: int) -> int:
        prefix = unique_tag("Q").upper()
        data = xlsx(SHIPMENT_HEADER, [[f"{prefix}X{i:09d}", None, 1, 5, None, None, "2024-03-01"]
                                      for i in range(rows)], title="Shipments")
        with app.app_context():
            run = ImportRun(franchise_id=ids["A"], entity="shipments", filename="q.xlsx", status="checking",
                            mode="check", created_at=dt.datetime(2024, 1, 1))
            db.session.add(run)
            db.session.commit()
            seen = []
            listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                with scope_as(Scope(False, frozenset({ids["A"]}))):
                    outcome = ImportPass(run, io.BytesIO(data), write=False).process()
                    outcome.close()
                    assert outcome.valid == rows
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
                db.session.rollback()
            return len(seen)

    assert statements_for(BATCH * 3) - statements_for(BATCH // 2) < 30


def test_the_reader_takes_prefixed_xml_inline_strings_and_sparse_cells(app):
    """What other writers produce: .NET's prefixed tags, inline strings, rows and cells left out."""
    import zipfile

    from core.importing.reader import Workbook as Reader

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    sheet = (f'<x:worksheet xmlns:x="{main}"><x:sheetData>'
             '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Name</x:t></x:is></x:c>'
             '<x:c r="C1" t="inlineStr"><x:is><x:t>Phone</x:t></x:is></x:c></x:row>'
             '<x:row r="4"><x:c r="A4" t="inlineStr"><x:is><x:r><x:t>张</x:t></x:r><x:r><x:t>三</x:t></x:r></x:is></x:c>'
             '<x:c r="C4"><x:v>13800000131</x:v></x:c></x:row>'
             '</x:sheetData></x:worksheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{pkg}"><Relationship Id="r1" '
                                        f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<x:workbook xmlns:x="{main}" xmlns:r="{rel}"><x:sheets>'
                                            '<x:sheet name="客户" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
                                                       f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
                                                       '</Relationships>')
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    buffer.seek(0)
    with app.app_context():
        workbook = Reader(buffer, "net.xlsx")
        assert [s.name for s in workbook.sheets] == ["客户"]
        assert list(workbook.rows(workbook.sheets[0])) == [(1, {0: "Name", 2: "Phone"}), (4, {0: "张三", 2: 13800000131})]


def test_old_uploads_and_reports_are_purged_per_franchise_and_the_runs_stay(app, amy, ids):
    from core.importing.runner import purge_files

    upload(amy, xlsx(CUSTOMER_HEADER, [["C", "旧文件", None, None, None, None, "old", None]]), filename="old.xlsx")
    run = latest_run(app, "old.xlsx")
    with app.app_context():
        db.session.get(ImportRun, run.id).created_at = dt.datetime(2020, 1, 1)
        db.session.commit()
        assert purge_files(ids["B"]) == 0  # another franchise's purge leaves it
        assert purge_files(ids["A"]) > 0
        assert not db.session.scalars(select(ImportFile.id).where(ImportFile.run_id == run.id)).all()
        assert db.session.get(ImportRun, run.id) is not None
