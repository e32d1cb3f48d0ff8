"""Reading the desired-state YAML with line numbers: plain data plus a map from JSON path to line.

PyYAML's ``compose`` keeps a start mark on every node; we build the plain data from the node tree
ourselves so every value's path maps to its line, and so duplicate keys (which PyYAML would
silently resolve to the last one) are caught.

A file is written by whoever can open a pull request, so before anything is built its events are
counted once (:func:`_bounds`): a file over ``MAX_BYTES``, nesting deeper than ``MAX_DEPTH``, an
alias inside its own anchor, or more than ``MAX_VALUES`` values once every alias is expanded (an
"alias bomb": ten aliases of ten aliases of ... is a few hundred bytes) is one error at its line,
and the walk below never starts. The count costs one pass of the parser and no nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from lxdplan.errors import Diagnostic, fmt_path

Path = tuple  # a JSON path: tuple of str keys and int indexes

MAX_BYTES = 4 * 1024 * 1024  # a 500-object file is ~100 KiB
MAX_DEPTH = 64  # lxdplan's deepest place is ~6 levels down (instances[0].devices.eth0.type)
MAX_VALUES = 250_000  # values (scalars, lists, mappings; a key is one) once every alias is expanded


@dataclass
class Source:
    """Plain data of a YAML document and the lines of every path in it."""

    path: str
    data: Any  # the parsed YAML: JSON-like data of any shape (the schema says which)
    value_lines: dict[Path, int] = field(default_factory=dict)
    key_lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """Line of the value at ``path``, or of its nearest ancestor that exists."""
        path = tuple(path)
        while path:
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
        return self.value_lines.get((), None)

    def key_line(self, path: Path) -> int | None:
        """Line of the key naming ``path`` (for "unknown key" and "misplaced key" messages)."""
        path = tuple(path)
        return self.key_lines.get(path) or self.line(path)


# libyaml's parser (when PyYAML was built with it) is several times faster than the pure-Python
# one; both give every node its start mark, which is all the line numbers below need.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


class _PureLoader(yaml.SafeLoader):
    pass


def _json_scalar(loader: _Loader, node: yaml.ScalarNode) -> object:
    """The scalar as JSON data. Floats, dates and ints in other than plain decimal (0755, 0x1f,
    1_000) keep the text the user wrote: LXD wants strings, and "1.10" must not become "1.1"."""
    value = loader.construct_object(node, deep=True)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and re.fullmatch(r"[-+]?(0|[1-9][0-9]*)", node.value):
        return value
    return node.value


def parse(text: str, path: str) -> tuple[Source | None, list[Diagnostic]]:
    """Parse YAML text; return the Source (None if unusable) and any errors found on the way."""
    too_much = _bounds(text, path)
    if too_much is not None:
        return None, [too_much]
    src, diags = _parse(text, path, _Loader)
    if src is None and _Loader is not _PureLoader:
        # libyaml words syntax errors more tersely ("did not find expected key"); an unusable file
        # is not the hot path, so let the pure-Python parser say it (same line, clearer words).
        return _parse(text, path, _PureLoader)
    return src, diags


def too_large() -> str:
    """The sentence for a file over ``MAX_BYTES``, at the line where it passes that size."""
    return (f"the file passes {MAX_BYTES // (1024 * 1024)} MiB by this line; lxdplan reads no "
            f"larger YAML (a 500-object file is ~100 KiB): is it the right file?")


def _bounds(text: str, path: str) -> Diagnostic | None:
    """The first limit the text passes (size, depth, a recursive alias, the values its aliases
    expand to), as an error at its line; None when within every bound. Syntax errors are left to
    the parse that follows (events up to one are still counted)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: text that did not come from UTF-8
        return Diagnostic(path, text.count("\n", 0, exc.start) + 1,
                          f"the text holds U+{ord(text[exc.start]):04X}, a lone surrogate, "
                          f"which is not a character; the file must be UTF-8 text")
    if size > MAX_BYTES:
        line = text.count("\n", 0, MAX_BYTES) + 1  # MAX_BYTES characters hold at least that
        return Diagnostic(path, line, too_large())
    try:
        return _count(text, path, _Loader)
    except yaml.YAMLError:
        if _Loader is _PureLoader:
            return None
    # libyaml stops at 1,000 open brackets before it emits their events, and the pure-Python
    # composer that words the syntax error recurses once per level: count with the pure parser
    # (a state machine) so such nesting is caught here too.
    try:
        return _count(text, path, _PureLoader)
    except yaml.YAMLError:
        return None


def _count(text: str, path: str, loader_class: type) -> Diagnostic | None:
    loader = loader_class(text)
    values = 0  # values so far, every alias expanded
    aliased = 0  # of which came from aliases
    expanded: dict[str, int] = {}  # anchor -> values in its expansion
    open_: list[tuple[str | None, int]] = []  # collections being read: (anchor, values before)
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return None
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_):
                    return Diagnostic(path, line, f"the alias *{event.anchor} is inside its own "
                                                  f"anchor &{event.anchor} (a recursive alias): "
                                                  f"the data would never end; use a separate anchor")
                count = expanded.get(event.anchor or "", 0)  # unknown: the parse says so
                values += count
                aliased += count
            elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                values += 1
                if isinstance(event, yaml.ScalarEvent):
                    if event.anchor:
                        expanded[event.anchor] = 1
                else:
                    open_.append((event.anchor, values - 1))
                    if len(open_) > MAX_DEPTH:
                        return Diagnostic(path, line, f"the data nests more than {MAX_DEPTH} levels "
                                                      f"deep here; lxdplan's file needs fewer than 10")
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before = open_.pop()
                if anchor:
                    expanded[anchor] = values - before
            if values > MAX_VALUES:
                if aliased:
                    return Diagnostic(path, line, f"with its YAML aliases expanded the file holds "
                                                  f"more than {MAX_VALUES:,} values by this line "
                                                  f"({aliased:,} of them copies made by aliases); "
                                                  f"use fewer aliases of large anchors")
                return Diagnostic(path, line, f"the file holds more than {MAX_VALUES:,} values by "
                                              f"this line; split it or remove what is not needed")
    finally:
        loader.dispose()


def _parse(text: str, path: str, loader_class: type) -> tuple[Source | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    try:
        loader = loader_class(text)  # the pure-Python reader refuses control characters here
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        return None, [_unreadable(text, path, exc)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        return None, [Diagnostic(path, line, f"YAML syntax error: {plain_words(exc)}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(path, None, f"YAML syntax error: {exc}")]
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        return None, [Diagnostic(path, None, "the file is empty; it needs at least "
                                             "`version: 1` and `cluster: {members: [...]}`")]
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return None, [Diagnostic(path, root.start_mark.line + 1,
                                 f"the top level must be a mapping of keys (version, cluster, ...), "
                                 f"not {kind}")]
    src = Source(path=path, data=None)
    try:
        src.data = _walk(loader, root, (), src, diags)
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag such as !foo
        mark = exc.problem_mark or exc.context_mark
        return None, [Diagnostic(path, mark.line + 1 if mark else None, f"YAML error: {plain_words(exc)}")]
    return src, diags


def plain_words(exc: yaml.MarkedYAMLError) -> str:
    """What PyYAML's ``problem`` (``expected <block end>, but found '<block mapping start>'``)
    means for the person who wrote the file, and what to do; PyYAML's words when unknown."""
    problem, context = exc.problem or "", exc.context or ""
    opened = f" (opened on line {exc.context_mark.line + 1})" if exc.context_mark else ""
    if "expected <block end>" in problem or "expected <block" in problem:
        return ("the indentation does not line up: this line is indented differently from the "
                "lines above it at the same level; indent it like them, with spaces")
    if "mapping values are not allowed" in problem:
        return ("a second ': ' on this line: quote a value that holds ': ' (\"a: b\"), or put the "
                "key on a line of its own")
    if "'\\t'" in problem or "\\t" in problem:
        return "a tab: YAML indents with spaces only; replace the tab with spaces"
    if "expected ',' or ']'" in problem:
        return f"a list in [ ] is not closed{opened}: add the ']' or the missing ','"
    if "expected ',' or '}'" in problem:
        return f"a mapping in {{ }} is not closed{opened}: add the '}}' or the missing ','"
    if "end of stream" in problem and "quoted" in context:
        return f"a quoted value is not closed{opened}: add the closing quote"
    if "found undefined alias" in problem:
        name = problem.rsplit(" ", 1)[-1]
        return f"the alias *{name.strip(chr(39))} names no anchor &{name.strip(chr(39))} above it"
    if "that cannot start any token" in problem:
        char = problem.split("'")[1] if problem.count("'") >= 2 else "this character"
        return f"a value cannot start with {char!r}: put the value in quotes"
    if "could not find expected ':'" in problem:
        return "a key without ':' (write `key: value`), or a value that runs on past its line"
    if "could not determine a constructor for the tag" in problem:
        tag = problem.rsplit(" ", 1)[-1]
        return f"the tag {tag} means nothing to lxdplan: remove it (the file is plain YAML)"
    return problem or context or "it cannot be parsed"


def _unreadable(text: str, path: str, exc: yaml.reader.ReaderError) -> Diagnostic:
    """A character YAML does not allow (a control character, a lone surrogate), at its line."""
    at = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else 0
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return Diagnostic(path, text.count("\n", 0, at) + 1,
                      f"the character U+{exc.character:04X} (column {column}) is not allowed in "
                      f"YAML; remove it or write it as an escape in double quotes")


def _walk(loader: _Loader, node: yaml.Node, path: Path, src: Source, diags: list[Diagnostic]):
    src.value_lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        place = f"in {fmt_path(path)}" if path else "at the top level"
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:  # the node's own keys; merged ones (<<) may be overridden
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                diags.append(Diagnostic(src.path, key_line, f"a key {place} is a list or mapping; "
                                                            f"keys must be plain words"))
            elif key_node.tag != "tag:yaml.org,2002:merge" and key_node.value in first_line:
                diags.append(Diagnostic(src.path, key_line,
                                        f'duplicate key "{key_node.value}" {place} (first at line '
                                        f'{first_line[key_node.value]}); YAML would silently keep '
                                        f"only the last"))
            else:
                first_line.setdefault(key_node.value, key_line)
        loader.flatten_mapping(node)  # YAML merge keys (<<): merged pairs first, own keys last
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            src.key_lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _walk(loader, value_node, path + (key,), src, diags)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, path + (i,), src, diags) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode), node
    return _json_scalar(loader, node)
