"""What apply decides before it redeems a declared trust: who awaits it, and that its secrets can
be read before anything is sent."""

from __future__ import annotations

import pytest

from lxdplan.desired import Secret, Trust
from lxdplan.errors import LxdplanError
from lxdplan.plan import Plan
from lxdplan.state.observed import Standalone
from lxdplan.workflow import awaiting_trust, check_secrets
from tests.unit.plan_helpers import desired, fresh, members


def test_members_that_answer_untrusted_and_declare_trust_await_it():
    want = desired(members=members("n1", "n2", "n3", n1={"trust": Trust(password=Secret("env", "PW"))},
                                   n3={"trust": Trust(token=Secret("env", "T3"))}))
    observed = fresh(("n1", "n2", "n3"))
    observed.standalone["n1"] = Standalone(name="n1", reachable=True, trusted=False)
    observed.standalone["n2"] = Standalone(name="n2", reachable=True, trusted=False)  # no trust: blocked
    observed.standalone["n3"] = Standalone(name="n3", reachable=False, trusted=False, error="refused")
    assert awaiting_trust(want, observed) == ["n1"]


def test_an_unreadable_trust_secret_stops_apply_before_anything_is_sent(monkeypatch):
    monkeypatch.delenv("LXDPLAN_TEST_NO_SUCH_TOKEN", raising=False)
    want = desired(members=members("n1", n1={"trust": Trust(token=Secret("env", "LXDPLAN_TEST_NO_SUCH_TOKEN"))}))
    with pytest.raises(LxdplanError) as exc:
        check_secrets(Plan(backend="lxd", server_version=""), trusts=[want.member("n1")])
    assert str(exc.value) == ("member n1: the secret from environment variable "
                              "LXDPLAN_TEST_NO_SUCH_TOKEN is not set; nothing was changed")
    monkeypatch.setenv("LXDPLAN_TEST_NO_SUCH_TOKEN", "t")
    check_secrets(Plan(backend="lxd", server_version=""), trusts=[want.member("n1")])
