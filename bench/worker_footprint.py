"""What one centre costs a hub worker process: resident memory, threads and PostgreSQL connections.

One worker (``casewatch hub --worker-id``) of a multi-centre hub file with C centres (one agent and
three rooms each, the shipped rule pack), on a fresh PostgreSQL database and a Mosquitto of its
own; measured once it runs 0 centres (every lease held by a worker that does not exist) and once
it runs all C. The difference divided by C is a centre's cost — what bounds centres per worker.
Usage: python bench/worker_footprint.py [--centres 30]
Last line: {"centres": ..., "rss_mb_empty": ..., "rss_mb_per_centre": ..., "threads_per_centre": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from hub.lease_table import LeaseTable  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_binary  # noqa: E402
from tests.hub_helpers import AgentFeed  # noqa: E402
from tests.pg_helpers import fresh_database, sql  # noqa: E402
from tests.secret_files import write_secret  # noqa: E402

CASEWATCH = str(Path(sys.executable).parent / "casewatch")


def footprint(pid: int) -> tuple[float, int]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["Threads"])


def connections(dsn: str) -> int:
    found = sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'casewatch hub'")
    return int(str(found[0][0]))


def hub_file(work: Path, dsn: str, port: int, centres: int) -> Path:
    write_secret(work / "hub.key", "k" * 64)
    listed = []
    for n in range(1, centres + 1):
        feed = AgentFeed(agent=f"box-{n:03d}", center=f"s{n:03d}")
        write_secret(work / f"{feed.agent}.key", feed.key_text)
        rooms = [
            {"id": "int-1", "name": "讯问室1", "type": "interrogation"},
            {"id": "wait-1", "name": "候问室1", "type": "waiting"},
            {"id": "exit", "name": "出口", "type": "exit"},
        ]
        listed.append(
            {
                "id": f"s{n:03d}",
                "rooms": rooms,
                "agents": [{"id": feed.agent, "key_file": f"{feed.agent}.key"}],
            }
        )
    config = {
        "center": "bench", "signing": {"key_file": "hub.key"}, "rules": [str(REPO / "configs/rules/*.yaml")],
        "store": {"backend": "postgresql", "dsn": dsn, "files": str(work / "files")},
        "mqtt": {"host": "127.0.0.1", "port": port}, "centers": listed, "workers": {"lease_s": 30},
    }  # fmt: skip
    path = work / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--centres", type=int, default=30)
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("needs Debian's mosquitto")
    with tempfile.TemporaryDirectory(prefix="cw-footprint-") as tmp, fresh_database() as dsn:
        work = Path(tmp)
        broker = Mosquitto(work, binary).start()
        config = hub_file(work, dsn, broker.port, args.centres)
        table = LeaseTable(dsn, 3600)
        ids = [f"s{n:03d}" for n in range(1, args.centres + 1)]
        for centre in ids:
            table.take(centre, "elsewhere")  # held by no running worker: ours runs none
        command = [CASEWATCH, "hub", "--config", str(config), "--worker-id", "w1", "--http-port", "0"]
        log = (work / "w1.log").open("w")
        proc = subprocess.Popen([*command, "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT)
        time.sleep(8)
        empty_mb, empty_threads = footprint(proc.pid)
        conns_empty = int(
            sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'casewatch hub'")[0][0]
        )  # type: ignore[call-overload]
        sql(dsn, "UPDATE casewatch.leases SET owner = 'w1'")  # now all are its own: it starts them at once
        started = time.monotonic()
        while True:
            running = sum(1 for line in (work / "w1.log").read_text().splitlines() if "owns centre" in line)
            if running >= args.centres or time.monotonic() - started > 300:
                break
            time.sleep(0.5)
        took = time.monotonic() - started
        time.sleep(10)
        full_mb, full_threads = footprint(proc.pid)
        conns_full = int(
            sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'casewatch hub'")[0][0]
        )  # type: ignore[call-overload]
        proc.terminate()
        proc.wait(60)
        table.close()
        broker.stop()
    n = args.centres
    empty = f"{empty_mb:.0f} MB, {empty_threads} threads empty"
    full = f"{full_mb:.0f} MB, {full_threads} threads with {n} centres (started in {took:.1f} s)"
    print(f"worker: {empty}; {full}; PostgreSQL connections {conns_empty} -> {conns_full}", file=sys.stderr)
    print(json.dumps({
        "centres": n, "rss_mb_empty": round(empty_mb), "rss_mb_full": round(full_mb),
        "rss_mb_per_centre": round((full_mb - empty_mb) / n, 1), "threads_empty": empty_threads,
        "threads_per_centre": round((full_threads - empty_threads) / n, 1), "pg_connections_full": conns_full,
        "start_s": round(took, 1), "cpus": os.cpu_count(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
