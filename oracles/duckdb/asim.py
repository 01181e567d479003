"""The ASIM parsers detc calls, as Kusto stored functions over the rows of their table, for
duckdb-kql (which has stored functions: `functions=`). detc's OWN stand-ins, written from
Microsoft's documentation of each parser's filtering parameters; run_kql.py loads the rows of a
table named here as `<name>_Rows` and passes the definition with every query, so the emitted text
runs exactly as written, parameters included.

_Im_NetworkSession: "ASIM Network Session normalization schema reference", Filtering parser
parameters (https://learn.microsoft.com/azure/sentinel/normalization-schema-network), as the
unifying parser imNetworkSession.yaml (Azure/Azure-Sentinel, Parsers/ASimNetworkSession) declares
them, with their defaults:
  srcipaddr_has_any_prefix  "Filter only network sessions for which the source IP address field
                            prefix is in one of the listed values" (has_any_ipv4_prefix)
  dstipaddr_has_any_prefix  the same for the destination IP address field
  ipaddr_has_any_prefix     either of the two
  dstportnumber             "Filter only network sessions that used the specified destination
                            port number"
Only these are defined: a query passing another parameter (starttime, hostname_has_any, ...) is
refused by duckdb-kql ("has no parameter"), never answered as if it were not there.

duckdb-kql 1.1.2 binds a stored function's arguments by position only ("a named argument is not
supported yet"); Kusto binds `name=value` arguments by name (reference, "User-defined functions",
invoking a function). `patch_named_arguments` replaces its binder with one that does both.
"""

PARSERS = {
    "_Im_NetworkSession": (
        "function _Im_NetworkSession("
        "srcipaddr_has_any_prefix:dynamic=dynamic([]), "
        "dstipaddr_has_any_prefix:dynamic=dynamic([]), "
        "ipaddr_has_any_prefix:dynamic=dynamic([]), "
        "dstportnumber:int=int(null)) {{ {rows} "
        "| where (isnull(dstportnumber) or DstPortNumber == dstportnumber) "
        "and (array_length(srcipaddr_has_any_prefix) == 0 "
        "or has_any_ipv4_prefix(SrcIpAddr, srcipaddr_has_any_prefix)) "
        "and (array_length(dstipaddr_has_any_prefix) == 0 "
        "or has_any_ipv4_prefix(DstIpAddr, dstipaddr_has_any_prefix)) "
        "and (array_length(ipaddr_has_any_prefix) == 0 "
        "or has_any_ipv4_prefix(SrcIpAddr, ipaddr_has_any_prefix) "
        "or has_any_ipv4_prefix(DstIpAddr, ipaddr_has_any_prefix)) }}"
    ),
}


def rows_table(name):
    """The table holding a parser's rows."""
    return f"{name}_Rows"


def definition(name):
    return PARSERS[name].format(rows=rows_table(name))


def patch_named_arguments():
    """Kusto's binding of a call's arguments: positional ones first, in parameter order, then
    `name=value` ones by name; a parameter given twice, an unknown name or a missing value without
    default is an error."""
    from duckdb_kql import lower as L
    from duckdb_kql.errors import KqlUnsupportedError

    def refuse(function, node, why):
        return KqlUnsupportedError(f"function:{function.name}", span=L._span(node), hint=why)

    def bind(node, function, arg_nodes):
        state = L._FN_STATE.get()
        parameters = L._stored_parameters(function)
        names = [p for p, _ in parameters]
        given = {}
        named_seen = False
        for i, arg in enumerate(arg_nodes):
            named = L._lower_named(arg)
            if L._find_all(arg, "NamedExpressionNameClause"):
                key = named.name
                named_seen = True
            else:
                if named_seen:
                    raise refuse(function, arg, "a positional argument after a named one")
                if i >= len(names):
                    raise refuse(function, node, "too many arguments (Kusto: SEM0219)")
                key = names[i]
            if key not in names:
                raise refuse(function, arg, f"{function.name}() has no parameter {key!r}")
            if key in given:
                raise refuse(function, arg, f"parameter {key!r} is given twice")
            given[key] = L._substitute(named.expr, state.scalars)
        binding = {}
        for p, default in parameters:
            value = given.get(p, default)
            if value is None:
                raise refuse(function, node, f"parameter {p!r} has no value (Kusto: SEM0219)")
            binding[p] = value
        return binding

    L._bind_stored_arguments = bind
