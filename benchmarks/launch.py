#!/usr/bin/env python3
"""Launching a workload: `lxdplan apply` of N busybox containers over 3 members against a shell
loop of `lxc launch --target` and the same loop run per member in parallel, in the same run.

Usage (root): python3 benchmarks/launch.py [--backend lxd|incus] [--runs N] [--smoke] [--keep]
                                           [--counts 24,96] [--widths 1,2,4] [--name NAME]
                                           [--results DIR]

1. Brings up a 3-member lab (``lxdplan.lab.up``) and forms it with `lxdplan apply` of the lab's
   own file (cluster, dir pool, bridge, default profile, the busybox image), untimed. Torn down
   at the end unless ``--keep``.
2. For each count N (containers ``w001``.. placed round-robin with ``member:``), measures,
   alternating the variants run after run, each starting from no container:
   a. ``lxdplan apply --auto-approve`` of the lab file plus the N instances, once per launch
      width W in ``--widths`` (``executor.PER_MEMBER`` set to W in the measured process: at most
      W launches on one member at once, every member at once);
   b. the shell loop ``for i in ...; do lxc launch busybox wNNN --target nodeX; done``;
   c. the same loop split per member, the three loops run at once.
   Each variant must leave N running containers (checked, untimed); they are deleted between
   variants (untimed).
   d. untimed, one ``apply --debug`` at width 1 and one at ``executor.PER_MEMBER``: where the
      time goes (a NOTE each): requests per launch, the server's time per launch (its create
      and start operations, waited for) and how many launches were in the server's hands at
      once on average (the requests' summed time over the apply's wall time).
Prints medians and ``RATIO`` lines: apply (at ``executor.PER_MEMBER``) / loop (target <= 0.5),
apply / parallel loop (target <= 1.1), apply / apply at width 1, and apply at each other width /
apply at width 1 (how many launches a member takes at once before it slows). ``--smoke``: 6 containers, widths 1 and the
default, one run. Exits 0 whatever the numbers: a measurement, not a test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from common import PYTHON, Result, cli_env, med, need_root, parser, private_dirs, rotate, run, settle

from lxdplan import executor  # noqa: E402
from lxdplan import lab as labapi  # noqa: E402
from lxdplan.lab.model import BACKENDS  # noqa: E402

MEMBERS = 3
APPLY = ("import sys; import lxdplan.executor as e; e.PER_MEMBER = int(sys.argv.pop(1)); "
         "sys.argv[0] = 'lxdplan'; from lxdplan.entry import main; main()")


def names(count: int) -> list[tuple[str, str]]:
    """(container, member) for ``count`` containers, round-robin over the members."""
    return [(f"w{i:03d}", f"node{i % MEMBERS + 1}") for i in range(1, count + 1)]


def workload_file(lab_file: Path, count: int, to: Path) -> Path:
    doc = yaml.safe_load(lab_file.read_text())
    doc["instances"] = [{"name": n, "image": "busybox", "member": m} for n, m in names(count)]
    to.write_text(yaml.safe_dump(doc, sort_keys=False))
    return to


def loop_script(cli: str, pairs: list[tuple[str, str]]) -> str:
    return "set -e\n" + "".join(f"{cli} launch busybox {n} --target {m} >/dev/null\n" for n, m in pairs)


def parallel_script(cli: str, pairs: list[tuple[str, str]]) -> str:
    by_member: dict[str, list] = {}
    for n, m in pairs:
        by_member.setdefault(m, []).append((n, m))
    parts = [f"( {loop_script(cli, ps).replace(chr(10), '; ').rstrip('; ')} ) &\n"
             for ps in by_member.values()]
    return "".join(parts) + "fail=0\nfor p in $(jobs -p); do wait $p || fail=1; done\nexit $fail\n"


def running(cli: str, env: dict) -> list[str]:
    out = subprocess.run([cli, "list", "--format", "csv", "-c", "ns"], env=env, capture_output=True,
                         text=True, check=True).stdout
    return sorted(line.split(",")[0] for line in out.splitlines()
                  if line.startswith("w") and line.endswith(",RUNNING"))


def clean(cli: str, env: dict, count: int) -> None:
    """Delete the workload's containers, per member in parallel (untimed)."""
    present = subprocess.run([cli, "list", "--format", "csv", "-c", "n"], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
    by_member: dict[str, list[str]] = {}
    for n, m in names(count):
        if n in present:
            by_member.setdefault(m, []).append(n)
    procs = [subprocess.Popen([cli, "delete", "--force", *ns], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for ns in by_member.values()]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"deleting the workload failed: {err.strip()}")


DEBUG = re.compile(r"^debug: (\S+) (GET|POST|PUT|PATCH|DELETE) (\S+) -> \d+ \((\d+) ms\)")


def where_time_goes(lines: str, count: int, width: int, seconds: float) -> str:
    """A NOTE from one ``apply --debug`` of ``count`` launches at ``width`` per member."""
    reqs = [(m.group(2), m.group(3), int(m.group(4))) for m in map(DEBUG.match, lines.splitlines()) if m]
    ops = sum(ms for method, path, ms in reqs if path.startswith("/1.0/operations/") and "/wait" in path)
    posts = sum(ms for method, path, ms in reqs if method in ("POST", "PUT") and "/1.0/instances" in path)
    total = sum(ms for *_, ms in reqs)
    return (f"{count} containers, {width} per member, one apply --debug: {seconds:.1f} s, "
            f"{len(reqs) / count:.1f} requests per launch (the apply's reads included); the server's "
            f"time per launch {(ops + posts) / count / 1000:.2f} s (its operations waited for {ops / count / 1000:.2f} s, "
            f"the create/start requests {posts / count / 1000:.2f} s); on average "
            f"{total / 1000 / seconds:.1f} requests in the server's hands at once")


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    ap.add_argument("--counts", default="24,96", help="containers per measurement, comma list")
    ap.add_argument("--widths", default="1,2,4", help="launches per member at once to measure")
    args = ap.parse_args()
    settle(args)
    need_root("launch.py")
    counts = [6] if args.smoke else [int(x) for x in args.counts.split(",") if x]
    widths = sorted({1, executor.PER_MEMBER} | (set() if args.smoke else
                                                {int(x) for x in args.widths.split(",") if x}))
    with private_dirs():
        return measure(args, counts, widths)


def measure(args, counts: list[int], widths: list[int]) -> int:
    res = Result("launch", args.backend, args.runs, args.smoke)
    res.extra = {"counts": counts, "widths": widths, "members": MEMBERS,
                 "per_member": executor.PER_MEMBER}
    b = BACKENDS[args.backend]
    work = Path(tempfile.mkdtemp(prefix="lxdplan-launch-"))
    name = f"{args.name}-w{args.backend[0]}"
    lab = None
    try:
        t0 = time.perf_counter()
        lab = labapi.up(name=name, backend=args.backend, members=MEMBERS, out=work / "lab.yaml")
        env = b.env(lab.members[0].daemon_dir)
        formed = run([PYTHON, "-m", "lxdplan", "apply", "--auto-approve", "-f", str(work / "lab.yaml")],
                     env=cli_env())
        if formed.code != 0:
            print(f"forming the lab failed:\n{formed.output}", file=sys.stderr)
            return 1
        print(f"lab {name} up and formed in {time.perf_counter() - t0:.1f} s", flush=True)
        for count in counts:
            clean(b.client, env, count)
            file = workload_file(work / "lab.yaml", count, work / f"workload-{count}.yaml")
            pairs = names(count)
            cmds: dict[str, tuple[list[str], str | None]] = {}
            for w in widths:
                cmds[f"apply, {count} containers, {w} per member at once"] = (
                    [PYTHON, "-c", APPLY, str(w), "apply", "--auto-approve", "-f", str(file)], None)
            cmds[f"lxc launch loop, {count} containers"] = (["sh", "-c", loop_script(b.client, pairs)], None)
            cmds[f"lxc launch loop per member in parallel, {count} containers"] = (
                ["sh", "-c", parallel_script(b.client, pairs)], None)
            times: dict[str, list[float]] = {k: [] for k in cmds}
            for i in range(args.runs):
                for label in rotate(list(cmds), i):
                    cmd, _ = cmds[label]
                    done = run(cmd, env=cli_env(**{b.dir_env: str(lab.members[0].daemon_dir)}))
                    up = running(b.client, env)
                    if done.code != 0 or len(up) != count:
                        print(f"FAILED: {label} exited {done.code} with {len(up)} of {count} running:\n"
                              f"{done.output[-2000:]}", file=sys.stderr)
                        return 1
                    times[label].append(done.seconds)
                    print(f"run {i + 1}: {label}: {done.seconds:.2f} s", flush=True)
                    clean(b.client, env, count)
            for label, xs in times.items():
                res.row(label, xs)
            for w in sorted({1, executor.PER_MEMBER}):  # untimed: where the time goes
                done = run([PYTHON, "-c", APPLY, str(w), "apply", "--auto-approve", "--debug", "-f", str(file)],
                           env=cli_env(**{b.dir_env: str(lab.members[0].daemon_dir)}))
                if done.code == 0:
                    res.note(where_time_goes(done.output, count, w, done.seconds))  # printed too
                clean(b.client, env, count)
            at = {w: med(times[f"apply, {count} containers, {w} per member at once"]) for w in widths}
            apply_t = at[executor.PER_MEMBER]
            loop_t = med(times[f"lxc launch loop, {count} containers"])
            par_t = med(times[f"lxc launch loop per member in parallel, {count} containers"])
            res.ratio(f"apply/loop at {count}", apply_t / loop_t, target="<= 0.50",
                      met=apply_t / loop_t <= 0.5, detail=f"({apply_t:.2f} s / {loop_t:.2f} s)")
            res.ratio(f"apply/parallel loop at {count}", apply_t / par_t, target="<= 1.10",
                      met=apply_t / par_t <= 1.1, detail=f"({apply_t:.2f} s / {par_t:.2f} s)")
            res.ratio(f"apply/one per member at {count}", apply_t / at[1],
                      detail=f"({apply_t:.2f} s at {executor.PER_MEMBER} per member / "
                             f"{at[1]:.2f} s at 1)")
            res.ratio(f"parallel loop/loop at {count}", par_t / loop_t,
                      detail=f"({par_t:.2f} s / {loop_t:.2f} s: what a script gained from parallel launches)")
            for w in widths:
                if w not in (1, executor.PER_MEMBER):
                    res.ratio(f"apply {w}/1 per member at {count}", at[w] / at[1],
                              detail=f"({at[w]:.2f} s / {at[1]:.2f} s)")
        res.table()
        print(f"wrote {res.save(args.results, f'launch-{args.backend}')}")
        return 0
    finally:
        if lab is not None and not args.keep:
            labapi.down(name, missing_ok=True)
        elif lab is not None:
            print(f"lab {name} kept: lxdplan lab down --name {name}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
