"""Monthly settlement with each provider: what the centre pays and what the bureau subsidises."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from eldercare.core.db import enum_column
from eldercare.core.time import utcnow
from eldercare.extensions import db


class Settlement(db.Model):
    __tablename__ = "settlements"
    __table_args__ = (sa.UniqueConstraint("provider_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    order_count: Mapped[int] = mapped_column(default=0)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=0)
    subsidy_amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=0)
    status: Mapped[str] = mapped_column(enum_column("draft", "approved", "paid", name="settlement_status"),
                                        default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
