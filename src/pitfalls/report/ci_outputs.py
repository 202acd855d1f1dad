"""Outputs for CI systems, written from a `report.json` dict: JUnit XML (one test case per rule),
SARIF 2.1.0 (rules with their documentation, results pointing at the offending files) and
GitHub Actions workflow commands (annotations on the run).

Each reads only the report (and the rule catalogue's documentation for SARIF), never the images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

from pitfalls._version import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
RANK = ("info", "warning", "error")
MAX_LOCATIONS = 20  # per result: enough to act on; the report holds the rest


def finding_paths(finding: dict[str, Any]) -> list[str]:
    """The image paths a finding names (relative to the dataset root), in order, once each."""
    seen: dict[str, None] = {}
    for item in finding.get("items") or []:
        if not isinstance(item, dict):
            continue
        paths = item.get("paths")
        if paths is None and item.get("path") is not None:
            paths = [item["path"]]
        for p in paths or []:
            seen.setdefault(str(p), None)
    return list(seen)


def _at_or_above(severity: str, fail_on: str) -> bool:
    if fail_on == "never" or severity not in RANK or fail_on not in RANK:
        return False
    return RANK.index(severity) >= RANK.index(fail_on)


def _rules_in(report: dict[str, Any]) -> list[str]:
    """Every rule the report speaks of, in first-seen order: findings, passed, skipped, errors."""
    codes: dict[str, None] = {}
    for f in report.get("findings") or []:
        codes.setdefault(str(f.get("rule")), None)
    for code in report.get("passed") or []:
        codes.setdefault(str(code), None)
    for entry in [*(report.get("skipped") or []), *(report.get("errors") or [])]:
        codes.setdefault(str(entry.get("rule")), None)
    return list(codes)


# -- JUnit --------------------------------------------------------------------------------------
def junit_xml(report: dict[str, Any], fail_on: str = "error") -> str:
    """JUnit XML: a test suite `pitfalls`, one test case per rule. A rule with a finding at or
    above `fail_on` fails (the finding's summary as the message, its paths in the body); one
    that crashed is an error; one skipped for want of an input is skipped with the reason; the
    rest pass (findings below `fail_on` go to the case's system-out)."""
    findings: dict[str, list[dict[str, Any]]] = {}
    for f in report.get("findings") or []:
        findings.setdefault(str(f.get("rule")), []).append(f)
    skipped = {str(s.get("rule")): str(s.get("reason", "")) for s in report.get("skipped") or []}
    errors = {str(e.get("rule")): str(e.get("error") or e.get("reason") or "")
              for e in report.get("errors") or []}
    suite = ET.Element("testsuite", name="pitfalls")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for code in _rules_in(report):
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname="pitfalls", name=code)
        mine = findings.get(code, [])
        failing = [f for f in mine if _at_or_above(str(f.get("severity")), fail_on)]
        if code in errors:
            counts["errors"] += 1
            ET.SubElement(case, "error", message=errors[code], type="internal error").text = \
                errors[code]
        elif failing:
            counts["failures"] += 1
            worst = max(failing, key=lambda f: RANK.index(str(f.get("severity"))))
            node = ET.SubElement(case, "failure", message=str(worst.get("summary", "")),
                                 type=str(worst.get("severity")))
            node.text = "\n\n".join(_finding_text(f) for f in failing)
        elif code in skipped and not mine:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=skipped[code])
        if mine and not failing:
            ET.SubElement(case, "system-out").text = "\n\n".join(_finding_text(f) for f in mine)
    for key, value in counts.items():
        suite.set(key, str(value))
    suites = ET.Element("testsuites", {"name": f"pitfalls {__version__}",
                                       **{k: str(v) for k, v in counts.items()}})
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _finding_text(f: dict[str, Any]) -> str:
    lines = [f"{f.get('rule')} [{f.get('severity')}] {f.get('title', '')}",
             str(f.get("summary", ""))]
    paths = finding_paths(f)
    lines += [f"  {p}" for p in paths[:MAX_LOCATIONS]]
    if len(paths) > MAX_LOCATIONS:
        lines.append(f"  … and {len(paths) - MAX_LOCATIONS} more in report.json")
    return "\n".join(lines)


# -- SARIF --------------------------------------------------------------------------------------
def artifact_uri(root: str | None, path: str, base: Path) -> str:
    """The URI of an image for a code-scanning tool: relative to `base` (the repository, the
    working folder of the run) when the dataset lies inside it, else an absolute file URI.
    Embedded images (`shard#key`) point at their shard."""
    path = path.split("#", 1)[0]
    full = Path(root or ".") / path
    try:
        return PurePosixPath(full.resolve().relative_to(base.resolve())).as_posix()
    except ValueError:
        return full.resolve().as_uri()


def sarif_log(report: dict[str, Any], base: str | Path | None = None,
              lang: str = "en") -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log: one run of the tool `pitfalls`, its rules with their
    documentation (what, why, how to fix, cases), a result per finding located at its files."""
    from pitfalls.docs import rule_text
    from pitfalls.rules import registry

    base = Path(base) if base is not None else Path.cwd()
    catalogue = registry()
    root = (report.get("dataset") or {}).get("root")
    codes = [c for c in _rules_in(report) if c in catalogue]
    index = {code: i for i, code in enumerate(codes)}
    rules = []
    for code in codes:
        rule = catalogue[code]
        rules.append({
            "id": code, "name": rule.name,
            "shortDescription": {"text": rule.title.get_text(lang)},
            "fullDescription": {"text": rule.doc.what.get_text(lang)},
            "help": {"text": rule.doc.fix.get_text(lang), "markdown": rule_text(code, lang)},
            "defaultConfiguration": {"level": SARIF_LEVEL.get(rule.severity, "warning")},
            "properties": {"phase": rule.phase, "tags": [rule.phase, "image-recognition"]},
        })
    results = []
    for f in report.get("findings") or []:
        code = str(f.get("rule"))
        paths = finding_paths(f)
        result: dict[str, Any] = {
            "ruleId": code, "level": SARIF_LEVEL.get(str(f.get("severity")), "warning"),
            "message": {"text": str(f.get("summary") or f.get("title") or code)},
            "properties": {"metrics": f.get("metrics") or {}, "phase": f.get("phase")},
        }
        if code in index:
            result["ruleIndex"] = index[code]
        if paths:
            result["locations"] = [
                {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(root, p, base)}}}
                for p in paths[:MAX_LOCATIONS]]
        results.append(result)
    notifications = [{"level": "error", "message": {"text": f"{e.get('rule')}: {e.get('error')}"},
                      "descriptor": {"id": str(e.get("rule"))}}
                     for e in report.get("errors") or []]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "pitfalls", "version": __version__,
                            "informationUri": "https://pypi.org/project/pitfalls/",
                            "rules": rules}},
        "results": results,
        "invocations": [{"executionSuccessful": not notifications,
                         "toolExecutionNotifications": notifications}],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def sarif_json(report: dict[str, Any], base: str | Path | None = None, lang: str = "en") -> str:
    return json.dumps(sarif_log(report, base, lang), ensure_ascii=False, indent=2) + "\n"


# -- GitHub Actions -----------------------------------------------------------------------------
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: dict[str, Any], base: str | Path | None = None,
                       limit: int = 50) -> Iterator[str]:
    """Workflow commands (`::error file=…,title=…::message`) for the findings, worst first: the
    run's summary page and the pull request show them. GitHub shows at most 10 of each level per
    step, so `limit` keeps the log short."""
    base = Path(base) if base is not None else Path.cwd()
    root = (report.get("dataset") or {}).get("root")
    command = {"error": "error", "warning": "warning", "info": "notice"}
    ordered = sorted(report.get("findings") or [],
                     key=lambda f: -RANK.index(str(f.get("severity", "info"))))
    for f in ordered[:limit]:
        paths = finding_paths(f)
        title = f"{f.get('rule')} {f.get('title', '')}"
        props = [f"title={_escape_property(title)}"]
        if paths:
            uri = artifact_uri(root, paths[0], base)
            if not uri.startswith("file:"):
                props.insert(0, f"file={_escape_property(uri)}")
        yield (f"::{command.get(str(f.get('severity')), 'notice')} {','.join(props)}::"
               f"{_escape_data(str(f.get('summary', '')))}")
    for e in report.get("errors") or []:
        title = f"{e.get('rule')} internal error"
        yield f"::error title={_escape_property(title)}::{_escape_data(str(e.get('error', '')))}"


def in_github_actions(env: dict[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def write_ci_outputs(report: dict[str, Any], *, junit: Path | None = None,
                     sarif: Path | None = None, fail_on: str = "error",
                     lang: str = "en") -> list[Path]:
    """Write the requested files; returns what was written."""
    written: list[Path] = []
    for path, text in ((junit, lambda: junit_xml(report, fail_on)),
                       (sarif, lambda: sarif_json(report, lang=lang))):
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(), encoding="utf-8")
        written.append(path)
    return written
