"""`python -m shipyard.cloudbuild.local`: run an app's ci-cd/cloudbuild.yaml on this machine.

    nox -s cloudbuild -- --version v1.1.0 [--app DIR] [--env local] [--dry-run]

Reads the very file Cloud Build runs, checks it and its substitutions as Cloud Build does, then
runs its steps here (waitFor order, in parallel where the file allows) against the `local`
environment (`_ENV` is set to it). Exit code: 0, the failed step's exit code, or 2 when the
file or the flags are bad (then no step ran). docs/cloud-build.md says what it cannot model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from shipyard.build.gitrepo import GitRepo
from shipyard.cloudbuild import parse, substitute
from shipyard.cloudbuild.execute import Executor, Report
from shipyard.cloudbuild.schedule import dependencies, waves
from shipyard.errors import EXIT_USAGE, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.state.workspace import state_dir
from shipyard.ui import console, table

CONFIG = Path("ci-cd") / "cloudbuild.yaml"
ENV_KEY = "_ENV"


def builtins(app: Path, version: str, project: str, config: Path) -> dict[str, str]:
    """The built-in substitutions of a tag-triggered build of the app's checkout."""
    commit, branch = _checkout(app)
    return {
        "PROJECT_ID": project, "PROJECT_NUMBER": "0", "BUILD_ID": str(uuid.uuid4()),
        "LOCATION": "local", "TRIGGER_NAME": "", "COMMIT_SHA": commit,
        "REVISION_ID": commit, "SHORT_SHA": commit[:7], "REPO_NAME": app.name,
        "REPO_FULL_NAME": app.name, "BRANCH_NAME": branch, "TAG_NAME": version,
        "REF_NAME": version or branch, "TRIGGER_BUILD_CONFIG_PATH": str(config),
        "SERVICE_ACCOUNT_EMAIL": "", "SERVICE_ACCOUNT": "",
    }


def cli_substitutions(pairs: Sequence[str]) -> dict[str, str]:
    """--substitutions as gcloud takes it: KEY=VALUE[,KEY=VALUE...], repeatable."""
    out: dict[str, str] = {}
    for group in pairs:
        for pair in group.split(","):
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise UsageError(f"--substitutions {pair!r} is not KEY=VALUE",
                                 hint="e.g. --substitutions _REGION=europe-west1")
            out[key] = value
    return out


def plan_env(build: parse.Build, user: dict[str, str], env: str) -> dict[str, str]:
    """`_ENV` names the shipyard environment the steps release to: here, the local one."""
    if ENV_KEY in user or ENV_KEY in set(substitute.keys_used(build)):
        return {**user, ENV_KEY: env}
    console.note(f"note: {build.path} has no {ENV_KEY}: its steps run as written")
    return user


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    app = Path(args.app).resolve()
    config_path = app / args.config
    build = parse.load(config_path)
    cli = cli_substitutions(args.substitutions)
    user = plan_env(build, substitute.merge(build.substitutions, cli), args.env)
    resolved = substitute.resolve(build, user, builtins(app, args.version or "", args.project,
                                                        args.config))
    secrets = _secrets(resolved.build, args.secret_env)
    for warning in resolved.warnings:
        console.note(f"warning (ALLOW_LOOSE): {warning}")
    runner = Runner(dry_run=args.dry_run, echo=console.step,
                    log_path=None if args.dry_run else state_dir(app) / "logs" / "commands.log")
    for value in secrets.values():
        runner.redactor.add(value)
    _header(resolved, args)
    tools = str(Path(sys.executable).parent)  # nox, invoke, shipyard of this installation
    executor = Executor(runner, app, env={"PATH": tools + os.pathsep + os.environ.get(
        "PATH", "")}, secrets=secrets)
    # With --json, stdout carries the summary alone: a dry run's plan lines go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        report = executor.run(resolved.build)
    _summary(report, args.json)
    return report.exit_code


def _secrets(build: parse.Build, mapped: Sequence[str]) -> dict[str, str]:
    """secretEnv values come from this process's environment, and only for names mapped with
    --secret-env NAME: never from argv, never guessed."""
    needed = set(build.secret_env) | {n for s in build.steps for n in s.secret_env}
    unmapped = sorted(needed - set(mapped))
    if unmapped:
        raise UsageError(f"secretEnv {', '.join(unmapped)} is not mapped for a local run",
                         hint="export each one and pass --secret-env NAME (the value is read "
                              "from the environment, never from the command line)")
    missing = sorted(n for n in needed if not os.environ.get(n))
    if missing:
        raise UsageError(f"--secret-env {', '.join(missing)}: not set in the environment",
                         hint="export it first")
    return {name: os.environ[name] for name in needed}


def _header(resolved: substitute.Resolved, args: argparse.Namespace) -> None:
    build = resolved.build
    console.note(f"local parity of {build.path} (steps' images are not pulled: each step's "
                 f"entrypoint runs on this machine)")
    for key, value in sorted(resolved.values.items()):
        console.note(f"  {key}={value}")
    order = " → ".join(" ‖ ".join(build.steps[i].label for i in wave)
                       for wave in waves(dependencies(build.steps)))
    console.note(f"  order: {order}")


def _summary(report: Report, as_json: bool) -> None:
    rows = [(o.step.label, o.status, "" if o.exit_code is None else str(o.exit_code),
             f"{o.seconds:.1f}s") for o in report.outcomes]
    if as_json:
        print(json.dumps({"status": report.status, "seconds": round(report.seconds, 3),
                          "steps": [{"step": o.step.id or str(o.step.index),
                                     "status": o.status, "exit": o.exit_code,
                                     "seconds": round(o.seconds, 3)}
                                    for o in report.outcomes]}, indent=2))
    else:
        table(f"build {report.status} in {report.seconds:.1f}s",
              ("step", "status", "exit", "duration"), rows)
    if report.failed is not None:
        console.error(f"step {report.failed.step.label} {report.failed.status.lower()}"
                      f" (exit {report.exit_code}): the build stopped there",
                      "its output is above; fix it and rerun (every shipyard stage resumes)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        console.error(message, "python -m shipyard.cloudbuild.local --help")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nox -s cloudbuild --", description=__doc__.splitlines()[0])
    p.add_argument("--version", help="the release tag: TAG_NAME, as a tag-triggered build "
                                     "has it (omit it: a manual submit without a tag)")
    p.add_argument("--app", default=".", help="the app's checkout (default: this directory)")
    p.add_argument("--env", default="local",
                   help="the shipyard environment _ENV names (default: local)")
    p.add_argument("--config", type=Path, default=CONFIG,
                   help=f"the build file, relative to the app (default: {CONFIG})")
    p.add_argument("--substitutions", action="append", default=[], metavar="KEY=VALUE,...",
                   help="substitutions on top of the file's, as gcloud builds submit takes them")
    p.add_argument("--secret-env", action="append", default=[], metavar="NAME",
                   help="let steps have secretEnv NAME, read from this environment")
    p.add_argument("--project", default="local", help="PROJECT_ID (default: local)")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything and print each step's command line; run none")
    p.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    return p


def _checkout(app: Path) -> tuple[str, str]:
    """HEAD's commit and branch ("" when detached, as in a tag-triggered build)."""
    try:
        repo = GitRepo.open(app)
        return repo.head, repo.current_branch() or ""
    except ShipyardError:  # not a git checkout: Cloud Build leaves these empty too
        return "", ""


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except ShipyardError as exc:
        console.error(exc.message, exc.hint)
        code = exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted", "rerun the same command")
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
