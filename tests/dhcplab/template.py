"""The dhcpd role's own template, rendered outside Ansible from a pair model.

A first step of one renderer for tests and the role: what a test checks against a real dhcpd
is the text the role ships. The model comes from
ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.pair.pair_model().
"""

from pathlib import Path

import jinja2

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "dhcpd" / "templates"


def render(model, host, key_file="/etc/dhcp/dhcpd-omapi.key", extra_config="", managed="managed by tests"):
    """dhcpd.conf of ``host`` as the role renders it (Ansible's template lookup uses trim_blocks)."""
    # Not HTML: autoescape would corrupt the quotes of dhcpd strings.
    env = jinja2.Environment(
        autoescape=False,  # noqa: S701
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    # Ansible's comment filter, default style.
    env.filters["comment"] = lambda text: "#\n# %s\n#" % text
    return env.get_template("dhcpd.conf.j2").render(
        dhcpd_pair_info=pair.node_view(model, host), inventory_hostname=host, ansible_managed=managed,
        dhcpd_extra_config=extra_config, __dhcpd_key_file=key_file,
    )
