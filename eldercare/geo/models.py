"""The city: districts, communities and the grid cells that each have a grid leader."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.extensions import db

# Degrees to ~0.1 m; floats in Python (distances are computed, never summed as money).
Coordinate = sa.Numeric(9, 6, asdecimal=False)


class District(db.Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(50))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    lat: Mapped[float] = mapped_column(Coordinate)
    lng: Mapped[float] = mapped_column(Coordinate)

    communities = relationship("Community", back_populates="district", order_by="Community.id")


class Community(db.Model):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(50))
    name_en: Mapped[str] = mapped_column(sa.String(100))
    lat: Mapped[float] = mapped_column(Coordinate)
    lng: Mapped[float] = mapped_column(Coordinate)
    station_phone: Mapped[str | None] = mapped_column(sa.String(20))
    # All households of the community (not only registered users): it sizes the grid, one leader per 50.
    household_count: Mapped[int] = mapped_column(default=0)

    district = relationship("District", back_populates="communities")
    grid_cells = relationship("GridCell", back_populates="community", order_by="GridCell.id")


class GridCell(db.Model):
    """~50 households with one volunteer grid leader (楼院门栋长), often the first to knock on the door."""

    __tablename__ = "grid_cells"
    __table_args__ = (sa.UniqueConstraint("community_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    number: Mapped[int]
    leader_name: Mapped[str] = mapped_column(sa.String(50))
    leader_phone: Mapped[str] = mapped_column(sa.String(20))
    leader_language: Mapped[str] = mapped_column(sa.String(8), default="zh")

    community = relationship("Community", back_populates="grid_cells")
