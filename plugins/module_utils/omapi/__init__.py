# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small OMAPI client for ISC dhcpd, standard library only (it runs on managed nodes).

Layers: ``errors`` (what can go wrong), ``protocol`` (wire format, signing, one connection),
``objects`` (the failover-state object and the state table).
"""
