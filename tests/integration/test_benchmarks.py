"""The benchmark suite's smoke run: each script under benchmarks/ runs with ``--smoke`` (one run,
smallest sizes) against real labs and prints its ratio lines, so none of them rots. The scripts
that measure a cluster's work (plan, forming, launches) run on both servers, as issue 22 measures
them; the ones about lxdplan alone (start-up, growth) on LXD.

No timing is asserted: the numbers are measurements for docs/performance.md, not pass marks.
The scripts tear their labs down themselves; anything left under this test's lab names is torn
down here too, and the session's leftover check covers the names.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import BACKENDS, lab_root, names, new_name, require_backend
from lxdplan import lab as labapi

REPO = Path(__file__).resolve().parents[2]
RATIO = re.compile(r"^RATIO (?P<name>.+?) = (?P<value>-?\d+\.\d+)", re.M)

# script, lab names it derives from --name (none: no lab), ratio lines it must print
BOTH_SERVERS = ("plan_read.py", "apply_form.py", "launch.py")
SCRIPTS = [
    ("plan_read.py", ["-pl"], ["plan/floor", "sequential-cli/plan", "plan requests/minimum"]),
    ("apply_form.py", ["-al"], ["apply/floor", "apply/hand", "joins first/objects first",
                               "apply requests/writes"]),
    ("scale.py", ["-sl3", "-ol"], ["plan 3/3 members with latency", "peak RSS MB at 10 objects"]),
    ("launch.py", ["-wl"], ["apply/loop at 6", "apply/parallel loop at 6", "apply/one per member at 6"]),
    ("startup.py", [], ["editable --version seconds", "editable validate 1000 objects seconds",
                        "plan start-up recorded/unrecorded file"]),
]


RUNS = [(script, backend, suffixes, ratios) for script, suffixes, ratios in SCRIPTS
        for backend in (BACKENDS if script in BOTH_SERVERS else ("lxd",))]


@pytest.mark.parametrize("script,backend,suffixes,ratios", RUNS,
                         ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def test_benchmark_smoke_run_prints_its_ratios(script, backend, suffixes, ratios, lab_env, tmp_path):
    prefix = new_name(f"b{script[:2]}{backend[0]}")
    derived = [f"{prefix}{s}" for s in suffixes]
    names.update(derived)  # the session's leftover check looks for these labs' bridges
    if derived:
        require_backend(backend)
    try:
        done = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / script), "--smoke", "--name", prefix,
             "--results", str(tmp_path), "--backend", backend],
            cwd=REPO, env=lab_env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
    finally:
        for lab in labapi.list_labs(lab_root()):
            if lab.name in derived:
                labapi.down(lab.name, root=lab_root(), missing_ok=True)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = {m["name"]: float(m["value"]) for m in RATIO.finditer(done.stdout)}
    for name in ratios:
        assert name in printed, f"{script} printed no RATIO line {name!r}:\n{done.stdout}"
        assert printed[name] > 0, f"{script}: {name} = {printed[name]}"
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1, saved
    doc = json.loads(saved[0].read_text())
    assert doc["smoke"] is True and doc["machine"]["cores"] >= 1
    assert {r["name"] for r in doc["ratios"]} >= set(ratios)
    assert not [lab.name for lab in labapi.list_labs(lab_root()) if lab.name in derived]
