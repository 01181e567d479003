#!/usr/bin/env python3
"""Derives data/attack/enterprise-attack-18.1.json, the ATT&CK catalogue detc embeds, from the
shared extract of MITRE's STIX bundle (see data/attack/NOTICE.md for its source and licence).

Usage: scripts/extract-attack.py SOURCE.json > data/attack/enterprise-attack-18.1.json

Keeps only what the checker and the Sigma backend read: tactics (id, shortname, name), techniques
(id, name, tactic shortnames, revoked_by, deprecated) and detection strategies (id, technique ids,
analytic ids; an analytic's strategy is the one that lists it), and each analytic's platforms
(a rule's default `platform`). Descriptions, log sources and mutable elements are left out. The output is deterministic: tactics in ATT&CK's matrix order, other entries sorted by id, one
per line, keys in a fixed order, so a regeneration diffs line by line.
"""
import json
import sys


def line(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} SOURCE.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        src = json.load(f)
    tactics = [
        {"id": t["id"], "shortname": t["shortname"], "name": t["name"]}
        for t in src["tactics"]  # the matrix order (reconnaissance ... impact), kept
    ]
    techniques = []
    for t in sorted(src["techniques"], key=lambda t: t["id"]):
        e = {"id": t["id"], "name": t["name"], "tactics": t["tactics"]}
        if t.get("revoked"):
            if not t.get("revoked_by"):
                raise SystemExit(f"{t['id']} is revoked without a successor")
            e["revoked_by"] = t["revoked_by"]
        if t.get("deprecated"):
            e["deprecated"] = True
        techniques.append(e)
    strategies = [
        {"id": s["id"], "techniques": sorted(s["techniques"]), "analytics": sorted(s["analytics"])}
        for s in sorted(src["detection_strategies"], key=lambda s: s["id"])
    ]
    # Every analytic belongs to exactly the strategy that lists it.
    owner = {}
    for s in strategies:
        for a in s["analytics"]:
            if a in owner:
                raise SystemExit(f"{a} is listed by {owner[a]} and {s['id']}")
            owner[a] = s["id"]
    for a in src["analytics"]:
        if owner.get(a["id"]) != a["strategy"]:
            raise SystemExit(f"{a['id']}: strategy {a['strategy']} does not list it")
    analytics = [
        {"id": a["id"], "platforms": a["platforms"]}
        for a in sorted(src["analytics"], key=lambda a: a["id"])
    ]
    out = [
        "{",
        f'"attack_version":{line(src["attack_version"])},',
        f'"domain":{line(src["domain"])},',
        f'"source":{line(src["source"])},',
        '"tactics":[',
        ",\n".join(map(line, tactics)),
        '],"techniques":[',
        ",\n".join(map(line, techniques)),
        '],"detection_strategies":[',
        ",\n".join(map(line, strategies)),
        '],"analytics":[',
        ",\n".join(map(line, analytics)),
        "]}",
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
