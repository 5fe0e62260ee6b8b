"""Heartbeats per second into one watch-receiver process, over many TCP connections.

    .venv/bin/python bench/watch_bench.py [--connections 200] [--seconds 5] [--windows 1,32]
                                          [--stores noop,batched,loopbatch] [--commit-ms 1]

The receiver (`WatchServer`, the real protocol layer) runs in its own process; a client process opens
`--connections` connections, each a watch with its own id, and sends ``LK`` frames, each answered ``LK``
only after the store resolved. `--windows`: frames in flight per connection — 1 is how a watch behaves
(send, wait for the answer), more measures what the receiver can take when the client is not the limit.

Stores:
- ``noop``: resolves at once — the protocol layer alone (TCP, framing, parsing, lookup, reply).
- ``batched``: the platform's `IntakeBatcher` (group commit in a thread) with a simulated commit of
  ``--commit-ms`` per batch instead of the database — the hand-off to the batch thread and back included.
- ``loopbatch``: the same group commit gathered on the event loop (`LoopBatcher` below), for comparison.

Prints heartbeats/s (replies received in the measured window), reply latency p50/p99 and the receiver
process's CPU use (near 100 % = the receiver is the limit). Bounded: warm-up 1 s + `--seconds` per run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

WATCH_BASE = 8800000000
WARMUP_S = 1.0


def make_store(kind: str, commit_ms: float):
    from eldercare.devices.intake import Outcome

    outcome = Outcome(None, False, None)
    sizes: list[int] = []

    def commit(items):  # stands in for ingest_batch + COMMIT
        sizes.append(len(items))
        time.sleep(commit_ms / 1000)
        return [outcome] * len(items)

    def report():
        if sizes:
            print(f"    batches: {len(sizes)}, mean size {statistics.fmean(sizes):.0f}, max {max(sizes)}")

    if kind == "noop":
        async def store(inbound):
            return outcome

    elif kind == "batched":
        batcher = platform_batcher(commit)

        async def store(inbound):
            return await asyncio.wrap_future(batcher.submit(inbound))

    elif kind == "loopbatch":
        loop_batcher = LoopBatcher(commit)

        async def store(inbound):
            return await loop_batcher.submit(inbound)

    else:
        raise SystemExit(f"unknown store {kind!r}")
    return store, report


def platform_batcher(commit):
    from flask import Flask

    from eldercare.devices.intake import IntakeBatcher
    from eldercare.extensions import db

    app = Flask("watch-bench")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db.init_app(app)
    return IntakeBatcher(app, commit)


class LoopBatcher:
    """Group commit gathered on the event loop: one hop to the commit thread and back per batch, where
    `IntakeBatcher` takes a queue put, a cross-thread future and a loop wake-up per event."""

    def __init__(self, commit, max_batch: int = 1000, max_wait_s: float = 0.002) -> None:
        self.commit, self.max_batch, self.max_wait_s = commit, max_batch, max_wait_s
        self.items: list = []
        self.futures: list[asyncio.Future] = []
        self.timer: asyncio.TimerHandle | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="commit")

    def submit(self, inbound) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.items.append(inbound)
        self.futures.append(future)
        if len(self.items) >= self.max_batch:
            self.flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.max_wait_s, self.flush)
        return future

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        items, futures, self.items, self.futures = self.items, self.futures, [], []
        done = asyncio.get_running_loop().run_in_executor(self.executor, self.commit, items)
        done.add_done_callback(lambda result: [f.set_result(o) for f, o in zip(futures, result.result(),
                                                                                strict=True)])


def serve(kind: str, commit_ms: float, connections: int, ready, done) -> None:
    from eldercare.devices.intake import DeviceInfo
    from eldercare.devices.receivers.watch_server import WatchLimits, WatchServer

    store, report = make_store(kind, commit_ms)
    devices = {str(WATCH_BASE + n): DeviceInfo(n + 1, str(WATCH_BASE + n), "watch", None, None, "active")
               for n in range(connections)}

    class Intake:
        def lookup(self, protocol, uid):
            return devices.get(uid)

        async def store(self, inbound):
            return await store(inbound)

    async def main():
        server = WatchServer(Intake(), WatchLimits(idle_timeout=60))
        for _ in range(100):
            port = random.randrange(20000, 32768)
            try:
                await server.start("127.0.0.1", port)
                break
            except OSError:
                continue
        loop = asyncio.get_running_loop()
        ready.put(port)
        await loop.run_in_executor(None, done.get)  # "start" marks the measured window, "stop" ends
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        await loop.run_in_executor(None, done.get)
        ready.put((time.process_time() - cpu0) / (time.perf_counter() - wall0))
        await loop.run_in_executor(None, done.get)  # "exit": the client has finished
        await server.stop()
        report()

    asyncio.run(main())


async def client(port: int, connections: int, window: int, seconds: float) -> tuple[int, list[float]]:
    from eldercare.devices.watch import build_frame

    counts = [0]
    latencies: list[float] = []
    measuring = [False]
    stop_at = time.perf_counter() + WARMUP_S + seconds

    async def watch(n: int) -> None:
        frame = build_frame("SG", str(WATCH_BASE + n), "LK,0,0,85")
        burst = frame * window
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            writer.write(burst)
            got = 0
            while got < window:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the receiver closed the connection")
                got += data.count(b"]")
            if measuring[0]:
                counts[0] += window
                latencies.append(time.perf_counter() - sent)
        writer.close()

    tasks = [asyncio.create_task(watch(n)) for n in range(connections)]
    await asyncio.sleep(WARMUP_S)
    measuring[0] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring[0] = False
    elapsed = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return round(counts[0] / elapsed), latencies


def run_one(kind: str, window: int, args) -> None:
    ctx = mp.get_context("spawn")
    ready, done = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=serve, args=(kind, args.commit_ms, args.connections, ready, done))
    proc.start()
    try:
        port = ready.get(timeout=30)

        async def measured():
            task = asyncio.create_task(client(port, args.connections, window, args.seconds))
            await asyncio.sleep(WARMUP_S)
            done.put("start")
            await asyncio.sleep(args.seconds)
            done.put("stop")
            try:
                return await task
            finally:
                done.put("exit")

        client_cpu0 = time.process_time()
        rate, latencies = asyncio.run(measured())
        client_cpu = (time.process_time() - client_cpu0) / (WARMUP_S + args.seconds)
        cpu = ready.get(timeout=30)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    per_beat = cpu / rate * 1e6 if rate else float("nan")
    print(f"  store={kind:<8} window={window:<3} {rate:>8,} heartbeats/s   reply p50 {p50:7.2f} ms  "
          f"p99 {p99:7.2f} ms   receiver CPU {cpu:4.0%} = {per_beat:5.1f} µs/heartbeat "
          f"(one core: {1e6 / per_beat:>7,.0f}/s)   client CPU {client_cpu:4.0%}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--windows", default="1,32")
    parser.add_argument("--stores", default="noop,batched,loopbatch")
    parser.add_argument("--commit-ms", type=float, default=1.0, help="simulated commit time per batch")
    args = parser.parse_args()
    print(f"watch receiver: {args.connections} connections, {args.seconds:g} s per run "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {mp.cpu_count()} CPUs, client in a second process)")
    for kind in args.stores.split(","):
        for window in (int(w) for w in args.windows.split(",")):
            run_one(kind, window, args)


if __name__ == "__main__":
    main()
