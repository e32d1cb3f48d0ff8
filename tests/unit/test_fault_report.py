"""The fault matrix's report (tests/faults/report.py): deterministic, written only after a run of
the whole directory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

_spec = importlib.util.spec_from_file_location(
    "faults_report", Path(__file__).resolve().parent.parent / "faults" / "report.py")
report = importlib.util.module_from_spec(_spec)
sys.modules["faults_report"] = report  # dataclasses look their module up
_spec.loader.exec_module(report)


def case(module="test_answers.py", name="test_a", backend="lxd", outcome="passed"):
    return report.Case(module, name, "A malformed answer: one sentence | naming the member.",
                       backend, outcome)


def test_the_report_is_the_same_text_for_the_same_results_in_any_order(tmp_path):
    cases = [case(backend="incus"), case(), case("test_lock.py", "test_b", "", "failed")]
    text = report.render(cases)
    assert text == report.render(list(reversed(cases)))
    assert "3 cases: 2 passed, 1 failed, 0 skipped." in text
    assert "| test_answers.py | A malformed answer: one sentence \\| naming the member. | lxd | passed |" in text
    assert "| test_lock.py | A malformed answer: one sentence \\| naming the member. | — | failed |" in text
    assert report.write(tmp_path, cases) and not report.write(tmp_path, cases)
    html = report.Case("test_answers.py", "test_html", "HTML: one sentence.", "lxd", "passed",
                       "status=500")
    assert "| HTML: one sentence. [status=500] | lxd | passed |" in report.render([html])
    assert (tmp_path / "docs" / "reliability.md").read_text() == text


def item(path: Path, nodeid: str):
    return SimpleNamespace(fspath=path, nodeid=nodeid)


def test_only_a_run_of_the_whole_directory_counts_as_full(tmp_path):
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text("")
    items = [item(tmp_path / "test_a.py", "a::x"), item(tmp_path / "test_b.py", "b::y")]
    done = {"a::x": "passed", "b::y": "failed"}

    def config(args=("tests",), **option):
        return SimpleNamespace(args=list(args), option=SimpleNamespace(**option))

    assert report.ran_in_full(config(), tmp_path, items, 0, done)
    assert not report.ran_in_full(config(keyword="lock"), tmp_path, items, 0, done)
    assert not report.ran_in_full(config(markexpr="not slow"), tmp_path, items, 0, done)
    assert not report.ran_in_full(config(), tmp_path, items, 1, done)  # something deselected
    assert not report.ran_in_full(config(("tests/faults/test_a.py::x",)), tmp_path, items, 0, done)
    assert not report.ran_in_full(config(), tmp_path, items[:1], 0, done)  # one file
    assert not report.ran_in_full(config(), tmp_path, items, 0, {"a::x": "passed"})  # stopped early


def test_a_case_is_the_docstrings_first_line_or_its_wrapped_first_sentence():
    def one():
        """A case: its outcome.

        More words."""

    def wrapped():
        """A case whose line wraps: its
        outcome. More words."""

    assert report.summary_of(one) == "A case: its outcome."
    assert report.summary_of(wrapped) == "A case whose line wraps: its outcome."


_MATRIX = {
    "faults/test_one.py": '''
import pytest

@pytest.mark.parametrize("backend", ["lxd", "incus"])
def test_per_backend(backend):
    """A case per backend: passes."""

def test_skipped():
    """A skipped case: says why."""
    pytest.skip("no server")
''',
    "faults/test_two.py": '''
def test_plain():
    """A plain case: passes."""
''',
    "other/test_elsewhere.py": '''
def test_not_a_case():
    """Not in the matrix."""
''',
}


def _matrix_run(pytester, *args):
    """A pytest run in a subprocess over a small matrix, the plugin registered as tests/conftest.py
    does; the report it wrote (None when it wrote none)."""
    pytester.makeconftest(f'''
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("faults_report", {str(_spec.origin)!r})
report = importlib.util.module_from_spec(spec)
sys.modules["faults_report"] = report
spec.loader.exec_module(report)

def pytest_configure(config):
    config.pluginmanager.register(report.Plugin(Path(__file__).parent / "faults"), "fault-report")
''')
    for path, text in _MATRIX.items():
        target = pytester.path / path
        target.parent.mkdir(exist_ok=True)
        target.write_text(text)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    doc = pytester.path / "docs" / "reliability.md"
    return doc.read_text() if doc.exists() else None


pytest_plugins = ["pytester"]


def test_the_report_is_complete_from_xdist_workers_as_from_one_process(pytester):
    """Under xdist the controller collects nothing and each worker runs part of the matrix: the
    controller merges the workers' cases with every outcome and writes the same file."""
    alone = _matrix_run(pytester, "-n", "0")
    assert alone is not None and "4 cases: 3 passed, 0 failed, 1 skipped." in alone, alone
    (pytester.path / "docs" / "reliability.md").unlink()
    assert _matrix_run(pytester, "-n", "2", "--dist", "loadfile") == alone
    (pytester.path / "docs" / "reliability.md").unlink()
    assert _matrix_run(pytester, "-n", "2", "-k", "plain") is None  # a partial run writes nothing
