//! Boundary events generated from a rule's IR, so that engines disagree wherever meanings differ:
//! every listed value and its neighbours, case variants, prefix/suffix near-misses, the first and
//! last address of each CIDR block and the addresses just outside, both IP families, missing
//! fields, window edges, and group sizes / sums at the threshold minus one, exactly, and plus one.
//!
//! Events are *abstract*: catalogue field name -> typed IR value (the pivot every engine's input
//! is projected from). Fixed seeds; deterministic for a given rule.

use detc::ir::{self, AggFunc, CmpOp, Expr, FieldRef, FieldType, Op, Rule, StrOp, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub type AbstractEvent = BTreeMap<String, Value>;

/// A small deterministic PRNG (xorshift64*), so no crate is needed for fixed-seed generation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len()))
        }
    }
}

fn case_variants(s: &str) -> Vec<String> {
    let mut v = vec![s.to_string(), s.to_uppercase(), s.to_lowercase()];
    let mut t = String::new();
    for (i, c) in s.chars().enumerate() {
        if i % 2 == 0 {
            t.extend(c.to_uppercase());
        } else {
            t.extend(c.to_lowercase());
        }
    }
    v.push(t);
    v.extend(non_ascii_variants(s));
    v.sort();
    v.dedup();
    v
}

/// Spellings that ASCII-only case folding (the IR's) keeps apart from `s` but Unicode case
/// mapping would not: dotted and dotless i (U+0130, U+0131), the Kelvin sign (U+212A) for k, the
/// long s (U+017F) for s, the capital sharp s (U+1E9E) for `ß`, capital sigma for final sigma,
/// and É for é (and back).
fn non_ascii_variants(s: &str) -> Vec<String> {
    let swaps: [(char, &[char]); 9] = [
        ('i', &['\u{130}', '\u{131}']),
        ('I', &['\u{130}', '\u{131}']),
        ('k', &['\u{212A}']),
        ('K', &['\u{212A}']),
        ('s', &['\u{17F}']),
        ('ß', &['\u{1E9E}']),
        ('ς', &['Σ', 'σ']),
        ('é', &['É']),
        ('É', &['é']),
    ];
    let mut out = Vec::new();
    for (from, tos) in swaps {
        if let Some(i) = s.find(from) {
            for to in tos {
                let mut t = s.to_string();
                t.replace_range(i..i + from.len_utf8(), &to.to_string());
                out.push(t.clone());
                out.push(t.to_uppercase());
            }
        }
    }
    out
}

fn ip_add(ip: IpAddr, delta: i128) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) => {
            let n = i128::from(u32::from(a)) + delta;
            u32::try_from(n).ok().map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        }
        IpAddr::V6(a) => {
            let n = u128::from(a) as i128;
            let n = n.checked_add(delta)?;
            u128::try_from(n)
                .ok()
                .map(|n| IpAddr::V6(Ipv6Addr::from(n)))
        }
    }
}

fn cidr_edges(c: &ir::Cidr) -> Vec<IpAddr> {
    let size: i128 = match c.addr {
        IpAddr::V4(_) => 1i128 << (32 - u32::from(c.prefix)),
        IpAddr::V6(_) => {
            let bits = 128 - u32::from(c.prefix);
            if bits >= 127 {
                i128::MAX
            } else {
                1i128 << bits
            }
        }
    };
    let mut v = vec![c.addr];
    v.extend(ip_add(c.addr, -1));
    v.extend(ip_add(c.addr, size.saturating_sub(1)));
    v.extend(ip_add(c.addr, size));
    v.extend(ip_add(c.addr, size / 2));
    v
}

/// Candidate values per catalogue field, from every predicate that mentions it.
fn collect(e: &Expr, out: &mut BTreeMap<String, Vec<Value>>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| collect(x, out)),
        Expr::Not(x) => collect(x, out),
        Expr::Pred(p) => {
            let FieldRef::Field(f) = &p.field else { return };
            let slot = out.entry(f.clone()).or_default();
            let int_neighbours = |v: &Value, slot: &mut Vec<Value>| {
                if let Value::Int(n) = v {
                    for d in [-1, 0, 1] {
                        let m = n + d;
                        if p.ty != FieldType::Port || (0..=65535).contains(&m) {
                            slot.push(Value::Int(m));
                        }
                    }
                } else {
                    slot.push(v.clone());
                }
            };
            match &p.op {
                Op::Eq { value, .. } => match value {
                    Value::Str(s) => slot.extend(near_strings(s)),
                    v => int_neighbours(v, slot),
                },
                Op::In { values, .. } => {
                    for v in values {
                        match v {
                            Value::Str(s) => slot.extend(near_strings(s)),
                            v => int_neighbours(v, slot),
                        }
                    }
                }
                Op::Str { kind, needles, .. } => {
                    for n in needles {
                        for c in case_variants(n) {
                            let (hit, miss) = match kind {
                                StrOp::StartsWith => (format!("{c}tail"), format!("x{c}")),
                                StrOp::EndsWith => (format!("C:\\dir{c}"), format!("{c}x")),
                                StrOp::Contains => (format!("a{c}b"), c.chars().skip(1).collect()),
                            };
                            slot.push(Value::Str(hit));
                            slot.push(Value::Str(miss));
                            slot.push(Value::Str(c));
                        }
                    }
                }
                Op::Regex { pattern, .. } => {
                    // Literal runs of the pattern give strings that match or nearly match.
                    let lit: String = pattern
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == '.')
                        .collect();
                    slot.extend(case_variants(&lit).into_iter().map(Value::Str));
                }
                Op::InCidr { blocks, .. } => {
                    for b in blocks {
                        slot.extend(cidr_edges(b).into_iter().map(Value::Ip));
                    }
                }
                Op::IpClass { class } => {
                    let blocks = if *class == ir::IpClass::Public {
                        ir::IpClass::non_public_blocks()
                    } else {
                        class.blocks()
                    };
                    for b in blocks {
                        slot.extend(cidr_edges(&b).into_iter().map(Value::Ip));
                    }
                    for s in [
                        "8.8.8.8",
                        "198.51.99.255",
                        "2606:4700::1111",
                        "100.63.255.255",
                        "100.128.0.0",
                    ] {
                        if let Ok(ip) = s.parse() {
                            slot.push(Value::Ip(ip));
                        }
                    }
                }
                Op::Cmp { value, .. } => int_neighbours(value, slot),
                Op::Exists => {}
            }
        }
        Expr::Compare(c) => {
            let values = compare_candidates(c);
            let times = c.time_refs();
            for r in c.refs() {
                if times.contains(&r) {
                    out.entry(r.name().to_string())
                        .or_default()
                        .extend(time_candidates(c).into_iter().map(Value::Timestamp));
                    continue;
                }
                if let FieldRef::Field(f) = r {
                    let port = matches!(
                        ir::catalogue::field(source_of(c), f).map(|d| d.ty),
                        Some(FieldType::Port)
                    );
                    out.entry(f.clone()).or_default().extend(
                        values
                            .iter()
                            .filter(|v| !port || (0..=65535).contains(*v))
                            .map(|v| Value::Int(*v)),
                    );
                }
            }
        }
    }
}

/// The source a comparison's fields belong to: the one whose catalogue has them all (both
/// sources share names such as `bytes.sent`, with the same types).
fn source_of(c: &ir::Comparison) -> ir::Source {
    let names: Vec<&str> = c.refs().iter().map(|r| r.name()).collect();
    *ir::catalogue::SOURCES
        .iter()
        .find(|s| names.iter().all(|n| ir::catalogue::field(**s, n).is_some()))
        .unwrap_or(&ir::Source::NetworkFlow)
}

/// Values around a comparison's boundaries: every literal in it (k), k ± 1, the same scaled by
/// 1000 (so that `a > 20 * b` meets a = 20000, b = 1000 exactly and either side), 0 (a zero
/// divisor), 1, 2, 3 (odd ratios, non-integer results) and large values: 2^53 and 2^53 + 1 (the
/// first integer a double cannot hold: every engine must round it alike) and 2^60 + 1. Bounded
/// to 2^61 so that a sum of two stays an i64 on every engine.
fn compare_candidates(c: &ir::Comparison) -> Vec<i64> {
    fn lits(v: &ir::ValueExpr, out: &mut Vec<i64>) {
        match v {
            ir::ValueExpr::Num { value } => out.push(*value),
            ir::ValueExpr::Arith { left, right, .. } => {
                lits(left, out);
                lits(right, out);
            }
            ir::ValueExpr::Ref { .. } | ir::ValueExpr::Time { .. } => {}
        }
    }
    let mut ks = vec![1];
    lits(&c.left, &mut ks);
    lits(&c.right, &mut ks);
    let mut out = vec![0, 1, 2, 3, 1000, 1 << 53, (1 << 53) + 1, (1 << 60) + 1];
    for k in ks {
        for m in [1i64, 1000] {
            let Some(km) = k.checked_mul(m) else { continue };
            for d in [-1i64, 0, 1] {
                out.extend(km.checked_add(d).filter(|v| (0..1 << 61).contains(v)));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Times around `hour()` and `weekday()` boundaries in each offset the comparison reads: the
/// first and the last second of every hour of the local days from Saturday 2024-04-27 to
/// Monday 2024-04-29, so each hour threshold, each midnight and both week-end edges are met
/// exactly and one second before, in the declared offset (a Sunday 23:30 UTC is a Monday at
/// +02:00).
fn time_candidates(c: &ir::Comparison) -> Vec<i64> {
    fn offsets(v: &ir::ValueExpr, out: &mut Vec<i64>) {
        match v {
            ir::ValueExpr::Time { offset_minutes, .. } => out.push(i64::from(*offset_minutes)),
            ir::ValueExpr::Arith { left, right, .. } => {
                offsets(left, out);
                offsets(right, out);
            }
            ir::ValueExpr::Ref { .. } | ir::ValueExpr::Num { .. } => {}
        }
    }
    let mut offs = Vec::new();
    offsets(&c.left, &mut offs);
    offsets(&c.right, &mut offs);
    let saturday = 1_714_176_000i64; // 2024-04-27 00:00:00 UTC
    let mut out = Vec::new();
    for off in offs {
        for h in 0..72 {
            let start = saturday - off * 60 + h * 3600;
            out.extend([start, start + 3599, start + 1800]);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every comparison of values in `e`.
fn comparisons(e: &Expr) -> Vec<&ir::Comparison> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().flat_map(comparisons).collect(),
        Expr::Not(x) => comparisons(x),
        Expr::Pred(_) => Vec::new(),
        Expr::Compare(c) => vec![c],
    }
}

fn near_strings(s: &str) -> Vec<Value> {
    let mut v: Vec<Value> = case_variants(s).into_iter().map(Value::Str).collect();
    v.push(Value::Str(format!("{s} ")));
    v.push(Value::Str(format!("x{s}")));
    v.push(Value::Str(
        s.chars()
            .take(s.chars().count().saturating_sub(1))
            .collect(),
    ));
    v
}

/// Values for a field that no predicate mentions (keys, aggregated fields, etc.).
fn filler(name: &str, ty: &FieldType, rng: &mut Rng) -> Option<Value> {
    Some(match ty {
        FieldType::String => Value::Str(match name {
            "host" => format!("HOST{}", rng.below(3)),
            "user" => format!("CORP\\user{}", rng.below(3)),
            "process.name" => ["svc.exe", "Tool.EXE", "app.exe"][rng.below(3)].to_string(),
            _ => format!("{}-{}", name.replace('.', "_"), rng.below(3)),
        }),
        FieldType::Port => Value::Int([25, 443, 993, 50000][rng.below(4)]),
        FieldType::Bytes | FieldType::Int => Value::Int((rng.below(5000) as i64) * 1000),
        FieldType::Duration => Value::Int(rng.below(100) as i64),
        FieldType::Ip => Value::Ip(
            [
                "10.0.0.5",
                "192.168.1.9",
                "198.51.100.7",
                "203.0.113.9",
                "fd00::5",
                "2001:db8::7",
                "8.8.4.4",
            ][rng.below(7)]
            .parse()
            .ok()?,
        ),
        FieldType::Timestamp => return None,
        FieldType::Enum(vals) => Value::Enum(rng.pick(vals)?.clone()),
    })
}

/// Keeps `process.name` and `process.path` consistent, as every real source does: the name is
/// the file-name part of the path.
fn harmonise(ev: &mut AbstractEvent, rng: &mut Rng) {
    match (
        ev.get("process.name").cloned(),
        ev.get("process.path").cloned(),
    ) {
        (Some(Value::Str(n)), _) => {
            let dir = [
                "C:\\Windows\\System32\\",
                "C:\\Program Files\\App\\",
                "C:\\Users\\a\\AppData\\",
            ][rng.below(3)];
            ev.insert("process.path".into(), Value::Str(format!("{dir}{n}")));
        }
        (None, Some(Value::Str(p))) => {
            let n = p.rsplit(['\\', '/']).next().unwrap_or(&p).to_string();
            if n.is_empty() {
                // A process image is a file, never a folder: a candidate that is a folder (a
                // `startswith` needle such as `C:\Program Files\Mozilla Thunderbird\`) gets a
                // file in it. Its empty name would put every folder in one IR group where Sigma
                // groups by the full path (W0903); the file is named after its folder so that
                // two folders do not share a name and meet that documented difference either.
                let n = format!("{}.exe", p.replace(['\\', '/', ':'], "_"));
                ev.insert("process.path".into(), Value::Str(format!("{p}{n}")));
                ev.insert("process.name".into(), Value::Str(n));
            } else {
                ev.insert("process.name".into(), Value::Str(n));
            }
        }
        _ => {}
    }
}

/// Generates boundary events for `rule`. `matches` is used only to find events that satisfy the
/// filter, to build groups around the `having` thresholds; the comparison itself is between engines.
pub fn generate(
    rule: &Rule,
    seed: u64,
    matches: &dyn Fn(&AbstractEvent) -> bool,
) -> Vec<AbstractEvent> {
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let catalogue = ir::catalogue::fields(rule.source);
    let mut cands: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    collect(&rule.filter, &mut cands);
    for l in &rule.lets {
        for (c, _) in &l.arms {
            collect(c, &mut cands);
        }
    }
    for v in cands.values_mut() {
        v.sort();
        v.dedup();
    }
    let window = rule
        .aggregation
        .as_ref()
        .map(|a| a.window as i64)
        .unwrap_or(3600);
    // A base time well away from the epoch, aligned to the window, plus edge offsets.
    let base = 1_714_521_600i64 - 1_714_521_600i64.rem_euclid(window);
    let time_offsets = [0, 1, window / 2, window - 1, window, window + 1];

    let random_event = |rng: &mut Rng| -> AbstractEvent {
        let mut ev = AbstractEvent::new();
        for f in &catalogue {
            if f.name == "time" {
                let off = time_offsets[rng.below(time_offsets.len())];
                ev.insert("time".into(), Value::Timestamp(base + off));
                continue;
            }
            // 1 in 12: the field is missing.
            if rng.below(12) == 0 {
                continue;
            }
            let v = match cands.get(f.name) {
                Some(c) if !c.is_empty() && rng.below(4) != 0 => c[rng.below(c.len())].clone(),
                _ => match filler(f.name, &f.ty, rng) {
                    Some(v) => v,
                    None => continue,
                },
            };
            ev.insert(f.name.to_string(), v);
        }
        harmonise(&mut ev, rng);
        ev
    };

    let mut out = Vec::new();
    // 1. Every candidate value of every field, each in an otherwise random event.
    for (field, values) in &cands {
        for v in values {
            let mut ev = random_event(&mut rng);
            ev.insert(field.clone(), v.clone());
            if field == "process.path" {
                ev.remove("process.name");
            }
            harmonise(&mut ev, &mut rng);
            out.push(ev);
        }
    }
    // 2. Random combinations.
    for _ in 0..400 {
        out.push(random_event(&mut rng));
    }
    // 3. Around every having threshold: groups whose size / sum / distinct count is the threshold
    //    minus one, exactly, and plus one, built from events that satisfy the filter.
    let templates: Vec<AbstractEvent> = {
        let mut t: Vec<AbstractEvent> = out.iter().filter(|e| matches(e)).cloned().collect();
        let mut tries = 0;
        while t.len() < 8 && tries < 20_000 {
            let e = random_event(&mut rng);
            if matches(&e) {
                t.push(e);
            }
            tries += 1;
        }
        t
    };
    // 4. Absent values of every field a predicate reads (missing, empty, and a value that does
    //    not parse as the field's type), each in an otherwise matching event, repeated into a
    //    group large enough to pass a count threshold: under `not`, Kusto's null would drop it.
    if !templates.is_empty() {
        let size = rule
            .aggregation
            .as_ref()
            .map(|a| {
                having_thresholds(a)
                    .iter()
                    .filter(|(f, _)| *f == AggFunc::Count)
                    .map(|(_, v)| *v)
                    .max()
                    .unwrap_or(1)
                    .clamp(1, 500)
            })
            .unwrap_or(1);
        let mut k = 0usize;
        for field in cands.keys() {
            let Some(def) = catalogue.iter().find(|f| f.name == field) else {
                continue;
            };
            for variant in absent_variants(&def.ty) {
                let Some(t) = templates.get(k % templates.len()) else {
                    continue;
                };
                let mut t = t.clone();
                match variant {
                    Some(v) => t.insert(field.clone(), v),
                    None => t.remove(field),
                };
                if field != "host" {
                    if let Some(Value::Str(_)) = t.get("host") {
                        t.insert("host".into(), Value::Str(format!("ABSENT{k}")));
                    }
                }
                let wstart = base + window * (100 + k as i64);
                out.extend(group_events(&t, &AggFunc::Count, size, wstart, window));
                k += 1;
            }
        }
    }
    // 5. Every comparison of values over the cross product of its fields' candidates (missing
    //    included), in events that otherwise match: a ratio exactly at its threshold and either
    //    side, a zero divisor, a missing operand, non-integer results, large values.
    let mut compares: Vec<&ir::Comparison> = comparisons(&rule.filter);
    for l in &rule.lets {
        for (c, _) in &l.arms {
            compares.extend(comparisons(c));
        }
    }
    let bases: Vec<AbstractEvent> = if templates.is_empty() {
        (0..8).map(|_| random_event(&mut rng)).collect()
    } else {
        templates.clone()
    };
    let mut k = 0usize;
    for c in compares {
        let fields: Vec<String> = c
            .refs()
            .iter()
            .filter_map(|r| match r {
                FieldRef::Field(f) => Some(f.clone()),
                _ => None,
            })
            .take(3)
            .collect();
        let mut combos: Vec<Vec<Option<Value>>> = vec![Vec::new()];
        for f in &fields {
            let mut vals: Vec<Option<Value>> = vec![None, Some(Value::Str("n/a".into()))];
            vals.extend(cands.get(f).into_iter().flatten().cloned().map(Some));
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    vals.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .take(1500)
                .collect();
        }
        for combo in combos {
            let Some(t) = bases.get(k % bases.len()) else {
                continue;
            };
            let mut ev = t.clone();
            for (f, v) in fields.iter().zip(combo) {
                match v {
                    Some(v) => ev.insert(f.clone(), v),
                    None => ev.remove(f),
                };
            }
            out.push(ev);
            k += 1;
        }
    }
    // 6. Around every comparison of aggregates in `having`: groups whose sums and counts are the
    //    cross product of candidate totals (a ratio of sums at its threshold and either side, a
    //    zero or missing sum).
    if let (Some(agg), false) = (&rule.aggregation, templates.is_empty()) {
        let compares: Vec<&ir::Comparison> =
            agg.having.as_ref().map(comparisons).unwrap_or_default();
        let count_size = having_thresholds(agg)
            .iter()
            .filter(|(f, _)| *f == AggFunc::Count)
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(1)
            .clamp(1, 60);
        let mut g = 0i64;
        for c in compares {
            let values = compare_candidates(c);
            let funcs: Vec<AggFunc> = c
                .refs()
                .iter()
                .filter_map(|r| agg.aggregates.iter().find(|a| a.name == r.name()))
                .map(|a| a.func.clone())
                .filter(|f| matches!(f, AggFunc::Count | AggFunc::Sum(FieldRef::Field(_))))
                .take(3)
                .collect();
            let mut combos: Vec<Vec<Option<i64>>> = vec![Vec::new()];
            for f in &funcs {
                let vals: Vec<Option<i64>> = match f {
                    AggFunc::Count => values
                        .iter()
                        .filter(|v| (1..=60).contains(*v))
                        .map(|v| Some(*v))
                        .collect(),
                    _ => std::iter::once(None)
                        .chain(values.iter().map(|v| Some(*v)))
                        .collect(),
                };
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        vals.iter().map(move |v| {
                            let mut c = c.clone();
                            c.push(*v);
                            c
                        })
                    })
                    .take(400)
                    .collect();
            }
            for combo in combos {
                let Some(t) = templates.get(g as usize % templates.len()) else {
                    continue;
                };
                let mut t = t.clone();
                // Its own group, with its keys present: a missing key is a group of its own in
                // the IR but dropped by tstats (W0904), which is not what this section tests.
                let tag = format!("C{g}");
                for key in ["host", "src.ip"] {
                    let ty = catalogue.iter().find(|f| f.name == key).map(|f| &f.ty);
                    let replaced = match ty {
                        Some(FieldType::String) => Some(Value::Str(tag.clone())),
                        Some(FieldType::Ip) => Some(Value::Ip(IpAddr::V4(Ipv4Addr::new(
                            10,
                            88,
                            (g / 250) as u8,
                            (g % 250) as u8,
                        )))),
                        _ => None,
                    };
                    if let Some(v) = replaced {
                        t.insert(key.to_string(), v);
                    }
                }
                // A group as large as the `having`'s count thresholds ask, unless the comparison
                // itself reads the count.
                let n = funcs
                    .iter()
                    .zip(&combo)
                    .find_map(|(f, v)| (*f == AggFunc::Count).then_some(*v).flatten())
                    .unwrap_or(count_size);
                let wstart = base + window * (1000 + g);
                for i in 0..n {
                    let mut e = t.clone();
                    e.insert(
                        "time".into(),
                        Value::Timestamp(wstart + (i * 7) % window.max(1)),
                    );
                    for (f, v) in funcs.iter().zip(&combo) {
                        if let AggFunc::Sum(FieldRef::Field(field)) = f {
                            match v {
                                None => {
                                    e.remove(field);
                                }
                                Some(total) => {
                                    e.insert(
                                        field.clone(),
                                        Value::Int(if i == 0 { *total } else { 0 }),
                                    );
                                }
                            }
                        }
                    }
                    out.push(e);
                }
                g += 1;
            }
        }
    }
    if let (Some(agg), false) = (&rule.aggregation, templates.is_empty()) {
        let thresholds = having_thresholds(agg);
        for (i, (func, value)) in thresholds.iter().enumerate() {
            for delta in [-1i64, 0, 1] {
                let target = value + delta;
                if target < 0 {
                    continue;
                }
                let Some(t) = templates.get((i * 3 + (delta + 1) as usize) % templates.len())
                else {
                    continue;
                };
                // A distinct group: its own host/src and its own window.
                let mut t = t.clone();
                let group_tag = format!("G{i}_{}", delta + 1);
                for key in ["host", "src.ip"] {
                    let replaced = match t.get(key) {
                        Some(Value::Str(_)) => Some(Value::Str(group_tag.clone())),
                        Some(Value::Ip(_)) => Some(Value::Ip(IpAddr::V4(Ipv4Addr::new(
                            10,
                            77,
                            i as u8,
                            (delta + 1) as u8,
                        )))),
                        _ => None,
                    };
                    if let Some(v) = replaced {
                        t.insert(key.to_string(), v);
                    }
                }
                let wstart = base + window * (10 + 3 * i as i64 + delta + 1);
                let events = group_events(&t, func, target, wstart, window);
                out.extend(events.into_iter().filter(|e| matches(e)));
            }
        }
    }
    out
}

/// The ways a field can hold no usable value: missing (`None`), the empty string, and (for
/// typed fields) text that does not parse as the type. A timestamp is never absent: no engine
/// can place such an event in a window, and the evaluator rejects it as a bad line.
pub fn absent_variants(ty: &FieldType) -> Vec<Option<Value>> {
    match ty {
        FieldType::Timestamp => Vec::new(),
        FieldType::String | FieldType::Enum(_) => vec![None, Some(Value::Str(String::new()))],
        FieldType::Ip => vec![
            None,
            Some(Value::Str(String::new())),
            Some(Value::Str("not-an-ip".into())),
            Some(Value::Str("10.0.0.256".into())),
        ],
        FieldType::Port | FieldType::Bytes | FieldType::Int | FieldType::Duration => vec![
            None,
            Some(Value::Str(String::new())),
            Some(Value::Str("n/a".into())),
        ],
    }
}

/// (aggregate function, threshold) for each comparison in `having`.
fn having_thresholds(agg: &ir::Aggregation) -> Vec<(AggFunc, i64)> {
    let mut out = Vec::new();
    fn walk(e: &Expr, agg: &ir::Aggregation, out: &mut Vec<(AggFunc, i64)>) {
        match e {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| walk(x, agg, out)),
            Expr::Not(x) => walk(x, agg, out),
            Expr::Pred(p) => {
                let val = match &p.op {
                    Op::Cmp {
                        op,
                        value: Value::Int(n),
                    } => match op {
                        CmpOp::Gt | CmpOp::Le => *n + 1,
                        CmpOp::Ge | CmpOp::Lt => *n,
                    },
                    Op::Eq {
                        value: Value::Int(n),
                        ..
                    } => *n,
                    _ => return,
                };
                if let Some(a) = agg.aggregates.iter().find(|a| a.name == p.field.name()) {
                    out.push((a.func.clone(), val));
                }
            }
            Expr::Compare(_) => {}
        }
    }
    if let Some(h) = &agg.having {
        walk(h, agg, &mut out);
    }
    out
}

/// Events of one group reaching `target` for `func` (bounded to keep runs small).
fn group_events(
    t: &AbstractEvent,
    func: &AggFunc,
    target: i64,
    wstart: i64,
    window: i64,
) -> Vec<AbstractEvent> {
    let at = |k: i64| Value::Timestamp(wstart + (k * 7) % window.max(1));
    match func {
        AggFunc::Count => (0..target.min(500))
            .map(|k| {
                let mut e = t.clone();
                e.insert("time".into(), at(k));
                e
            })
            .collect(),
        AggFunc::Sum(FieldRef::Field(f)) => {
            // Two events whose values add up to target.
            let half = target / 2;
            [half, target - half]
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    let mut e = t.clone();
                    e.insert("time".into(), at(k as i64));
                    e.insert(f.clone(), Value::Int(*v));
                    e
                })
                .collect()
        }
        AggFunc::DistinctCount(FieldRef::Field(f)) => (0..target.min(300))
            .map(|k| {
                let mut e = t.clone();
                e.insert("time".into(), at(k));
                let v =
                    match e.get(f) {
                        Some(Value::Ip(IpAddr::V4(_))) | None => Value::Ip(IpAddr::V4(
                            Ipv4Addr::new(45, 33, (k / 250) as u8, (k % 250) as u8 + 1),
                        )),
                        Some(Value::Ip(IpAddr::V6(_))) => Value::Ip(IpAddr::V6(Ipv6Addr::new(
                            0x2001,
                            0xdb8,
                            0,
                            0,
                            0,
                            0,
                            0,
                            k as u16 + 1,
                        ))),
                        Some(Value::Int(_)) => Value::Int(1000 + k),
                        Some(_) => Value::Str(format!("v{k}")),
                    };
                e.insert(f.clone(), v);
                e
            })
            .collect(),
        _ => Vec::new(),
    }
}
