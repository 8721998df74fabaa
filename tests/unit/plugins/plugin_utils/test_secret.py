"""plugins/plugin_utils/secret.py: which OMAPI secret a pair uses, one test per rule."""

import base64
from pathlib import Path

import jinja2
import pytest

from ansible_collections.netboot.dhcp_failover.plugins.filter.secret import FilterModule
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import secret

FILTERS = FilterModule().filters()["omapi_secret"]
KEY_FILE = "/etc/dhcp/dhcpd-omapi.key"
A = base64.b64encode(b"A" * 32).decode()
B = base64.b64encode(b"B" * 32).decode()
C = base64.b64encode(b"C" * 33).decode()
D = base64.b64encode(b"D" * 33).decode()


def key_text(value, name="omapi_key"):
    # The layout of roles/dhcpd/templates/omapi.key.j2.
    return '#\n# Ansible managed\n#\nkey %s {\n  algorithm hmac-md5;\n  secret "%s";\n}\n' % (name, value)


def decide(given=None, on_nodes=None, candidates=None, **kwargs):
    return secret.omapi_secret(
        given if given is not None else {"n1": "", "n2": ""},
        on_nodes if on_nodes is not None else {"n1": None, "n2": None},
        candidates if candidates is not None else {"n1": C, "n2": D},
        KEY_FILE,
        **kwargs,
    )


def no_secret_in(result):
    text = repr(result["errors"]) + repr(result["source"])
    return all(value not in text for value in (A, B, C, D))


def test_the_variable_wins_over_the_nodes_keys():
    result = decide({"n1": A, "n2": A}, {"n1": key_text(B), "n2": key_text(B)})
    assert result == {"secret": A, "source": "dhcpd_omapi_secret", "errors": []}


def test_the_variable_must_be_the_same_on_both_members():
    result = decide({"n1": A, "n2": B})
    assert result["secret"] is None and no_secret_in(result)
    assert result["errors"] == ["dhcpd_omapi_secret differs between n1 and n2 (values not shown): set it once, "
                                "in the pair group variables"]


def test_the_variable_set_on_one_member_only_is_refused():
    result = decide({"n1": A, "n2": ""})
    assert result["errors"][0].startswith("dhcpd_omapi_secret differs between n1 and n2")


@pytest.mark.parametrize("bad", ["c2hvcnQ=", 'abc"; } evil', "A" * 15, A + "\n"])
def test_an_invalid_variable_is_refused_without_showing_it(bad):
    result = decide({"n1": bad, "n2": bad})
    assert result["secret"] is None
    assert result["errors"] == ["dhcpd_omapi_secret (value not shown) is invalid: expected base64 of at least "
                                "12 bytes, e.g. the output of `openssl rand -base64 32`"]


def test_the_key_both_nodes_hold_is_kept():
    result = decide(on_nodes={"n1": key_text(A), "n2": key_text(A)})
    assert result == {"secret": A, "source": "the key file of n1 and n2", "errors": []}


def test_the_key_of_the_one_node_that_holds_one_is_kept():
    # e.g. the other node was reinstalled, or never deployed.
    result = decide(on_nodes={"n1": None, "n2": key_text(B, name="other_name")})
    assert result == {"secret": B, "source": "the key file of n2", "errors": []}


def test_different_keys_on_the_nodes_are_refused_naming_both():
    result = decide(on_nodes={"n1": key_text(A), "n2": key_text(B)})
    assert result["secret"] is None and no_secret_in(result)
    assert result["errors"] == ["n1 and n2 hold different OMAPI secrets in /etc/dhcp/dhcpd-omapi.key (values not "
                                "shown): set dhcpd_omapi_secret to the one to keep"]


@pytest.mark.parametrize("text", ["garbage", key_text('x"; } evil; #'), key_text(A) + key_text(B), ""])
def test_a_key_file_without_one_valid_secret_is_refused(text):
    result = decide(on_nodes={"n1": text, "n2": key_text(A)})
    assert result["secret"] is None and no_secret_in(result)
    assert result["errors"] == ["n1: /etc/dhcp/dhcpd-omapi.key holds no valid OMAPI secret (value not shown): set "
                                "dhcpd_omapi_secret, or remove the file to have a new secret generated"]


def test_a_new_pair_takes_the_candidate_of_the_first_member_by_name():
    assert decide(candidates={"n2": D, "n1": C}) == {"secret": C, "source": "generated", "errors": []}


def test_a_member_missing_from_the_run_proposes_nothing():
    assert decide(on_nodes={"n2": None}, candidates={"n1": None, "n2": D})["secret"] == D


def test_check_mode_uses_a_stand_in_and_says_so():
    result = decide(check_mode=True)
    assert result["secret"] == secret.STAND_IN and secret.valid(secret.STAND_IN)
    assert result["source"] == "a stand-in: check mode does not generate the secret"


def test_check_mode_still_keeps_an_existing_key():
    assert decide(on_nodes={"n1": key_text(A), "n2": None}, check_mode=True)["secret"] == A


def test_nothing_is_generated_when_generation_is_off():
    result = decide(generate=False)
    assert result["secret"] is None and result["errors"] == []
    assert result["source"] == "none: no member holds a key file and dhcpd_omapi_secret is unset"


def test_an_invalid_candidate_is_an_error():
    assert decide(candidates={"n1": "short", "n2": None})["errors"] == [
        "no valid new OMAPI secret was proposed (members n1, n2)"
    ]


def test_the_filter_reads_registered_slurp_results():
    slurped = {"content": base64.b64encode(key_text(A).encode()).decode(), "encoding": "base64"}
    missing = {"failed": True, "msg": "file not found: /etc/dhcp/dhcpd-omapi.key"}
    unreachable = {"unreachable": True, "msg": "Failed to connect"}
    result = FILTERS({"n1": "", "n2": ""}, {"n1": slurped, "n2": missing}, {"n1": C, "n2": D}, KEY_FILE)
    assert result["secret"] == A
    result = FILTERS({"n1": "", "n2": ""}, {"n1": unreachable, "n2": missing}, {"n1": C, "n2": D}, KEY_FILE)
    assert result == {"secret": C, "source": "generated", "errors": []}


def test_the_key_file_template_is_read_back():
    # What the role writes must be what this module reads: render the role's own template.
    root = Path(__file__).resolve().parents[4]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(root / "roles/dhcpd/templates")), autoescape=False)  # noqa: S701
    env.filters["comment"] = lambda text: "#\n# %s\n#" % text
    text = env.get_template("omapi.key.j2").render(ansible_managed="managed", dhcpd_omapi_key_name="omapi_key",
                                                   __dhcpd_omapi_secret=A)
    assert secret.key_file_secret(text) == A
