#!/usr/bin/env python3
"""The whole benchmark suite, then ``docs/performance.md`` regenerated from its results.

Usage (root): .venv/bin/python benchmarks/run_all.py [--runs N] [--backends lxd,incus] [--smoke]
                                                     [--name PREFIX] [--results DIR]
                                                     [--scale-incus] [--only SCRIPTS]
                                                     [--scale-args "ARGS"]

Runs, one after the other (never two labs' worth of load at once): plan_read.py,
apply_form.py and launch.py on each backend, scale.py on LXD (and on Incus with ``--scale-incus``), and
startup.py; then report.py (which reads every result in ``--results``, so a script run on its
own earlier, e.g. ``--only scale.py``, is reported with the rest; with ``--only`` the report
is updated in place, ``report.py --update``, keeping the other scripts' sections). Each script is a
subprocess, so one failing does not stop the rest; the exit code is 1 when any failed. About
25 minutes on a 2-core machine with the defaults, over 30 more with scale.py's 500 objects on
LXD 5.0.2; ``--smoke`` (one run, smallest sizes, no report) about 2 minutes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backends", default="lxd,incus")
    ap.add_argument("--scale-incus", action="store_true", help="also run scale.py on Incus")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--name", default="bench")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--only", default="", help="comma list of scripts to run (default: all)")
    ap.add_argument("--scale-args", default="", help="more arguments for scale.py, e.g. \"--sweep-runs 1\"")
    args = ap.parse_args()
    common = ["--runs", str(args.runs), "--name", args.name, "--results", str(args.results)]
    if args.smoke:
        common.append("--smoke")
    backends = [b for b in args.backends.split(",") if b]
    jobs = []
    for b in backends:
        jobs += [["plan_read.py", "--backend", b], ["apply_form.py", "--backend", b],
                 ["launch.py", "--backend", b]]
        if b == "lxd" or args.scale_incus:
            jobs.append(["scale.py", "--backend", b])
    jobs.append(["startup.py"])
    if args.only:
        wanted = {x.strip() for x in args.only.split(",") if x.strip()}
        jobs = [j for j in jobs if j[0] in wanted]
    jobs = [j + (args.scale_args.split() if j[0] == "scale.py" else []) for j in jobs]
    failed = []
    for job in jobs:
        t = time.perf_counter()
        print(f"\n=== {' '.join(job)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / job[0]), *job[1:], *common])
        print(f"=== {' '.join(job)}: exit {done.returncode} in {time.perf_counter() - t:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(" ".join(job))
    if not args.smoke:
        # a partial run (--only) replaces only its own sections of the existing report
        subprocess.run([sys.executable, str(HERE / "report.py"), "--results", str(args.results),
                        *(["--update"] if args.only else [])], check=True)
    if failed:
        print(f"failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
