"""Fuzzing the desired-state file: generated files, valid ones and mutations of them (wrong types,
unknown and misplaced keys, broken references, odd names and unicode, anchors and aliases,
recursion, depth, size, damaged YAML text), go through ``validate`` (the loader) and, when valid,
through ``plan`` against every recorded cluster of ``tests/cases/`` and every renderer.

The property: only ``LxdplanError`` ever comes out (the CLI's exit 1 with its sentence), every
diagnostic is one line naming the file, and every plan renders and matches its JSON schema. The
bounds on time and memory are the loader's (``lxdplan.yamlsource``); the documented long run
(docs/reliability-fuzz.md) measures them.

``LXDPLAN_FUZZ_EXAMPLES`` sets the number of examples (default 300, about 10 s);
``LXDPLAN_FUZZ_SEED`` fixes the seed; ``LXDPLAN_FUZZ_REPORT=FILE`` writes what the run measured
(the slowest example, the largest rise of the peak memory in one example) as JSON. Hypothesis
keeps no database here: a failure prints the example and the ``@reproduce_failure`` line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import resource
import time
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cases  # noqa: E402
from lxdplan.errors import LxdplanError, ValidationError  # noqa: E402
from lxdplan.loader import load_text  # noqa: E402
from lxdplan.planner import plan  # noqa: E402
from lxdplan.render import render_json, render_markdown, render_text  # noqa: E402
from lxdplan.render.planschema import plan_schema  # noqa: E402
from lxdplan.sensitive import masked_views  # noqa: E402
from lxdplan.state.saved import load_plan, save_plan  # noqa: E402

EXAMPLES = int(os.environ.get("LXDPLAN_FUZZ_EXAMPLES", "300"))
FILE = "fuzz.yaml"
PLAN_SCHEMA = jsonschema.Draft202012Validator(plan_schema())

FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))


def fuzz_seed(test):
    return seed(int(os.environ["LXDPLAN_FUZZ_SEED"]))(test) if "LXDPLAN_FUZZ_SEED" in os.environ else test


# -- what a file is made of ----------------------------------------------------------------------

MEMBERS = ["node1", "node2", "node3", "node4"]
NAMES = ["data", "fast", "lxdbr1", "br2", "default", "web", "c1", "c2", "busybox", "staging", "gpu",
         "vol1", "acl1", "uplink"]
ODD = [".", "..", "a/b", "", " ", "-x", "x-", "1234", "*", "a_b", "a:b", "a..b", "%2e%2e", "é",
       "名前", "web\n", "a\tb", "x" * 70, "\x1b[31mred", "a\x00b", "\u202e", "null", "true", "~",
       "- a", "{a: b}", "&a", "*a", "!tag", "#c", "@x", "default/x", "node1 ", "NODE1",
       "[fd00::1]:8443", "[::1", "a:b:c", "10.55.0.1:0", "10.55.0.1:65536", "10.55.0.2:8443",
       "unix:///x", "unix://", "https://[fe80::1%eth0]:8443", "remote:x", "remote:", "https://",
       "https://10.55.0.1:8443/", "ab" * 32, "AB:" * 31 + "AB", "1e999", "-0", "0x1F", "0755"]
KEYS = ["limits.memory", "limits.cpu", "security.nesting", "user.note", "volatile.x", "image.os",
        "user.lxdplan.managed", "source", "size", "zfs.pool_name", "bridge.external_interfaces",
        "parent", "ipv4.address", "ipv6.address", "volume.size", "features.networks",
        "features.images", "core.https_address", "cluster.https_address", "core.trust_password",
        "images.auto_update_interval", "cluster.offline_threshold", "boot.autostart"]

name = st.one_of(st.sampled_from(NAMES), st.sampled_from(MEMBERS), st.sampled_from(ODD),
                 st.text(max_size=6))
scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                   st.sampled_from(ODD))
junk = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=3)),
    max_leaves=8)
value = st.one_of(st.text(max_size=10), st.integers(0, 10**6), st.booleans(),
                  st.sampled_from(["true", "1GiB", "none", "/srv/x", "10.0.0.1/24"]))
config = st.dictionaries(st.sampled_from(KEYS), value, max_size=4)
secret = st.one_of(st.fixed_dictionaries({"env": st.sampled_from(["PW", "X", ""])}),
                   st.fixed_dictionaries({"file": st.sampled_from(["pw.txt", "/nope"])}))


def member(n: int) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"name": st.just(f"node{n}"), "address": st.just(f"10.55.0.{n}:8443")},
        optional={"config": st.dictionaries(st.sampled_from(["core.https_address", "core.debug_address"]),
                                            st.just(f"10.55.0.{n}:8443"), max_size=1),
                  "roles": st.lists(st.just("event-hub"), max_size=1),
                  "state": st.sampled_from(["online", "evacuated"]),
                  "description": st.text(max_size=8),
                  "failure_domain": st.sampled_from(["default", "rack1"]),
                  "fingerprint": st.just("ab" * 32),
                  "trust": st.fixed_dictionaries({"token": secret})})


@st.composite
def coherent(draw) -> dict:
    """A file whose references mostly resolve: each section names what the sections before it
    declared (so most of these files are valid and plan)."""
    some = lambda items, **kw: draw(st.lists(st.sampled_from(items), unique=True, **kw))  # noqa: E731
    data: dict = {"version": 1}
    if draw(st.booleans()):
        data["backend"] = draw(st.sampled_from(["lxd", "incus"]))
    numbers = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True))
    members = [draw(member(n)) for n in numbers]
    names = [m["name"] for m in members]
    cluster: dict = {"members": members}
    if draw(st.booleans()):
        cluster["config"] = draw(st.dictionaries(
            st.sampled_from(["images.auto_update_interval", "cluster.offline_threshold",
                             "core.trust_password", "user.note"]),
            st.one_of(value, st.none(), secret), max_size=3))
    gone = [m for m in MEMBERS if m not in names]
    if gone and draw(st.booleans()):
        cluster["force_remove"] = some(gone, max_size=2)
    data["cluster"] = cluster
    groups = some(["gpu", "storage"], max_size=2)
    if groups:
        data["cluster_groups"] = [{"name": g} for g in groups]
        for m in members:
            if draw(st.booleans()):
                m["groups"] = some(["default", *groups], min_size=1, max_size=2)
    projects = some(["staging", "dev"], max_size=2)
    if projects:
        data["projects"] = [{"name": p, **draw(st.fixed_dictionaries({}, optional={"config": st.dictionaries(
            st.sampled_from(["features.networks", "features.images", "features.profiles"]),
            st.sampled_from(["true", "false"]), max_size=2)}))} for p in projects]
    pools = []
    for pool in some(["data", "fast"], max_size=2):
        driver = draw(st.sampled_from(["dir", "zfs", "lvm"]))
        local = {"dir": ["source"], "zfs": ["source", "size", "zfs.pool_name"], "lvm": ["source", "lvm.vg_name"]}
        pools.append({"name": pool, "driver": driver, **draw(st.fixed_dictionaries({}, optional={
            "config": st.dictionaries(st.sampled_from(["volume.size", "user.x"]), value, max_size=2),
            "members": st.dictionaries(st.sampled_from(names), st.dictionaries(
                st.sampled_from(local[driver]), st.sampled_from(["/srv/x", "10GiB", "tank"]),
                max_size=2), max_size=3),
            "description": st.text(max_size=8)}))})
    if pools:
        data["storage_pools"] = pools
    nets = []
    for net in some(["lxdbr1", "br2"], max_size=2):
        type_ = draw(st.sampled_from(["bridge", "macvlan"]))
        local = {"bridge": "bridge.external_interfaces", "macvlan": "parent"}[type_]
        nets.append({"name": net, "type": type_, **draw(st.fixed_dictionaries({}, optional={
            "config": st.dictionaries(st.sampled_from(["ipv4.address", "ipv6.address", "user.x"]),
                                      st.sampled_from(["none", "auto", "10.1.0.1/24"]), max_size=2),
            "members": st.dictionaries(st.sampled_from(names), st.fixed_dictionaries(
                {local: st.sampled_from(["eth1", "eth2"])}), max_size=3)}))})
    if nets:
        data["networks"] = nets
    pool_names, net_names = [p["name"] for p in pools], [n["name"] for n in nets]
    device = st.one_of(
        st.fixed_dictionaries({"type": st.just("disk"), "path": st.just("/"),
                               "pool": st.sampled_from(pool_names or ["data"])}),
        st.fixed_dictionaries({"type": st.just("nic"), "name": st.just("eth0"),
                               "network": st.sampled_from(net_names or ["lxdbr1"])}))
    devices = st.dictionaries(st.sampled_from(["root", "eth0", "data"]), device, max_size=2)
    profiles = []
    for prof in some(["default", "web"], max_size=2):
        profiles.append({"name": prof, **draw(st.fixed_dictionaries({}, optional={
            "config": st.dictionaries(st.sampled_from(["limits.memory", "security.nesting", "user.x"]),
                                      value, max_size=2),
            "devices": devices, "description": st.text(max_size=8)}))})
    if profiles:
        data["profiles"] = profiles
    if pools and draw(st.booleans()):
        data["storage_volumes"] = [{"pool": draw(st.sampled_from(pool_names)), "name": v,
                                    "member": draw(st.sampled_from(names)),
                                    **draw(st.fixed_dictionaries({}, optional={
                                        "config": st.dictionaries(st.just("size"), st.just("1GiB")),
                                        "content_type": st.sampled_from(["filesystem", "block"])}))}
                                   for v in some(["vol1", "vol2"], min_size=1)]
    images = some(["busybox", "alpine"], max_size=2)
    if images:
        data["images"] = [{"name": i, "source": draw(st.sampled_from([
            {"file": "images/busybox.tar.xz"},
            {"server": "https://images.example.net", "alias": "debian/12"}])),
            **draw(st.fixed_dictionaries({}, optional={
                "aliases": st.lists(st.just(f"{i}-2"), max_size=1), "public": st.booleans(),
                "auto_update": st.booleans(), "fingerprint": st.just("ab" * 32)}))} for i in images]
    instances = []
    for inst in some(["c1", "c2", "web1"], max_size=3):
        placement = draw(st.one_of(st.just({}), st.fixed_dictionaries({"member": st.sampled_from(names)}),
                                   st.fixed_dictionaries({"group": st.sampled_from(["default", *groups])})))
        instances.append({"name": inst, "image": draw(st.sampled_from([*images, "none", "images:debian/12"])),
                          **placement, **draw(st.fixed_dictionaries({}, optional={
                              "type": st.sampled_from(["container", "virtual-machine"]),
                              "profiles": st.lists(st.sampled_from([p["name"] for p in profiles] or ["default"]),
                                                   unique=True, max_size=2),
                              "config": st.dictionaries(st.sampled_from(["limits.memory", "user.x"]), value,
                                                        max_size=2),
                              "devices": devices, "state": st.sampled_from(["running", "stopped"]),
                              "description": st.text(max_size=8)}))})
    if instances:
        data["instances"] = instances
    rule = st.fixed_dictionaries({"action": st.sampled_from(["allow", "drop", "reject"])}, optional={
        "protocol": st.sampled_from(["tcp", "udp"]), "destination_port": st.sampled_from(["80", "1-2"]),
        "source": st.sampled_from(["10.0.0.0/8", "@internal"]), "state": st.sampled_from(["enabled", "logged"])})
    acls = some(["acl1", "acl2"], max_size=2)
    if acls:
        data["network_acls"] = [{"name": a, "ingress": draw(st.lists(rule, max_size=2, unique_by=str)),
                                 "egress": draw(st.lists(rule, max_size=2, unique_by=str))} for a in acls]
    return data


@lru_cache(maxsize=None)
def golden_text(case: str) -> str:
    return (cases.CASES / case / "desired.yaml").read_text()


# -- mutations -----------------------------------------------------------------------------------

def places(data) -> list[tuple[object, object]]:
    """(container, key or index) of every value below the top (shared values once)."""
    out, seen, todo = [], set(), [data]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            out.append((node, key))
            if isinstance(child, (dict, list)):
                todo.append(child)
    return out


def containers(data) -> list:
    return [data] + [c[k] for c, k in places(data) if isinstance(c[k], (dict, list))]


@st.composite
def mutated(draw, data) -> dict:
    for _ in range(draw(st.integers(1, 4))):
        spots = places(data)
        if not spots:
            break
        parent, key = draw(st.sampled_from(spots))
        how = draw(st.sampled_from(["junk", "name", "delete", "unknown", "move", "share", "deep",
                                    "big", "merge"]))
        if how == "junk":
            parent[key] = draw(junk)
        elif how == "name":
            parent[key] = draw(name)
        elif how == "delete":
            del parent[key]
        elif how == "unknown":
            target = draw(st.sampled_from([c for c in containers(data) if isinstance(c, dict)]))
            target[draw(st.one_of(st.sampled_from(KEYS + NAMES), st.text(max_size=8)))] = draw(junk)
        elif how == "move":  # a key put where it does not belong
            moved = parent[key]
            del parent[key]
            target = draw(st.sampled_from([c for c in containers(data) if isinstance(c, dict)]))
            target[key if isinstance(key, str) else draw(st.sampled_from(KEYS))] = moved
        elif how == "share":  # the same object twice: the dump writes an anchor and an alias
            parent[key] = draw(st.sampled_from(containers(data)))  # may contain itself: recursion
        elif how == "deep":
            inner = parent[key]
            for _ in range(draw(st.integers(1, 120))):
                inner = draw(st.sampled_from([[inner], {"k": inner}]))
            parent[key] = inner
        elif how == "big" and isinstance(parent[key], list):
            items = parent[key] or [draw(junk)]
            parent[key] = items * draw(st.integers(1, 400))
        elif how == "merge" and isinstance(parent[key], dict):
            source = draw(st.sampled_from([c for c in containers(data) if isinstance(c, dict)]))
            parent[key]["<<"] = source  # written back as a YAML merge key below
    return data


def dump(data, unicode: bool) -> str | None:
    try:
        text = yaml.safe_dump(data, allow_unicode=unicode, sort_keys=False, width=100)
    except (yaml.YAMLError, RecursionError, UnicodeEncodeError):
        return None
    return text.replace("'<<':", "<<:")


@st.composite
def damaged(draw, text: str) -> str:
    """The text with a few edits a careless or hostile writer makes."""
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["insert", "delete", "line", "prefix", "suffix"]))
        at = draw(st.integers(0, len(text)))
        if how == "insert":
            text = text[:at] + draw(st.one_of(
                st.sampled_from(["\t", ":", "- ", "&a ", "*a", "!!python/object:os.system ", "!x ",
                                 "{", "[", "'", '"', "#", "\n", "  ", "%YAML 1.1\n", "---\n",
                                 "<<: *a\n", "? ", "|", ">", "\ufeff", "\x00", "\u2028", "\\"]),
                st.text(max_size=4))) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        elif how == "line":  # a line repeated (duplicate keys, duplicate objects)
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(i, lines[i])
                text = "".join(lines)
        elif how == "prefix":
            text = draw(st.sampled_from(["\ufeff", "---\n", "%TAG ! tag:x,2000:\n---\n",
                                         "x-a: &a [1, 2]\n"])) + text
        else:
            text += draw(st.sampled_from(["\n---\nversion: 1\n", "\n...\n", "\nx-b: *a\n",
                                          "\nx-c: *nope\n", "\n  bad indent: 1\n"]))
    return text


@st.composite
def files(draw) -> str:
    """About a third valid as generated, a third mutated, the rest golden files (mutated or not)
    and damaged text."""
    bucket = draw(st.integers(0, 19))
    if bucket < 4:
        text = golden_text(draw(st.sampled_from(cases.names())))
        data = yaml.safe_load(text)
    else:
        data = copy.deepcopy(draw(coherent()))  # st.just() hands out one object: never mutate it
        text = dump(data, draw(st.booleans())) or "version: 1\n"
    if bucket in (2, 3) or 10 <= bucket < 17:
        text = dump(draw(mutated(data)), draw(st.booleans())) or "version: 1\n"
    if bucket == 1 or bucket >= 17:
        text = draw(damaged(text))
    return text


# -- the property --------------------------------------------------------------------------------

MEASURED = {"examples": 0, "slowest_s": 0.0, "slowest_bytes": 0, "largest_peak_rise_kib": 0,
            "largest_peak_rise_bytes": 0, "peak_rss_kib": 0, "slowest_text": "",
            "largest_peak_rise_text": ""}


def measured(check, text: str, *args):
    """``check(text, *args)``, its time and the rise of the process's peak memory noted."""
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        return check(text, *args)
    finally:
        took, peak = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        MEASURED["examples"] += 1
        MEASURED["peak_rss_kib"] = peak
        if took > MEASURED["slowest_s"]:
            MEASURED.update(slowest_s=round(took, 3), slowest_bytes=len(text), slowest_text=text)
        if peak - before > MEASURED["largest_peak_rise_kib"]:
            MEASURED.update(largest_peak_rise_kib=peak - before, largest_peak_rise_bytes=len(text),
                            largest_peak_rise_text=text)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if os.environ.get("LXDPLAN_FUZZ_REPORT"):
        Path(os.environ["LXDPLAN_FUZZ_REPORT"]).write_text(
            json.dumps(MEASURED, indent=1, ensure_ascii=True) + "\n")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Where a generated file and its saved plan are written (one example at a time)."""
    return tmp_path_factory.mktemp("fuzz")


@lru_cache(maxsize=None)
def recorded(case: str):
    """A recorded cluster of the golden cases, read once (the planner never changes one)."""
    return cases.observed(case)


def check_diagnostics(exc: ValidationError, text: str) -> None:
    assert exc.diagnostics, "a ValidationError carries its diagnostics"
    last = text.count("\n") + 2
    for diag in exc.diagnostics:
        assert diag.path == FILE
        assert diag.line is None or 1 <= diag.line <= last, diag
        assert diag.message.strip() and "\n" not in diag.message, diag
        assert "Traceback" not in diag.message and "internal error" not in diag.message


def check_file(text: str, clusters: list[str], workdir: Path | None = None) -> str:
    """Validate ``text`` and plan it against the recorded ``clusters``; return what happened.
    With ``workdir``, each plan is also saved there and read back (``plan --out``/``apply PLAN``)."""
    try:
        desired, warnings = load_text(text, FILE)
    except ValidationError as exc:
        check_diagnostics(exc, text)
        return "invalid"
    for warning in warnings:
        assert warning.path == FILE and "\n" not in warning.message, warning
    outcomes = set()
    for case in clusters:
        try:
            result = plan(desired, recorded(case))
        except LxdplanError as exc:
            assert str(exc).strip() and "Traceback" not in str(exc), case
            outcomes.add("plan error")
            continue
        outcomes.add("planned")
        render_text(result, colour=True)
        render_markdown(result)
        PLAN_SCHEMA.validate(json.loads(render_json(result)))
        if workdir is not None:
            (workdir / FILE).write_text(text, encoding="utf-8", errors="surrogatepass")
            save_plan(result, recorded(case), workdir / FILE, workdir / "saved.plan")
            shown = tuple(dataclasses.replace(step, **dict(zip(("before", "after"), masked_views(
                step.before, step.after)))) for step in result.steps)  # saved as shown: secrets masked
            assert load_plan(workdir / "saved.plan").plan.steps == shown
    return "valid: " + " and ".join(sorted(outcomes))


@FUZZ
@fuzz_seed
@given(files(), st.lists(st.sampled_from(cases.names()), min_size=1, max_size=3, unique=True))
def test_a_generated_file_is_validated_and_planned_or_refused_in_one_sentence_each(
        workdir, text, clusters):
    event(measured(check_file, text, clusters, workdir))


def test_the_golden_files_pass_the_property_unmutated():
    """The seeds themselves: valid files that plan (or are refused as their case says)."""
    for case in cases.names():
        assert check_file(golden_text(case), cases.names()).startswith("valid")


HEAD = "version: 1\ncluster: {members: [{name: node1, address: '10.55.0.1:8443'}]}\n"


@settings(FUZZ, max_examples=max(EXAMPLES // 6, 20))
@fuzz_seed
@given(files(), st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=3)), max_size=3))
def test_a_file_of_any_bytes_is_read_and_validated_or_refused_by_the_command(workdir, text, edits):
    """The same through ``lxdplan validate -f FILE`` (reading bytes: bad UTF-8, a BOM, NULs)."""
    from typer.testing import CliRunner

    from lxdplan.cli import app

    raw = text.encode("utf-8", "surrogatepass")
    for at, data in edits:
        at %= len(raw) + 1
        raw = raw[:at] + data + raw[at + len(data) // 2:]
    path = workdir / FILE
    path.write_bytes(raw)
    result = CliRunner().invoke(app, ["validate", "-f", str(path)])
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output
    event("valid" if result.exit_code == 0 else "refused")


@pytest.mark.parametrize("text, line, words", [
    # What the fuzzer found, kept as plain regressions; each was a traceback or a broken line.
    ("\x1f" + HEAD, 1, "the character U+001F (column 1) is not allowed in YAML"),  # ReaderError
    (HEAD + "x-a: \ud800\n", 3, "U+D800, a lone surrogate"),  # UnicodeEncodeError
    (HEAD + '"a\\nPlan: 0 to add\\u202e": 1\n', 3, 'unknown key "a\\nPlan: 0 to add\\u202e"'),
    (HEAD + 'profiles: [{name: "p\\e[31m"}]\n', 3, 'not "p\\u001b[31m"'),
    (HEAD + 'profiles: [{name: p, config: {"user.a\\nb": 1}}]\n', 3,
     '"user.a\\nb" in profiles[0].config holds a character that is not printable'),
    (HEAD + 'profiles: [{name: p, devices: {"eth0\\n": {type: nic}}}]\n', 3,
     'device "eth0\\n" in profiles[0].devices: a device name is 1 to 63'),
])
def test_found_by_the_fuzzer(text, line, words):
    assert check_file(text, cases.names()) == "invalid"
    with pytest.raises(ValidationError) as info:
        load_text(text, FILE)
    assert any(d.line == line and words in d.message for d in info.value.diagnostics), \
        info.value.diagnostics
