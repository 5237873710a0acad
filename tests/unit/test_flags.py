"""Feature flags: `[flags.NAME]` parsing, `NAME=on|off` arguments, the stored flag state, and
`switch_flags` / release / rollback on the fakes (what reaches the target's plan)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from shipyard import config as config_mod
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.pipeline.flags import parse_assignments, switch_flags
from shipyard.pipeline.release import release, rollback
from shipyard.state import audit
from shipyard.state import flags as flag_state
from shipyard.targets.base import DeployPlan
from shipyard.version import Version
from tests.conftest import git
from tests.unit.fake_app import CONFIG, Fakes
from tests.unit.fakes import FakeTarget

FLAG = """
[services.api.env]
VIDEO_GENERATION_ENABLED = "{default}"

[flags.video_generation]
service = "api"
env = "VIDEO_GENERATION_ENABLED"
on = "true"
off = "false"
"""


def parsed(extra: str, root: Path) -> config_mod.Config:
    for name in ("api", "web"):
        (root / name).mkdir(exist_ok=True)
        (root / name / "Dockerfile").write_text("FROM scratch\n")
    text = CONFIG.replace("[services.web]", extra + "\n[services.web]", 1)
    return config_mod.parse(tomllib.loads(text), root)


def test_a_flag_takes_its_default_from_the_services_env(tmp_path: Path) -> None:
    flags = parsed(FLAG.format(default="false"), tmp_path).flags
    flag = flags["video_generation"]
    assert (flag.service, flag.env, flag.default) == ("api", "VIDEO_GENERATION_ENABLED", "off")
    assert (flag.value("on"), flag.value("off")) == ("true", "false")


@pytest.mark.parametrize(("change", "message"), [
    (('service = "api"', 'service = "nope"'),
     "flags.video_generation.service: unknown service 'nope' (known: api, web)"),
    (('env = "VIDEO_GENERATION_ENABLED"', 'env = "API_TOKEN"'),
     "flags.video_generation.env: API_TOKEN is a secret of api; a flag is a plain setting"),
    (('VIDEO_GENERATION_ENABLED = "true"', 'VIDEO_GENERATION_ENABLED = "maybe"'),
     "flags.video_generation.env: services.api.env.VIDEO_GENERATION_ENABLED is 'maybe': set "
     "it to 'true' (on) or 'false' (off)"),
    (('off = "false"', 'off = "true"'), "flags.video_generation.off: must differ from `on`"),
    (('off = "false"', 'off = "false"\nof = "x"'), "flags.video_generation.of: unknown key"),
    (("[flags.video_generation]", "[flags.Video]"),
     "flags.Video: a flag name is lowercase letters, digits and '_', starting with a letter"),
])
def test_a_bad_flag_table_names_the_key(tmp_path: Path, change: tuple[str, str],
                                        message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed(FLAG.format(default="true").replace(*change), tmp_path)
    assert caught.value.message == f"shipyard.toml: {message}"


def test_assignments_are_checked_before_anything_runs(tmp_path: Path) -> None:
    config = parsed(FLAG.format(default="true"), tmp_path)
    assert parse_assignments(config, "video_generation=OFF") == {"video_generation": "off"}
    assert parse_assignments(config, "video_generation=on, video_generation=on") == {
        "video_generation": "on"}
    for text, message in (("", "name a flag and its state, e.g. video_generation=off"),
                          ("video=off", "unknown flag 'video'"),
                          ("video_generation=no", "flag video_generation: 'no' is neither "
                                                  "on nor off"),
                          ("video_generation=on,video_generation=off",
                           "flag video_generation is given both on and off")):
        with pytest.raises(UsageError) as caught:
            parse_assignments(config, text)
        assert caught.value.message == message


def test_the_state_file_says_when_a_change_did_not_finish(tmp_path: Path) -> None:
    flag_state.begin(tmp_path, "prod", {"video_generation": "on"}, {"video_generation": "off"})
    state = flag_state.read_state(tmp_path, "prod")
    assert (state.flags, state.pending) == ({"video_generation": "on"},
                                            {"video_generation": "off"})
    flag_state.commit(tmp_path, "prod", {"video_generation": "off", "gone": "on"})
    state = flag_state.read_state(tmp_path, "prod")
    assert state.pending is None
    (tmp_path / "app").mkdir()
    flags = parsed(FLAG.format(default="true"), tmp_path / "app").flags
    assert flag_state.effective(flags, state.flags) == {"video_generation": "off"}  # no "gone"
    assert not list((tmp_path / ".shipyard" / "flags").glob(".*"))  # no temp file left


@pytest.fixture
def flagged(git_fakes: Fakes) -> Fakes:
    """The fake app, a real git repo, with the flag committed and pushed."""
    fakes = git_fakes
    (fakes.root / "shipyard.toml").write_text(
        CONFIG.replace("[services.web]", FLAG.format(default="true") + "\n[services.web]", 1))
    git(fakes.root, "commit", "-q", "-am", "a video flag")
    git(fakes.root, "push", "-q", "origin", "main")
    fakes.config = config_mod.load(fakes.root)
    fakes.env = fakes.config.environment("local")
    return fakes


def planned_env(target: FakeTarget, verb: str) -> dict[str, dict[str, str]]:
    plan: DeployPlan = next(c for c in reversed(target.calls) if c[0] == verb)[1]
    return {s.service: dict(s.env) for s in plan.services}


def test_switch_release_and_rollback_carry_the_flag(flagged: Fakes) -> None:
    fakes, target = flagged, flagged.target
    release(fakes.context("v1.0.0"))
    assert planned_env(target, "deploy") == {"api": {"VIDEO_GENERATION_ENABLED": "true"},
                                             "web": {}}
    release(fakes.context("v1.1.0"))
    ctx = fakes.context("v1.1.0")
    ctx.version = None  # `invoke flag` names no version: it switches what serves
    switch_flags(ctx, {"video_generation": "off"})
    call = next(c for c in target.calls if c[0] == "reconfigure")
    assert call[2] == ("api",) and call[1].version == Version.parse("v1.1.0")
    assert planned_env(target, "reconfigure")["api"] == {"VIDEO_GENERATION_ENABLED": "false"}
    assert flag_state.read_state(fakes.root, "local").flags == {"video_generation": "off"}
    last = audit.history(fakes.root, "local")[-1]
    assert (last["action"], last["version"], last["flags"]) == (
        "flag", "v1.1.0", {"video_generation": "off"})

    # The rollback keeps it: v1.0.0 last ran with it on, so its kept revisions do not fit.
    target.calls.clear()
    rollback(fakes.context("v1.1.0"), None)
    assert "shift_traffic" not in target.verbs
    assert planned_env(target, "deploy")["api"] == {"VIDEO_GENERATION_ENABLED": "false"}
    record = json.loads((fakes.root / ".shipyard/releases/v1.0.0.json").read_text())
    assert record["flags"] == {"video_generation": "off"}

    target.calls.clear()
    release(fakes.context("v1.1.0"), reset_flags=True)
    assert planned_env(target, "deploy")["api"] == {"VIDEO_GENERATION_ENABLED": "true"}
    assert flag_state.read_state(fakes.root, "local").flags == {"video_generation": "on"}


def test_a_failed_switch_keeps_the_state_and_a_dry_run_writes_none(flagged: Fakes) -> None:
    fakes = flagged
    release(fakes.context("v1.0.0"))
    before = flag_state.flags_path(fakes.root, "local").read_text()
    fakes.target.fail_reconfigure = True
    ctx = fakes.context("v1.0.0")
    with pytest.raises(ShipyardError) as caught:
        switch_flags(ctx, {"video_generation": "off"})
    assert caught.value.message.endswith("nothing was switched: v1.0.0 keeps serving with "
                                         "video_generation=on")
    state = flag_state.read_state(fakes.root, "local")
    assert (state.flags, state.pending) == ({"video_generation": "on"}, None)

    fakes.target.fail_reconfigure = False
    fakes.target.calls.clear()
    fakes.runner.dry_run = True
    switch_flags(fakes.context("v1.0.0"), {"video_generation": "off"})
    assert "reconfigure" in fakes.target.verbs  # planned...
    assert flag_state.flags_path(fakes.root, "local").read_text() == before  # ...not written
    assert audit.history(fakes.root, "local")[-1]["action"] == "release"


def test_status_shows_each_flag_and_a_rerun_settles_an_unfinished_switch(flagged: Fakes
                                                                         ) -> None:
    from shipyard.pipeline.status import flag_status

    release(flagged.context("v1.0.0"))
    ctx = flagged.context()
    assert flag_status(ctx) == {"flags": {"video_generation": {
        "state": "on", "default": "on", "service": "api", "env": "VIDEO_GENERATION_ENABLED",
        "value": "true"}}, "flags_pending": None}
    # A switch killed between its two writes: the file says so, and status passes it on.
    flag_state.begin(flagged.root, "local", {"video_generation": "on"},
                     {"video_generation": "off"})
    shown = flag_status(ctx)
    assert shown["flags"]["video_generation"]["state"] == "on"  # what last verified
    assert shown["flags_pending"] == {"video_generation": "off"}
    # Going back to "on" is no change from the verified state, but the killed switch may
    # serve "off" already: the flag's service is rolled out again, and the state settles.
    flagged.target.calls.clear()
    switch_flags(flagged.context(), {"video_generation": "on"})
    call = next(c for c in flagged.target.calls if c[0] == "reconfigure")
    assert call[2] == ("api",)
    assert flag_status(ctx)["flags_pending"] is None
    assert flag_status(ctx)["flags"]["video_generation"]["state"] == "on"
