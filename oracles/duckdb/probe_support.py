#!/usr/bin/env python3
"""Evidence for SUPPORT.md: which KQL functions and operators detc's KQL uses does duckdb-kql run,
and does it give the answer Kusto's documentation defines?

Each probe runs a query over one fixed 4-row table and compares the result with the answer worked
out by hand from the KQL reference (not from duckdb-kql). Prints a Markdown table; exit 1 when a
probe's status differs from the status recorded here (so an upgrade that changes support is seen).
Run: .oracles/venv/bin/python oracles/duckdb/probe_support.py
"""
import datetime as dt
import sys

import duckdb_kql

ROWS = [  # Timestamp, Name, IP, Port, Bytes
    (dt.datetime(2026, 1, 1, 0, 10), "PowerShell.exe", "10.1.2.3", 25, 100),
    (dt.datetime(2026, 1, 1, 0, 50), "powershell.exe", "8.8.8.8", 587, 200),
    (dt.datetime(2026, 1, 1, 1, 0), "outlook.exe", "fe80::1", 993, None),
    (dt.datetime(2026, 1, 1, 1, 59), None, None, 110, 5),
]
NOW = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.timezone.utc)
H0, H1 = dt.datetime(2026, 1, 1, 0, 0), dt.datetime(2026, 1, 1, 1, 0)

# (name, query, expected rows as a sorted list of tuples, or "unsupported")
PROBES = [
    ("ipv4_is_in_range", 'T | where ipv4_is_in_range(IP, "10.0.0.0/8") | project Port',
     "unsupported"),
    ("ipv4_is_private", "T | where ipv4_is_private(IP) | project Port", "unsupported"),
    ("ipv6_is_in_range", 'T | where ipv6_is_in_range(IP, "fe80::/10") | project Port',
     "unsupported"),
    ("bin (datetime, 1h)", "T | summarize c = count() by w = bin(Timestamp, 1h)",
     [(H0, 2), (H1, 2)]),
    ("count_distinct", "T | summarize d = count_distinct(IP)", "unsupported"),
    ("dcount", "T | summarize d = dcount(IP)", [(3,)]),
    ("has (whole term, case-insensitive)", 'T | where Name has "POWERSHELL" | project Port',
     [(25,), (587,)]),
    ("has (not a term)", 'T | where Name has "shell" | project Port', []),
    ("=~", 'T | where Name =~ "POWERSHELL.EXE" | project Port', [(25,), (587,)]),
    ("==", 'T | where Name == "powershell.exe" | project Port', [(587,)]),
    ("in~", 'T | where Name in~ ("POWERSHELL.exe", "x") | project Port', [(25,), (587,)]),
    ("!in~ (null string is empty: kept)", 'T | where Name !in~ ("POWERSHELL.exe") | project Port',
     [(110,), (993,)]),
    ("in (numbers)", "T | where Port in (25, 110) | project Port", [(25,), (110,)]),
    ("startswith", 'T | where Name startswith "POWER" | project Port', [(25,), (587,)]),
    ("endswith", 'T | where Name endswith ".EXE" | project Port', [(25,), (587,), (993,)]),
    ("contains_cs", 'T | where Name contains_cs "Shell" | project Port', [(25,)]),
    ("matches regex", 'T | where Name matches regex @"^[Pp]ower" | project Port',
     [(25,), (587,)]),
    ("case", 'T | project Port, P = case(Port in (25, 587), "SMTP", Port in (110, 995), "POP3", '
     '"IMAP")', [(25, "SMTP"), (110, "POP3"), (587, "SMTP"), (993, "IMAP")]),
    ("isnotnull", "T | where isnotnull(Bytes) | project Port", [(25,), (110,), (587,)]),
    ("isnotempty", "T | where isnotempty(Name) | project Port", [(25,), (587,), (993,)]),
    ("summarize count/sum/min/max by",
     "T | summarize c = count(), s = sum(Bytes), lo = min(Timestamp), hi = max(Timestamp) "
     "by h = bin(Timestamp, 1h)",
     [(H0, 2, 300, dt.datetime(2026, 1, 1, 0, 10), dt.datetime(2026, 1, 1, 0, 50)),
      (H1, 2, 5, H1, dt.datetime(2026, 1, 1, 1, 59))]),
    ("ago (query_now = 02:00)", "T | where Timestamp > ago(1h) | project Port", [(110,)]),
    ("let function shadowing a built-in",
     'let ipv4_is_private = (ip:string) { ip startswith "10." }; '
     "T | where ipv4_is_private(IP) | project Port", [(25,)]),
    ("parse_ipv4", "T | where isnotnull(IP) | project n = parse_ipv4(IP)",
     [(None,), (134744072,), (167838211,)]),
    ("binary_shift_right", "T | where Port == 25 | project n = binary_shift_right(parse_ipv4(IP), 24)",
     [(10,)]),
    # tolong(): "If conversion isn't successful, the result is null" (Kusto reference): decimal
    # text with leading zeros is its number; empty text, no number, a value past a long are null.
    ("tolong (null when not a number)",
     'T | where Port == 25 | project a = tolong("0123"), b = tolong(""), c = tolong("n/a"), '
     'd = tolong("9223372036854775808"), e = tolong("9223372036854775807")',
     [(123, None, None, None, 9223372036854775807)]),
]


def main():
    import duckdb  # noqa: F401  (duckdb-kql's engine layer needs it; fail early if absent)
    con = duckdb_kql.connect()
    con.execute("CREATE TABLE T (Timestamp TIMESTAMP, Name VARCHAR, IP VARCHAR, Port INTEGER, "
                "Bytes BIGINT)")
    con.executemany("INSERT INTO T VALUES (?, ?, ?, ?, ?)", ROWS)
    print(f"duckdb-kql {duckdb_kql.__version__ if hasattr(duckdb_kql, '__version__') else '?'}, "
          f"duckdb {duckdb.__version__}\n")
    print("| construct | query | expected | duckdb-kql | verdict |")
    print("|---|---|---|---|---|")
    surprises = 0
    for name, query, expected in PROBES:
        try:
            got = sorted(duckdb_kql.query(con, query, query_now=NOW).fetchall(),
                         key=lambda r: tuple((v is not None, v) for v in r))
            got_text = repr(got)
            status = "supported" if expected == "unsupported" or got == sorted(
                expected, key=lambda r: tuple((v is not None, v) for v in r)) else "WRONG"
            if expected == "unsupported":
                status = "runs (expected unsupported)"
        except Exception as e:  # KqlUnsupportedError and friends are the evidence
            got_text = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
            status = "unsupported"
        want = "unsupported" if expected == "unsupported" else "supported"
        if status != want:
            surprises += 1
        exp_text = expected if expected == "unsupported" else repr(expected)
        cells = [name, f"`{query}`", exp_text, got_text, status]
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    print(f"\n{len(PROBES)} probes, {surprises} differ from the recorded status")
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
