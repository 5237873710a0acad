"""shipyard's own checkout is not an app repo, so here every task acts on an app you name
through Invoke's config: `INVOKE_SHIPYARD_APP=examples/meta-ad-studio invoke status`, or
`shipyard: {app: examples/meta-ad-studio}` in an invoke.yaml next to this file.

In an app repo, use the one-line tasks.py (`from shipyard.tasks import ns`) or the `shipyard`
command instead; see the README.
"""

import sys
from pathlib import Path

try:
    from shipyard.tasks import app_namespace
except ModuleNotFoundError:  # a plain checkout: use the package next to this file
    sys.path.insert(0, str(Path(__file__).parent / "src"))
    from shipyard.tasks import app_namespace

ns = app_namespace()
