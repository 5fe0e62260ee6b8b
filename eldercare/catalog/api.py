"""`/api/v1/service-types`."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from eldercare.catalog import search
from eldercare.catalog.models import ServiceCategory, ServiceType
from eldercare.catalog.schemas import ServiceTypeQuerySchema, ServiceTypeSchema
from eldercare.core.auth import STAFF, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate

blp = ApiBlueprint("catalog", __name__, description="Service categories and types")


@blp.route("/service-types", methods=["GET"])
@roles(*STAFF)
@blp.arguments(ServiceTypeQuerySchema, location="query")
@blp.response(200, page_schema(ServiceTypeSchema))
@blp.doc(security=[{"bearer": []}])
def list_service_types(args: dict) -> dict:
    query = sa.select(ServiceType).options(joinedload(ServiceType.category)).order_by(ServiceType.id)
    if args["category"] is not None:
        query = query.join(ServiceType.category).where(ServiceCategory.code == args["category"])
    if args["q"] is not None:
        query = query.where(ServiceType.id.in_(search.matching_ids(args["q"])))
    return paginate(query, args)
