#!/usr/bin/env python3
"""Sigma conversion oracle: pySigma's own backends convert every detection rule of a folder.

Usage: convert.py BACKEND DIR
  BACKEND: kusto     (pySigma-backend-kusto, pipeline microsoft_xdr: Defender XDR tables)
           splunk    (pySigma-backend-splunk, pipeline splunk_windows)
  DIR: a folder of Sigma YAML files (*.yml, *.yaml; recursive; multi-document files allowed).

Prints one JSON document: {"backend", "pipeline", "results": [...]}, one result per rule document in
file-name order then document order:
  {"file": "a.yml", "id": "...", "title": "...", "kind": "rule" | "correlation",
   "queries": ["..."], "error": null | "message", "selections": {...}}
A detection rule's "selections" maps each of its detection names to what that detection alone
becomes ({"query": "..."} or {"error": "..."}): the rule with `condition: NAME`, converted the same
way. A caller can then tell which predicate of the rule a backend kept, changed or dropped (a
pipeline that drops a field leaves a detection with nothing to convert: that is an error here,
while in the whole rule the predicate silently disappears). Correlations have {}.
Every detection rule is converted on its own, from a fresh parse of its own YAML document, so one
that a correlation references (which pySigma would otherwise fold into the correlation query) still
gets its own query. (A fresh parse, not the collection's rule object: converting a collection with a
correlation mutates the referenced rules in place, and the first base rule re-serialised from that
object then fails with "Detection is empty".) Correlation rules are
converted too; a backend without correlation support reports that as the result's error (the
caller decides whether it matters: issue 3 requires detection rules only).
Exit codes: 0 all detection rules converted, 1 at least one detection rule failed (or a file did not
parse), 2 usage error.
"""
import json
import pathlib
import sys

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaRule

BACKENDS = {"kusto": "microsoft_xdr", "splunk": "splunk_windows"}


def convert_selections(document, new_backend):
    """Each detection of a rule document alone: the document with `condition: NAME`."""
    out = {}
    for name in document.get("detection", {}):
        if name == "condition":
            continue
        alone = dict(document)
        alone["detection"] = {name: document["detection"][name], "condition": name}
        try:
            queries = [str(q) for q in new_backend().convert(SigmaCollection.from_dicts([alone]))]
            if len(queries) == 1:
                out[name] = {"query": queries[0]}
            else:  # none: the pipeline dropped every item of the detection
                out[name] = {"error": f"the backend produced {len(queries)} queries"}
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    return out


def main(argv):
    if len(argv) != 3 or argv[1] not in BACKENDS:
        print(f"usage: {argv[0]} {{{'|'.join(BACKENDS)}}} DIR", file=sys.stderr)
        return 2
    target, root = argv[1], pathlib.Path(argv[2])
    if not root.is_dir():
        print(f"{root}: not a directory", file=sys.stderr)
        return 2
    plugins = InstalledSigmaPlugins.autodiscover()
    resolver = plugins.get_pipeline_resolver()
    pipeline_name = BACKENDS[target]
    backend_class = plugins.backends[target]

    def new_backend():
        # A fresh backend per conversion: backends keep per-conversion state (pipeline state).
        return backend_class(processing_pipeline=resolver.resolve([pipeline_name], target))

    files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    results, failed = [], False
    for path in files:
        rel = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
            documents = list(yaml.safe_load_all(text))
            collection = SigmaCollection.from_yaml(text)
            collection.resolve_rule_references()
            if len(documents) != len(collection.rules):
                raise ValueError(f"{len(documents)} YAML documents but {len(collection.rules)} rules"
                                 " (a global/action document?): this oracle maps them one to one")
        except Exception as e:  # the oracle reports every failure as data
            results.append({"file": rel, "id": None, "title": None, "kind": "file",
                            "queries": [], "error": f"{type(e).__name__}: {e}"})
            failed = True
            continue
        # Correlations: the whole file at once (a correlation query is built from the converted
        # rules it references), results attributed to their rule through pySigma's callback.
        correlation_queries, correlation_error = {}, None
        if any(isinstance(r, SigmaCorrelationRule) for r in collection.rules):
            def collect(rule, _fmt, _index, _cond, result):
                if isinstance(rule, SigmaCorrelationRule) and result is not None:
                    correlation_queries.setdefault(id(rule), []).append(str(result))
                return result
            try:
                new_backend().convert(collection, callback=collect)
            except Exception as e:
                correlation_error = f"{type(e).__name__}: {e}"
        for document, rule in zip(documents, collection.rules):
            kind = "correlation" if isinstance(rule, SigmaCorrelationRule) else "rule"
            entry = {"file": rel, "id": str(rule.id) if rule.id else None, "title": rule.title,
                     "kind": kind, "queries": [], "error": None, "selections": {}}
            if kind == "rule":
                try:
                    # The rule alone, parsed afresh from its own YAML document (never from the
                    # collection's rule object, which the correlation conversion above mutated),
                    # so it is converted as a detection rule even when a correlation references it.
                    single = SigmaCollection.from_dicts([document])
                    entry["queries"] = [str(q) for q in new_backend().convert(single)]
                except Exception as e:
                    entry["error"] = f"{type(e).__name__}: {e}"
                entry["selections"] = convert_selections(document, new_backend)
            else:
                entry["queries"] = correlation_queries.get(id(rule), [])
                entry["error"] = correlation_error
            if entry["error"] is None and not entry["queries"]:
                entry["error"] = "the backend produced no query"
            if entry["error"] is not None and kind == "rule":
                failed = True
            results.append(entry)
    json.dump({"backend": target, "pipeline": pipeline_name, "results": results}, sys.stdout,
              sort_keys=True)
    sys.stdout.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
