"""Measure traffic switches of the local target under unpaced load, and print the numbers.

A scratch copy of examples/meta-ad-studio on free loopback ports (benchmarks/deploy.py's
DeployBench), two releases built and pushed, then SWITCHES deploys in a row that alternate
between them (`invoke deploy --version V`: the first two create revisions, the rest resume
the paused standby), each while the request loop of the integration tests (tests/integration/
release_fixtures.py `Load`, with no retry at all: every exception and every non-version answer
is a failure) runs unpaced against both proxy ports. Bounded: each load stops after 120 s or
its request cap; every request goes to 127.0.0.1.

    PYTHONPATH=src python scripts/measure_switch.py [--switches 6] [--threads 4]

Exit 1 when a request failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.deploy import DeployBench  # noqa: E402
from tests.integration.release_fixtures import Load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switches", type=int, default=6)
    parser.add_argument("--threads", type=int, default=4,
                        help="request threads per port (half fresh connections, half "
                             "keep-alive), unpaced")
    parser.add_argument("--slow", type=int, default=0,
                        help="threads per port with a long request in flight (needs an app "
                             "that serves /cgi-bin/slow; the sample app does not)")
    args = parser.parse_args()
    pythonpath = os.environ.get("PYTHONPATH", str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="measure-switch-") as base:
        bench = DeployBench(Path(base), pythonpath)
        try:
            bench.create()
            first = "v1.1.0"
            bench.invoke("deploy", "--version", first)
            second = bench.next_release()
            config = tomllib.loads((bench.app / "shipyard.toml").read_text())
            ports = list(config["environments"]["local"]["proxy_ports"].values())
            return measure(bench, ports, [second, first], args)
        finally:
            bench.close()


def measure(bench: DeployBench, ports: list[int], versions: list[str],
            args: argparse.Namespace) -> int:
    fresh = args.threads // 2
    print(f"{time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} cores, "
          f"{platform.platform()}; {len(ports)} services, {args.threads} unpaced request "
          f"threads per port ({fresh} fresh connections, {args.threads - fresh} keep-alive)")
    print("| switch | to | seconds | requests | req/s | failed: fresh | failed: keep-alive | "
          "keep-alive found closed before reuse |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    totals: Counter[str] = Counter()
    current = versions[-1]
    for n in range(1, args.switches + 1):
        target = versions[(n - 1) % len(versions)]
        load = Load(ports, fresh=fresh, keepalive=args.threads - fresh, slow=args.slow,
                    pause=0.0, cap=200_000, seconds=120, warmup=50, retry_stale=False)
        with load:
            started = time.monotonic()
            done = subprocess.run((sys.executable, "-m", "invoke", "deploy", "--version",
                                   target), cwd=bench.app, env=bench.env, capture_output=True,
                                  text=True, timeout=300)
            seconds = time.monotonic() - started
        if done.returncode != 0:
            print(done.stdout + done.stderr)
            return 2
        answers = load.answers
        failed = load.failures()
        unexpected = {a.body for a in answers if not a.failed} - {current, target}
        kinds = Counter(a.client for a in answers if a.failed)
        print(f"| {n} | {target} | {seconds:.2f} | {len(answers)} | {load.rate():.0f} | "
              f"{kinds['fresh']} | {kinds['keepalive']} | {load.closed_idle} |")
        for line in failed[:5]:
            print(f"  failed: {line}")
        if unexpected or load.crashed:
            print(f"  unexpected answers {unexpected}, crashed loops {load.crashed}")
            return 2
        totals.update(requests=len(answers), failed=len(failed), seconds=int(seconds * 1000))
        totals["rate"] += int(load.rate())
        current = target
    print(f"total: {totals['requests']} requests, {totals['failed']} failed, "
          f"{totals['rate'] / args.switches:.0f} req/s on average, "
          f"{totals['seconds'] / 1000 / args.switches:.2f} s per switch on average")
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
