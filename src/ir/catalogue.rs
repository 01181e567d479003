//! The field catalogue of each abstract source, and the CIDR expansion of IP classes.
//!
//! This is the language's own vocabulary (docs/LANGUAGE.md lists it); target profiles and input
//! schemas map these names to columns, and must cover or explicitly refuse each one.

use super::{Cidr, FieldType, IpClass, Source};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub doc: &'static str,
    /// The values have no case on their platform (Windows paths and image names, host and
    /// user names): `PowerShell.exe` is `powershell.exe`. An exact-case comparison on such a
    /// field is linted (W0282) in favour of its case-insensitive operator.
    pub case_insensitive: bool,
    /// The field holds a list of values of `ty` (the recipients, the attachments' types): a
    /// predicate holds when it holds for any element, and the field cannot be grouped by,
    /// aggregated, compared with another field or expected in a test (E0315).
    pub list: bool,
}

fn s(name: &'static str, doc: &'static str) -> FieldDef {
    t(name, FieldType::String, doc)
}

/// A string field whose values have no case on their platform.
fn ci(name: &'static str, doc: &'static str) -> FieldDef {
    FieldDef {
        case_insensitive: true,
        ..s(name, doc)
    }
}

fn t(name: &'static str, ty: FieldType, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        doc,
        case_insensitive: false,
        list: false,
    }
}

/// A list-valued field (see [`FieldDef::list`]).
fn list(d: FieldDef) -> FieldDef {
    FieldDef { list: true, ..d }
}

fn e(name: &'static str, values: &[&str], doc: &'static str) -> FieldDef {
    t(
        name,
        FieldType::Enum(values.iter().map(|v| v.to_string()).collect()),
        doc,
    )
}

/// The fields of `source`, in documentation order.
pub fn fields(source: Source) -> Vec<FieldDef> {
    use FieldType::*;
    match source {
        Source::NetworkConnection => vec![
            t("time", Timestamp, "when the connection was observed (UTC)"),
            ci("host", "name of the device that reported the event"),
            ci(
                "user",
                "account of the process, as `DOMAIN\\name` or `name`",
            ),
            ci(
                "process.name",
                "file name of the process image, e.g. `powershell.exe` (no folder)",
            ),
            ci("process.path", "full path of the process image"),
            s("process.command_line", "command line of the process"),
            t(
                "process.id",
                Int,
                "process id of the process, as `process_creation` records it at its start",
            ),
            ci(
                "process.parent.name",
                "file name of the parent process image",
            ),
            t("local.ip", Ip, "address on the reporting device"),
            t("local.port", Port, "port on the reporting device"),
            t("remote.ip", Ip, "address of the peer"),
            t("remote.port", Port, "port of the peer"),
            // Not case-insensitive: it may be a URL, whose path has case.
            s("remote.host", "host name or URL of the peer, when known"),
            e(
                "outcome",
                &["succeeded", "failed"],
                "whether the connection was established",
            ),
            e(
                "direction",
                &["outbound", "inbound"],
                "outbound: the process initiated it",
            ),
            e(
                "transport",
                &["tcp", "udp", "icmp", "other"],
                "transport protocol",
            ),
            t(
                "bytes.sent",
                Bytes,
                "bytes sent by the local side, when the source counts them",
            ),
            t(
                "bytes.received",
                Bytes,
                "bytes received by the local side, when counted",
            ),
        ],
        Source::NetworkFlow => vec![
            t("time", Timestamp, "start of the flow (UTC)"),
            ci(
                "host",
                "name of the sensor or device that reported the flow",
            ),
            t("src.ip", Ip, "originator address"),
            t("src.port", Port, "originator port"),
            t("dst.ip", Ip, "responder address"),
            t("dst.port", Port, "responder port"),
            e(
                "transport",
                &["tcp", "udp", "icmp", "other"],
                "transport protocol",
            ),
            s(
                "app.protocol",
                "application protocol as identified by the sensor, lowercase (`smtp`)",
            ),
            t("bytes.sent", Bytes, "payload bytes sent by the originator"),
            t(
                "bytes.received",
                Bytes,
                "payload bytes sent by the responder",
            ),
            t("duration", Duration, "flow duration in seconds"),
        ],
        // The new process and its parent, as Sysmon EventID 1, Defender DeviceProcessEvents,
        // ASIM Process Event and Sigma's process_creation name them (docs/LANGUAGE.md).
        Source::ProcessCreation => {
            vec![
            t("time", Timestamp, "when the process started (UTC)"),
            ci("host", "name of the device the process started on"),
            ci(
                "user",
                "account the new process runs as, as `DOMAIN\\name` or `name`",
            ),
            ci(
                "process.name",
                "file name of the new process image, e.g. `powershell.exe` (no folder)",
            ),
            ci("process.path", "full path of the new process image"),
            s("process.command_line", "command line of the new process"),
            t("process.id", Int, "process id of the new process"),
            ci(
                "process.original_name",
                "original file name from the image's version resource (survives a rename)",
            ),
            ci(
                "process.integrity_level",
                "Windows integrity level of the new process (`Low`, `Medium`, `High`, `System`)",
            ),
            ci(
                "process.current_directory",
                "working directory the process started in",
            ),
            ci(
                "process.hash.sha256",
                "SHA-256 of the image, hexadecimal, when the source records it",
            ),
            ci(
                "process.hashes",
                "every hash of the image in one value, as Sysmon writes it (`SHA1=...,MD5=...,SHA256=...,IMPHASH=...`)",
            ),
            s(
                "process.description",
                "file description from the image's version resource",
            ),
            s(
                "process.product",
                "product name from the image's version resource",
            ),
            s(
                "process.company",
                "company name from the image's version resource",
            ),
            s(
                "process.file_version",
                "file version from the image's version resource",
            ),
            ci(
                "process.logon_id",
                "logon session of the new process, hexadecimal as Windows writes it (`0x3e7`)",
            ),
            ci(
                "process.parent.name",
                "file name of the parent process image",
            ),
            ci("process.parent.path", "full path of the parent process image"),
            s(
                "process.parent.command_line",
                "command line of the parent process",
            ),
            t("process.parent.id", Int, "process id of the parent process"),
            ci(
                "process.parent.user",
                "account the parent process runs as, as `DOMAIN\\name` or `name`",
            ),
        ]
        }
        // A DNS lookup, as Sysmon EventID 22 (the asking process), Zeek dns.log (the wire),
        // ASIM Dns and Sigma's dns_query name it (docs/LANGUAGE.md).
        Source::DnsQuery => vec![
            t("time", Timestamp, "when the query was made or seen (UTC)"),
            ci(
                "host",
                "name of the device or sensor that reported the query",
            ),
            ci(
                "user",
                "account of the asking process, as `DOMAIN\\name` or `name`",
            ),
            ci(
                "process.name",
                "file name of the asking process image, e.g. `powershell.exe` (no folder)",
            ),
            ci("process.path", "full path of the asking process image"),
            t("process.id", Int, "process id of the asking process"),
            // DNS names have no case (RFC 4343).
            ci(
                "query.name",
                "the name looked up, e.g. `smtp.office365.com` (no trailing dot)",
            ),
            ci(
                "query.type",
                "record type asked for, by its IANA name (`A`, `AAAA`, `MX`)",
            ),
            e(
                "outcome",
                &["succeeded", "failed"],
                "succeeded: the server answered without error (NOERROR)",
            ),
            s(
                "answers",
                "the answers as the source writes them (addresses and names, one text)",
            ),
            t("client.ip", Ip, "address that sent the query"),
            t("server.ip", Ip, "address of the DNS server asked"),
        ],
        // One mail transaction (MAIL FROM .. end of DATA) as a sensor on the wire sees it:
        // Zeek's smtp.log (SMTP::Info) joined with its files.log rows (Files::Info) through
        // `fuids` (docs/LANGUAGE.md, "mail_message").
        Source::MailMessage => {
            vec![
            t("time", Timestamp, "when the transaction started (UTC)"),
            ci("host", "name of the sensor that reported the transaction"),
            t("client.ip", Ip, "address of the SMTP client (the sending host)"),
            t("client.port", Port, "port of the SMTP client"),
            t("server.ip", Ip, "address of the SMTP server"),
            t("server.port", Port, "port of the SMTP server (25, 465, 587...)"),
            // Mailbox local parts may have case (RFC 5321 section 2.4): compared as written.
            s("mail.from", "envelope sender (MAIL FROM), without angle brackets"),
            list(s(
                "mail.to",
                "envelope recipients (RCPT TO), a list",
            )),
            t("mail.to_count", Int, "number of envelope recipients"),
            ci("helo", "the name the client gave in HELO/EHLO"),
            s(
                "status",
                "the server's last reply, code first (`250 OK id=1Mugho`)",
            ),
            e(
                "tls",
                &["true", "false"],
                "true: the session switched to TLS (STARTTLS), so the message itself was not seen",
            ),
            s("subject", "the Subject header"),
            s(
                "user_agent",
                "the sending client as its User-Agent or X-Mailer header names it",
            ),
            // MIME types have no case (RFC 2045 section 5.1); names are compared as Windows does.
            list(ci(
                "attachment.names",
                "file names of the message's MIME parts that have one, a list",
            )),
            list(ci(
                "attachment.types",
                "MIME types of the message's parts as the sensor sniffed them from their bytes \
                 (`application/x-dosexec`), a list",
            )),
            list(t(
                "attachment.sizes",
                Bytes,
                "bytes seen of each MIME part, a list",
            )),
            t(
                "attachment.count",
                Int,
                "number of MIME parts the sensor extracted (bodies included, not only attachments)",
            ),
            t(
                "attachment.unmatched",
                Int,
                "parts whose files.log row was not found: their name, type and size are unknown",
            ),
        ]
        }
    }
}

/// The entry for `name` in `source`, if any.
pub fn field(source: Source, name: &str) -> Option<FieldDef> {
    // Built once: the checker looks up every field of every rule, and building the catalogue
    // (with its enum values) on each lookup was a tenth of checking a large pack.
    static TABLES: std::sync::OnceLock<[Vec<FieldDef>; SOURCES.len()]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(|| SOURCES.map(fields));
    let at = SOURCES.iter().position(|s| *s == source)?;
    tables[at].iter().find(|f| f.name == name).cloned()
}

/// Every source, for listings and did-you-mean.
pub const SOURCES: [Source; 5] = [
    Source::NetworkConnection,
    Source::NetworkFlow,
    Source::ProcessCreation,
    Source::DnsQuery,
    Source::MailMessage,
];

pub fn source_by_name(name: &str) -> Option<Source> {
    SOURCES.into_iter().find(|s| s.name() == name)
}

fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
    Cidr {
        addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
    }
}

fn v6(segs: [u16; 8], prefix: u8) -> Cidr {
    Cidr {
        addr: IpAddr::V6(Ipv6Addr::new(
            segs[0], segs[1], segs[2], segs[3], segs[4], segs[5], segs[6], segs[7],
        )),
        prefix,
    }
}

impl IpClass {
    pub fn name(self) -> &'static str {
        match self {
            IpClass::Private => "private",
            IpClass::Loopback => "loopback",
            IpClass::LinkLocal => "link_local",
            IpClass::Public => "public",
        }
    }

    /// The blocks of a class. For `Public`, the blocks that are *not* public: an address is
    /// public when it lies in none of `IpClass::non_public_blocks()`.
    pub fn blocks(self) -> Vec<Cidr> {
        match self {
            IpClass::Private => vec![
                v4(10, 0, 0, 0, 8),
                v4(172, 16, 0, 0, 12),
                v4(192, 168, 0, 0, 16),
                v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
            ],
            IpClass::Loopback => vec![v4(127, 0, 0, 0, 8), v6([0, 0, 0, 0, 0, 0, 0, 1], 128)],
            IpClass::LinkLocal => vec![
                v4(169, 254, 0, 0, 16),
                v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
            ],
            IpClass::Public => Vec::new(),
        }
    }

    /// Everything that is not a public unicast address: the three classes above plus
    /// unspecified/"this network" (0/8, ::/128), CGNAT 100.64/10, IETF 192.0.0/24, documentation
    /// (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32), benchmarking 198.18/15,
    /// multicast (224/4, ff00::/8), reserved and broadcast 240/4.
    pub fn non_public_blocks() -> Vec<Cidr> {
        let mut b = Vec::new();
        b.extend(IpClass::Private.blocks());
        b.extend(IpClass::Loopback.blocks());
        b.extend(IpClass::LinkLocal.blocks());
        b.extend([
            v4(0, 0, 0, 0, 8),
            v4(100, 64, 0, 0, 10),
            v4(192, 0, 0, 0, 24),
            v4(192, 0, 2, 0, 24),
            v4(198, 18, 0, 0, 15),
            v4(198, 51, 100, 0, 24),
            v4(203, 0, 113, 0, 24),
            v4(224, 0, 0, 0, 4),
            v4(240, 0, 0, 0, 4),
            v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
            v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
            v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        ]);
        b
    }

    /// Whether `ip` is in this class. The one definition every consumer uses.
    pub fn contains(self, ip: IpAddr) -> bool {
        self.membership().contains(ip)
    }

    /// The blocks of this class as a test built once (an evaluator tests it per event; building
    /// the block list per test cost 5% of a 1,000-rule run).
    pub fn membership(self) -> ClassTest {
        match self {
            IpClass::Public => ClassTest::new(&IpClass::non_public_blocks(), true),
            _ => ClassTest::new(&self.blocks(), false),
        }
    }
}

/// An IP class as blocks: in the class when in one of them (`outside`: when in none). The
/// blocks are kept by family as (network, mask), the mask applied to the network: a test is an
/// AND and a compare a block of the address's family ([`Cidr::contains`] on each block matched
/// its family and built its mask per test: 42 instructions a `not remote.ip is loopback` of
/// (f), 4.0M of its 100k lines).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTest {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    outside: bool,
}

impl ClassTest {
    fn new(blocks: &[Cidr], outside: bool) -> ClassTest {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for c in blocks {
            match c.addr {
                IpAddr::V4(net) => {
                    let mask = Cidr::v4_mask(c.prefix);
                    v4.push((u32::from(net) & mask, mask));
                }
                IpAddr::V6(net) => {
                    let mask = Cidr::v6_mask(c.prefix);
                    v6.push((u128::from(net) & mask, mask));
                }
            }
        }
        ClassTest { v4, v6, outside }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let inside = match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        };
        inside != self.outside
    }
}

impl Cidr {
    /// The network mask of an IPv4 block of `prefix` bits (past 32: all ones).
    #[inline]
    fn v4_mask(prefix: u8) -> u32 {
        u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(prefix)))
            .unwrap_or(0)
    }

    /// The network mask of an IPv6 block of `prefix` bits (past 128: all ones).
    #[inline]
    fn v6_mask(prefix: u8) -> u128 {
        u128::MAX
            .checked_shl(128u32.saturating_sub(u32::from(prefix)))
            .unwrap_or(0)
    }

    /// Membership; a v4 block never contains a v6 address and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = Cidr::v4_mask(self.prefix);
                (u32::from(net) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = Cidr::v6_mask(self.prefix);
                (u128::from(net) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }

    /// Parses `a.b.c.d/n` or `v6/n`. Errors say what is wrong; host bits set is an error
    /// (with the canonical block in the message) so that no engine has to guess.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text.split_once('/').ok_or_else(|| {
            format!("`{text}` has no prefix length (write `{text}/32` for one address)")
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| u32::from(*p) <= max)
            .ok_or_else(|| format!("prefix length `{prefix}` is not a number from 0 to {max}"))?;
        let c = Cidr { addr, prefix };
        let canon = c.network();
        if canon.addr != addr {
            return Err(format!(
                "`{text}` has host bits set; the block is `{canon}`"
            ));
        }
        Ok(c)
    }

    /// The block with host bits cleared.
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & Cidr::v4_mask(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & Cidr::v6_mask(self.prefix))),
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn classes() {
        assert!(IpClass::Private.contains(ip("10.1.2.3")));
        assert!(IpClass::Private.contains(ip("172.31.255.255")));
        assert!(!IpClass::Private.contains(ip("172.32.0.0")));
        assert!(IpClass::Private.contains(ip("fd12::1")));
        assert!(IpClass::Loopback.contains(ip("::1")));
        assert!(IpClass::LinkLocal.contains(ip("fe80::1")));
        assert!(IpClass::Public.contains(ip("8.8.8.8")));
        assert!(IpClass::Public.contains(ip("2606:4700::1111")));
        assert!(!IpClass::Public.contains(ip("192.168.1.1")));
        assert!(!IpClass::Public.contains(ip("100.64.0.1")));
    }

    /// A class's test by family and precomputed masks agrees with [`Cidr::contains`] on its
    /// blocks: for every class, at each block's first and last address, one past either end,
    /// the other family's forms (mapped and compatible IPv6, the low 32 bits of an IPv6 block)
    /// and a spread of addresses of every first byte.
    #[test]
    fn class_tests_agree_with_their_blocks() {
        let mut ips: Vec<IpAddr> = Vec::new();
        for c in IpClass::non_public_blocks() {
            match c.addr {
                IpAddr::V4(n) => {
                    let n = u32::from(n);
                    let last = n | (u32::MAX.checked_shr(u32::from(c.prefix)).unwrap_or(0));
                    for a in [n, last, n.wrapping_sub(1), last.wrapping_add(1)] {
                        let a = Ipv4Addr::from(a);
                        ips.extend([
                            IpAddr::V4(a),
                            IpAddr::V6(a.to_ipv6_mapped()),
                            IpAddr::V6(a.to_ipv6_compatible()),
                        ]);
                    }
                }
                IpAddr::V6(n) => {
                    let n = u128::from(n);
                    let last = n | (u128::MAX.checked_shr(u32::from(c.prefix)).unwrap_or(0));
                    for a in [n, last, n.wrapping_sub(1), last.wrapping_add(1)] {
                        ips.push(IpAddr::V6(Ipv6Addr::from(a)));
                        ips.push(IpAddr::V4(Ipv4Addr::from(a as u32)));
                    }
                }
            }
        }
        for b in 0..=255u32 {
            ips.push(IpAddr::V4(Ipv4Addr::from(b << 24 | 0x00a5_5a01)));
            ips.push(IpAddr::V6(Ipv6Addr::from(u128::from(b) << 120 | 1)));
        }
        for class in [
            IpClass::Private,
            IpClass::Loopback,
            IpClass::LinkLocal,
            IpClass::Public,
        ] {
            let (blocks, outside) = match class {
                IpClass::Public => (IpClass::non_public_blocks(), true),
                _ => (class.blocks(), false),
            };
            let test = class.membership();
            for ip in &ips {
                let want = blocks.iter().any(|c| c.contains(*ip)) != outside;
                assert_eq!(test.contains(*ip), want, "{} {ip}", class.name());
            }
        }
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c = Cidr::parse("10.0.0.0/8").unwrap_or(v4(0, 0, 0, 0, 32));
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::ffff:10.0.0.1")));
        assert!(Cidr::parse("10.0.0.1/8").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("2001:db8::/32").is_ok());
    }
}
