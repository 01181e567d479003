//! The parse floor for the benchmark: read a Sysmon JSON-lines file and deserialize every line
//! with serde_json into a typed struct (borrowed strings), on all cores, doing nothing else but
//! counting lines whose DestinationPort is a mail port. Anything that fully parses every line
//! costs at least this much.
//!
//! `cargo run --release --example parse_floor -- FILE.jsonl`

use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Ev<'a> {
    #[serde(rename = "EventID")]
    event_id: u32,
    #[serde(rename = "UtcTime", borrow)]
    utc_time: &'a str,
    #[serde(rename = "Hostname", borrow)]
    hostname: &'a str,
    #[serde(rename = "User", borrow)]
    user: std::borrow::Cow<'a, str>,
    #[serde(rename = "Image", borrow)]
    image: std::borrow::Cow<'a, str>,
    #[serde(rename = "Initiated", borrow)]
    initiated: &'a str,
    #[serde(rename = "DestinationIp", borrow)]
    destination_ip: &'a str,
    #[serde(rename = "DestinationPort", borrow)]
    destination_port: &'a str,
}

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_floor FILE.jsonl");
        return std::process::ExitCode::from(2);
    };
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("parse_floor: {path}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // Cut into `threads` parts at newlines.
    let mut cuts = vec![0];
    for t in 1..threads {
        let mut at = data.len() * t / threads;
        while at < data.len() && data[at - 1] != b'\n' {
            at += 1;
        }
        cuts.push(at);
    }
    cuts.push(data.len());
    let mail = ["25", "465", "587", "2525", "110", "995", "143", "993"];
    let (lines, hits, bad) = std::thread::scope(|s| {
        let hs: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let part = &data[w[0]..w[1]];
                s.spawn(move || {
                    let (mut n, mut hit, mut bad) = (0u64, 0u64, 0u64);
                    for line in part.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        n += 1;
                        match serde_json::from_slice::<Ev>(line) {
                            Ok(ev) => hit += u64::from(mail.contains(&ev.destination_port)),
                            Err(_) => bad += 1,
                        }
                    }
                    (n, hit, bad)
                })
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| h.join().ok())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    });
    eprintln!("parse_floor: {lines} lines, {hits} on mail ports, {bad} unparsable");
    std::process::ExitCode::SUCCESS
}
