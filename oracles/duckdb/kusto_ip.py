"""Kusto's range functions that duckdb-kql 1.1.2 lacks, as DuckDB Python UDFs: detc's OWN, written
from the Kusto reference, over Python's `ipaddress` (an implementation independent of detc's
evaluator). run_kql.py registers them on every connection it opens.

  ipv4_is_in_any_range(ip, range, ...)   Kusto reference, ipv4_is_in_any_range(): true when ip is
      in any of the ranges, false otherwise, "null: If conversion for one of the two IPv4 strings
      wasn't successful" (read here: the address or any range does not parse).
  ipv6_is_in_range(ip, prefix) and
  ipv6_is_in_any_range(ip, prefix, ...)  Kusto reference, ipv6_is_in_any_range(): the same for
      IPv6; its address and ranges are parsed as parse_ipv6() documents ("IPv4 ... is converted
      to IPv6 ... ::ffff:"), so IPv4 text is the IPv4-mapped address, and an IPv4 prefix length
      counts in IPv4 bits (+96).

Why UDFs and not `let` functions like prelude.kql: these are variadic, and duckdb-kql inlines a
`let` function at every call site; a `let` taking 32 optional ranges, each an inlined
ipv6_is_in_range, did not translate in ten minutes (measured 2026-12-02). A UDF receives the
argument list as one DuckDB list: `ipv4_is_in_any_range(a, b, c)` is translated to
`detc_ipv4_is_in_any_range([a, b, c])`.

  has_any_ipv4_prefix(source, dynamic([prefix, ...]))  Kusto reference, has_any_ipv4_prefix():
      what the ASIM parsers' *_has_any_prefix parameters filter with (asim.py).
"""
import ipaddress
import json
import re

import duckdb


def _v4(text):
    """parse_ipv4(): a dotted quad, optionally with a /prefix that masks it; None otherwise."""
    if not isinstance(text, str):
        return None
    addr, sep, length = text.strip().partition("/")
    try:
        a = ipaddress.IPv4Address(addr)
        bits = int(length) if sep else 32
    except ValueError:
        return None
    if not 0 <= bits <= 32:
        return None
    return ipaddress.IPv4Network(f"{a}/{bits}", strict=False)


def _v6(text):
    """parse_ipv6() as a network: IPv6 text, or IPv4 text as ::ffff:a.b.c.d (a v4 prefix length
    plus 96); None when it does not parse."""
    if not isinstance(text, str):
        return None
    addr, sep, length = text.strip().partition("/")
    try:
        bits = int(length) if sep else None
    except ValueError:
        return None
    try:
        a = ipaddress.IPv6Address(addr)
        bits = 128 if bits is None else bits
    except ValueError:
        try:
            a = ipaddress.IPv6Address("::ffff:" + str(ipaddress.IPv4Address(addr)))
        except ValueError:
            return None
        bits = 128 if bits is None else bits + 96
    if not 0 <= bits <= 128:
        return None
    return ipaddress.IPv6Network(f"{a}/{bits}", strict=False)


def _any(parse, args):
    if args is None or len(args) < 2:
        return None
    ip = parse(args[0])
    ranges = [parse(r) for r in args[1:]]
    if ip is None or any(r is None for r in ranges):
        return None
    return any(ip.network_address in r for r in ranges)


def ipv4_is_in_any_range(args):
    return _any(_v4, args)


def ipv6_is_in_any_range(args):
    return _any(_v6, args)


# A dotted quad in text, delimited by characters that are not letters or digits (Kusto reference,
# has_any_ipv4_prefix(): "IP address entrances in a text must be properly delimited with
# non-alphanumeric characters").
_QUAD = re.compile(r"(?<![0-9A-Za-z.])([0-9]{1,3}(?:\.[0-9]{1,3}){3})(?![0-9A-Za-z])")
_PREFIX = re.compile(r"^(?:[0-9]{1,3}\.){1,3}$")


def _valid_prefix(p):
    """A complete IPv4 address, or one to three leading octets ending with a dot."""
    if not isinstance(p, str):
        return False
    if _PREFIX.match(p):
        return all(0 <= int(o) <= 255 for o in p.rstrip(".").split("."))
    try:
        ipaddress.IPv4Address(p)
        return True
    except ValueError:
        return False


def has_any_ipv4_prefix(source, prefixes):
    """Kusto reference, has_any_ipv4_prefix(source, dynamic([...])): true when one of the valid
    prefixes begins a valid, delimited IPv4 address in source; false otherwise."""
    if source is None or prefixes is None:
        return False
    wanted = [p for p in json.loads(prefixes) if _valid_prefix(p)]
    for m in _QUAD.finditer(source):
        try:
            addr = str(ipaddress.IPv4Address(m.group(1)))
        except ValueError:
            continue
        if addr != m.group(1):
            continue
        if any(addr == p or (p.endswith(".") and addr.startswith(p)) for p in wanted):
            return True
    return False


def register(con):
    """Adds the UDFs to `con` and maps the Kusto names onto them in duckdb-kql's function table
    (a variadic template: every argument goes into one list)."""
    from duckdb_kql.translate import functions as registry

    text_list = duckdb.list_type(duckdb.sqltype("VARCHAR"))
    boolean = duckdb.sqltype("BOOLEAN")
    for name, fn in (
        ("ipv4_is_in_any_range", ipv4_is_in_any_range),
        ("ipv6_is_in_any_range", ipv6_is_in_any_range),
    ):
        con.create_function(f"detc_{name}", fn, [text_list], boolean, null_handling="special")
        registry.SCALAR_FUNCTIONS[name] = registry.FunctionSpec(
            name, "template", f"detc_{name}([{{}}])", (), (), "detc oracle UDF (kusto_ip.py)"
        )
    # ipv6_is_in_range(ip, prefix) is ipv6_is_in_any_range with one prefix (Kusto reference,
    # ipv6_is_in_range(): null when either string does not convert).
    registry.SCALAR_FUNCTIONS["ipv6_is_in_range"] = registry.FunctionSpec(
        "ipv6_is_in_range",
        "template",
        "detc_ipv6_is_in_any_range([{0}, {1}])",
        (2,),
        (),
        "detc oracle UDF (kusto_ip.py)",
    )
    con.create_function(
        "detc_has_any_ipv4_prefix",
        has_any_ipv4_prefix,
        [duckdb.sqltype("VARCHAR"), duckdb.sqltype("VARCHAR")],
        boolean,
        null_handling="special",
    )
    registry.SCALAR_FUNCTIONS["has_any_ipv4_prefix"] = registry.FunctionSpec(
        "has_any_ipv4_prefix",
        "template",
        "detc_has_any_ipv4_prefix(CAST({0} AS VARCHAR), CAST({1} AS VARCHAR))",
        (2,),
        (),
        "detc oracle UDF (kusto_ip.py); the dynamic-array form only",
    )
    return con
