"""One settings module: every environment variable of CONTRACT.md, its embedded default, and its check.

A bad value stops the process at start-up with the variable named, rather than surfacing later as a
confusing failure on the alarm path.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """An environment variable has a value the platform cannot run with."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    http_port: int = 5000
    dc09_port: int = 7001
    watch_port: int = 7002
    bind: str = "127.0.0.1"
    public_url: str = "http://127.0.0.1:5000"
    twilio_auth_token: str | None = None
    twilio_account_sid: str | None = None
    twilio_from_number: str | None = None
    demo_password: str = "demo"  # noqa: S105 - the documented demo password (CONTRACT.md), demo data only
    token_ttl_s: int = 12 * 3600
    login_rate_limit: str = "10 per minute"
    bench_routes: bool = False
    timings: dict = field(default_factory=dict)  # TIMING_KNOBS given in the environment, in seconds
    twilio_api_base: str | None = None
    intake_socket: str | None = None
    dispatch: dict = field(default_factory=dict)  # DISPATCH_KNOBS given in the environment
    extra: dict = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """No Redis configured: in-process worker, in-process Socket.IO, SQLite broker."""
        return self.redis_url is None

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_auth_token and self.twilio_account_sid and self.twilio_from_number)

    def flask_config(self) -> dict:
        broker = self.redis_url or f"sqla+sqlite:///{self.instance_path / 'broker.sqlite'}"
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": broker,
            "ELDERCARE_EMBEDDED": self.embedded,
            "ELDERCARE_HTTP_PORT": self.http_port,
            "ELDERCARE_DC09_PORT": self.dc09_port,
            "ELDERCARE_WATCH_PORT": self.watch_port,
            "ELDERCARE_BIND": self.bind,
            "ELDERCARE_PUBLIC_URL": self.public_url,
            "ELDERCARE_INTAKE_SOCKET": self.intake_socket,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_FROM_NUMBER": self.twilio_from_number,
            "ELDERCARE_DEMO_PASSWORD": self.demo_password,
            "ELDERCARE_TOKEN_TTL_S": self.token_ttl_s,
            "ELDERCARE_LOGIN_RATE_LIMIT": self.login_rate_limit,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "ELDERCARE_BENCH_ROUTES": self.bench_routes,
            "ELDERCARE_TWILIO_API_BASE": self.twilio_api_base,
            **self.timings,
            **self.dispatch,
            **self.extra,
        }


# Time limits of the alarm path, in seconds; each module holds its default (e.g. escalation.DEFAULTS_S).
# Set in the environment to shorten them for a drill or an end-to-end test.
TIMING_KNOBS = (
    "ELDERCARE_ESCALATE_SUPERVISORS_S", "ELDERCARE_ESCALATE_ALL_S", "ELDERCARE_REVIEW_AFTER_S",
    "ELDERCARE_TEAM_ACK_S", "ELDERCARE_CASCADE_AFTER_S", "ELDERCARE_CASCADE_SMS_S", "ELDERCARE_CASCADE_VOICE_S",
    "ELDERCARE_TIMER_SWEEP_S", "ELDERCARE_NOTIFY_SWEEP_S",
)


# Service dispatch (eldercare.dispatch.offers and .matching hold the defaults): failed rounds before an order
# is escalated (3), offers of a broadcast round (3), the least time to answer an offer for a scheduled order
# (1800 s), minutes before the promised time at which an undispatched order is escalated (15), and how long
# matching keeps the providers' directory and statistics cached (60 s).
DISPATCH_KNOBS = (
    "ELDERCARE_DISPATCH_MAX_ROUNDS", "ELDERCARE_DISPATCH_BROADCAST_K", "ELDERCARE_SCHEDULED_OFFER_EXPIRY_S",
    "ELDERCARE_SLA_SLACK_MIN", "ELDERCARE_MATCHING_CACHE_S",
)


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Threads of one process share the file; WAL (set on connect) lets readers run beside the writer.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


def load_settings(env: Mapping[str, str] | None = None, instance_path: Path | None = None) -> Settings:
    env = os.environ if env is None else env
    instance = Path(env.get("ELDERCARE_INSTANCE_PATH") or instance_path or PROJECT_ROOT / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    database_url = _database_url(env.get("DATABASE_URL") or f"sqlite:///{instance / 'eldercare.db'}")
    redis_url = env.get("REDIS_URL") or None
    if redis_url is not None:
        _require_scheme("REDIS_URL", redis_url, ("redis", "rediss", "unix"))
    public_url = env.get("ELDERCARE_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")
    _require_scheme("ELDERCARE_PUBLIC_URL", public_url, ("http", "https"))
    return Settings(
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=env.get("SECRET_KEY") or _instance_secret(instance),
        http_port=_port(env, "ELDERCARE_HTTP_PORT", 5000),
        dc09_port=_port(env, "ELDERCARE_DC09_PORT", 7001),
        watch_port=_port(env, "ELDERCARE_WATCH_PORT", 7002),
        bind=env.get("ELDERCARE_BIND", "127.0.0.1"),
        public_url=public_url,
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
        twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
        demo_password=env.get("ELDERCARE_DEMO_PASSWORD", "demo"),
        token_ttl_s=_positive_int(env, "ELDERCARE_TOKEN_TTL_S", 12 * 3600),
        bench_routes=env.get("ELDERCARE_BENCH_ROUTES") == "1",
        timings={name: _positive_float(env, name) for name in TIMING_KNOBS if env.get(name)},
        dispatch={name: _positive_int(env, name, 1) for name in DISPATCH_KNOBS if env.get(name)},
        # Where the Twilio SDK's requests go instead of api.twilio.com: a local stand-in for drills,
        # benchmarks and end-to-end tests (the machine has no internet). Unset in production.
        twilio_api_base=(env.get("ELDERCARE_TWILIO_API_BASE") or "").rstrip("/") or None,
        # A Unix socket path shared by the web and receivers processes of a node: the receivers process then
        # commits the web workers' HTTP device events too (eldercare/devices/intake_link.py). Unset: each web
        # process commits its own.
        intake_socket=env.get("ELDERCARE_INTAKE_SOCKET") or None,
    )


def _database_url(url: str) -> str:
    _require_scheme("DATABASE_URL", url, ("sqlite", "postgresql", "postgresql+psycopg"))
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _require_scheme(name: str, url: str, schemes: tuple[str, ...]) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        raise SettingsError(f"{name}={url!r}: scheme must be one of {', '.join(schemes)}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: not an integer") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r}: must be positive")
    return value


def _positive_float(env: Mapping[str, str], name: str) -> float:
    raw = env[name]
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: not a number of seconds") from None
    if not value > 0:
        raise SettingsError(f"{name}={raw!r}: must be positive")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _positive_int(env, name, default)
    if value > 65535:
        raise SettingsError(f"{name}={value}: not a TCP/UDP port")
    return value


def _instance_secret(instance: Path) -> str:
    """Generated once and kept in instance/, so sessions and tokens survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
