"""Fase 2: an environment's secrets by name — set a value (from stdin, never argv), list what
is stored, check that every service can read what it needs. No task ever prints a value."""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import ENV_HELP, expected_failures, run_context

JSON_HELP = "print machine-readable JSON on stdout"


@task(name="secrets-set", help={
    "name": "the secret's name, as a service lists it in `secrets` (e.g. DATABASE_URL)",
    "env": ENV_HELP,
    "disable-previous": "Secret Manager: disable the version that was the newest enabled one "
                        "before (local: refused, the file keeps one value per name)",
    "dry-run": "read and check the value and the store, then say what would change; "
               "write nothing",
})
@expected_failures
def secrets_set(c: Context, name: str, env: str = "local", disable_previous: bool = False,
                dry_run: bool = False) -> None:
    """Set a secret's value, read from stdin (or a hidden prompt), never from the command line.

    `printf %s "$VALUE" | invoke secrets-set DATABASE_URL --env local`. One newline at the end
    of the input is dropped. local: the 0600 dotenv file (secrets_file) is rewritten
    atomically. cloudrun/gke: a new Secret Manager version is added to the mapped secret.
    """
    ctx = run_context(c, env=env, dry_run=dry_run, version_required=False)
    from shipyard.pipeline.secrets import set_secret

    set_secret(ctx, name, disable_previous=disable_previous)


@task(name="secrets-list", help={"env": ENV_HELP, "json": JSON_HELP,
                                 "dry-run": "secrets-list only reads anyway"})
@expected_failures
def secrets_list(c: Context, env: str = "local", json_: bool = False,
                 dry_run: bool = False) -> None:
    """List every secret a service needs: where it is, its versions, who uses it; no values."""
    from shipyard.pipeline.secrets import list_data, show_list

    data = list_data(run_context(c, env=env, dry_run=dry_run, version_required=False))
    if json_:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        show_list(data)


@task(name="secrets-check", help={"env": ENV_HELP, "json": JSON_HELP,
                                  "dry-run": "secrets-check only reads anyway"})
@expected_failures
def secrets_check(c: Context, env: str = "local", json_: bool = False,
                  dry_run: bool = False) -> None:
    """Check every secret a service needs: it exists, is enabled, the runtime can read it.

    local: the secrets file exists, has mode 0600 and holds every name. cloudrun/gke: the
    Secret Manager preflight checks (the version a deploy would pin is enabled, and the
    environment's service_account has secretAccessor on the secret). Exit 1 names each
    failing secret.
    """
    from shipyard.pipeline.secrets import check_data, raise_if_failed, show_checks

    data = check_data(run_context(c, env=env, dry_run=dry_run, version_required=False))
    if json_:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        show_checks(data)
    raise_if_failed(data)
