#!/usr/bin/env python3
"""`apply` forming the walkthrough cluster against a hand script and against the apply floor.

Usage (root): python3 benchmarks/apply_form.py [--backend lxd|incus] [--runs N] [--smoke]
                                              [--name PREFIX] [--results DIR] [--orders-only]

The walkthrough is ``examples/seed-walkthrough.yaml`` fitted to a fresh 3-member lab (what
``lxdplan lab up --from`` does): bootstrap, 2 joins, 2 pools, 2 bridges, a cluster group, a
project, 2 profiles, 2 volumes, server config and member attributes, the busybox image (uploaded
from its file) and two containers: the same work in every variant.

1. Recording (not timed): one `lxdplan apply` through a recording proxy in front of each
   member's unix socket: every HTTP request it made, by kind, and its writes in order.
2. Then N runs, each variant on a fresh lab, the order rotated run after run:
   a. ``python -m lxdplan apply --auto-approve -f FILE`` (a subprocess, wall time), in the order
      the planner chooses: the members join first, then each pool and network is defined on
      every member and instantiated once;
   a'. the same apply in the other order (``JOINS_FIRST`` off in that process only): the pools and
      networks made on the first member, then each member creates them in its own join
      (``member_config``);
   b. the hand script (``benchmarks/handscript.py``): ``lxd init --preseed`` and ``lxc`` in bash;
   c. the apply floor: the writes recorded in 1., sent back to back by a minimal client (httpx
      over the unix sockets) in this warm process, each operation awaited; only the join token
      and the cluster certificate, which differ per cluster, are fresh (minted and read as the
      writes go).
   After every variant a no-change `lxdplan plan` (exit 0) proves it did the same work.
``--orders-only`` runs a and a' alone (no recording, script or floor), alternated.
Prints medians and ``RATIO`` lines: apply / floor (target <= 1.10), apply / hand script
(target <= 0.85) and joins first / objects first. Exits 0 whatever the numbers; 1 when a
variant fails or does not converge.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from common import PYTHON, REPO, Result, cli_env, lxdplan, med, need_root, parser, private_dirs, rotate, run, settle
from handscript import dump, hand_script
from proxy import Proxy

from lxdplan import lab as labapi  # noqa: E402  (common put the repo on sys.path)

WALKTHROUGH = REPO / "examples" / "seed-walkthrough.yaml"
NAMES = {"lxdplan": "apply", "objects-first": "objects-first apply", "hand": "hand script",
         "floor": "floor"}
# The other forming order (issue 22): the planner's choice switched off for this one process,
# so the objects are made on the first member and each member creates them in its own join.
OBJECTS_FIRST = ("import lxdplan.planner.members as m; m.JOINS_FIRST = False; "
                 "from lxdplan.entry import main; main()")
OBJECTS_FIRST_ROW = "lxdplan apply, objects first (joins carry member_config)"


class Failed(Exception):
    pass


def fresh(name: str, backend: str) -> labapi.Lab:
    template = yaml.safe_load(WALKTHROUGH.read_text())
    return labapi.up(name=name, backend=backend, members=3, template=template)


def converged(lab, what: str) -> None:
    done = run(lxdplan("plan", "--detailed-exitcode", "-f", lab.file), env=cli_env())
    if done.code != 0:
        raise Failed(f"after the {what}, plan exited {done.code} instead of 0 (no changes):\n{done.output}")


def apply_cmd(file: str) -> list[str]:
    return lxdplan("apply", "--auto-approve", "-f", file)


def run_lxdplan(lab) -> float:
    done = run(apply_cmd(lab.file), env=cli_env())
    if done.code != 0:
        raise Failed(f"lxdplan apply exited {done.code}:\n{done.output}")
    return done.seconds


def run_objects_first(lab) -> float:
    done = run([PYTHON, "-c", OBJECTS_FIRST, "apply", "--auto-approve", "-f", lab.file], env=cli_env())
    if done.code != 0:
        raise Failed(f"the objects-first apply exited {done.code}:\n{done.output}")
    return done.seconds


def run_hand(lab) -> float:
    script = hand_script(lab, yaml.safe_load(Path(lab.file).read_text()))
    done = run(["bash", "-c", script], env=cli_env())
    if done.code != 0:
        raise Failed(f"the hand script exited {done.code}:\n{done.output}\n{dump(script)}")
    return done.seconds


# -- recording and the floor ----------------------------------------------------------------------

def record(lab) -> list:
    """Run `lxdplan apply` once with a recording proxy in front of every member's socket."""
    sink: list = []
    lock = threading.Lock()
    proxies = [Proxy(("unix", m.socket), ("unix", str(Path(m.daemon_dir).parent / f"rec-{m.name}.sock")),
                     record=True, label=m.name, sink=sink, sink_lock=lock) for m in lab.members]
    doc = yaml.safe_load(Path(lab.file).read_text())
    try:
        for p, m in zip(proxies, doc["cluster"]["members"]):
            m["endpoint"] = f"unix://{p.start()[1]}"
        file = Path(lab.file).with_name("recorded.yaml")
        file.write_text(yaml.safe_dump(doc, sort_keys=False))
        done = run(apply_cmd(str(file)), env=cli_env())
        if done.code != 0:
            raise Failed(f"lxdplan apply through the recording proxy exited {done.code}:\n{done.output}")
    finally:
        for p in proxies:
            p.close()
    return list(sink)


def is_wait(r) -> bool:
    return r.method == "GET" and r.target.startswith("/1.0/operations/") and "/wait" in r.target


def floor_writes(requests: list) -> list:
    """The writes to replay: every non-GET except revocations of lxdplan's own operations."""
    return [r for r in requests if r.method != "GET" and not r.target.startswith("/1.0/operations/")]


def _token(op: dict) -> str:
    md = op["metadata"]
    return base64.b64encode(json.dumps({
        "server_name": md["serverName"], "fingerprint": md["fingerprint"], "addresses": md["addresses"],
        "secret": md["secret"], "expires_at": md.get("expiresAt", "0001-01-01T00:00:00Z"),
    }).encode()).decode()


def is_define(r) -> bool:
    path, _, query = r.target.partition("?")
    return r.method == "POST" and path in ("/1.0/storage-pools", "/1.0/networks") and "target=" in query


def batches(writes: list) -> list[list]:
    """The writes in order, consecutive definitions (``POST ?target=``) grouped: apply sends
    those at once (the executor runs defines concurrently), so the floor does too."""
    out: list[list] = []
    for r in writes:
        if out and is_define(r) and all(is_define(x) for x in out[-1]):
            out[-1].append(r)
        else:
            out.append([r])
    return out


def run_floor(lab, writes: list) -> float:
    """The recorded writes, back to back, each operation awaited, from this warm process
    (consecutive definitions at once: ``batches``)."""
    import httpx

    http = {m.name: httpx.Client(transport=httpx.HTTPTransport(uds=m.socket), base_url="http://lxd",
                                 timeout=300) for m in lab.members}
    first = lab.members[0].name
    tokens: dict[str, str] = {}
    cert = None

    def answer(raw, r) -> dict:
        body = raw.json()
        if raw.status_code >= 400 or body.get("type") == "error":
            raise Failed(f"floor {r.method} {r.target} on {r.listener}: {body.get('error') or raw.status_code} {raw.text[:300]}")
        return body

    def send(r) -> None:
        nonlocal cert
        binary = bool(r.body) and not r.body.lstrip()[:1] in (b"{", b"[")  # an image upload
        body = json.loads(r.body) if r.body and not binary else None
        if r.method == "PUT" and r.target == "/1.0/cluster" and body and body.get("cluster_address"):
            if cert is None:
                cert = http[first].get("/1.0").json()["metadata"]["environment"]["certificate"]
            body["cluster_certificate"] = cert
            for field in ("cluster_password", "cluster_token"):
                if body.get(field):
                    body[field] = tokens[body["server_name"]]
            raw = http[r.listener].request(r.method, r.target, json=body)
        else:
            kind = "application/octet-stream" if binary else "application/json"
            headers = {"Content-Type": kind} if r.body else {}
            raw = http[r.listener].request(r.method, r.target, content=r.body or None, headers=headers)
        got = answer(raw, r)
        if r.method == "POST" and r.target.split("?")[0] == "/1.0/cluster/members":
            tokens[body["server_name"]] = _token(got["metadata"])  # a token: never awaited
            return
        if got.get("type") == "async":
            op = answer(http[r.listener].get(f"{got['operation']}/wait", params={"timeout": 300}), r)
            while op["metadata"].get("status_code") == 103:  # a wait may end while it runs
                op = answer(http[r.listener].get(f"{got['operation']}/wait", params={"timeout": 300}), r)
            if op["metadata"].get("status_code") != 200:
                raise Failed(f"floor {r.method} {r.target}: {op['metadata'].get('err') or op['metadata'].get('status')}")

    try:
        t = time.perf_counter()
        for batch in batches(writes):
            if len(batch) == 1:
                send(batch[0])
            else:  # definitions on different members at once, as apply sends them
                with ThreadPoolExecutor(4) as pool:  # the executor's ``workers``
                    list(pool.map(send, batch))
        return time.perf_counter() - t
    finally:
        for c in http.values():
            c.close()


# -- driver ---------------------------------------------------------------------------------------

def lab_name(args) -> str:
    return f"{args.name}-a{args.backend[0]}"


def alternate(args, runners) -> dict[str, list[float]]:
    """``args.runs`` rounds, each variant of ``runners`` (name -> run on a lab, in seconds) once
    per round on a fresh lab in rotated order, its cluster checked; ``Failed`` when one does not
    converge. The times per variant, in ``runners``' order."""
    name, variants = lab_name(args), list(runners)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(args.runs):
        for v in rotate(variants, i):
            lab = fresh(name, args.backend)
            try:
                times[v].append(runners[v](lab))
                converged(lab, NAMES[v])
            finally:
                labapi.down(name, missing_ok=True)
        print(f"run {i + 1}/{args.runs}: " + ", ".join(
            f"{v} {times[v][-1]:.2f} s" for v in variants), flush=True)
    return times


def orders_only(args) -> int:
    """``--orders-only``: the two forming orders alone, alternated run after run (more runs of
    what decides the planner's order in the time of a full run)."""
    res = Result("apply_form_orders", args.backend, args.runs, args.smoke)
    times = alternate(args, {"lxdplan": run_lxdplan, "objects-first": run_objects_first})
    res.row("lxdplan apply, joins first (as planned)", times["lxdplan"])
    res.row(OBJECTS_FIRST_ROW, times["objects-first"])
    res.table()
    _order_ratio(res, times)
    print(f"wrote {res.save(args.results, f'apply_form_orders-{args.backend}')}")
    return 0


def _order_ratio(res: Result, times: dict[str, list[float]]) -> None:
    a, o = med(times["lxdplan"]), med(times["objects-first"])
    paired = med([x / y for x, y in zip(times["lxdplan"], times["objects-first"])])
    res.ratio("joins first/objects first", a / o, target="< 1 (the planned order is the faster)",
              met=a / o < 1, detail=f"({a:.2f} s against {o:.2f} s; the median of each run's own "
                                    f"ratio: {paired:.2f})")


def form(args) -> int:
    """The default run: the four variants alternated, after one recorded apply (the floor's
    writes)."""
    res = Result("apply_form", args.backend, args.runs, args.smoke)
    name = lab_name(args)
    lab = fresh(name, args.backend)
    try:
        requests = record(lab)
        converged(lab, "recorded apply")
    finally:
        labapi.down(name, missing_ok=True)
    writes = floor_writes(requests)
    waits = sum(1 for r in requests if is_wait(r))
    gets = sum(1 for r in requests if r.method == "GET") - waits
    print(f"lxdplan apply made {len(requests)} requests: {len(writes)} writes, {waits} "
          f"operation waits, {gets} other reads; the floor sends the {len(writes)} writes",
          flush=True)
    times = alternate(args, {"lxdplan": run_lxdplan, "objects-first": run_objects_first,
                             "hand": run_hand, "floor": lambda lab: run_floor(lab, writes)})
    res.row("lxdplan apply (subprocess; joins first, as planned)", times["lxdplan"])
    res.row(OBJECTS_FIRST_ROW, times["objects-first"])
    res.row(f"hand script ({'lxd init --preseed + lxc' if args.backend == 'lxd' else 'incus admin init --preseed + incus'})",
            times["hand"])
    res.row("apply floor (same writes + waits, warm client)", times["floor"])
    res.table()
    a, h, f = med(times["lxdplan"]), med(times["hand"]), med(times["floor"])
    res.ratio("apply/floor", a / f, target="<= 1.10", met=a / f <= 1.1,
              detail=f"(lxdplan's own share: {a - f:.2f} s of {a:.2f} s)")
    res.ratio("apply/hand", a / h, target="<= 0.85", met=a / h <= 0.85)
    _order_ratio(res, times)
    res.ratio("apply requests/writes", len(requests) / max(1, len(writes)),
              detail=f"({len(requests)} requests: {len(writes)} writes, {waits} waits, {gets} reads)")
    res.extra = {"requests": len(requests), "writes": len(writes), "waits": waits, "reads": gets}
    print(f"wrote {res.save(args.results, f'apply_form-{args.backend}')}")
    return 0


def main() -> int:
    ap = parser(__doc__)
    ap.add_argument("--orders-only", action="store_true",
                    help="only the two forming orders of lxdplan's apply, alternated")
    args = ap.parse_args()
    settle(args)
    need_root("apply_form.py")
    with private_dirs():
        try:
            return orders_only(args) if args.orders_only else form(args)
        except Failed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
