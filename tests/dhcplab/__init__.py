"""Fixture library for system tests against the real ISC dhcpd, without containers.

Topology of one lab (created by :class:`dhcplab.lab.Lab`, one at a time per machine)::

    root namespace (the test process, "controller")
      nbt<N>br      Linux bridge, 198.18.100.254/24, promiscuous
        |-- nbt<N>-s1  veth --> namespace nbt<N>-s1, eth0 198.18.100.1/24 (primary)
        `-- nbt<N>-s2  veth --> namespace nbt<N>-s2, eth0 198.18.100.2/24 (secondary)
    dynamic pool 198.18.100.100 - 198.18.100.199

N is the PID of the process that built the lab: a later session deletes
nbt<N>* objects only when process N is dead.  The controller reaches the
servers directly over the bridge (OMAPI on TCP 7911, failover traffic is
visible on the bridge) and :class:`dhcplab.client.DhcpClient` sends and
receives raw Ethernet frames on it.  Each server runs
``dhcpd -4 -f -d -cf CONF -lf LEASES -pf PID eth0`` inside its namespace,
with its config, lease file and log in a per-test directory.

Because the subnet is fixed, labs are serialised machine-wide with a lock
file (/run/lock/dhcplab-198.18.100.0.lock): a second pytest session waits
(up to DHCPLAB_LOCK_TIMEOUT seconds, default 900) instead of colliding.

Fixtures (tests/conftest.py): ``dhcp_lab`` (a Lab, torn down after the
test, also on failure or Ctrl-C) and ``failover_pair`` (a Pair from
``configs.failover_pair()`` defaults, NORMAL on both peers and with the
pool balanced, see ``Pair.wait_balanced``).

Kea: ``Lab.start_kea_pair(model, settings)`` runs kea-dhcp4 and kea-ctrl-agent of both pair
members in the same server slots (dhcplab.kea), configured by the collection's kea_config from
the lab's pair model (``dhcplab.kea.pair_model()``); ``KeaServer.ha_state()`` asks status-get
through the agent on port 8000, ``KeaPair.wait_states()`` waits for both HA states.
``dhcplab.cutover.cut_over()`` moves a running dhcpd pair to a Kea HA pair in the same slots (the
migrate_to_kea steps without Ansible) while a ``cutover.Probe`` client asks for its address every
50 ms (tests/system/test_migrate_kea.py, bench/kea_cutover.py).

Things worth knowing when writing tests:

* ``DhcpClient.discover(mac)`` without ``expect`` listens for the whole
  timeout (2 s).  With ``expect=N`` it returns once N answers are in and
  nothing more arrived for ``grace`` (0.25 s; replies on this machine come
  within ~5 ms, so a duplicate from the other peer is not missed).  For
  volume use ``discover_many`` (400 DISCOVERs ~0.7 s).
* dhcpd holds every offered address for 120 s (hard-coded in
  ``server/dhcp.c``) and answers nothing once a peer's half of the pool is
  used up.  Tests with more distinct clients than the pool holds pass
  ``extra_subnets=1..7`` (198.18.101-107.0/24 pools in the lab's shared network)
  or a wider ``pool=``.
* Pair configs are the dhcpd role's template rendered from a pair model
  (``configs.failover_pair()``, errors name the role's variables);
  ``extra_global`` is the role's ``dhcpd_extra_config``, the same text for
  both peers or ``{"s1": ..., "s2": ...}``.  The lab's settings turn
  ``dhcpd_ping_check`` off (otherwise every first offer of an address waits
  1 s for an echo nobody answers) and ``dhcpd_server_id_check`` off unless
  ``server_id_check=True``.
* The OMAPI key of a pair (random unless ``omapi_key`` is given) is in a
  root-only file the configs include, removed when the process exits.
* Right after NORMAL a fresh secondary has no BACKUP leases yet, so the
  primary answers the secondary's clients too; wait with
  ``pair.wait_balanced()`` before checking load balancing.
* ``Server.wait_for_state`` looks only at the log of the current run
  (since the last ``start()``); ``log()`` returns all runs.
"""

from .lab import Lab, LabError, Pair, Server

__all__ = ["Lab", "LabError", "Pair", "Server"]
