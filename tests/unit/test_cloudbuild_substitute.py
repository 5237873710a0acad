"""Substitutions resolved as Cloud Build resolves them (docs: "Substituting variable values"),
and refused as it refuses them, with its own wording, before any step runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shipyard.cloudbuild import parse, substitute
from shipyard.errors import UsageError

FILE = Path("cloudbuild.yaml")
BUILTINS = {"PROJECT_ID": "proj", "TAG_NAME": "v1.1.0", "COMMIT_SHA": "abcdef0123",
            "SHORT_SHA": "abcdef0", "BRANCH_NAME": ""}


def build(text: str) -> parse.Build:
    return parse.parse(yaml.safe_load(text), FILE)


def resolve(text: str, cli: dict[str, str] | None = None) -> substitute.Resolved:
    b = build(text)
    return substitute.resolve(b, substitute.merge(b.substitutions, cli or {}), BUILTINS)


def problem(text: str, cli: dict[str, str] | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        resolve(text, cli)
    assert caught.value.exit_code == 2
    return caught.value.message


def test_braced_unbraced_escaped_and_shell_syntax_left_alone() -> None:
    got = resolve("""
substitutions: {_A: one, _AB: two}
steps:
  - name: img:$SHORT_SHA
    entrypoint: bash
    args: ['$_A-${_A}x', '$_AB', '$$_A', '${_A:-zz} $1 $lower $$HOME', 'p=$PROJECT_ID']
    env: ['V=${_AB}']
    dir: 'sub/${_A}'
""").build.steps[0]
    assert got.name == "img:abcdef0"
    assert got.args == ("one-onex", "two", "$_A", "${_A:-zz} $1 $lower $HOME", "p=proj")
    assert got.env == ("V=two",) and got.dir == "sub/one"


def test_the_command_line_wins_over_the_file() -> None:
    got = resolve("substitutions: {_ENV: staging}\nsteps: [{name: i, entrypoint: x, "
                  "args: ['${_ENV}']}]", {"_ENV": "local"})
    assert got.build.steps[0].args == ("local",) and got.values == {"_ENV": "local"}


def test_dynamic_substitutions_expand_values_bash_style() -> None:
    got = resolve("""
substitutions:
  _VERSION: ${TAG_NAME}
  _UP: ${_NAME^^}
  _NAME: meta-ad-studio
  _DEFAULT: ${_MISSING:-fallback}
  _CUT: ${_NAME:5:2}
  _NOPREFIX: ${_NAME#meta-}
  _NOSUFFIX: ${_NAME%%-*}
  _SWAP: ${_NAME//-/_}
  _PRICE: $$5
options: {dynamicSubstitutions: true}
steps: [{name: i, entrypoint: x, args: ['$_VERSION $_UP $_NAME $_DEFAULT $_CUT',
                                        '$_NOPREFIX $_NOSUFFIX $_SWAP $_PRICE']}]
""")
    assert got.build.steps[0].args == ("v1.1.0 META-AD-STUDIO meta-ad-studio fallback ad",
                                       "ad-studio meta meta_ad_studio $5")


def test_without_dynamic_substitutions_a_value_is_taken_literally() -> None:
    got = resolve("substitutions: {_VERSION: '${TAG_NAME}'}\n"
                  "steps: [{name: i, entrypoint: x, args: ['${_VERSION}']}]")
    assert got.build.steps[0].args == ("${TAG_NAME}",)


def test_an_empty_tag_gives_an_empty_version_not_an_error() -> None:
    """A manual submit without a tag: TAG_NAME is empty; the file's own first step fails."""
    b = build("substitutions: {_VERSION: '${TAG_NAME}'}\noptions: {dynamicSubstitutions: true}"
              "\nsteps: [{name: i, entrypoint: x, args: ['v=${_VERSION}']}]")
    got = substitute.resolve(b, dict(b.substitutions), {**BUILTINS, "TAG_NAME": ""})
    assert got.build.steps[0].args == ("v=",)


def test_used_but_undefined_and_defined_but_unused_are_errors_under_must_match() -> None:
    text = ("substitutions: {_UNUSED: x}\n"
            "steps: [{name: i, entrypoint: x, args: ['${_TYPO}', '$HOME']}]")
    assert problem(text) == (
        'cloudbuild.yaml: bad substitutions: key in the template "HOME" is not a valid '
        'built-in substitution; key in the template "_TYPO" is not matched in the '
        'substitution data; key "_UNUSED" in the substitution data is not matched in the '
        "template")


def test_an_unused_command_line_substitution_is_an_error_too() -> None:
    text = "steps: [{name: i, entrypoint: x}]"
    assert problem(text, {"_REGION": "eu"}) == (
        'cloudbuild.yaml: bad substitutions: key "_REGION" in the substitution data is not '
        "matched in the template")


def test_allow_loose_turns_the_matching_checks_into_warnings_only() -> None:
    got = resolve("substitutions: {_UNUSED: x}\noptions: {substitutionOption: ALLOW_LOOSE}\n"
                  "steps: [{name: i, entrypoint: x, args: ['[${_TYPO}]']}]")
    assert got.build.steps[0].args == ("[]",)
    assert got.warnings == ('key in the template "_TYPO" is not matched in the substitution '
                            'data', 'key "_UNUSED" in the substitution data is not matched in '
                            'the template')
    assert problem("options: {substitutionOption: ALLOW_LOOSE}\n"
                   "steps: [{name: i, entrypoint: x, args: ['$NOT_BUILTIN']}]") == (
        'cloudbuild.yaml: bad substitutions: key in the template "NOT_BUILTIN" is not a '
        "valid built-in substitution")


@pytest.mark.parametrize(("key", "fragment"), [
    ("lower", "substitution key 'lower' does not respect format"),
    ("PROJECT_ID", "substitution key 'PROJECT_ID' does not respect format"),
    ("_" + "A" * 100, "is longer than 100 characters"),
])
def test_bad_keys_are_refused(key: str, fragment: str) -> None:
    assert fragment in problem("steps: [{name: i, entrypoint: x}]", {key: "v"})


def test_overridable_builtins_may_be_given_and_need_not_be_used() -> None:
    got = resolve("steps: [{name: i, entrypoint: x, args: ['$TAG_NAME']}]",
                  {"TAG_NAME": "v9.9.9", "BRANCH_NAME": "main"})
    assert got.build.steps[0].args == ("v9.9.9",)


def test_a_cycle_is_an_error() -> None:
    text = ("substitutions: {_A: '${_B}', _B: '${_A}'}\noptions: {dynamicSubstitutions: true}\n"
            "steps: [{name: i, entrypoint: x, args: ['$_A $_B']}]")
    assert problem(text).startswith("cycle in evaluating substitutions: _A → _B → _A")


def test_a_value_longer_than_cloud_builds_limit_is_refused() -> None:
    assert problem("steps: [{name: i, entrypoint: x, args: [$_BIG]}]",
                   {"_BIG": "x" * 4001}) == "substitution _BIG is longer than 4000 characters"
