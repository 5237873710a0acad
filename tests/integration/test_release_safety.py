"""Secrets stay secret through releases, a rollback, a failed release and an automatic
rollback, and bad input changes nothing.

The canary values live only in the 0600 secrets file and inside the containers. What is
searched for them, on the success and the failure paths alike:

- stdout and stderr of every `invoke` run;
- every file under .shipyard/ but the secrets file: release records, command log, audit log,
  deploy history, trivy reports and CycloneDX SBOMs, the proxy's config, state and logs;
- temp files: the runs' own temp dir (TMPDIR, where the runner writes its env files; it must
  be left empty) and anything named /tmp/shipyard-*;
- the command line of every process on the machine, sampled from /proc/*/cmdline every 5 ms
  while the runs go on (a sample: a process that lives less than that can be missed);
- container and image metadata, except a container's environment.

Out of scope: a container's own environment. It is where the values belong (`docker exec
... env` must show them), and so `docker inspect` shows them too, in Config.Env, to anyone
with access to the Docker socket (docs/local-environment.md says so). The containers' own
log output (`docker logs`) is the app's: the test app prints a secret there on purpose, and
shipyard must mask it wherever it shows a log tail.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Ran
from tests.integration.release_fixtures import (
    ReleaseApp,
    docker,
    write_secrets,
)

pytestmark = pytest.mark.integration

V1, V2, V3, V4 = "v1.0.0", "v2.0.0", "v3.0.0", "v4.0.0"


class CmdlineWatch:
    """Samples /proc/*/cmdline of every process, a sweep every 5 ms, until stopped (or 5
    minutes passed). A sample: a process that starts and ends between sweeps is not seen."""

    def __init__(self, needles: list[bytes]) -> None:
        self.needles = needles
        self.hits: list[str] = []
        self.sweeps = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        deadline = time.monotonic() + 300
        while not self.stop.is_set() and time.monotonic() < deadline:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        cmdline = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if any(needle in cmdline for needle in self.needles):
                        self.hits.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
            self.sweeps += 1
            time.sleep(0.005)

    def __enter__(self) -> CmdlineWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_secrets_never_leave_the_secrets_file_and_the_containers(app: ReleaseApp,
                                                                  tmp_path: Path) -> None:
    needles = [app.canary, app.password]
    temp = tmp_path / "run-tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    ran: list[Ran] = []
    with CmdlineWatch([n.encode() for n in needles]) as watch:
        ran.append(app.ok("release", "--version", V1, env=env))
        app.change("v2")
        ran.append(app.ok("release", "--version", V2, env=env))
        ran.append(app.ok("rollback", env=env))
        ran.append(app.ok("status", "--json", env=env))
        app.break_health()  # failure path: refused before the switch, log tail shown
        ran.append(app.invoke("release", "--version", V3, env=env))
        app.knobs("alpha: stale version path", alpha={"STALE_VERSION": "yes"})
        ran.append(app.invoke("release", "--version", V4, env=env))  # auto-rollback path
    assert [r.code for r in ran] == [0, 0, 0, 0, 1, 1], [r.text for r in ran[-2:]]
    assert "token=***" in ran[4].err  # the log tail that held a secret was shown, masked
    assert f"rolling back to {V1}" in ran[5].err
    assert watch.sweeps > 20, "the /proc sampler hardly ran"
    assert watch.hits == [], "a secret was on a command line"
    assert app.versions() == {"alpha": V1, "beta": V1}

    searched = [p for p in app.state.rglob("*") if p.is_file() and p != app.secrets_file]
    names = {str(p.relative_to(app.state)) for p in searched}
    for expected in ("audit.log", "history/local.json", "logs/commands.log",
                     f"releases/{V4}.json", f"reports/{V1}/alpha.trivy.json",
                     f"reports/{V3}/beta.cdx.json", "local/proxy/nginx.conf",
                     "local/proxy/upstreams.json", "local/proxy/logs/access.log"):
        assert expected in names, f"{expected} was not written, so not searched: {names}"
    leftovers = sorted(temp.rglob("*"))
    assert leftovers == [], f"temp files left behind: {leftovers}"
    searched += [p for p in Path("/tmp").glob("shipyard-*") if p.is_file()]
    searched += [p for d in Path("/tmp").glob("shipyard-*") if d.is_dir()
                 for p in d.rglob("*") if p.is_file()]
    for needle in needles:
        for r in ran:
            assert needle not in r.out, "a secret reached stdout"
            assert needle not in r.err, "a secret reached stderr"
        for path in searched:
            try:
                leaked = needle.encode() in path.read_bytes()
            except OSError:  # another test's temp file, gone meanwhile
                continue
            assert not leaked, f"a secret is in {path}"

    containers = app.containers()
    assert len(containers) >= 4  # v1 and v2 of each service, serving and kept, and the rest
    shown = docker("inspect", "--format", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} "
                   "{{json .Config.Entrypoint}} {{json .Config.Labels}} {{json .Name}} "
                   "{{.Image}}", *containers)
    images = sorted({line.rsplit(" ", 1)[1] for line in shown.splitlines()})
    shown += docker("image", "inspect", "--format", "{{json .Config.Cmd}} "
                    "{{json .Config.Entrypoint}} {{json .Config.Labels}} {{json .Config.Env}}",
                    *images)
    for needle in needles:
        assert needle not in shown, "a secret is in a container's or image's metadata"

    serving = json.loads(ran[3].out)["services"]
    alpha = next(s["revision"] for s in serving if s["name"] == "alpha")
    inside = docker("exec", alpha, "env").splitlines()  # the one place the values belong
    assert f"CANARY_TOKEN={app.canary}" in inside
    assert f"ALPHA_DB_PASSWORD={app.password}" in inside
    assert "GREETING=hello" in inside


def _refused(app: ReleaseApp, code: int, *args: str) -> list[str]:
    """The `error:` and `hint:` lines of a refused run, after checking there is one of each."""
    ran = app.invoke(*args)
    assert ran.code == code, f"invoke {' '.join(args)}:\n{ran.text}"
    assert "Traceback" not in ran.text, ran.text
    assert app.canary not in ran.text and app.password not in ran.text
    said = [line for line in ran.err.splitlines() if line.startswith(("error: ", "hint: "))]
    assert [line.split(":")[0] for line in said] == ["error", "hint"], ran.err
    return said


BAD_VERSION = ("expected vMAJOR.MINOR.PATCH, e.g. v1.1.0 or v1.1.0-rc.1",
               "hint: use a SemVer 2.0 tag with a leading 'v', no leading zeros and no build "
               "metadata")


def test_bad_input_changes_nothing(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.change("v2")
    app.ok("release", "--version", V2)
    before = app.snapshot()
    assert len(before["docker"]["containers"]) == 4  # type: ignore[index]
    assert "refs/tags/v2.0.0" in before["git"]["remote_refs"]  # type: ignore[index]

    unknown = ["error: unknown environment 'nope'", "hint: known environments: cloud, local"]
    assert _refused(app, 2, "release", "--version", "v3.0.0", "--env", "nope") == unknown
    assert _refused(app, 2, "rollback", "--env", "nope") == unknown

    assert _refused(app, 1, "rollback", "--to", "v9.9.9") == [
        "error: cannot roll back to v9.9.9: no verified release of it with images in the "
        "registry", "hint: candidates: v1.0.0"]
    for bad in ("banana", "v1.0.0;rm"):
        args = ("rollback", "--to", bad) if bad == "banana" else ("release", "--version", bad)
        assert _refused(app, 2, *args) == [
            f"error: invalid version '{bad}': {BAD_VERSION[0]}", BAD_VERSION[1]]

    # Cloud Run without gcloud credentials: preflight names it, and nothing was changed.
    error, hint = _refused(app, 1, "release", "--version", "v3.0.0", "--env", "cloud")
    assert error.startswith("error: preflight failed, nothing was changed: ")
    assert "gcloud auth: gcloud gives no access token" in error
    assert hint == ("hint: gcloud auth login (or, in Cloud Build, the build's service account); "
                    "see docs/cloud-run.md")

    record = app.state / "releases" / f"{V1}.json"
    good = record.read_bytes()
    record.write_text("{not json")
    try:
        for args in (("rollback",), ("deploy", "--version", V1)):
            said = _refused(app, 1, *args)
            assert said == [
                f"error: {record}: not a valid release record (Expecting property name enclosed "
                "in double quotes: line 1 column 2 (char 1))",
                "hint: restore it from backup or delete it, then rerun"], (args, said)
    finally:
        record.write_bytes(good)

    secrets = app.secrets_file.read_bytes()
    write_secrets(app.secrets_file, {"CANARY_TOKEN": app.canary})  # ALPHA_DB_PASSWORD is gone
    try:
        assert _refused(app, 2, "release", "--version", "v3.0.0") == [
            "error: preflight failed, nothing was changed: secrets: missing secrets (alpha: "
            "ALPHA_DB_PASSWORD)", "hint: add them to the environment's secrets source (names "
            "only are checked; see docs/local-environment.md)"]
        for args in (("deploy", "--version", V1), ("rollback",)):
            assert _refused(app, 2, *args) == [
                "error: missing secrets: alpha: ALPHA_DB_PASSWORD", "hint: add them to the "
                "environment's secrets source (see docs/local-environment.md)"], args
    finally:
        app.secrets_file.write_bytes(secrets)

    assert app.snapshot() == before
    assert app.versions() == {"alpha": V2, "beta": V2}
