"""The home page shows widgets from core and active plugins, computed for the viewer's franchises."""

import re

import pytest

from core.extensions import db
from core.jobs import JobOutbox
from core.plugins import set_activation
from tests.plugins.sample import SampleNote


@pytest.fixture(scope="module", autouse=True)
def notes_in_a_and_b(app):
    with app.app_context():
        ids = app.config["TEST_IDS"]
        set_activation("sample", enabled=True, franchise_id=ids["A"])
        db.session.add_all([SampleNote(title=f"a{i}", franchise_id=ids["A"]) for i in range(3)]
                           + [SampleNote(title=f"b{i}", franchise_id=ids["B"]) for i in range(5)]
                           + [JobOutbox(func="x:y", status="finished", franchise_id=ids["A"])])
        db.session.commit()


def widget_value(page: str, key: str) -> str:
    match = re.search(rf'data-widget="{re.escape(key)}">.*?<span style="font-size: 2.4em">(.*?)</span>', page, re.S)
    return match and match.group(1)


def test_hq_sees_every_franchise_in_core_and_plugin_widgets(client_for):
    page = client_for("hq").get("/").get_data(as_text=True)
    assert widget_value(page, "core.franchises") == "2"
    # the plugin is active in A only: its widget counts A's notes, even for HQ
    assert widget_value(page, "sample.notes") == "3"
    assert "/crm-static/vendor/echarts/echarts.min.js" in page and 'class="crm-chart"' in page


def test_agent_sees_own_franchise_figures(client_for):
    page = client_for("alice").get("/").get_data(as_text=True)
    assert widget_value(page, "core.franchises") == "1"
    assert widget_value(page, "sample.notes") == "3"


def test_widgets_of_an_inactive_plugin_are_absent(client_for):
    page = client_for("bob").get("/").get_data(as_text=True)
    assert widget_value(page, "core.franchises") == "1"
    assert 'data-widget="sample.notes"' not in page


def test_job_chart_is_replaced_by_a_zero_when_there_are_no_jobs(client_for):
    page = client_for("bob").get("/").get_data(as_text=True)  # B has no jobs
    assert widget_value(page, "core.jobs") == "0" and 'class="crm-chart"' not in page


def test_user_without_assignment_is_told_so(client_for):
    page = client_for("nobody").get("/").get_data(as_text=True)
    assert "data-widget" not in page and 'class="alert alert-info"' in page


def test_anonymous_visitor_is_sent_to_login(app):
    response = app.test_client().get("/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
