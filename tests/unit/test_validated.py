"""The record of schema-checked files (``lxdplan.validated``): a file loaded again unchanged skips
the JSON Schema check; any change to the text, or an invalid file, is checked every time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lxdplan import loader, validated
from lxdplan.errors import ValidationError

GOOD = """\
version: 1
cluster:
  members:
    - {name: node1, address: "10.0.0.1:8443"}
    - {name: node2, address: "10.0.0.2:8443"}
    - {name: node3, address: "10.0.0.3:8443"}
profiles:
  - {name: web, config: {limits.cpu: 2}}
"""


@pytest.fixture
def record(tmp_path, monkeypatch):
    monkeypatch.setenv("LXDPLAN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = loader.schema_diagnostics

    def counting(src):
        calls.append(src.path)
        return real(src)

    monkeypatch.setattr(loader, "schema_diagnostics", counting)
    return calls


def test_a_file_loaded_again_unchanged_skips_the_schema_check(record, tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD)
    first, _ = loader.load(str(f))
    second, _ = loader.load(str(f))
    assert len(record) == 1
    assert second == first


def test_a_changed_file_is_checked_again(record, tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD)
    loader.load(str(f))
    f.write_text(GOOD.replace("limits.cpu: 2", "limits.cpu: 3"))
    loader.load(str(f))
    assert len(record) == 2


def test_an_invalid_file_is_never_recorded(record, tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD.replace("profiles:", "profilez:"))
    for _ in range(2):
        with pytest.raises(ValidationError) as info:
            loader.load(str(f))
        assert any('unknown key "profilez"' in str(d) for d in info.value.diagnostics)
    assert len(record) == 2


def test_the_semantic_rules_run_on_a_recorded_file(record, tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD + "  - {name: web}\n")  # schema-valid, a duplicate name
    for _ in range(2):
        with pytest.raises(ValidationError):
            loader.load(str(f))
    assert len(record) == 1


def test_the_digest_covers_the_schema(tmp_path, monkeypatch):
    key = validated.digest(GOOD)
    monkeypatch.setattr(validated, "_INPUTS", validated._INPUTS + ("__init__.py",))
    assert validated.digest(GOOD) != key


def test_an_unwritable_record_is_ignored(record, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("LXDPLAN_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot exist
    f = tmp_path / "a.yaml"
    f.write_text(GOOD)
    loader.load(str(f))
    loader.load(str(f))
    assert len(record) == 2


def test_plan_on_a_recorded_file_does_not_import_jsonschema(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(GOOD)
    code = ("import sys; from lxdplan.loader import load; load(sys.argv[1]); "
            "print('jsonschema' in sys.modules)")
    env = {"LXDPLAN_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True,
                           env=env, check=True).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]


def test_a_changed_kind_fragment_checks_the_file_again(record, tmp_path, monkeypatch):
    """The digest covers every file the schema is assembled from, the kinds' fragments too."""
    files = loader.schema_files()
    section, fragment = files[-1]
    copy = tmp_path / fragment.name
    copy.write_text(fragment.read_text())
    monkeypatch.setattr(loader, "schema_files", lambda: [*files[:-1], (section, copy)])
    f = tmp_path / "a.yaml"
    f.write_text(GOOD)
    loader.load(str(f))
    loader.load(str(f))
    assert len(record) == 1
    copy.write_text(fragment.read_text() + "\n")  # the same JSON: the digest goes by the bytes
    loader.load(str(f))
    assert len(record) == 2
