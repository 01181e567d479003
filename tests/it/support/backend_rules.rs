//! Hand-built IR rules for the backend tests, written from the rule pack's description (the
//! parser had not landed when these were written). Each mirrors one rule of rules/ or exercises
//! one construct (hostile values, IPv6, case, missing fields).

use detc::diag::Span;
use detc::ir::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub fn span() -> Span {
    Span::file("backend_rules.rs")
}

pub fn meta(title: &str) -> Meta {
    Meta {
        title: title.to_string(),
        description: Some(format!("{title}. Hand-built test rule.")),
        author: Some("detc tests".into()),
        date: Some("2026-11-26".into()),
        modified: None,
        status: Status::Experimental,
        severity: Level::High,
        confidence: Some(Confidence::Medium),
        techniques: vec!["T1071.003".into()],
        analytics: vec![],
        references: vec!["https://attack.mitre.org/techniques/T1071/003/".into()],
        false_positives: vec!["Mail servers and sanctioned mail clients".into()],
        tags: vec![],
    }
}

pub fn ty_of(source: Source, field: &str) -> FieldType {
    catalogue::field(source, field)
        .map(|f| f.ty)
        .unwrap_or(FieldType::String)
}

pub fn pred(source: Source, field: &str, op: Op) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Field(field.into()),
        ty: ty_of(source, field),
        op,
        span: span(),
    })
}

pub fn computed(name: &str, op: Op) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Computed(name.into()),
        ty: FieldType::String,
        op,
        span: span(),
    })
}

pub fn having(agg: &str, op: CmpOp, n: i64) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Aggregate(agg.into()),
        ty: FieldType::Int,
        op: Op::Cmp {
            op,
            value: Value::Int(n),
        },
        span: span(),
    })
}

pub fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

pub fn eq_enum(v: &str) -> Op {
    Op::Eq {
        value: Value::Enum(v.into()),
        case: Case::Sensitive,
    }
}

pub fn ints(v: &[i64]) -> Vec<Value> {
    v.iter().map(|n| Value::Int(*n)).collect()
}

pub fn strs(v: &[&str]) -> Vec<Value> {
    v.iter().map(|s| Value::Str(s.to_string())).collect()
}

pub fn port_in(v: &[i64]) -> Op {
    Op::In {
        values: ints(v),
        case: Case::Sensitive,
        list: Some("mail_ports".into()),
    }
}

pub fn in_i(v: &[&str], list: &str) -> Op {
    Op::In {
        values: strs(v),
        case: Case::Insensitive,
        list: Some(list.into()),
    }
}

pub fn agg(name: &str, func: AggFunc, ty: FieldType) -> Aggregate {
    Aggregate {
        name: name.into(),
        func,
        ty,
        span: span(),
    }
}

pub fn f(n: &str) -> FieldRef {
    FieldRef::Field(n.into())
}

pub const MAIL_PORTS: [i64; 8] = [25, 465, 587, 2525, 110, 995, 143, 993];
pub const MAIL_CLIENTS: [&str; 4] = [
    "outlook.exe",
    "thunderbird.exe",
    "MailClient.exe",
    "eM Client.exe",
];
pub const MAIL_SERVERS: [&str; 4] = [
    "MSExchangeHMWorker.exe",
    "MSExchangeFrontendTransport.exe",
    "MSExchangeTransport.exe",
    "EdgeTransport.exe",
];

pub fn protocol_let(else_value: &str) -> Let {
    let nc = Source::NetworkConnection;
    Let {
        name: "protocol".into(),
        ty: FieldType::String,
        arms: vec![
            (
                pred(nc, "remote.port", port_in(&[25, 465, 587, 2525])),
                Value::Str("SMTP".into()),
            ),
            (
                pred(nc, "remote.port", port_in(&[110, 995])),
                Value::Str("POP3".into()),
            ),
        ],
        default: Some(Value::Str(else_value.into())),
        depends_on: vec!["remote.port".into()],
        span: span(),
    }
}

/// AN0379: mail protocol from a process that is neither a mail client nor a mail server.
pub fn an0379() -> Rule {
    let nc = Source::NetworkConnection;
    Rule {
        id: "3f6c8a52-6d0e-4c1b-9a57-2b8f1e0c7d41".into(),
        name: "an0379_mail_protocol_unexpected_process".into(),
        meta: Meta {
            analytics: vec!["AN0379".into()],
            ..meta("Mail protocol connection from a process that is not a mail client")
        },
        source: nc,
        filter: Expr::And(vec![
            pred(nc, "direction", eq_enum("outbound")),
            pred(nc, "remote.port", port_in(&MAIL_PORTS)),
            not(pred(
                nc,
                "process.name",
                in_i(&MAIL_CLIENTS, "mail_clients"),
            )),
            not(pred(
                nc,
                "process.name",
                in_i(&MAIL_SERVERS, "mail_servers"),
            )),
            not(pred(
                nc,
                "remote.ip",
                Op::IpClass {
                    class: IpClass::Loopback,
                },
            )),
        ]),
        lets: vec![protocol_let("IMAP")],
        aggregation: Some(Aggregation {
            window: 3600,
            group_by: vec![
                f("host"),
                f("user"),
                f("process.name"),
                FieldRef::Computed("protocol".into()),
            ],
            aggregates: vec![
                agg("connections", AggFunc::Count, FieldType::Int),
                agg(
                    "destinations",
                    AggFunc::DistinctCount(f("remote.ip")),
                    FieldType::Int,
                ),
                agg("first_seen", AggFunc::Min(f("time")), FieldType::Timestamp),
                agg("last_seen", AggFunc::Max(f("time")), FieldType::Timestamp),
            ],
            having: Some(having("connections", CmpOp::Ge, 3)),
            span: span(),
        }),
        tests: vec![],
        span: span(),
    }
}

/// A scripting host on a mail port: one alert per event.
pub fn scripting_host_mail() -> Rule {
    let nc = Source::NetworkConnection;
    Rule {
        id: "7b1e2c3d-4f50-4a61-8b72-9c83d4e5f601".into(),
        name: "an0379_scripting_host_mail".into(),
        meta: Meta {
            analytics: vec!["AN0379".into()],
            ..meta("Scripting host or LOLBin connecting to a mail port")
        },
        source: nc,
        filter: Expr::And(vec![
            pred(nc, "direction", eq_enum("outbound")),
            pred(nc, "remote.port", port_in(&MAIL_PORTS)),
            pred(
                nc,
                "process.name",
                in_i(
                    &[
                        "powershell.exe",
                        "pwsh.exe",
                        "rundll32.exe",
                        "regsvr32.exe",
                        "mshta.exe",
                        "wscript.exe",
                        "cscript.exe",
                        "cmd.exe",
                    ],
                    "scripting_hosts",
                ),
            ),
        ]),
        lets: vec![],
        aggregation: None,
        tests: vec![],
        span: span(),
    }
}

pub fn cidr(s: &str) -> Cidr {
    Cidr::parse(s).unwrap_or(Cidr {
        addr: IpAddr::from([0, 0, 0, 0]),
        prefix: 32,
    })
}

/// AN0382: external mail volume from a private host, per source address and hour.
pub fn an0382() -> Rule {
    let nf = Source::NetworkFlow;
    Rule {
        id: "c0a80182-0382-4e2a-9d1b-5f6a7b8c9d0e".into(),
        name: "an0382_external_mail_volume".into(),
        meta: Meta {
            analytics: vec!["AN0382".into()],
            ..meta("Large volume of mail traffic to external servers")
        },
        source: nf,
        filter: Expr::And(vec![
            pred(nf, "dst.port", port_in(&MAIL_PORTS)),
            pred(
                nf,
                "dst.ip",
                Op::IpClass {
                    class: IpClass::Public,
                },
            ),
            not(pred(
                nf,
                "dst.ip",
                Op::InCidr {
                    blocks: vec![cidr("203.0.113.0/24"), cidr("2001:db8:25::/48")],
                    list: Some("approved_relays".into()),
                },
            )),
            pred(
                nf,
                "src.ip",
                Op::IpClass {
                    class: IpClass::Private,
                },
            ),
        ]),
        lets: vec![],
        aggregation: Some(Aggregation {
            window: 3600,
            group_by: vec![f("src.ip")],
            aggregates: vec![
                agg("sent", AggFunc::Sum(f("bytes.sent")), FieldType::Bytes),
                agg("connections", AggFunc::Count, FieldType::Int),
                agg(
                    "destinations",
                    AggFunc::DistinctCount(f("dst.ip")),
                    FieldType::Int,
                ),
            ],
            having: Some(having("sent", CmpOp::Gt, 50 * 1024 * 1024)),
            span: span(),
        }),
        tests: vec![],
        span: span(),
    }
}

/// T1071.003 as the seed Defender query meant it, done right.
pub fn t1071_003() -> Rule {
    let nc = Source::NetworkConnection;
    Rule {
        id: "a1b2c3d4-1071-4003-8a00-000000000003".into(),
        name: "t1071_003_defender_mail_ports".into(),
        meta: meta("Successful mail-protocol connections from unexpected processes"),
        source: nc,
        filter: Expr::And(vec![
            pred(
                nc,
                "remote.port",
                port_in(&[25, 465, 587, 110, 995, 143, 993]),
            ),
            pred(nc, "outcome", eq_enum("succeeded")),
            not(pred(
                nc,
                "process.name",
                in_i(
                    &[
                        "outlook.exe",
                        "thunderbird.exe",
                        "MailClient.exe",
                        "eM Client.exe",
                        "msedge.exe",
                        "chrome.exe",
                    ],
                    "sanctioned",
                ),
            )),
        ]),
        lets: vec![Let {
            arms: vec![
                (
                    pred(nc, "remote.port", port_in(&[25, 465, 587])),
                    Value::Str("SMTP".into()),
                ),
                (
                    pred(nc, "remote.port", port_in(&[110, 995])),
                    Value::Str("POP3".into()),
                ),
                (
                    pred(nc, "remote.port", port_in(&[143, 993])),
                    Value::Str("IMAP".into()),
                ),
            ],
            ..protocol_let("Unknown")
        }],
        aggregation: Some(Aggregation {
            window: 86400,
            group_by: vec![
                f("host"),
                f("user"),
                f("process.name"),
                f("remote.ip"),
                f("remote.port"),
                FieldRef::Computed("protocol".into()),
            ],
            aggregates: vec![
                agg("connections", AggFunc::Count, FieldType::Int),
                agg(
                    "remote_ips",
                    AggFunc::DistinctCount(f("remote.ip")),
                    FieldType::Int,
                ),
                agg("first_seen", AggFunc::Min(f("time")), FieldType::Timestamp),
                agg("last_seen", AggFunc::Max(f("time")), FieldType::Timestamp),
            ],
            having: Some(having("connections", CmpOp::Gt, 2)),
            span: span(),
        }),
        tests: vec![],
        span: span(),
    }
}

/// Constructs the pack rules do not use: case-sensitive strings, startswith/contains/regex,
/// IPv6 blocks, exists, and a negation of a mixed and/or (parenthesisation, missing fields).
pub fn constructs() -> Rule {
    let nc = Source::NetworkConnection;
    Rule {
        id: "0c0c0c0c-1111-4222-8333-444455556666".into(),
        name: "constructs_tour".into(),
        meta: meta("Tour of constructs"),
        source: nc,
        filter: Expr::And(vec![
            Expr::Or(vec![
                pred(
                    nc,
                    "process.name",
                    Op::Str {
                        kind: StrOp::StartsWith,
                        needles: vec!["power".into()],
                        case: Case::Insensitive,
                    },
                ),
                pred(
                    nc,
                    "process.name",
                    Op::Eq {
                        value: Value::Str("Rundll32.exe".into()),
                        case: Case::Sensitive,
                    },
                ),
            ]),
            not(Expr::And(vec![
                pred(
                    nc,
                    "remote.port",
                    Op::Eq {
                        value: Value::Int(25),
                        case: Case::Sensitive,
                    },
                ),
                pred(
                    nc,
                    "remote.ip",
                    Op::InCidr {
                        blocks: vec![cidr("10.0.0.0/8"), cidr("fd00::/8")],
                        list: None,
                    },
                ),
            ])),
            pred(
                nc,
                "process.path",
                Op::Str {
                    kind: StrOp::Contains,
                    needles: vec!["\\Temp\\".into(), "\\AppData\\".into()],
                    case: Case::Insensitive,
                },
            ),
            pred(
                nc,
                "remote.ip",
                Op::IpClass {
                    class: IpClass::Public,
                },
            ),
            pred(nc, "user", Op::Exists),
        ]),
        lets: vec![],
        aggregation: None,
        tests: vec![],
        span: span(),
    }
}

/// A rule whose filter holds `value` in equality, list, startswith/contains and regex positions.
pub fn hostile(value: &str) -> Rule {
    let nc = Source::NetworkConnection;
    Rule {
        id: "deadbeef-0000-4000-8000-000000000001".into(),
        name: "hostile_values".into(),
        meta: meta("Hostile values"),
        source: nc,
        filter: Expr::And(vec![
            pred(nc, "direction", eq_enum("outbound")),
            Expr::Or(vec![
                pred(
                    nc,
                    "process.path",
                    Op::Eq {
                        value: Value::Str(value.into()),
                        case: Case::Sensitive,
                    },
                ),
                pred(
                    nc,
                    "user",
                    Op::In {
                        values: strs(&[value, "x"]),
                        case: Case::Insensitive,
                        list: None,
                    },
                ),
                pred(
                    nc,
                    "remote.host",
                    Op::Str {
                        kind: StrOp::StartsWith,
                        needles: vec![value.into()],
                        case: Case::Sensitive,
                    },
                ),
                pred(
                    nc,
                    "host",
                    Op::Str {
                        kind: StrOp::Contains,
                        needles: vec![value.into()],
                        case: Case::Insensitive,
                    },
                ),
                pred(
                    nc,
                    "process.path",
                    Op::Regex {
                        pattern: regex::escape(value),
                        case: Case::Sensitive,
                    },
                ),
            ]),
        ]),
        lets: vec![],
        aggregation: None,
        tests: vec![],
        span: span(),
    }
}

/// The four pack rules plus the construct tour.
pub fn all() -> Vec<Rule> {
    vec![
        an0379(),
        scripting_host_mail(),
        an0382(),
        t1071_003(),
        constructs(),
    ]
}

pub fn pack(rules: Vec<Rule>) -> Pack {
    Pack {
        rules,
        lists: BTreeMap::new(),
    }
}

#[allow(dead_code)]
pub fn computed_eq(name: &str, v: &str) -> Expr {
    computed(
        name,
        Op::Eq {
            value: Value::Str(v.into()),
            case: Case::Sensitive,
        },
    )
}
