"""Heartbeats per second into one watch-receiver process, over many TCP connections.

    .venv/bin/python bench/watch_bench.py [--connections 200] [--seconds 5] [--windows 1,32] [--stores noop,batched]

The receiver (`WatchServer`, the real protocol layer) runs in its own process; a client process opens
`--connections` connections, each a watch with its own id, and sends ``LK`` frames, each answered ``LK``
only after the store resolved. `--windows`: frames in flight per connection — 1 is how a watch behaves
(send, wait for the answer), more measures what the receiver can take when the client is not the limit.

Stores:
- ``noop``: resolves at once — the protocol layer alone (TCP, framing, parsing, lookup, reply).
- ``batched``: the platform's `IntakeBatcher` (group commit in a thread) with a simulated commit of
  ``--commit-ms`` per batch instead of the database — the hand-off to the batch thread and back included.

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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

WATCH_BASE = 8800000000
WARMUP_S = 1.0


def make_store(kind: str, commit_ms: float):
    from eldercare.devices.intake import Outcome

    if kind == "noop":
        outcome = Outcome(None, False, None)

        async def store(inbound):
            return outcome

        return store, lambda: None

    from flask import Flask

    from eldercare.devices.intake import IntakeBatcher
    from eldercare.extensions import db

    app = Flask("watch-bench")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db.init_app(app)

    def commit(items):  # stands in for ingest_batch + COMMIT
        time.sleep(commit_ms / 1000)
        return [Outcome(None, False, None)] * len(items)

    batcher = IntakeBatcher(app, commit)
    sizes: list[int] = []

    def counted(items):
        sizes.append(len(items))
        return commit(items)

    batcher.process = counted

    async def store(inbound):
        return await asyncio.wrap_future(batcher.submit(inbound))

    def report():
        if sizes:
            print(f"    batches: {len(sizes)}, mean size {statistics.fmean(sizes):.0f}, max {max(sizes)}")

    return store, report


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

        rate, latencies = asyncio.run(measured())
        cpu = ready.get(timeout=30)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    print(f"  store={kind:<8} window={window:<3} {rate:>8,} heartbeats/s   reply p50 {p50:6.2f} ms  "
          f"p99 {p99:6.2f} ms   receiver CPU {cpu:4.0%}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--windows", default="1,32")
    parser.add_argument("--stores", default="noop,batched")
    parser.add_argument("--commit-ms", type=float, default=1.0, help="simulated commit time per batch")
    args = parser.parse_args()
    print(f"watch receiver: {args.connections} connections, {args.seconds:g} s per run "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {mp.cpu_count()} CPUs, client in a second process)")
    for kind in args.stores.split(","):
        for window in (int(w) for w in args.windows.split(",")):
            run_one(kind, window, args)


if __name__ == "__main__":
    main()
