"""The operator console in a real headless browser (Debian's chromium through Playwright)
against a whole running shop: an operator logs in, follows a checkout from its order to its
trace waterfall, retries a parked saga and redrives a dead letter, all from the pages.

Every page visited is saved as a screenshot under this run's pytest folder
(`<basetemp>/console-screenshots/`, or CONSOLE_SCREENSHOTS when set).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from contracts import orders as order_messages
from contracts import payment as payment_messages
from eventing import topics
from eventing.kafka_offsets import end_offsets, group_lag
from eventing.kafka_reading import read_range
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for, registry
from order_service import orm as order_orm
from shopctl import dead_letters
from testkit.conditions import wait_for
from testkit.console import RunningConsole, chromium_path, start_console
from testkit.search import Indexer
from testkit.shop import Shop, ShopOptions, run_shop
from testkit.storefront import (
    cancel,
    create_product,
    order,
    place_order,
    product,
    wait_terminal,
)

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

OTLP = os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4317")
JAEGER = os.environ.get("JAEGER_QUERY_URL", "http://127.0.0.1:16686")
CHECKOUT_SERVICES = ("order-service", "checkout-saga", "inventory-service", "payment-service")
CHECKOUT_STEPS = ["reserve_stock", "authorize_payment", "capture_payment", "commit_stock"]
CHECKOUT_STEPS.append("approve_order")
OPERATOR = "Ada Operator"
#: A loaded 2-core machine: generous bounds, always on a condition.
SLOW_MS = 120_000


TRACED = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    options = ShopOptions(
        # Long enough that a step answered on a loaded machine never times out, short enough
        # that a compensation unanswered (its worker down) parks within a minute.
        reply_timeout_s=10,
        payment_timeout_s=6,
        retry_base_delay_s=0.2,
        extra_env={**TRACED, "SAGAS_MAX_COMPENSATION_ATTEMPTS": "3"},
    )
    with ExitStack() as stack:
        yield run_shop(stack, options)


@pytest.fixture(scope="module")
def console(shop: Shop) -> RunningConsole:
    return start_console(shop, jaeger_query_url=JAEGER)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "console-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, console, screenshots, request):
    """A fresh browser context (no session), 1280 wide; closed after the test, its last view
    saved as `last-<test>.png` (what the page showed when a test failed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    opened.screenshot(path=str(screenshots / f"last-{request.node.name}.png"), full_page=True)
    context.close()


def shoot(page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def log_in(page, console: RunningConsole, target: str = "/") -> None:
    page.goto(f"{console.url}{target}")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Your name").fill(OPERATOR)
    page.get_by_label("Admin token").fill(console.admin_token)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who span")).to_have_text(OPERATOR)


def reload_until(page, selector: str, timeout_s: float, what: str) -> None:
    """Reload until the page shows `selector` (what it shows comes from Kafka or Jaeger)."""

    def shown() -> bool:
        if page.locator(selector).count():
            return True
        page.reload()
        return page.locator(selector).count() > 0

    wait_for(shown, timeout_s, what)


# --- logging in ---------------------------------------------------------------------------


def test_every_page_asks_for_the_admin_token_and_the_session_cookie_is_httponly_and_lax(
    page, console, screenshots
):
    page.goto(f"{console.url}/sagas")
    expect(page).to_have_url(re.compile(r"/login\?next=/sagas"))
    page.get_by_label("Your name").fill(OPERATOR)
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("that is not the admin token")
    shoot(page, screenshots, "login")

    page.get_by_label("Your name").fill(OPERATOR)
    page.get_by_label("Admin token").fill(console.admin_token)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/sagas$"))
    [cookie] = [c for c in page.context.cookies() if c["name"] == "console_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_an_action_without_the_pages_csrf_token_is_refused(console, shop):
    http = requests.Session()
    login_form = http.get(f"{console.url}/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_form).group(1)
    logged_in = http.post(
        f"{console.url}/login",
        data={"operator": OPERATOR, "token": console.admin_token, "csrf_token": token},
        timeout=30,
        allow_redirects=False,
    )
    assert logged_in.status_code == 302
    forged = http.post(
        f"{console.url}/sagas/{uuid.uuid4()}/retry", data={}, timeout=30, allow_redirects=False
    )
    assert forged.status_code == 403
    stale = http.post(
        f"{console.url}/sagas/{uuid.uuid4()}/retry",
        data={"csrf_token": token},  # the token from before the login: rotated since
        timeout=30,
        allow_redirects=False,
    )
    assert stale.status_code == 403


# --- following a checkout -----------------------------------------------------------------


def test_an_operator_follows_a_checkout_from_its_order_to_its_trace_waterfall(
    page, console, shop, screenshots
):
    sku = create_product(shop, stock=5)
    order_id = place_order(shop, [(sku, 2)])
    assert wait_terminal(shop, [order_id], timeout_s=120)[order_id]["status"] == "APPROVED"

    log_in(page, console)
    expect(page.locator("[data-testid=parts] tr[data-part='order-service'] .badge")).to_have_text(
        "up"
    )
    shoot(page, screenshots, "overview")

    page.get_by_role("link", name="Orders", exact=True).click()
    page.get_by_label("Order id or customer").fill(order_id)
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}$"))
    expect(page.locator("[data-testid=order-facts] .badge")).to_have_text("APPROVED")
    expect(page.locator("[data-testid=payments]")).to_contain_text("CAPTURED")
    expect(page.locator("[data-testid=reservation] .badge")).to_have_text("COMMITTED")
    held = page.locator("[data-testid=reservation-items]")
    expect(held).to_have_text(f"2 \N{MULTIPLICATION SIGN} {sku}")
    steps = page.locator("[data-testid=saga-checkout] [data-testid=steps] li")
    expect(steps).to_have_count(5)
    assert [steps.nth(i).get_attribute("data-step") for i in range(5)] == CHECKOUT_STEPS
    done = page.locator("[data-testid=saga-checkout] [data-testid=steps] li[data-phase='done']")
    expect(done).to_have_count(5)

    # The trace link appears once Jaeger holds the saga's spans (exported in batches).
    reload_until(page, "[data-testid=trace-link]", 90, "Jaeger never showed the checkout")
    shoot(page, screenshots, "order")
    page.locator("[data-testid=trace-link]").click()
    expect(page.locator("[data-testid=waterfall]")).to_be_visible()
    legend = "[data-testid=services] [data-service='{}']"
    for service in CHECKOUT_SERVICES:
        reload_until(page, legend.format(service), 60, f"no span of {service} in the trace")
    assert page.locator(".waterfall details.critical").count() >= 2, "a critical path is drawn"
    first_saga_span = page.locator(".waterfall details[data-service='checkout-saga']").first
    first_saga_span.locator("summary").click()
    expect(first_saga_span.locator(".span-detail")).to_contain_text(order_id)
    shoot(page, screenshots, "trace")

    page.get_by_role("link", name="Traces", exact=True).click()
    page.get_by_label("order.id").fill(order_id)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("[data-testid=trace-results] tbody tr")).to_have_count(1)
    shoot(page, screenshots, "traces")

    page.goto(f"{console.url}/sagas?order={order_id}")
    expect(page.locator("[data-testid=saga-list] tbody tr")).to_have_count(1)
    shoot(page, screenshots, "sagas")
    page.locator("[data-testid=saga-list] tbody tr a").first.click()
    expect(page.locator(".facts .badge").first).to_have_text("COMPLETED")
    shoot(page, screenshots, "saga")


# --- a parked saga --------------------------------------------------------------------------


def test_a_saga_parked_while_a_worker_was_down_is_retried_from_its_page_and_finishes(
    page, console, shop, screenshots
):
    sku = create_product(shop, stock=5)
    order_id = place_order(shop, [(sku, 2)], payment_method="tok_timeout")
    wait_for(
        lambda: any(
            s["name"] == "authorize_payment" for s in order(shop, order_id)["saga"]["steps"]
        ),
        60,
        "the saga did not reach the payment step",
    )
    shop.stop("inventory_service:worker")  # the stock release goes unanswered: parked
    try:
        wait_for(
            lambda: order(shop, order_id)["saga"]["state"] == "COMPENSATION_FAILED",
            180,
            "the release was not parked",
        )
        log_in(page, console, f"/sagas?state=COMPENSATION_FAILED&order={order_id}")
        rows = page.locator("[data-testid=saga-list] tbody tr")
        expect(rows).to_have_count(1)
        page.get_by_test_id("retry-matching").click()  # asks first, with the count
        expect(page.get_by_test_id("confirm-retry").get_by_role("button")).to_have_text(
            "Retry these 1 saga(s)"
        )
        shoot(page, screenshots, "sagas-confirm")
        page.get_by_role("link", name="cancel").click()
        rows.first.locator("a").first.click()
        expect(page.locator("[data-testid=compensations] li[data-phase='parked']")).to_have_count(1)
        expect(
            page.locator("[data-testid=compensations] li[data-phase='compensated']")
        ).to_have_count(1)  # the payment was voided; the stock release is what waits
        expect(page.locator("[data-testid=on-abort] li")).to_have_attribute("data-phase", "to come")
        shoot(page, screenshots, "saga-parked")
        page.get_by_test_id("retry").click()
        expect(page.locator(".flash.ok")).to_contain_text("retried: resent undo reserve_stock")
    finally:
        shop.start("inventory_service:worker")
    # The page refreshes itself while the saga runs; it ends once the stock is released.
    expect(page.locator(".facts .badge").first).to_have_text("ABORTED", timeout=SLOW_MS)
    expect(page.locator("[data-testid=step-log]")).to_contain_text("operator retry")
    assert product(shop, sku)["stock_reserved"] == 0
    rejected = wait_terminal(shop, [order_id], timeout_s=120)[order_id]
    assert (rejected["status"], rejected["rejection_reason"]) == ("REJECTED", "TIMEOUT")

    page.get_by_role("link", name="Audit log", exact=True).click()
    entry = page.locator("[data-testid=audit] tbody tr").filter(has_text="saga.retry").first
    expect(entry).to_contain_text(f"console:{OPERATOR}")
    shoot(page, screenshots, "audit")


# --- a dead letter --------------------------------------------------------------------------


def order_events(shop: Shop, order_id: str, event_type: str) -> int:
    """How many `event_type` events of the order `orders.orders` holds, read to its end."""
    topic = shop.kafka.qualify(topics.ORDERS)
    ends = end_offsets(shop.kafka, [topic])[topic]
    return sum(
        1
        for batch in read_range(shop.kafka, topic, {}, ends)
        for message in batch
        if message.key() == order_id.encode()
        and registry.decode(message.value()).envelope.type == event_type
    )


def commands_consumed(shop: Shop) -> bool:
    """The order service's group has read every order command written so far."""
    topic = shop.kafka.qualify(topics.ORDER_COMMANDS)
    lags = group_lag(shop.kafka, shop.kafka.qualify("order-service"))
    return all(lag.lag == 0 for lag in lags if lag.topic == topic) and any(
        lag.topic == topic for lag in lags
    )


def applied_by_order_service(shop: Shop, event_id: uuid.UUID) -> int:
    engine = sa.create_engine(shop.env["ORDER_DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inbox = order_orm.inbox
            return connection.execute(
                sa.select(sa.func.count()).where(inbox.c.event_id == event_id)
            ).scalar_one()
    finally:
        engine.dispose()


def test_a_dead_letter_redriven_from_the_page_is_applied_once(page, console, shop, screenshots):
    sku = create_product(shop, stock=5)
    order_id = place_order(shop, [(sku, 1)])
    assert wait_terminal(shop, [order_id], timeout_s=120)[order_id]["status"] == "APPROVED"
    # A cancellation's last command, sent before anyone asked to cancel: the order service
    # cannot apply it (no cancellation was requested), so it is dead-lettered.
    poison = envelope_for(order_messages.CompleteCancellation(order_id=order_id))
    KafkaPublisher(shop.kafka).publish(
        [
            OutgoingMessage(
                shop.kafka.qualify(topics.ORDER_COMMANDS), poison.key(), poison.to_bytes()
            )
        ]
    )
    dlq = shop.kafka.qualify(topics.dead_letter_topic(topics.ORDER_COMMANDS))

    def poisoned() -> list:
        return [
            letter
            for letter in dead_letters.letters(shop.kafka, dlq)
            if letter.key == order_id.encode()
        ]

    wait_for(lambda: bool(poisoned()), 120, "the command was not dead-lettered")
    [letter] = poisoned()
    # The fix: the customer asks to cancel, so completing the cancellation becomes right.
    cancelled = cancel(shop, order_id)
    assert cancelled.status_code == 202, cancelled.text

    log_in(page, console, "/dead-letters")
    expect(page.locator("[data-testid=dlq-topics]")).to_contain_text(dlq)
    shoot(page, screenshots, "dead-letters")
    page.get_by_role("link", name=dlq, exact=True).click()
    group = page.locator("[data-testid=reason-group]").filter(has_text="InvalidTransition")
    expect(group).to_have_count(1)
    at = dead_letters.position(letter)
    group.locator(f"tr[data-letter='{at}'] a").click()
    expect(page.locator("[data-testid=payload]")).to_contain_text("CompleteCancellation")
    expect(page.locator("[data-testid=headers]")).to_contain_text("dlq.error.class")
    shoot(page, screenshots, "dead-letter")
    page.go_back()
    group.locator(f"input[value='{at}']").check()
    shoot(page, screenshots, "dead-letter-topic")
    group.get_by_test_id("redrive-selected").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"redrove 1 letter(s) from {dlq}: {at}")

    wait_for(
        lambda: order(shop, order_id)["status"] == "CANCELLED", 120, "the order was not cancelled"
    )
    wait_for(
        lambda: applied_by_order_service(shop, poison.event_id) == 1,
        120,
        "the redriven letter was not applied",
    )
    # Redriven once more by mistake: the inbox knows it, nothing happens twice.
    page.locator(f"[data-testid=reason-group] input[value='{at}']").check()
    page.locator("[data-testid=reason-group]").get_by_test_id("redrive-selected").click()
    expect(page.locator(".flash.ok")).to_contain_text("redrove 1 letter(s)")
    wait_for(lambda: commands_consumed(shop), 120, "the order service did not read its commands")
    assert applied_by_order_service(shop, poison.event_id) == 1
    assert order_events(shop, order_id, "OrderCancelled") == 1


# --- search lag ---------------------------------------------------------------------------


def test_the_search_page_shows_how_long_a_product_change_took_to_reach_the_index(
    page, console, shop, screenshots
):
    indexer = Indexer(kafka=shop.kafka, extra_env=TRACED)
    indexer.start()
    try:
        sku = create_product(shop, stock=3)
        indexer.wait_for(
            lambda: [item["sku"] for item in indexer.search(q=sku)["items"]] == [sku],
            "the product was not indexed",
            120,
        )
        log_in(page, console, "/search")
        row = f"[data-testid=search-lags] tr[data-product='{sku}']"
        reload_until(page, row, 90, "the change's trace never showed the indexer's write")
        expect(page.locator(row)).to_contain_text("inventory-service: POST /products")
        expect(page.locator("[data-testid=lag-summary]")).to_contain_text("median")
        shoot(page, screenshots, "search")
    finally:
        indexer.close()


def test_a_dead_letter_discarded_from_its_page_releases_what_it_held_back(
    page, console, shop, screenshots
):
    sku = create_product(shop, stock=5)
    order_id = place_order(shop, [(sku, 1)])
    assert wait_terminal(shop, [order_id], timeout_s=120)[order_id]["status"] == "APPROVED"
    # A void sent after the capture: the payment service cannot apply it (nothing to void), so
    # it is dead-lettered, and holds back the order's key in the payment service's group.
    poison = envelope_for(payment_messages.VoidPayment(order_id=order_id))
    KafkaPublisher(shop.kafka).publish(
        [
            OutgoingMessage(
                shop.kafka.qualify(topics.PAYMENT_COMMANDS), poison.key(), poison.to_bytes()
            )
        ]
    )
    dlq = shop.kafka.qualify(topics.dead_letter_topic(topics.PAYMENT_COMMANDS))

    def poisoned() -> list:
        return [
            letter
            for letter in dead_letters.letters(shop.kafka, dlq)
            if letter.key == order_id.encode()
        ]

    wait_for(lambda: bool(poisoned()), 120, "the command was not dead-lettered")
    [letter] = poisoned()
    at = dead_letters.position(letter)
    # The customer cancels: the cancellation saga's refund for the order waits behind the
    # letter, which holds back its key.
    cancelled = cancel(shop, order_id)
    assert cancelled.status_code == 202, cancelled.text

    log_in(page, console, f"/dead-letters/{dlq}/{at}")
    reload_until(
        page,
        "[data-testid=held]:has-text(' held')",
        120,
        "the saga's command was not held behind the letter",
    )
    assert order(shop, order_id)["status"] != "CANCELLED", "held, so not yet applied"
    shoot(page, screenshots, "dead-letter-held")
    page.get_by_label("Why discard it").fill("a void sent after the capture")
    page.get_by_role("button", name=re.compile("^Discard")).click()
    expect(page.locator(".flash.ok")).to_contain_text(
        re.compile(rf"discarded {at}: released [1-9]\d* held message")
    )
    wait_for(
        lambda: order(shop, order_id)["status"] == "CANCELLED",
        120,
        "the held command was not applied after the discard",
    )
    page.get_by_role("link", name="Audit log", exact=True).click()
    entry = page.locator("[data-testid=audit] tbody tr").filter(has_text="dlq.discard").first
    expect(entry).to_contain_text("a void sent after the capture")
    expect(entry).to_contain_text(f"console:{OPERATOR}")
