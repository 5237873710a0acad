"""Benchmark `invoke build` + `invoke push` on this machine and write docs/benchmarks.md.

    nox -s bench                    # the full run (< 10 min on 2 cores)
    python -m benchmarks --quick    # a check that it works, while developing (writes nothing)

For N = 1, 2 and 4 generated services, each in its own scratch app (a git repo with a bare
remote and a shipyard.toml whose `local` environment points at a registry the bench starts on
a free 127.0.0.1 port), it measures, interleaved and repeated:

  cold --jobs 1    new service contents and a new version: every image is built and pushed
  cold default     the same with shipyard's default --jobs
  warm re-run      build + push again for the version just pushed: nothing may be built or pushed
  raw loop         shipyard's own `docker build` / `docker push` argv (read from its command
                   log), run one after the other from Python, with nothing of shipyard around them
  one process      (an extra row, not the bars' method) cold --jobs 1 with both tasks in one
                   Invoke process: `invoke build --version V --jobs 1 push --version V --jobs 1`

and reports medians (min-max), the bars, and where shipyard's own time goes. Then, in the same
run: the sample app's local deploy, no-op release and rollback next to `invoke --list`
(deploy.py); a scan of N images cold and reused (scans.py); and deploys and rollbacks of
N = 1, 2, 4 services on the Cloud Run and GKE stand-ins (cloud.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from shipyard.exec import tools
from shipyard.exec.runner import Runner

from .app import App
from .basics import ROOT, BenchError, log
from .cloud import SIZES as CLOUD_SIZES
from .cloud import cloud_rows, cloud_times
from .deploy import deploy_rows
from .registry import BenchRegistry
from .report import DOC, machine, report, write_doc
from .scans import scan_rows, scan_times
from .schedule import BUDGET_MINUTES, MIN_REPEATS, REPEATS, measure
from .scratch import prune_build_cache, remove_images, scratch, snapshot_sources

SIZES = (1, 2, 4)
SCAN_N = 4  # the scan rows' image count (the largest app when --sizes leaves 4 out)
DEPLOY_REPEATS = max(MIN_REPEATS, 3)
SPIN = 1_200_000  # busybox sh loop iterations: about 1.3 s of CPU here
DATA_MB = 16  # generated (incompressible) data per image, so the push moves real bytes


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are service counts of 1 or more, e.g. 1,2,4")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes,
                        help="service counts, comma-separated (default: 1,2,4)")
    parser.add_argument("--repeats", type=int,
                        help=f"repetitions of every measurement (default: up to {REPEATS}, "
                             f"at least {MIN_REPEATS}, as the budget allows)")
    parser.add_argument("--quick", action="store_true",
                        help="one repetition of everything (deploy, rollback, scans too) at "
                             "N=1, the cloud rows at N=1 and 4, unless --sizes or --repeats say "
                             "otherwise, and --no-write: shows that the bench works, not how "
                             "fast shipyard is")
    parser.add_argument("--budget-min", type=float, default=BUDGET_MINUTES,
                        help="stop repeating (after the minimum) when another repetition would "
                             f"pass this many minutes (default: {BUDGET_MINUTES:g})")
    parser.add_argument("--live", action="store_true",
                        help="run the working tree's shipyard as it is at each invocation "
                             "instead of a snapshot taken at the start")
    parser.add_argument("--spin", type=int, default=SPIN,
                        help=f"busybox sh loop iterations per service (default: {SPIN:,})")
    parser.add_argument("--data-mb", type=int, default=DATA_MB,
                        help=f"MB of generated data per image (default: {DATA_MB})")
    parser.add_argument("--no-write", action="store_true",
                        help=f"print the table only; leave {DOC.relative_to(ROOT)} alone")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a timing bar fails too (correctness always does)")
    parser.add_argument("--no-cloud", action="store_true",
                        help="leave out the Cloud Run and GKE rows (the stand-ins)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch apps and registry data (images are removed)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [1] if args.quick else list(SIZES)
    if args.repeats is None:
        args.repeats = 1 if args.quick else REPEATS
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    args.no_write = args.no_write or args.quick

    started = time.monotonic()
    build_env = tools.docker_client(Runner()).build_env
    about = machine(build_env)
    run_id = uuid.uuid4().hex[:6]
    apps: list[App] = []
    with scratch(args.keep) as base:
        registry = BenchRegistry(base / "registry")
        try:
            pythonpath = "" if args.live else str(snapshot_sources(base))
            registry.start()
            log(f"registry on 127.0.0.1:{registry.port}; scratch apps in {base}")
            for n in args.sizes:
                app = App(n, base / f"n{n}", f"bench-{run_id}-n{n}", registry, args.spin,
                          args.data_mb * 1_000_000, pythonpath, f"shipyard-bench-{run_id}")
                app.create()
                apps.append(app)
            results = measure(apps, args.repeats, args.budget_min * 60, build_env)
            more = 1 if args.quick else DEPLOY_REPEATS
            log("local deploy, no-op release and rollback of the sample app")
            results.deploy_rows, passed = deploy_rows(base, pythonpath, more)
            results.other_bars.append(passed)
            scanned = max(apps, key=lambda a: (a.n == SCAN_N, a.n))
            log(f"N={scanned.n}: scans, cold and reused")
            times = scan_times(scanned, f"v1.0.{scanned.version_count}", more)
            results.scan_rows = scan_rows(times)
            results.other_bars.append(not times.problems)
            if args.no_cloud:
                results.cloud_rows = ["(not run: --no-cloud)"]
            else:
                cloud = cloud_times(base, registry, pythonpath, f"shipyard-bench-{run_id}",
                                    more, (1, 4) if args.quick else CLOUD_SIZES, apps)
                results.cloud_rows, passed = cloud_rows(cloud)
                results.other_bars.append(passed)
        except BenchError as exc:
            log(f"error: {exc}")
            return 1
        except subprocess.CalledProcessError as exc:  # git in a scratch app
            log(f"error: {shlex.join(exc.cmd)} failed (exit {exc.returncode}): "
                f"{(exc.stderr or '').strip()[-400:]}")
            return 1
        finally:
            registry.stop()
            remove_images(apps)
            prune_build_cache(f"shipyard-bench-{run_id}")
    about[1] += f", at the end: {os.getloadavg()[0]:.2f}"
    if not args.live:
        about[3] += " (a snapshot of src/ taken at the start; concurrent edits do not count)"
    text, ok = report(results, args.sizes, results.repeats, args.spin, args.data_mb, about,
                      time.monotonic() - started)
    print(text)
    if not args.no_write:
        write_doc(text)
        log(f"wrote {DOC}")
    broken = [p for s in results.samples for p in s.problems]
    log("all bars pass" if ok else "some bars FAIL (see above)")
    if broken:
        log(f"error: {len(broken)} correctness problem(s): cold runs not cold or warm runs "
            "doing work (see the bars)")
        return 1
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
