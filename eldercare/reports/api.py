"""`/api/v1/kpis/alarms`: the alarm centre's answer-time KPIs for a day."""

from __future__ import annotations

from typing import Any

from eldercare.core.auth import OPS, roles
from eldercare.core.rest import ApiBlueprint
from eldercare.reports.kpis import alarm_kpis
from eldercare.reports.schemas import AlarmKpisSchema, KpiQuerySchema

blp = ApiBlueprint("reports", __name__, description="Reports and KPIs")


@blp.route("/kpis/alarms", methods=["GET"])
@roles(*OPS)
@blp.arguments(KpiQuerySchema, location="query")
@blp.response(200, AlarmKpisSchema)
@blp.doc(security=[{"bearer": []}])
def alarm_kpis_view(args: dict) -> dict[str, Any]:
    """Alarm counts, times to claim / first action / on scene / resolution (median, p90) and the share
    answered within 15, 60 and 180 s, overall and per priority class, for a local day (Asia/Shanghai)."""
    return alarm_kpis(args["date"])
