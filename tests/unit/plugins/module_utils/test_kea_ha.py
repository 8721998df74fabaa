"""Kea's HA state in the metrics exporter and in status.yml: module_utils/kea_ha.py (status-get over
the control socket, read by parse_status_get) and its series in module_utils/metrics.py.

fixtures/kea/*.json are real answers of Kea 2.2.0 (Debian 12's packages, the scenario kea's
version), not edited: a hot-standby pair rendered by the collection's kea_config with the scenario
kea's HA timers, run on the host's loopback (127.0.0.21/22, no DHCP interface), asked with this very
reader over each kea-dhcp4's control socket (status-get-*) and through kea-ctrl-agent as status.yml
asks (agent-status-get-*): both nodes in hot-standby, then the standby in partner-down 5 s after
kill -9 of the primary's kea-dhcp4, and the primary's agent with its kea-dhcp4 dead. The scenario
kea captures the same answers from its containers (extensions/molecule/kea/tasks/capture.yml).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import subprocess
import threading

import pytest

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import kea_ha, metrics
from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import kea_migrate

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'kea')
PRIMARY_OK = 'status-get-kst-dhcp1-hot-standby.json'
STANDBY_OK = 'status-get-kst-dhcp2-hot-standby.json'
STANDBY_ALONE = 'status-get-kst-dhcp2-partner-down.json'
AGENT_STANDBY_ALONE = 'agent-status-get-kst-dhcp2-partner-down.json'
AGENT_PRIMARY_DEAD = 'agent-status-get-kst-dhcp1-dhcp4-killed.json'


def captured(name):
    with open(os.path.join(HERE, name), encoding='utf-8') as handle:
        return json.load(handle)


def kea_observation(name=None, errors=None):
    """What observe() makes of a node where kea-dhcp4 runs (dhcpd stopped, OMAPI refused)."""
    return {'peer_name': 'dhcp_pair_lab', 'role': 'secondary', 'interval': 15, 'max_clock_skew': 5,
            'process_up': False, 'failover': None, 'clock_skew': None, 'lease_file': None, 'pools': None,
            'kea': {'up': True, 'ha': kea_ha.parse_status_get(captured(name)) if name else None},
            'errors': dict({'omapi': True}, **(errors or {})), 'time': 1700000200.0, 'duration': 0.02}


def samples_of(text):
    out = {}
    for line in text.splitlines():
        if not line.startswith('#'):
            key, value = line.rsplit(' ', 1)
            out[key] = float(value)
    return out


# -- reading the captured answers ------------------------------------------------------------------


def test_the_healthy_pairs_real_answers_are_read_as_hot_standby_in_touch():
    primary, standby = kea_ha.parse_status_get(captured(PRIMARY_OK)), kea_ha.parse_status_get(captured(STANDBY_OK))
    assert (primary['mode'], primary['state'], primary['partner_state'], primary['role']) == (
        'hot-standby', 'hot-standby', 'hot-standby', 'primary')
    assert (standby['state'], standby['partner_state'], standby['role']) == ('hot-standby', 'hot-standby', 'standby')
    assert primary['scopes'] == ['kst-dhcp1'] and standby['scopes'] == []
    assert primary['error'] is None and primary['in_touch'] is True


def test_the_standby_alone_is_read_in_partner_down_serving_the_primarys_scope():
    alone = kea_ha.parse_status_get(captured(STANDBY_ALONE))
    assert alone['state'] == 'partner-down' and alone['error'] is None
    assert alone['scopes'] == ['kst-dhcp1'] and alone['partner_state'] == 'unavailable'


def test_status_yml_reads_the_agents_answer_as_the_exporter_reads_the_sockets():
    # kea-ctrl-agent wraps the daemon's answer in a list: kea_ha_status (status.yml) reads the same.
    seen = kea_migrate.kea_ha_status({'status': 200, 'json': captured(AGENT_STANDBY_ALONE)}, 'hot-standby')
    direct = kea_ha.parse_status_get(captured(STANDBY_ALONE))
    assert (seen['state'], seen['partner_state'], seen['scopes']) == (
        direct['state'], direct['partner_state'], direct['scopes']) == ('partner-down', 'unavailable', ['kst-dhcp1'])


def test_the_agent_of_a_dead_kea_dhcp4_is_an_error_not_a_state():
    seen = kea_migrate.kea_ha_status({'status': 200, 'json': captured(AGENT_PRIMARY_DEAD)}, 'hot-standby')
    assert seen['answered'] is False and seen['state'] is None
    assert 'unable to forward command to the dhcp4 service' in seen['error']


def test_an_error_answer_and_no_ha_hook_are_errors_not_states():
    assert kea_ha.parse_status_get({'result': 1, 'text': 'unable to forward'})['error'].endswith('unable to forward')
    without_hook = dict(captured(PRIMARY_OK), arguments={'pid': 1})
    assert kea_ha.parse_status_get(without_hook)['error'] == 'kea-dhcp4 answers but runs no HA hook'


def test_status_get_over_a_unix_socket_returns_the_daemons_answer(tmp_path):
    path = str(tmp_path / 'kea4-ctrl-socket')
    raw = json.dumps(captured(STANDBY_ALONE)).encode('utf-8')
    asked = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)

        def answer():
            conn, _addr = server.accept()
            with conn:
                asked.append(json.loads(conn.recv(4096).decode('ascii')))
                # In pieces, as a socket may deliver a large answer.
                conn.sendall(raw[:100])
                conn.sendall(raw[100:])

        thread = threading.Thread(target=answer)
        thread.start()
        got = kea_ha.status_get(path, timeout=5)
        thread.join(5)
    assert asked == [{'command': 'status-get'}]
    assert got == captured(STANDBY_ALONE)


def test_no_socket_is_a_kea_control_error(tmp_path):
    with pytest.raises(kea_ha.KeaControlError, match='kea4-ctrl-socket'):
        kea_ha.status_get(str(tmp_path / 'kea4-ctrl-socket'), timeout=1)


# -- the exporter ----------------------------------------------------------------------------------


def test_a_kea_node_exports_its_ha_state_as_the_failover_state_is_exported():
    found = samples_of(metrics.render(kea_observation(STANDBY_ALONE)))
    p = metrics.PREFIX
    assert found[p + 'kea_process_up'] == 1
    assert found[p + 'kea_ha_info{mode="hot-standby",role="standby"}'] == 1
    local = {key: value for key, value in found.items() if key.startswith(p + 'kea_ha_local_state{')}
    assert local[p + 'kea_ha_local_state{state="partner-down"}'] == 1
    assert sum(local.values()) == 1 and len(local) == len(kea_ha.HA_STATES)
    assert found[p + 'scrape_errors{source="kea"}'] == 0
    assert found[p + 'process_up'] == 0 and found[p + 'omapi_up'] == 0


def test_a_dhcpd_node_has_no_kea_series():
    observation = kea_observation(STANDBY_OK)
    observation['kea'] = None
    text = metrics.render(observation)
    assert 'kea_' not in text and 'source="kea"' not in text


def test_kea_running_without_an_answer_is_a_kea_scrape_error_without_states():
    def refuse(path, timeout):
        raise kea_ha.KeaControlError('%s: [Errno 111] Connection refused' % path)

    logged = []
    kea, error = metrics.read_kea({'kea_control_socket': '/run/kea/kea4-ctrl-socket'}, logged.append,
                                  running=lambda path, name: True, enabled=lambda path: False, ask=refuse)
    assert error is True and logged == ['kea: /run/kea/kea4-ctrl-socket: [Errno 111] Connection refused']
    found = samples_of(metrics.render(dict(kea_observation(), kea=kea, errors={'omapi': True, 'kea': True})))
    assert found[metrics.PREFIX + 'kea_process_up'] == 1
    assert found[metrics.PREFIX + 'scrape_errors{source="kea"}'] == 1
    assert not [key for key in found if 'kea_ha_' in key]


def test_kea_is_looked_at_only_where_a_control_socket_is_configured():
    def never(*args):
        raise AssertionError('looked at Kea')

    assert metrics.read_kea({}, print, running=never, enabled=never, ask=never) == (None, False)


def test_promtool_accepts_the_kea_nodes_output():
    text = metrics.render(kea_observation(PRIMARY_OK))
    answer = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True, text=True,
                            check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout + answer.stderr == ''
