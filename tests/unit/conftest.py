"""Import paths for the unit tests.

The collection's code is imported as ``ansible_collections.qbee.unprivileged``,
as Ansible imports it. When the checkout does not already sit at such a path,
a link to it is made in a temporary folder. The stand-in agent is imported
from the test images' sources, the fake qbee API from tests/support.
"""

import atexit
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "images", "standin"))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))

if REPO.replace(os.sep, "/").endswith("/ansible_collections/qbee/unprivileged"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(REPO))))
else:
    _ROOT = tempfile.mkdtemp(prefix="qbee-unit-")
    atexit.register(shutil.rmtree, _ROOT, True)
    os.makedirs(os.path.join(_ROOT, "ansible_collections", "qbee"))
    os.symlink(REPO, os.path.join(_ROOT, "ansible_collections", "qbee", "unprivileged"))
    sys.path.insert(0, _ROOT)
