//! Writes a generated rule pack for the benchmark (scripts/bench.sh, issue 15 point 3): fixed,
//! so the same arguments give the same bytes.
//!
//! `cargo run --release --example pack_gen -- OUT.detc [COUNT] [selective|broad]`
//! (default 1,000 rules, selective). Rules cycle through sources and constructs: filters with
//! and without aggregation, `in~` / `contains~` / `startswith~` lists, address classes, CIDR
//! blocks, count / distinct / sum aggregates with `having`; one in five reads `network_flow`
//! (Zeek), the others `network_connection` (Sysmon, Defender).
//! - `selective`: every rule is pinned to one mail port (`remote.port == P`, P cycling through
//!   the eight mail ports), so on examples/bench_gen's Sysmon file each matches a fraction of
//!   the ~2% of lines on mail ports.
//! - `broad`: every rule matches most lines (outbound, not loopback, ...); the aggregating ones
//!   group by process name or port, so a run yields some hundred thousand alerts, not billions.

use std::fmt::Write as _;
use std::io::Write as _;

const MAIL_PORTS: [u32; 8] = [25, 465, 587, 2525, 110, 995, 143, 993];

fn header(out: &mut String, name: &str, i: usize, what: &str) {
    let _ = write!(
        out,
        "rule {name} {{\n  id \"00000000-0000-4000-8000-{i:012}\"\n  title \"Generated rule {i}\"\n  \
         description \"Benchmark rule {i}: {what}.\"\n  author \"detc benchmark\"\n  \
         date \"2026-12-02\"\n  status experimental\n  severity low\n  confidence low\n\n"
    );
}

fn selective(out: &mut String, i: usize) {
    let p = MAIL_PORTS[i % MAIL_PORTS.len()];
    header(
        out,
        &format!("gen_selective_{i:04}"),
        i,
        "pinned to one mail port",
    );
    let body = match i % 5 {
        0 => format!(
            "  source network_connection\n  where remote.port == {p} and process.name in~ [\"gen{i}.exe\", \"powershell.exe\", \"rundll32.exe\"]\n"
        ),
        1 => format!(
            "  source network_connection\n  where remote.port == {p} and direction == outbound\n  window 1h\n  group by host\n  aggregate connections = count()\n  having connections >= {}\n",
            3 + i % 7
        ),
        2 => format!(
            "  source network_connection\n  where remote.port == {p} and process.path contains~ [\"\\\\Users\\\\\", \"\\\\ProgramData\\\\\", \"\\\\gen{i}\\\\\"]\n"
        ),
        3 => format!(
            "  source network_connection\n  where remote.port == {p} and remote.ip is public and process.name not in~ [\"outlook.exe\", \"thunderbird.exe\", \"gen{i}.exe\"]\n  window 1h\n  group by host, process.name\n  aggregate destinations = distinct(remote.ip), connections = count()\n  having destinations > {}\n",
            i % 4
        ),
        _ => format!(
            "  source network_flow\n  where dst.port == {p} and src.ip in [10.0.0.0/8, 172.16.0.0/12, 192.168.{}.0/24]\n  window 1h\n  group by src.ip\n  aggregate sent = sum(bytes.sent)\n  having sent > {}\n",
            i % 256,
            1_000_000 + i
        ),
    };
    out.push_str(&body);
    out.push_str("}\n\n");
}

fn broad(out: &mut String, i: usize) {
    header(out, &format!("gen_broad_{i:04}"), i, "matches most events");
    let body = match i % 5 {
        0 => format!(
            "  source network_connection\n  where direction == outbound and not remote.ip is loopback\n  window 1h\n  group by process.name\n  aggregate connections = count(), ports = distinct(remote.port)\n  having connections >= {}\n",
            i % 50
        ),
        1 => format!(
            "  source network_connection\n  where direction == outbound and process.name not in~ [\"gen{i}.exe\"]\n  window 1h\n  group by remote.port\n  aggregate connections = count()\n  having connections > {}\n",
            i % 100
        ),
        2 => format!(
            "  source network_connection\n  where process.path startswith~ \"C:\\\\\" and remote.port not in [{}, 1]\n  window 1h\n  group by process.name\n  aggregate connections = count()\n",
            1000 + i
        ),
        3 => format!(
            "  source network_connection\n  where remote.ip is public or remote.ip in [10.0.0.0/8, 192.168.0.0/16, 172.16.{}.0/24]\n  window 1h\n  group by remote.port\n  aggregate connections = count()\n",
            i % 256
        ),
        _ => "  source network_flow\n  where dst.port exists\n  window 1h\n  group by dst.port\n  aggregate connections = count()\n".to_string(),
    };
    out.push_str(&body);
    out.push_str("}\n\n");
}

const USAGE: &str = "usage: pack_gen OUT.detc [COUNT] [selective|broad]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let n: usize = match args.get(1).map(|s| s.parse()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("pack_gen: COUNT must be a number\n{USAGE}");
            std::process::exit(2);
        }
    };
    let kind = args.get(2).map_or("selective", String::as_str);
    let gen: fn(&mut String, usize) = match kind {
        "selective" => selective,
        "broad" => broad,
        other => {
            eprintln!("pack_gen: unknown kind `{other}`\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut out = format!("// Generated by examples/pack_gen.rs: {n} {kind} rules.\n\n");
    for i in 0..n {
        gen(&mut out, i);
    }
    let written = std::fs::File::create(path).and_then(|mut f| f.write_all(out.as_bytes()));
    if let Err(e) = written {
        eprintln!("pack_gen: cannot write `{path}`: {e}");
        std::process::exit(2);
    }
}
