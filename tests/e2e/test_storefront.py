"""The reference storefront in a real headless browser (Debian's chromium through Playwright)
against a whole running shop with search: a customer signs in, finds a product despite a typo,
narrows by a category, fills a cart, checks out with each kind of test card, double-submits a
checkout, cancels an order and watches the refund, and sees the stock move on the product page;
and the pages still make sense when an API is down, and on a phone.

Every page visited is saved as a screenshot under this run's pytest folder
(`<basetemp>/storefront-screenshots/`, or STOREFRONT_SCREENSHOTS when set).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from storefront.wording import money
from testkit.console import chromium_path
from testkit.shop import Shop, ShopOptions
from testkit.storefront import payments, wait_terminal
from testkit.storefront_app import (
    Product,
    RunningStorefront,
    add_product,
    orders_of,
    run_search_shop,
    start_storefront,
    wait_searchable,
)

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

#: A loaded 2-core machine: generous bounds, always on a condition.
SLOW_MS = 120_000
CHECKOUT_STEPS = [
    "reserve_stock",
    "authorize_payment",
    "capture_payment",
    "commit_stock",
    "approve_order",
]
GRINDER = Product(
    "Burr Coffee Grinder",
    "kitchen",
    4999,
    stock=40,
    description="Grinds beans evenly for espresso or filter coffee.",
    attributes={"burrs": "conical steel", "settings": 40},
)
KETTLE = Product("Gooseneck Kettle", "kitchen", 3450, stock=40, description="Pours slowly.")
SHOES = Product("Trail Running Shoes", "outdoor", 8900, stock=40, description="Grip on mud.")
SOCKS = Product("Merino Hiking Socks", "outdoor", 1200, stock=40, description="Warm when wet.")
TENT = Product("Canvas Bell Tent", "outdoor", 15900, stock=0, description="Sleeps four.")
CATALOGUE = [GRINDER, KETTLE, SHOES, SOCKS, TENT]


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    options = ShopOptions(reply_timeout_s=10, payment_timeout_s=6, retry_base_delay_s=0.2)
    with ExitStack() as stack:
        shop, _indexer = run_search_shop(stack, options)
        for product in CATALOGUE:
            add_product(shop, product)
        wait_searchable(shop, CATALOGUE)
        yield shop


#: Small pages, so that the whole catalogue (five products) takes two.
PAGE_SIZE = 4


@pytest.fixture(scope="module")
def storefront(shop: Shop) -> RunningStorefront:
    return start_storefront(shop, {"STOREFRONT_PAGE_SIZE": str(PAGE_SIZE)})


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    chosen = os.environ.get("STOREFRONT_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "storefront-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, storefront, screenshots, request):
    """A fresh browser (no session), 1280 wide; its last view saved as `last-<test>.png`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    opened.screenshot(path=str(screenshots / f"last-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def phone(browser, storefront, screenshots, request):
    """A fresh browser the size of a phone (390 x 844, touch)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    opened.screenshot(path=str(screenshots / f"last-{request.node.name}.png"), full_page=True)
    context.close()


def shoot(page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def a_customer() -> str:
    return f"Shopper {uuid.uuid4().hex[:6]}"


def sign_in(page, storefront: RunningStorefront, name: str, screenshots: Path | None = None):
    page.goto(f"{storefront.url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Customer name").fill(name)
    if screenshots:
        shoot(page, screenshots, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("customer")).to_have_text(name)


def stock_shown(page, storefront: RunningStorefront, product: Product) -> int:
    page.goto(f"{storefront.url}/products/{product.sku}")
    return int(page.get_by_test_id("stock-available").text_content() or "")


def add_to_cart(page, storefront: RunningStorefront, product: Product, quantity: int) -> None:
    page.goto(f"{storefront.url}/products/{product.sku}")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_have_text(f"Added {product.name} to your cart.")


def check_out(page, storefront: RunningStorefront, card: str) -> str:
    """Pay for the cart with `card`; the order's id, from the order page it lands on."""
    page.goto(f"{storefront.url}/checkout")
    page.locator(f"#card-{card}").check()
    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def wait_settled(page) -> None:
    """Until the live panel has stopped polling: nothing more will change."""
    expect(page.get_by_test_id("progress")).to_have_attribute(
        "data-settled", "true", timeout=SLOW_MS
    )


# --- finding things -----------------------------------------------------------------------


def test_a_customer_signs_in_and_finds_a_product_despite_a_typo(page, storefront, screenshots):
    sign_in(page, storefront, a_customer(), screenshots)
    page.get_by_label("Search the shop").fill("grindr")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_test_id("results")
    expect(results.get_by_role("link", name=GRINDER.name)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Results for"))).to_contain_text("grindr")
    shoot(page, screenshots, "search")

    results.get_by_role("link", name=GRINDER.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(GRINDER.name)
    expect(page.get_by_test_id("price")).to_have_text(money(GRINDER.price_cents))
    expect(page.get_by_test_id("stock-available")).to_have_text(str(GRINDER.stock))
    expect(page.locator("dl.attributes")).to_contain_text("conical steel")
    shoot(page, screenshots, "product")


def test_the_catalogue_comes_in_pages(page, storefront):
    page.goto(storefront.url)
    cards = page.get_by_test_id("results").locator(".product-card")
    expect(page.get_by_role("heading", name="5 products")).to_be_visible()
    expect(cards).to_have_count(PAGE_SIZE)
    expect(page.get_by_role("navigation", name="Result pages")).to_contain_text("Page 1 of 2")
    page.get_by_role("link", name="Next page").click()
    expect(cards).to_have_count(len(CATALOGUE) - PAGE_SIZE)
    expect(page.get_by_role("navigation", name="Result pages")).to_contain_text("Page 2 of 2")
    page.get_by_role("link", name="Previous page").click()
    expect(cards).to_have_count(PAGE_SIZE)


def test_a_category_facet_with_its_count_narrows_the_results(page, storefront, screenshots):
    page.goto(storefront.url)
    facets = page.get_by_role("complementary")
    expect(facets.locator("[data-facet=outdoor]")).to_contain_text("(3)")
    expect(facets.locator("[data-facet=kitchen]")).to_contain_text("(2)")
    facets.locator("[data-facet=outdoor]").click()
    results = page.get_by_test_id("results").locator(".product-card")
    expect(results).to_have_count(3)
    expect(page.get_by_role("heading", name=re.compile("3 products"))).to_contain_text("outdoor")

    page.get_by_label("In stock only").check()
    page.get_by_label("Sort by").select_option("price_asc")
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(2)
    expect(results.locator("h3")).to_have_text([SOCKS.name, SHOES.name])
    shoot(page, screenshots, "search-facet")

    page.get_by_label("Lowest price ($)").fill("twelve")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("must be an amount in dollars")


# --- buying -------------------------------------------------------------------------------


def test_two_products_paid_with_tok_visa_are_approved_with_every_step_and_take_the_stock(
    page, storefront, shop, screenshots
):
    grinder_before = stock_shown(page, storefront, GRINDER)
    sign_in(page, storefront, a_customer())
    add_to_cart(page, storefront, GRINDER, 2)
    add_to_cart(page, storefront, KETTLE, 1)
    page.goto(f"{storefront.url}/cart")
    expected_total = 2 * GRINDER.price_cents + KETTLE.price_cents
    expect(page.get_by_test_id("cart-total")).to_have_text(money(expected_total))
    expect(page.get_by_test_id("cart-count")).to_have_text("3")
    shoot(page, screenshots, "cart")

    page.get_by_role("link", name="Check out").click()
    expect(page.get_by_test_id("checkout-total")).to_have_text(money(expected_total))
    expect(page.get_by_label(re.compile("tok_visa"))).to_be_checked()
    shoot(page, screenshots, "checkout")
    order_id = check_out(page, storefront, "tok_visa")

    status = page.get_by_test_id("order-status")
    expect(status.locator("[data-status=APPROVED]")).to_be_visible(timeout=SLOW_MS)
    wait_settled(page)
    expect(page.get_by_role("heading", name="Checkout steps")).to_be_visible()
    for step in CHECKOUT_STEPS:
        expect(page.locator(f"[data-step={step}]")).to_have_attribute(
            "data-step-status", "SUCCEEDED"
        )
    expect(page.locator("[data-payment-status=CAPTURED]")).to_contain_text(money(expected_total))
    expect(page.get_by_test_id("order-total")).to_have_text(money(expected_total))
    shoot(page, screenshots, "order-approved")

    assert wait_terminal(shop, [order_id])[order_id]["total_cents"] == expected_total
    assert stock_shown(page, storefront, GRINDER) == grinder_before - 2
    expect(page.get_by_test_id("stock-available")).to_have_text(str(grinder_before - 2))
    shoot(page, screenshots, "product-after-order")

    page.goto(f"{storefront.url}/cart")
    expect(page.get_by_text("Your cart is empty")).to_be_visible()
    page.get_by_role("link", name="Your orders").click()
    expect(page.locator(f"[data-order='{order_id}'] [data-status=APPROVED]")).to_be_visible()
    shoot(page, screenshots, "orders")


def test_a_declined_card_rejects_the_order_with_the_reason_in_words(page, storefront, screenshots):
    before = stock_shown(page, storefront, SOCKS)
    sign_in(page, storefront, a_customer())
    add_to_cart(page, storefront, SOCKS, 3)
    check_out(page, storefront, "tok_declined")

    status = page.get_by_test_id("order-status")
    expect(status.locator("[data-status=REJECTED]")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_test_id("rejection-reason")).to_have_text(
        "Your card was declined, so nothing was charged."
    )
    wait_settled(page)
    expect(page.locator("[data-step=authorize_payment]")).to_have_attribute(
        "data-step-status", "FAILED"
    )
    expect(page.locator("[data-step=reserve_stock]")).to_have_attribute(
        "data-step-status", "COMPENSATED"
    )
    expect(page.locator("[data-step=reject_order]")).to_have_attribute(
        "data-step-status", "SUCCEEDED"
    )
    shoot(page, screenshots, "order-rejected")
    assert stock_shown(page, storefront, SOCKS) == before


def test_a_double_submitted_checkout_places_one_order(page, storefront, shop, screenshots):
    customer = a_customer()
    sign_in(page, storefront, customer)
    add_to_cart(page, storefront, SHOES, 1)
    page.goto(f"{storefront.url}/checkout")
    # Two submits of the same form at once, as a double click or a browser retry sends them.
    landed = page.evaluate(
        """async () => {
            const form = document.querySelector('[data-testid=checkout-form]');
            const send = () => fetch(form.action, {method: 'POST', body: new FormData(form)});
            const answers = await Promise.all([send(), send()]);
            return answers.map((answer) => [answer.status, answer.url]);
        }"""
    )
    [(first_status, first_url), (second_status, second_url)] = landed
    assert first_status == second_status == 200, landed
    assert first_url == second_url and re.search(r"/orders/[0-9a-f-]{36}$", first_url), landed

    page.goto(f"{storefront.url}/orders")
    expect(page.get_by_test_id("orders").locator("tbody tr")).to_have_count(1)
    shoot(page, screenshots, "orders-after-double-submit")
    [placed] = orders_of(shop, customer)
    assert first_url.endswith(placed["order_id"])


def test_cancelling_an_approved_order_refunds_it_and_puts_the_stock_back(
    page, storefront, shop, screenshots
):
    before = stock_shown(page, storefront, KETTLE)
    sign_in(page, storefront, a_customer())
    add_to_cart(page, storefront, KETTLE, 2)
    order_id = check_out(page, storefront, "tok_visa")
    wait_settled(page)
    expect(page.get_by_test_id("order-status").locator("[data-status=APPROVED]")).to_be_visible()
    assert stock_shown(page, storefront, KETTLE) == before - 2

    page.goto(f"{storefront.url}/orders/{order_id}")
    page.get_by_role("button", name="Cancel this order and refund me").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Cancellation requested: your payment is being refunded."
    )
    shoot(page, screenshots, "order-cancelling")
    status = page.get_by_test_id("order-status")
    expect(status.locator("[data-status=CANCELLED]")).to_be_visible(timeout=SLOW_MS)
    wait_settled(page)
    expect(page.get_by_role("heading", name="Cancellation steps")).to_be_visible()
    for step in ("refund_payment", "return_stock", "complete_cancellation"):
        expect(page.locator(f"[data-step={step}]")).to_have_attribute(
            "data-step-status", "SUCCEEDED"
        )
    expect(page.locator("[data-payment-status=REFUNDED]")).to_contain_text(
        money(2 * KETTLE.price_cents)
    )
    expect(page.get_by_text("Your order is cancelled and your payment refunded.")).to_be_visible()
    shoot(page, screenshots, "order-cancelled")

    assert [p["status"] for p in payments(shop, order_id)] == ["REFUNDED"]
    assert stock_shown(page, storefront, KETTLE) == before
    shoot(page, screenshots, "product-after-cancel")


# --- when things go wrong, and on a phone -------------------------------------------------


def test_an_order_api_that_is_down_gives_a_try_again_page_and_a_safe_retry(
    page, storefront, shop, screenshots
):
    customer = a_customer()
    sign_in(page, storefront, customer)
    add_to_cart(page, storefront, SOCKS, 1)
    page.goto(f"{storefront.url}/checkout")
    attempt = page.locator("input[name=attempt]").input_value()
    shop.kill("order_service:api")
    try:
        page.get_by_role("button", name=re.compile("Place order")).click()
        expect(page.get_by_role("alert")).to_contain_text("Placing it again is safe")
        assert page.locator("input[name=attempt]").input_value() == attempt, "the same key"

        other_tab = page.context.new_page()
        response = other_tab.goto(f"{storefront.url}/orders")
        assert response is not None and response.status == 503
        expect(other_tab.get_by_role("heading", level=1)).to_have_text(
            "Please try again in a moment"
        )
        expect(other_tab.get_by_role("alert")).to_contain_text("order service is not answering")
        shoot(other_tab, screenshots, "try-again")
    finally:
        shop.start("order_service:api")
        shop.wait_ready()
    other_tab.get_by_role("link", name="Try again").click()
    expect(other_tab.get_by_role("heading", level=1)).to_have_text("Your orders")

    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    [placed] = orders_of(shop, customer)
    assert page.url.endswith(placed["order_id"])


def test_the_pages_fit_a_phone(phone, storefront, screenshots):
    sign_in(phone, storefront, a_customer())
    phone.goto(f"{storefront.url}/?q=socks")
    expect(phone.get_by_test_id("results").get_by_role("link", name=SOCKS.name)).to_be_visible()

    def fits() -> bool:
        return phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert fits()
    shoot(phone, screenshots, "phone-search")
    add_to_cart(phone, storefront, SOCKS, 1)
    phone.goto(f"{storefront.url}/cart")
    assert fits()
    shoot(phone, screenshots, "phone-cart")
    check_out(phone, storefront, "tok_insufficient_funds")
    expect(phone.get_by_test_id("rejection-reason")).to_have_text(
        "Your card was declined for insufficient funds, so nothing was charged.",
        timeout=SLOW_MS,
    )
    assert fits()
    shoot(phone, screenshots, "phone-order")


def test_every_control_is_reached_by_keyboard_and_labelled(page, storefront):
    page.goto(storefront.url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Search the shop").focus()
    page.keyboard.type("kettle")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("results").get_by_role("link", name=KETTLE.name)).to_be_visible()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select')]
            .filter((field) => !field.labels || field.labels.length === 0)
            .map((field) => field.name)"""
    )
    assert unlabelled == []
