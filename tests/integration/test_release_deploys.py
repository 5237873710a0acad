"""`invoke deploy` and `invoke rollback` as a user runs them, and new revisions that are refused
before any traffic moves: a wrong version, a container that exits at once, nginx refusing the
new config. Also: a changed secret or env value makes a new revision, and a deploy that was
killed after starting its containers adopts them when it is run again.

Real git (bare remote), Docker engine, registry, trivy and nginx; requests to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.conftest import Ran
from tests.integration.release_fixtures import (
    Lines,
    Load,
    ReleaseApp,
    commands,
    docker,
    http_get,
    kill_tree,
    table,
    write_secrets,
)

pytestmark = pytest.mark.integration

V1, V2, V3, V4 = "v1.0.0", "v2.0.0", "v3.0.0", "v4.0.0"
REVISION = r"shipyard-demo-local-{service}-{version}-[0-9a-f]{{12}}-[0-9a-f]{{6}}"


def errors(ran: Ran) -> list[str]:
    return [line for line in ran.err.splitlines() if line.startswith(("error: ", "hint: "))]


def refused(app: ReleaseApp, code: int, *args: str, env: dict[str, str] | None = None
            ) -> list[str]:
    """Run ARGS, which must exit CODE without a traceback; its error: and hint: lines."""
    ran = app.invoke(*args, env=env)
    assert ran.code == code, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
    assert "Traceback" not in ran.text, ran.text
    return errors(ran)


def started(names: list[str]) -> dict[str, str]:
    """Each container's Created and StartedAt: unchanged means not recreated, not restarted."""
    return {n: docker("inspect", "--format", "{{.Created}} {{.State.StartedAt}}", n).strip()
            for n in names}


def serving_names(app: ReleaseApp) -> dict[str, str]:
    upstreams = json.loads((app.state / "local" / "proxy" / "upstreams.json").read_text())
    return {name: entry["container"] for name, entry in upstreams["services"].items()}


def build_and_push(app: ReleaseApp, version: str) -> None:
    app.ok("build", "--version", version)
    app.ok("push", "--version", version)


def test_deploy_and_rollback_commands(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    assert refused(app, 1, "rollback") == [
        f"error: no earlier good release to roll back to in local (serving: {V1})",
        "hint: pass --to VERSION to pick one explicitly"]
    assert refused(app, 1, "deploy", "--version", "v9.9.9") == [
        "error: no release record for v9.9.9 in local",
        "hint: invoke push --version v9.9.9 --env local first"]

    for version in (V2, V3):  # `invoke deploy` of a pushed release, no `invoke release`
        app.change(f"{version}: new content")
        build_and_push(app, version)
        deployed = app.ok("deploy", "--version", version)
        assert app.versions() == {"alpha": version, "beta": version}
        assert sorted(table(deployed.out, f"deploy {version} → local")) == ["alpha", "beta"]
        record = app.record(version)
        assert (record["verified"], record["last_action"]) == (True, "deploy")
        assert record["status"] == "released"  # verified: never "failed" and verified
    assert [(e["version"], e["action"], e["verified"], e["replaced"])
            for e in app.history()] == [(V1, "release", True, None),
                                        (V2, "deploy", True, V1), (V3, "deploy", True, V2)]

    assert refused(app, 1, "rollback", "--to", "v9.9.9") == [
        "error: cannot roll back to v9.9.9: no verified release of it with images in the "
        "registry", f"hint: candidates: {V2}, {V1}"]
    digest = app.record(V1)["images"]["alpha"]["digest"]  # type: ignore[index]
    app.registry.delete_manifest("demo/alpha", str(digest))
    assert app.registry.digest("demo/alpha", str(digest)) is None
    assert refused(app, 1, "rollback", "--to", V1) == [
        f"error: cannot roll back to {V1}: no verified release of it with images in the "
        "registry", f"hint: candidates: {V2}"]  # v1's alpha image left: v1 is not offered
    assert app.versions() == {"alpha": V3, "beta": V3}

    kept = {name: c for name, c in ((c.split("-")[3], c) for c in app.containers())
            if f"-{V2}-" in c}
    before = started(list(kept.values()))
    rolled = app.ok("rollback", "--to", V2)
    assert app.versions() == {"alpha": V2, "beta": V2}
    assert serving_names(app) == kept  # the kept v2 revisions...
    verbs = [c.split()[1] for c in commands(rolled.text, "docker")]
    assert verbs.count("unpause") == 2 and not {"run", "start"} & set(verbs), verbs  # resumed
    assert started(list(kept.values())) == before  # the same ones, never restarted
    last = app.history()[-1]
    assert (last["version"], last["action"], last["verified"], last["replaced"]) == (
        V2, "rollback", True, V3)
    status = json.loads(app.ok("status", "--json").out)
    assert status["serving"] == V2


def test_a_changed_secret_or_env_value_makes_a_new_revision(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    v1 = serving_names(app)
    app.change("v2")
    app.ok("release", "--version", V2)
    new_password = "pw-changed-" + app.password[3:]
    write_secrets(app.secrets_file, {"CANARY_TOKEN": app.canary,
                                     "ALPHA_DB_PASSWORD": new_password})

    rolled = app.ok("rollback")
    assert app.versions() == {"alpha": V1, "beta": V1}
    now = serving_names(app)
    assert now["beta"] == v1["beta"]  # beta's settings did not change: its kept revision
    assert now["alpha"] != v1["alpha"]  # alpha's did: a new revision of the same image
    assert re.fullmatch(REVISION.format(service="alpha", version=V1), now["alpha"])
    assert now["alpha"].rsplit("-", 1)[0] == v1["alpha"].rsplit("-", 1)[0]  # same digest
    runs = [c for c in commands(rolled.text, "docker") if c.split()[1] == "run"]
    assert len(runs) == 1 and f"--name {now['alpha']}" in runs[0], runs
    resumed = [c.split()[2:] for c in commands(rolled.text, "docker")
               if c.split()[1] == "unpause"]
    assert resumed == [[v1["beta"]]], resumed  # beta's paused standby
    inside = docker("exec", now["alpha"], "env").splitlines()
    assert f"ALPHA_DB_PASSWORD={new_password}" in inside
    assert v1["alpha"] in app.containers() and v1["alpha"] not in app.containers(
        running_only=True)  # the old one is kept, stopped: a revision's settings never change
    assert new_password not in rolled.text and app.password not in rolled.text

    config = app.work / "shipyard.toml"
    config.write_text(config.read_text().replace('GREETING = "hello"', 'GREETING = "hi"'))
    app.commit("alpha: a new greeting")
    redeployed = app.ok("deploy", "--version", V1)
    again = serving_names(app)
    assert again["beta"] == now["beta"] and again["alpha"] not in (now["alpha"], v1["alpha"])
    assert f"beta: {now['beta']} already serving, left alone" in redeployed.err
    assert "GREETING=hi" in docker("exec", again["alpha"], "env").splitlines()
    assert app.versions() == {"alpha": V1, "beta": V1}


def refused_before_the_switch(app: ReleaseApp, version: str, env: dict[str, str] | None = None
                              ) -> tuple[Ran, Load]:
    """Release VERSION, which must fail before traffic moves: the previous release serves
    throughout, from the same containers, no request fails, nothing is recorded as deployed."""
    serving = app.containers(running_only=True)
    before = started(serving)
    history = app.history()
    conf = (app.state / "local" / "proxy" / "nginx.conf").read_bytes()
    old = app.versions()
    assert set(old.values()) == {V1}
    with Load(list(app.ports.values())) as load:
        ran = app.invoke("release", "--version", version, env=env)
    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    assert load.failures() == [] and load.crashed == [], load.failures()[:5]
    assert set(load.everything()) == {V1}
    assert app.versions() == old
    assert app.containers(running_only=True) == serving and started(serving) == before
    assert all(f"-{version}-" not in c for c in app.containers())  # new revisions removed
    assert app.history() == history
    assert (app.state / "local" / "proxy" / "nginx.conf").read_bytes() == conf
    assert "traffic switched" not in ran.err and "rolling back" not in ran.err
    return ran, load


def test_revisions_refused_before_the_switch(app: ReleaseApp, tmp_path: Path) -> None:
    app.ok("release", "--version", V1)

    app.knobs("alpha: a version baked in", alpha={"BAKED_VERSION": "v1.9.9"})
    ran, _ = refused_before_the_switch(app, V2)
    lines = errors(ran)
    assert len(lines) == 3 and lines[0] == "error: alpha failed; its last log lines:", lines
    assert re.fullmatch(
        rf"error: release {V2} failed: alpha: new revision "
        + REVISION.format(service="alpha", version=V2)
        + rf" answered /cgi-bin/version with 200 'v1.9.9', not {V2}; nothing was switched: "
        rf"{V1} keeps serving", lines[1]), lines
    assert "  | v1.9.9 starting, healthz: ok, token=***" in ran.err
    assert lines[2] == ("hint: traffic was not switched; the serving revisions are "
                        "untouched. Fix the image and release a new version")
    assert (app.record(V2)["status"], app.record(V2)["verified"]) == ("failed", False)

    app.knobs("alpha: exits at once", alpha={"CRASH": "yes"})
    ran, _ = refused_before_the_switch(app, V3)
    lines = errors(ran)
    assert "No public port" not in ran.text, ran.err
    assert "error: alpha failed; its last log lines:" in ran.err
    assert f"  | {V3} cannot reach its database (token=***), exiting" in ran.err
    assert app.canary not in ran.text
    assert len(lines) == 3 and re.fullmatch(
        rf"error: release {V3} failed: alpha: new revision "
        + REVISION.format(service="alpha", version=V3)
        + rf" exited at once \(exit code 3\); nothing was switched: {V1} keeps serving",
        lines[1]), lines
    assert lines[2] == ("hint: traffic was not switched; the serving revisions are "
                        "untouched. Fix the image and release a new version")
    assert (app.record(V3)["status"], app.record(V3)["verified"]) == ("failed", False)

    # nginx refuses the new config (`nginx -t` of nginx.conf.next fails): a wrapper first on
    # PATH fails that check, like a real nginx on a config it cannot load; all else is nginx.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "nginx"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do case "$arg" in *nginx.conf.next)\n'
        '  echo "nginx: [emerg] invalid number of arguments in \\"upstream\\" directive in '
        '$arg:9" >&2\n'
        '  echo "nginx: configuration file $arg test failed" >&2; exit 1;;\n'
        "esac; done\n"
        'exec /usr/sbin/nginx "$@"\n')
    wrapper.chmod(0o755)
    app.knobs("alpha: fine again")
    path = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    ran, _ = refused_before_the_switch(app, V4, env=path)
    proxy = app.state / "local" / "proxy"
    assert errors(ran) == [
        f"error: command failed (exit 1): nginx -p {proxy}/ -c {proxy}/nginx.conf.next -t -q",
        ]
    assert (f"nginx: [emerg] invalid number of arguments in \"upstream\" directive in "
            f"{proxy}/nginx.conf.next:9") in ran.err
    assert app.audit()[-1]["result"] == "failed"


def test_a_killed_deploy_adopts_its_running_containers(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.knobs("beta: starts slowly", beta={"START_DELAY": "3"})
    build_and_push(app, V2)

    first = app.popen("deploy", "--version", V2)
    err = Lines(first.stderr)
    try:
        healthy = err.wait_for("alpha: started a new container", timeout=120)
        assert healthy is not None, err.text
        # Under load alpha may be healthy before beta's `docker run` returned: kill once
        # beta's container runs too, while it is still starting (START_DELAY).
        deadline = time.monotonic() + 30
        while len([c for c in app.containers(running_only=True) if f"-{V2}-" in c]) < 2 \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "beta: started" not in err.text  # beta is still starting: nothing switched
    finally:
        kill_tree(first)
    assert "traffic switched" not in err.text
    assert app.versions() == {"alpha": V1, "beta": V1}
    left = [c for c in app.containers(running_only=True) if f"-{V2}-" in c]
    assert len(left) == 2, app.containers()  # both new revisions run on, unswitched
    before = started(left)

    resumed = app.ok("deploy", "--version", V2, "--break-lock")
    for name in left:
        service = name.split("-")[3]
        assert re.search(rf"{service}: adopted a running container {name}, healthy in",
                         resumed.err), resumed.err
    assert [c for c in commands(resumed.text, "docker") if c.split()[1] in ("run", "start")
            ] == []
    assert started(left) == before  # the very same containers, never restarted
    assert sorted(serving_names(app).values()) == sorted(left)
    assert app.versions() == {"alpha": V2, "beta": V2}
    assert http_get(app.ports["alpha"], "/cgi-bin/version") == (200, V2)
