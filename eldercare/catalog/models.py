"""What the centre offers: 9 categories and 100+ service types, with price, subsidy and timing defaults."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.extensions import db


class ServiceCategory(db.Model):
    __tablename__ = "service_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(50))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    sort_order: Mapped[int] = mapped_column(default=0)

    service_types = relationship("ServiceType", back_populates="category", order_by="ServiceType.id")


class ServiceType(db.Model):
    __tablename__ = "service_types"
    __table_args__ = (
        sa.CheckConstraint("unit_price >= 0", name="price_not_negative"),
        sa.CheckConstraint("default_sla_minutes > 0", name="sla_positive"),
        sa.CheckConstraint("offer_expiry_s > 0", name="offer_expiry_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("service_categories.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(50))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    unit: Mapped[str] = mapped_column(sa.String(16))  # visit, hour, meal, item
    unit_price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    subsidy_eligible: Mapped[bool] = mapped_column(default=False)
    # Minutes from order to the worker's arrival that the centre promises for this type.
    default_sla_minutes: Mapped[int]
    # Seconds a provider has to accept an offer before it moves to the next provider.
    offer_expiry_s: Mapped[int] = mapped_column(default=300)
    active: Mapped[bool] = mapped_column(default=True)

    category = relationship("ServiceCategory", back_populates="service_types")
