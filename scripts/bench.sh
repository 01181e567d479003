#!/usr/bin/env bash
# Benchmark of the native evaluator (issue 4, point 7). Not a test: run it by hand on a quiet
# machine and copy the table into BENCHMARKS.md.
#
#   bash scripts/bench.sh [EVENTS]          # default 2,000,000 events (~760 MB of JSON lines)
#
# Generates the events with the fixed-seed generator (examples/bench_gen.rs) once, then times,
# each end to end with /usr/bin/time (wall seconds, peak RSS), RUNS times, best wall kept:
#   (a) filter-only rule   detc run an0379_scripting_host_mail
#   (b) AN0379 aggregation detc run an0379_mail_protocol_unexpected_process
#   (c) whole pack         detc run rules/
#   (b') the same job as (b) in DuckDB (SQL over read_json with an explicit schema)
#   parse floor            serde_json into a typed struct, all cores (examples/parse_floor.rs)
# and, once, `detc check` on a generated 10 MB rule file (one line after the table).
# DuckDB comes from the oracles venv (scripts/install-oracles.sh pins duckdb 2.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2000000}"
RUNS="${RUNS:-3}"
DATA="${BENCH_DIR:-/tmp}/detc-bench-$N.jsonl"
PY=.oracles/venv/bin/python
[ -x "$PY" ] || bash scripts/install-oracles.sh >&2
cargo build --locked --release --bin detc --example bench_gen --example parse_floor >&2
if [ ! -s "$DATA" ]; then
  target/release/examples/bench_gen "$DATA" "$N"
fi
BYTES=$(stat -c %s "$DATA")
cat "$DATA" > /dev/null   # warm the page cache: every engine reads from memory

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
list() { grep -v '^#' "rules/lists/$1" | sed '/^$/d' | tr 'A-Z' 'a-z' | sed "s/.*/'&'/" | paste -sd, -; }
cat > "$TMP/duck.py" <<PY
import duckdb, sys
con = duckdb.connect()
rows = con.execute("""
WITH ev AS (
  SELECT strptime(UtcTime, '%Y-%m-%d %H:%M:%S.%g') AS t, Hostname AS host, "User" AS usr,
         regexp_extract(Image, '[^\\\\\\\\/]*\$') AS pname, DestinationIp AS rip,
         TRY_CAST(DestinationPort AS INTEGER) AS rport, Initiated
  FROM read_json('$DATA', format = 'newline_delimited',
    columns = {EventID: 'INTEGER', UtcTime: 'VARCHAR', Hostname: 'VARCHAR', "User": 'VARCHAR',
               Image: 'VARCHAR', Initiated: 'VARCHAR', DestinationIp: 'VARCHAR',
               DestinationPort: 'VARCHAR'})
  WHERE EventID = 3
)
SELECT host, usr, pname,
       CASE WHEN rport IN (25, 465, 587, 2525) THEN 'SMTP' WHEN rport IN (110, 995) THEN 'POP3' ELSE 'IMAP' END AS protocol,
       time_bucket(INTERVAL 1 hour, t) AS w, count(*) AS connections, count(DISTINCT rip) AS destinations,
       min(t) AS first_seen, max(t) AS last_seen
FROM ev
WHERE Initiated = 'true' AND rport IN (25, 465, 587, 2525, 110, 995, 143, 993)
  AND lower(pname) NOT IN ($(list mail_clients.txt))
  AND lower(pname) NOT IN ($(list mail_servers.txt))
  AND NOT (rip LIKE '127.%' OR rip = '::1')
GROUP BY ALL HAVING count(*) >= 3
""").fetchall()
print(len(rows))
PY

# run NAME CMD...: best wall time of RUNS, the CPU seconds (user + system) and peak RSS of that
# run, and the alert count it printed. CPU seconds move less than wall time on a loaded machine.
run() {
  local name=$1; shift
  local best="" rss="" cpu="" out=""
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M %U %S' -o "$TMP/time" "$@" > "$TMP/out" 2> "$TMP/err"
    read -r wall kib usr sys < "$TMP/time"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then
      best=$wall; rss=$kib; cpu=$(awk "BEGIN{print $usr + $sys}")
    fi
  done
  case "$name" in
    duckdb*) out=$(cat "$TMP/out") ;;
    parse*) out=- ;;
    *) out=$(wc -l < "$TMP/out") ;;
  esac
  awk -v n="$name" -v w="$best" -v c="$cpu" -v k="$rss" -v e="$N" -v b="$BYTES" -v a="$out" 'BEGIN {
    printf "| %s | %.2f | %.2f | %.2f | %.0f | %.1f | %s |\n", n, w, c, e / w / 1e6, b / w / 1e6, k / 1024, a }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "data: $N events, $BYTES bytes ($DATA), best of $RUNS runs each, page cache warm"
echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| job | wall s | CPU s | M events/s | MB/s | peak RSS MiB | alerts |"
echo "|---|---|---|---|---|---|---|"
D=target/release/detc
run "(a) filter only: an0379_scripting_host_mail" $D run rules/lists.detc rules/an0379_scripting_host_mail.detc --events "$DATA"
run "(b) AN0379 with aggregation" $D run rules/lists.detc rules/an0379_mail_protocol_unexpected_process.detc --events "$DATA"
run "(c) whole pack (rules/)" $D run rules --events "$DATA"
run "(b) without the prefilter (--no-prefilter)" $D run rules/lists.detc rules/an0379_mail_protocol_unexpected_process.detc --no-prefilter --events "$DATA"
run "duckdb: (b) in SQL over read_json" "$PY" "$TMP/duck.py"
run "parse floor: serde_json typed struct" target/release/examples/parse_floor "$DATA"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Checking cost (issue 9): `detc check` on one generated rule file of ~10 MB (52,000 rules).
# Linear in input size (spans from a line index, list de-duplication by hash set).
PACK="$TMP/pack"
mkdir -p "$PACK"
awk 'BEGIN { for (i = 0; i < 52000; i++) printf "rule r%d {\n  id \"%08x-0000-4000-8000-000000000000\"\n  title \"Rule number %d\"\n  severity low\n  source network_connection\n  where remote.port == %d and process.name == \"p%d.exe\"\n}\n", i, i, i, i % 65535, i }' > "$PACK/big.detc"
/usr/bin/time -f '%e %M %U %S' -o "$TMP/time" $D check "$PACK" > /dev/null 2> "$TMP/err"
read -r wall kib usr sys < "$TMP/time"
echo "check: one file of $(stat -c %s "$PACK/big.detc") bytes, $(tail -1 "$TMP/err" | cut -d: -f2 | cut -d, -f1 | sed 's/^ //'): $wall s wall, $(awk "BEGIN{print $usr + $sys}") s CPU, $((kib / 1024)) MiB peak RSS"
