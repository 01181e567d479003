#!/usr/bin/env python3
"""KQL execution oracle: run a KQL query with duckdb-kql (PyPI, pinned) over rows loaded into
DuckDB as one typed table.

Input, either
  * JSON on stdin (what tests/it/support/oracle.rs sends):
      {"table": "DeviceNetworkEvents",
       "columns": [["Timestamp", "datetime"], ["RemotePort", "int"], ...],
       "rows_jsonl": "{\"Timestamp\": \"2026-01-01T00:00:00Z\", ...}\n...",
       "kql": "DeviceNetworkEvents | where ...",
       "now": "2026-01-02T00:00:00Z",            (optional: the instant ago()/now() see)
       "prelude": true,                          (optional: prepend prelude.kql, detc's own
                                                  ipv4_is_in_range / ipv4_is_private / bin_at,
                                                  which duckdb-kql lacks; ipv6_is_in_range,
                                                  ipv4_is_in_any_range, ipv6_is_in_any_range and
                                                  has_any_ipv4_prefix are always there:
                                                  kusto_ip.py; ASIM parsers: asim.py)
       "tables": [{"table", "columns", "rows_jsonl"}, ...]}  (optional, instead of the three
                                                  single-table keys: several tables in one
                                                  database, for a query that joins them)
    or, for many queries over one load, "queries": [{"name": "q1", "kql": "..."}, ...] instead of
    "kql"; the output is then ONE JSON document {"results": [{"name", "rows": [...]} or
    {"name", "error": "..."}]} in input order.
  * or files: run_kql.py --table T --schema "(a:string, b:int)" --rows rows.jsonl --query q.kql
                         [--now 2026-01-02T00:00:00Z] [--prelude]

Column types are KQL scalar types: string, int, long, real (double), bool (boolean), datetime
(date), timespan (time), guid, dynamic, decimal. A row key that is not a declared column is an
error (a fixture that does not fit the table must not half-load); a declared column missing from a
row, or null, is NULL, except a string column, which holds "" (Kusto strings are never null).

Output: one JSON object per result row on stdout, keys in result-column order, values rendered
deterministically (datetime as ISO 8601 UTC with a Z, microseconds only when non-zero; timespan
as seconds (a number); decimal as a string; dynamic as parsed JSON). Rows are sorted by their
serialised text, so the output is byte-for-byte stable whatever order the engine produced
(result sets are compared as multisets; a query's own `sort`/`top` order is NOT preserved).
Exit codes: 0 ran, 1 the query failed (duckdb-kql error on stderr), 2 bad input.
  * or --serve: many requests in one process, one stdin JSON document per line; each reply is one
    line {"code": exit code, "stdout": output, "stderr": error}, what a one-shot run would give.
"""
import argparse
import datetime as dt
import decimal
import json
import pathlib
import re
import sys
import tempfile
import uuid

try:
    import duckdb_kql

    import asim  # oracles/duckdb/asim.py: the ASIM parsers as stored functions
    import kusto_ip  # oracles/duckdb/kusto_ip.py: ipv4_is_in_any_range, ipv6_is_in_any_range
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"duckdb-kql oracle: {e}; run scripts/install-oracles.sh", file=sys.stderr)
    sys.exit(2)

# KQL scalar type -> DuckDB column type; the inverse of duckdb_kql.types.DUCKDB_TO_KQL, so
# duckdb-kql reads each column back as the KQL type the caller declared.
KQL_TO_DUCKDB = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "date": "TIMESTAMP",
    "timespan": "INTERVAL",
    "time": "INTERVAL",
    "guid": "UUID",
    "dynamic": "JSON",
    "decimal": "DECIMAL(38, 18)",
}

# How a normalised value is read back (read_json column type) and cast to the column type.
READ_TYPE = {"int": "BIGINT", "long": "BIGINT", "real": "DOUBLE", "double": "DOUBLE",
             "bool": "BOOLEAN", "boolean": "BOOLEAN", "timespan": "BIGINT", "time": "BIGINT"}
CAST_FROM_READ = {
    "int": 'CAST("{0}" AS INTEGER)',
    "datetime": 'CAST("{0}" AS TIMESTAMP)',
    "date": 'CAST("{0}" AS TIMESTAMP)',
    "timespan": 'to_microseconds("{0}")',
    "time": 'to_microseconds("{0}")',
    "guid": 'CAST("{0}" AS UUID)',
    "dynamic": 'CAST("{0}" AS JSON)',
    "decimal": 'CAST("{0}" AS DECIMAL(38, 18))',
}

PRELUDE = pathlib.Path(__file__).with_name("prelude.kql")
PRELUDE_TEXT = PRELUDE.read_text(encoding="utf-8")
# The functions the prelude defines. A query that calls none of them runs without it: its `let`
# statements would be dead code, and duckdb-kql's parser takes as long over them as over the
# query (half the time of a typical differential-test request).
PRELUDE_CALLS = re.compile(
    r"\b(?:" + "|".join(re.findall(r"(?m)^let\s+([A-Za-z_][A-Za-z0-9_]*)\s*=", PRELUDE_TEXT)) + r")\s*\(")

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Stored functions for the queries: an ASIM parser whose rows were loaded (asim.py).
FUNCTIONS = []
asim.patch_named_arguments()


class InputError(Exception):
    pass


def parse_schema(text):
    """'(a:string, b:int)' -> [('a', 'string'), ('b', 'int')]"""
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise InputError(f"schema must look like (col:type, ...), got {text!r}")
    cols = []
    for part in body[1:-1].split(","):
        if not part.strip():
            continue
        name, sep, typ = part.partition(":")
        if not sep:
            raise InputError(f"schema entry {part.strip()!r} has no ':type'")
        cols.append((name.strip(), typ.strip()))
    return cols


def parse_instant(value):
    """ISO 8601 (Z or offset, or naive = UTC) -> naive UTC datetime."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise InputError(f"not an ISO 8601 datetime: {value!r}") from e
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def to_param(value, kql_type, where):
    if value is None:
        # Kusto's reference, "Null values": the string data type doesn't support null values;
        # a string column without a value holds the empty string.
        return "" if kql_type == "string" else None
    if kql_type in ("datetime", "date"):
        if not isinstance(value, str):
            raise InputError(f"{where}: datetime must be an ISO 8601 string, got {value!r}")
        return parse_instant(value)
    if kql_type in ("timespan", "time"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: timespan must be a number of seconds, got {value!r}")
        return dt.timedelta(seconds=value)
    if kql_type == "dynamic":
        return json.dumps(value, sort_keys=True)
    if kql_type in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {kql_type} must be an integer, got {value!r}")
        return value
    if kql_type in ("real", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: real must be a number, got {value!r}")
        return float(value)
    if kql_type in ("bool", "boolean"):
        if not isinstance(value, bool):
            raise InputError(f"{where}: bool must be true or false, got {value!r}")
        return value
    if kql_type == "decimal":
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: {kql_type} must be a string, got {value!r}")
    return value


def render(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
        return value.strftime(fmt)
    if isinstance(value, dt.date):
        return value.isoformat() + "T00:00:00Z"
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds == int(seconds) else seconds
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, dict):
        return {str(k): render(v) for k, v in value.items()}
    return value


def load_table(table, columns, rows_jsonl, con=None):
    """A DuckDB connection (UTC) holding `table` with `columns`, loaded from JSON lines (added to
    `con` when given: several tables for one query, a correlation's steps)."""
    if not IDENT.match(table):
        raise InputError(f"table name {table!r} is not a plain identifier")
    types = {}
    for name, typ in columns:
        if not IDENT.match(name):
            raise InputError(f"column name {name!r} is not a plain identifier")
        if typ not in KQL_TO_DUCKDB:
            raise InputError(f"column {name}: unknown KQL type {typ!r} "
                             f"(known: {', '.join(sorted(KQL_TO_DUCKDB))})")
        types[name] = typ
    if con is None:
        con = kusto_ip.register(duckdb_kql.connect())  # SET TimeZone='UTC'
    col_sql = ", ".join(f'"{n}" {KQL_TO_DUCKDB[t]}' for n, t in columns)
    if table in asim.PARSERS:
        # The parser's rows under their own name; the query calls the parser function.
        FUNCTIONS.append(asim.definition(table))
        table = asim.rows_table(table)
    con.execute(f'CREATE TABLE "{table}" ({col_sql})')
    # Rows are checked and normalised here, then bulk-loaded with read_json (executemany is ~100x
    # slower): each value becomes the JSON form of its READ type, then is cast to the column type.
    normalised = []
    for lineno, line in enumerate(rows_jsonl.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"rows line {lineno}: not JSON: {e}") from e
        if not isinstance(row, dict):
            raise InputError(f"rows line {lineno}: not a JSON object")
        unknown = sorted(set(row) - set(types))
        if unknown:
            raise InputError(f"rows line {lineno}: keys not in table {table}: {', '.join(unknown)}")
        out = {}
        for n, t in columns:
            v = to_param(row.get(n), t, f"rows line {lineno}, {n}")
            if isinstance(v, dt.datetime):
                v = v.isoformat(sep=" ")
            elif isinstance(v, dt.timedelta):
                v = round(v.total_seconds() * 1_000_000)
            out[n] = v
        normalised.append(json.dumps(out, ensure_ascii=False))
    if normalised:
        read_types = {n: READ_TYPE.get(t, "VARCHAR") for n, t in columns}
        select = ", ".join(CAST_FROM_READ.get(t, '"{0}"').format(n) for n, t in columns)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as tmp:
            tmp.write("\n".join(normalised) + "\n")
            tmp.flush()
            con.execute(
                f'INSERT INTO "{table}" SELECT {select} FROM read_json(?, '
                f"format = 'newline_delimited', columns = ?)",
                [tmp.name, read_types],
            )
    return con


def run_query(con, kql, now, prelude=False):
    """Result rows as sorted JSON texts."""
    if prelude and PRELUDE_CALLS.search(kql):
        kql = PRELUDE_TEXT + kql
    query_now = parse_instant(now).replace(tzinfo=dt.timezone.utc) if now else None
    rel = duckdb_kql.query(con, kql, query_now=query_now, functions=FUNCTIONS or None)
    names = rel.columns
    is_json = [str(t).upper() == "JSON" for t in rel.types]
    out = []
    for values in rel.fetchall():
        obj = {n: (json.loads(v) if j and isinstance(v, str) else render(v))
               for n, v, j in zip(names, values, is_json)}
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    out.sort()
    return out


def load_and_run(doc):
    """Runs one request (the stdin JSON document described above); returns its output text.
    Raises InputError for bad input; duckdb-kql's own errors propagate."""
    if not isinstance(doc, dict):
        raise InputError("stdin must be a JSON object")
    # Each request starts from nothing: a new connection, and no stored functions from an
    # earlier request (serve mode answers many requests in one process).
    FUNCTIONS.clear()
    if "tables" in doc:
        # Several tables: [{"table", "columns", "rows_jsonl"}, ...] (the first one is also
        # loaded through the single-table keys below).
        extra = doc["tables"]
        if not isinstance(extra, list) or not extra:
            raise InputError("tables must be a non-empty list")
        doc = dict(doc, **{k: extra[0].get(k) for k in ("table", "columns", "rows_jsonl")})
        tables = extra[1:]
    else:
        tables = []
    missing = [k for k in ("table", "columns", "rows_jsonl") if k not in doc]
    if "kql" not in doc and "queries" not in doc:
        missing.append("kql (or queries)")
    if missing:
        raise InputError(f"stdin JSON lacks {', '.join(missing)}")
    columns = [(str(c[0]), str(c[1])) for c in doc["columns"]]
    table, rows, now = doc["table"], doc["rows_jsonl"], doc.get("now")
    kql = doc.get("kql")
    batch = doc.get("queries")
    prelude = bool(doc.get("prelude", False))
    con = load_table(table, columns, rows)
    for t in tables:
        con = load_table(str(t.get("table")), [(str(c[0]), str(c[1])) for c in t.get("columns", [])],
                         str(t.get("rows_jsonl", "")), con)
    try:
        if batch is None:
            return "".join(line + "\n" for line in run_query(con, kql, now, prelude))
        # Batch mode: one load, many queries; one JSON document out, a result per query.
        results = []
        for i, q in enumerate(batch):
            name = str(q.get("name", i)) if isinstance(q, dict) else str(i)
            text = q.get("kql") if isinstance(q, dict) else None
            if not isinstance(text, str):
                raise InputError(f"queries[{i}] must be {{\"name\": ..., \"kql\": ...}}")
            try:
                lines = run_query(con, text, now, prelude)
                results.append({"name": name, "rows": [json.loads(x) for x in lines]})
            except InputError:
                raise
            except Exception as e:  # duckdb-kql's own errors: this query did not run
                results.append({"name": name, "error": f"{type(e).__name__}: {e}"})
        return json.dumps({"results": results}, ensure_ascii=False) + "\n"
    finally:
        con.close()


def answer(doc):
    """(exit code, stdout, stderr) of one request, as the one-shot modes would exit."""
    try:
        return 0, load_and_run(doc), ""
    except InputError as e:
        return 2, "", f"duckdb-kql oracle: {e}\n"
    except OSError as e:
        return 2, "", f"duckdb-kql oracle: {e}\n"
    except Exception as e:  # duckdb-kql's own errors: the query did not run
        return 1, "", f"duckdb-kql oracle: query failed: {type(e).__name__}: {e}\n"


def serve():
    """--serve: one request per stdin line (the JSON document of stdin mode, on one line), one
    reply per stdout line, {"code": c, "stdout": "...", "stderr": "..."}, exactly what the
    one-shot mode would exit with, print and complain. The tests keep a few of these processes
    for the whole run: importing duckdb-kql costs more than most queries. Anything else that
    writes to stdout is sent to stderr, so it cannot break the protocol."""
    replies = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            code, out, err = 2, "", f"duckdb-kql oracle: stdin is not JSON: {e}\n"
        else:
            code, out, err = answer(doc)
        replies.write(json.dumps({"code": code, "stdout": out, "stderr": err}) + "\n")
        replies.flush()
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table")
    ap.add_argument("--schema", help="(col:type, ...)")
    ap.add_argument("--rows", help="JSON lines file")
    ap.add_argument("--query", help="file holding the KQL query")
    ap.add_argument("--now", help="ISO 8601 instant for now()/ago()")
    ap.add_argument("--prelude", action="store_true", help="prepend prelude.kql (ipv4_*/ipv6_*)")
    ap.add_argument("--serve", action="store_true",
                    help="answer one JSON request per stdin line, one JSON reply per line")
    args = ap.parse_args(argv[1:])
    if args.serve:
        return serve()
    if args.table is None:
        try:
            doc = json.load(sys.stdin)
        except json.JSONDecodeError as e:
            print(f"duckdb-kql oracle: stdin is not JSON: {e}", file=sys.stderr)
            return 2
    else:
        try:
            if not (args.schema and args.rows and args.query):
                raise InputError("--table needs --schema, --rows and --query")
            with open(args.rows, encoding="utf-8") as f:
                rows = f.read()
            with open(args.query, encoding="utf-8") as f:
                kql = f.read()
            doc = {"table": args.table, "columns": parse_schema(args.schema), "rows_jsonl": rows,
                   "kql": kql, "now": args.now, "prelude": args.prelude}
        except (InputError, OSError) as e:
            print(f"duckdb-kql oracle: {e}", file=sys.stderr)
            return 2
    code, out, err = answer(doc)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
