#!/usr/bin/env python3
"""`sigma check` with pySigma's ATT&CK tag validator pointed at detc's own ATT&CK catalogue.

Usage: check_attack.py CATALOGUE.json SIGMA-CHECK-ARGS...

pySigma 1.5.1 (sigma/data/mitre_attack.py) downloads ATT&CK from GitHub unless told otherwise with
`set_url(path)`, and caches it on disk (`set_cache_dir`). This runs sigma-cli's `check` in-process
after pointing both at local files: a STIX 2.1 bundle written from CATALOGUE.json (detc's embedded
extract of ATT&CK v18.1, data/attack/) into a fresh temporary folder, so no network and no user
cache are touched. The bundle carries what the validator reads: the collection version, the tactics
(x_mitre_shortname) and the techniques (external id, name, tactic phases, revoked and deprecated
flags). Groups, software, data sources and mitigations are not in the catalogue, so their tags
would be reported as invalid here.
Exit status: sigma-cli's.
"""
import json
import sys
import tempfile
from pathlib import Path


def stix_bundle(catalogue):
    def ref(ext_id):
        return [{"source_name": "mitre-attack", "external_id": ext_id}]

    objects = [{"type": "x-mitre-collection", "x_mitre_version": catalogue["attack_version"]}]
    for t in catalogue["tactics"]:
        objects.append({"type": "x-mitre-tactic", "name": t["name"],
                        "x_mitre_shortname": t["shortname"], "external_references": ref(t["id"])})
    for t in catalogue["techniques"]:
        o = {"type": "attack-pattern", "name": t["name"], "external_references": ref(t["id"]),
             "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": p}
                                   for p in t["tactics"]]}
        if "revoked_by" in t:
            o["revoked"] = True
        if t.get("deprecated"):
            o["x_mitre_deprecated"] = True
        objects.append(o)
    return {"type": "bundle", "id": "bundle--detc-attack-catalogue", "objects": objects}


def main(argv):
    if len(argv) < 2:
        print(f"usage: {argv[0]} CATALOGUE.json SIGMA-CHECK-ARGS...", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        catalogue = json.load(f)
    with tempfile.TemporaryDirectory(prefix="detc-attack-") as tmp:
        stix = Path(tmp) / "enterprise-attack.json"
        stix.write_text(json.dumps(stix_bundle(catalogue)), encoding="utf-8")
        from sigma.data import mitre_attack
        mitre_attack.set_cache_dir(str(Path(tmp) / "cache"))
        mitre_attack.set_url(str(stix))
        from sigma.cli.main import main as sigma_main
        sys.argv = ["sigma", "check", *argv[2:]]
        try:
            sigma_main()
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
