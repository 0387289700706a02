"""Inventory's unit of work: one transaction over products, reservations, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from eventing.inbox import Inbox
from eventing.outbox import Outbox
from inventory_service import orm
from inventory_service.repository import ProductRepository, ReservationRepository
from servicekit.db import UnitOfWork

CONSUMER_NAME = "inventory-service"


class InventoryUnitOfWork(UnitOfWork):
    products: ProductRepository
    reservations: ReservationRepository

    def __init__(self, session_factory: sessionmaker[Session], outbox: Outbox):
        super().__init__(session_factory)
        self.outbox = outbox
        self.inbox = Inbox(orm.inbox, CONSUMER_NAME)

    def _start(self) -> None:
        self.products = ProductRepository(self.session)
        self.reservations = ReservationRepository(self.session)
