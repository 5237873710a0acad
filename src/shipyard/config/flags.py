"""The `[flags.NAME]` tables: feature flags a team can switch without a rebuild (Fase 5).

    [flags.video_generation]
    service = "api-server"                # the service whose setting it is
    env = "VIDEO_GENERATION_ENABLED"      # the plain env var that carries it
    on = "true"                           # the variable's value when the flag is on
    off = "false"                         # ... and when it is off
    description = "RunwayML video jobs"   # optional, shown by `invoke --help flag` users

A flag's default state is what `[services.SERVICE.env]` sets the variable to (it must be the
`on` or the `off` value); without it there, the flag starts `on`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.config.schema import Table, env_var_problem

FLAG_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
STATES = ("on", "off")


@dataclass(frozen=True)
class Flag:
    name: str
    service: str
    env: str
    on: str
    off: str
    default: str  # "on" or "off"
    description: str = ""

    def value(self, state: str) -> str:
        """The env var's value for a state ("on"/"off")."""
        return self.on if state == "on" else self.off


def parse_flags(t: Table, services: Mapping[str, tuple[Mapping[str, str], tuple[str, ...]]]
                ) -> dict[str, Flag]:
    """`services`: name → (its env table, its secret names)."""
    flags: dict[str, Flag] = {}
    claimed: dict[tuple[str, str], str] = {}
    for name, _ in t.items():
        if FLAG_NAME.fullmatch(name) is None:
            raise t.fail(t.key(name), "a flag name is lowercase letters, digits and '_', "
                                      "starting with a letter")
        entry = t.child(name)
        service = entry.get("service", str)
        if service not in services:
            raise entry.fail(entry.key("service"), f"unknown service {service!r} (known: "
                             f"{', '.join(sorted(services))})")
        env = entry.get("env", str)
        if problem := env_var_problem(env):
            raise entry.fail(entry.key("env"), problem)
        config_env, secrets = services[service]
        if env in secrets:
            raise entry.fail(entry.key("env"), f"{env} is a secret of {service}; a flag "
                                               "is a plain setting")
        if (service, env) in claimed:
            raise entry.fail(entry.key("env"), f"{service}'s {env} is already flag "
                                               f"{claimed[(service, env)]!r}")
        on, off = entry.get("on", str, "true"), entry.get("off", str, "false")
        for key, value in (("on", on), ("off", off)):
            if not value or any(c in value for c in "\n\r\x00"):
                raise entry.fail(entry.key(key), "must be a non-empty single-line value")
        if on == off:
            raise entry.fail(entry.key("off"), "must differ from `on`")
        default = "on"
        if env in config_env:
            states = {on: "on", off: "off"}
            if config_env[env] not in states:
                raise entry.fail(entry.key("env"), f"services.{service}.env.{env} is "
                                 f"{config_env[env]!r}: set it to {on!r} (on) or {off!r} (off)")
            default = states[config_env[env]]
        flags[name] = Flag(name, service, env, on, off, default,
                           entry.get("description", str, ""))
        claimed[(service, env)] = name
        entry.done()
    return flags
