"""Make this checkout importable as ansible_collections.netboot.dhcp_failover.

Plugins import each other by their collection name, so plain pytest needs that package path.
A symlink under build/ (git-ignored) gives it without copying; ansible_collections stays a
namespace package, so the collections installed in the venv remain importable too.
"""

import contextlib
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.join(REPO, "build", "pytest-collections")


def ensure():
    link = os.path.join(ROOT, "ansible_collections", "netboot", "dhcp_failover")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        # Another pytest process may make it first.
        with contextlib.suppress(FileExistsError):
            os.symlink(os.path.relpath(REPO, os.path.dirname(link)), link)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
