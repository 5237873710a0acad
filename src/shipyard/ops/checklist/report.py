"""Checklist reports and manual confirmations under `.shipyard/checklists/ENV/`:
`V.json` (what the release gate reads), `V.md` (for people), `V.confirmations.json` (who
confirmed which manual item, and when). Each is written whole (atomic replace)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from shipyard.ops.checklist.checks import FAIL, PASS, PENDING, Check
from shipyard.state.records import read_json, write_json
from shipyard.state.workspace import state_dir, state_path


def folder(root: Path, env: str) -> Path:
    return state_path(root) / "checklists" / env


def report_path(root: Path, env: str, version: str) -> Path:
    return folder(root, env) / f"{version}.json"


def confirmations(root: Path, env: str, version: str) -> dict[str, dict[str, str]]:
    path = folder(root, env) / f"{version}.confirmations.json"
    if not path.exists():
        return {}
    items = read_json(path).get("items", {})
    return {k: v for k, v in items.items() if isinstance(v, dict)}


def save_confirmations(root: Path, env: str, version: str,
                       items: dict[str, dict[str, str]]) -> None:
    state_dir(root)
    write_json(folder(root, env) / f"{version}.confirmations.json",
               {"env": env, "version": version, "items": items})


def manual_checks(manual: dict[str, str], confirmed: dict[str, dict[str, str]]) -> list[Check]:
    checks = []
    for item, text in manual.items():
        done = confirmed.get(item)
        if done:
            checks.append(Check(f"manual:{item}", text, PASS,
                                f"confirmed by {done['by']} at {done['when']}"))
        else:
            checks.append(Check(f"manual:{item}", text, PENDING,
                                f"not confirmed: --confirm {item} --by NAME"))
    return checks


def build(env: str, version: str, generated: str, checks: list[Check]) -> dict[str, Any]:
    passed = not any(c.status in (FAIL, PENDING) for c in checks)
    return {"env": env, "version": version, "generated": generated, "passed": passed,
            "checks": [c.as_json() for c in checks]}


def markdown(report: dict[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "NOT PASSED"
    lines = [f"# Production checklist: {report['version']} → {report['env']}", "",
             f"Generated {report['generated']}. Result: **{verdict}**.", "",
             "| check | status | detail |", "|---|---|---|"]
    for check in report["checks"]:
        cells = [str(check[k]).replace("|", "\\|").replace("\n", " ")
                 for k in ("title", "status", "detail")]
        lines.append(f"| {cells[0]} | {cells[1]} | {cells[2]} |")
    return "\n".join(lines) + "\n"


def write(root: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    state_dir(root)
    json_path = report_path(root, report["env"], report["version"])
    write_json(json_path, report)
    md_path = json_path.with_suffix(".md")
    fd, tmp = tempfile.mkstemp(dir=md_path.parent, prefix=f".{md_path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(markdown(report))
    os.replace(tmp, md_path)
    return json_path, md_path


def load(root: Path, env: str, version: str) -> dict[str, Any] | None:
    path = report_path(root, env, version)
    return read_json(path) if path.exists() else None
