#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netboot.dhcp_failover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: node_files
short_description: Write several small configuration files in one call
version_added: 0.1.0
description:
  - Makes each listed file hold exactly the given text, with the given mode, owner and group, or
    removes it; several files per call, so a role with several configuration files costs one
    round trip to the node instead of two per file (as M(ansible.builtin.template) and
    M(ansible.builtin.copy) do when nothing changes).
  - Each file is replaced atomically (a temporary file in the same directory, then a rename).
  - Can also only compare a file with a text without writing it (O(files[].write=false)), for a
    file that a later task installs, for example a configuration that must pass a test first.
  - Render templates on the controller with P(ansible.builtin.template#lookup).
author:
  - netboot.dhcp_failover developers (!UNKNOWN)
options:
  files:
    description:
      - The files, in order. Their contents are shown in the diff (C(--diff)).
    type: list
    elements: dict
    default: []
    # One definition for both lists (a YAML anchor): the module gives them the same options.
    suboptions: &file_suboptions
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole text of the file. Required with C(state=present).
        type: str
      state:
        description: C(present) writes the file, C(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
      mode:
        description: Permissions of the file, an octal string like C("0644").
        type: str
        default: "0644"
      write:
        description:
          - C(false) only compares the file with its C(content) (RV(files.differs)) and never writes it.
        type: bool
        default: true
      parents:
        description: Create missing parent directories (mode C(0755), owned by O(owner) and O(group)).
        type: bool
        default: false
  private_files:
    description:
      - Like O(files), for files whose contents must never be logged (keys); never in the diff.
    type: list
    elements: dict
    default: []
    suboptions: *file_suboptions
  owner:
    description: Owner of every file and created directory.
    type: str
    default: root
  group:
    description: Group of every file and created directory.
    type: str
    default: root
attributes:
  check_mode:
    support: full
    description: Reports what it would write, remove or compare, and changes nothing.
  diff_mode:
    support: full
    description: The before and after text of each changed file of O(files).
  platform:
    support: full
    platforms: posix
    description: The node whose files are written.
notes:
  - Meant for small text files (whole contents are passed as module arguments).
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
'''

EXAMPLES = r'''
- name: Write the chrony configuration files
  netboot.dhcp_failover.node_files:
    files:
      - path: /etc/chrony/chrony.conf
        content: "{{ lookup('ansible.builtin.template', 'chrony.conf.j2') }}"
      - path: /etc/systemd/system/chrony.service.d/override.conf
        content: "[Unit]\nConditionCapability=\n"
        parents: true
      - path: /etc/chrony/old.conf
        state: absent
  register: chrony_files
  notify: Restart chrony

- name: Stage a candidate, compare the live file, keep a key secret
  netboot.dhcp_failover.node_files:
    files:
      - path: /etc/dhcp/dhcpd.conf.candidate
        content: "{{ rendered }}"
      - path: /etc/dhcp/dhcpd.conf
        content: "{{ rendered }}"
        write: false
    private_files:
      - path: /etc/dhcp/dhcpd-omapi.key
        content: "{{ key_text }}"
        mode: "0640"
  register: staged

- name: Install the live file only when it differs
  ansible.builtin.copy:
    content: "{{ rendered }}"
    dest: /etc/dhcp/dhcpd.conf
    mode: "0644"
  when: staged.files['/etc/dhcp/dhcpd.conf'].differs
'''

RETURN = r'''
files:
  description: Per path, what was found and done.
  returned: always
  type: dict
  contains:
    changed:
      description: The file's content, mode, owner or group was (or, in check mode, would be) changed.
      type: bool
    differs:
      description: The file's content is not O(files[].content) (or, for C(absent), the file exists).
      type: bool
  sample:
    /etc/chrony/chrony.conf: {changed: false, differs: false}
    /etc/dhcp/dhcpd.conf: {changed: false, differs: true}
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

FILE_OPTIONS = dict(
    path=dict(type='path', required=True),
    content=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    mode=dict(type='str', default='0644'),
    write=dict(type='bool', default=True),
    parents=dict(type='bool', default=False),
)


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _attributes(module, path, mode):
    return dict(path=path, mode=mode, owner=module.params['owner'], group=module.params['group'],
                secontext=[None, None, None], attributes=None)


def _make_parents(module, directory):
    """Create the missing directories above a file; True when some were (or would be) made."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    if module.check_mode:
        return bool(missing)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        module.set_fs_attributes_if_different(_attributes(module, path, '0755'), False)
    return bool(missing)


def _write(module, path, data):
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        module.atomic_move(tmp, path, unsafe_writes=False)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def converge(module, spec, secret):
    """Bring one file to its wanted state: (result, diff or None)."""
    path = spec['path']
    if not os.path.isabs(path):
        module.fail_json(msg='node_files: path %r is relative: expected an absolute path' % path)
    current = _read(path)
    if spec['state'] == 'absent':
        differs = os.path.lexists(path)
        if differs and spec['write'] and not module.check_mode:
            os.unlink(path)
        changed = differs and spec['write']
        diff = dict(before_header=path, after_header=path, before=to_native(current or b''), after='')
        return dict(changed=changed, differs=differs), (diff if changed and not secret else None)
    if spec['content'] is None:
        module.fail_json(msg='node_files: %s has state=present and no content: give content, or state=absent' % path)
    wanted = to_bytes(spec['content'], errors='surrogate_or_strict')
    differs = current != wanted
    if not spec['write']:
        return dict(changed=False, differs=differs), None
    changed = False
    if spec['parents']:
        changed = _make_parents(module, os.path.dirname(path))
    if differs:
        changed = True
        if not module.check_mode:
            _write(module, path, wanted)
    if os.path.exists(path):
        # In check mode this compares the file as it is now; a new file gets the attributes anyway.
        changed = module.set_fs_attributes_if_different(_attributes(module, path, spec['mode']), changed)
    diff = None
    if differs and not secret:
        diff = dict(before_header=path, after_header=path, before=to_native(current or b''),
                    after=spec['content'])
    return dict(changed=changed, differs=differs), diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', default=[], options=FILE_OPTIONS),
            # The same options, with the content kept out of every log.
            private_files=dict(type='list', elements='dict', default=[],
                               options=dict(FILE_OPTIONS, content=dict(type='str', no_log=True))),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
        ),
        supports_check_mode=True,
    )
    results, diffs = {}, []
    for secret, key in ((False, 'files'), (True, 'private_files')):
        for spec in module.params[key]:
            if spec['path'] in results:
                module.fail_json(msg='node_files: %s is listed twice: list each path once' % spec['path'])
            results[spec['path']], diff = converge(module, spec, secret)
            if diff:
                diffs.append(diff)
    result = dict(changed=any(item['changed'] for item in results.values()), files=results)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
