"""Stand-in for the pip bootstrap script ansible-test downloads (unreachable here).

ansible-test creates each sanity venv without pip, then runs this file with pip-install
arguments. The standard library's ensurepip installs the bundled pip, which then installs
the exact versions ansible-test asked for from the package index.
"""

import subprocess
import sys

OWN_FLAGS = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in OWN_FLAGS]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
