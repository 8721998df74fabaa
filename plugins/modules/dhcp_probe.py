#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dhcp_probe
short_description: Ask the DHCP servers on a link who offers an address to a client of one peer's hash bucket
version_added: 0.1.0
description:
  - The liveness probe of a failover pair. Run on a node (usually one of the pair), it broadcasts one
    DHCPDISCOVER (C(secs) 0, broadcast flag set) on O(interface) from a raw packet socket and reports
    every DHCPOFFER that answers it within O(timeout) seconds, with the server identifier, the offered
    address and the time.
  - The client is synthetic. Its MAC is chosen so that the pair's load balancing (RFC 3074 hash and
    O(split)) puts it in the hash bucket of O(bucket_of); in NORMAL only that node answers it, so an
    offer from a node proves that node's dhcpd serves. Without O(mac) it is the first
    C(02:6e:62:xx:xx:xx) address of that bucket, always the same for a split, and locally administered,
    so it can never be a real NIC's.
  - The probe is read-only. It never sends a DHCPREQUEST, so no lease is ever bound. A server that offers
    keeps the offered address reserved for the probe client in memory for 2 minutes (hard-coded in
    dhcpd 4.4) and does not write it to its lease file; a later probe with the same MAC is offered the
    same address. See the notes.
  - Needs only the Python standard library on the node, and root (or C(CAP_NET_RAW)). Linux only.
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
extends_documentation_fragment:
  - netboot.dhcp_failover.attributes.info_module
options:
  interface:
    description:
      - The network interface to send the DISCOVER on, the one the DHCP servers listen on.
    type: str
    required: true
  bucket_of:
    description:
      - Whose clients to pose as, C(primary) or C(secondary). Required unless O(mac) is given.
    type: str
    choices: [primary, secondary]
  split:
    description:
      - The pair's load balancing, as C(dhcpd_split) (an integer 0..256, the buckets the primary serves)
        or as an hba (32 colon-separated hex bytes, as dhcpd prints it). Required with O(bucket_of).
    type: raw
  mac:
    description:
      - Pose as this client instead of choosing one. Must be a locally administered unicast MAC
        (second-lowest bit of the first byte set, lowest clear), so a probe never impersonates a real
        client.
    type: str
  timeout:
    description:
      - Seconds to listen for offers after the DISCOVER, 0.1 to 60. The probe always listens this
        long, so that a second server's offer is seen too. A server with C(ping-check) on answers
        about a second later than one without.
    type: float
    default: 3.0
attributes:
  platform:
    support: full
    platforms: posix
    description: A Linux host on the DHCP servers' link (packet sockets).
notes:
  - Only DISCOVERs are load balanced, and only in NORMAL. A server in communications-interrupted or
    partner-down answers clients of both buckets, so an offer for the partner's bucket from this node
    says this node serves them, and no offer from the partner says the partner does not serve.
  - A server with no free address for the client does not answer; "no offer" therefore means "does not
    serve new clients", not necessarily "not running".
  - The node's own dhcpd never sees a DISCOVER sent on the node itself (measured with dhcpd 4.4.3 on
    Linux, its packet socket gets no copy of a frame another socket of the same host sends), so the
    probe tests the OTHER servers on the link. Run it on a node to ask whether its partner serves.
seealso:
  - module: netboot.dhcp_failover.failover_info
'''

EXAMPLES = r'''
- name: Does the secondary serve its clients? (run on the primary)
  netboot.dhcp_failover.dhcp_probe:
    interface: eth0
    bucket_of: secondary
    split: 128
  register: probe

- name: Show who answered
  ansible.builtin.debug:
    msg: "{{ probe.mac }} got offers from {{ probe.servers | join(', ') or 'nobody' }}"

- name: Pose as one particular test client for 5 seconds
  netboot.dhcp_failover.dhcp_probe:
    interface: eth0
    mac: 02:00:00:00:00:2a
    timeout: 5
'''

RETURN = r'''
mac:
  description: The client MAC the DISCOVER was sent for.
  returned: success
  type: str
  sample: 02:6e:62:00:00:01
bucket:
  description: The RFC 3074 hash bucket (0..255) of RV(mac).
  returned: success
  type: int
  sample: 57
bucket_of:
  description: The node that answers RV(mac) in NORMAL with O(split); null when O(split) was not given.
  returned: success
  type: str
  sample: secondary
xid:
  description: The transaction id of the DISCOVER.
  returned: success
  type: int
  sample: 3735928559
sent_at:
  description: When the DISCOVER left, seconds since 1970 by the node's clock.
  returned: success
  type: float
  sample: 1796173021.25
offers:
  description: Every DHCPOFFER for the DISCOVER, in the order they arrived.
  returned: success
  type: list
  elements: dict
  contains:
    server_id:
      description: The server identifier (option 54), or the IP source when the offer has none.
      type: str
      sample: 198.18.100.2
    yiaddr:
      description: The offered address.
      type: str
      sample: 198.18.100.150
    src_ip:
      description: The IP source of the offer.
      type: str
      sample: 198.18.100.2
    src_mac:
      description: The Ethernet source of the offer.
      type: str
      sample: 52:54:00:12:34:56
    lease_time:
      description: The offered lease time (option 51) in seconds, null if absent.
      type: int
      sample: 120
    elapsed:
      description: Seconds from the DISCOVER to this offer.
      type: float
      sample: 0.004
    received_at:
      description: When the offer arrived, seconds since 1970 by the node's clock.
      type: float
      sample: 1796173021.254
servers:
  description: The server identifiers that offered, sorted and without repeats; empty when nobody did.
  returned: success
  type: list
  elements: str
  sample: [198.18.100.2]
'''

import os
import random
import select
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netboot.dhcp_failover.plugins.module_utils import dhcp_packet, loadbalance

MAX_TIMEOUT = 60.0


def choose_client(params):
    """(mac, bucket, bucket_of) for the probe, or raise ValueError naming the bad option."""
    if params['mac'] is None and params['bucket_of'] is None:
        raise ValueError('give bucket_of (primary or secondary) with split, or mac')
    if params['bucket_of'] is not None and params['split'] is None:
        raise ValueError('bucket_of=%s needs split: the pair\'s dhcpd_split (0..256) or its hba' % params['bucket_of'])
    if params['mac'] is not None:
        mac = dhcp_packet.format_mac(loadbalance.parse_mac(params['mac']))
        if not dhcp_packet.is_locally_administered(mac):
            raise ValueError('mac=%s is not a locally administered unicast MAC (first byte x2, x6, xa or xe): '
                             'a probe must never pose as a real client' % params['mac'])
    else:
        mac = dhcp_packet.probe_mac(params['split'], params['bucket_of'])
    owner = None
    if params['split'] is not None:
        owner = loadbalance.lb_peer(params['split'], mac=mac)
        if params['bucket_of'] is not None and owner != params['bucket_of']:
            raise ValueError('mac=%s falls in the %s\'s bucket with split %r, not the %s\'s'
                             % (mac, owner, params['split'], params['bucket_of']))
    return mac, loadbalance.lb_hash(loadbalance.parse_mac(mac)), owner


def probe(interface, mac, timeout):
    """Send one DISCOVER for mac on interface; return (xid, sent_at, offers) after timeout seconds."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(dhcp_packet.ETH_P_IP))
    try:
        sock.bind((interface, dhcp_packet.ETH_P_IP))
        xid = random.SystemRandom().getrandbits(32)
        frame = dhcp_packet.discover_frame(mac, xid)
        start = time.monotonic()
        sent_at = time.time()
        sock.send(frame)
        offers = []
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not select.select([sock], [], [], left)[0]:
                continue
            data = sock.recv(65535)
            now = time.monotonic()
            reply = dhcp_packet.parse_reply_frame(data)
            if reply is None or reply['xid'] != xid or reply['kind'] != 'offer' or reply['chaddr'] != mac:
                continue
            offers.append(dict(
                server_id=reply['server_id'], yiaddr=reply['yiaddr'], src_ip=reply['src_ip'],
                src_mac=reply['src_mac'], lease_time=reply['lease_time'],
                elapsed=round(now - start, 4), received_at=round(sent_at + (now - start), 4),
            ))
        return xid, round(sent_at, 4), offers
    finally:
        sock.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type='str', required=True),
            bucket_of=dict(type='str', choices=[loadbalance.PRIMARY, loadbalance.SECONDARY]),
            split=dict(type='raw'),
            mac=dict(type='str'),
            timeout=dict(type='float', default=3.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not 0.1 <= params['timeout'] <= MAX_TIMEOUT:
        module.fail_json(msg='timeout=%s is invalid: expected seconds from 0.1 to %d'
                         % (params['timeout'], MAX_TIMEOUT))
    try:
        mac, bucket, owner = choose_client(params)
    except (ValueError, loadbalance.LoadBalanceError) as exc:
        module.fail_json(msg=str(exc))
    if not os.path.isdir('/sys/class/net/%s' % params['interface']):
        module.fail_json(msg='interface=%s: no such network interface on this node' % params['interface'])
    try:
        xid, sent_at, offers = probe(params['interface'], mac, params['timeout'])
    except (OSError, socket.error) as exc:
        module.fail_json(msg='cannot probe on %s: %s (a packet socket needs root or CAP_NET_RAW)'
                         % (params['interface'], exc))
    module.exit_json(changed=False, mac=mac, bucket=bucket, bucket_of=owner, xid=xid, sent_at=sent_at,
                     offers=offers, servers=sorted(set(offer['server_id'] for offer in offers)))


if __name__ == '__main__':
    main()
