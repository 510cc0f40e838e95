"""A matcher for the subset of udev rule syntax firmware_config/udev uses: enough to check
that a device with given properties gets the assignments real udev would give it.

Supported: match keys ACTION, SUBSYSTEM, KERNEL, DEVTYPE-as-ENV, ENV{k}, ATTR{k}, ATTRS{k}
with == and != and shell globs (*, ?, [...]); assignments GROUP, MODE, ENV{k}, TAG (= and
+=); LABEL and GOTO. As in udev, every ATTRS key of one rule must match the same device in
the chain from the device up through its parents. Anything else is refused, so a rule
written with a key this does not know fails the test instead of being skipped.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

_PAIR = re.compile(
    r'\s*([A-Z]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ENV", "ATTR", "ATTRS"}
ASSIGN_KEYS = {"GROUP", "MODE", "ENV", "TAG", "LABEL", "GOTO"}


class RuleSyntaxError(ValueError):
    """A line this matcher (and so the tests) cannot read."""


@dataclass(frozen=True)
class Pair:
    key: str
    attr: str | None
    op: str
    value: str


@dataclass(frozen=True)
class Rule:
    line: int
    pairs: tuple[Pair, ...]

    @property
    def label(self) -> str | None:
        return next((p.value for p in self.pairs if p.key == "LABEL"), None)


@dataclass
class Device:
    """A device as udev sees it: its own properties and attributes, and its parents' attributes
    (nearest first)."""

    action: str
    subsystem: str
    kernel: str
    env: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    parents: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Result:
    """What the rules assigned."""

    env: dict[str, str]
    group: str | None = None
    mode: str | None = None
    tags: list[str] = field(default_factory=list)
    matched_lines: list[int] = field(default_factory=list)


def parse(path: Path) -> list[Rule]:
    """The rules of a file; RuleSyntaxError for a line it cannot read."""
    rules: list[Rule] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pairs: list[Pair] = []
        at = 0
        while at < len(line):
            found = _PAIR.match(line, at)
            if found is None:
                raise RuleSyntaxError(f"line {number}: cannot read {line[at:]!r}")
            key, attr, op, value = found.groups()
            is_match = op in ("==", "!=")
            if is_match and key not in MATCH_KEYS:
                raise RuleSyntaxError(f"line {number}: unsupported match key {key}")
            if not is_match and key not in ASSIGN_KEYS:
                raise RuleSyntaxError(f"line {number}: unsupported assignment key {key}")
            if (key in ("ENV", "ATTR", "ATTRS")) != (attr is not None):
                raise RuleSyntaxError(
                    f"line {number}: {key} needs {{name}} exactly when it takes one"
                )
            pairs.append(Pair(key, attr, op, value))
            at = found.end()
        rules.append(Rule(number, tuple(pairs)))
    return rules


def _glob(value: str | None, pattern: str) -> bool:
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def _matches(rule: Rule, device: Device, env: dict[str, str]) -> bool:
    ok = True
    for pair in rule.pairs:
        if pair.op not in ("==", "!="):
            continue
        if pair.key == "ATTRS":
            continue
        actual = {
            "ACTION": device.action,
            "SUBSYSTEM": device.subsystem,
            "KERNEL": device.kernel,
            "ENV": env.get(pair.attr or ""),
            "ATTR": device.attrs.get(pair.attr or ""),
        }[pair.key]
        hit = _glob(actual, pair.value)
        ok = ok and (hit if pair.op == "==" else not hit)
    wanted = [p for p in rule.pairs if p.key == "ATTRS"]
    if wanted:
        chain = [device.attrs, *device.parents]
        ok = ok and any(
            all(_glob(level.get(p.attr or ""), p.value) == (p.op == "==") for p in wanted)
            for level in chain
        )
    return ok


def apply(rules: list[Rule], device: Device) -> Result:
    """Run the rules over one device event, in order, as udev does."""
    result = Result(env=dict(device.env))
    index = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        if rule.label is not None or not _matches(rule, device, result.env):
            continue
        result.matched_lines.append(rule.line)
        for pair in rule.pairs:
            if pair.key == "GOTO":
                targets = [i for i, r in enumerate(rules) if r.label == pair.value]
                if len(targets) != 1:
                    raise RuleSyntaxError(f"line {rule.line}: GOTO {pair.value} has no one LABEL")
                index = targets[0]
            elif pair.key == "ENV" and pair.op not in ("==", "!="):
                result.env[pair.attr or ""] = pair.value
            elif pair.key == "GROUP":
                result.group = pair.value
            elif pair.key == "MODE":
                result.mode = pair.value
            elif pair.key == "TAG":
                result.tags.append(pair.value)
    return result
