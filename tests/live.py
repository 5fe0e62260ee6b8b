"""Real processes for end-to-end tests: the web server (`flask serve`, gunicorn) and a Celery worker.

They run against the committed test database (`migrated_db`) and a Redis database of their own, so they
are exactly what production runs: production mode, Redis broker, Socket.IO message queue.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests

from tests.conftest import DEMO_PASSWORD, TEST_DB, TEST_REDIS_URL, redis_flush

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free port below 32768 (higher ones collide with the kernel's outgoing ports here)."""
    for port in range(20000 + os.getpid() % 5000, 32000):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


TWILIO_ACCOUNT = "AC" + "e2e0" * 8
TWILIO_TOKEN = "e2e-twilio-token"
TWILIO_FROM = "+8647100000000"


class FakeTwilio:
    """A stand-in for api.twilio.com on loopback (the border of the machine): the real SDK in the server and
    the worker sends here (ELDERCARE_TWILIO_API_BASE); every request is recorded with its form fields."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] if len(v) == 1 else v
                        for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                with fake.lock:
                    fake.requests.append({"path": self.path, "form": form, "at": time.time()})
                    sid = ("SM" if self.path.endswith("/Messages.json") else "CA") + f"{len(fake.requests):032x}"
                body = json.dumps({"sid": sid, "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        # Port 0: the kernel picks one now, so it cannot be handed to a server that binds later.
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent_to(self, number: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["form"].get("To") == number]

    def wait_for(self, number: str, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_to(number)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.sent_to(number)


_FAKE_TWILIO: FakeTwilio | None = None


def fake_twilio_server() -> FakeTwilio:
    """One per test session, shared by every live server and worker process."""
    global _FAKE_TWILIO
    if _FAKE_TWILIO is None:
        _FAKE_TWILIO = FakeTwilio()
    return _FAKE_TWILIO


# Every process the end-to-end tests start carries this mark in its environment. A run that is killed
# (Ctrl-C twice, a timeout) cannot stop them, and a later run on the same Redis database would have them
# take its tasks: the next run of the same suite ends them first (`pytest_sessionstart`).
SUITE_MARK = ("ELDERCARE_E2E_SUITE", f"{TEST_DB}@{TEST_REDIS_URL}")


def process_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "ELDERCARE_INSTANCE_PATH": str(instance),
        "ELDERCARE_DEMO_PASSWORD": DEMO_PASSWORD, "SECRET_KEY": "e2e-secret", "PYTHONUNBUFFERED": "1",
        # Twilio through its SDK, to the stand-in above; webhooks are signed with this token by the tests.
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT, "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "ELDERCARE_TWILIO_API_BASE": fake_twilio_server().url,
        # Alarms that earlier tests left unclaimed must not start cascades (which call emergency teams) under
        # later tests; the cascade's own end-to-end test brings its start timer forward itself.
        "ELDERCARE_CASCADE_AFTER_S": "3600",
        SUITE_MARK[0]: SUITE_MARK[1],
    })
    env.update(extra)
    return env


def pytest_sessionstart(session: pytest.Session) -> None:
    for pid in leftover_processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            print(f"ended process {pid}, left running by an earlier run of this test suite", file=sys.stderr)


def leftover_processes() -> list[int]:
    mark = "=".join(SUITE_MARK).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if mark in environ:
            found.append(int(entry.name))
    return found


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop the process *group*: a leader that died (SIGKILLed by a test) may have left children, such
    as Celery's beat process, which must not outlive the test session."""
    _signal_group(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    _signal_group(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(5)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing left in the group
        os.killpg(pgid, sig)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class LiveServer:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        response = requests.post(f"{self.url}/api/v1/auth/token", json={"username": username, "password": password},
                                 timeout=10)
        response.raise_for_status()
        return response.json()["access_token"]


@pytest.fixture(scope="session")
def clean_redis() -> str:
    """Flushed once, before any process starts: flushing under a running worker would delete its queue
    bindings (`_kombu.binding.*`), and tasks sent afterwards could be routed nowhere."""
    redis_flush()
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def live_server(migrated_db: str, clean_redis: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    instance = tmp_path_factory.mktemp("live-instance")
    port = free_port()
    log = instance / "server.log"
    env = process_env(migrated_db, instance, ELDERCARE_HTTP_PORT=str(port))
    proc = start([str(BIN / "flask"), "--app", "eldercare", "serve", "--no-demo"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, log)
        yield LiveServer(url, port, proc, log)
    finally:
        stop(proc)


def start_worker(database_url: str, instance: Path) -> subprocess.Popen:
    """A real Celery worker process (with beat) on the Redis broker, all four queues, once it is ready."""
    log = instance / "worker.log"
    env = process_env(database_url, instance)
    proc = start([str(BIN / "celery"), "-A", "worker", "worker", "-B", "-Q", "alarms,dispatch,notify,default",
                  "--pool", "threads", "-c", "4", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                  "-s", str(instance / "beat-schedule"), "-n", f"e2e-{os.getpid()}-{instance.name}@%h"], env, log)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text() and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


@pytest.fixture(scope="session")
def celery_worker(migrated_db: str, clean_redis: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    proc = start_worker(migrated_db, tmp_path_factory.mktemp("worker-instance"))
    try:
        yield proc
    finally:
        stop(proc)
