"""Runs the device receivers (SIA DC-09 on TCP+UDP, the watch protocol on TCP) on one asyncio loop.

Embedded mode: a thread of the web process (started by `flask serve`). Production: their own process,
`flask --app eldercare receivers`, one or more behind a TCP/UDP load balancer; they share nothing but the
database, so any number can run. Either way every frame is acknowledged only after the intake has
committed it, so a receiver killed at any moment loses nothing it acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from flask import Flask

from eldercare.devices.intake import intake_for
from eldercare.devices.intake_link import IntakeLinkServer
from eldercare.devices.receivers.dc09_server import Dc09Server
from eldercare.devices.receivers.watch_server import WatchServer

log = logging.getLogger(__name__)


class ReceiverRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dc09: Dc09Server | None = None
        self.watch: WatchServer | None = None
        self.link: IntakeLinkServer | None = None
        self.ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self.error: BaseException | None = None

    async def _serve(self) -> None:
        config = self.app.config
        intake = intake_for(self.app)
        host = config["ELDERCARE_BIND"]
        self._stopping = asyncio.Event()
        try:
            self.dc09 = await Dc09Server(intake).start(host, config["ELDERCARE_DC09_PORT"])
            self.watch = WatchServer(intake)
            await self.watch.start(host, config["ELDERCARE_WATCH_PORT"])
        except OSError as exc:
            self.error = exc
            log.error("device receivers could not start: %s", exc)
            self.ready.set()
            raise
        log.info("device receivers up: DC-09 %s:%s (TCP+UDP), watch %s:%s", host, config["ELDERCARE_DC09_PORT"],
                 host, config["ELDERCARE_WATCH_PORT"])
        if config.get("ELDERCARE_INTAKE_SOCKET"):  # the web workers' HTTP events are committed here too
            self.link = await IntakeLinkServer(intake, config["ELDERCARE_INTAKE_SOCKET"]).start()
            log.info("intake link up on %s", config["ELDERCARE_INTAKE_SOCKET"])
        self.ready.set()
        await self._stopping.wait()
        if self.link is not None:
            await self.link.stop()
        await self.dc09.stop()
        await self.watch.stop()

    def run(self) -> None:
        """In the calling thread until `stop` (or SIGINT/SIGTERM when it is the main thread)."""
        self.loop = asyncio.new_event_loop()
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self.loop.add_signal_handler(sig, self.stop)
            self.loop.run_until_complete(self._serve())
        except OSError:
            pass  # logged in _serve; the embedded web process keeps serving the consoles
        finally:
            intake_for(self.app).stop()  # flush what is in flight before the loop goes
            self.loop.close()

    def start_in_thread(self, timeout: float = 10.0) -> ReceiverRunner:
        threading.Thread(target=self.run, name="device-receivers", daemon=True).start()
        self.ready.wait(timeout)
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stopping is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
