"""Long steps show they are alive: the still-running reports, driven by a fake clock (no sleeps),
and the request log line's redaction."""

from __future__ import annotations

import threading

from lxdplan.cli.progress import Progress, StillRunning
from lxdplan.executor import execute
from lxdplan import membership
from lxdplan.plan import Action, Kind, Step
from lxdplan.providers.httplog import loggable

JOIN = Step(id="member/node2/join", action=membership.JOIN, kind=Kind.MEMBER, name="node2", member="node2")
DEFINE = Step(id="storage-pool/data/define/node1", action=Action.DEFINE, kind=Kind.STORAGE_POOL,
              name="data", member="node1")


def test_a_running_step_is_due_a_line_every_ten_seconds():
    timer = StillRunning()
    timer.start(JOIN, 100.0)
    assert timer.due(105.0) == []
    assert timer.due(110.0) == ["still joining member node2... [10s elapsed]"]
    assert timer.due(115.0) == []
    timer.start(DEFINE, 112.0)
    assert timer.due(131.5) == ["still joining member node2... [31s elapsed]",
                                "still defining storage pool data on node1... [19s elapsed]"]
    timer.end(JOIN)
    assert timer.due(142.0) == ["still defining storage pool data on node1... [30s elapsed]"]
    assert timer.live(142.0) == "still defining storage pool data on node1... [30s elapsed]"


def run_blocked_step(progress: Progress, clock: list[float], times: list[float]) -> list:
    """Execute one join whose perform() waits on an Event; advance the fake clock to each of
    ``times`` and tick while it waits; then let it finish."""
    started, release = threading.Event(), threading.Event()

    def perform(step: Step) -> bool:
        started.set()
        release.wait()
        return True

    results: list = []
    runner = threading.Thread(target=lambda: results.extend(execute([JOIN], perform, on_event=progress)))
    runner.start()
    try:
        started.wait()
        for t in times:
            clock[0] = t
            progress.tick()
    finally:
        release.set()
        runner.join()
    return results


def test_in_a_log_a_long_step_prints_plain_lines_while_it_runs(capsys):
    clock = [50.0]
    progress = Progress(clock=lambda: clock[0], tty=False)
    results = run_blocked_step(progress, clock, [55.0, 60.2, 65.0, 71.0])
    assert len(results) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ['start: join member "node2" on node2',
                         "still joining member node2... [10s elapsed]",
                         "still joining member node2... [21s elapsed]"]
    assert lines[3].startswith('done: join member "node2" on node2 (') and len(lines) == 4


def test_on_a_terminal_one_live_line_is_rewritten_then_cleared(capsys):
    clock = [0.0]
    progress = Progress(clock=lambda: clock[0], tty=True)
    run_blocked_step(progress, clock, [2.0, 4.0, 5.0])
    shown = capsys.readouterr().out
    live = "\r\x1b[K"
    assert shown.startswith(f"{live}still joining member node2... [4s elapsed]"
                            f"{live}still joining member node2... [5s elapsed]{live}done: ")
    assert "start:" not in shown and shown.count("\n") == 1


def test_request_log_lines_never_show_secret_query_values():
    assert loggable("/1.0/operations/abc/wait", {"timeout": 30}) == "/1.0/operations/abc/wait?timeout=30"
    assert loggable("/1.0/operations/abc/websocket?secret=s3cr3t") == (
        "/1.0/operations/abc/websocket?secret=(sensitive)")
    assert loggable("/1.0/storage-pools/data", {"target": "node1"}) == "/1.0/storage-pools/data?target=node1"


def test_a_logged_request_is_one_line_with_status_and_time_and_a_failure_says_so(caplog):
    import logging
    from types import SimpleNamespace

    import pytest

    from lxdplan.providers.httplog import logged

    with caplog.at_level(logging.DEBUG, logger="lxdplan.http"):
        answer = logged("node1", "POST", "/1.0/certificates", None,
                        lambda: SimpleNamespace(status_code=201))
        with pytest.raises(ConnectionError):
            logged("node2", "GET", "/1.0", {"token": "t0k"}, lambda: (_ for _ in ()).throw(ConnectionError()))
    assert answer.status_code == 201
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("node1 POST /1.0/certificates -> 201 (") and lines[0].endswith(" ms)")
    assert lines[1].startswith("node2 GET /1.0?token=(sensitive) -> failed (ConnectionError) (")
