//! Hand-built IR for the evaluator's tests: four rules of the pack as the brief specifies them,
//! plus small builders.

use detc::ir::{
    self, AggFunc, Aggregate, Aggregation, Case, Cidr, CmpOp, Expr, FieldRef, FieldType, IpClass,
    Let, Meta, Op, Predicate, Rule, Source, Value,
};
use std::collections::BTreeMap;

pub fn span() -> ir::Span {
    ir::Span::file("rules/test.detc")
}

pub fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

pub fn ip(x: &str) -> Value {
    Value::Ip(x.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])))
}

pub fn en(x: &str) -> Value {
    Value::Enum(x.to_string())
}

pub fn pred(field: &str, ty: FieldType, op: Op) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Field(field.to_string()),
        ty,
        op,
        span: span(),
    })
}

pub fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

pub fn ports(ps: &[i64]) -> Vec<Value> {
    ps.iter().map(|p| Value::Int(*p)).collect()
}

pub const MAIL_PORTS: [i64; 8] = [25, 465, 587, 2525, 110, 995, 143, 993];

pub fn port_in(field: &str, ps: &[i64]) -> Expr {
    pred(
        field,
        FieldType::Port,
        Op::In {
            values: ports(ps),
            case: Case::Sensitive,
            list: None,
        },
    )
}

pub fn name_in_ci(field: &str, names: &[&str]) -> Expr {
    pred(
        field,
        FieldType::String,
        Op::In {
            values: names.iter().map(|n| s(n)).collect(),
            case: Case::Insensitive,
            list: None,
        },
    )
}

fn dir_enum() -> FieldType {
    FieldType::Enum(vec!["outbound".into(), "inbound".into()])
}

pub fn outbound() -> Expr {
    pred(
        "direction",
        dir_enum(),
        Op::Eq {
            value: en("outbound"),
            case: Case::Sensitive,
        },
    )
}

pub fn meta(title: &str, analytics: &[&str]) -> Meta {
    Meta {
        title: title.to_string(),
        description: None,
        author: None,
        date: None,
        modified: None,
        status: ir::Status::Experimental,
        severity: ir::Level::Medium,
        confidence: None,
        techniques: vec!["T1071.003".into()],
        analytics: analytics.iter().map(|a| a.to_string()).collect(),
        references: vec![],
        false_positives: vec![],
        tags: vec![],
    }
}

pub fn agg(name: &str, func: AggFunc, ty: FieldType) -> Aggregate {
    Aggregate {
        name: name.to_string(),
        func,
        ty,
        span: span(),
    }
}

pub fn having(name: &str, op: CmpOp, v: i64) -> Expr {
    Expr::Pred(Predicate {
        field: FieldRef::Aggregate(name.to_string()),
        ty: FieldType::Int,
        op: Op::Cmp {
            op,
            value: Value::Int(v),
        },
        span: span(),
    })
}

pub fn f(n: &str) -> FieldRef {
    FieldRef::Field(n.to_string())
}

pub fn protocol_let(else_label: &str) -> Let {
    Let {
        name: "protocol".into(),
        ty: FieldType::String,
        arms: vec![
            (port_in("remote.port", &[25, 465, 587, 2525]), s("SMTP")),
            (port_in("remote.port", &[110, 995]), s("POP3")),
            (port_in("remote.port", &[143, 993]), s("IMAP")),
        ],
        default: Some(s(else_label)),
        depends_on: vec!["remote.port".into()],
        span: span(),
    }
}

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

/// AN0379: mail protocol from an unexpected process, >= 3 connections per hour and group.
pub fn an0379_aggregate() -> Rule {
    Rule {
        id: "00000000-0000-4000-8000-000000000379".into(),
        name: "an0379_mail_protocol_unexpected_process".into(),
        meta: meta("Mail protocol from an unexpected process", &["AN0379"]),
        source: Source::NetworkConnection,
        filter: Expr::And(vec![
            outbound(),
            port_in("remote.port", &MAIL_PORTS),
            not(name_in_ci("process.name", &MAIL_CLIENTS)),
            not(name_in_ci("process.name", &MAIL_SERVERS)),
            not(pred(
                "remote.ip",
                FieldType::Ip,
                Op::IpClass {
                    class: IpClass::Loopback,
                },
            )),
        ]),
        lets: vec![{
            let mut l = protocol_let("IMAP");
            l.arms.truncate(2);
            l
        }],
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

pub const SCRIPT_HOSTS: [&str; 8] = [
    "powershell.exe",
    "pwsh.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "mshta.exe",
    "wscript.exe",
    "cscript.exe",
    "cmd.exe",
];

/// AN0379 companion: a scripting host on a mail port, one alert per event (filter only).
pub fn an0379_scripting() -> Rule {
    Rule {
        id: "00000000-0000-4000-8000-000000000380".into(),
        name: "an0379_scripting_host_mail".into(),
        meta: meta("Scripting host speaks a mail protocol", &["AN0379"]),
        source: Source::NetworkConnection,
        filter: Expr::And(vec![
            outbound(),
            port_in("remote.port", &MAIL_PORTS),
            name_in_ci("process.name", &SCRIPT_HOSTS),
        ]),
        lets: vec![],
        aggregation: None,
        tests: vec![],
        span: span(),
    }
}

/// AN0382 as in rules/an0382_external_mail_volume.detc: more than `threshold` bytes per hour from
/// a private source to mail ports of a destination that is not private, loopback, link-local or
/// an approved relay.
pub fn an0382_volume(threshold: i64, relays: &[&str]) -> Rule {
    let blocks: Vec<Cidr> = relays.iter().filter_map(|c| Cidr::parse(c).ok()).collect();
    Rule {
        id: "00000000-0000-4000-8000-000000000382".into(),
        name: "an0382_external_mail_volume".into(),
        meta: meta("External mail volume", &["AN0382"]),
        source: Source::NetworkFlow,
        filter: Expr::And(vec![
            port_in("dst.port", &MAIL_PORTS),
            not(pred(
                "dst.ip",
                FieldType::Ip,
                Op::IpClass {
                    class: IpClass::Private,
                },
            )),
            not(pred(
                "dst.ip",
                FieldType::Ip,
                Op::IpClass {
                    class: IpClass::Loopback,
                },
            )),
            not(pred(
                "dst.ip",
                FieldType::Ip,
                Op::IpClass {
                    class: IpClass::LinkLocal,
                },
            )),
            not(pred(
                "dst.ip",
                FieldType::Ip,
                Op::InCidr {
                    blocks,
                    list: Some("approved_relays".into()),
                },
            )),
            pred(
                "src.ip",
                FieldType::Ip,
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
            having: Some(having("sent", CmpOp::Gt, threshold)),
            span: span(),
        }),
        tests: vec![],
        span: span(),
    }
}

/// The seed Defender query done right: succeeded connections on mail ports, 24 h, > 2.
pub fn t1071_defender() -> Rule {
    let outcome = FieldType::Enum(vec!["succeeded".into(), "failed".into()]);
    Rule {
        id: "00000000-0000-4000-8000-000000001071".into(),
        name: "t1071_003_defender_mail_ports".into(),
        meta: meta("Mail ports from non-mail processes (Defender)", &[]),
        source: Source::NetworkConnection,
        filter: Expr::And(vec![
            port_in("remote.port", &[25, 465, 587, 110, 995, 143, 993]),
            pred(
                "outcome",
                outcome,
                Op::Eq {
                    value: en("succeeded"),
                    case: Case::Sensitive,
                },
            ),
            not(name_in_ci(
                "process.name",
                &[
                    "outlook.exe",
                    "thunderbird.exe",
                    "MailClient.exe",
                    "eM Client.exe",
                    "msedge.exe",
                    "chrome.exe",
                ],
            )),
        ]),
        lets: vec![protocol_let("Unknown")],
        aggregation: Some(Aggregation {
            window: 86_400,
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

/// The whole pack (AN0382 at 50 MB = 50,000,000 bytes, relays as in rules/lists/approved_relays.txt).
pub const RELAYS: [&str; 3] = ["192.0.2.25/32", "198.51.100.0/28", "2001:db8:25::/48"];

pub fn pack() -> Vec<Rule> {
    vec![
        an0379_aggregate(),
        an0379_scripting(),
        an0382_volume(50_000_000, &RELAYS),
        t1071_defender(),
    ]
}

pub fn event(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
