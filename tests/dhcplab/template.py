"""The dhcpd role's own template, rendered outside Ansible from a pair model.

One renderer for tests and the role: what a test checks against a real dhcpd is the text the
role ships (dhcplab.configs renders every lab pair with it). The model comes from
ansible_collections.netboot.dhcp_failover.plugins.plugin_utils.pair.pair_model().
"""

import functools
from pathlib import Path

import collection_path  # tests/, on sys.path wherever this package is importable
import jinja2

# Plugins import each other by their collection name: give them that package path first.
collection_path.ensure()

from ansible_collections.netboot.dhcp_failover.plugins.plugin_utils import pair  # noqa: E402

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "dhcpd" / "templates"


@functools.lru_cache(maxsize=None)
def _environment():
    # One per process: Jinja compiles each template once per environment.
    # Not HTML: autoescape would corrupt the quotes of dhcpd strings.
    env = jinja2.Environment(
        autoescape=False,  # noqa: S701
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    # Ansible's comment filter, default style.
    env.filters["comment"] = lambda text: "#\n# %s\n#" % text
    return env


def render_key(key_name, secret, managed="managed by tests"):
    """The OMAPI key file as the role renders it (omapi.key.j2); the caller keeps it private."""
    return _environment().get_template("omapi.key.j2").render(
        dhcpd_omapi_key_name=key_name, __dhcpd_omapi_secret=secret, ansible_managed=managed,
    )


def render(model, host, key_file="/etc/dhcp/dhcpd-omapi.key", extra_config="", managed="managed by tests"):
    """dhcpd.conf of ``host`` as the role renders it (Ansible's template lookup uses trim_blocks)."""
    return _environment().get_template("dhcpd.conf.j2").render(
        dhcpd_pair_info=pair.node_view(model, host), inventory_hostname=host, ansible_managed=managed,
        dhcpd_extra_config=extra_config, __dhcpd_key_file=key_file,
    )
