"""A plain `plan` loads its file and starts reading the cluster before the command layer is
imported (issue 22, start-up): ``entry.plan_file`` picks the command lines that may,
``workflow.read_early`` starts the read in a thread, ``make_plan`` takes it once and only for the
file it loaded; every other case, and every failure, reads as before with the same messages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lxdplan import workflow
from lxdplan.entry import load_and_read, plan_file
from lxdplan.errors import LxdplanError
from lxdplan.loader import load
from lxdplan.providers import observe as observe_mod

FILE = """version: 1
cluster:
  members:
    - {{name: node1, address: 192.0.2.11:8443, endpoint: "unix://{sock}1"}}
    - {{name: node2, address: 192.0.2.12:8443, endpoint: "unix://{sock}2"}}
    - {{name: node3, address: 192.0.2.13:8443, endpoint: "unix://{sock}3"}}
profiles:
  - {{name: p1, config: {{limits.cpu: 1}}}}
"""


@pytest.mark.parametrize("argv, file", [
    (["plan"], "lxdplan.yaml"),
    (["plan", "-f", "a.yaml"], "a.yaml"),
    (["plan", "--file", "a.yaml", "--detailed-exitcode", "--format", "json", "-o", "p.plan"], "a.yaml"),
    (["plan", "--force-remove", "node3", "-f", "b.yaml", "-f", "c.yaml"], "c.yaml"),
    (["plan", "--debug"], None),
    (["plan", "--rotate", "x.*"], None),
    (["plan", "-h"], None),
    (["plan", "--version"], None),
    (["plan", "--format", "yaml"], None),
    (["plan", "-f"], None),
    (["plan", "-f", "--debug"], None),
    (["plan", "extra"], None),
    (["apply", "-f", "a.yaml"], None),
    (["--debug", "plan"], None),
    ([], None),
])
def test_plan_file_takes_only_plain_plan_lines(argv, file, monkeypatch):
    monkeypatch.delenv("LXDPLAN_FILE", raising=False)
    assert plan_file(argv) == file


def test_plan_file_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("LXDPLAN_FILE", "env.yaml")
    assert plan_file(["plan"]) == "env.yaml"
    assert plan_file(["plan", "-f", "a.yaml"]) == "a.yaml"


class _Client:
    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1


class _Stop(Exception):
    pass


@pytest.fixture
def fake_reads(monkeypatch, tmp_path):
    """Fake clients and observe (recording the thread each read ran in); ``require_known`` stops
    make_plan right after the read, handing back the observation it got."""
    calls: list[str] = []
    made: list[dict] = []
    seen: list = []
    failures: list[Exception] = []

    def make_clients(desired):
        clients = {m.name: _Client() for m in desired.members}
        made.append(clients)
        return clients

    def observe(desired, *, detail, clients):
        calls.append(threading.current_thread().name)
        if failures:
            raise failures.pop(0)
        return ("observed", desired)

    def require_known(desired, observed):
        seen.append(observed)
        raise _Stop

    monkeypatch.setattr(observe_mod, "make_clients", make_clients)
    monkeypatch.setattr(observe_mod, "observe", observe)
    monkeypatch.setattr(workflow, "require_known", require_known)
    monkeypatch.setattr(workflow, "_early", None)
    path = tmp_path / "lxdplan.yaml"
    path.write_text(FILE.format(sock=tmp_path / "missing"))
    monkeypatch.setenv("LXDPLAN_CACHE_DIR", str(tmp_path / "cache"))
    return {"file": str(path), "calls": calls, "made": made, "seen": seen, "failures": failures}


def test_plan_uses_the_read_started_early_once(fake_reads):
    load_and_read(fake_reads["file"])
    loaded = workflow.early_load(fake_reads["file"])
    assert loaded is not None
    desired, _warnings = loaded
    with pytest.raises(_Stop):
        workflow.make_plan(desired)
    assert fake_reads["calls"] == ["lxdplan-early-read"]  # one read, in the early thread
    assert fake_reads["seen"] == [("observed", desired)]
    assert all(c.closed == 1 for c in fake_reads["made"][0].values())  # make_plan closed them
    with pytest.raises(_Stop):
        workflow.make_plan(desired)  # taken once: a second plan reads again, here
    assert fake_reads["calls"] == ["lxdplan-early-read", threading.current_thread().name]


def test_the_plan_command_plans_on_the_read_started_early(fake_reads, monkeypatch):
    """Through the command itself (``entry.main``): a plain `plan` line reads once, early. The
    command once rebuilt the model it was handed (for ``--restore``, even when not given), so
    every plain plan read the cluster twice."""
    from lxdplan import entry

    monkeypatch.setattr(sys, "argv", ["lxdplan", "plan", "-f", fake_reads["file"]])
    monkeypatch.setenv("LXDPLAN_DEBUG", "1")  # the command lets the fake's stop through
    with pytest.raises(_Stop):
        entry.main()
    assert fake_reads["calls"] == ["lxdplan-early-read"]


def test_another_file_or_model_reads_again(fake_reads):
    load_and_read(fake_reads["file"])
    assert workflow.early_load("other.yaml") is None
    other, _ = load(fake_reads["file"])  # equal, but not the model read early (e.g. --rotate's)
    with pytest.raises(_Stop):
        workflow.make_plan(other)
    assert fake_reads["calls"] == ["lxdplan-early-read", threading.current_thread().name]
    assert all(c.closed == 1 for c in fake_reads["made"][0].values())  # the early ones closed


def test_a_failed_early_read_is_read_again_and_raised_as_usual(fake_reads):
    fake_reads["failures"] += [LxdplanError("first"), LxdplanError("second")]
    load_and_read(fake_reads["file"])
    desired, _ = workflow.early_load(fake_reads["file"])
    with pytest.raises(LxdplanError, match="^second$"):
        workflow.make_plan(desired)
    assert len(fake_reads["calls"]) == 2


def test_an_invalid_file_starts_nothing(fake_reads):
    Path(fake_reads["file"]).write_text("version: 1\nprofiles: 3\n")
    load_and_read(fake_reads["file"])
    assert workflow.early_load(fake_reads["file"]) is None
    assert fake_reads["calls"] == [] and fake_reads["made"] == []


# Through the real command: the early path prints and exits exactly as the CLI alone does.

_VIA_ENTRY = "import sys; sys.argv[0] = 'lxdplan'; from lxdplan.entry import main; main()"
_CLI_ONLY = "import sys; sys.argv[0] = 'lxdplan'; from lxdplan.cli import main; main()"


def _both(tmp_path, text: str, *argv: str):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    env = {**os.environ, "LXDPLAN_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    out = []
    for code in (_VIA_ENTRY, _CLI_ONLY):
        done = subprocess.run([sys.executable, "-c", code, "plan", "-f", str(path), *argv],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
        out.append((done.returncode, done.stdout, done.stderr))
    return out


@pytest.mark.parametrize("text", [
    FILE,  # members that do not answer: the cluster's state is unknown
    "version: 1\nprofiles: 3\n",  # invalid
    "version: 1\ncluster: {{members: [}}\n",  # not YAML
])
def test_messages_and_exit_codes_unchanged(tmp_path, text):
    text = text.replace("{sock}", str(tmp_path / "missing")).replace("{{", "{").replace("}}", "}")
    via_entry, cli_only = _both(tmp_path, text, "--detailed-exitcode")
    assert via_entry == cli_only
    assert via_entry[0] == 1 and via_entry[2]


def test_missing_file_unchanged(tmp_path):
    env = {**os.environ, "LXDPLAN_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    out = [subprocess.run([sys.executable, "-c", code, "plan", "-f", str(tmp_path / "none.yaml")],
                          capture_output=True, text=True, env=env).returncode
           for code in (_VIA_ENTRY, _CLI_ONLY)]
    assert out == [1, 1]
