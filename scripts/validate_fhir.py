#!/usr/bin/env python3
"""Validate FHIR R4 JSON resources with the `fhir.resources` models (R4 = fhir.resources 6.x on pydantic 1).

Usage: validate_fhir.py PATH [PATH ...]   (files, or directories searched for *.json)

Each file holds one resource. It is validated as a whole by its resourceType (a Bundle or Parameters together
with the resources inside it). One line per failure, "FILE: ERROR", on stdout; exit status 1 when any file fails,
2 when the validator itself cannot run (fhir.resources missing or of the wrong FHIR version), else 0.

The models check structure, element names, cardinality, primitive formats and value[x] choices, but not code
bindings or invariants; `rules()` adds the R4 ones a gateway's resources can break (ele-1, required bindings of
the elements it emits, obs-6/obs-7, bdl-1/bdl-2, inv-1, per-1), reported as "rule NAME: ...".

Set up:  python3 -m venv .venv-fhir && .venv-fhir/bin/pip install "fhir.resources==6.4.0" "pydantic<2"
"""

import json
import sys
from pathlib import Path


def load_validator():
    try:
        import fhir.resources as resources
    except ImportError as error:
        sys.exit(f"validate_fhir: {error}; install with: pip install 'fhir.resources==6.4.0' 'pydantic<2'")
    version = getattr(resources, "__fhir_version__", "?")
    if not version.startswith("4.0."):
        sys.exit(f"validate_fhir: fhir.resources {resources.__version__} models FHIR {version}, not R4 (4.0.x); "
                 "install fhir.resources==6.4.0 with pydantic<2")
    return resources.construct_fhir_element


def files(arguments):
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            yield from sorted(path.rglob("*.json"))
        else:
            yield path


# Required bindings (R4 value sets) of the coded elements the gateway emits, by resource type and element path.
REQUIRED_CODES = {
    ("Observation", "status"): {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                "entered-in-error", "unknown"},
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch", "batch-response",
                         "history", "searchset", "collection"},
    ("Bundle", "entry.search.mode"): {"match", "include", "outcome"},
    ("Bundle", "entry.request.method"): {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"},
    ("OperationOutcome", "issue.severity"): {"fatal", "error", "warning", "information"},
    ("OperationOutcome", "issue.code"): {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
        "forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found",
        "deleted", "too-long", "code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient",
        "lock-error", "no-store", "exception", "timeout", "incomplete", "throttled", "informational"},
    ("CapabilityStatement", "status"): {"draft", "active", "retired", "unknown"},
    ("CapabilityStatement", "kind"): {"instance", "capability", "requirements"},
    ("CapabilityStatement", "fhirVersion"): {"4.0.0", "4.0.1"},
    ("CapabilityStatement", "rest.mode"): {"client", "server"},
    ("CapabilityStatement", "rest.resource.interaction.code"): {
        "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"},
    ("CapabilityStatement", "rest.resource.searchParam.type"): {
        "number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"},
    ("Device", "status"): {"active", "inactive", "entered-in-error", "unknown"},
    ("Device", "deviceName.type"): {"udi-label-name", "user-friendly-name", "patient-reported-name",
                                    "manufacturer-name", "model-name", "other"},
    ("Provenance", "entity.role"): {"derivation", "revision", "quotation", "source", "removal"},
}


def values_at(node, dotted):
    """Every value at a dotted element path below `node`, through arrays."""
    nodes = [node]
    for key in dotted.split("."):
        found = []
        for item in nodes:
            value = item.get(key) if isinstance(item, dict) else None
            found.extend(value if isinstance(value, list) else ([] if value is None else [value]))
        nodes = found
    return nodes


def rules(node, where="", inside=None):
    """R4 rules the models do not check, for every resource in `node` (Bundle entries, Parameters resources)."""
    found = []
    if node is None:
        found.append(f"{where or 'root'}: rule ele-1: null is not a FHIR value")
    elif isinstance(node, str) and node.strip() == "":
        found.append(f"{where}: rule ele-1: empty string")
    elif isinstance(node, (list, dict)) and len(node) == 0:
        found.append(f"{where}: rule ele-1: empty {'array' if isinstance(node, list) else 'object'}")
    if isinstance(node, list):
        for index, item in enumerate(node):
            found += rules(item, f"{where}[{index}]", inside)
        return found
    if not isinstance(node, dict):
        return found
    kind = node.get("resourceType") if isinstance(node.get("resourceType"), str) else None
    here = where + "." if where else ""
    if kind:
        for (resource, path), allowed in REQUIRED_CODES.items():
            if resource == kind:
                found += [f"{here}{path}: rule binding: '{value}' is not in the required value set"
                          for value in values_at(node, path) if value not in allowed]
        if kind == "Observation":
            values = [key for key in node if key.startswith("value")]
            if values and "dataAbsentReason" in node:
                found.append(f"{here}dataAbsentReason: rule obs-6: only when there is no value[x]")
            codes = {(c.get("system"), c.get("code")) for c in values_at(node, "code.coding")}
            for index, component in enumerate(node.get("component") or []):
                if any(key.startswith("value") for key in component) and "dataAbsentReason" in component:
                    found.append(f"{here}component[{index}]: rule obs-6: dataAbsentReason with a value[x]")
                if values and codes & {(c.get("system"), c.get("code")) for c in values_at(component, "code.coding")}:
                    found.append(f"{here}component[{index}]: rule obs-7: component code equals the code, with a value")
        if kind == "Bundle":
            if "total" in node and node.get("type") not in ("searchset", "history"):
                found.append(f"{here}total: rule bdl-1: only for a searchset or history")
            if node.get("type") != "searchset" and any("search" in e for e in node.get("entry") or []):
                found.append(f"{here}entry.search: rule bdl-2: only in a searchset")
        if kind == "Parameters":
            for index, parameter in enumerate(node.get("parameter") or []):
                kinds = [k for k in parameter if k.startswith("value") or k in ("resource", "part")]
                if len(kinds) != 1:
                    found.append(f"{here}parameter[{index}]: rule inv-1: one of value[x], resource or part, not {kinds}")
    period_start, period_end = node.get("start"), node.get("end")
    if isinstance(period_start, str) and isinstance(period_end, str) and period_start[:19] > period_end[:19] \
            and period_start[19:] == period_end[19:]:
        found.append(f"{where}: rule per-1: start {period_start} is after end {period_end}")
    for key, value in node.items():
        if key != "resourceType":
            found += rules(value, here + key, kind or inside)
    return found


def problems(construct, path):
    """The failures of one file, as text (empty when it validates)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"not readable JSON: {error}"]
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return ["not a FHIR resource (no resourceType)"]
    found = []
    try:
        construct(data["resourceType"], data)
    except LookupError as error:
        return [str(error)]
    except Exception as error:  # pydantic.ValidationError: one entry per wrong element
        errors = getattr(error, "errors", None)
        if callable(errors):
            found += [f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg')}" for item in errors()]
        else:
            found.append(f"{type(error).__name__}: {error}")
    return found + rules(data)


def main(arguments):
    if not arguments:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    construct = load_validator()
    checked = failed = 0
    for path in files(arguments):
        checked += 1
        found = problems(construct, path)
        if found:
            failed += 1
        for problem in found:
            print(f"{path}: {problem}")
    if checked == 0:
        print("validate_fhir: no JSON files found in " + " ".join(arguments), file=sys.stderr)
        return 2
    print(f"validate_fhir: {checked - failed} of {checked} file(s) valid FHIR R4", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
