"""The checker of a fault campaign's recorded history (pure Python: no lab, no clock, no I/O).

A history is what tests/dhcplab/chaos.py records (and what a unit test writes by hand):

    {"seed": 7,
     "exchanges": [{"t": 12.0, "client": "02:..", "bucket": "primary", "kind": "renew",
                    "address": "198.18.100.17", "held": True, "secs": 0,
                    "replies": [{"t": 12.01, "server": "198.18.100.1", "kind": "ack",
                                 "address": "198.18.100.17", "lease_time": 30, "late": False}]}, ...],
     "windows": [{"kind": "kill9", "target": "s2", "start": 40.0, "end": 52.5}, ...],
     "final": {"states": {"s1": ["normal", "normal"], "s2": ["normal", "normal"]},
               "audit": {"conflict": 0, ...}},
     "ended": 300.0}

Exchange kinds: discover, select (REQUEST with the offer's server id), renew (unicast to the
client's server), rebind (broadcast, ciaddr set), reboot (INIT-REBOOT: broadcast, requested
address, no server id), release, decline, expire (the client's lease ran out unrenewed: not a
message, the client's own decision). ``held``: the client still had a valid lease on ``address``
when it sent this. Reply kinds: offer, ack, nak; ``late`` replies came after the client had
stopped listening for that xid (a server working through a queue of old requests).

The rules (check()):
(a) safety: no address ACKed to two clients with overlapping lease intervals. A client's interval
    on an address runs from the ACK to ACK + lease time, cut short when the client gives the
    address up (release, decline, or a NAK for it: RFC 2131 clients stop using it at once).
    Late ACKs count: dhcpd bound the address when it sent them.
(b) the end: both peers NORMAL (local and partner state) and 0 conflicts in the lease audit.
(c) liveness, reported not judged: per fault kind and client hash bucket, the longest time a
    client that needed an answer (discover, select, rebind, reboot; not a renew, which goes to
    one server by design) sent requests without any reply.
(d) lost leases: a client that still held its address and asked to keep it (renew, rebind,
    reboot) but got a NAK or another address, or whose lease ran out unanswered; plus late NAKs.
"""

# dhcpd keeps time in whole seconds: the end it records can be up to a second before the end a
# client computes from the moment it received the ACK.
CLOCK_SLACK = 1.0
ASKING = ("discover", "select", "rebind", "reboot")
KEEPING = ("renew", "rebind", "reboot")
GIVING_UP = ("release", "decline")
NO_FAULT = "none"
# A lease granted before a fault can run out up to a max-lease-time after the heal.
AFTER = 60.0
EXCERPT_AROUND = 8


def _replies(exchange, kind=None, late=None):
    return [r for r in exchange.get("replies", ()) if (kind is None or r["kind"] == kind)
            and (late is None or bool(r.get("late")) == late)]


def window_of(t, windows):
    """The fault window (dict) running at time t, or None."""
    for window in windows:
        if window["start"] <= t <= window["end"]:
            return window
    return None


def _label(t, windows):
    window = window_of(t, windows)
    return window["kind"] if window else NO_FAULT


def _cause(t, windows, lingering=AFTER):
    """'during KIND', 'after KIND' (a fault healed less than ``lingering`` s before t) or 'during none'."""
    window = window_of(t, windows)
    if window:
        return "during %s" % window["kind"]
    before = [w for w in windows if w["end"] <= t < w["end"] + lingering]
    return "after %s" % before[-1]["kind"] if before else "during %s" % NO_FAULT


def grants(exchanges):
    """Every ACK as an interval: [{address, client, server, start, end, late, index, cut}], in time order."""
    found = []
    open_by = {}  # (client, address) -> grants not yet cut
    events = []
    for index, exchange in enumerate(exchanges):
        for reply in _replies(exchange):
            events.append((reply["t"], 0, index, exchange, reply))
        if exchange["kind"] in GIVING_UP and exchange.get("address"):
            events.append((exchange["t"], 1, index, exchange, None))
    events.sort(key=lambda event: (event[0], event[1]))
    for t, _order, index, exchange, reply in events:
        client = exchange["client"]
        if reply is None or reply["kind"] == "nak":
            # A NAK names no address: it ends the one the client asked about.
            for grant in open_by.pop((client, exchange.get("address")), ()):
                if grant["end"] > t:
                    grant["end"], grant["cut"] = t, exchange["kind"] if reply is None else "nak"
            continue
        if reply["kind"] != "ack":
            continue
        grant = {"address": reply["address"], "client": client, "server": reply["server"], "start": t,
                 "end": t + float(reply["lease_time"] or 0), "late": bool(reply.get("late")), "index": index,
                 "cut": None}
        found.append(grant)
        open_by.setdefault((client, reply["address"]), []).append(grant)
    return found


def double_grants(exchanges, slack=CLOCK_SLACK):
    """(a): pairs of grants of one address to two clients whose intervals overlap (by more than slack)."""
    by_address = {}
    for grant in grants(exchanges):
        by_address.setdefault(grant["address"], []).append(grant)
    found = []
    for address, items in sorted(by_address.items()):
        items.sort(key=lambda g: g["start"])
        for position, second in enumerate(items):
            for first in items[:position]:
                if first["client"] != second["client"] and first["end"] - slack > second["start"]:
                    found.append({"address": address, "first": first, "second": second,
                                  "overlap": round(first["end"] - second["start"], 3)})
                    break
    return found


def final_problems(final):
    """(b): why the end state is not both NORMAL with a clean audit ([] when it is)."""
    problems = []
    if not final:
        return ["no final state was recorded"]
    for node, states in sorted(final.get("states", {}).items()):
        if list(states) != ["normal", "normal"]:
            problems.append("%s: local/partner state %s, not normal/normal" % (node, "/".join(map(str, states))))
    audit = final.get("audit") or {}
    if audit.get("errors"):
        problems.append("the lease audit could not compare the peers: %s" % "; ".join(audit["errors"]))
    if audit.get("conflict", 0):
        problems.append("the lease audit found %d conflicts: %s" % (audit["conflict"], audit.get("conflicts", "")))
    if "conflict" not in audit and not audit.get("errors"):
        problems.append("no lease audit result")
    return problems


def liveness(exchanges, windows, ended):
    """(c): {fault kind: {bucket: {seconds, client, since, open}}}, the longest unanswered run of each."""
    worst = {}
    waiting = {}  # client -> (since, bucket)

    def note(client, since, until, bucket, still_open):
        kind = _label(since, windows)
        slot = worst.setdefault(kind, {}).get(bucket)
        seconds = round(until - since, 3)
        if slot is None or seconds > slot["seconds"]:
            worst[kind][bucket] = {"seconds": seconds, "client": client, "since": since, "open": still_open}

    for exchange in sorted(exchanges, key=lambda e: e["t"]):
        if exchange["kind"] not in ASKING:
            continue
        client, bucket = exchange["client"], exchange.get("bucket", "?")
        answered = _replies(exchange, late=False)
        if not answered:
            waiting.setdefault(client, (exchange["t"], bucket))
            continue
        since = waiting.pop(client, None)
        if since is not None:
            note(client, since[0], min(r["t"] for r in answered), since[1], False)
    for client, (since, bucket) in waiting.items():
        note(client, since, ended, bucket, True)
    return worst


def lost_leases(exchanges, windows):
    """(d): [{client, address, t, why}] for clients that lost an address they held; and the late NAKs."""
    lost = []
    late_naks = []
    for exchange in exchanges:
        for reply in _replies(exchange, kind="nak", late=True):
            late_naks.append({"client": exchange["client"], "address": exchange.get("address"), "t": reply["t"],
                              "server": reply["server"], "asked": exchange["t"],
                              "during": _label(exchange["t"], windows)})
        if not exchange.get("held"):
            continue
        during = _cause(exchange["t"], windows)
        if exchange["kind"] == "expire":
            lost.append({"client": exchange["client"], "address": exchange["address"], "t": exchange["t"],
                         "why": "the lease ran out with no answer to renew/rebind (%s)" % during})
            continue
        if exchange["kind"] not in KEEPING:
            continue
        on_time = _replies(exchange, late=False)
        naks = [r for r in on_time if r["kind"] == "nak"]
        moved = [r for r in on_time if r["kind"] == "ack" and r["address"] != exchange["address"]]
        if naks:
            lost.append({"client": exchange["client"], "address": exchange["address"], "t": exchange["t"],
                         "why": "%s NAKed by %s (%s)" % (exchange["kind"], naks[0]["server"], during)})
        elif moved:
            lost.append({"client": exchange["client"], "address": exchange["address"], "t": exchange["t"],
                         "why": "%s ACKed another address %s by %s (%s)"
                         % (exchange["kind"], moved[0]["address"], moved[0]["server"], during)})
    return lost, late_naks


def _line(exchange):
    replies = ", ".join(
        "%s %s%s%s" % (r["kind"].upper(), r["server"], " " + r["address"] if r.get("address") else "",
                       " %ss" % r["lease_time"] if r.get("lease_time") else "") + (" LATE" if r.get("late") else "")
        for r in exchange.get("replies", ())
    ) or "no answer"
    fields = (exchange["t"], exchange["client"], exchange["kind"], exchange.get("address") or "-",
              exchange.get("secs", 0), replies)
    return "%9.3f %-26s %-8s %-15s secs=%-3s -> %s" % fields


def excerpt(exchanges, address, start, end, around=EXCERPT_AROUND):
    """The exchanges that name this address (asked or answered) from before start to after end."""
    touching = [e for e in sorted(exchanges, key=lambda e: e["t"])
                if e.get("address") == address or any(r.get("address") == address for r in e.get("replies", ()))]
    inside = [i for i, e in enumerate(touching) if start - 1 <= e["t"] <= end + 1]
    if not inside:
        return [_line(e) for e in touching[-around:]]
    return [_line(e) for e in touching[max(0, inside[0] - around):inside[-1] + around + 1]]


def check(history):
    """Apply (a)-(d); return {ok, violations, double, final, liveness, lost, late_naks, counts, text}."""
    exchanges, windows = history["exchanges"], history.get("windows", [])
    double = double_grants(exchanges)
    final = final_problems(history.get("final"))
    worst = liveness(exchanges, windows, history.get("ended", max((e["t"] for e in exchanges), default=0)))
    lost, late_naks = lost_leases(exchanges, windows)
    counts = {"exchanges": len(exchanges), "acks": sum(len(_replies(e, kind="ack")) for e in exchanges),
              "faults": len(windows), "double": len(double), "lost": len(lost), "late_naks": len(late_naks),
              "double_ack": sum(1 for e in exchanges
                                if len({r["server"] for r in _replies(e, kind="ack", late=False)}) > 1)}
    text = ["seed %s: %d exchanges (%d ACKs) over %d faults" % (history.get("seed"), counts["exchanges"],
                                                                counts["acks"], counts["faults"])]
    for found in double:
        first, second = found["first"], found["second"]
        text.append("VIOLATION (a) seed %s: %s ACKed to %s by %s at %.3f until %.3f%s and to %s by %s at %.3f%s"
                    % (history.get("seed"), found["address"], first["client"], first["server"], first["start"],
                       first["end"], " (late)" if first["late"] else "", second["client"], second["server"],
                       second["start"], " (late)" if second["late"] else ""))
        text += ["    " + line for line in excerpt(exchanges, found["address"], first["start"], second["start"])]
    for problem in final:
        text.append("VIOLATION (b) seed %s: %s" % (history.get("seed"), problem))
    for kind in sorted(worst):
        for bucket in sorted(worst[kind]):
            slot = worst[kind][bucket]
            text.append("liveness: %-22s %-9s bucket: longest unanswered %6.1f s (%s%s)"
                        % (kind, bucket, slot["seconds"], slot["client"], ", still waiting" if slot["open"] else ""))
    for item in lost:
        text.append("lost lease: %s lost %s at %.3f: %s" % (item["client"], item["address"], item["t"], item["why"]))
    text.append("late NAKs: %d; exchanges ACKed by both peers: %d" % (len(late_naks), counts["double_ack"]))
    return {"ok": not double and not final, "double": double, "final": final, "liveness": worst, "lost": lost,
            "late_naks": late_naks, "counts": counts, "text": text}
