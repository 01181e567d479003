//! Writes Sysmon-style network-connection events as JSON lines for the benchmark
//! (scripts/bench.sh): fixed seed, so the same arguments give the same bytes.
//!
//! `cargo run --release --example bench_gen -- OUT.jsonl [COUNT]` (default 2,000,000 events,
//! ~360 bytes each): 5,000 hosts over one day; ~2% on mail ports (mostly Outlook and
//! Thunderbird, some Exchange, some other processes on 10 hosts); a few thousand events from
//! powershell.exe / rundll32.exe, part of them on mail ports.

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

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: bench_gen OUT.jsonl [COUNT]");
        return std::process::ExitCode::from(2);
    };
    let count: u64 = args
        .get(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000_000);
    let file = match std::fs::File::create(out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench_gen: cannot create {out}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(0x5eed_0000_d37c_0001);
    let day0: u64 = 1_795_132_800; // 2026-11-20T00:00:00Z
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
        let r = writeln!(
            w,
            "{{\"EventID\":3,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"UtcTime\":\"2026-11-20 {h:02}:{m:02}:{s:02}.{ms:03}\",\"Hostname\":\"WS{host:05}.corp.example.com\",\"User\":\"CORP\\\\user{:04}\",\"ProcessId\":\"{}\",\"Image\":\"{image}\",\"Protocol\":\"tcp\",\"Initiated\":\"{initiated}\",\"SourceIp\":\"10.{}.{}.{}\",\"SourcePort\":\"{}\",\"DestinationIp\":\"{dst}\",\"DestinationPort\":\"{port}\"}}",
            host % 3000,
            1000 + rng.below(60_000),
            host / 256 % 256,
            host % 256,
            1 + rng.below(254),
            49_152 + rng.below(16_000),
        );
        if let Err(e) = r {
            eprintln!("bench_gen: write error: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    if let Err(e) = w.flush() {
        eprintln!("bench_gen: write error: {e}");
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}
