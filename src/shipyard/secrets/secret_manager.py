"""The secret source of GCP environments (`cloudrun`, `gke`): Google Secret Manager, by
reference only. shipyard never reads a value from it.

`[environments.E.secrets]` in shipyard.toml maps each env var a service lists to a secret
(`DATABASE_URL = "db-url"` or `"db-url:7"`; config/targets.py parses it). This source:

- `bindings()` pins each to a numeric version, now: `latest` becomes the newest version that
  is ENABLED (the API's own `latest` alias is the newest version *created*, which may be
  disabled), a pinned version is checked to exist and be enabled. Cloud Run then gets
  `--set-secrets NAME=SECRET:VERSION` and reads the value itself, at instance start.
- `missing()` and `checks()` are the preflight: by name and metadata only (list versions, get a
  version, the secret's IAM policy), never `:access`.
- `reveal()` refuses: no target of this source needs values.

The deploying account therefore needs only `roles/secretmanager.viewer` on the secrets; the
runtime account (`service_account`) needs `roles/secretmanager.secretAccessor`.

The client (google-cloud-secret-manager, REST transport) is made on first use and once per run.
Credentials: `CLOUDSDK_AUTH_ACCESS_TOKEN` when set (as gcloud honours it), else google-auth's
application default credentials. `SHIPYARD_SECRETMANAGER_ENDPOINT` (or gcloud's own
`CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER`) points it at another endpoint, e.g. a test
stand-in on `http://127.0.0.1:PORT`; a plain-http endpoint gets no credentials unless a token is
set, so a real token never travels unencrypted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from shipyard.config import Environment
from shipyard.config.targets import LATEST, GcpSettings, SecretRef
from shipyard.errors import ShipyardError, UsageError
from shipyard.targets.base import Check, SecretBinding

if TYPE_CHECKING:
    from google.cloud.secretmanager import SecretManagerServiceClient

    from shipyard.pipeline.context import RunContext

ENDPOINT_ENV = "SHIPYARD_SECRETMANAGER_ENDPOINT"
GCLOUD_ENDPOINT_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER"
TOKEN_ENV = "CLOUDSDK_AUTH_ACCESS_TOKEN"
ACCESSOR = "roles/secretmanager.secretAccessor"
VIEWER = "roles/secretmanager.viewer"
# Roles that carry secretmanager.versions.access, as granted on the secret itself.
GRANTS_ACCESS = (ACCESSOR, "roles/secretmanager.admin")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CALL_TIMEOUT = 30.0  # seconds per API call
TRANSIENT_TRIES = 3  # a call answered 503 or 429 is tried this often in all
BACKOFF = 0.5  # seconds before the first retry; doubled before each next one
PROJECT_LEVEL_NOTE = ("a grant on the project cannot be read through the Secret Manager API, "
                      "so shipyard asks for one on the secret")

T = TypeVar("T")


@dataclass(frozen=True)
class Resolved:
    """One env var's secret, as the API answers now: the version a deploy would pin, or why
    there is none."""

    env: str
    ref: SecretRef
    name: str  # projects/P/secrets/S
    version: str | None = None  # numeric
    problem: UsageError | None = None

    @property
    def binding(self) -> SecretBinding:
        assert self.version is not None
        return SecretBinding(env=self.env, secret=self.ref.reference, version=self.version)


class SecretManagerSecrets:
    """Secret Manager references for one GCP environment; see the module docstring."""

    def __init__(self, env: str, gcp: GcpSettings, needs: Mapping[str, Sequence[str]],
                 environ: Mapping[str, str] | None = None) -> None:
        self.env = env  # the environment's name, for messages
        self.project = gcp.project
        self.refs = dict(gcp.secrets)  # env var → secret
        self.service_account = gcp.service_account
        self.needs = {svc: list(names) for svc, names in needs.items()}  # svc → NAMES
        self.environ = os.environ if environ is None else environ
        self._client: SecretManagerServiceClient | None = None
        self._preflight: dict[str, Resolved] = {}  # what missing() and checks() saw

    @classmethod
    def for_environment(cls, services: Mapping[str, Sequence[str]], env: Environment,
                        environ: Mapping[str, str] | None = None) -> SecretManagerSecrets:
        if env.gcp is None:
            raise UsageError(f"environment {env.name!r} does not keep its secrets in Secret "
                             "Manager", hint='Secret Manager is for target = "cloudrun" or "gke"')
        return cls(env.name, env.gcp, services, environ)

    @classmethod
    def from_context(cls, ctx: RunContext) -> SecretManagerSecrets:
        return cls.for_environment({s.name: s.secrets for s in ctx.config.services}, ctx.env)

    # --- the SecretSource protocol -------------------------------------------------------

    def missing(self) -> dict[str, list[str]]:
        """service → env names whose secret does not exist, has no enabled version, or whose
        pinned version is not enabled. API failures (no permission, no answer) raise."""
        resolved = self._resolve_for_preflight(self._names())
        return {svc: [n for n in names if resolved[n].problem is not None]
                for svc, names in self.needs.items()}

    def bindings(self) -> dict[str, tuple[SecretBinding, ...]]:
        """Pinned now (never from an earlier answer); UsageError naming every secret that
        cannot be bound, across all services, at once."""
        resolved = {name: self._resolve(name) for name in self._names()}
        problems = [r.problem for r in resolved.values() if r.problem is not None]
        if problems:
            raise UsageError(
                "cannot bind secrets: " + "; ".join(
                    f"{r.env}: {r.problem.message}" for r in resolved.values() if r.problem),
                hint=problems[0].hint)
        return {svc: tuple(resolved[n].binding for n in names)
                for svc, names in self.needs.items()}

    def reveal(self, bindings: Sequence[SecretBinding]) -> dict[str, str]:
        raise ShipyardError(
            f"secret values are never read from Secret Manager (env {self.env}): Cloud Run and "
            "GKE get references (SECRET:VERSION) and read the values themselves",
            hint="a target that injects values itself needs a local environment and its "
                 "secrets_file")

    # --- preflight ------------------------------------------------------------------------

    def checks(self) -> list[Check]:
        """One read-only check per env var: its secret exists, the version a deploy would pin
        is enabled, and the runtime service account may access the secret."""
        return [Check(f"secret {name}", partial(self._check, name)) for name in self._names()]

    def _check(self, name: str) -> str:
        resolved = self._resolve_for_preflight([name])[name]
        if resolved.problem is not None:
            raise resolved.problem
        ref, version = resolved.ref, resolved.version
        which = (f"version {version} (pinned)" if ref.version != LATEST
                 else f"version {version} (newest enabled)")
        return f"{ref.reference} {which}; {self._access(resolved)}"

    def _access(self, resolved: Resolved) -> str:
        ref = resolved.ref
        if not self.service_account:
            raise UsageError(
                f"cannot check who may access {ref.reference}: environments.{self.env}."
                "service_account (the account the services run as) is not set",
                hint=f"set service_account in [environments.{self.env}] of shipyard.toml")
        member = f"serviceAccount:{self.service_account}"
        policy = self._call(resolved, lambda c: c.get_iam_policy(
            request={"resource": resolved.name, "options": {"requested_policy_version": 3}},
            timeout=CALL_TIMEOUT))
        for binding in policy.bindings:
            if binding.role in GRANTS_ACCESS and member.lower() in (
                    m.lower() for m in binding.members):
                condition = (f" (if {binding.condition.title or binding.condition.expression})"
                             if binding.condition.expression else "")
                return f"{member} has {binding.role}{condition}"
        project = ref.project or self.project
        raise UsageError(
            f"{member} may not access {ref.reference}: its IAM policy has no {ACCESSOR} "
            f"binding for that account ({PROJECT_LEVEL_NOTE})",
            hint=f"gcloud secrets add-iam-policy-binding {ref.secret} --project {project} "
                 f"--member {member} --role {ACCESSOR}")

    # --- resolving ------------------------------------------------------------------------

    def _names(self) -> list[str]:
        """Every env name any service lists, once, in config order."""
        return list(dict.fromkeys(n for names in self.needs.values() for n in names))

    def _resolve_for_preflight(self, names: Iterable[str]) -> dict[str, Resolved]:
        """missing() and checks() run in one preflight: one answer per secret serves both."""
        for name in names:
            if name not in self._preflight:
                self._preflight[name] = self._resolve(name)
        return self._preflight

    def _resolve(self, env: str) -> Resolved:
        ref = self.refs.get(env)
        if ref is None:  # config validation maps every listed name; a stale object may not
            raise UsageError(f"{env}: not mapped to a Secret Manager secret in environment "
                             f"{self.env}", hint=f"add {env} = \"SECRET_ID\" to "
                                                 f"[environments.{self.env}.secrets]")
        name = ref.name(self.project)
        project = ref.project or self.project
        if ref.version == LATEST:
            return self._newest_enabled(env, ref, name, project)
        return self._pinned(env, ref, name, project)

    def _newest_enabled(self, env: str, ref: SecretRef, name: str, project: str) -> Resolved:
        from google.api_core.exceptions import NotFound
        from google.cloud.secretmanager import SecretVersion

        base = Resolved(env, ref, name)
        try:
            versions = self._call(base, lambda c: list(c.list_secret_versions(
                request={"parent": name}, timeout=CALL_TIMEOUT)))
        except NotFound:
            return self._not_found(base, project)
        enabled = [_number(v.name) for v in versions if v.state == SecretVersion.State.ENABLED]
        if not enabled:
            return Resolved(env, ref, name, problem=UsageError(
                f"{ref.reference} has no enabled version"
                f" ({len(versions)} version{'' if len(versions) == 1 else 's'}, none enabled)",
                hint=f"add one: gcloud secrets versions add {ref.secret} --project {project} "
                     "--data-file=- (reads the value from stdin); or enable one: gcloud "
                     f"secrets versions enable VERSION --secret {ref.secret} "
                     f"--project {project}"))
        return Resolved(env, ref, name, version=str(max(enabled)))

    def _pinned(self, env: str, ref: SecretRef, name: str, project: str) -> Resolved:
        from google.api_core.exceptions import NotFound
        from google.cloud.secretmanager import SecretVersion

        base = Resolved(env, ref, name)
        try:
            found = self._call(base, lambda c: c.get_secret_version(
                name=f"{name}/versions/{ref.version}", timeout=CALL_TIMEOUT))
        except NotFound:
            try:  # which is missing: the secret, or only that version?
                self._call(base, lambda c: c.get_secret(name=name, timeout=CALL_TIMEOUT))
            except NotFound:
                return self._not_found(base, project)
            return Resolved(env, ref, name, problem=UsageError(
                f"{ref.reference} has no version {ref.version}",
                hint=f"pin a version that exists: gcloud secrets versions list {ref.secret} "
                     f"--project {project}"))
        state = SecretVersion.State(found.state)
        if state != SecretVersion.State.ENABLED:
            fix = (f"enable it (gcloud secrets versions enable {ref.version} --secret "
                   f"{ref.secret} --project {project}) or pin another version in shipyard.toml"
                   if state == SecretVersion.State.DISABLED
                   else "pin another version in shipyard.toml (a destroyed version is gone)")
            return Resolved(env, ref, name, problem=UsageError(
                f"{ref.reference} version {ref.version} is {state.name}",
                hint=fix))
        return Resolved(env, ref, name, version=ref.version)

    def _not_found(self, base: Resolved, project: str) -> Resolved:
        ref = base.ref
        return Resolved(base.env, ref, base.name, problem=UsageError(
            f"{ref.reference} not found in Secret Manager (project {project})",
            hint=f"create it: gcloud secrets create {ref.secret} --project {project} "
                 "--data-file=- (reads the value from stdin); or map "
                 f"{base.env} to another secret in [environments.{self.env}.secrets]"))

    # --- the API --------------------------------------------------------------------------

    @property
    def client(self) -> SecretManagerServiceClient:
        if self._client is None:
            self._client = make_client(self.environ)
        return self._client

    def _call(self, about: Resolved, call: Callable[[SecretManagerServiceClient], T],
              doing: str = "read", role: str = VIEWER) -> T:
        """One API call; NotFound passes through, every other failure becomes a ShipyardError
        naming the secret and the env var (never a value: none is in any message). `doing`
        and `role`: what the call does, and the role it needs, for the messages."""
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        what = f"cannot {doing} {about.ref.reference} ({about.name}) for {about.env}"
        for attempt in range(1, TRANSIENT_TRIES + 1):
            try:
                return call(self.client)
            except api.NotFound:
                raise
            except (api.ServiceUnavailable, api.TooManyRequests) as exc:
                if attempt == TRANSIENT_TRIES:
                    raise ShipyardError(f"{what}: {_status(exc)} after {attempt} tries",
                                        hint="Secret Manager is busy or unavailable; rerun "
                                             "later") from None
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            except api.Forbidden as exc:  # PermissionDenied is one (gRPC); REST raises it plain
                raise ShipyardError(
                    f"{what}: permission denied ({_status(exc)})",
                    hint=f"the deploying account needs {role} on the secret" + (
                        " (metadata and IAM policy only; shipyard never reads values)"
                        if role == VIEWER else "")) from None
            except (api.Unauthorized, auth.GoogleAuthError) as exc:  # Unauthenticated too
                raise ShipyardError(f"{what}: not authenticated ({self._auth_problem(exc)})",
                                    hint=_CREDENTIALS_HINT) from None
            except api.GoogleAPICallError as exc:
                raise ShipyardError(f"{what}: {_status(exc)}",
                                    hint="see the Secret Manager status page, or rerun with "
                                         "the same command") from None
            except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
                raise ShipyardError(f"{what}: Secret Manager did not answer at "
                                    f"{endpoint(self.environ) or 'its default endpoint'} "
                                    f"({type(exc).__name__})",
                                    hint=f"check the network, or unset {ENDPOINT_ENV} / "
                                         f"{GCLOUD_ENDPOINT_ENV} if set by mistake") from None
        raise AssertionError("unreachable")

    def _auth_problem(self, exc: Exception) -> str:
        """google-auth reports a refused token as "cannot be refreshed": say what happened."""
        if self.environ.get(TOKEN_ENV):
            return f"the API refused the access token in {TOKEN_ENV}"
        url = endpoint(self.environ)
        if url is not None and url.startswith("http://"):
            return (f"the API wants credentials, and a plain-http endpoint gets none without "
                    f"{TOKEN_ENV}")
        return _status(exc)


_CREDENTIALS_HINT = ("log in with `gcloud auth application-default login`, or set "
                     f"GOOGLE_APPLICATION_CREDENTIALS, or export {TOKEN_ENV}")


def _number(version_name: str) -> int:
    return int(version_name.rsplit("/", 1)[-1])


def _status(exc: Exception) -> str:
    """The API's own one-line reason (without the request URL the client prepends)."""
    response: Any = getattr(exc, "response", None)
    try:
        error = response.json()["error"]
        return f"{error['status']}: {error['message']}"
    except Exception:  # not a JSON error body: the exception's own words
        return " ".join(str(exc).split())[:300]


def endpoint(environ: Mapping[str, str]) -> str | None:
    """The endpoint override, `scheme://host[:port]`, or None for Google's own."""
    value = environ.get(ENDPOINT_ENV) or environ.get(GCLOUD_ENDPOINT_ENV)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        source = ENDPOINT_ENV if environ.get(ENDPOINT_ENV) else GCLOUD_ENDPOINT_ENV
        raise UsageError(f"{source}={value!r} is not an endpoint URL",
                         hint="write scheme://HOST[:PORT], e.g. http://127.0.0.1:8085")
    return f"{parts.scheme}://{parts.netloc}"


def make_client(environ: Mapping[str, str]) -> SecretManagerServiceClient:
    """The Secret Manager client for this run; see the module docstring for the rules."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials, Credentials
    from google.cloud.secretmanager import SecretManagerServiceClient

    url = endpoint(environ)
    token = environ.get(TOKEN_ENV)
    credentials: Credentials
    if token:
        from google.oauth2.credentials import Credentials as TokenCredentials

        credentials = TokenCredentials(token=token)  # type: ignore[no-untyped-call]
    elif url is not None and url.startswith("http://"):
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    else:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _project = google.auth.default(scopes=list(SCOPES))
        except DefaultCredentialsError as exc:
            raise ShipyardError(f"no Google credentials for Secret Manager: {exc}",
                                hint=_CREDENTIALS_HINT) from None
    options = ClientOptions(api_endpoint=url) if url else None
    # REST rather than gRPC: the transport the stand-in tests exercise is the one that runs.
    return SecretManagerServiceClient(credentials=credentials, transport="rest",
                                      client_options=options)
