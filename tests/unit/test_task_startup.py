"""What importing the task modules leaves behind for the rest of an `invoke` process."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_imported_objects_are_frozen_out_of_the_collectors_passes() -> None:
    """Collections after the import, and the one at exit, skip what the import made."""
    code = ("import gc; before = gc.get_freeze_count(); import shipyard.tasks; "
            "print(before, gc.get_freeze_count() > 10000, gc.isenabled())")
    done = subprocess.run((sys.executable, "-c", code), capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.split() == ["0", "True", "True"]  # frozen, and still collecting
