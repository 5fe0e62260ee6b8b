"""Shared plumbing of the benchmarks: a fresh PostgreSQL database with the demo city, server processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")


def fresh_database(name: str | None = None) -> str:
    """A new database built by the migrations and loaded with the demo city (`BENCH_DB`, to keep benchmarks
    run from several checkouts at once apart)."""
    name = name or os.environ.get("BENCH_DB", "eldercare_bench")
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    env = {**os.environ, "DATABASE_URL": url, "ELDERCARE_INSTANCE_PATH": "/tmp/eldercare-bench"}
    env.pop("REDIS_URL", None)
    subprocess.run([str(BIN / "flask"), "--app", "eldercare", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([str(BIN / "flask"), "--app", "eldercare", "demo", "load"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return url


def free_port() -> int:
    for port in range(21000, 32000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def start_gunicorn(database_url: str, port: int, workers: int = 2, threads: int = 32,
                   log: Path = Path("/tmp/eldercare-bench/gunicorn.log"), **env_extra: str) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "ELDERCARE_INSTANCE_PATH": "/tmp/eldercare-bench", "SECRET_KEY": "bench", "ELDERCARE_BENCH_ROUTES": "1",
           **env_extra}
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", str(workers), "--threads", str(threads), "--no-control-socket",
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "eldercare.wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:  # not listening yet, or the workers are still loading the app
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(log.read_text()[-2000:])


def start_receivers(url: str, port: int, intake_socket: str | None = None) -> subprocess.Popen:
    """`flask receivers` in production mode: watch protocol on `port`, DC-09 on `port + 1`, and the web
    workers' intake link on `intake_socket` if given. Returns once it listens."""
    work = Path("/tmp/eldercare-bench")
    work.mkdir(exist_ok=True)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "ELDERCARE_INSTANCE_PATH": str(work),
           "SECRET_KEY": "bench", "ELDERCARE_WATCH_PORT": str(port), "ELDERCARE_DC09_PORT": str(port + 1)}
    if intake_socket:
        env["ELDERCARE_INTAKE_SOCKET"] = intake_socket
    proc = subprocess.Popen([str(BIN / "flask"), "--app", "eldercare", "receivers"], cwd=ROOT, env=env,
                            stdout=(work / "receivers.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if intake_socket is None or Path(intake_socket).exists():
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError((work / "receivers.log").read_text()[-2000:])


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, script: Path, seconds: int = 10, connections: int = 64, threads: int = 2) -> dict:
    """Run wrk (Debian package `wrk`) and read requests/s, p50/p99 latency and non-2xx counts."""
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "raw": out,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
