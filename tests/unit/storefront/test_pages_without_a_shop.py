"""The storefront's pages through Flask's test client, with every API at an address nothing
listens on (no fake: a real refused connection): sign-in mints a customer token the shop's
key verifies, the customer's pages need a sign-in, every POST needs the page's CSRF token,
bad input is a 4xx in words, and an API that is down is a 503 "try again" page, never a 500."""

from __future__ import annotations

import re

import pytest

from servicekit.customer_tokens import CustomerTokenVerifier, private_pem
from storefront import identity
from storefront.app import create_app
from storefront.config import StorefrontSettings
from storefront.pages.checkout import remember
from testkit.ports import free_port
from testkit.tokens import TokenIssuer


@pytest.fixture
def issuer(tmp_path, monkeypatch) -> TokenIssuer:
    """A key pair of the test's own; the storefront signs with its private key."""
    issuer = TokenIssuer.create(tmp_path)
    signing_key = tmp_path / "signing.pem"
    signing_key.write_bytes(private_pem(issuer.signer.private_key))
    monkeypatch.setenv("CUSTOMER_TOKEN_SIGNING_KEY_FILE", str(signing_key))
    monkeypatch.setenv("CUSTOMER_TOKEN_ISSUER", issuer.signer.issuer)
    monkeypatch.setenv("CUSTOMER_TOKEN_AUDIENCE", issuer.signer.audience)
    identity._signer.cache_clear()
    yield issuer
    identity._signer.cache_clear()


@pytest.fixture
def app(issuer, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = StorefrontSettings(
        secret_key="unit-secret",
        order_service_url=nowhere,
        inventory_service_url=nowhere,
        payment_service_url=nowhere,
        search_service_url=nowhere,
        api_timeout_s=2,
    )
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, name: str = "ann", next_page: str = "/"):
    form = client.get("/sign-in").text
    return client.post("/sign-in", data={"name": name, "next": next_page, "csrf_token": csrf(form)})


def session_of(app, client) -> dict:
    cookie = client.get_cookie("storefront_session")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_signing_in_mints_a_customer_token_the_shops_key_verifies(app, client, issuer):
    response = sign_in(client, "Ann Customer", next_page="/cart")
    assert response.status_code == 302 and response.headers["Location"] == "/cart"
    token = session_of(app, client)["token"]
    verifier = CustomerTokenVerifier.from_settings(issuer.settings())
    assert verifier.customer_id(token) == "Ann Customer"


def test_the_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = sign_in(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_name_that_is_not_one_is_refused_with_a_sentence(client):
    form = client.get("/sign-in").text
    response = client.post("/sign-in", data={"name": "  ", "csrf_token": csrf(form)})
    assert response.status_code == 400 and "choose a customer name" in response.text


def test_the_customers_own_pages_ask_for_a_sign_in_first(client):
    for path in ("/orders", "/checkout", "/orders/some-order"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next=")


def test_a_sign_in_only_goes_back_to_a_page_of_this_site(client):
    assert sign_in(client, next_page="https://evil.example/").headers["Location"] == "/"
    assert sign_in(client, next_page="//evil.example/").headers["Location"] == "/"


def test_a_post_without_the_pages_csrf_token_is_refused(client):
    sign_in(client)
    response = client.post("/cart/add/SKU-1", data={"quantity": "1"})
    assert response.status_code == 403 and "reload the page" in response.text


@pytest.mark.parametrize("path", ["/", "/?q=kettle", "/products/SKU-1", "/cart"])
def test_an_api_that_is_down_gives_a_try_again_page_not_a_500(client, path):
    if path == "/cart":
        sign_in(client)
        with client.session_transaction() as session:
            session["cart"] = {"SKU-1": 1}
    response = client.get(path)
    assert response.status_code == 503
    assert "Please try again in a moment" in response.text
    assert "Traceback" not in response.text


def test_the_order_pages_say_try_again_too_and_the_live_panel_keeps_polling(client):
    sign_in(client)
    assert client.get("/orders").status_code == 503
    panel = client.get("/orders/some-order/progress")
    assert panel.status_code == 200 and 'hx-trigger="every 2s"' in panel.text


def test_a_bad_price_is_a_400_in_words_before_any_api_is_asked(client):
    response = client.get("/?min_price=cheap")
    assert response.status_code == 400
    assert "must be an amount in dollars" in response.text


def test_a_checkout_attempt_already_placed_goes_to_its_order_without_ordering_again(client):
    """The second submit of a double click: the API (down here) is never asked."""
    sign_in(client)
    attempt = "6f1c1d2e-8c8f-4d55-9a59-1f0b8e3f2a10"
    with client.session_transaction() as session:
        remember(session, attempt, "order-1")
    form = client.get("/sign-in").text
    response = client.post(
        "/checkout",
        data={"attempt": attempt, "payment_method": "tok_visa", "csrf_token": csrf(form)},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/orders/order-1"


def test_an_empty_cart_cannot_be_checked_out(client):
    sign_in(client)
    form = client.get("/sign-in").text
    response = client.post(
        "/checkout",
        data={
            "attempt": "6f1c1d2e-8c8f-4d55-9a59-1f0b8e3f2a10",
            "payment_method": "tok_visa",
            "csrf_token": csrf(form),
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/cart"


def test_unknown_pages_are_a_page_in_words(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "<h1>Not Found</h1>" in response.text
