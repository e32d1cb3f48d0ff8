"""A file anyone can write is read within bounds: its size, its depth, and the values its YAML
aliases expand to; each limit is one error at a line, found before any value is built."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lxdplan import yamlsource
from lxdplan.errors import ValidationError
from lxdplan.loader import load, load_text

TAIL = "cluster: {members: [{name: n1, address: '10.0.0.1:8443'}]}\n"


def bomb(levels: int) -> str:
    """``levels`` levels of ten aliases of the level below: ~10**levels values, a few hundred bytes."""
    lines = ["version: 1", "x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n" + TAIL


def only_error(text: str) -> tuple[int | None, str]:
    with pytest.raises(ValidationError) as info:
        load_text(text)
    (diag,) = info.value.diagnostics
    return diag.line, diag.message


@pytest.fixture
def built(monkeypatch) -> list[int]:
    """Counts the values the YAML walk builds."""
    calls: list[int] = []
    walk = yamlsource._walk

    def counting(*args):
        calls.append(1)
        return walk(*args)

    monkeypatch.setattr(yamlsource, "_walk", counting)
    return calls


def test_the_alias_bomb_of_the_issue_is_refused_at_its_line():
    text = bomb(5)  # the issue's ~400-byte file: 1.9 s and 215 MB before the bound
    assert len(text) < 500
    line, message = only_error(text)
    assert line == 7 and "with its YAML aliases expanded the file holds more than 250,000 values" in message


def test_a_bomb_is_refused_before_any_value_is_built(monkeypatch, built):
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 1_000)
    line, message = only_error(bomb(3))  # line 4 makes the values pass 1,100
    assert line == 4 and "copies made by aliases" in message
    assert built == []


def test_aliases_within_the_bound_load(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 3_000)  # ~2,250 values
    desired, _ = load_text(bomb(2) + "x-more: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n")
    assert [m.name for m in desired.members] == ["n1"]


def test_merge_keys_count_what_they_copy(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 100)
    text = ("version: 1\nx-d: &d {" + ", ".join(f"k{i}: v" for i in range(20)) + "}\n"
            "x-e: {<<: [*d], a: b}\nx-f: {<<: *d}\n" + TAIL)
    line, message = only_error(text)  # 46 values by line 2, 92 by line 3, 136 by line 4
    assert line == 4 and "more than 100 values" in message


def test_many_plain_values_are_refused_without_naming_aliases(monkeypatch):
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 100)
    line, message = only_error("version: 1\nx-list:\n" + "  - a\n" * 200 + TAIL)
    assert line == 2 + 96 and "the file holds more than 100 values by this line" in message
    assert "alias" not in message


@pytest.mark.parametrize("text, line", [
    ("version: 1\nx-a: &a [*a]\n" + TAIL, 2),
    ("version: 1\nx-a: &a {b: [1, {c: *a}]}\n" + TAIL, 2),
    ("version: 1\nx-a: &a\n  b:\n    - *a\n" + TAIL, 4),
])
def test_a_recursive_alias_is_an_error_not_a_crash(text, line):
    at, message = only_error(text)
    assert at == line and "recursive alias" in message and "*a is inside its own anchor &a" in message


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_flow_nesting_is_an_error_not_a_crash(depth):
    # libyaml gives up at 1,000 open brackets, and the pure-Python parser that then words the
    # syntax error recursed once per level ("internal error: RecursionError").
    line, message = only_error("version: 1\nx-a: " + "[" * depth + "]" * depth + "\n" + TAIL)
    assert line == 2 and "nests more than 64 levels deep" in message


def test_deep_block_nesting_is_an_error_not_a_crash():
    text = "version: 1\nx-a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 1_200)) + TAIL
    line, message = only_error(text)
    assert line == 2 + 64 and "nests more than 64 levels deep" in message


def test_nesting_within_the_bound_loads():
    depth = yamlsource.MAX_DEPTH - 1  # the top-level mapping is the first level
    desired, _ = load_text("version: 1\nx-a: " + "[" * depth + "]" * depth + "\n" + TAIL)
    assert desired.members[0].name == "n1"


def test_a_file_over_the_size_bound_is_refused_at_a_line(tmp_path):
    pad = "x" * 1_000
    lines = (yamlsource.MAX_BYTES // 1_000) + 5
    path = tmp_path / "big.yaml"
    path.write_text("version: 1\n" + TAIL + "x-pad:\n" + f"  - {pad}\n" * lines)
    with pytest.raises(ValidationError) as info:
        load(str(path))
    (diag,) = info.value.diagnostics
    assert diag.path == str(path) and "the file passes 4 MiB by this line" in diag.message
    assert abs(diag.line - (3 + yamlsource.MAX_BYTES // len(f"  - {pad}\n"))) <= 1
    with pytest.raises(ValidationError) as same:  # the same bound on text given directly
        load_text(path.read_text(), str(path))
    assert "the file passes 4 MiB" in same.value.diagnostics[0].message


def test_convert_preseed_reads_within_the_same_bounds(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"config:\n  core.https_address: \xff\n")
    deep = tmp_path / "deep.yaml"
    deep.write_text("config: " + "[" * 5_000 + "]" * 5_000 + "\n")
    for path, words in ((bad, "not valid UTF-8"), (deep, "nests more than 64 levels")):
        done = subprocess.run([sys.executable, "-m", "lxdplan", "convert-preseed", str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 1 and words in done.stderr and str(path) in done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
