"""What every benchmark script shares: timing, medians, peak RSS, labs, results, ratio lines.

Each script measures side by side in one run (alternating the variants so drift hits all alike),
prints a table of medians and one ``RATIO`` line per comparison, and writes its results as JSON
(``--results DIR``, default ``benchmarks/results``) for ``benchmarks/report.py``, which
regenerates ``docs/performance.md``. ``--smoke`` is the CI version: one run, smallest sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
PYTHON = sys.executable


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--backend", choices=["lxd", "incus"], default="lxd")
    ap.add_argument("--runs", type=int, default=5, help="runs of each variant (median of them)")
    ap.add_argument("--smoke", action="store_true", help="one run, smallest sizes (CI)")
    ap.add_argument("--name", default="bench", help="lab name prefix")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON result")
    return ap


def settle(args) -> None:
    """Common argument fix-ups: smoke means one run."""
    if args.smoke:
        args.runs = 1
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")


@contextmanager
def private_dirs():
    """lxdplan's client certificate, pins and host locks in a temp dir unless the caller set
    them (the integration tests do): a benchmark never writes the user's ~/.config."""
    made = []
    saved = {}
    for var in ("LXDPLAN_CONFIG_DIR", "LXDPLAN_LOCK_DIR"):
        if not os.environ.get(var):
            made.append(tempfile.mkdtemp(prefix="lxdplan-bench-"))
            saved[var] = None
            os.environ[var] = made[-1]
    try:
        yield
    finally:
        for var in saved:
            os.environ.pop(var, None)
        for d in made:
            shutil.rmtree(d, ignore_errors=True)


# -- timing ---------------------------------------------------------------------------------------

@dataclass
class Timed:
    seconds: float
    code: int
    output: str
    maxrss_kb: int = 0


def run(cmd: list[str], *, env: dict | None = None, cwd: Path | str = REPO, stdin: str | None = None) -> Timed:
    """Run ``cmd`` to completion: wall time, exit code and output (stdout and stderr)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.PIPE if stdin is not None else None)
    out, _ = proc.communicate(stdin)
    return Timed(time.perf_counter() - t, proc.returncode, out)


def peak_rss(cmd: list[str], *, env: dict | None = None, cwd: Path | str = REPO) -> Timed:
    """Run ``cmd`` and read its own peak resident set size (KiB) from ``os.wait4``'s rusage
    (this child only, unlike RUSAGE_CHILDREN, which keeps the largest child so far)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t
        out.seek(0)
        text = out.read()
    return Timed(elapsed, proc.returncode, text, usage.ru_maxrss)


def lxdplan(*args: str, python: str = PYTHON) -> list[str]:
    return [python, "-m", "lxdplan", *args]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a measured command: no colour, and Python's bytecode cache on as
    users have it (a ``PYTHONDONTWRITEBYTECODE`` left in the shell would add ~50 ms of
    compiling lxdplan's modules to every run)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "NO_COLOR": "1", **extra}


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def rotate(kinds: list, i: int) -> list:
    """The i-th rotation of ``kinds``: alternating the order run after run."""
    k = i % len(kinds)
    return kinds[k:] + kinds[:k]


# -- results --------------------------------------------------------------------------------------

@dataclass
class Result:
    """One script's measurements: rows of medians and the ratio lines with their targets."""

    script: str
    backend: str
    runs: int
    smoke: bool
    rows: list[dict] = field(default_factory=list)
    ratios: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # counts and sizes the report shows

    def row(self, label: str, samples: list[float], **extra) -> None:
        self.rows.append({"label": label, "median_s": med(samples), "min_s": min(samples),
                          "n": len(samples), **extra})

    def ratio(self, name: str, value: float, *, target: str = "", met: bool | None = None,
              detail: str = "") -> None:
        """Print and keep one ratio line (the smoke test looks for the ``RATIO`` lines)."""
        self.ratios.append({"name": name, "value": value, "target": target, "met": met,
                            "detail": detail})
        verdict = "" if met is None else (" MET" if met else " NOT MET")
        print(f"RATIO {name} = {value:.2f}" + (f"  (target {target}:{verdict})" if target else "")
              + (f"  {detail}" if detail else ""), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"NOTE {text}", flush=True)

    def table(self) -> None:
        print()
        print(f"{'measurement':<52}{'median ms':>10}{'min ms':>10}")
        for r in self.rows:
            extra = f"  peak RSS {r['rss_mb']:.0f} MB" if r.get("rss_mb") else ""
            print(f"{r['label']:<52}{ms(r['median_s']):>10}{ms(r['min_s']):>10}{extra}")
        print()

    def save(self, directory: Path, key: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / (f"{key}.smoke.json" if self.smoke else f"{key}.json")
        doc = {"script": self.script, "backend": self.backend, "runs": self.runs,
               "smoke": self.smoke, "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"),
               "rows": self.rows, "ratios": self.ratios, "notes": self.notes, "extra": self.extra}
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return path


def _first(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    load = os.getloadavg()[0]
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem_mb, "kernel": platform.release(),
        "os": _first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "lxd": _first(["lxd", "--version"]) if shutil.which("lxd") else "-",
        "incus": _first(["/usr/libexec/incus/incusd", "--version"])
        if os.path.exists("/usr/libexec/incus/incusd") else "-",
        "load_1min_at_start": round(load, 2),
    }


def need_root(script: str) -> None:
    if os.geteuid() != 0:
        raise SystemExit(f"{script} needs root (it starts labs in network namespaces)")
