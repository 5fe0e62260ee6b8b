"""`make run` on the embedded defaults: migrates, loads the demo data, serves, works, and Ctrl-C leaves
nothing behind. This is the quick start of the README, run as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
import requests
import socketio

from tests.helpers import dc09_frame
from tests.live import ROOT, free_port, wait_http

pytestmark = pytest.mark.e2e


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_serves_and_ctrl_c_stops_everything(tmp_path):
    port, dc09_port = free_port(), free_port() + 1
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAKEFLAGS")}
    env.update(ELDERCARE_INSTANCE_PATH=str(tmp_path), ELDERCARE_HTTP_PORT=str(port),
               ELDERCARE_DC09_PORT=str(dc09_port), ELDERCARE_WATCH_PORT=str(dc09_port + 1),
               ELDERCARE_DEMO_PASSWORD="quickstart")
    log = tmp_path / "make-run.log"
    started = time.monotonic()
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc, log, timeout=150)
        ready_after = time.monotonic() - started
        assert requests.get(f"{base}/healthz", timeout=5).json() == {
            "status": "ok", "database": "ok", "broker": "embedded"}
        assert (tmp_path / "eldercare.db").exists()
        output = log.read_text()
        assert "/login" in output and "operator1" in output  # it prints where to log in

        tokens = {}
        for username in ("admin", "supervisor1", "operator1", "provider1", "team1"):
            response = requests.post(f"{base}/api/v1/auth/token", timeout=10,
                                     json={"username": username, "password": "quickstart"})
            assert response.status_code == 200, (username, response.text)
            tokens[username] = response.json()["access_token"]

        # The in-process worker and Socket.IO: a notice goes API → SQLite broker → worker thread → socket.
        with socketio.SimpleClient() as client:
            client.connect(base, namespace="/ops", auth={"token": tokens["operator1"]}, transports=["websocket"])
            response = requests.post(f"{base}/api/v1/notices", timeout=10,
                                     headers={"Authorization": f"Bearer {tokens['supervisor1']}"},
                                     json={"audience": "ops", "text": "quick start works"})
            assert response.status_code == 202
            event, payload = client.receive(timeout=10)
        assert event == "notice"
        assert payload["text"] == "quick start works"
        # The device receivers run in the same process tree: a DC-09 link test (NULL) is acknowledged.
        with socket.create_connection(("127.0.0.1", dc09_port), timeout=10) as link:
            link.sendall(dc09_frame("", 1, "", token="NULL"))
            assert b'"ACK"0001' in link.recv(1024)
        assert ready_after < 60  # migrations + the whole demo city on SQLite, venv already installed
        print(f"make run ready after {ready_after:.1f}s (venv present, demo data loaded)")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the foreground group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"make run ignored Ctrl-C:\n{log.read_text()[-2000:]}")
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid), subprocess.run(["ps", "-g", str(proc.pid), "-o", "pid,cmd"],
                                                       capture_output=True, text=True, check=False).stdout
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
