"""A plan that could read nothing is an error, not a plan (issue 16 item 6): when no trusted
clustered member answered and the member that would form the cluster did not answer or trust
lxdplan, the cluster's state is unknown; only that member can say no cluster exists yet."""

from __future__ import annotations

import textwrap

from typer.testing import CliRunner

from lxdplan import membership
from lxdplan.cli import app
from lxdplan.desired import Secret, Trust
from lxdplan.state.observed import Standalone
from lxdplan.workflow import unknown_state

from plan_helpers import cluster, desired, fresh, members

REFUSED = "cannot reach member {} at https://10.9.0.{}:8443: Connection refused"


def _down(observed, *names):
    for i, name in enumerate(names, 1):
        observed.standalone[name] = Standalone(name=name, reachable=False, trusted=False,
                                               error=REFUSED.format(name, name[-1]))
    return observed


def _untrusted(observed, *names):
    for name in names:
        observed.standalone[name] = Standalone(name=name, reachable=True, trusted=False)
    return observed


def test_no_member_answers():
    assert unknown_state(desired(), _down(fresh(), "n1", "n2", "n3")) == (
        "the cluster's state is unknown, so nothing can be planned: "
        + "; ".join(REFUSED.format(f"n{i}", i) for i in (1, 2, 3)))


def test_members_that_answer_without_trusting_lxdplan_say_nothing_of_a_cluster():
    assert unknown_state(desired(), _untrusted(fresh(), "n1", "n2", "n3")) == (
        "the cluster's state is unknown, so nothing can be planned: n1, n2 and n3 do not trust "
        "lxdplan's client certificate; get lxdplan's certificate trusted with `lxdplan auth "
        "trust -f lxdplan.yaml`")


def test_only_the_member_that_would_form_the_cluster_can_say_none_exists():
    why = unknown_state(desired(), _untrusted(_down(fresh(), "n1"), "n3"))
    assert why == ("the cluster's state is unknown, so nothing can be planned: "
                   f"{REFUSED.format('n1', 1)}; n3 does not trust lxdplan's client certificate; "
                   "n2 is not in a cluster, but only n1, which would form it, can say that none "
                   "exists; get lxdplan's certificate trusted with `lxdplan auth trust -f "
                   "lxdplan.yaml`")


def test_known_when_read_through_the_cluster_or_the_first_member_says_none_exists():
    assert unknown_state(desired(), cluster()) is None
    assert unknown_state(desired(), _untrusted(_down(fresh(), "n2"), "n3")) is None  # joins blocked


def test_apply_counts_the_members_whose_declared_trust_it_redeems_first():
    want = desired(members=members("n1", "n2", n1={"trust": Trust(password=Secret("env", "PW"))},
                                   n2={"trust": Trust(password=Secret("env", "PW"))}))
    observed = _untrusted(fresh(("n1", "n2")), "n1", "n2")
    assert unknown_state(want, observed, redeemable=["n1"]) is None
    assert unknown_state(want, observed).endswith(
        "(apply redeems the declared trust itself before it reads the cluster)")


def test_plan_status_and_import_exit_1_with_one_sentence_when_nothing_answers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        cluster:
          members:
            - {{name: node1, address: "10.9.0.1:8443", endpoint: "unix://{tmp_path}/n1.socket"}}
            - {{name: node2, address: "10.9.0.2:8443", endpoint: "unix://{tmp_path}/n2.socket"}}
            - {{name: node3, address: "10.9.0.3:8443", endpoint: "unix://{tmp_path}/n3.socket"}}
        """))
    runner = CliRunner()
    for args in (["plan", "--detailed-exitcode"], ["plan", "--format", "json"], ["status"],
                 ["import"]):
        done = runner.invoke(app, [*args, "-f", str(path)])
        assert done.exit_code == 1, (args, done.output)
        errors = [line for line in done.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "the cluster's state is unknown" in errors[0], done.output
        assert "cannot reach member node1" in errors[0] and "bootstrap" not in done.output


def test_a_bootstrap_planned_before_the_trust_is_redeemed_does_not_claim_no_cluster_exists():
    """apply's first plan, made before it redeems node1's declared trust."""
    from lxdplan.planner import plan

    want = desired(members=members("n1", "n2", n1={"trust": Trust(password=Secret("env", "PW"))}))
    boot = next(s for s in plan(want, _untrusted(fresh(("n1", "n2")), "n1")).steps
                if s.action == membership.BOOTSTRAP)
    assert boot.reason == ("if no cluster exists (n1 does not say until it trusts lxdplan), n1, "
                           "the first member in the file, forms it")
    trusted = next(s for s in plan(want, fresh(("n1", "n2"))).steps if s.action == membership.BOOTSTRAP)
    assert trusted.reason == "no cluster exists yet: n1, the first member in the file, forms it"
