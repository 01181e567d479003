//! The typed IR: the one input of every backend (`targets`) and of the evaluator (`eval`).
//!
//! Produced by the checker (`ir::check`) from the spanned AST; nothing downstream sees rule text
//! or pest. Every list is already resolved to its values, every field to a catalogue entry with a
//! type, every literal to a typed value. The *meaning* of each node is defined here, once, and
//! docs/SEMANTICS.md repeats it for users; backends and the evaluator implement exactly this.
//!
//! ## Core semantics (normative)
//! - **Missing values.** A field is *missing* in an event when it is absent, null, or the empty
//!   string (CSV's empty cell and Zeek's `-` are missing too). Every predicate on a missing field is
//!   **false**, `Exists` included; the language's `missing` lowers to `Not(Exists)`, true there.
//!   `Not` is plain boolean negation, so `not remote.port == 25` is **true** when `remote.port` is
//!   missing. `a != b` is parsed as `not (a == b)`, hence also true on a missing field. Backends must keep this, e.g. KQL
//!   `not(isnotnull(F) and F == 25)`, never a bare `F != 25` on a nullable column.
//! - **Case.** Every string comparison carries an explicit [`Case`]. `Sensitive` compares code
//!   points; `Insensitive` folds ASCII letters only (`A`-`Z` to `a`-`z`; `İ`, the Kelvin sign,
//!   `É` compare as themselves), as Kusto documents its `=~` / `in~`
//!   ([`semantics::simple_lower`], [`semantics::ascii_fold_regex`] for regexes).
//! - **Unparsable values** (an IP field holding text that is no address, a port `n/a`) match no
//!   predicate of the field's type; `Exists` is true on them. The evaluator's readers reject such
//!   rows as bad lines; the emitted queries, which see them, give them this meaning.
//! - **Timestamps** are never missing: an event without one cannot be placed in a window (readers
//!   reject it).
//! - **Ports and integers** compare numerically; a port that arrives as the string "25" is the
//!   integer 25 (readers convert). IPs compare as addresses, not strings (`::ffff:1.2.3.4` is not
//!   rewritten: v4 and v6 are distinct families).
//! - **Regex** uses the RE2 / Rust `regex` syntax (no backreferences or look-around), unanchored
//!   (a match anywhere), case as [`Case`] says.
//! - **Windows** are tumbling, aligned to the Unix epoch (UTC, whatever a user's time zone): an
//!   event at time `t` falls in the window starting `t - (t mod window)` (KQL
//!   `bin_at(t, w, datetime(1970-01-01))`, SPL `eval _time=_time - (_time % w)`).
//! - **Aggregation.** Only events for which the rule's `filter` is true are aggregated. Groups are
//!   keyed by window start and the group-by values (a missing key is its own value, "missing").
//!   `Count` counts events; `DistinctCount` counts distinct non-missing values; `Sum`, `Min`, `Max`
//!   ignore missing values (a group where all are missing has no value: the aggregate is missing,
//!   and any `having` comparison on it is false). An alert is raised per group whose `having` holds
//!   (every group, if there is no `having`).
//! - **No aggregation**: one alert per matching event.
//! - **Arithmetic and comparisons of two values** ([`Expr::Compare`]): computed in IEEE double
//!   precision; a missing operand or a zero divisor makes the value undefined and the comparison
//!   false (the full statement is in [`value`]).

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub mod attack;
pub mod catalogue;
pub mod check;
pub mod rewrite;
pub mod semantics;
pub mod time;
pub mod value;
pub mod visit;

pub use value::{ArithOp, Comparison, RelOp, TimeFunc, ValueExpr, WEEKDAYS};

/// A character some reader of metadata text treats as a line break or as no text at all: every
/// control character (`\n`, `\r`, `\t`, `\v`, `\f`, U+0085 NEL, ...) and the Unicode line and
/// paragraph separators U+2028 / U+2029, which end a `//` comment for Kusto.Language and a line
/// for YAML 1.1 (PyYAML).
pub fn breaks_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The longest rule title, in characters: pySigma's `SigmaRule` refuses a longer one. The checker
/// refuses such a title (E0208); the Sigma backend cuts a title it extends to fit.
pub const MAX_TITLE: usize = 256;

pub use crate::diag::Span;

/// A checked rule pack: every rule, in file order then declaration order, plus the lists
/// (already inlined into predicates; kept for reporting, e.g. unused-list warnings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pack {
    pub rules: Vec<Rule>,
    pub lists: BTreeMap<String, List>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct List {
    pub name: String,
    pub ty: ListType,
    pub values: Vec<Value>,
    /// Where the list was declared.
    pub span: Span,
    /// The file the values came from, when loaded with `file("...")` (path as written, relative to rules/).
    pub file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListType {
    Port,
    Int,
    String,
    Cidr,
    Ip,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Stable identifier, a lowercase UUID (becomes the Sigma `id`).
    pub id: String,
    /// Identifier-like name (`mail_protocol_from_unexpected_binary`): file names of emitted queries.
    pub name: String,
    pub meta: Meta,
    pub source: Source,
    /// The event filter. `Expr::And(vec![])` (true) when the rule has no `where`.
    pub filter: Expr,
    /// Computed fields, in declaration order; a later one may not refer to an earlier one.
    pub lets: Vec<Let>,
    pub aggregation: Option<Aggregation>,
    /// A correlation of several steps (`correlate ... { ... }`). Then `source` is the first
    /// step's and `filter` is false (`Or([])`): a consumer that reads only `filter` raises
    /// nothing, and every backend refuses such a rule by name unless it lowers the correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    pub tests: Vec<RuleTest>,
    /// `targets [...]` / `targets not [...]`: the target profiles the rule is (not) for; none
    /// means every target. A pair left out is not compiled and not warned about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// The operating system whose logs the rule reads: its `platform` clause, else the platform
    /// ATT&CK gives the rule's analytics; `None` when neither names one (each target then reads
    /// the source where its profile's default entry says). Targets choose the source's table,
    /// logsource and field names by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// `entities { ... }`: what the alert is about, for the deployed artefacts (Sentinel entity
    /// mappings, Defender impacted assets, Splunk risk objects). Empty when the rule has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    /// `schedule every D delay D`, as written; `None` when the rule has no `schedule` clause
    /// (the deployment derives every value: `targets::deploy::schedule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    /// `suppress D by k, ...`: after an alert, the rule's alerts with the same key values are
    /// not raised for D (docs/SEMANTICS.md, "Suppression"). `None` when the rule has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Suppress>,
    /// The whole rule block.
    pub span: Span,
}

/// The kinds of entity an alert can name; each target maps them to its own (Sentinel entity
/// types, Defender impacted assets, Splunk risk object types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Host,
    Account,
    Ip,
    Process,
    File,
    Url,
    Mailbox,
}

impl EntityKind {
    /// Every kind, in the order the language documents them.
    pub const ALL: &'static [EntityKind] = &[
        EntityKind::Host,
        EntityKind::Account,
        EntityKind::Ip,
        EntityKind::Process,
        EntityKind::File,
        EntityKind::Url,
        EntityKind::Mailbox,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::Account => "account",
            EntityKind::Ip => "ip",
            EntityKind::Process => "process",
            EntityKind::File => "file",
            EntityKind::Url => "url",
            EntityKind::Mailbox => "mailbox",
        }
    }
}

/// One entity of a rule's alerts: a kind bound to a value of the rule's output (a catalogue or
/// computed field of the event for a rule without aggregation; a group key or an aggregate for
/// one with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub field: FieldRef,
    pub span: Span,
}

/// A rule's `schedule` clause: how often it runs (`every`, seconds; only for a rule without a
/// window, whose window sets it) and how late events may arrive (`delay`, seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScheduleSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
}

/// A rule's `suppress` clause: the duration in seconds (a whole number of the rule's run
/// periods, checked) and the key values (group keys with aggregation; catalogue or computed
/// fields without). No keys: every alert of the rule shares one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppress {
    pub duration: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<FieldRef>,
}

/// An operating system whose logs a rule reads (`platform linux`). Only the platforms whose
/// endpoint logs the sources model; ATT&CK's others (Network Devices, IaaS...) name none.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Windows,
    Linux,
    Macos,
}

impl Platform {
    pub const ALL: &'static [Platform] = &[Platform::Windows, Platform::Linux, Platform::Macos];

    /// The name in rules and profiles (`linux`).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Macos => "macos",
        }
    }

    pub fn by_name(name: &str) -> Option<Platform> {
        Platform::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// The platform of one of ATT&CK's platform names (`Windows`, `Linux`, `macOS`); `None` for
    /// the others (`Network Devices`, `IaaS`, `ESXi`...), which no source here is specific to.
    pub fn from_attack(name: &str) -> Option<Platform> {
        match name {
            "Windows" => Some(Platform::Windows),
            "Linux" => Some(Platform::Linux),
            "macOS" => Some(Platform::Macos),
            _ => None,
        }
    }
}

/// The profiles a rule is for (`exclude` false) or not for, by name (each checked to exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Targets {
    pub exclude: bool,
    pub names: Vec<String>,
}

impl Rule {
    /// Whether the rule is meant for the target profile `name` (its `targets` clause allows it).
    pub fn is_for(&self, name: &str) -> bool {
        match &self.targets {
            None => true,
            Some(t) => t.names.iter().any(|n| n == name) != t.exclude,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    pub title: String,
    pub description: Option<String>,
    pub author: Option<String>,
    /// ISO date `YYYY-MM-DD`.
    pub date: Option<String>,
    pub modified: Option<String>,
    pub status: Status,
    pub severity: Level,
    pub confidence: Option<Confidence>,
    /// ATT&CK technique ids, e.g. `T1071.003`.
    pub techniques: Vec<String>,
    /// ATT&CK analytic ids, e.g. `AN0379`.
    pub analytics: Vec<String>,
    pub references: Vec<String>,
    pub false_positives: Vec<String>,
    pub tags: Vec<String>,
}

/// Sigma's rule statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Stable,
    Test,
    Experimental,
    Deprecated,
    Unsupported,
}

/// Severity, Sigma's `level` scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// Abstract event sources. Each has a typed field catalogue (`catalogue.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Endpoint telemetry: a process opened (or accepted) a network connection.
    NetworkConnection,
    /// Network-device telemetry: a flow between two addresses, with byte counts.
    NetworkFlow,
    /// Endpoint telemetry: a process started (with its image, command line and parent).
    ProcessCreation,
    /// A DNS lookup: by a process on an endpoint (Sysmon EventID 22) or seen on the wire (Zeek).
    DnsQuery,
    /// A mail transaction on the wire (Zeek smtp.log), with the files it carried (files.log).
    MailMessage,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::NetworkConnection => "network_connection",
            Source::NetworkFlow => "network_flow",
            Source::ProcessCreation => "process_creation",
            Source::DnsQuery => "dns_query",
            Source::MailMessage => "mail_message",
        }
    }
}

/// The type of a catalogue field, a computed field or an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "values")]
pub enum FieldType {
    String,
    /// A TCP/UDP port, 0..=65535.
    Port,
    /// A non-negative count of bytes.
    Bytes,
    /// Any other integer.
    Int,
    Ip,
    Timestamp,
    /// Seconds, e.g. a flow duration.
    Duration,
    /// A closed set of lowercase symbols (`outcome`: succeeded | failed).
    Enum(Vec<String>),
}

/// A reference to a value of the event being matched or of the group being tested.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum FieldRef {
    /// A field of the source catalogue, by its dotted name (`remote.port`).
    Field(String),
    /// A computed field (`let`), by name.
    Computed(String),
    /// An aggregate (only in `having`), by name.
    Aggregate(String),
}

impl FieldRef {
    pub fn name(&self) -> &str {
        match self {
            FieldRef::Field(n) | FieldRef::Computed(n) | FieldRef::Aggregate(n) => n,
        }
    }
}

/// A typed literal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Value {
    Str(String),
    Int(i64),
    Ip(IpAddr),
    /// A symbol of an enum field (`succeeded`).
    Enum(String),
    /// Seconds since the Unix epoch (UTC), for timestamps in tests and aggregate values.
    Timestamp(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    Sensitive,
    Insensitive,
}

/// A CIDR block, canonical (host bits zero; the checker rejects `10.0.0.1/8` with a hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IP address classes. Each is a fixed set of CIDR blocks (`IpClass::blocks`), so every engine
/// expands a class to the same ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpClass {
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) and RFC 4193 unique-local fc00::/7.
    Private,
    /// 127/8 and ::1/128.
    Loopback,
    /// 169.254/16 and fe80::/10.
    LinkLocal,
    /// Not private, loopback, link-local, unspecified, multicast, broadcast, CGNAT or documentation.
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

/// A boolean expression over one event (in `filter`, `Let` arms) or one group (in `having`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// True when every operand is true; `And([])` is true.
    And(Vec<Expr>),
    /// True when any operand is true; `Or([])` is false.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Pred(Predicate),
    /// Two numeric values compared (`bytes.sent > 20 * bytes.received`); see [`value`].
    Compare(Comparison),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predicate {
    pub field: FieldRef,
    /// The field's type, copied here so consumers need no lookup.
    pub ty: FieldType,
    pub op: Op,
    /// The field holds a list (`attachment.types`): the predicate holds when it holds for any
    /// element (docs/LANGUAGE.md, "List fields"); `ty` is the elements' type.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub each: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "is")]
pub enum Op {
    /// Equality with one value. For strings `case` applies; for other types it is `Sensitive`.
    Eq {
        value: Value,
        case: Case,
    },
    /// Membership: equal to any of `values` (deduplicated, in source order). `list` names the
    /// list it came from, if any, for comments and reports only.
    In {
        values: Vec<Value>,
        case: Case,
        list: Option<String>,
    },
    /// String prefix / suffix / substring. A value may be matched against several needles
    /// (`process.path endswith~ ["\\a.exe", "\\b.exe"]`): true when any matches.
    Str {
        kind: StrOp,
        needles: Vec<String>,
        case: Case,
    },
    Regex {
        pattern: String,
        case: Case,
    },
    /// The IP lies in any of the blocks (IPv4 blocks match only IPv4 addresses; v6 only v6).
    InCidr {
        blocks: Vec<Cidr>,
        list: Option<String>,
    },
    IpClass {
        class: IpClass,
    },
    /// Ordered comparison of integers, ports, bytes, durations or timestamps.
    Cmp {
        op: CmpOp,
        value: Value,
    },
    /// The field has a value (not missing).
    Exists,
}

/// A computed field: `let protocol = case remote.port in [...] => "SMTP", ..., else => "IMAP"`.
/// Its value is the result of the first arm whose condition is true, else `default`
/// (`None`: missing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Let {
    pub name: String,
    pub ty: FieldType,
    pub arms: Vec<(Expr, Value)>,
    pub default: Option<Value>,
    /// The catalogue fields the value depends on (sorted, deduplicated). Backends use this, e.g. to
    /// see that grouping by `protocol` adds nothing once `remote.port` is a key.
    pub depends_on: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregation {
    /// Tumbling window length in seconds (> 0).
    pub window: u64,
    /// Group keys, in declaration order: catalogue fields or computed fields.
    pub group_by: Vec<FieldRef>,
    pub aggregates: Vec<Aggregate>,
    /// Over `FieldRef::Aggregate` predicates only (`Cmp`, `Eq`); `None` means every group alerts.
    pub having: Option<Expr>,
    pub span: Span,
}

/// `correlate within W by k1, k2 [ordered] { a: src where ...  b: src where ... }`.
///
/// **Meaning (normative; docs/SEMANTICS.md, "Correlation").** Events are grouped by the values of
/// `keys` (catalogue fields of every step's source, of one type); an event with a missing key
/// joins no group. A *match* is a choice of one event per step (an event may serve several steps
/// whose source and condition it meets) with the same key values, whose times lie within
/// `window` seconds of each other: `max(t) - min(t) <= window` (both edges included); `ordered`
/// also needs `t(step 1) <= t(step 2) <= ...` (equal times are in order). One alert is raised per
/// event that is the latest of some match (unordered: an event of any step; ordered: an event of
/// the last step), carrying the keys, `first_seen` (the earliest time of the match built from
/// the latest eligible event of each step) and `last_seen` (the alerting event's time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    /// Seconds (> 0).
    pub window: u64,
    /// Catalogue fields present in every step's source, with the same type.
    pub keys: Vec<String>,
    pub ordered: bool,
    /// Two or more, in written order.
    pub steps: Vec<Step>,
    pub span: Span,
}

/// One step of a correlation: the events of `source` for which `filter` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    pub source: Source,
    pub filter: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub name: String,
    pub func: AggFunc,
    /// The aggregate's value type (`Int` for counts, the field's type for min/max/sum).
    pub ty: FieldType,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "func", content = "field")]
pub enum AggFunc {
    Count,
    DistinctCount(FieldRef),
    Sum(FieldRef),
    Min(FieldRef),
    Max(FieldRef),
}

/// A rule test: events plus what must come out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTest {
    pub name: String,
    pub events: TestEvents,
    /// Input schema name (`sysmon`, `defender`, `zeek-conn`); `None` means auto-detect.
    pub schema: Option<String>,
    pub expect: Expectation,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestEvents {
    /// A fixture file; the path is resolved relative to the rule file's folder and checked to exist.
    File(String),
    /// Events written in the rule file, as raw JSON objects (read through the input schema).
    Inline(Vec<serde_json::Map<String, serde_json::Value>>),
}

/// `expect no alert` is `count: Some(0)`; `expect 2 alerts { host: "WS01" }` is count 2 and one
/// alert that must match. Every listed alert must be matched by a distinct actual alert; the
/// keys of an expected alert are group keys or aggregate names (or catalogue fields for rules
/// without aggregation) and compare with the IR's typed equality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    pub count: Option<usize>,
    pub alerts: Vec<BTreeMap<String, Value>>,
}
