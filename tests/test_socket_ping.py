"""`ping` on /ops and /provider: the round-trip check consoles and the latency benchmark use."""

from __future__ import annotations

from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE
from eldercare.extensions import socketio
from tests.conftest import token_for


def test_ping_is_acknowledged_with_an_echo(app, client):
    for namespace, username in ((OPS_NAMESPACE, "operator1"), (PROVIDER_NAMESPACE, "provider1")):
        sock = socketio.test_client(app, namespace=namespace, auth={"token": token_for(client, username)})
        try:
            assert sock.emit("ping", 42, namespace=namespace, callback=True) == {"echo": 42}
            assert sock.emit("ping", {"x": 1}, namespace=namespace, callback=True) == {"echo": None}
        finally:
            sock.disconnect(namespace)
