"""Inventory's HTTP API (the storefront contract's inventory section)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from flask import request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from contracts.common import Sku
from inventory_service import services
from inventory_service.domain import (
    MAX_UNITS,
    Product,
    ProductExists,
    ProductNotFound,
    StockLimitExceeded,
)
from inventory_service.uow import InventoryUnitOfWork
from servicekit.api import Api
from servicekit.audit import add_to_outbox
from servicekit.fields import Attributes, BlankIsAbsent, Page, PageSize, Patch, Text, whole_number
from servicekit.problems import FieldError, Problem, conflict, not_found

# Bounded so that a product's event (its whole state) stays far below Kafka's message limit.
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=5000)]
Category = Annotated[Text, Field(min_length=1, max_length=100)]
# Strict: in JSON, `true` or `"5"` is not a number of cents or units (`5.0` is).
Units = Annotated[int, *whole_number(ge=0, le=MAX_UNITS)]
RestockQuantity = Annotated[int, *whole_number(ge=1, le=MAX_UNITS)]
_SKU = TypeAdapter(Sku)


class NewProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    description: Description = ""
    category: Category
    price_cents: Units
    stock: Units
    attributes: Attributes = Field(default_factory=dict)


class ProductPatch(Patch):
    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    price_cents: Units | None = None
    attributes: Attributes | None = None


class Restock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: RestockQuantity


class ProductQuery(BlankIsAbsent):
    """`?category=&page=` asks for no filter and the default page."""

    category: Category | None = None
    page: Page = 1
    page_size: PageSize = 20


def _existing_sku(sku: str) -> str:
    """A path's sku; one that no product could have is simply unknown (404)."""
    try:
        return _SKU.validate_python(sku)
    except ValidationError:
        raise not_found("product", sku) from None


class ProductOut(BaseModel):
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    stock_on_hand: int
    stock_reserved: int
    stock_available: int
    attributes: dict[str, Any]
    version: int

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category,
            price_cents=product.price_cents,
            stock_on_hand=product.on_hand,
            stock_reserved=product.reserved,
            stock_available=product.available,
            attributes=product.attributes,
            version=product.version,
        )


class ProductPage(BaseModel):
    items: list[ProductOut]
    page: int
    page_size: int
    total: int


def build_api(
    uow_factory: Callable[[], InventoryUnitOfWork], admin_token: Callable[[], str]
) -> Api:
    api = Api("inventory-service", "Inventory: products and stock", admin_token=admin_token)

    def write(action: Callable[[InventoryUnitOfWork], Any], audited: str, sku: str, detail: str):
        """Run an admin write; its audit entry (`audited` on `sku`) commits with it."""
        with uow_factory() as uow:
            try:
                result = action(uow)
                actor = f"inventory-service:admin@{request.remote_addr or 'unknown'}"
                add_to_outbox(uow, actor, audited, sku, detail)
            except ProductNotFound as error:
                raise not_found("product", error) from None
            except StockLimitExceeded as error:
                raise Problem(
                    422,
                    "Unprocessable Entity",
                    "the request has invalid values",
                    errors=[FieldError(field="quantity", message=str(error))],
                ) from None
            uow.commit()
            return result

    @api.operation(
        "POST",
        "/products",
        summary="Create a product",
        body=NewProduct,
        responses={201: ProductOut, 409: "the sku exists"},
        admin=True,
    )
    def create_product(body: NewProduct):
        product = Product(
            sku=body.sku,
            name=body.name,
            description=body.description,
            category=body.category,
            price_cents=body.price_cents,
            attributes=body.attributes,
            on_hand=body.stock,
        )
        try:
            write(
                lambda uow: services.create_product(uow, product),
                "product.create",
                product.sku,
                f"price {product.price_cents} cents, stock {product.on_hand}",
            )
        except ProductExists:
            raise conflict(f"product {body.sku} exists") from None
        return ProductOut.of(product), 201, {"Location": f"/products/{product.sku}"}

    @api.operation(
        "GET",
        "/products/<sku>",
        summary="A product with its stock",
        responses={200: ProductOut, 404: "unknown or deleted"},
    )
    def get_product(sku: str):
        sku = _existing_sku(sku)
        with uow_factory() as uow:
            try:
                return ProductOut.of(services.get_product(uow, sku))
            except ProductNotFound:
                raise not_found("product", sku) from None

    @api.operation(
        "PATCH",
        "/products/<sku>",
        summary="Change a product's details",
        body=ProductPatch,
        responses={200: ProductOut, 404: "unknown or deleted"},
        admin=True,
    )
    def update_product(sku: str, body: ProductPatch):
        sku = _existing_sku(sku)
        changes = body.model_dump(exclude_none=True)
        updated = write(
            lambda uow: services.update_product(uow, sku, changes),
            "product.update",
            sku,
            json.dumps(changes, ensure_ascii=False),
        )
        return ProductOut.of(updated)

    @api.operation(
        "POST",
        "/products/<sku>/restock",
        summary="Add stock",
        body=Restock,
        responses={
            200: ProductOut,
            404: "unknown or deleted",
            422: "quantity invalid or too many units",
        },
        admin=True,
    )
    def restock(sku: str, body: Restock):
        sku = _existing_sku(sku)
        restocked = write(
            lambda uow: services.restock(uow, sku, body.quantity),
            "product.restock",
            sku,
            f"+{body.quantity} units",
        )
        return ProductOut.of(restocked)

    @api.operation(
        "DELETE",
        "/products/<sku>",
        summary="Delete a product (it can no longer be ordered and leaves search)",
        responses={204: None, 404: "unknown"},
        admin=True,
    )
    def delete_product(sku: str):
        sku = _existing_sku(sku)
        write(lambda uow: services.delete_product(uow, sku), "product.delete", sku, "")
        return None, 204

    @api.operation(
        "GET",
        "/products",
        summary="Products, by sku, optionally of one category",
        query=ProductQuery,
        responses={200: ProductPage},
    )
    def list_products(query: ProductQuery):
        with uow_factory() as uow:
            products, total = services.list_products(
                uow, query.category, query.page, query.page_size
            )
        return ProductPage(
            items=[ProductOut.of(p) for p in products],
            page=query.page,
            page_size=query.page_size,
            total=total,
        )

    return api
