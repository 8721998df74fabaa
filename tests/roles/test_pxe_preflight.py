"""The pxe role's preflight refuses a bad definition, naming the user's variable, before any file
is laid out; a task file run without the preflight refuses it too (the templates' settings are
strict). Runs the role's task files on this machine (tests/pxelab/render.yml, connection local).
"""

import hashlib

import pytest

from pxelab import render

SERVERS = {"s1": "198.18.100.1", "s2": "198.18.100.2"}


def definition(tmp_path, **overrides):
    kernel = tmp_path / "kernel.bin"
    kernel.write_bytes(b"kernel")
    checksum = "sha256:" + hashlib.sha256(b"kernel").hexdigest()
    values = {
        "pxe_images": [{"name": "k", "src": str(kernel), "checksum": checksum}],
        "pxe_entries": [{"name": "only", "title": "Only", "kernel": "k", "cmdline": "console=ttyS0"}],
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"pxe_entries": [{"name": "only", "title": 'Only" --id x', "kernel": "k"}]},
            's1: pxe_entries[0].title="Only\\" --id x" is invalid: expected 1 to 80 letters',
        ),
        (
            {"pxe_entries": [{"name": "only", "kernel": "k", "cmdline": "quiet; reboot"}]},
            'pxe_entries[0].cmdline="quiet; reboot" is invalid',
        ),
        # render() sets pxe_root per host (host variables win), so not tried here.
        ({"pxe_tftp_options": '--secure"; id; "'}, 'pxe_tftp_options="--secure\\"; id; \\"" is invalid'),
        ({"pxe_http_port": 0}, "pxe_http_port=0 is invalid: expected an integer from 1 to 65535"),
    ],
)
def test_preflight_refuses_with_the_variable_named(tmp_path, overrides, message):
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path / "render", SERVERS, definition(tmp_path, **overrides))
    assert message in str(failure.value)
    assert not (tmp_path / "render" / "s1" / "tree").exists()


def test_unset_node_address_is_named(tmp_path):
    with pytest.raises(render.RenderError) as failure:
        render.render(tmp_path / "render", SERVERS, definition(tmp_path, pxe_server_address=None))
    assert "pxe_server_address=null is invalid: expected this node's IPv4 address" in str(failure.value)


FILES_ONLY = """
- name: The boot tree without the preflight
  hosts: pxe_test_servers
  gather_facts: false
  tasks:
    - name: Lay out the boot tree
      ansible.builtin.include_role:
        name: netboot.dhcp_failover.pxe
        tasks_from: files.yml
"""


def test_task_file_without_the_preflight_refuses_too(tmp_path):
    # render() writes the inventory, then fails in the preflight; reuse its inventory.
    with pytest.raises(render.RenderError):
        render.render(tmp_path / "render", SERVERS, definition(tmp_path, pxe_menu_title="Boot ${x}"))
    playbook = tmp_path / "files-only.yml"
    playbook.write_text(FILES_ONLY)
    proc = render.playbook(tmp_path / "render" / "inventory.json", playbook)
    assert proc.returncode != 0
    assert 'netboot.dhcp_failover.pxe_settings: pxe_menu_title="Boot ${x}" is invalid' in proc.stdout + proc.stderr
    assert not (tmp_path / "render" / "s1" / "tree" / "boot.ipxe").exists()
