"""The local secret source: dotenv parsing, the 0600 rule, environment overrides, masking."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from shipyard.config import parse
from shipyard.errors import EXIT_FAILED, EXIT_USAGE, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.pipeline.context import RunContext
from shipyard.secrets import secret_source
from shipyard.secrets.dotenv import DotenvSecrets
from shipyard.secrets.dotenv import parse as parse_dotenv
from shipyard.targets.base import SecretBinding


def test_comments_blank_lines_quotes_and_export() -> None:
    text = (
        "# secrets for local\n"
        "\n"
        "PLAIN=postgres://u:p@db:5432/app\n"
        "  SPACED = value with spaces   \n"
        "export EXPORTED=redis://cache:6379\n"
        "SINGLE='k#1 $HOME \\n'\n"
        'DOUBLE="say \\"hi\\" \\\\ done"  # trailing comment\n'
        "INLINE=abc123 # a comment\n"
        "HASH=abc#def\n"
        "EMPTY=\n"
        "DOLLAR=$OTHER_${VAR}\n"
        "EQUALS=a=b=c\n"
    )
    assert parse_dotenv(text, "local.env") == {
        "PLAIN": "postgres://u:p@db:5432/app",
        "SPACED": "value with spaces",
        "EXPORTED": "redis://cache:6379",
        "SINGLE": "k#1 $HOME \\n",
        "DOUBLE": 'say "hi" \\ done',
        "INLINE": "abc123",
        "HASH": "abc#def",
        "EMPTY": "",
        "DOLLAR": "$OTHER_${VAR}",
        "EQUALS": "a=b=c",
    }


def test_later_line_wins_and_crlf_is_fine() -> None:
    assert parse_dotenv("A=one\r\nA=two\r\n", "f") == {"A": "two"}


@pytest.mark.parametrize("line, problem", [
    ("NOEQUALS s3cr3t-value", "expected NAME=value"),
    ("1BAD=s3cr3t-value", "expected NAME=value"),
    ("MY-NAME=s3cr3t-value", "expected NAME=value"),
    ("QUOTED='s3cr3t-value", "QUOTED: unterminated ' quote"),
    ('QUOTED="s3cr3t-value', 'QUOTED: unterminated " quote'),
    ("QUOTED='s3cr3t'-value", "QUOTED: unexpected text after the closing quote"),
])
def test_a_bad_line_is_named_by_number_never_by_value(line: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_dotenv(f"# header\nGOOD=fine\n{line}\n", "/app/.shipyard/secrets/local.env")
    message = refused.value.message
    assert message.startswith("/app/.shipyard/secrets/local.env line 3: ")
    assert problem in message
    assert "s3cr3t" not in message and "s3cr3t" not in (refused.value.hint or "")
    assert refused.value.exit_code == EXIT_USAGE


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o700, 0o666])
def test_a_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "local.env", "TOKEN=abcdef\n", mode)
    with pytest.raises(ShipyardError) as refused:
        DotenvSecrets(path, Runner()).require(["TOKEN"])
    assert str(path) in refused.value.message and f"{mode:04o}" in refused.value.message
    assert refused.value.hint == f"chmod 600 {path}"
    assert refused.value.exit_code == EXIT_FAILED
    assert "abcdef" not in refused.value.message


def test_0600_and_0400_are_fine(tmp_path: Path) -> None:
    for mode in (0o600, 0o400):
        path = write(tmp_path / f"{mode:o}.env", "TOKEN=abcdef\n", mode)
        assert DotenvSecrets(path, Runner()).require(["TOKEN"]) == {"TOKEN": "abcdef"}


def test_environment_overrides_and_fills_in(tmp_path: Path) -> None:
    path = write(tmp_path / "local.env", "A=from-file\nB=from-file\n")
    source = DotenvSecrets(path, Runner(), environ={"B": "from-env", "C": "only-env", "D": ""})
    assert source.require(["A", "B", "C"]) == {"A": "from-file", "B": "from-env",
                                               "C": "only-env"}


def test_missing_names_listed_never_values(tmp_path: Path) -> None:
    path = write(tmp_path / "local.env", "PRESENT=hunter2-value\n")
    source = DotenvSecrets(path, Runner(), environ={})
    with pytest.raises(UsageError) as refused:
        source.require(["PRESENT", "DATABASE_URL", "REDIS_URL"])
    assert refused.value.message == "missing secrets: DATABASE_URL, REDIS_URL"
    assert refused.value.hint == (f'set each: printf %s "$VALUE" | invoke secrets-set '
                                  f"DATABASE_URL --env local (it writes {path}); or export them")
    assert "hunter2" not in refused.value.message + (refused.value.hint or "")


def test_no_file_means_environment_only(tmp_path: Path) -> None:
    source = DotenvSecrets(tmp_path / "absent.env", Runner(), environ={"TOKEN": "from-env"})
    assert source.require(["TOKEN"]) == {"TOKEN": "from-env"}
    assert source.require([]) == {}


def test_too_short_to_mask_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "local.env", "PIN=123\n")
    with pytest.raises(UsageError) as refused:
        DotenvSecrets(path, Runner(), environ={}).require(["PIN"])
    assert refused.value.message == "secret value too short to be masked in output: PIN"
    assert refused.value.hint == "a secret needs at least 4 characters"


def test_every_value_is_masked_in_what_the_runner_prints(tmp_path: Path) -> None:
    path = write(tmp_path / "local.env", "USED=s3cr3t-used\nUNUSED=s3cr3t-unused\n")
    runner = Runner()
    DotenvSecrets(path, runner, environ={"ENVONLY": "s3cr3t-env"}).require(["USED", "ENVONLY"])
    shown = runner.quote(("echo", "s3cr3t-used", "x=s3cr3t-unused", "s3cr3t-env"))
    assert shown == "echo '***' 'x=***' '***'"


CONFIG = {
    "project": {"name": "demo"},
    "services": {
        "api": {"context": ".", "dockerfile": "Dockerfile", "port": 8080,
                "secrets": ["DATABASE_URL", "RUNWAYML_API_KEY"]},
        "web": {"context": ".", "dockerfile": "Dockerfile", "port": 8080,
                "secrets": ["DATABASE_URL"]},
    },
    "environments": {"local": {"target": "local", "proxy_ports": {"api": 8081, "web": 8082},
                               "secrets_file": "secrets/local.env"}},
}


def test_per_service_values_and_missing_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    config = parse(CONFIG, tmp_path)
    env = config.environment("local")
    write(tmp_path / "secrets" / "local.env", "DATABASE_URL=postgres://db/app\n")
    source = secret_source(RunContext(config, env, Runner()))
    assert isinstance(source, DotenvSecrets)
    assert source.missing() == {"api": ["RUNWAYML_API_KEY"], "web": []}
    with pytest.raises(UsageError, match="missing secret: RUNWAYML_API_KEY"):
        source.bindings()
    runner = Runner()
    filled = DotenvSecrets.for_environment(config, env, runner,
                                           environ={"RUNWAYML_API_KEY": "rw-key-1"})
    bindings = filled.bindings()
    # Bindings carry names and versions only; values come out of reveal() alone.
    assert bindings == {
        "api": (SecretBinding("DATABASE_URL", "DATABASE_URL", "current"),
                SecretBinding("RUNWAYML_API_KEY", "RUNWAYML_API_KEY", "current")),
        "web": (SecretBinding("DATABASE_URL", "DATABASE_URL", "current"),),
    }
    assert "postgres://db/app" not in repr(bindings)
    assert filled.reveal(bindings["api"]) == {"DATABASE_URL": "postgres://db/app",
                                              "RUNWAYML_API_KEY": "rw-key-1"}
    assert runner.redactor("key rw-key-1") == "key ***"


def test_a_fifo_or_a_symlink_as_the_secrets_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.env"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ShipyardError) as refused:
        DotenvSecrets(fifo, Runner(), {"api": ["DATABASE_URL"]}).missing()
    assert time.monotonic() - started < 5  # it used to block on open() forever
    assert refused.value.message == f"{fifo} is not a regular file"
    real = tmp_path / "real.env"
    write(real, "DATABASE_URL=postgres://db/app\n")
    real.chmod(0o644)
    link = tmp_path / "link.env"
    link.symlink_to(real)
    with pytest.raises(ShipyardError) as refused:
        DotenvSecrets(link, Runner(), {"api": ["DATABASE_URL"]}).missing()
    assert refused.value.message == (f"{link} is a symbolic link: the secrets file must be a "
                                     "regular file")
    assert "chmod" not in (refused.value.hint or "")  # a chmod of the link changes its target
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
