"""The device registry: register, bind and move, change, retire, rotate tokens, import a CSV file.

Services flush, never commit: the view commits once. Every change writes an audit event (never a token or a
key) and, once committed, makes this process's intake forget its cached lookup of the device — unknown
ids are cached too, so a device that reported before it was registered is recognised at once. Other
processes (the DC-09 and watch receivers) and the intake's token cache see a change when their entry's TTL
(30 s, `DeviceDirectory`) runs out: a retired HTTP token may work for up to 30 s more.

Concurrent changes to one device are decided by a row lock; duplicate (protocol, uid) pairs by the unique
constraint, whatever the checks before it said.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from eldercare.core import audit
from eldercare.core.db import on_commit
from eldercare.core.errors import ApiError, not_found
from eldercare.core.models import User
from eldercare.core.time import utcnow
from eldercare.devices import tokens
from eldercare.devices.intake import intake_for
from eldercare.devices.models import Device, DeviceModel
from eldercare.devices.schemas import CSV_COLUMNS, DeviceRowSchema, device_field_errors, normalise_uid
from eldercare.extensions import db
from eldercare.households.models import Household

# Used when a device's model is unknown: DC-09 hosts poll hourly, SMS devices send a daily test.
DEFAULT_INTERVAL_S = {"http": 300, "dc09": 3600, "watch": 300, "sms": 86_400}
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
REQUIRED_COLUMNS = ("uid", "protocol", "household_code")


@dataclass(frozen=True)
class Registered:
    device: Device
    token: str | None = None  # HTTP devices: the only time it exists outside the device


@dataclass
class Imported:
    count: int
    tokens: list[dict] = field(default_factory=list)


def invalid(fields: dict, code: str = "bad_request", message: str | None = None) -> ApiError:
    return ApiError(400, code, message or gettext("Invalid input."), fields)


# --- reading ------------------------------------------------------------------------------------------

def device_query(args: dict) -> sa.Select:
    """Devices matching the list filters, newest registration first."""
    query = (sa.select(Device).outerjoin(Device.household).options(contains_eager(Device.household))
             .order_by(Device.id.desc()))
    for name in ("protocol", "status", "household_id", "online"):
        if args.get(name) is not None:
            query = query.where(getattr(Device, name) == args[name])
    if args.get("q"):
        like = f"%{_escape_like(args['q'].strip())}%"
        query = query.where(sa.or_(Device.uid.ilike(like, escape="\\"), Device.phone.ilike(like, escape="\\"),
                                   Device.model.ilike(like, escape="\\"), Household.code.ilike(like, escape="\\")))
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_device(device_id: int, *, lock: bool = False) -> Device:
    query = sa.select(Device).where(Device.id == device_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    device = db.session.scalar(query)
    if device is None:
        raise not_found("Device")
    return device


def models_by_code() -> dict[str, DeviceModel]:
    return {m.code: m for m in db.session.scalars(sa.select(DeviceModel).order_by(DeviceModel.code))}


# --- one device -----------------------------------------------------------------------------------------

def register(data: dict, *, actor: User | None = None) -> Registered:
    """`data` as loaded by `DeviceCreateSchema` (or `DeviceRowSchema`, with `household_code`)."""
    household, errors = _household_for(data)
    model = _model(data.get("model"), data["protocol"], errors)
    if errors:
        raise invalid(errors)
    _refuse_duplicate(data["protocol"], data["uid"])
    device = Device(
        uid=data["uid"], protocol=data["protocol"], household_id=household.id, model=data.get("model"),
        phone=data.get("phone"), aes_key=data.get("aes_key"), installed_on=utcnow(),
        heartbeat_interval_s=data.get("heartbeat_interval_s") or _default_interval(data["protocol"], model),
    )
    _insert(device)
    token = None
    if device.protocol == "http":
        token, device.token_hash = tokens.new_token(device.id)
    audit.record("device.register", target_type="device", target_id=device.id, actor=actor, uid=device.uid,
                 protocol=device.protocol, household_id=device.household_id, model=device.model)
    _forget_after_commit([(device.protocol, device.uid, device.id)])
    return Registered(device, token)


def update(device_id: int, changes: dict, *, actor: User | None = None) -> Device:
    """Bind to or move to another household, change model, heartbeat interval, phone or AES key."""
    device = _active(get_device(device_id, lock=True))
    credentials = {k: changes[k] for k in ("phone", "aes_key") if k in changes}
    clean, errors = device_field_errors(device.protocol, credentials, uid=device.uid)
    if device.protocol == "sms" and "phone" in changes and clean.get("phone") is None:
        errors.setdefault("phone", [gettext("An SMS device's phone number is its uid.")])
    household = None
    if "household_id" in changes or "household_code" in changes:
        household, problems = _household_for(changes)
        if household is None or household.id != device.household_id:  # staying put is always allowed
            errors.update(problems)
    new_model = (changes.get("model") or "").strip() or None
    model = _model(new_model, device.protocol, errors) if "model" in changes and new_model != device.model \
        else None
    if errors:
        raise invalid(errors)
    diff = _apply(device, {**changes, **clean}, model)
    moved = household is not None and household.id != device.household_id
    if moved:
        audit.record("device.move", target_type="device", target_id=device.id, actor=actor,
                     from_household_id=device.household_id, to_household_id=household.id)
        device.household_id, device.household = household.id, household
    if diff:
        audit.record("device.update", target_type="device", target_id=device.id, actor=actor, changes=diff)
    if moved or diff:
        _forget_after_commit([(device.protocol, device.uid, device.id)])
    return device


def _apply(device: Device, changes: dict, model: DeviceModel | None) -> dict:
    """Set the changed attributes; returns {field: [old, new]} (the AES key itself never leaves the row)."""
    wanted = {k: changes[k] for k in ("model", "phone", "heartbeat_interval_s") if k in changes}
    if "model" in changes:
        wanted["model"] = (changes["model"] or "").strip() or None
        if "heartbeat_interval_s" not in changes and model is not None and wanted["model"] != device.model:
            wanted["heartbeat_interval_s"] = model.heartbeat_interval_s  # a new model brings its own rhythm
    diff = {name: [getattr(device, name), value] for name, value in wanted.items() if getattr(device, name) != value}
    if "aes_key" in changes and changes["aes_key"] != device.aes_key:
        diff["aes_key"] = ["set" if device.aes_key else None, "set" if changes["aes_key"] else None]
        device.aes_key = changes["aes_key"]
    for name, (_, value) in diff.items():
        if name != "aes_key":
            setattr(device, name, value)
    return diff


def retire(device_id: int, *, reason: str | None = None, actor: User | None = None) -> Device:
    """Out of service for good: its messages are refused and its token dies. Retiring twice changes nothing."""
    device = get_device(device_id, lock=True)
    if device.status == "retired":
        return device
    device.status, device.retired_at, device.token_hash = "retired", utcnow(), None
    audit.record("device.retire", target_type="device", target_id=device.id, actor=actor, uid=device.uid,
                 protocol=device.protocol, household_id=device.household_id, reason=reason)
    _forget_after_commit([(device.protocol, device.uid, device.id)])
    return device


def rotate_token(device_id: int, *, actor: User | None = None) -> Registered:
    device = _active(get_device(device_id, lock=True))
    if device.protocol != "http":
        raise ApiError(400, "not_http", gettext("Only HTTP devices have tokens."))
    token, device.token_hash = tokens.new_token(device.id)
    audit.record("device.token_rotate", target_type="device", target_id=device.id, actor=actor)
    return Registered(device, token)


def _active(device: Device) -> Device:
    if device.status != "active":
        raise ApiError(409, "retired", gettext("This device is retired and can no longer be changed."))
    return device


def _household_for(data: dict) -> tuple[Household | None, dict]:
    """The household named by `household_code` or `household_id`, and the field error if it cannot be used."""
    errors: dict = {}
    if "household_code" in data:
        name, household = "household_code", db.session.scalar(
            sa.select(Household).where(Household.code == data["household_code"].strip()))
    else:
        name, household = "household_id", db.session.get(Household, data["household_id"])
    if household is None:
        errors[name] = [gettext("Unknown household.")]
    elif not household.active:
        errors[name] = [gettext("This household is no longer served.")]
    return household, errors


def household_problem(code: str) -> str | None:
    """Why no device can be bound to the household of this code, if it cannot (forms report it with the rest)."""
    _, errors = _household_for({"household_code": code})
    return errors["household_code"][0] if errors else None


def _model(code: str | None, protocol: str, errors: dict) -> DeviceModel | None:
    code = (code or "").strip()
    model = db.session.scalar(sa.select(DeviceModel).where(DeviceModel.code == code)) if code else None
    if model is not None and model.protocol != protocol:
        errors["model"] = [_wrong_protocol(model)]
    return model


def _wrong_protocol(model: DeviceModel) -> str:
    return gettext("Model %(code)s is a %(protocol)s device.", code=model.code, protocol=model.protocol)


def _default_interval(protocol: str, model: DeviceModel | None) -> int:
    return model.heartbeat_interval_s if model is not None else DEFAULT_INTERVAL_S[protocol]


def default_interval(protocol: str, model_code: str | None) -> int:
    """The heartbeat interval a device gets when none is given: its model's, else its protocol's."""
    code = (model_code or "").strip()
    model = db.session.scalar(sa.select(DeviceModel).where(DeviceModel.code == code)) if code else None
    return _default_interval(protocol, model if model is not None and model.protocol == protocol else None)


def _refuse_duplicate(protocol: str, uid: str) -> None:
    existing = db.session.execute(
        sa.select(Device.id, Device.status).where(Device.protocol == protocol, Device.uid == uid)).first()
    if existing is not None:
        raise ApiError(409, "conflict", gettext("A device with this uid is already registered."),
                       {"uid": [_duplicate_message(existing.id, existing.status)]})


def _duplicate_message(device_id: int, status: str) -> str:
    if status == "retired":
        return gettext("Already registered to retired device #%(id)s.", id=device_id)
    return gettext("Already registered (device #%(id)s).", id=device_id)


def _insert(device: Device) -> None:
    try:
        with db.session.begin_nested():
            db.session.add(device)
            db.session.flush()
    except IntegrityError:
        # Registered by someone else between our check and this insert: the constraint decides.
        raise ApiError(409, "conflict", gettext("A device with this uid is already registered."),
                       {"uid": [gettext("Already registered.")]}) from None


def _forget_after_commit(keys: Iterable[tuple[str, str, int]]) -> None:
    app, keys = current_app._get_current_object(), list(keys)

    def forget() -> None:
        directory = intake_for(app).directory
        for protocol, uid, device_id in keys:
            directory.forget(protocol, uid, device_id)

    on_commit(db.session, forget)


# --- CSV import -----------------------------------------------------------------------------------------

def import_csv(raw: bytes, *, filename: str | None = None, actor: User | None = None) -> Imported:
    """All rows or none: every row is checked first and any bad row refuses the whole file (400 with an
    error per bad line); otherwise every device is inserted in the caller's one transaction."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ApiError(413, "payload_too_large", gettext("The file is larger than 5 MB."))
    rows = read_csv(_decode(raw))
    clean, errors = _check_rows(rows)
    if errors:
        message = gettext("%(bad)s of %(total)s rows have errors; nothing was imported.",
                          bad=len(errors), total=len(rows))
        raise invalid({"rows": errors}, code="invalid_rows", message=message)
    return _insert_rows(clean, filename, actor)


def _decode(raw: bytes) -> str:
    # Excel saves CSV files as UTF-8 with a BOM, or in the Chinese ANSI code page (GBK ⊂ GB 18030).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise invalid({"file": [gettext("The file is neither UTF-8 nor GBK text.")]}, code="invalid_csv")


def read_csv(text: str) -> list[tuple[int, dict]]:
    """(line number, {column: cell}) for every non-blank row; the header is line 1 (or its own line)."""
    if "\x00" in text:
        raise invalid({"file": [gettext("This is not a CSV text file.")]}, code="invalid_csv")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        columns = _columns(header)
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise invalid({"file": [gettext("At most %(max)s rows per file.", max=MAX_IMPORT_ROWS)]},
                              code="too_many_rows")
            rows.append((reader.line_num, _cells(columns, cells)))
    except csv.Error as exc:
        raise invalid({"file": [gettext("Line %(line)s cannot be read: %(error)s", line=reader.line_num,
                                        error=str(exc))]}, code="invalid_csv") from None
    if not rows:
        raise invalid({"file": [gettext("The file has no device rows.")]}, code="invalid_csv")
    return rows


def _columns(header: list[str] | None) -> list[str]:
    if header is None:
        raise invalid({"file": [gettext("The file is empty.")]}, code="invalid_csv")
    columns = [cell.strip().lower() for cell in header]
    problems = [gettext("Unknown column: %(name)s.", name=c) for c in columns if c and c not in CSV_COLUMNS]
    problems += [gettext("Missing column: %(name)s.", name=c) for c in REQUIRED_COLUMNS if c not in columns]
    problems += [gettext("Column %(name)s appears twice.", name=c) for c in sorted(set(columns))
                 if c and columns.count(c) > 1]
    if problems:
        raise invalid({"header": problems}, code="invalid_csv",
                      message=gettext("The first line must name the columns: %(columns)s.",
                                      columns=",".join(CSV_COLUMNS)))
    return columns


def _cells(columns: list[str], cells: list[str]) -> dict:
    row = {name: cell for name, cell in zip(columns, cells, strict=False) if name}
    if any(cell.strip() for cell in cells[len(columns):]):
        row["_extra"] = True
    return row


def _check_rows(rows: list[tuple[int, dict]]) -> tuple[list[tuple[int, dict]], dict]:
    schema = DeviceRowSchema()
    checked, errors = [], {}
    for line, row in rows:
        row_errors = {"_row": [gettext("More cells than columns in the header.")]} if row.pop("_extra", 0) else {}
        try:
            loaded = schema.load(row)
            loaded["_key"] = (loaded["protocol"], loaded["uid"])
        except ma.ValidationError as exc:
            row_errors.update({name: [str(m) for m in messages] for name, messages in exc.messages.items()})
            loaded = {**row, "_key": None if "uid" in row_errors else _key(row)}
        if row_errors:
            errors[str(line)] = row_errors
        checked.append((line, loaded))
    _check_households(checked, errors)
    _check_models(checked, errors)
    _check_duplicates(checked, errors)
    return [(line, row) for line, row in checked if str(line) not in errors], errors


def _add(errors: dict, line: int, name: str, message: str) -> None:
    errors.setdefault(str(line), {}).setdefault(name, []).append(message)


def _check_households(rows: list[tuple[int, dict]], errors: dict) -> None:
    codes = {row["household_code"].strip() for _, row in rows if (row.get("household_code") or "").strip()}
    found = {code: (id_, active) for code, id_, active in _select_in(
        sa.select(Household.code, Household.id, Household.active), Household.code, codes)}
    for line, row in rows:
        code = (row.get("household_code") or "").strip()
        if not code or "household_code" in errors.get(str(line), {}):
            continue
        if code not in found:
            _add(errors, line, "household_code", gettext("Unknown household."))
        elif not found[code][1]:
            _add(errors, line, "household_code", gettext("This household is no longer served."))
        else:
            row["household_id"] = found[code][0]


def _check_models(rows: list[tuple[int, dict]], errors: dict) -> None:
    models = models_by_code()
    for line, row in rows:
        model = models.get((row.get("model") or "").strip())
        if model is not None and row.get("protocol") in DEFAULT_INTERVAL_S and model.protocol != row["protocol"]:
            _add(errors, line, "model", _wrong_protocol(model))
        row["_model"] = model


def _check_duplicates(rows: list[tuple[int, dict]], errors: dict) -> None:
    first_line: dict[tuple[str, str], int] = {}
    for line, row in rows:
        key = row["_key"]
        if key is None:
            continue
        if key in first_line:
            _add(errors, line, "uid", gettext("Also on line %(line)s of this file.", line=first_line[key]))
        else:
            first_line[key] = line
    for protocol, uid, device_id, status in _registered(first_line):
        _add(errors, first_line[(protocol, uid)], "uid", _duplicate_message(device_id, status))


def _key(row: dict) -> tuple[str, str] | None:
    """(protocol, uid) of a row that failed elsewhere, normalised: its duplicates are worth reporting too."""
    protocol, uid = row.get("protocol"), row.get("uid")
    if protocol not in DEFAULT_INTERVAL_S or not isinstance(uid, str):
        return None
    try:
        return protocol, normalise_uid(protocol, uid)
    except ma.ValidationError:
        return None


def _registered(keys: Iterable[tuple[str, str]]) -> list[sa.Row]:
    """(protocol, uid, id, status) of the devices registered under any of these keys."""
    by_protocol: dict[str, list[str]] = {}
    for protocol, uid in keys:
        by_protocol.setdefault(protocol, []).append(uid)
    found: list[sa.Row] = []
    for protocol, uids in by_protocol.items():
        query = sa.select(Device.protocol, Device.uid, Device.id, Device.status).where(Device.protocol == protocol)
        found += _select_in(query, Device.uid, uids)
    return found


def _select_in(query: sa.Select, column: sa.ColumnElement, values: Iterable[str]) -> list[sa.Row]:
    """`query` restricted to `column IN values`, for tens of thousands of values: one array parameter on
    PostgreSQL (a long IN list costs more to parse than to run), chunks within SQLite's variable limit."""
    values = sorted(set(values))
    if db.session.get_bind().dialect.name == "postgresql":
        array = sa.cast(sa.bindparam(None, values, type_=ARRAY(sa.String)), ARRAY(sa.String))
        return db.session.execute(query.where(column == sa.any_(array))).all()
    rows: list[sa.Row] = []
    for start in range(0, len(values), 10_000):
        rows += db.session.execute(query.where(column.in_(values[start:start + 10_000]))).all()
    return rows


def _insert_rows(rows: list[tuple[int, dict]], filename: str | None, actor: User | None) -> Imported:
    now = utcnow()
    values = [{
        "uid": row["uid"], "protocol": row["protocol"], "household_id": row["household_id"], "model": row["model"],
        "phone": row.get("phone"), "aes_key": row.get("aes_key"), "token_hash": None, "installed_on": now,
        "heartbeat_interval_s": row.get("heartbeat_interval_s") or _default_interval(row["protocol"], row["_model"]),
    } for _, row in rows]
    try:
        with db.session.begin_nested():
            # Core executemany: the driver sends one short statement many times (psycopg pipelines it), where
            # INSERT ... RETURNING would be a few huge multi-row statements, slow to build and to parse.
            db.session.execute(sa.insert(Device.__table__), values)
    except IntegrityError:
        raise ApiError(409, "conflict", gettext("Some of these devices were registered meanwhile; nothing was "
                                                "imported. Please upload the file again.")) from None
    ids = {(p, uid): device_id for p, uid, device_id, _ in _registered((v["protocol"], v["uid"]) for v in values)}
    issued, hashes = [], []
    for line, row in rows:
        if row["protocol"] == "http":
            device_id = ids[("http", row["uid"])]
            token, token_hash = tokens.new_token(device_id)
            issued.append({"line": line, "id": device_id, "uid": row["uid"], "token": token})
            hashes.append({"d_id": device_id, "token_hash": token_hash})
    if hashes:
        table = Device.__table__
        db.session.execute(table.update().where(table.c.id == sa.bindparam("d_id"))
                           .values(token_hash=sa.bindparam("token_hash")), hashes)
    audit.record("device.import", target_type="device", actor=actor, count=len(values),
                 ids=sorted(ids.values()), filename=(filename or "")[:200] or None)
    _forget_after_commit([(protocol, uid, device_id) for (protocol, uid), device_id in ids.items()])
    return Imported(len(values), issued)


# --- device models --------------------------------------------------------------------------------------

def create_model(data: dict, *, actor: User | None = None) -> DeviceModel:
    if db.session.scalar(sa.select(DeviceModel.id).where(DeviceModel.code == data["code"])) is not None:
        raise ApiError(409, "conflict", gettext("This model code is taken."), {"code": [gettext("Already taken.")]})
    model = DeviceModel(**data)
    try:
        with db.session.begin_nested():
            db.session.add(model)
            db.session.flush()
    except IntegrityError:
        raise ApiError(409, "conflict", gettext("This model code is taken."),
                       {"code": [gettext("Already taken.")]}) from None
    audit.record("device_model.create", target_type="device_model", target_id=model.id, actor=actor, **data)
    return model


def update_model(model_id: int, changes: dict, *, actor: User | None = None) -> DeviceModel:
    model = db.session.scalar(sa.select(DeviceModel).where(DeviceModel.id == model_id).with_for_update())
    if model is None:
        raise not_found("Device model")
    apply = changes.pop("apply_to_devices", False)
    diff = {k: [getattr(model, k), v] for k, v in changes.items() if getattr(model, k) != v}
    for name, (_, value) in diff.items():
        setattr(model, name, value)
    moved = 0
    if apply:
        moved = db.session.execute(
            sa.update(Device).where(Device.model == model.code, Device.status == "active",
                                    Device.heartbeat_interval_s != model.heartbeat_interval_s)
            .values(heartbeat_interval_s=model.heartbeat_interval_s)).rowcount
    if diff or moved:
        audit.record("device_model.update", target_type="device_model", target_id=model.id, actor=actor,
                     changes=diff, devices_updated=moved)
    return model
