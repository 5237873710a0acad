"""nginx argv builders. Pure. Every command names its prefix and config file explicitly, so
nginx reads nothing from /etc/nginx and writes nothing outside the prefix."""

from __future__ import annotations

from pathlib import Path

Argv = tuple[str, ...]

NGINX = "nginx"


def _base(prefix: Path, conf: Path, nginx: str) -> list[str]:
    return [nginx, "-p", f"{prefix}/", "-c", str(conf)]


def check_config(prefix: Path, conf: Path, nginx: str = NGINX) -> Argv:
    """Check a config file without touching the running server (-q: errors only)."""
    return (*_base(prefix, conf, nginx), "-t", "-q")


def start(prefix: Path, conf: Path, nginx: str = NGINX) -> Argv:
    """Start the master (it daemonizes once its sockets are bound)."""
    return tuple(_base(prefix, conf, nginx))


def reload(prefix: Path, conf: Path, nginx: str = NGINX) -> Argv:
    """Graceful: new workers take new connections, old ones finish what they have, then exit."""
    return (*_base(prefix, conf, nginx), "-s", "reload")


def shutdown(prefix: Path, conf: Path, nginx: str = NGINX) -> Argv:
    """Graceful shutdown (`-s quit`): in-flight requests finish first."""
    return (*_base(prefix, conf, nginx), "-s", "quit")


def version(nginx: str = NGINX) -> Argv:
    return (nginx, "-v")
