"""Request and response schemas of the reports API."""

from __future__ import annotations

import marshmallow as ma


class KpiQuerySchema(ma.Schema):
    date = ma.fields.Date(load_default=None, metadata={"description": "Local day (Asia/Shanghai); today if omitted."})


class DurationStatsSchema(ma.Schema):
    count = ma.fields.Integer(required=True, metadata={"description": "Alarms for which the time is known."})
    median_s = ma.fields.Float(allow_none=True, required=True)
    p90_s = ma.fields.Float(allow_none=True, required=True, metadata={"description": "Nearest-rank 90th percentile."})


# Keys are the targets in seconds ("15s", "60s", "180s"), which are not valid Python names.
AnsweredWithinSchema = ma.Schema.from_dict({
    f"{target}s": ma.fields.Float(allow_none=True, required=True, metadata={
        "description": f"Share (0..1) of the alarms needing an answer that were claimed within {target} s."})
    for target in (15, 60, 180)
}, name="AnsweredWithinSchema")


class AlarmFiguresSchema(ma.Schema):
    alarms = ma.fields.Integer(required=True, metadata={"description": "Incidents opened in the period."})
    needing_answer = ma.fields.Integer(required=True, metadata={
        "description": "Alarms minus those cancelled at the device before anyone claimed them."})
    answered = ma.fields.Integer(required=True)
    unanswered = ma.fields.Integer(required=True)
    cancelled_before_answer = ma.fields.Integer(required=True)
    review_flagged = ma.fields.Integer(required=True, metadata={"description": "Flagged for review (> 3 min)."})
    time_to_claim = ma.fields.Nested(DurationStatsSchema, required=True)
    time_to_first_action = ma.fields.Nested(DurationStatsSchema, required=True)
    time_to_on_scene = ma.fields.Nested(DurationStatsSchema, required=True)
    time_to_resolution = ma.fields.Nested(DurationStatsSchema, required=True)
    answered_within = ma.fields.Nested(AnsweredWithinSchema, required=True)


class PriorityFiguresSchema(AlarmFiguresSchema):
    priority = ma.fields.Integer(required=True)
    priority_class = ma.fields.String(required=True, metadata={"description": "life_safety, technical or info"})


class AlarmKpisSchema(ma.Schema):
    date = ma.fields.Date(required=True)
    timezone = ma.fields.String(required=True)
    period_start = ma.fields.DateTime(required=True)
    period_end = ma.fields.DateTime(required=True)
    targets_s = ma.fields.List(ma.fields.Integer(), required=True)
    overall = ma.fields.Nested(AlarmFiguresSchema, required=True)
    by_priority = ma.fields.List(ma.fields.Nested(PriorityFiguresSchema), required=True)
