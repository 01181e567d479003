#!/usr/bin/env python3
"""Read-back oracle: how pySigma's own readers see emitted Sigma text.

- YAML: every text is loaded with `yaml.safe_load_all`, exactly as pySigma's
  `SigmaCollection.from_yaml` loads a file (PyYAML, YAML 1.1 resolvers: `on` is a boolean, `1:20`
  is 80, `2001-12-14` a date...).
- Regular expressions: every pattern is compiled with Python's `re`, as pySigma's `|re` modifier
  does (`SigmaRegularExpression.compile`).

stdin (JSON): {"yaml": [{"name": "...", "text": "..."}], "regex": ["...", ...]}
stdout (JSON): {"yaml": [{"name", "docs": [typed, ...], "error": null | "message"}],
                "regex": [{"pattern", "error": null | "message"}]}
A typed value keeps the type PyYAML resolved, so a string that came back as another type shows:
  {"str": s} {"int": n} {"bool": b} {"null": null} {"float": repr} {"seq": [typed...]}
  {"map": [[typed key, typed value], ...]} {"other": type name, "repr": repr}
Exit codes: 0 the checks ran (whatever they found), 2 bad input.
"""
import json
import re
import sys

import yaml


def typed(v):
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": v}
    if isinstance(v, str):
        return {"str": v}
    if v is None:
        return {"null": None}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, list):
        return {"seq": [typed(x) for x in v]}
    if isinstance(v, dict):
        return {"map": [[typed(k), typed(x)] for k, x in v.items()]}
    return {"other": type(v).__name__, "repr": repr(v)}


def main():
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print(f"readback: stdin is not JSON: {e}", file=sys.stderr)
        return 2
    out = {"yaml": [], "regex": []}
    for item in doc.get("yaml", []):
        try:
            docs = [typed(d) for d in yaml.safe_load_all(item["text"])]
            out["yaml"].append({"name": item["name"], "docs": docs, "error": None})
        except yaml.YAMLError as e:
            out["yaml"].append({"name": item["name"], "docs": [], "error": str(e)})
    for pattern in doc.get("regex", []):
        try:
            re.compile(pattern)
            out["regex"].append({"pattern": pattern, "error": None})
        except re.error as e:
            out["regex"].append({"pattern": pattern, "error": str(e)})
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
