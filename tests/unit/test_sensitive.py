"""Sensitive keys print as (sensitive) on both sides, in every output and saved plan."""

from __future__ import annotations

import json
import os
import stat

import pytest

from lxdplan.desired import Secret
from lxdplan.errors import LxdplanError
from lxdplan.files import write_private
from lxdplan.payloads import ServerUpdate
from lxdplan.plan import Action, Kind, Plan, Step
from lxdplan.render import render_json, render_markdown, render_text
from lxdplan.sensitive import export_reference, masked_views, sensitive_key
from lxdplan.state.observed import Observed
from lxdplan.state.saved import load_plan, save_plan

LIVE = "live-canary-4711"


def _plan() -> Plan:
    steps = (
        Step("server/config/update", Action.UPDATE, Kind.SERVER, "config",
             before={"config": {"loki.auth.password": LIVE, "maas.api.key": LIVE + "-b",
                                "images.auto_update_interval": "6"}},
             after={"config": {"maas.api.key": "plain-new-" + LIVE,
                               "images.auto_update_interval": "15"}},
             payload=ServerUpdate({"loki.auth.password": None, "maas.api.key": "x",
                                   "images.auto_update_interval": "15"})),
        Step("instance/web/update", Action.UPDATE, Kind.INSTANCE, "web",
             before={"config": {"environment.GREETING": LIVE + "-env",
                                "environment.DB_PASSWORD": LIVE + "-db"}},
             after={"config": {"environment.GREETING": Secret("env", "GREET")}}),
        Step("network/br0/update", Action.UPDATE, Kind.NETWORK, "br0",
             before={"config": {"bgp.peers.up.password": LIVE + "-bgp"}}),
    )
    return Plan("lxd", "5.0.2", steps=steps)


def test_table_covers_both_servers_lists():
    for key in ("core.trust_password", "loki.auth.password", "maas.api.key", "rbac.agent.private_key",
                "candid.api.key", "oidc.client.secret", "authorization.openfga.api.token",
                "network.ovn.client_key", "bgp.peers.up1.password", "logging.l1.target.password",
                "environment.DB_PASSWORD", "environment.api_token"):
        assert sensitive_key(key), key
    for key in ("loki.auth.username", "images.auto_update_interval", "environment.GREETING",
                "bgp.peers.up1.address", "user.note"):
        assert not sensitive_key(key), key


@pytest.mark.parametrize("render", [render_text, render_markdown, render_json])
def test_live_values_of_sensitive_keys_never_print(render):
    text = render(_plan())
    assert LIVE not in text
    assert "(sensitive)" in text
    assert "15" in text  # other values still show


def test_text_shows_a_hidden_change_on_both_sides():
    text = render_text(_plan())
    assert 'config["maas.api.key"] = (sensitive) -> (sensitive)' in text
    assert 'config["loki.auth.password"] = (sensitive)' in text
    assert 'config["environment.GREETING"] = (sensitive) -> (sensitive)' in text


def test_json_before_and_after_are_masked():
    doc = json.loads(render_json(_plan()))
    assert doc["steps"][0]["before"]["config"]["loki.auth.password"] == "(sensitive)"
    assert doc["steps"][1]["after"]["config"]["environment.GREETING"] == "(sensitive)"


def test_a_saved_plan_holds_no_live_secret_and_reads_back_masked(tmp_path):
    desired = tmp_path / "lxdplan.yaml"
    desired.write_text("version: 1\n")
    target = tmp_path / "plan.json"
    plan = _plan()
    save_plan(Plan("lxd", "5.0.2", steps=plan.steps[:1]), Observed(clustered=True), desired, target)
    raw = target.read_text()
    assert LIVE not in raw
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    text = render_text(load_plan(target).plan)
    assert 'config["maas.api.key"] = (sensitive) -> (sensitive)' in text


def test_masked_views_hide_the_live_side_of_a_secret_reference():
    before, after = masked_views({"config": {"user.token-ish": "v"}},
                                 {"config": {"user.token-ish": Secret("file", "/x")}})
    assert before == {"config": {"user.token-ish": "(sensitive)"}}


def test_export_reference_names_a_variable():
    assert export_reference("loki.auth.password") == {"env": "LXDPLAN_LOKI_AUTH_PASSWORD"}
    assert export_reference("environment.DB_PASSWORD", "instance web") == {
        "env": "LXDPLAN_INSTANCE_WEB_ENVIRONMENT_DB_PASSWORD"}


def test_write_private_is_0600_whatever_the_umask_and_replaces_atomically(tmp_path):
    target = tmp_path / "out.yaml"
    target.write_text("old")
    os.chmod(target, 0o644)
    old = os.umask(0)
    try:
        write_private(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.yaml"]


def test_write_private_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "plan.json"
    link.symlink_to(victim)
    with pytest.raises(LxdplanError, match="symbolic link"):
        write_private(link, "data", what="the saved plan")
    assert victim.read_text() == "keep"


def test_write_private_failure_is_one_sentence_and_leaves_nothing(tmp_path):
    missing = tmp_path / "no-such-dir" / "plan.json"
    with pytest.raises(LxdplanError) as err:
        write_private(missing, "data", what="the saved plan")
    assert str(err.value).startswith(f"the saved plan {missing} cannot be written:")
    assert not missing.exists()


# -- secrets in object configs, and their rotation ----------------------------------------------

def _instance_plan(live_env: str | None, rotate: list[str] = ()):
    from lxdplan.desired import with_rotation
    from lxdplan.kinds.instance import Instance, ObservedInstance
    from lxdplan.planner import plan

    from plan_helpers import cluster, desired

    config = {"user.lxdplan.managed": "true", "user.lxdplan.image": "busybox"}
    if live_env is not None:
        config["environment.GREETING"] = live_env
    inst = Instance("c1", image="busybox", member="n1",
                    config={"environment.GREETING": Secret("env", "GREET")})
    live = ObservedInstance("c1", location="n1", status="Running", managed_by_lxdplan=True,
                            config=config, profiles=("default",))
    want, unmatched = with_rotation(desired(instances=(inst,)), list(rotate))
    return plan(want, cluster(instances={"default/c1": live})), unmatched


def test_a_secret_in_an_object_config_matches_any_set_value():
    result, _ = _instance_plan(LIVE)
    assert not [s for s in result.steps if s.kind == Kind.INSTANCE]


def test_a_secret_in_an_object_config_is_planned_when_absent_and_shown_sensitive():
    result, _ = _instance_plan(None)
    (step,) = [s for s in result.steps if s.kind == Kind.INSTANCE]
    assert 'config["environment.GREETING"] = (sensitive)' in render_text(result)


def test_rotate_plans_a_set_secret_again_without_printing_the_live_value():
    result, unmatched = _instance_plan(LIVE, ["environment.*"])
    assert unmatched == []
    (step,) = [s for s in result.steps if s.kind == Kind.INSTANCE]
    text = render_text(result)
    assert 'config["environment.GREETING"] = (sensitive) -> (sensitive)' in text
    assert LIVE not in text and LIVE not in render_json(result)


def test_rotate_of_a_key_holding_no_secret_is_reported():
    _, unmatched = _instance_plan(LIVE, ["loki.auth.password"])
    assert unmatched == ["loki.auth.password"]


def test_a_rotated_secret_survives_a_saved_plan(tmp_path):
    result, _ = _instance_plan(LIVE, ["environment.GREETING"])
    desired_file = tmp_path / "lxdplan.yaml"
    desired_file.write_text("version: 1\n")
    save_plan(result, Observed(clustered=True), desired_file, tmp_path / "p.json")
    (step,) = [s for s in load_plan(tmp_path / "p.json").plan.steps if s.kind == Kind.INSTANCE]
    from lxdplan.desired import secrets_in

    assert [s.rotate for s in secrets_in(step.payload)] == [True]


def test_compare_rules_for_secrets():
    from lxdplan.compare import diff_config, diff_server, same_config

    s, r = Secret("env", "X"), Secret("env", "X", rotate=True)
    assert diff_config({"k": "v"}, {"k": s}) == {}
    assert diff_config({}, {"k": s}) == {"k": (None, s)}
    assert diff_config({"k": "v"}, {"k": r}) == {"k": ("v", r)}
    assert diff_server({"core.trust_password": "true"}, {"core.trust_password": s}) == {}
    assert same_config({"k": "v"}, {"k": s}) and not same_config({"k": "v"}, {"k": r})


def test_printing_scrubs_every_resolved_secret(monkeypatch, capsys):
    from lxdplan.cli.output import error, out

    monkeypatch.setenv("SCRUB_ME", "s3cr3t-canary-value")
    assert Secret("env", "SCRUB_ME").resolve() == "s3cr3t-canary-value"
    error("LXD said: invalid value 's3cr3t-canary-value' for key x")
    out("again s3cr3t-canary-value")
    captured = capsys.readouterr()
    assert "s3cr3t-canary-value" not in captured.err + captured.out
    assert "(sensitive)" in captured.err


def test_export_writes_secret_keys_as_references():
    from lxdplan.exporter import export_document
    from lxdplan.kinds.profile import ObservedProfile

    from plan_helpers import cluster

    observed = cluster(config={"loki.auth.password": LIVE, "core.trust_password": "true",
                               "images.auto_update_interval": "15"},
                       profiles={"default/p": ObservedProfile(
                           "p", config={"environment.DB_PASSWORD": LIVE + "-p"},
                           managed_by_lxdplan=True)})
    doc = export_document(observed)
    assert LIVE not in json.dumps(doc)
    assert doc["cluster"]["config"]["loki.auth.password"] == {"env": "LXDPLAN_LOKI_AUTH_PASSWORD"}
    assert "core.trust_password" not in doc["cluster"]["config"]
    (profile,) = [p for p in doc["profiles"] if p["name"] == "p"]
    assert profile["config"]["environment.DB_PASSWORD"] == {
        "env": "LXDPLAN_PROFILE_P_ENVIRONMENT_DB_PASSWORD"}


def test_convert_preseed_writes_secret_keys_as_references():
    from lxdplan.preseed import convert
    from lxdplan.yamlsource import parse

    src, _ = parse("config:\n  core.https_address: 10.0.0.1:8443\n  loki.auth.password: "
                   f"{LIVE}\ncluster:\n  server_name: n1\n  enabled: true\n", "boot.yaml")
    converted = convert([src], backend="lxd", name=None)
    assert LIVE not in json.dumps(converted.document)
    assert converted.document["cluster"]["config"]["loki.auth.password"] == {
        "env": "LXDPLAN_LOKI_AUTH_PASSWORD"}


def test_export_with_a_file_keeps_the_files_references():
    from lxdplan.exporter import export_document
    from lxdplan.kinds.profile import ObservedProfile, Profile
    from lxdplan.sensitive import file_references

    from plan_helpers import cluster, desired

    want = desired(config={"candid.api.key": Secret("file", "/k")},
                   profiles=(Profile("p", config={"user.greeting": Secret("env", "GREET")}),))
    observed = cluster(config={"candid.api.key": LIVE},
                       profiles={"default/p": ObservedProfile(
                           "p", config={"user.greeting": LIVE + "-g"}, managed_by_lxdplan=True)})
    doc = export_document(observed, secrets=file_references(want))
    assert LIVE not in json.dumps(doc)
    assert doc["cluster"]["config"]["candid.api.key"] == {"file": "/k"}
    (profile,) = [p for p in doc["profiles"] if p["name"] == "p"]
    assert profile["config"]["user.greeting"] == {"env": "GREET"}


def test_rotate_of_a_key_the_file_gives_no_secret_is_one_sentence(tmp_path):
    from typer.testing import CliRunner

    from lxdplan.cli import app

    path = tmp_path / "lxdplan.yaml"
    path.write_text("version: 1\ncluster:\n  config: {images.auto_update_interval: 6}\n  members:\n"
                    "    - {name: n1, address: \"10.0.0.1:8443\"}\n")
    result = CliRunner().invoke(app, ["plan", "-f", str(path), "--rotate", "images.*"])
    assert result.exit_code == 1
    assert f"--rotate images.*: no config key of {path} matching it holds a secret" in result.output


def test_convert_preseed_references_secrets_in_object_configs():
    from lxdplan.preseed import convert
    from lxdplan.yamlsource import parse

    src, _ = parse("config:\n  core.https_address: 10.0.0.1:8443\nnetworks:\n  - name: br0\n"
                   "    type: bridge\n    config:\n      bgp.peers.up.address: 10.0.0.9\n"
                   f"      bgp.peers.up.password: {LIVE}\ncluster:\n  server_name: n1\n"
                   "  enabled: true\n", "boot.yaml")
    converted = convert([src], backend="lxd", name=None)
    assert LIVE not in json.dumps(converted.document)
    (net,) = converted.document["networks"]
    assert net["config"]["bgp.peers.up.password"] == {
        "env": "LXDPLAN_NETWORK_BR0_BGP_PEERS_UP_PASSWORD"}
    assert any("LXDPLAN_NETWORK_BR0_BGP_PEERS_UP_PASSWORD" in n for n in converted.notes)


def test_each_kind_declares_its_secret_keys_and_the_registry_hands_them_down():
    import fnmatch

    from lxdplan import registry, sensitive

    declared = {key for k in registry.registry() for key in k.secret_keys}
    assert {"pure.api.token", "bgp.peers.*.password", "peers.*.key"} <= declared
    assert "peers.*.key" not in " ".join(sensitive.SENSITIVE_PATTERNS)  # the zone's own
    for key in ("pure.api.token", "truenas.api_key", "bgp.peers.up1.password", "peers.ns1.key"):
        assert sensitive_key(key) and any(fnmatch.fnmatchcase(key, p) for p in declared), key
    assert not sensitive_key("peers.ns1.address") and not sensitive_key("bgp.peers.up1.address")


def test_masking_before_the_kinds_declared_their_keys_fails_loudly_instead_of_leaking():
    import subprocess
    import sys

    code = ("from lxdplan import sensitive\n"
            "try:\n    sensitive.sensitive_key('peers.ns1.key')\n"
            "except RuntimeError as exc:\n    print('refused:', exc)\n"
            "import lxdplan.registry\n"
            "print(sensitive.masked({'peers.ns1.key': 'k', 'dns.nameservers': 'ns1'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "refused: the kinds' secret keys are not declared: import lxdplan.registry before masking "
        "or exporting anything",
        "{'peers.ns1.key': '(sensitive)', 'dns.nameservers': 'ns1'}"]
