"""DC-09: frames/s through our receiver against pysiaalarm's own asyncio receiver, same frames, same run.

    .venv/bin/python bench/dc09_bench.py [--seconds 2] [--rounds 3] [--connections 32] [--max-frames 40000]

Each receiver runs alone in its own process on 127.0.0.1 (TCP), with a no-op store on both sides (no
database: the point is protocol handling). The client, in this process, keeps `--connections` connections
busy, each sending a frame and waiting for its answer (pysiaalarm handles one frame per read, so frames are
never pipelined). For each receiver and scenario it reports frames/s, answer latency, the receiver process's
CPU time per frame (read from /proc, which the client's own speed does not affect) and answers that were not
an ACK. Scenarios: plain ADM-CID + SIA-DCS frames with timestamps, and AES-128 encrypted SIA-DCS frames.
The two receivers take turns for `--rounds` rounds and the medians are compared, so that a neighbour's load
on a shared machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eldercare.devices import dc09

ACCOUNTS = [f"{1000 + n:04d}" for n in range(100)]
KEY = b"0123456789abcdef"
SCENARIOS = ("plain", "aes128")


# ------------------------------------------------------------------------------------------- receivers


async def serve_ours(port: int, key: bytes | None) -> None:
    from eldercare.devices.intake import DeviceInfo, Outcome
    from eldercare.devices.receivers.dc09_server import Dc09Server

    devices = {account: DeviceInfo(n, account, "dc09", n, key, "active") for n, account in enumerate(ACCOUNTS)}

    class NoOpIntake:
        def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
            return devices.get(uid)

        async def store(self, inbound: object) -> Outcome:
            return Outcome(1, False, None)

    server = await Dc09Server(NoOpIntake()).start("127.0.0.1", port)
    await _ready_then_wait()
    await server.stop()


async def serve_pysiaalarm(port: int, key: bytes | None) -> None:
    from pysiaalarm.aio import SIAAccount, SIAClient

    async def no_op(event: object) -> None:
        return None

    accounts = [SIAAccount(account, key.decode() if key else None) for account in ACCOUNTS]
    client = SIAClient("127.0.0.1", port, accounts, no_op)
    await client.async_start()
    await _ready_then_wait()
    await client.async_stop()


async def _ready_then_wait() -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


# -------------------------------------------------------------------------------------------- frames


def make_frames(scenario: str, count: int) -> list[bytes]:
    now = datetime.now(UTC)
    frames = []
    for n in range(count):
        account, seq = ACCOUNTS[n % len(ACCOUNTS)], n // len(ACCOUNTS) % 9999 + 1
        if scenario == "aes128":
            frames.append(dc09.build("SIA-DCS", seq, f"#{account}|Nri1/MA{n % 100:03d}", account=account,
                                     receiver="1", key=KEY, timestamp=now))
        elif n % 2:
            frames.append(dc09.build("SIA-DCS", seq, f"#{account}|Nri1/FA{n % 100:03d}", account=account,
                                     receiver="1", timestamp=now))
        else:
            frames.append(dc09.build("ADM-CID", seq, f"#{account}|1100 01 {n % 1000:03d}", account=account,
                                     receiver="1", timestamp=now))
    return frames


# -------------------------------------------------------------------------------------------- client


async def drive(port: int, frames: list[bytes], connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    not_ack = 0
    deadline = time.perf_counter() + seconds
    queue = iter(frames)

    async def worker() -> None:
        nonlocal not_ack
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for frame in queue:
                if time.perf_counter() >= deadline:
                    return
                started = time.perf_counter()
                writer.write(frame)
                answer = await reader.readuntil(b"\r")
                latencies.append(time.perf_counter() - started)
                not_ack += b'ACK"' not in answer
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"frames": len(latencies), "seconds": elapsed, "rate": len(latencies) / elapsed, "not_ack": not_ack,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_one(kind: str, scenario: str, args: argparse.Namespace) -> dict:
    frames = make_frames(scenario, args.max_frames)
    for _attempt in range(20):
        port = random.randint(20_000, 32_000)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--port", str(port), "--scenario", scenario],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if server.stdout is not None and server.stdout.readline().strip() == "ready":
            break
        server.wait()
    else:
        raise RuntimeError(f"{kind} receiver did not start")
    try:
        before = cpu_seconds(server.pid)
        result = asyncio.run(drive(port, frames, args.connections, args.seconds))
        result["cpu_us"] = (cpu_seconds(server.pid) - before) / max(result["frames"], 1) * 1e6
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-frames", type=int, default=40_000)
    parser.add_argument("--serve", choices=("ours", "pysiaalarm"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--scenario", choices=SCENARIOS, default="plain")
    args = parser.parse_args()
    if args.serve:
        key = KEY if args.scenario == "aes128" else None
        asyncio.run((serve_ours if args.serve == "ours" else serve_pysiaalarm)(args.port, key))
        return

    print(f"DC-09 over TCP on loopback: {args.connections} connections, runs of ≤ {args.seconds:g} s and "
          f"≤ {args.max_frames} frames, {args.rounds} rounds taken in turns, no-op store; {os.cpu_count()} CPUs; "
          f"medians")
    print(f"{'scenario':<9}{'receiver':<12}{'frames/s':>10}{'best':>8}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'CPU µs/frame':>14}{'not ACK':>9}")
    for scenario in SCENARIOS:
        runs: dict[str, list[dict]] = {"ours": [], "pysiaalarm": []}
        for _ in range(args.rounds):
            for kind, results in runs.items():
                results.append(run_one(kind, scenario, args))
        summary = {kind: {field: statistics.median(r[field] for r in results)
                          for field in ("rate", "p50_ms", "p99_ms", "cpu_us")}
                   | {"best": max(r["rate"] for r in results), "not_ack": sum(r["not_ack"] for r in results)}
                   for kind, results in runs.items()}
        for kind, r in summary.items():
            name = "eldercare" if kind == "ours" else kind
            print(f"{scenario:<9}{name:<12}{r['rate']:>10.0f}{r['best']:>8.0f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}"
                  f"{r['cpu_us']:>14.1f}{r['not_ack']:>9}")
        ours, theirs = summary["ours"], summary["pysiaalarm"]
        print(f"{scenario:<9}ratio eldercare/pysiaalarm: frames/s ×{ours['rate'] / theirs['rate']:.2f}, "
              f"receiver CPU per frame ×{ours['cpu_us'] / theirs['cpu_us']:.2f} (lower is better)")


if __name__ == "__main__":
    main()
