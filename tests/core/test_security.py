"""Sign-in is rate limited on the form and the API; forms need CSRF tokens; cookies are safe by default."""

import re

import pytest

from core.app import create_app
from core.cli import init_database
from tests.conftest import PASSWORD, add_user, settings_for_tests


@pytest.fixture(scope="module")
def strict_app(db_url, tmp_path_factory):
    app = create_app(settings_for_tests(db_url, tmp_path_factory.mktemp("instance"), AUTH_RATE_LIMIT="3 per minute",
                                        WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=True))
    init_database(app)
    with app.app_context():
        add_user(app, "carol", "Frontline Agent")
    return app


def csrf_token(client) -> str:
    page = client.get("/login/").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_login_form_answers_429_after_repeated_wrong_passwords(strict_app):
    client = strict_app.test_client()
    token = csrf_token(client)
    form = {"username": "carol", "password": "wrong", "csrf_token": token}
    codes = [client.post("/login/", data=form).status_code for _ in range(5)]
    assert codes[:3] == [302, 302, 302] and codes[-1] == 429


def test_api_login_answers_429_after_repeated_wrong_passwords(strict_app):
    client = strict_app.test_client()
    body = {"username": "carol", "password": "wrong", "provider": "db"}
    codes = [client.post("/api/v1/security/login", json=body).status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[-1] == 429


def test_form_posts_without_csrf_token_are_refused(strict_app):
    client = strict_app.test_client()
    response = client.post("/login/", data={"username": "carol", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    # without a token the login does not happen: the form is shown again
    assert response.status_code in (200, 400)
    assert client.get("/franchiseview/list/").status_code in (302, 401, 403)


def test_session_cookie_is_secure_httponly_and_samesite(strict_app):
    client = strict_app.test_client()
    page = client.get("/login/", base_url="https://localhost")
    cookie = page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_chinese_is_the_default_language_and_english_selectable(strict_app):
    client = strict_app.test_client()
    assert "登录" in client.get("/login/").get_data(as_text=True)
    client.get("/lang/en")
    assert "Login" in client.get("/login/").get_data(as_text=True)


def test_openapi_and_swagger_ui_are_served_without_cdn(app, client_for):
    hq = client_for("hq")
    swagger = hq.get("/swagger/v1").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in swagger
    assert "cdn" not in swagger.lower() and "https://" not in swagger.split("<body")[0]
    assert hq.get("/static/appbuilder/js/swagger-ui-bundle.js").status_code == 200
    dashboard = hq.get("/").get_data(as_text=True)
    assert "/crm-static/vendor/echarts/echarts.min.js" in dashboard
    assert hq.get("/crm-static/vendor/echarts/echarts.min.js").status_code == 200


def test_a_permission_granted_or_taken_applies_at_once_despite_the_permission_cache(app, client_for):
    agent = client_for("alice")
    assert agent.get("/auditlogview/list/").status_code in (302, 403)  # agents do not read the audit log
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Frontline Agent")
        permission = sm.find_permission_view_menu("can_list", "AuditLogView")
        sm.add_permission_role(role, permission)
    try:
        assert agent.get("/auditlogview/list/").status_code == 200
    finally:
        with app.app_context():
            sm.del_permission_role(sm.find_role("Frontline Agent"), sm.find_permission_view_menu("can_list", "AuditLogView"))
    assert agent.get("/auditlogview/list/").status_code in (302, 403)
