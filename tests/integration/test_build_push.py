"""`invoke build` and `invoke push` with the real Docker engine and a real registry."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import GIT_IDENTITY, AppRepo, LocalRegistryProcess, Ran, free_port, invoke
from tests.integration.release_fixtures import table

pytestmark = pytest.mark.integration


def record(app: AppRepo, version: str) -> dict:
    return json.loads((app.work / ".shipyard" / "releases" / f"{version}.json").read_text())


def logged(app: AppRepo, *command: str) -> list[tuple[list[str], int]]:
    """(argv, exit) of every attempt in .shipyard/logs/commands.log whose argv, after the
    program, starts with COMMAND (the program is named by its basename)."""
    log = app.work / ".shipyard" / "logs" / "commands.log"
    found = []
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        argv = shlex.split(entry["argv"])
        if [os.path.basename(argv[0]), *argv[1:len(command)]] == list(command):
            found.append((argv, entry["exit"]))
    return found


def results(ran: Ran, title: str) -> dict[str, str]:
    """service → the last column (result) of the summary table titled TITLE."""
    return {name: row[-1] for name, row in table(ran.out, title).items()}


def errors(ran: Ran) -> list[str]:
    return [line for line in ran.err.splitlines() if line.startswith(("error: ", "hint: "))]


def image_id(ref: str) -> str:
    return subprocess.run(("docker", "image", "inspect", "--format", "{{.Id}}", ref),
                          capture_output=True, text=True, check=True).stdout.strip()


def image_labels(ref: str) -> dict[str, str]:
    out = subprocess.run(("docker", "image", "inspect", "--format", "{{json .Config.Labels}}",
                          ref), capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def test_build_and_push_in_one_invoke_process(images_app: AppRepo,
                                             registry: LocalRegistryProcess) -> None:
    """`invoke build --version V push --version V`: both tasks, one interpreter; the flags
    are each task's own, so `invoke build push --version V` stops at build, changing nothing."""
    wrong = invoke(images_app.work, "build", "push", "--version", "v1.0.0")
    assert wrong.code == 2, wrong.text
    assert errors(wrong) == ["error: --version is required", "hint: e.g. --version v1.1.0"]
    assert not logged(images_app, "docker", "build")
    assert not logged(images_app, "docker", "push")

    both = invoke(images_app.work, "build", "--version", "v1.0.0", "push", "--version", "v1.0.0")
    assert both.code == 0, both.text
    built = table(both.out, "build v1.0.0")
    assert {name: row[-1] for name, row in built.items()} == {"alpha": "built", "beta": "built"}
    # The sizes come from the engine (its socket, else the CLI) after the builds.
    assert all(row[1].endswith(("kB", "MB")) for row in built.values()), built
    assert results(both, f"push v1.0.0 to 127.0.0.1:{registry.port}/demo") == {
        "alpha": "pushed", "beta": "pushed"}
    data = record(images_app, "v1.0.0")
    for service in ("alpha", "beta"):
        assert data["images"][service]["digest"] == registry.digest(f"demo/{service}", "v1.0.0")
        assert data["images"][service]["image_id"] == image_id(
            f"127.0.0.1:{registry.port}/demo/{service}:v1.0.0")


def test_build_push_records_registry_digests(images_app: AppRepo,
                                             registry: LocalRegistryProcess) -> None:
    built = invoke(images_app.work, "build", "--version", "v1.0.0")
    assert built.code == 0, built.text
    assert results(built, "build v1.0.0") == {"alpha": "built", "beta": "built"}
    ref = f"127.0.0.1:{registry.port}/demo/alpha:v1.0.0"
    labels = image_labels(ref)
    head = images_app.git("rev-parse", "HEAD")
    assert labels["org.opencontainers.image.version"] == "v1.0.0"
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["dev.shipyard.build.inputs"].startswith("sha256:")

    pushed = invoke(images_app.work, "push", "--version", "v1.0.0")
    assert pushed.code == 0, pushed.text
    data = record(images_app, "v1.0.0")
    for service in ("alpha", "beta"):
        entry = data["images"][service]
        assert entry["image"] == f"127.0.0.1:{registry.port}/demo/{service}:v1.0.0"
        assert entry["digest"] == registry.digest(f"demo/{service}", "v1.0.0")
        assert entry["digest"].startswith("sha256:")
    assert data["stages"]["build"]["status"] == "done"
    assert data["stages"]["push"]["status"] == "done"
    assert data["stages"]["push"]["seconds"] >= 0


def test_rebuild_of_unchanged_inputs_reuses_and_labels_stay(images_app: AppRepo) -> None:
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    ref = next(iter(record(images_app, "v1.0.0")["images"].values()))["image"]
    first_id, first_labels = image_id(ref), image_labels(ref)

    builds = logged(images_app, "docker", "build")
    again = invoke(images_app.work, "build", "--version", "v1.0.0")
    assert again.code == 0, again.text
    assert results(again, "build v1.0.0") == {"alpha": "reused", "beta": "reused"}
    assert logged(images_app, "docker", "build") == builds  # no build ran the second time
    assert image_id(ref) == first_id and image_labels(ref) == first_labels


def test_changed_service_rebuilds_only_that_service(images_app: AppRepo) -> None:
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    images_app.commit("beta/content.txt", f"beta changed {images_app.work}\n")
    ran = invoke(images_app.work, "build", "--version", "v1.0.0")
    assert ran.code == 0, ran.text
    assert results(ran, "build v1.0.0") == {"alpha": "reused", "beta": "built"}


def test_same_digest_repush_is_skipped_and_overwrite_refused(images_app: AppRepo,
                                                            registry: LocalRegistryProcess
                                                            ) -> None:
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    assert invoke(images_app.work, "push", "--version", "v1.0.0").code == 0
    digest = registry.digest("demo/alpha", "v1.0.0")

    pushes = logged(images_app, "docker", "push")
    again = invoke(images_app.work, "push", "--version", "v1.0.0")
    assert again.code == 0, again.text
    assert results(again, f"push v1.0.0 to 127.0.0.1:{registry.port}/demo") == {
        "alpha": "skipped", "beta": "skipped"}
    assert logged(images_app, "docker", "push") == pushes  # no push ran the second time

    images_app.commit("alpha/content.txt", f"a different image {images_app.work}\n")
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    refused = invoke(images_app.work, "push", "--version", "v1.0.0", "--service", "alpha")
    assert refused.code == 1
    assert errors(refused) == [
        f"error: failed: alpha (succeeded: none); alpha: 127.0.0.1:{registry.port}/demo/alpha:"
        f"v1.0.0 is already in the registry as {digest}, and this release's image is different",
        "hint: a released version is never overwritten: release a new version"], refused.err
    assert registry.digest("demo/alpha", "v1.0.0") == digest


def test_push_of_unbuilt_version_names_the_fix(images_app: AppRepo,
                                               registry: LocalRegistryProcess) -> None:
    ran = invoke(images_app.work, "push", "--version", "v9.9.9")
    assert ran.code == 1
    ref = f"127.0.0.1:{registry.port}/demo/alpha:v9.9.9"
    assert errors(ran) == [
        f"error: failed: alpha, beta (succeeded: none); alpha: {ref} is not built here",
        "hint: invoke build --version v9.9.9 --env local"], ran.err


def test_registry_stopped_mid_push_then_rerun_completes(images_app: AppRepo,
                                                        registry: LocalRegistryProcess) -> None:
    # beta gets a bigger layer so its push is still under way when the registry dies.
    big = bytes(range(256)) * 40000 + str(images_app.work).encode()
    (images_app.work / "beta" / "content.txt").write_bytes(big)
    images_app.git("add", "-A")
    images_app.git("commit", "-q", "-m", "big beta")
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    ids = {s: image_id(f"127.0.0.1:{registry.port}/demo/{s}:v1.0.0") for s in ("alpha", "beta")}

    # Sequential pushes (--jobs 1): alpha completes, then the registry dies as beta starts.
    proc = subprocess.Popen((sys.executable, "-m", "invoke", "push", "--version", "v1.0.0",
                             "--jobs", "1"), cwd=images_app.work, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **GIT_IDENTITY, "NO_COLOR": "1"})
    err_lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        err_lines.append(line)
        if "[push] beta: pushing" in line:
            registry.stop()
    failed = Ran(proc.wait(timeout=120), proc.stdout.read() if proc.stdout else "",
                 "".join(err_lines))
    assert failed.code == 1, failed.text
    # Attempts are counted where each one is recorded: the command log, one line per run.
    logged_pushes = logged(images_app, "docker", "push")
    pushes = [(argv[-1], code) for argv, code in logged_pushes]
    alpha, beta = (f"127.0.0.1:{registry.port}/demo/{s}:v1.0.0" for s in ("alpha", "beta"))
    assert pushes == [(alpha, 0)] + [(beta, 1)] * 4, pushes  # beta: 1 try + 3 retries
    docker = logged_pushes[-1][0][0]
    assert errors(failed)[0] == ("error: failed: beta (succeeded: alpha); beta: command failed "
                                 f"(exit 1): {docker} push {beta}"), failed.err
    assert errors(failed)[-1] == ("hint: check the registry, then rerun: images already pushed "
                                  "are skipped"), failed.err
    assert "Traceback" not in failed.text

    registry.start()
    builds = logged(images_app, "docker", "build")
    rebuilt = invoke(images_app.work, "build", "--version", "v1.0.0")
    assert rebuilt.code == 0, rebuilt.text
    assert logged(images_app, "docker", "build") == builds
    done = invoke(images_app.work, "push", "--version", "v1.0.0")
    assert done.code == 0, done.text
    assert results(done, f"push v1.0.0 to 127.0.0.1:{registry.port}/demo") == {
        "alpha": "skipped", "beta": "pushed"}
    data = record(images_app, "v1.0.0")
    for service in ("alpha", "beta"):
        assert data["images"][service]["digest"] == registry.digest(f"demo/{service}", "v1.0.0")
        assert image_id(data["images"][service]["image"]) == ids[service]


@pytest.mark.parametrize("snippet, key", [
    ('[services."Bad_Name"]\ncontext = "alpha"\nport = 8080\n', 'services.Bad_Name'),
    ('[services.alpha.build_args]\n"A;id" = "1"\n', "services.alpha.build_args.A;id"),
    ('[services.alpha.build_args]\nX = "1\\nRUN id"\n', "services.alpha.build_args.X"),
])
def test_hostile_config_refused_before_docker_runs(images_app: AppRepo, snippet: str,
                                                   key: str) -> None:
    config = images_app.work / "shipyard.toml"
    config.write_text(config.read_text() + "\n" + snippet)
    ran = invoke(images_app.work, "build", "--version", "v1.0.0", "--dry-run")
    assert ran.code == 2, ran.text
    assert ran.err.startswith(f"error: shipyard.toml: {key}")
    assert "docker" not in ran.out and not (images_app.work / ".shipyard" / "releases").exists()


def remove_local_images(app: AppRepo, version: str) -> None:
    for entry in record(app, version)["images"].values():
        subprocess.run(("docker", "rmi", "--force", entry["image_id"]), capture_output=True,
                       check=True)


@pytest.mark.parametrize("keep_records", [True, False])
def test_image_in_registry_with_same_inputs_is_pulled_not_rebuilt(
        images_app: AppRepo, registry: LocalRegistryProcess, keep_records: bool) -> None:
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    assert invoke(images_app.work, "push", "--version", "v1.0.0").code == 0
    digests = {s: registry.digest(f"demo/{s}", "v1.0.0") for s in ("alpha", "beta")}
    remove_local_images(images_app, "v1.0.0")  # a fresh CI runner: the engine has nothing
    if not keep_records:  # ...and no release records either: only the registry knows
        for path in (images_app.work / ".shipyard" / "releases").glob("*.json"):
            path.unlink()

    builds = logged(images_app, "docker", "build")
    again = invoke(images_app.work, "build", "--version", "v1.0.0")
    assert again.code == 0, again.text
    assert logged(images_app, "docker", "build") == builds
    pulls = sorted((argv[1:], code) for argv, code in logged(images_app, "docker", "pull"))
    assert pulls == [(["pull", "--quiet", f"127.0.0.1:{registry.port}/demo/{s}:v1.0.0"], 0)
                     for s in ("alpha", "beta")], pulls  # both, once each, in any order
    assert results(again, "build v1.0.0") == {"alpha": "reused", "beta": "reused"}
    pushed = invoke(images_app.work, "push", "--version", "v1.0.0")
    assert pushed.code == 0, pushed.text
    assert results(pushed, f"push v1.0.0 to 127.0.0.1:{registry.port}/demo") == {
        "alpha": "skipped", "beta": "skipped"}
    assert {s: registry.digest(f"demo/{s}", "v1.0.0") for s in digests} == digests


def test_dry_runs_on_a_fresh_checkout_write_nothing(images_app: AppRepo) -> None:
    # The registry is not running: build plans without it; push plans starting it and pushing
    # every image; nothing starts and nothing lands on disk.
    config = images_app.work / "shipyard.toml"
    closed = free_port()
    config.write_text(re.sub(r"registry_port = \d+", f"registry_port = {closed}",
                             config.read_text()))
    images_app.git("commit", "-q", "-am", "a registry port nothing listens on")
    built = invoke(images_app.work, "build", "--version", "v1.0.0", "--dry-run")
    assert built.code == 0, built.text
    assert "docker-registry serve" not in built.out
    assert re.search(r"\[dry-run\] \S*docker build .*--tag 127\.0\.0\.1:\d+/demo/alpha:v1\.0\.0",
                     built.out)
    pushed = invoke(images_app.work, "push", "--version", "v1.0.0", "--dry-run")
    assert pushed.code == 0, pushed.text
    assert "[dry-run] docker-registry serve " in pushed.out
    assert re.search(rf"\[dry-run\] \S*docker push 127\.0\.0\.1:{closed}/demo/alpha:v1\.0\.0",
                     pushed.out), pushed.out
    assert not _listening(closed)
    assert not (images_app.work / ".shipyard").exists()
    assert images_app.git("status", "--porcelain", "--ignored") == ""


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]


def test_the_next_release_builds_with_cache_from_the_previous_one(
        images_app: AppRepo, registry: LocalRegistryProcess) -> None:
    assert invoke(images_app.work, "build", "--version", "v1.0.0").code == 0
    assert invoke(images_app.work, "push", "--version", "v1.0.0").code == 0
    images_app.commit("alpha/content.txt", f"alpha v1.1.0 {images_app.work}\n")
    ran = invoke(images_app.work, "build", "--version", "v1.1.0")
    assert ran.code == 0, ran.text
    # Both rebuild: the VERSION build arg is one of every image's inputs.
    assert results(ran, "build v1.1.0") == {"alpha": "built", "beta": "built"}

    builds = {argv[argv.index("--tag") + 1]: argv for argv, _ in
              logged(images_app, "docker", "build")}
    prefix = f"127.0.0.1:{registry.port}/demo"
    assert sorted(builds) == [f"{prefix}/{s}:{v}" for s in ("alpha", "beta")
                              for v in ("v1.0.0", "v1.1.0")]
    buildkit = "build v1.1.0 (BuildKit, " in ran.out
    assert buildkit or "build v1.1.0 (legacy builder, " in ran.out, ran.out
    for service in ("alpha", "beta"):
        assert flag_values(builds[f"{prefix}/{service}:v1.0.0"], "--cache-from") == []
        second = builds[f"{prefix}/{service}:v1.1.0"]
        # The legacy builder cannot use a registry image as its cache: it is not asked to.
        assert flag_values(second, "--cache-from") == (
            [f"{prefix}/{service}:v1.0.0"] if buildkit else [])
        assert ("BUILDKIT_INLINE_CACHE=1" in flag_values(second, "--build-arg")) == buildkit


def test_ctrl_c_mid_build_exits_130_with_one_error_line(images_app: AppRepo) -> None:
    dockerfile = images_app.work / "alpha" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 65534", "RUN sleep 4\nUSER 65534"))
    images_app.git("commit", "-q", "-am", "alpha: a slow build step")
    proc = subprocess.Popen((sys.executable, "-m", "invoke", "build", "--version", "v1.0.0"),
                            cwd=images_app.work, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, **GIT_IDENTITY, "NO_COLOR": "1"})
    assert proc.stderr is not None and proc.stdout is not None
    err_lines = []
    for line in proc.stderr:
        err_lines.append(line)
        if line.startswith("[build] alpha: building"):
            time.sleep(0.5)  # the docker build is under way
            proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends invoke
            break
    err_lines += proc.stderr.readlines()
    code = proc.wait(timeout=120)
    err = "".join(err_lines)
    assert code == 130, err
    assert "Traceback" not in err, err
    assert errors(Ran(code, "", err)) == [
        "error: interrupted", "hint: rerun the same command: every stage resumes"], err
