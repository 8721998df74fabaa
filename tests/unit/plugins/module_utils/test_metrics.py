"""The metrics exporter's pure half (observation -> Prometheus text) and its file handling.

The program against a real dhcpd pair is tests/system/test_metrics_exporter.py. Output is checked
with promtool (Prometheus' own linter of the exposition format and naming conventions) and by
parsing it back, never by comparing with a stored copy of the output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import leases, metrics
from ansible_collections.netboot.dhcp_failover.plugins.module_utils.omapi import objects

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SAMPLE_RE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): float} of exposition text."""
    out = {}
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        match = SAMPLE_RE.match(line)
        assert match, line
        labels = frozenset(LABEL_RE.findall(match.group('labels') or ''))
        out[(match.group('name'), labels)] = float(match.group('value'))
    return out


def value(parsed, name, **labels):
    return parsed[(metrics.PREFIX + name, frozenset(labels.items()))]


def names(parsed):
    return {name for name, _labels in parsed}


def failover(**changes):
    info = {'name': 'pair', 'role': 'primary', 'local_state': 'normal', 'partner_state': 'normal',
            'local_stos_epoch': 1700000000, 'partner_stos_epoch': 1700000005, 'mclt': 600, 'split': 128,
            'cur_unacked_updates': 0, 'max_unacked_updates': 10}
    info.update(changes)
    return info


def observation(**changes):
    obs = {'peer_name': 'pair', 'role': 'primary', 'interval': 15, 'max_clock_skew': 5, 'process_up': True,
           'failover': failover(), 'clock_skew': -0.25, 'lease_file': {'size': 1234, 'mtime': 1700000100.5},
           'pools': [{'pool': '198.18.100.100-198.18.100.109', 'size': 10,
                      'counts': {'free': 4, 'backup': 3, 'active': 2, 'abandoned': 1}}],
           'errors': {}, 'time': 1700000200.0, 'duration': 0.012}
    obs.update(changes)
    return obs


def lease(address, state):
    return 'lease %s {\n  starts 3 2026/12/02 04:00:00;\n  binding state %s;\n}\n' % (address, state)


# -- the rules ----------------------------------------------------------------------------------


def test_every_state_is_a_series_and_only_the_current_one_is_1():
    parsed = parse(metrics.render(observation(failover=failover(local_state='partner-down',
                                                                partner_state='unknown-state'))))
    for side, current in (('local_state', 'partner-down'), ('partner_state', 'unknown-state')):
        series = {dict(labels)['state']: v for (name, labels), v in parsed.items() if name == metrics.PREFIX + side}
        assert set(series) == set(objects.STATES.values())
        assert [state for state, v in series.items() if v == 1] == [current]


def test_partner_down_usable_time_is_stos_plus_mclt_in_partner_down_only():
    down = parse(metrics.render(observation(failover=failover(local_state='partner-down', local_stos_epoch=1700001000,
                                                              mclt=300))))
    assert value(down, 'partner_down_usable_timestamp_seconds') == 1700001300
    normal = parse(metrics.render(observation()))
    assert metrics.PREFIX + 'partner_down_usable_timestamp_seconds' not in names(normal)


@pytest.mark.parametrize('role, own, theirs', [('primary', 'free', 'backup'), ('secondary', 'backup', 'free')])
def test_free_addresses_per_side_follow_the_role_from_omapi(role, own, theirs):
    obs = observation(failover=failover(role=role), role='primary' if role == 'secondary' else 'secondary')
    parsed = parse(metrics.render(obs))
    pool = obs['pools'][0]
    assert value(parsed, 'pool_free_addresses', pool=pool['pool'], owner='self') == pool['counts'][own]
    assert value(parsed, 'pool_free_addresses', pool=pool['pool'], owner='partner') == pool['counts'][theirs]
    assert value(parsed, 'info', peer='pair', role=role) == 1


def test_without_omapi_the_configured_role_splits_the_pool_and_the_error_is_a_metric():
    parsed = parse(metrics.render(observation(failover=None, role='secondary', errors={'omapi': True})))
    assert value(parsed, 'omapi_up') == 0
    assert value(parsed, 'scrape_errors', source='omapi') == 1
    assert value(parsed, 'scrape_errors', source='lease_file') == 0
    assert value(parsed, 'pool_free_addresses', pool='198.18.100.100-198.18.100.109', owner='self') == 3
    assert not {metrics.PREFIX + n for n in ('local_state', 'partner_state', 'mclt_seconds')} & names(parsed)


def test_every_binding_state_of_a_pool_is_a_series_zero_when_absent():
    parsed = parse(metrics.render(observation()))
    series = {dict(labels)['state']: v for (name, labels), v in parsed.items()
              if name == metrics.PREFIX + 'pool_addresses'}
    assert set(series) == set(leases.BINDING_STATES)
    assert series['released'] == 0 and series['free'] == 4


def test_stos_zero_means_no_change_time():
    parsed = parse(metrics.render(observation(failover=failover(partner_stos_epoch=0))))
    assert metrics.PREFIX + 'partner_state_change_timestamp_seconds' not in names(parsed)
    assert value(parsed, 'local_state_change_timestamp_seconds') == 1700000000


def test_label_values_are_escaped():
    parsed = parse(metrics.render(observation(peer_name='a "quoted"\\peer')))
    assert (metrics.PREFIX + 'info', frozenset({('peer', r'a \"quoted\"\\peer'), ('role', 'primary')})) in parsed


def test_promtool_accepts_the_output_and_its_naming():
    text = metrics.render(observation(failover=failover(local_state='partner-down')))
    answer = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True, text=True,
                            check=False)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout + answer.stderr == ''


def test_every_metric_has_one_type_and_help_and_the_prefix():
    # A dhcpd node and a node where kea-dhcp4 answers status-get together have every series.
    kea = {'up': True, 'ha': {'mode': 'hot-standby', 'role': 'standby', 'state': 'partner-down', 'partner_state': None}}
    texts = [metrics.render(observation(failover=failover(local_state='partner-down'))),
             metrics.render(observation(failover=None, kea=kea))]
    typed = [found for text in texts for found in re.findall(r'^# TYPE (\S+) (\S+)$', text, re.MULTILINE)]
    assert sorted(set(name for name, _kind in typed)) == sorted(metrics.METRIC_NAMES)
    for text in texts:
        names_typed = re.findall(r'^# TYPE (\S+)', text, re.MULTILINE)
        assert len(names_typed) == len(set(names_typed))
    # Counters only with _total (none here: each run starts afresh, nothing accumulates).
    assert all(kind == 'gauge' and not name.endswith('_total') for name, kind in typed)


# -- which node is a Kea node (read_kea) ----------------------------------------------------------

KEA_CONFIG = {'kea_control_socket': '/run/kea/kea4-ctrl-socket'}


def never(*args):
    raise AssertionError('asked status-get')


class Looked:
    """Stand-ins for the pid file check and the enabled link, recording the paths looked at."""

    def __init__(self, running, enabled):
        self.paths = []
        self._running, self._enabled = running, enabled

    def running(self, path, name):
        self.paths.append((path, name))
        return self._running

    def enabled(self, path):
        self.paths.append((path,))
        return self._enabled


def test_an_enabled_kea_whose_kea_dhcp4_is_gone_reads_process_up_0_and_is_not_asked():
    looked = Looked(running=False, enabled=True)
    kea, error = metrics.read_kea(KEA_CONFIG, never, running=looked.running, enabled=looked.enabled, ask=never)
    assert (kea, error) == ({'up': False, 'ha': None}, False)
    # Debian's kea-dhcp4-server: its pid file and the link of `systemctl enable`.
    assert looked.paths == [('/run/kea/kea-dhcp4.kea-dhcp4.pid', 'kea-dhcp4'),
                            ('/etc/systemd/system/multi-user.target.wants/kea-dhcp4-server.service',)]
    parsed = parse(metrics.render(observation(process_up=False, failover=None, errors={'omapi': True}, kea=kea)))
    assert value(parsed, 'kea_process_up') == 0
    assert value(parsed, 'scrape_errors', source='kea') == 0
    assert not [name for name in names(parsed) if name.startswith(metrics.PREFIX + 'kea_ha_')]


def test_a_dhcpd_node_neither_running_nor_enabling_kea_has_no_kea_series():
    looked = Looked(running=False, enabled=False)
    kea, error = metrics.read_kea(KEA_CONFIG, never, running=looked.running, enabled=looked.enabled, ask=never)
    assert (kea, error) == (None, False)
    text = metrics.render(observation(kea=kea))
    assert metrics.PREFIX + 'kea_' not in text and 'source="kea"' not in text


def test_a_running_kea_dhcp4_is_asked_whether_enabled_or_not():
    answer = {'result': 0, 'arguments': {'high-availability': [{'ha-mode': 'load-balancing', 'ha-servers': {
        'local': {'role': 'primary', 'state': 'load-balancing'}, 'remote': {'last-state': 'load-balancing'}}}]}}
    for enabled in (True, False):
        looked = Looked(running=True, enabled=enabled)
        kea, error = metrics.read_kea(dict(KEA_CONFIG, kea_pid_file='/lab/k.pid'), never, running=looked.running,
                                      enabled=looked.enabled, ask=lambda path, timeout: answer)
        assert error is False and kea['up'] is True and kea['ha']['state'] == 'load-balancing'
        # Running decides; the link is not needed.
        assert looked.paths == [('/lab/k.pid', 'kea-dhcp4')]
        parsed = parse(metrics.render(observation(kea=kea)))
        assert value(parsed, 'kea_process_up') == 1
        assert value(parsed, 'kea_ha_local_state', state='load-balancing') == 1


@pytest.fixture
def fake_kea_dhcp4(tmp_path):
    """A real process whose comm is kea-dhcp4 (a copy of sleep), and a pid file naming it."""
    program = tmp_path / 'kea-dhcp4'
    shutil.copy(shutil.which('sleep'), program)
    proc = subprocess.Popen([str(program), '60'])
    # The kernel names the process (comm) a moment after Popen returns from the exec.
    for _attempt in range(500):
        with open('/proc/%d/comm' % proc.pid, encoding='utf-8') as handle:
            if handle.read().strip() == 'kea-dhcp4':
                break
        time.sleep(0.01)
    pid_file = tmp_path / 'kea-dhcp4.kea-dhcp4.pid'
    pid_file.write_text('%d\n' % proc.pid)
    yield proc, str(pid_file)
    proc.kill()
    proc.wait(5)


def test_process_running_wants_the_pid_files_process_alive_and_named(fake_kea_dhcp4, tmp_path):
    proc, pid_file = fake_kea_dhcp4
    assert metrics.process_running(pid_file, 'kea-dhcp4') is True
    assert metrics.process_running(pid_file) is False  # dhcpd's check: another program's pid
    assert metrics.process_running(str(tmp_path / 'none.pid'), 'kea-dhcp4') is False
    (tmp_path / 'junk.pid').write_text('kea\n')
    assert metrics.process_running(str(tmp_path / 'junk.pid'), 'kea-dhcp4') is False
    proc.kill()
    proc.wait(5)
    # kill -9 leaves the pid file behind, naming a dead process.
    assert os.path.exists(pid_file) and metrics.process_running(pid_file, 'kea-dhcp4') is False


def test_observe_on_a_kea_node_after_kill_9_of_kea_dhcp4(fake_kea_dhcp4, tmp_path):
    proc, pid_file = fake_kea_dhcp4
    link = tmp_path / 'kea-dhcp4-server.service'
    link.write_text('')
    config = {'peer_name': 'pair', 'lease_file': str(tmp_path / 'dhcpd.leases'), 'output': '-',
              'pid_file': str(tmp_path / 'dhcpd.pid'), 'omapi_port': 1, 'timeout': 1,
              'kea_control_socket': str(tmp_path / 'kea4.sock'), 'kea_pid_file': pid_file,
              'kea_enabled_link': str(link)}
    logged = []
    running = parse(metrics.render(metrics.observe(config, log=logged.append)))
    # Alive but no socket: up, and the failed status-get is the kea source's error.
    assert value(running, 'kea_process_up') == 1 and value(running, 'scrape_errors', source='kea') == 1
    assert [line for line in logged if line.startswith('kea: ')]
    proc.kill()
    proc.wait(5)
    dead = parse(metrics.render(metrics.observe(config)))
    assert value(dead, 'kea_process_up') == 0 and value(dead, 'process_up') == 0
    link.unlink()  # systemctl disable kea-dhcp4-server: a rolled back node
    assert metrics.PREFIX + 'kea_process_up' not in names(parse(metrics.render(metrics.observe(config))))


# -- counting pools from a lease file -----------------------------------------------------------


def test_pool_counts_take_the_last_entry_of_an_address_and_sum_the_ranges():
    text = (lease('198.18.100.100', 'free') + lease('198.18.100.100', 'active') + lease('198.18.100.101', 'backup')
            + lease('198.18.100.150', 'free') + lease('198.18.101.5', 'free'))
    pools = metrics.count_pools(leases.binding_states(text),
                                [['198.18.100.100 198.18.100.101', '198.18.100.150 198.18.100.150']])
    assert pools == [{'pool': '198.18.100.100-198.18.100.101,198.18.100.150-198.18.100.150', 'size': 3,
                      'counts': dict(dict.fromkeys(leases.BINDING_STATES, 0), active=1, backup=1, free=1)}]


def test_chrony_offset_of_the_peer_line():
    text = ('^,*,198.18.0.1,2,6,377,12,0.000123,0.000120,0.000456\n'
            '=,+,198.18.100.3,3,4,17,3,-1.500000,-1.400000,0.002\n'
            '=,?,198.18.100.4,0,4,0,-,0.0,0.0,0.0\n')
    assert metrics.chrony_offset(text, '198.18.100.3') == -1.5
    assert metrics.chrony_offset(text, '198.18.100.4') is None  # never reached
    assert metrics.chrony_offset(text, '198.18.100.9') is None


# -- the program's files --------------------------------------------------------------------------


def test_the_file_is_replaced_whole_and_no_temporary_is_left(tmp_path):
    target = tmp_path / 'dhcpd_failover.prom'
    target.write_text('old\n')
    metrics.write_atomic(str(target), 'new\n')
    assert target.read_text() == 'new\n'
    assert os.listdir(tmp_path) == ['dhcpd_failover.prom']
    assert oct(target.stat().st_mode & 0o777) == '0o644'


@pytest.mark.parametrize('change, message', [
    ({'pools': [['198.18.100.200 198.18.100.100']]}, 'first address is after the last'),
    ({'peer_name': ''}, "'peer_name' is required"),
    ({'colour': 1}, 'unknown keys colour'),
])
def test_a_bad_configuration_names_the_key(tmp_path, change, message):
    config = {'peer_name': 'pair', 'lease_file': '/x', 'output': '/y.prom', 'pools': []}
    config.update(change)
    path = tmp_path / 'c.json'
    path.write_text(__import__('json').dumps(config))
    with pytest.raises(metrics.ConfigError, match=re.escape(message)):
        metrics.load_config(str(path))


def imports_of(path):
    """module_utils files (relative paths) that a file imports by the collection's name."""
    root = os.path.join(REPO, 'plugins', 'module_utils')
    package = 'ansible_collections.netboot.dhcp_failover.plugins.module_utils'
    found = set()
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package)):
            continue
        base = node.module[len(package):].lstrip('.').replace('.', '/')
        for alias in node.names:
            module = os.path.join(base, alias.name + '.py')  # "from package import module"
            if not os.path.exists(os.path.join(root, module)):
                module = base + '.py'  # "from module import name"
            found.add(module)
    return found


def test_the_role_copies_exactly_the_import_closure_of_the_exporter():
    closure, todo = set(), ['metrics.py']
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        if name.endswith('__init__.py') is False and '/' in name:
            closure.add(os.path.join(os.path.dirname(name), '__init__.py'))
        todo.extend(imports_of(os.path.join(REPO, 'plugins', 'module_utils', name)))
    with open(os.path.join(REPO, 'roles', 'metrics', 'vars', 'main.yml'), encoding='utf-8') as handle:
        shipped = yaml.safe_load(handle)['__metrics_module_utils']
    assert sorted(shipped) == sorted(closure)


def test_the_readme_lists_every_metric_and_no_other():
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as handle:
        readme = handle.read()
    section = readme.split('\n## Metrics and alerts\n', 1)[1].split('\n## ', 1)[0]
    listed = set(re.findall(r'^\| `(dhcpd_failover_[a-z_]+)`', section, re.MULTILINE))
    assert listed == set(metrics.METRIC_NAMES)
