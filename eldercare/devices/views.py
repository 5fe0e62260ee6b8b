"""The device registry's console pages (`/admin/devices`): list, register, detail (bind/move, change, retire,
rotate token) and CSV import. Operators and supervisors may look; only administrators change anything.

Forms post here (CSRF checked by `core.auth`) and share the API's schemas and services, so a rule holds the
same in both. A token is shown only in the answer to the request that made it, never through the session,
and that page is not cached. The import page uploads to `POST /api/v1/devices/import` itself (progress bar).
"""

from __future__ import annotations

from urllib.parse import urlencode

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, Response, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from eldercare.core.auth import ADMIN, OPS, roles
from eldercare.core.errors import ApiError
from eldercare.core.rest import paginate
from eldercare.core.time import CITY_TZ
from eldercare.devices import registry
from eldercare.devices.models import PROTOCOLS, Device, DeviceEvent, DeviceModel
from eldercare.devices.schemas import (
    CSV_COLUMNS,
    DeviceEditFormSchema,
    DeviceQuerySchema,
    DeviceRowSchema,
)
from eldercare.extensions import db

bp = Blueprint("device_views", __name__, url_prefix="/admin/devices")

PER_PAGE = 50
LIST_FILTERS = ("q", "protocol", "status", "online", "page")
PROTOCOL_LABELS = {
    "dc09": lazy_gettext("SIA DC-09 alarm panel"),
    "watch": lazy_gettext("GPS watch"),
    "http": lazy_gettext("HTTP (JSON) device"),
    "sms": lazy_gettext("SMS device"),
}
UID_HINTS = {
    "dc09": lazy_gettext("The account number: 3 to 16 hex digits."),
    "watch": lazy_gettext("The watch's id: 6 to 20 digits."),
    "http": lazy_gettext("Any unique id: letters, digits and _ . : - (at most 64)."),
    "sms": lazy_gettext("The SIM card's phone number, e.g. 13812345678."),
}
STATUS_LABELS = {
    "active": lazy_gettext("In service"),
    "retired": lazy_gettext("Retired"),
}
FIELD_LABELS = {
    "uid": lazy_gettext("UID"),
    "protocol": lazy_gettext("Protocol"),
    "household_code": lazy_gettext("Household code"),
    "household_id": lazy_gettext("Household"),
    "model": lazy_gettext("Model"),
    "phone": lazy_gettext("SIM phone number"),
    "aes_key": lazy_gettext("AES key"),
    "heartbeat_interval_s": lazy_gettext("Heartbeat interval"),
    "_row": lazy_gettext("Whole row"),
    "_form": lazy_gettext("Form"),
    "file": lazy_gettext("File"),
    "header": lazy_gettext("Header line"),
}
EVENT_LABELS = {
    "sos": lazy_gettext("SOS call"),
    "fall": lazy_gettext("Fall"),
    "no_activity": lazy_gettext("No activity"),
    "smoke": lazy_gettext("Smoke"),
    "gas": lazy_gettext("Gas"),
    "water": lazy_gettext("Water leak"),
    "low_battery": lazy_gettext("Low battery"),
    "power_loss": lazy_gettext("Power loss"),
    "device_removed": lazy_gettext("Device removed"),
    "test": lazy_gettext("Test"),
    "heartbeat": lazy_gettext("Heartbeat"),
    "cancel": lazy_gettext("Cancel"),
    "offline": lazy_gettext("Offline"),
    "restore": lazy_gettext("Restore"),
    "activity": lazy_gettext("Activity"),
    "service_request": lazy_gettext("Service request"),
}


class RegisterForm(FlaskForm):
    protocol = StringField()
    uid = StringField()
    household_code = StringField()
    model = StringField()
    phone = StringField()
    aes_key = StringField()
    heartbeat_interval_s = StringField()


class EditForm(FlaskForm):
    household_code = StringField()
    model = StringField()
    phone = StringField()
    aes_key = StringField()
    clear_aes_key = BooleanField()
    heartbeat_interval_s = StringField()


class RetireForm(FlaskForm):
    confirm = BooleanField(validators=[DataRequired()])
    reason = StringField()


class TokenForm(FlaskForm):
    confirm = BooleanField(validators=[DataRequired()])


@bp.app_template_filter("city_time")
def city_time(value: object, with_seconds: bool = False) -> str:
    """A UTC datetime as the city's wall-clock time."""
    if value is None:
        return ""
    return value.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


@bp.app_template_filter("interval_label")
def interval_label(seconds: int) -> str:
    """A heartbeat interval the way people say it: 90 s, 5 min, 24 h."""
    if seconds % 3600 == 0:
        return _("%(n)s h", n=seconds // 3600)
    if seconds % 60 == 0:
        return _("%(n)s min", n=seconds // 60)
    return _("%(n)s s", n=seconds)


@bp.context_processor
def _labels() -> dict:
    return {"protocol_labels": PROTOCOL_LABELS, "status_labels": STATUS_LABELS, "event_labels": EVENT_LABELS,
            "field_labels": {k: str(v) for k, v in FIELD_LABELS.items()}, "uid_hints": UID_HINTS,
            "protocols": PROTOCOLS, "can_edit": g.get("user") is not None and g.user.role in ADMIN}


# --- list ---------------------------------------------------------------------------------------------

@bp.get("/")
@roles(*OPS)
def list_devices():  # noqa: ANN201 - Flask view
    args = _list_args()
    page = paginate(registry.device_query(args), args)
    shown = {k: request.args[k] for k in LIST_FILTERS if k != "page" and request.args.get(k, "").strip()}

    def page_url(number: int) -> str:
        return url_for(".list_devices") + "?" + urlencode({**shown, "page": number})

    return render_template("admin/devices.html", page=page, filters=shown, page_url=page_url)


def _list_args() -> dict:
    """The filters of the query string; a malformed one is dropped rather than refused (it came from a link)."""
    raw = {k: request.args[k].strip() for k in LIST_FILTERS if request.args.get(k, "").strip()}
    schema = DeviceQuerySchema()
    try:
        return schema.load({**raw, "per_page": PER_PAGE})
    except ma.ValidationError as exc:
        return schema.load({**{k: v for k, v in raw.items() if k not in exc.messages}, "per_page": PER_PAGE})


# --- register -------------------------------------------------------------------------------------------

@bp.get("/new")
@roles(*ADMIN)
def new_device():  # noqa: ANN201 - Flask view
    form = RegisterForm(data={"protocol": request.args.get("protocol", "dc09")})
    return render_template("admin/device_new.html", form=form, errors={}, models=registry.models_by_code())


@bp.post("/new")
@roles(*ADMIN)
def register_device():  # noqa: ANN201 - Flask view
    form = RegisterForm()
    try:
        data = DeviceRowSchema().load(_filled(form, ("protocol", "uid", "household_code", "model", "phone",
                                                     "aes_key", "heartbeat_interval_s")))
        registered = registry.register(data, actor=g.user)
    except (ma.ValidationError, ApiError) as exc:
        db.session.rollback()
        errors, status = _errors_of(exc, form)
        return render_template("admin/device_new.html", form=form, errors=errors,
                               models=registry.models_by_code()), status
    db.session.commit()
    if registered.token is None:
        flash(_("Device %(uid)s registered.", uid=registered.device.uid))
        return redirect(url_for(".device_detail", device_id=registered.device.id))
    return _detail(registered.device, token=registered.token, status=201,
                   notice=_("Device %(uid)s registered.", uid=registered.device.uid))


def _filled(form: FlaskForm, names: tuple[str, ...]) -> dict:
    return {name: getattr(form, name).data or "" for name in names}


def _errors_of(exc: ma.ValidationError | ApiError, form: FlaskForm) -> tuple[dict, int]:
    if isinstance(exc, ApiError):
        return (exc.fields or {"_form": [exc.message]}), exc.status
    errors = {name: [str(m) for m in messages] for name, messages in exc.messages.items()}
    code = (form.household_code.data or "").strip()
    problem = registry.household_problem(code) if code and "household_code" not in errors else None
    if problem:  # the database's verdict too, so that one round trip shows every problem
        errors["household_code"] = [problem]
    return errors, 400


# --- detail and changes -----------------------------------------------------------------------------------

@bp.get("/<int:device_id>")
@roles(*OPS)
def device_detail(device_id: int):  # noqa: ANN201 - Flask view
    return _detail(registry.get_device(device_id))


@bp.post("/<int:device_id>")
@roles(*ADMIN)
def edit_device(device_id: int):  # noqa: ANN201 - Flask view
    device = registry.get_device(device_id)
    form = EditForm()
    try:
        changes = DeviceEditFormSchema().load(_edit_data(form, device))
        registry.update(device_id, changes, actor=g.user)
    except (ma.ValidationError, ApiError) as exc:
        db.session.rollback()
        errors, status = _errors_of(exc, form)
        return _detail(registry.get_device(device_id), edit_form=form, edit_errors=errors, status=status)
    db.session.commit()
    flash(_("Changes saved."))
    return redirect(url_for(".device_detail", device_id=device_id))


def _edit_data(form: EditForm, device: Device) -> dict:
    """Every field of the form is shown filled in: an empty model or phone clears it, an empty interval means
    the model's default, and the AES key (never shown) changes only when typed or explicitly cleared."""
    data = {"household_code": (form.household_code.data or "").strip(), "model": (form.model.data or "").strip()
            or None}
    if device.protocol != "sms":  # an SMS device's phone is its uid, shown but not editable
        data["phone"] = (form.phone.data or "").strip() or None
    interval = (form.heartbeat_interval_s.data or "").strip()
    data["heartbeat_interval_s"] = interval or registry.default_interval(device.protocol, data["model"])
    if device.protocol == "dc09":
        if form.clear_aes_key.data:
            data["aes_key"] = None
        elif (form.aes_key.data or "").strip():
            data["aes_key"] = form.aes_key.data.strip()
    return data


@bp.post("/<int:device_id>/retire")
@roles(*ADMIN)
def retire_device(device_id: int):  # noqa: ANN201 - Flask view
    device = registry.get_device(device_id)
    form = RetireForm()
    if not form.validate():
        return _detail(device, retire_errors={"confirm": [_("Tick the box to confirm.")]}, status=400)
    reason = (form.reason.data or "").strip()[:200] or None
    registry.retire(device_id, reason=reason, actor=g.user)
    db.session.commit()
    flash(_("Device %(uid)s retired.", uid=device.uid))
    return redirect(url_for(".device_detail", device_id=device_id))


@bp.post("/<int:device_id>/token")
@roles(*ADMIN)
def rotate_token(device_id: int):  # noqa: ANN201 - Flask view
    device = registry.get_device(device_id)
    if not TokenForm().validate():
        return _detail(device, token_errors={"confirm": [_("Tick the box to confirm.")]}, status=400)
    try:
        registered = registry.rotate_token(device_id, actor=g.user)
    except ApiError as exc:
        db.session.rollback()
        return _detail(registry.get_device(device_id), token_errors={"_form": [exc.message]}, status=exc.status)
    db.session.commit()
    return _detail(registered.device, token=registered.token, notice=_("A new token was issued; the old one no "
                                                                        "longer works."))


def _detail(device: Device, *, token: str | None = None, status: int = 200, notice: str | None = None,
            edit_form: EditForm | None = None, edit_errors: dict | None = None, retire_errors: dict | None = None,
            token_errors: dict | None = None) -> Response:
    events = db.session.scalars(sa.select(DeviceEvent).where(DeviceEvent.device_id == device.id)
                                .order_by(DeviceEvent.id.desc()).limit(10)).all()
    model = db.session.scalar(sa.select(DeviceModel).where(DeviceModel.code == device.model)) if device.model \
        else None
    household = device.household
    community = household.community if household is not None else None
    community_name = (community.name_zh if str(get_locale()) == "zh" else community.name_en) if community else ""
    form = edit_form or EditForm(data={"household_code": household.code if household else "",
                                       "model": device.model or "", "phone": device.phone or "",
                                       "heartbeat_interval_s": str(device.heartbeat_interval_s)})
    response = make_response(render_template(
        "admin/device.html", device=device, events=events, model=model, community_name=community_name,
        token=token, notice=notice, edit_form=form, edit_errors=edit_errors or {},
        retire_errors=retire_errors or {}, token_errors=token_errors or {}, models=registry.models_by_code(),
    ), status)
    if token is not None:
        response.headers["Cache-Control"] = "no-store"  # the token must not outlive this page
    return response


# --- import -----------------------------------------------------------------------------------------------

@bp.get("/import")
@roles(*ADMIN)
def import_page():  # noqa: ANN201 - Flask view
    return render_template("admin/device_import.html", columns=CSV_COLUMNS,
                           max_rows=registry.MAX_IMPORT_ROWS, max_mb=registry.MAX_IMPORT_BYTES // (1024 * 1024))
