"""``patch_module_args`` for every ansible-core of the matrix.

ansible-core 2.19 has it in ``ansible.module_utils.testing``; 2.16 to 2.18 read the arguments of a
module from ``basic._ANSIBLE_ARGS`` when it is set, which is what that helper patches there too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    from unittest import mock

    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose args to the AnsibleModule instances created inside the context."""
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield

__all__ = ["patch_module_args"]
