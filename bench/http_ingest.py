"""HTTP alarm ingest against a bare endpoint on the same server, same run.

    apt-get install -y wrk   # once
    .venv/bin/python -m bench.http_ingest [--seconds 10] [--connections 64] [--no-link] [--workers 2 --threads 32]

Production mode (PostgreSQL + Redis) as the Procfile runs a web node: gunicorn 1 worker × 100 threads
(`--workers`/`--threads` to measure another web tier), wrk on loopback, and the node's receivers process
(`flask receivers`), which commits the web workers' events through the intake link
(`ELDERCARE_INTAKE_SOCKET`; `--no-link`: each web worker commits its own, as without that setting).
`/bench/bare` parses the same JSON and answers 202 without touching the database; `/api/v1/device-events`
authenticates the device token, validates, rate-limits (Redis) and answers only after the event, device
state and incident are committed (group commit). 5,000 HTTP devices, each event a new `event_id`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from pathlib import Path

import sqlalchemy as sa

from bench.common import free_port, fresh_database, start_gunicorn, start_receivers, stop, wrk

DEVICES = int(os.environ.get("BENCH_DEVICES", "5000"))
TYPES = ("sos", "sos", "fall", "low_battery", "test")


def provision_devices(database_url: str) -> list[str]:
    """5,000 HTTP devices with tokens, spread over the demo households."""
    from eldercare.devices.tokens import hash_secret

    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        households = [row[0] for row in conn.execute(sa.text("SELECT id FROM households ORDER BY id"))]
        start = conn.execute(sa.text("SELECT max(id) FROM devices")).scalar() + 1
        rows, tokens = [], []
        for i in range(DEVICES):
            device_id, secret = start + i, secrets.token_urlsafe(32)
            tokens.append(f"d{device_id}.{secret}")
            rows.append({"id": device_id, "uid": f"BENCH-{device_id}", "h": households[i % len(households)],
                         "th": hash_secret(secret)})
        conn.execute(sa.text(
            "INSERT INTO devices (id, uid, protocol, household_id, token_hash, heartbeat_interval_s, status, online,"
            " created_at, updated_at) VALUES (:id, :uid, 'http', :h, :th, 300, 'active', true, now(), now())"), rows)
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('devices', 'id'), (SELECT max(id) FROM devices))"))
    engine.dispose()
    return tokens


def lua_script(path: Path, endpoint: str, tokens: list[str]) -> Path:
    """wrk script: each request a fresh event id from a random device; 429s would show as non-2xx."""
    run = secrets.token_hex(3)  # event ids unique across runs (the warm-up must not make repeats)
    path.write_text(f"""
local tokens = {json.dumps(tokens).replace("[", "{").replace("]", "}")}
local types = {{"{'", "'.join(TYPES)}"}}
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(tid * 7919 + os.time())  -- each wrk thread its own sequence of devices
end
request = function()
  counter = counter + 1
  local token = tokens[math.random(#tokens)]
  local body = string.format('{{"event_id":"{run}-%d-%d","type":"%s","occurred_at":"2026-11-30T00:00:00Z",'
    .. '"battery_pct":80}}', tid, counter, types[(counter % #types) + 1])
  return wrk.format("POST", "{endpoint}", {{["Content-Type"]="application/json",
    ["Authorization"]="Bearer " .. token}}, body)
end
""")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)  # the Procfile's web node
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--no-link", action="store_true", help="web workers commit their own events")
    args = parser.parse_args()
    url = fresh_database()
    tokens = provision_devices(url)
    work = Path("/tmp/eldercare-bench")
    link = None if args.no_link else str(work / f"intake-{os.getpid()}.sock")
    receivers = start_receivers(url, free_port(), intake_socket=link)
    port = free_port()
    server = start_gunicorn(url, port, workers=args.workers, threads=args.threads,
                            **({"ELDERCARE_INTAKE_SOCKET": link} if link else {}))
    try:
        base = f"http://127.0.0.1:{port}"
        results = {}
        for name, endpoint in (("bare", "/bench/bare"), ("ingest", "/api/v1/device-events")):
            script = lua_script(work / f"{name}.lua", endpoint, tokens)
            wrk(base, script, seconds=2, connections=args.connections)  # warm-up
            results[name] = wrk(base, script, seconds=args.seconds, connections=args.connections)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM device_events WHERE protocol='http'")).scalar()
            incidents = conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar()
        engine.dispose()
    finally:
        stop(server)
        stop(receivers)
    bare, ingest = results["bare"], results["ingest"]
    print(f"gunicorn {args.workers} worker(s) x {args.threads} threads, {args.connections} connections")
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for label, r in (("bare (parse JSON, 202)", bare), ("device-events (durable)", ingest)):
        print(f"{label:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['non_2xx']:>10}")
    print(f"ratio ingest/bare: {ingest['rps'] / bare['rps']:.2f}  (goal >= 0.5)")
    print(f"events stored: {stored}, incidents: {incidents}; committed by "
          + ("the receivers process (intake link)" if link else "each web worker"))
    if os.environ.get("BENCH_VERBOSE"):
        print(bare["raw"], ingest["raw"])


if __name__ == "__main__":
    main()
