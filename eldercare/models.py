"""Imports every domain's models so that metadata (migrations, create_all) sees the whole schema."""

from eldercare.alerts.models import ActionStep, CascadeStep, Incident, Notification, TeamDispatch
from eldercare.catalog.models import ServiceCategory, ServiceType
from eldercare.core.models import AuditEvent, StateEvent, Timer, User
from eldercare.devices.models import Device, DeviceEvent, DeviceModel
from eldercare.dispatch.models import CallbackTask, FollowUp, Offer, Order, RecurringOrder
from eldercare.geo.models import Community, District, GridCell
from eldercare.households.models import Contact, Household, Resident
from eldercare.providers.models import (
    EmergencyTeam,
    Provider,
    ProviderChangeRequest,
    ProviderHours,
    ProviderWorker,
    TeamMember,
)
from eldercare.reports.models import Settlement

__all__ = [
    "ActionStep", "AuditEvent", "CallbackTask", "CascadeStep", "Community", "Contact", "Device", "DeviceEvent",
    "DeviceModel",
    "District",
    "EmergencyTeam", "FollowUp", "GridCell", "Household", "Incident", "Notification", "Offer", "Order",
    "Provider", "ProviderChangeRequest", "ProviderHours", "ProviderWorker", "RecurringOrder", "Resident",
    "ServiceCategory", "ServiceType", "Settlement", "StateEvent", "TeamDispatch", "TeamMember", "Timer", "User",
]
