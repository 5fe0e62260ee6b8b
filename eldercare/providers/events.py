"""Socket.IO events of the providers domain, emitted after commit (eldercare.core.events).

- `team.updated` (/provider, room `team:<id>`; /ops, room `ops`): an emergency team's duty state changed
  (`id` = the team, `status` = its state: available, off_duty, committed, en_route, on_scene, returning).
- `change_request.updated` (/provider, room `provider:<id>`): a profile change request of the company was
  submitted, approved or rejected (`id` = the request, `status`, `provider_id`).
"""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.events import EventPayloadSchema, SocketEvent


class TeamPayloadSchema(EventPayloadSchema):
    code = ma.fields.String(required=True)


TEAM_UPDATED = SocketEvent("team.updated", TeamPayloadSchema())


class ChangeRequestPayloadSchema(EventPayloadSchema):
    provider_id = ma.fields.Integer(required=True)


CHANGE_REQUEST_UPDATED = SocketEvent("change_request.updated", ChangeRequestPayloadSchema())
