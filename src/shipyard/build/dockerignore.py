"""docker's own .dockerignore rules (the docker SDK's `exclude_paths`), without the SDK's
start-up cost.

`import docker.utils.build` runs `docker/__init__.py` first, which loads requests, urllib3 and
the API client: about 60 ms, in every run that hashes a build context with a .dockerignore (a
no-op release included). The two modules the rules live in (`docker/utils/build.py` and
`docker/utils/fnmatch.py`, plus the tiny `docker/constants.py` and `docker/version.py`) need
none of that, so they are loaded from the installed SDK under a private package name whose
`__init__` files are not run. Should that layout ever change, the ordinary import is used.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from functools import cache

PRIVATE = "_shipyard_docker_sdk"
ExcludePaths = Callable[[str, list[str], str | None], set[str]]


@cache
def exclude_paths() -> ExcludePaths:
    try:
        return _light()
    except Exception:  # any surprise in the SDK's layout: the plain (slower) import
        from docker.utils.build import exclude_paths as plain

        return plain  # type: ignore[no-any-return]


def _light() -> ExcludePaths:
    spec = importlib.util.find_spec("docker")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the docker SDK is not installed")
    root = list(spec.submodule_search_locations)[0]
    for name, folder in ((PRIVATE, root), (f"{PRIVATE}.utils", f"{root}/utils")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [folder]
            sys.modules[name] = package
    module = importlib.import_module(f"{PRIVATE}.utils.build")
    found: ExcludePaths = module.exclude_paths
    return found
