"""The console's login and CSRF protection, through Flask's test client: no page is served
without the admin token, and no action without the page's token. (No server is needed: the
pages behind the login are never reached here.)"""

from __future__ import annotations

import re

import pytest

from console.app import create_app
from console.config import ConsoleSettings

TOKEN = "unit-admin-token"


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = create_app(ConsoleSettings(admin_token=TOKEN))
    return app.test_client()


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, token: str = TOKEN, **extra):
    form = client.get("/login").text
    data = {"operator": "ann", "token": token, "csrf_token": csrf(form), **extra}
    return client.post("/login", data=data)


def test_pages_redirect_to_the_login_form_keeping_where_they_were_going(client):
    response = client.get("/sagas?state=RUNNING")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/sagas?state%3DRUNNING"
    assert log_in(client, next="/sagas?state=RUNNING").headers["Location"] == "/sagas?state=RUNNING"


def test_htmx_requests_without_a_session_are_told_where_to_log_in(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")


def test_the_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = log_in(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_wrong_token_or_no_name_is_refused(client):
    assert log_in(client, token="guess").status_code == 401
    form = client.get("/login").text
    nameless = client.post(
        "/login", data={"operator": " ", "token": TOKEN, "csrf_token": csrf(form)}
    )
    assert nameless.status_code == 400
    assert client.get("/sagas").status_code == 302, "still not logged in"


def test_a_post_without_the_csrf_token_is_refused_even_the_login(client):
    assert client.post("/login", data={"operator": "ann", "token": TOKEN}).status_code == 403
    log_in(client)
    assert client.post("/sagas/retry-matching", data={"state": "RUNNING"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403


def test_logging_in_rotates_the_csrf_token(client):
    before = csrf(client.get("/login").text)
    log_in(client)
    assert client.post("/logout", data={"csrf_token": before}).status_code == 403


def test_the_login_never_redirects_to_another_site(client):
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        client.post("/logout", data={"csrf_token": csrf(client.get("/login").text)})
        assert log_in(client, next=target).headers["Location"] == "/"


def test_only_the_locked_browser_assets_are_served(client):
    htmx = client.get("/assets/htmx.min.js")
    assert htmx.status_code == 200 and b"htmx" in htmx.data, "served before the login too"
    assert client.get("/assets/package.json").status_code == 404
    log_in(client)
    assert client.get("/assets/..%2Fpackage.json").status_code == 404


def test_pages_say_what_they_may_load_and_are_not_cached(client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
