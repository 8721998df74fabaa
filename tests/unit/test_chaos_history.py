"""The fault campaign's checker (tests/dhcplab/history.py) on hand-made histories, good and bad."""

from dhcplab import history

S1, S2 = "198.18.100.1", "198.18.100.2"
A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
X, Y = "198.18.100.50", "198.18.100.51"
NORMAL = {"states": {"s1": ["normal", "normal"], "s2": ["normal", "normal"]}, "audit": {"conflict": 0, "errors": []}}


def ack(t, server, address, lease=30, late=False):
    return {"t": t, "server": server, "kind": "ack", "address": address, "lease_time": lease, "late": late}


def nak(t, server, late=False):
    return {"t": t, "server": server, "kind": "nak", "address": None, "lease_time": None, "late": late}


def offer(t, server, address):
    return {"t": t, "server": server, "kind": "offer", "address": address, "lease_time": 30, "late": False}


def ex(t, client, kind, address=None, replies=(), held=False, bucket="primary"):  # noqa: PLR0917
    return {"t": t, "client": client, "bucket": bucket, "kind": kind, "address": address, "held": held,
            "secs": 0, "replies": list(replies)}


def run(exchanges, windows=(), final=Ellipsis, ended=None):
    final = NORMAL if final is Ellipsis else final
    return history.check({"seed": 42, "exchanges": list(exchanges), "windows": list(windows), "final": final,
                          "ended": ended if ended is not None else max(e["t"] for e in exchanges) + 1})


def test_one_address_to_two_clients_at_once_is_a_violation_with_seed_and_excerpt():
    result = run([ex(10, A, "select", X, [ack(10.01, S1, X)]), ex(20, B, "select", X, [ack(20.01, S2, X)])])
    assert not result["ok"]
    (found,) = result["double"]
    assert (found["address"], found["first"]["client"], found["second"]["client"]) == (X, A, B)
    assert found["first"]["server"] == S1 and found["second"]["server"] == S2
    violation = [line for line in result["text"] if line.startswith("VIOLATION (a)")]
    assert violation and "seed 42" in violation[0] and X in violation[0]
    excerpt = result["text"][result["text"].index(violation[0]) + 1:][:2]
    assert any(A in line and "ACK %s %s" % (S1, X) in line for line in excerpt), excerpt
    assert any(B in line and "ACK %s %s" % (S2, X) in line for line in excerpt), excerpt


def test_reuse_after_the_lease_ended_or_was_released_declined_or_naked_is_fine():
    result = run([
        ex(10, A, "select", X, [ack(10.0, S1, X, lease=30)]),
        ex(41, B, "select", X, [ack(41.0, S1, X)]),        # A's lease ended at 40
        ex(50, A, "select", Y, [ack(50.0, S1, Y)]),
        ex(55, A, "release", Y),
        ex(56, B, "select", Y, [ack(56.0, S2, Y)]),        # released first
    ])
    assert result["ok"] and result["double"] == [], result["text"]
    declined = run([ex(1, A, "select", X, [ack(1, S1, X)]), ex(2, A, "decline", X),
                    ex(3, B, "select", X, [ack(3, S1, X)])])
    assert declined["double"] == []
    naked = run([ex(1, A, "select", X, [ack(1, S1, X)]), ex(5, A, "reboot", X, [nak(5.01, S2)], held=True),
                 ex(6, B, "select", X, [ack(6, S2, X)])])
    assert naked["double"] == []


def test_a_release_only_ends_the_grants_before_it():
    # A releases X, gets it again, and B gets it while A's second lease runs: a violation.
    result = run([
        ex(1, A, "select", X, [ack(1, S1, X)]), ex(2, A, "release", X),
        ex(3, A, "select", X, [ack(3, S1, X)]), ex(4, B, "select", X, [ack(4, S2, X)]),
    ])
    assert len(result["double"]) == 1 and result["double"][0]["first"]["start"] == 3


def test_the_same_client_renewing_and_two_acks_for_one_request_are_not_violations():
    both = [ack(16, S1, X), ack(16.01, S2, X)]
    result = run([ex(1, A, "select", X, [ack(1, S1, X)]), ex(16, A, "rebind", X, both, held=True)])
    assert result["ok"] and result["counts"]["double_ack"] == 1


def test_a_late_ack_counts_and_the_clock_slack_is_one_second():
    late = run([ex(1, A, "rebind", X, [ack(40, S2, X, late=True)]), ex(50, B, "select", X, [ack(50, S1, X)])])
    assert len(late["double"]) == 1 and late["double"][0]["first"]["late"] is True
    assert "(late)" in next(line for line in late["text"] if line.startswith("VIOLATION (a)"))
    edge = run([ex(1, A, "select", X, [ack(1, S1, X, lease=30)]), ex(30.2, B, "select", X, [ack(30.2, S2, X)])])
    assert edge["double"] == []
    over = run([ex(1, A, "select", X, [ack(1, S1, X, lease=30)]), ex(29.5, B, "select", X, [ack(29.5, S2, X)])])
    assert len(over["double"]) == 1


def test_the_end_state_must_be_normal_on_both_with_a_clean_audit():
    good = run([ex(1, A, "discover", None, [offer(1, S1, X)])])
    assert good["final"] == [] and good["ok"]
    bad_state = dict(NORMAL, states={"s1": ["normal", "normal"], "s2": ["recover-wait", "partner-down"]})
    result = run([ex(1, A, "discover")], final=bad_state)
    assert not result["ok"]
    assert result["final"] == ["s2: local/partner state recover-wait/partner-down, not normal/normal"]
    conflicts = dict(NORMAL, audit={"conflict": 2, "errors": [], "conflicts": "198.18.100.7, 198.18.100.9"})
    result = run([ex(1, A, "discover")], final=conflicts)
    assert not result["ok"] and "2 conflicts" in result["final"][0] and "198.18.100.9" in result["final"][0]
    assert run([ex(1, A, "discover")], final=None)["final"] == ["no final state was recorded"]
    assert "VIOLATION (b) seed 42: no final state was recorded" in run([ex(1, A, "discover")], final=None)["text"]
    assert run([ex(1, A, "discover")], final={"states": NORMAL["states"], "audit": {}})["final"] == [
        "no lease audit result"]


def test_liveness_is_the_longest_unanswered_run_per_fault_kind_and_bucket():
    windows = [{"kind": "kill9", "target": "s2", "start": 100, "end": 130}]
    result = run([
        ex(101, B, "discover", bucket="secondary"), ex(102, B, "discover", bucket="secondary"),
        ex(104, B, "discover", None, [offer(104.5, S1, Y)], bucket="secondary"),
        ex(5, A, "discover"), ex(7, A, "discover", None, [offer(7.25, S1, X)]),
        ex(110, A, "renew", X, held=True),            # a renew to a dead server is not an outage
        ex(111, A, "renew", X, [ack(111, S1, X)], held=True),
        ex(120, A, "reboot", X, held=True),           # never answered until the end
    ], windows=windows, ended=140)
    worst = result["liveness"]
    assert worst["kill9"]["secondary"] == {"seconds": 3.5, "client": B, "since": 101, "open": False}
    assert worst["none"]["primary"]["seconds"] == 2.25
    assert worst["kill9"]["primary"] == {"seconds": 20, "client": A, "since": 120, "open": True}
    assert any("kill9" in line and "secondary" in line and "3.5 s" in line for line in result["text"])


def test_lost_leases_and_late_naks_are_reported_with_why():
    windows = [{"kind": "stop_cont", "target": "s2", "start": 10, "end": 60}]
    result = run([
        ex(1, A, "select", X, [ack(1, S1, X)]),
        ex(20, A, "rebind", X, [nak(20.01, S2)], held=True),
        ex(2, B, "select", Y, [ack(2, S2, Y)]),
        ex(21, B, "reboot", Y, [ack(21, S1, "198.18.100.52")], held=True),
        ex(70, B, "expire", "198.18.100.52", held=True),
        ex(30, A, "rebind", X, [nak(55, S2, late=True)], held=False),
        ex(80, A, "renew", X, [nak(80.1, S1)], held=False),     # not held: not a lost lease
        ex(200, A, "expire", X, held=True),                     # long after the fault
    ], windows=windows)
    whys = [(item["client"], item["why"]) for item in result["lost"][:3]]
    assert whys == [
        (A, "rebind NAKed by %s (during stop_cont)" % S2),
        (B, "reboot ACKed another address 198.18.100.52 by %s (during stop_cont)" % S1),
        (B, "the lease ran out with no answer to renew/rebind (after stop_cont)"),
    ]
    assert result["lost"][-1]["why"] == "the lease ran out with no answer to renew/rebind (during none)"
    assert [(n["client"], n["server"], n["during"]) for n in result["late_naks"]] == [(A, S2, "stop_cont")]
    assert result["ok"], "lost leases and late NAKs are reported, not violations"
    assert "late NAKs: 1; exchanges ACKed by both peers: 0" in result["text"]
