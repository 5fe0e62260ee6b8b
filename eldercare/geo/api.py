"""`/api/v1/districts`, `/api/v1/communities`."""

from __future__ import annotations

import sqlalchemy as sa

from eldercare.core.auth import STAFF, roles
from eldercare.core.rest import ApiBlueprint, PageArgsSchema, page_schema, paginate
from eldercare.extensions import db
from eldercare.geo.models import Community, District
from eldercare.geo.schemas import CommunityQuerySchema, CommunitySchema, DistrictSchema

blp = ApiBlueprint("geo", __name__, description="Districts and communities of the city")


@blp.route("/districts", methods=["GET"])
@roles(*STAFF)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(DistrictSchema))
@blp.doc(security=[{"bearer": []}])
def list_districts(args: dict) -> dict:
    page = paginate(sa.select(District).order_by(District.id), args)
    counts = dict(db.session.execute(
        sa.select(Community.district_id, sa.func.count()).group_by(Community.district_id)
    ).all())
    page["items"] = [{**DistrictSchema().dump(d), "community_count": counts.get(d.id, 0)} for d in page["items"]]
    return page


@blp.route("/communities", methods=["GET"])
@roles(*STAFF)
@blp.arguments(CommunityQuerySchema, location="query")
@blp.response(200, page_schema(CommunitySchema))
@blp.doc(security=[{"bearer": []}])
def list_communities(args: dict) -> dict:
    query = sa.select(Community).order_by(Community.id)
    if args["district_id"] is not None:
        query = query.where(Community.district_id == args["district_id"])
    return paginate(query, args)
