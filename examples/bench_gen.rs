//! Writes generated events for the benchmark (scripts/bench.sh): fixed seed, so the same
//! arguments give the same bytes.
//!
//! `cargo run --release --example bench_gen -- OUT [COUNT] [sysmon|zeek-conn|defender-csv]`
//! (default 2,000,000 events, format sysmon), all over one day (2026-11-20 UTC):
//! - `sysmon`: network-connection events as JSON lines (~360 bytes each), 5,000 hosts; ~2% on
//!   mail ports (mostly Outlook and Thunderbird, some Exchange, some other processes on 10
//!   hosts); a few thousand events from powershell.exe / rundll32.exe, part of them on mail ports.
//! - `zeek-conn`: a Zeek conn.log in Zeek's TSV format (`#separator`, `#fields`, `#types`); ~5%
//!   of connections on mail ports, to public, private, loopback, link-local and approved-relay
//!   addresses; 10 internal hosts send tens of MB at a time, so some (host, hour) groups pass
//!   AN0382's 50 MB and others stay under it; some byte counts are unset (`-`).
//! - `defender-csv`: a Defender DeviceNetworkEvents CSV export (the columns
//!   targets/inputs/defender.yaml reads); mixed ActionTypes, mail-client names in several cases
//!   (and one with the Kelvin sign, which ASCII case folding does not fold), some empty process
//!   names and account domains; unexpected mail senders on 10 hosts talk to a few addresses, so
//!   some groups pass "more than two connections a day".

use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const OTHER_PORTS: [u32; 8] = [443, 443, 443, 80, 53, 445, 8080, 3389];
const MAIL_PORTS: [u32; 8] = [25, 465, 587, 2525, 110, 995, 143, 993];
const APPS: [&str; 6] = [
    "C:\\\\Program Files\\\\Google\\\\Chrome\\\\Application\\\\chrome.exe",
    "C:\\\\Program Files (x86)\\\\Microsoft\\\\Edge\\\\Application\\\\msedge.exe",
    "C:\\\\Windows\\\\System32\\\\svchost.exe",
    "C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\Teams.exe",
    "C:\\\\Windows\\\\System32\\\\lsass.exe",
    "C:\\\\Program Files\\\\Zoom\\\\bin\\\\Zoom.exe",
];
const MAIL_APPS: [&str; 4] = [
    "C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\OUTLOOK.EXE",
    "C:\\\\Program Files\\\\Mozilla Thunderbird\\\\thunderbird.exe",
    "C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\OUTLOOK.EXE",
    "C:\\\\Program Files\\\\Microsoft\\\\Exchange Server\\\\V15\\\\Bin\\\\MSExchangeHMWorker.exe",
];
const ODD_APPS: [&str; 3] = [
    "C:\\\\Users\\\\Public\\\\updater.exe",
    "C:\\\\ProgramData\\\\backup\\\\notify.exe",
    "C:\\\\Python311\\\\python.exe",
];
const SCRIPT_HOSTS: [&str; 2] = [
    "C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1.0\\\\powershell.exe",
    "C:\\\\Windows\\\\System32\\\\rundll32.exe",
];

const DAY0: u64 = 1_795_132_800; // 2026-11-20T00:00:00Z
const USAGE: &str = "usage: bench_gen OUT [COUNT] [sysmon|zeek-conn|defender-csv]";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    };
    let count: u64 = match args.get(2).map(|c| c.parse()) {
        None => 2_000_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("bench_gen: COUNT must be a number\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let generate: fn(&mut dyn Write, u64) -> std::io::Result<()> =
        match args.get(3).map(String::as_str) {
            None | Some("sysmon") => sysmon,
            Some("zeek-conn") => zeek_conn,
            Some("defender-csv") => defender_csv,
            Some(other) => {
                eprintln!("bench_gen: unknown format `{other}`\n{USAGE}");
                return std::process::ExitCode::from(2);
            }
        };
    let file = match std::fs::File::create(out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench_gen: cannot create {out}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut w = BufWriter::with_capacity(1 << 20, file);
    if let Err(e) = generate(&mut w, count).and_then(|()| w.flush()) {
        eprintln!("bench_gen: write error: {e}");
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}

fn sysmon(w: &mut dyn Write, count: u64) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed_0000_d37c_0001);
    let day0 = DAY0;
    for i in 0..count {
        let mut host = rng.below(5000);
        let t = day0 + i * 86_400 / count;
        let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
        let ms = rng.below(1000);
        let roll = rng.below(10_000);
        let (image, port) = if roll < 20 {
            // 0.2%: a scripting host; a quarter of them on a mail port.
            let img = SCRIPT_HOSTS[rng.below(2) as usize];
            let p = if rng.below(4) == 0 {
                MAIL_PORTS[rng.below(8) as usize]
            } else {
                OTHER_PORTS[rng.below(8) as usize]
            };
            (img, p)
        } else if roll < 200 {
            // 1.8%: mail ports, mostly clients and Exchange, some odd processes.
            let img = if rng.below(10) == 0 {
                // Unexpected mail senders live on a handful of hosts, so some groups alert.
                host = rng.below(10);
                ODD_APPS[rng.below(3) as usize]
            } else {
                MAIL_APPS[rng.below(4) as usize]
            };
            (img, MAIL_PORTS[rng.below(8) as usize])
        } else {
            (
                APPS[rng.below(6) as usize],
                OTHER_PORTS[rng.below(8) as usize],
            )
        };
        let initiated = if rng.below(20) == 0 { "false" } else { "true" };
        let dst = format!(
            "{}.{}.{}.{}",
            [93, 151, 185, 10, 127][rng.below(5) as usize],
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        writeln!(
            w,
            "{{\"EventID\":3,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"UtcTime\":\"2026-11-20 {h:02}:{m:02}:{s:02}.{ms:03}\",\"Hostname\":\"WS{host:05}.corp.example.com\",\"User\":\"CORP\\\\user{:04}\",\"ProcessId\":\"{}\",\"Image\":\"{image}\",\"Protocol\":\"tcp\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.{}.{}.{}\",\"SourcePort\":\"{}\",\"DestinationIp\":\"{dst}\",\"DestinationPort\":\"{port}\"}}",
            host % 3000,
            1000 + rng.below(60_000),
            host / 256 % 256,
            host % 256,
            1 + rng.below(254),
            49_152 + rng.below(16_000),
        )?;
    }
    Ok(())
}

/// A destination for a Zeek connection: mostly public, and every class AN0382 tests for.
fn zeek_dst(rng: &mut Rng) -> String {
    let (a, b, c, d) = (
        rng.below(256),
        rng.below(256),
        1 + rng.below(254),
        rng.below(32),
    );
    match rng.below(20) {
        0 => "192.0.2.25".to_string(),                      // approved relay
        1 => format!("198.51.100.{d}"), // in the relay block /28 below 16, outside above
        2 => format!("10.{a}.{b}.{c}"), // private
        3 => format!("172.{}.{b}.{c}", 16 + rng.below(20)), // 172.16/12 and just past it
        4 => format!("127.0.0.{c}"),    // loopback
        5 => format!("169.254.{b}.{c}"), // link-local
        6 => format!("192.168.{b}.{c}"), // private
        _ => format!(
            "{}.{a}.{b}.{c}",
            [93, 151, 185, 52, 8][rng.below(5) as usize]
        ),
    }
}

fn zeek_conn(w: &mut dyn Write, count: u64) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed_0000_2eec_0002);
    writeln!(w, "#separator \\x09")?;
    writeln!(w, "#set_separator\t,")?;
    writeln!(w, "#empty_field\t(empty)")?;
    writeln!(w, "#unset_field\t-")?;
    writeln!(w, "#path\tconn")?;
    writeln!(w, "#open\t2026-11-20-00-00-00")?;
    writeln!(w, "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents")?;
    writeln!(w, "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]")?;
    for i in 0..count {
        let t = DAY0 + i * 86_400 / count;
        let us = rng.below(1_000_000);
        let roll = rng.below(10_000);
        let host = rng.below(5000);
        // 0.1%: ten internal hosts sending large amounts over mail ports.
        let heavy = roll < 10;
        let src = if heavy {
            // two of them in 172.16/12, private like 10/8
            let n = 1 + rng.below(10);
            if n > 8 {
                format!("172.31.0.{n}")
            } else {
                format!("10.0.0.{n}")
            }
        } else {
            match rng.below(10) {
                0 => format!("192.168.{}.{}", host / 256, 1 + host % 254),
                1 => format!("172.16.{}.{}", host / 256, 1 + host % 254),
                2 => format!("203.0.113.{}", 1 + host % 254), // not private
                _ => format!("10.{}.{}.{}", host / 65536, host / 256 % 256, host % 256),
            }
        };
        let (port, service) = if heavy || roll < 500 {
            let p = MAIL_PORTS[rng.below(8) as usize];
            (
                p,
                if p == 110 || p == 995 {
                    "pop3"
                } else if p == 143 || p == 993 {
                    "imap"
                } else {
                    "smtp"
                },
            )
        } else {
            let p = OTHER_PORTS[rng.below(8) as usize];
            (
                p,
                if p == 53 {
                    "dns"
                } else if p == 443 {
                    "ssl"
                } else {
                    "-"
                },
            )
        };
        let dst = zeek_dst(&mut rng);
        let sent = if heavy {
            (15_000_000 + rng.below(30_000_000)).to_string()
        } else if rng.below(50) == 0 {
            "-".to_string()
        } else {
            rng.below(200_000).to_string()
        };
        let proto = if port == 53 { "udp" } else { "tcp" };
        writeln!(
            w,
            "{t}.{us:06}\tC{:016x}\t{src}\t{}\t{dst}\t{port}\t{proto}\t{service}\t{}.{:06}\t{sent}\t{}\tSF\tT\tF\t0\tShADadFf\t{}\t{}\t{}\t{}\t(empty)",
            rng.next(),
            49_152 + rng.below(16_000),
            rng.below(300),
            rng.below(1_000_000),
            rng.below(100_000),
            10 + rng.below(5000),
            rng.below(1_000_000),
            10 + rng.below(5000),
            rng.below(1_000_000),
        )?;
    }
    Ok(())
}

const DEFENDER_APPS: [&str; 12] = [
    "chrome.exe",
    "msedge.exe",
    "OUTLOOK.EXE",
    "outlook.exe",
    "Thunderbird.exe",
    "svchost.exe",
    "Teams.exe",
    "eM Client.exe",
    "mailclient.exe",
    "OUTLOO\u{212A}.EXE", // Kelvin sign: not outlook.exe under ASCII folding
    "python.exe",
    "",
];
// The empty name is a missing process.name, which `not in~` keeps (true on a missing field).
const DEFENDER_ODD: [&str; 5] = [
    "python.exe",
    "powershell.exe",
    "notify.exe",
    "OUTLOO\u{212A}.EXE",
    "",
];
const ACTIONS: [&str; 10] = [
    "ConnectionSuccess",
    "ConnectionSuccess",
    "ConnectionSuccess",
    "ConnectionSuccess",
    "ConnectionSuccess",
    "ConnectionFailed",
    "ConnectionRequest",
    "ConnectionAcknowledged",
    "InboundConnectionAccepted",
    "ListeningConnectionCreated",
];

fn defender_csv(w: &mut dyn Write, count: u64) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed_0000_def0_0003);
    writeln!(w, "Timestamp,DeviceId,DeviceName,ActionType,RemoteIP,RemotePort,RemoteUrl,LocalIP,LocalPort,Protocol,InitiatingProcessFileName,InitiatingProcessFolderPath,InitiatingProcessCommandLine,InitiatingProcessAccountDomain,InitiatingProcessAccountName,InitiatingProcessParentFileName")?;
    for i in 0..count {
        let t = DAY0 + i * 86_400 / count;
        let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
        let frac = rng.below(10_000_000);
        let mut host = rng.below(5000);
        let roll = rng.below(10_000);
        let action = if rng.below(200) == 0 {
            "FileCreated" // another table of a multi-table export: not applicable
        } else {
            ACTIONS[rng.below(10) as usize]
        };
        let (name, port, rip) = if roll < 30 {
            // 0.3%: unexpected mail senders on ten hosts, to a few servers: groups that alert.
            host = rng.below(10);
            let n = DEFENDER_ODD[rng.below(5) as usize];
            let p = [25, 587, 465, 993][rng.below(4) as usize];
            (n, p, format!("93.184.216.{}", 30 + rng.below(3)))
        } else {
            let n = DEFENDER_APPS[rng.below(12) as usize];
            let p = if roll < 700 {
                [25, 465, 587, 2525, 110, 995, 143, 993][rng.below(8) as usize]
            } else {
                OTHER_PORTS[rng.below(8) as usize]
            };
            let rip = format!(
                "{}.{}.{}.{}",
                [93, 151, 185, 52][rng.below(4) as usize],
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            );
            (n, p, rip)
        };
        let domain = if rng.below(100) == 0 { "" } else { "corp" };
        let listening = action == "ListeningConnectionCreated";
        let (rip, rport) = if listening {
            (String::new(), String::new())
        } else {
            (rip, port.to_string())
        };
        writeln!(
            w,
            "2026-11-20T{h:02}:{m:02}:{s:02}.{frac:07}Z,d{host:05},ws{host:05}.corp.example.com,{action},{rip},{rport},,10.{}.{}.{},{},Tcp,{name},c:\\apps\\{name},\"{name} --to \"\"ops@example.com, it@example.com\"\"\",{domain},user{:04},explorer.exe",
            host / 256 % 256,
            host % 256,
            1 + rng.below(254),
            49_152 + rng.below(16_000),
            host % 3000,
        )?;
    }
    Ok(())
}
