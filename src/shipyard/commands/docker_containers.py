"""docker argv builders for containers: run, start, stop, pause, unpause, rm, ps, port, logs,
inspect. Pure.

No builder takes an environment value: `run` names the variables (`--env NAME`, no value) and
docker copies each value from its own process environment, so a value is never on a command
line that every user of the machine can read in /proc, nor in a file a crash could leave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Argv = tuple[str, ...]

LOOPBACK = "127.0.0.1"
# One JSON object per container, without Config.Env (which would hold secret values).
INSPECT_FORMAT = (
    '{"id":{{json .Id}},"name":{{json .Name}},"image":{{json .Config.Image}},'
    '"status":{{json .State.Status}},"running":{{json .State.Running}},'
    '"paused":{{json .State.Paused}},'
    '"exit_code":{{json .State.ExitCode}},"created":{{json .Created}},'
    '"finished":{{json .State.FinishedAt}},"labels":{{json .Config.Labels}},'
    '"ports":{{json .NetworkSettings.Ports}}}'
)


def run(
    docker: str,
    *,
    name: str,
    image: str,
    container_port: int,
    labels: Mapping[str, str],
    env_names: Sequence[str] = (),
) -> Argv:
    """Start a detached container publishing `container_port` on a random loopback port.

    `--init` puts a tiny init as PID 1 so `docker stop` ends servers that ignore SIGTERM as
    PID 1 (busybox httpd does) at once instead of after the 10 s kill timeout.
    """
    argv = [docker, "run", "--detach", "--init", "--name", name, "--restart", "no",
            "--publish", f"{LOOPBACK}::{container_port}"]
    for key in sorted(labels):
        argv += ["--label", f"{key}={labels[key]}"]
    for name in sorted(env_names):  # the value comes from docker's environment
        argv += ["--env", name]
    argv.append(image)
    return tuple(argv)


def start(docker: str, names: Sequence[str]) -> Argv:
    return (docker, "start", *names)


def stop(docker: str, names: Sequence[str], timeout: int = 10) -> Argv:
    return (docker, "stop", "--time", str(timeout), *names)


def pause(docker: str, names: Sequence[str]) -> Argv:
    """Freeze every process of the containers (a cgroup freeze): they keep their memory and
    their published ports, use no CPU, and `unpause` resumes them in milliseconds."""
    return (docker, "pause", *names)


def unpause(docker: str, names: Sequence[str]) -> Argv:
    return (docker, "unpause", *names)


def remove(docker: str, names: Sequence[str], force: bool = False) -> Argv:
    return (docker, "rm", *(("--force",) if force else ()), *names)


def ps(docker: str, labels: Mapping[str, str]) -> Argv:
    """Ids of every container (running or not) carrying all these labels."""
    argv = [docker, "ps", "--all", "--quiet", "--no-trunc"]
    for key in sorted(labels):
        argv += ["--filter", f"label={key}={labels[key]}"]
    return tuple(argv)


def port(docker: str, name: str, container_port: int) -> Argv:
    return (docker, "port", name, f"{container_port}/tcp")


def logs(docker: str, name: str, tail: int = 40) -> Argv:
    return (docker, "logs", "--tail", str(tail), name)


def inspect(docker: str, refs: Sequence[str], fmt: str = INSPECT_FORMAT) -> Argv:
    return (docker, "container", "inspect", "--format", fmt, *refs)
