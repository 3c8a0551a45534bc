"""Benchmark: latency of the web app's pages and of the department API, concurrent clients.

    python benchmarks/web_latency.py [--home DIR] [--database-url URL] [--clients 8]
                                     [--requests 200]

At a home (default: build or reuse a Bozhou-scale one in /tmp/lifesign-web-bozhou — the
lake and registry of benchmarks/bozhou_lake.py, the full pass as of 2026-10-31 and one daily
run for the visit tasks; `--home` of a 100 k city for a quick run), this:

1. creates the demo accounts (lifesign.web.demo_accounts: one per role, the worker on the
   busiest grids) and a department API token;
2. starts uvicorn on localhost in a subprocess (one process, as `lifesign serve` runs), with
   the API's rate limit lifted for the benchmark's clients ($LIFESIGN_API_PARAMETERS);
3. logs in, warms every endpoint once (the overview's first computation, cached per data
   version, is printed as "cold"), then runs N concurrent clients (threads, one keep-alive
   httpx client each) against each endpoint in turn:
     baseline  GET /static/app.css            (the floor of the stack: no database)
     overview  GET /                          (admin)
     worklist  GET /worklist                  (community worker, their grids)
     person    GET /people/{person_id}        (admin; random recipients)
     status    GET /api/v1/persons/{id}/status (random recipients)
     batch     POST /api/v1/status/batch      (10,000 random ID numbers)
4. prints p50 / p95 / max per endpoint, requests/s, the server process's CPU time per call
   (load-independent: on a shared machine the wall times include waiting for a core) — on
   PostgreSQL also its backends' CPU per call (the queries run there: /proc of the backends
   connected to the database, so a local server only) — and the targets (p95 < 200 ms; the
   batch of 10,000 < 1 s).

The home's state database is written to (accounts, a token, the audit log, the call log):
give a copy, never a home another process is using. `--database-url` serves (and draws the
sample from) another state database, e.g. the home's copied to PostgreSQL by `lifesign db
copy --to URL`; the lake stays the home's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_HOME = Path("/tmp/lifesign-web-bozhou")
AS_OF = dt.date(2026, 10, 31)
PAGE_TARGET_MS = 200.0
BATCH_TARGET_MS = 1000.0
BATCH_SIZE = 10_000
# The API's limits for the benchmark: the packaged ones with the rate limit lifted (the
# benchmark measures latency, not the limiter).
BENCH_LIMITS = """\
rate_per_second: 1000000.0
burst: 1000000
batch_status_max: 10000
evidence_push_max_records: 1000
changes_default_limit: 1000
changes_max_limit: 10000
tasks_default_limit: 100
tasks_max_limit: 500
token_bytes: 32
token_prefix_chars: 12
"""
# The database URL comes in the environment, not argv: a password stays out of `ps`.
SERVER = """
import os, sys, uvicorn
from lifesign.config import load_settings
from lifesign.web.app import create_app
home, port = sys.argv[1], int(sys.argv[2])
settings = load_settings(home=home, database_url=os.environ["LIFESIGN_DATABASE_URL"])
app = create_app(settings)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


# --------------------------------------------------------------------------------- the home


def build_bozhou_home(home: Path) -> None:
    """A Bozhou-scale home: lake + registry, the full pass, one daily run (visit tasks)."""
    import bozhou_lake

    from lifesign.catalog import load_catalog
    from lifesign.certify.passes import run_pass
    from lifesign.lifecycle.run import run_day
    from lifesign.store import open_database

    settings = bozhou_lake.build(home, 1_360_000, 35e6, 1)
    engine = open_database(settings)
    catalog = load_catalog(settings.catalog_dir)
    started = time.perf_counter()
    run_pass(settings, engine, catalog, AS_OF, "full")
    print(f"  full pass as of {AS_OF}: {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    run_day(settings, AS_OF + dt.timedelta(days=1), engine=engine, catalog=catalog)
    print(f"  daily run of {AS_OF + dt.timedelta(days=1)}: {time.perf_counter() - started:.0f} s")
    engine.dispose()


@dataclass(frozen=True)
class Fixture:
    logins: dict[str, tuple[str, str]]  # key -> (username, password)
    token: str
    person_ids: list[int]
    id_numbers: list[str]
    people: int


def home_database_url(home: Path) -> str:
    """The home's own state database (the embedded SQLite default)."""
    return f"sqlite:///{home / 'lifesign.db'}"


def prepare(home: Path, database_url: str, sample: int, seed: int) -> Fixture:
    """Accounts, a token, and a random sample of recipients to ask for."""
    from sqlalchemy import func, select

    from lifesign.catalog import load_catalog
    from lifesign.config import load_settings
    from lifesign.store import open_database
    from lifesign.store.models import Person
    from lifesign.web.api.tokens import create_token
    from lifesign.web.demo_accounts import DEMO_LOGINS, create_demo_accounts

    settings = load_settings(home=home, database_url=database_url)
    engine = open_database(settings)
    # Homes built by the day's other benchmarks before migrations 0008/0009 had their tables
    # are stamped at the head without them: add what is missing (no-op for a current home).
    from lifesign.store.schema import metadata

    metadata.create_all(engine, checkfirst=True)
    catalog = load_catalog(settings.catalog_dir)
    started = time.perf_counter()
    create_demo_accounts(engine, catalog)
    print(f"  demo accounts: {time.perf_counter() - started:.1f} s")
    _, token = create_token(
        engine,
        catalog,
        department="hrss",
        name=f"web-latency-{int(time.time())}",
        created_by="benchmarks/web_latency.py",
    )
    rng = random.Random(seed)
    with engine.connect() as conn:
        top = int(conn.execute(select(func.max(Person.person_id))).scalar_one())
        people = int(conn.execute(select(func.count()).select_from(Person)).scalar_one())
        wanted = sorted(rng.sample(range(1, top + 1), min(top, sample)))
        rows: list[tuple[int, str | None]] = []
        for start in range(0, len(wanted), 5000):
            rows += conn.execute(
                select(Person.person_id, Person.id_number).where(
                    Person.person_id.in_(wanted[start : start + 5000]),
                    Person.id_number.is_not(None),
                )
            ).all()
    engine.dispose()
    rng.shuffle(rows)
    logins = {login.key: (login.username, login.password) for login in DEMO_LOGINS}
    return Fixture(logins, token, [int(r[0]) for r in rows], [str(r[1]) for r in rows], people)


# ------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """uvicorn serving the app over `home` and the state database at `database_url`, in a
    subprocess."""

    def __init__(self, home: Path, database_url: str, limits: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "LIFESIGN_API_PARAMETERS": str(limits),
            "LIFESIGN_DATABASE_URL": database_url,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(home), str(self.port)], env=env
        )

    def wait(self, seconds: float = 120.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"uvicorn exited with {self.process.returncode}")
            try:
                if httpx.get(self.base + "/static/app.css", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("uvicorn did not answer within two minutes")

    def cpu_seconds(self) -> tuple[float, float] | None:
        """CPU time (user, system) the server process has used, from /proc (Linux)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class DatabaseBackends:
    """The CPU time of the PostgreSQL backends connected to the served database (on the same
    machine), from /proc: on PostgreSQL the queries run there, not in the server process, so
    the server's CPU per call leaves them out."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(database_url, poolclass=NullPool)

    def cpu_seconds(self) -> dict[int, float]:
        """CPU seconds (user + system) of each backend of the database but this probe's."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                    # the app's connections and their query workers; not autovacuum's
                    " AND backend_type IN ('client backend', 'parallel worker')"
                )
            ).scalars()
            found = [int(pid) for pid in pids]
        tick = os.sysconf("SC_CLK_TCK")
        seconds: dict[int, float] = {}
        for pid in found:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended since, or not on this machine
                continue
            seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
        return seconds

    @staticmethod
    def used(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU seconds used between two samples (a backend that ended meanwhile is lost; the
        app's connection pool keeps its backends)."""
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        self.engine.dispose()


def logged_in(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60.0)
    form = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    if found is None:
        raise SystemExit("no CSRF token on /login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": found.group(1)},
    )
    if answer.status_code != 303:
        raise SystemExit(f"login of {username} refused: {answer.status_code}")
    return client


# ------------------------------------------------------------------------------ measurement

Call = Callable[[httpx.Client, random.Random], httpx.Response]


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    seconds: float
    errors: int
    target_ms: float | None
    server_cpu_seconds: float | None = None  # user + system
    server_system_seconds: float | None = None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        p50 = statistics.median(self.latencies_ms)
        p95 = self.quantile(0.95)
        worst = max(self.latencies_ms)
        rate = len(self.latencies_ms) / self.seconds
        calls = len(self.latencies_ms)
        cpu = f"{'?':>8} {'?':>6}"
        if self.server_cpu_seconds is not None and self.server_system_seconds is not None:
            total, system = self.server_cpu_seconds, self.server_system_seconds
            cpu = f"{total * 1000 / calls:>8.1f} {system * 1000 / calls:>6.1f}"
        verdict = ""
        if self.target_ms is not None:
            verdict = f"p95 < {self.target_ms:.0f} ms: {'yes' if p95 < self.target_ms else 'NO'}"
        return (
            f"{self.name:<9} {len(self.latencies_ms):>6} {p50:>9.1f} {p95:>9.1f} {worst:>9.1f} "
            f"{rate:>8.1f} {cpu}  {self.errors:>4}  {verdict}"
        )


def measure(
    name: str,
    clients: list[httpx.Client],
    call: Call,
    requests: int,
    target_ms: float | None,
    seed: int,
) -> Result:
    """`requests` calls spread over the clients, all running at once."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = max(1, requests // len(clients))

    def work(index: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + index)
        client = clients[index]
        for _ in range(per_client):
            started = time.perf_counter()
            answer = call(client, rng)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if answer.status_code != 200:
                    errors += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Result(name, latencies, time.perf_counter() - started, errors, target_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="an existing home (a copy)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the state database to serve and sample from (default: the home's SQLite); e.g. "
        "postgresql+psycopg://user:password@127.0.0.1/lifesign_bozhou after `lifesign db copy`",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--batch-requests", type=int, default=24)
    parser.add_argument(
        "--batch-clients",
        type=int,
        default=None,
        help="concurrent clients of the batch (default: --clients); each batch is ~0.5 s of "
        "CPU, so N at once on 2 cores take about N/2 times that",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated endpoints to measure (baseline,overview,worklist,person,"
        "status,batch); the baseline is always measured",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    home = args.home or DEFAULT_HOME
    database_url = args.database_url or home_database_url(home)
    if args.database_url is None and not (home / "lifesign.db").exists():
        if args.home is not None:
            raise SystemExit(f"{home} has no lifesign.db")
        print(f"building a Bozhou-scale home in {home} (once; reused afterwards)")
        build_bozhou_home(home)
    from lifesign.store.database import redacted_url

    print(f"home {home}, database {redacted_url(database_url)}")
    fixture = prepare(home, database_url, sample=max(20_000, BATCH_SIZE * 2), seed=args.seed)
    print(f"  {fixture.people:,} people; sample of {len(fixture.id_numbers):,} recipients")
    with tempfile.TemporaryDirectory() as scratch:
        limits = Path(scratch) / "api.yaml"
        limits.write_text(BENCH_LIMITS, encoding="utf-8")
        server = Server(home, database_url, limits)
        try:
            server.wait()
            run(server, fixture, args, database_url)
        finally:
            server.stop()


def run(server: Server, fixture: Fixture, args: argparse.Namespace, database_url: str) -> None:
    base = server.base
    n = args.clients
    admins = [logged_in(base, *fixture.logins["admin"]) for _ in range(n)]
    workers = [logged_in(base, *fixture.logins["worker"]) for _ in range(n)]
    bearer = {"Authorization": f"Bearer {fixture.token}"}
    apis = [httpx.Client(base_url=base, timeout=60.0, headers=bearer) for _ in range(n)]
    anonymous = [httpx.Client(base_url=base, timeout=60.0) for _ in range(n)]
    ids, numbers = fixture.person_ids, fixture.id_numbers

    def batch_body(rng: random.Random) -> dict[str, list[str]]:
        return {"id_numbers": rng.sample(numbers, min(BATCH_SIZE, len(numbers)))}

    batch_clients = apis[: args.batch_clients or n]
    endpoints: list[tuple[str, list[httpx.Client], Call, int, float | None]] = [
        ("baseline", anonymous, lambda c, r: c.get("/static/app.css"), args.requests, None),
        ("overview", admins, lambda c, r: c.get("/"), args.requests, PAGE_TARGET_MS),
        ("worklist", workers, lambda c, r: c.get("/worklist"), args.requests, PAGE_TARGET_MS),
        (
            "person",
            admins,
            lambda c, r: c.get(f"/people/{r.choice(ids)}"),
            args.requests,
            PAGE_TARGET_MS,
        ),
        (
            "status",
            apis,
            lambda c, r: c.get(f"/api/v1/persons/{r.choice(numbers)}/status"),
            args.requests,
            PAGE_TARGET_MS,
        ),
        (
            "batch",
            batch_clients,
            lambda c, r: c.post("/api/v1/status/batch", json=batch_body(r)),
            args.batch_requests,
            BATCH_TARGET_MS,
        ),
    ]
    if args.only:
        wanted = {"baseline", *args.only.split(",")}
        endpoints = [e for e in endpoints if e[0] in wanted]
    print("\ncold (first call of each, one client):")
    warm_rng = random.Random(0)
    for name, clients, call, _, _ in endpoints:
        started = time.perf_counter()
        answer = call(clients[0], warm_rng)
        # a big city's first overview count runs in the background: the page says
        # "counting" with a Refresh header until the figures are ready
        while answer.headers.get("refresh") and time.perf_counter() - started < 900:
            time.sleep(1.0)
            answer = call(clients[0], warm_rng)
        elapsed = (time.perf_counter() - started) * 1000
        print(f"  {name:<9} {elapsed:>9.1f} ms  HTTP {answer.status_code}")
        if answer.status_code != 200:
            raise SystemExit(f"{name} answered {answer.status_code}: {answer.text[:300]}")
    print(f"\n{n} concurrent clients ({len(batch_clients)} for the batch); milliseconds")
    print(
        f"{'endpoint':<9} {'calls':>6} {'p50':>9} {'p95':>9} {'max':>9} {'req/s':>8} "
        f"{'cpu/call':>8} {'(sys)':>6}  errs"
    )
    backends = DatabaseBackends(database_url) if database_url.startswith("postgresql") else None
    for index, (name, clients, call, requests, target) in enumerate(endpoints):
        backends_before = backends.cpu_seconds() if backends else {}
        before = server.cpu_seconds()
        result = measure(name, clients, call, requests, target, args.seed + index)
        after = server.cpu_seconds()
        if before is not None and after is not None:
            result.server_cpu_seconds = sum(after) - sum(before)
            result.server_system_seconds = after[1] - before[1]
        print(result.line(), flush=True)
        if backends is not None:
            used = backends.used(backends_before, backends.cpu_seconds())
            calls = len(result.latencies_ms)
            print(f"{'':<9} + PostgreSQL backends' CPU: {used * 1000 / calls:.1f} ms per call")
    if backends is not None:
        backends.close()
    print(
        f"\ntargets: overview, worklist, person, status p95 < {PAGE_TARGET_MS:.0f} ms; "
        f"batch of {BATCH_SIZE:,} ID numbers < {BATCH_TARGET_MS:.0f} ms. The baseline is the "
        "stack's floor (a static file through the same server). cpu/call: the server "
        "process's CPU milliseconds per call (user + system; includes the call log written "
        "after each API answer) — what a call costs on an idle core, whatever the machine's "
        "load; (sys): the system part of it — on SQLite mostly the reads of the state database's "
        "pages again after another request's commit (in WAL mode a connection drops its page "
        "cache when the database changed)."
    )
    for client in (*admins, *workers, *apis, *anonymous):
        client.close()


if __name__ == "__main__":
    main()
