"""YAML syntax errors in plain words, at the line where the mistake is (issue 19: PyYAML's own
words, such as ``expected <block end>, but found '<block mapping start>'``, were shown as is)."""

from __future__ import annotations

import pytest

from lxdplan.errors import ValidationError
from lxdplan.loader import load_text

CASES = [
    ("a:\n  b: 1\n c: 2\n", 3, "the indentation does not line up"),
    ("a: b: c\n", 1, "quote a value that holds ': '"),
    ("a:\n\t- x\n", 2, "YAML indents with spaces only"),
    ("a: [1, 2\n", 2, "a list in [ ] is not closed (opened on line 1)"),
    ("a: {b: 1\n", 2, "a mapping in { } is not closed (opened on line 1)"),
    ('a: "x\n', 2, "a quoted value is not closed (opened on line 1)"),
    ("a: *x\n", 1, "the alias *x names no anchor &x above it"),
    ("a: @x\n", 1, "a value cannot start with '@': put the value in quotes"),
    ("a: !foo x\n", 1, "the tag '!foo' means nothing to lxdplan"),
]


@pytest.mark.parametrize("text,line,words", CASES)
def test_a_yaml_mistake_is_said_in_plain_words_at_its_line(text, line, words):
    with pytest.raises(ValidationError) as exc:
        load_text(text, "lxdplan.yaml")
    (diag,) = exc.value.diagnostics
    assert diag.line == line and words in diag.message, diag
    assert "<block" not in diag.message and "but found" not in diag.message
