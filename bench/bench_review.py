"""Load test of the case review app on loopback: many investigators browsing and recording.

Starts the app (uvicorn, two worker processes by default: one per core, as
``customs-risk review --workers 2``; they share sessions, the login throttle and kept forms
through the database) on 127.0.0.1 against a temporary SQLite case store seeded with demo
cases and users, runs concurrent sessions that browse and search the queue, open cases and
record outcomes for a bounded time, and prints p50/p95 latency per route, the error count, the
app's CPU per request and the machine's load. Goal on a 2-core machine: no errors, p95 under
200 ms.

    .venv/bin/python bench/bench_review.py                  # 50 sessions, 60 s, 2 workers
    .venv/bin/python bench/bench_review.py --workers 1      # one process
    .venv/bin/python bench/bench_review.py --seconds 20 --think 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = "bench password 123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
CASE_LINK = re.compile(r'<a href="(/cases/[^"?]+)">')
SEARCHES = ("Trading Co. 1", "Metals BV 4", "284690", "850511", "VNHPH", "AEJEA", "D00012", "TRMER")
TYPOLOGIES = ("mislabel", "routing", "shell", "blending", "undervaluation", "no_license", "concealment")
EXPECTED = {  # route -> statuses that are correct answers, not errors
    "POST /login": {303},
    "GET /cases": {200},
    "GET /cases?q=": {200},  # search: a company, an HS code or a port
    "GET /cases/{id}": {200, 404},  # 404: another investigator took it meanwhile (not theirs to see)
    # 403: given to someone else while typing; 409: someone saved first (optimistic lock), or the
    # case was already decided (a decision stays decided)
    "POST /cases/{id}/outcome": {303, 403, 409},
}


@dataclass
class Results:
    """Latencies (seconds) and statuses per route, and failures."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[str] = field(default_factory=list)

    def record(self, route: str, seconds: float, status: int) -> None:
        self.latencies[route].append(seconds)
        self.statuses[route][status] += 1
        if status not in EXPECTED[route]:
            self.errors.append(f"{route}: HTTP {status}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc; else 0)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def seed(database_url: str, cases: int, users: int) -> list[str]:
    """Seed demo cases and users (one supervisor per ten); returns the usernames."""
    sys.path.insert(0, str(PROJ_ROOT))
    from review.demo import demo_cases
    from review.store import open_store

    store = open_store(database_url)
    names = []
    for i in range(users):
        role = "supervisor" if i % 10 == 9 else "investigator"
        name = f"{role[:3]}{i:03d}"
        store.add_user(name, role, PASSWORD, actor="bench")
        names.append(name)
    store.upsert_cases(demo_cases(cases, seed=7))
    store.close()
    return names


def start_server(database_url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    """Run the app in its own process(es), so the load generator does not share its GIL."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from review.serve import serve; "
        "serve(sys.argv[2], host='127.0.0.1', port=int(sys.argv[3]), workers=int(sys.argv[4]),"
        " log_level='warning', access_log=False)"
    )
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-c", code, str(PROJ_ROOT), database_url, str(port), str(workers)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(PROJ_ROOT)},
    )


async def wait_healthy(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit("the app process exited during start-up")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the app did not become healthy in time")


async def timed(results: Results, route: str, call) -> object | None:
    """Run one request, record its latency and status; None on a transport failure."""
    start = time.perf_counter()
    try:
        response = await call
    except Exception as err:  # timeouts, resets: all count as errors
        results.errors.append(f"{route}: {type(err).__name__}: {err}")
        return None
    results.record(route, time.perf_counter() - start, response.status_code)
    return response


async def session(
    base: str,
    username: str,
    start_at: asyncio.Event,
    deadline: list[float],
    think: float,
    write_share: float,
    results: Results,
    rng: random.Random,
) -> None:
    """One investigator: log in, then browse and record until the deadline."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False) as client:
        page = await client.get("/login")
        token = CSRF.search(page.text).group(1)
        await timed(
            results,
            "POST /login",
            client.post(
                "/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"}
            ),
        )
        await start_at.wait()
        await asyncio.sleep(rng.uniform(0, 2 * think))  # people do not all click at once
        while time.monotonic() < deadline[0]:
            params = {"page": str(rng.randint(1, 5))}
            route = "GET /cases"
            if rng.random() < 0.3:
                params["channel"] = rng.choice(["red", "yellow"])
            if rng.random() < 0.25:
                route, params = "GET /cases?q=", {"q": rng.choice(SEARCHES)}
            queue = await timed(results, route, client.get("/cases", params=params))
            links = CASE_LINK.findall(queue.text) if queue is not None else []
            await asyncio.sleep(rng.uniform(0, 2 * think))
            if not links or time.monotonic() >= deadline[0]:
                continue
            url = rng.choice(links)
            case = await timed(results, "GET /cases/{id}", client.get(url))
            await asyncio.sleep(rng.uniform(0, 2 * think))
            if (
                case is None
                or case.status_code != 200
                or rng.random() >= write_share
                or time.monotonic() >= deadline[0]
            ):
                continue
            outcome = rng.choice(["violation", "clear", "not_inspected"])
            form = {
                "csrf_token": CSRF.search(case.text).group(1),
                "version": VERSION.search(case.text).group(1),
                "outcome": outcome,
                "typology": rng.choice(TYPOLOGIES) if outcome == "violation" else "",
                "seized_value_usd": str(rng.randint(0, 90_000)) if outcome == "violation" else "",
                "note": f"bench note by {username}",
            }
            await timed(results, "POST /cases/{id}/outcome", client.post(f"{url}/outcome", data=form))
            await asyncio.sleep(rng.uniform(0, 2 * think))


async def run_load(
    base: str, users: list[str], sessions: int, seconds: float, think: float, write_share: float
) -> tuple[Results, float]:
    results = Results()
    start_at = asyncio.Event()
    deadline = [float("inf")]
    rng = random.Random(42)
    tasks = [
        asyncio.create_task(
            session(
                base,
                users[i % len(users)],
                start_at,
                deadline,
                think,
                write_share,
                results,
                random.Random(rng.random()),
            )
        )
        for i in range(sessions)
    ]
    while sum(len(v) for k, v in results.latencies.items() if k == "POST /login") < sessions:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    login = results.latencies.pop("POST /login", [])
    results.statuses.pop("POST /login", None)
    results.latencies["POST /login"] = login
    started = time.monotonic()
    deadline[0] = started + seconds
    start_at.set()
    await asyncio.gather(*tasks, return_exceptions=False)
    return results, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def report(results: Results, elapsed: float, args: argparse.Namespace) -> dict:
    print(
        f"\n{args.sessions} sessions for {elapsed:.1f} s on {HOST} "
        f"({args.cases:,} cases, {args.users} users, think {args.think:.2f} s mean, "
        f"{args.workers} app worker(s), {os.cpu_count()} CPUs)"
    )
    print(f"{'route':<28}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    summary = {}
    timed_total = 0
    for route in EXPECTED:
        values = results.latencies.get(route, [])
        if not values:
            continue
        row = {
            "requests": len(values),
            "p50_ms": 1000 * statistics.median(values),
            "p95_ms": 1000 * percentile(values, 95),
            "p99_ms": 1000 * percentile(values, 99),
            "max_ms": 1000 * max(values),
            "statuses": dict(sorted(results.statuses.get(route, Counter()).items())),
        }
        summary[route] = row
        if route != "POST /login":
            timed_total += len(values)
        note = " (before the clock)" if route == "POST /login" else ""
        print(
            f"{route:<28}{row['requests']:>9}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}  {row['statuses']}{note}"
        )
    worst = max((r["p95_ms"] for k, r in summary.items() if k != "POST /login"), default=0.0)
    print(f"throughput {timed_total / elapsed:.1f} requests/s; errors: {len(results.errors)}")
    for err in results.errors[:10]:
        print(f"  error: {err}")
    verdict = "PASS" if not results.errors and worst < 200 else "FAIL"
    print(f"goal (no errors, p95 < 200 ms on every route): {verdict} (worst p95 {worst:.1f} ms)")
    return {
        "routes": summary,
        "errors": len(results.errors),
        "elapsed_s": elapsed,
        "throughput_rps": timed_total / elapsed,
        "verdict": verdict,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the timed run")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions")
    parser.add_argument("--cases", type=int, default=5000, help="cases to seed")
    parser.add_argument("--users", type=int, default=50, help="users to seed")
    parser.add_argument(
        "--think", type=float, default=0.5, help="mean pause between a session's clicks, seconds (0: none)"
    )
    parser.add_argument(
        "--write-share", type=float, default=0.3, help="share of opened cases on which an outcome is recorded"
    )
    parser.add_argument("--workers", type=int, default=2, help="app processes (uvicorn workers)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'cases.db'}"
        t0 = time.perf_counter()
        users = seed(database_url, args.cases, args.users)
        print(f"seeded {args.cases:,} cases and {args.users} users in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        server = start_server(database_url, port, args.workers, Path(tmp) / "server.log")
        base = f"http://{HOST}:{port}"
        try:
            asyncio.run(wait_healthy(base, server))
            server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
            results, elapsed = asyncio.run(
                run_load(base, users, args.sessions, args.seconds, args.think, args.write_share)
            )
            server_cpu = cpu_seconds(server.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
        finally:
            server.terminate()
            server.wait(10)
            log = (Path(tmp) / "server.log").read_text()
        if "Traceback" in log:
            print("server log has tracebacks:\n" + log[-3000:])
        figures = report(results, elapsed, args)
        timed_requests = sum(len(v) for k, v in results.latencies.items() if k != "POST /login")
        per_request = 1000 * server_cpu / max(1, timed_requests)
        load = os.getloadavg()
        print(
            f"CPU used: app {server_cpu:.1f} s ({per_request:.1f} ms a request, logins included), "
            f"load generator {client_cpu:.1f} s (of {elapsed * (os.cpu_count() or 1):.0f} core-seconds); "
            f"machine load at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)"
        )
        figures |= {
            "app_cpu_s": server_cpu,
            "app_cpu_ms_per_request": per_request,
            "load_generator_cpu_s": client_cpu,
            "load_average": load,
        }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
