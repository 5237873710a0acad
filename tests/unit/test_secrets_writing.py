"""The pure parts of the secrets tasks: how a value is written into the dotenv file so the
reader reads it back unchanged, how the file is replaced, how a value is read from stdin, and
which names secrets-set accepts."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard import config
from shipyard.errors import UsageError
from shipyard.exec.runner import Runner
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.secrets import known_name
from shipyard.secrets import dotenv_file
from shipyard.secrets.dotenv import parse
from shipyard.secrets.value_input import read_value, without_final_newline

ONE_LINE = st.text(min_size=1).filter(lambda v: v.splitlines() == [v])


@given(ONE_LINE)
def test_any_one_line_value_reads_back_unchanged(value: str) -> None:
    assert parse(f"NAME={dotenv_file.encoded(value)}\n", "f") == {"NAME": value}


@pytest.mark.parametrize(("value", "written"), [
    ("postgres://u:p@db/x", "postgres://u:p@db/x"),  # bare when bare reads back
    ("a #b", "'a #b'"),  # an unquoted " #" would start a comment
    (" padded ", "' padded '"),
    ("it's", "it's"),
    ("'quoted'", "\"'quoted'\""),
    ("it's a #", '"it\'s a #"'),
    ('say "hi" \\ #', "'say \"hi\" \\ #'"),
    ("it's \"x\" \\ #", '"it\'s \\"x\\" \\\\ #"'),
])
def test_the_simplest_form_that_reads_back_is_written(value: str, written: str) -> None:
    assert dotenv_file.encoded(value) == written


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\u2028b", "a\x0bb", "end\n"])
def test_a_value_that_does_not_fit_on_one_line_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="fit on one line") as caught:
        dotenv_file.encoded(value)
    assert value not in caught.value.message + (caught.value.hint or "")


def test_with_value_rewrites_the_first_assignment_and_keeps_everything_else() -> None:
    text = "# top\nA=1111\n  export B = '2222'  # note\n\nB=dup\nC=3333\n"
    assert dotenv_file.with_value(text, "B", "new value") == (
        "# top\nA=1111\nexport B=new value\n\nC=3333\n")
    assert dotenv_file.with_value(text, "D", "4444") == text + "D=4444\n"
    assert dotenv_file.with_value("", "A", "x y #z") == "A='x y #z'\n"


def test_write_private_replaces_the_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "local.env"
    path.write_text("OLD=1\n")
    path.chmod(0o600)
    inode = path.stat().st_ino
    dotenv_file.write_private(path, "NEW=2222\n")
    assert path.read_text() == "NEW=2222\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert dotenv_file.temp_files(path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "local.env"
    path.write_text("OLD=1111\n")

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        dotenv_file.write_private(path, "NEW=2222\n")
    assert path.read_text() == "OLD=1111\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local.env"]


def test_the_temp_file_is_0600_from_its_creation(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path, modes = tmp_path / "local.env", []
    real = os.fdopen

    def spy(fd: int, *args: object, **kwargs: object) -> object:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # before a byte is written
        return real(fd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "fdopen", spy)
    dotenv_file.write_private(path, "A=1111\n")
    assert modes == [0o600]


@pytest.mark.parametrize(("piped", "value"), [
    ("abcd\n", "abcd"), ("abcd\r\n", "abcd"), ("abcd", "abcd"), ("abcd\n\n", "abcd\n"),
    (" ab cd ", " ab cd "),
])
def test_one_final_line_ending_is_dropped(piped: str, value: str) -> None:
    assert without_final_newline(piped) == value
    assert read_value("X", io.StringIO(piped)) == value


@pytest.mark.parametrize(("piped", "why"), [("", "empty"), ("\n", "empty"), ("abc", "short")])
def test_an_empty_or_short_value_is_refused_with_exit_2(piped: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as caught:
        read_value("X", io.StringIO(piped))
    assert caught.value.exit_code == 2


def test_a_terminal_gets_a_hidden_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "typed-1")
    assert read_value("DATABASE_URL", Terminal("never read")) == "typed-1"
    assert asked == ["value for DATABASE_URL (not shown): "]


def context(tmp_path: Path, secrets: list[str]) -> RunContext:
    (tmp_path / "api").mkdir(exist_ok=True)
    (tmp_path / "api" / "Dockerfile").write_text("FROM scratch\n")
    cfg = config.parse({
        "project": {"name": "demo"},
        "services": {"api": {"context": "api", "port": 8080, "secrets": secrets},
                     "web": {"context": "api", "port": 8080, "secrets": secrets[:1]}},
        "environments": {"local": {"target": "local",
                                   "proxy_ports": {"api": 8001, "web": 8002}}},
    }, tmp_path)
    return RunContext(cfg, cfg.environment("local"), Runner())


def test_a_known_name_gives_the_services_that_list_it(tmp_path: Path) -> None:
    ctx = context(tmp_path, ["DATABASE_URL", "REDIS_URL"])
    assert known_name(ctx, "DATABASE_URL") == ["api", "web"]
    assert known_name(ctx, "REDIS_URL") == ["api"]


@pytest.mark.parametrize("name", ["hunter2-value", "DATABASE_URL=hunter2-value", "database_url"])
def test_any_other_name_is_refused_without_repeating_it(tmp_path: Path, name: str) -> None:
    ctx = context(tmp_path, ["DATABASE_URL"])
    with pytest.raises(UsageError) as caught:
        known_name(ctx, name)
    assert name not in caught.value.message + (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_with_no_secret_listed_the_hint_says_how_to_list_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        known_name(context(tmp_path, []), "X")
    assert caught.value.hint == ('no service lists a secret yet: add secrets = ["NAME"] to a '
                                 "[services.X] table")


def test_a_write_that_fails_is_one_error_line_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.errors import ShipyardError
    from shipyard.secrets.dotenv_store import DotenvStore

    ctx = context(tmp_path, ["DATABASE_URL"])
    store = DotenvStore.from_context(ctx)
    dotenv_file.make_folder(store.path.parent)
    store.path.write_text("DATABASE_URL=old-value\n")
    store.path.chmod(0o600)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ShipyardError) as caught:
        store.put("DATABASE_URL", "new-value-1234", disable_previous=False)
    assert caught.value.message == ("cannot write .shipyard/secrets/local.env: No space left on "
                                    "device") and caught.value.exit_code == 1
    assert store.path.read_text() == "DATABASE_URL=old-value\n"
    assert dotenv_file.temp_files(store.path) == []
