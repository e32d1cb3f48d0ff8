"""Load the desired-state file: YAML with lines -> JSON Schema -> semantic rules -> ``Desired``.

Every problem becomes a ``Diagnostic`` (``FILE:LINE: sentence``); all of them are collected and
raised together as one ``ValidationError``. Warnings are returned next to the model.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxdplan import fileschema, keyschema, registry
from lxdplan.desired import Desired
from lxdplan.errors import Diagnostic, LxdplanError, ValidationError, fmt_path
from lxdplan.yamlsource import MAX_BYTES, Source, parse, too_large

# What a value failing a ``pattern`` of the schema must be, by pattern (a test checks that every
# pattern of the schema has its words). Names follow LXD's and Incus's own checks (LXD 5.0 to the
# newest, Incus 6.0 on): what any of them refuses, and "." and ".." always (a path segment of
# either collapses in every HTTP client, so profile ".." would read GET /1.0).
PATTERN_WORDS = {
    r"^(?!\.\.?$)[^/\s\u0000-\u001f\u007f-\u009f]+$":
        'a name without spaces, slashes or control characters, and not "." or ".."',
    r"^(?![0-9]+$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$":
        "a hostname, as LXD requires of instance and network ACL names: 1 to 63 ASCII letters, "
        "digits and hyphens, not starting or ending with a hyphen and not all digits",
    r"""^(?!\.\.?$)(?!\*$)(?:(?![/_'"\\])[!-~])+$""":
        "a project or cluster group name: printable ASCII without spaces, slashes, backslashes, "
        'underscores or quotes, and not "*", "." or ".."',
    r"^(?![.-])(?:(?!/)[!-~])+$": "a storage pool name: printable ASCII without spaces or "
                                  'slashes, not starting with "." or "-"',
    r"^(?!\.$)(?!.*\.\.)(?:(?![/?&+:\\])[!-~])+$":
        'a network name: printable ASCII without spaces, "..", or any of / ? & + : \\, and '
        'not "."',
    r"^(?!\.\.?$)[^/\s\\\u0000-\u001f\u007f-\u009f]+$":
        'a volume name without spaces, slashes, backslashes or control characters, and not "." '
        'or ".."',
    r"^(?!\.\.?$)[^\s\u0000-\u001f\u007f-\u009f]+$":
        'an image alias without spaces or control characters, and not "." or ".."',
    r"^https://": "an https:// URL",
    r"^[0-9a-fA-F]{12,64}$": "12 to 64 hexadecimal digits",
}

_TYPE_WORDS = {
    "string": "a string", "number": "a number", "integer": "a whole number",
    "boolean": "true or false", "object": "a mapping of keys", "array": "a list", "null": "null",
}


def load(path: str) -> tuple[Desired, list[Diagnostic]]:
    """Read and validate ``path``; return the model and its warnings, or raise ValidationError."""
    return load_text(read(path, "create it or pass -f FILE"), path, remember=True)


def read(path: str, missing: str = "") -> str:
    """The text of a YAML file lxdplan reads (the desired state, a preseed): at most
    ``MAX_BYTES`` of UTF-8, or an ``LxdplanError`` naming the file (``missing``: what to do
    when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # never more: a file can be /dev/zero
    except FileNotFoundError:
        raise LxdplanError(f"{path}: no such file" + (f"; {missing}" if missing else "")) from None
    except IsADirectoryError:
        raise LxdplanError(f"{path}: is a directory, not a desired-state file") from None
    except OSError as exc:
        raise LxdplanError(f"{path}: cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise ValidationError([Diagnostic(path, raw.count(b"\n") + 1, too_large())])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValidationError([Diagnostic(path, line, f"the file is not valid UTF-8 text "
                                                      f"(byte {exc.start + 1} cannot be decoded)")]) from None
    return text


def load_text(text: str, path: str = "lxdplan.yaml", *,
              remember: bool = False) -> tuple[Desired, list[Diagnostic]]:
    """Validate YAML ``text`` as if read from ``path``; same contract as :func:`load`.

    ``remember``: skip the JSON Schema check when this very text passed it before, and record
    it when it passes now (``lxdplan.validated``); the semantic rules run either way."""
    from lxdplan.validation import build

    if text.startswith("\ufeff"):
        text = text[1:]
    src, diags = parse(text, path)
    if src is None:
        raise ValidationError(diags)
    if remember:
        from lxdplan import validated

        key = validated.digest(text, [path for _, path in schema_files()])
        if validated.passed(key):
            schema_diags: list[Diagnostic] = []
            bad_paths: list[tuple | None] = []
        else:
            schema_diags, bad_paths = schema_diagnostics(src)
            if not schema_diags and not bad_paths:
                validated.remember(key)
    else:
        schema_diags, bad_paths = schema_diagnostics(src)
    diags += schema_diags
    if bad_paths:
        # Report the semantic errors too (all errors at once): check a copy of the data with the
        # values the schema rejected removed. Its model is discarded; should the damaged data
        # trip the rules up, the schema's sentences stand alone.
        src = _pruned(src, bad_paths)
        try:
            _, more = build(src)
        except Exception:  # noqa: BLE001 - best effort on data already known to be invalid
            more = []
        diags += [d for d in more if d.severity == "error"]
        raise ValidationError(_sorted(diags))
    desired, more = build(src)
    diags += more
    if any(d.severity == "error" for d in diags):
        raise ValidationError(_sorted(diags))
    return desired, _sorted(diags)


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.line or 0))


def schema_files() -> list[tuple[str, Path]]:
    """The files the schema is assembled from: the base (section ``""``) and each kind's
    fragment (``schema/kinds/<id>.schema.json``, ``lxdplan.fileschema``), in registry order."""
    kinds = [(k.section, fileschema.fragment_file(k.kind)) for k in registry.registry()]
    return [("", fileschema.BASE), *kinds]


@lru_cache(maxsize=1)
def schema() -> dict:
    """The published JSON Schema of the desired-state file (``lxdplan schema`` prints it): the
    base and every kind's fragment (``lxdplan.fileschema``), its member-specific key rules taken
    from ``lxdplan.keys`` (``lxdplan.keyschema``)."""
    (_, base), *kinds = schema_files()
    fragments = [(section, path, fileschema.read(path)) for section, path in kinds]
    return keyschema.apply(fileschema.assemble(fileschema.read(base), fragments))


def schema_diagnostics(src: Source) -> tuple[list[Diagnostic], list[tuple | None]]:
    """Validate the plain data against the JSON Schema; one plain sentence per problem.

    Also returns the paths of the rejected values (unknown keys included), for pruning.
    """
    validator = _validator_class()(schema())
    out: list[Diagnostic] = []
    bad: list[tuple | None] = []
    seen: set[tuple] = set()
    for err in validator.iter_errors(src.data):
        if keyschema.is_generated_rule(err):
            continue  # a misplaced member-specific key: the validator names the right place
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            bad += [path + (k,) for k in _extra_keys(err)]
        elif err.validator != "required":
            bad.append(path)
        else:
            bad.append(None)  # nothing to prune, but the data is invalid
        for diag in _translate(err, src):
            key = (diag.line, diag.message)
            if key not in seen:
                seen.add(key)
                out.append(diag)
    return out, bad


@lru_cache(maxsize=1)
def _validator_class():
    """Draft 2020-12 with ``pattern`` read as JSON Schema means it (ECMA-262): ``$`` is the end
    of the text. Python's ``$`` also matches before a final newline, so "web\\n" would pass as
    a name."""
    import jsonschema

    base = jsonschema.Draft202012Validator

    def pattern(validator, pattern, instance, schema):
        if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(base, {"pattern": pattern})


@lru_cache(maxsize=None)
def _ecma(pattern: str) -> re.Pattern:
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _extra_keys(err) -> list[str]:
    """The keys an ``additionalProperties: false`` error is about."""
    allowed = err.schema.get("properties", {})
    patterns = [re.compile(p) for p in err.schema.get("patternProperties", {})]
    return [k for k in err.instance
            if k not in allowed and not any(p.search(k) for p in patterns)]


def _pruned(src: Source, bad_paths: list) -> Source:
    """A copy of ``src`` without the rejected values: dict keys removed, list items set to None
    (so the indexes, and with them the lines, of the other items stay put)."""
    data: Any = copy.deepcopy(src.data)
    for path in sorted((p for p in bad_paths if p), key=len, reverse=True):
        parent = data
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            parent[path[-1]] = None
    return Source(src.path, data, src.value_lines, src.key_lines)


def _translate(err, src: Source) -> list[Diagnostic]:
    path = tuple(err.absolute_path)
    where = fmt_path(path)
    kind = err.validator
    if kind == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = _extra_keys(err)
        place = "at the top level" if not path else f"in {where}"
        diags = []
        for key in extra:
            msg = f'unknown key "{key}" {place}'
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            msg += f'; did you mean "{close[0]}"?' if close else f" (known keys: {', '.join(allowed)})"
            diags.append(Diagnostic(src.path, src.key_line(path + (key,)), msg))
        return diags
    line = src.line(path)
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else "a key"
        return [Diagnostic(src.path, line, f"{fmt_path(path + (missing,))} is missing")]
    if kind == "const" and path == ("version",):
        return [Diagnostic(src.path, line, f"version must be 1 (the only format version), "
                                           f"not {json.dumps(err.instance)}")]
    if kind == "const":
        return [Diagnostic(src.path, line, f"{where} must be {json.dumps(err.validator_value)}")]
    if kind == "enum":
        choices = " or ".join(str(v) for v in err.validator_value)
        return [Diagnostic(src.path, line, f"{where} must be {choices}, not {json.dumps(err.instance)}")]
    if kind == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        if {"string", "number", "boolean"} <= set(types):
            words = "a string, number or boolean"
        else:
            words = _or_words([_TYPE_WORDS.get(t) or str(t) for t in types])
        msg = f"{where} must be {words}, not {_describe(err.instance)}"
        if err.instance is None and "null" not in types:
            msg += " (null is only allowed in server config, where it unsets a key)"
        elif isinstance(err.instance, dict) and set(err.instance) <= {"env", "file"}:
            msg += (" (secrets are accepted in config maps and a member's trust, not in devices "
                    "or member-specific keys)")
        return [Diagnostic(src.path, line, msg)]
    if kind == "anyOf":
        if isinstance(err.instance, dict):
            return [Diagnostic(src.path, line, f"{where} must be a secret written as {{env: NAME}} or "
                                               f"{{file: PATH}}, with exactly one of those keys")]
        msg = f"{where} must be a string, number or boolean, not {_describe(err.instance)}"
        if err.instance is None:
            msg += " (null is only allowed in server config, where it unsets a key)"
        return [Diagnostic(src.path, line, msg)]
    if kind == "pattern":
        if err.instance == "" and "minLength" in err.schema:
            return []  # "must not be empty" says it
        words = PATTERN_WORDS.get(err.validator_value, f"text matching {err.validator_value}")
        return [Diagnostic(src.path, line, f"{where} must be {words}, not {json.dumps(err.instance)}")]
    if kind == "minLength":
        return [Diagnostic(src.path, line, f"{where} must not be empty")]
    if kind in ("minProperties", "maxProperties"):
        return [Diagnostic(src.path, line, f"{where} must have exactly one key")]
    return [Diagnostic(src.path, line, f"{where}: {err.message}")]


def _or_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
