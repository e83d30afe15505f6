//! Address ranges, ports, security-group rules and network ACLs, evaluated
//! as AWS evaluates them: security groups allow when any rule matches;
//! network ACLs take the lowest-numbered matching entry.

use std::fmt;
use std::net::IpAddr;

use crate::plan::facts::{AclEntry, Rule};

/// An IPv4 or IPv6 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    v6: bool,
    base: u128,
    len: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/16`, `2001:db8::/32` or a single address.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let (v6, value, bits) = match addr.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32u8),
            IpAddr::V6(a) => (true, u128::from(a), 128u8),
        };
        let len = len.unwrap_or(bits);
        if len > bits {
            return None;
        }
        Some(Self { v6, base: value & Self::mask(bits, len), len })
    }

    fn bits(&self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn mask(bits: u8, len: u8) -> u128 {
        let all: u128 = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
        if len == 0 { 0 } else { all & !((1u128 << (bits - len)) - 1) }
    }

    /// True when every address of `other` is in this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        self.v6 == other.v6 && self.len <= other.len && other.base & Self::mask(self.bits(), self.len) == self.base
    }

    /// True when the blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// True for an IPv6 block.
    pub fn is_v6(&self) -> bool {
        self.v6
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.base), self.len)
        } else {
            write!(f, "{}/{}", std::net::Ipv4Addr::from(self.base as u32), self.len)
        }
    }
}

/// An inclusive TCP port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// First port.
    pub from: u16,
    /// Last port.
    pub to: u16,
}

impl Ports {
    /// One port.
    pub fn one(port: u16) -> Self {
        Self { from: port, to: port }
    }

    /// The ephemeral ports return traffic comes back on (AWS's guidance for
    /// network ACLs: 1024-65535).
    pub const EPHEMERAL: Ports = Ports { from: 1024, to: 65535 };

    fn within(&self, from: i32, to: i32) -> bool {
        from <= i32::from(self.from) && i32::from(self.to) <= to
    }

    fn meets(&self, from: i32, to: i32) -> bool {
        from <= i32::from(self.to) && i32::from(self.from) <= to
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to { write!(f, "{}", self.from) } else { write!(f, "{}-{}", self.from, self.to) }
    }
}

/// True when an AWS protocol value (`-1`, `tcp`, `6`, …) carries TCP.
pub fn carries_tcp(protocol: &str) -> bool {
    matches!(protocol, "-1" | "all" | "tcp" | "6")
}

/// The (from, to) of a rule or entry for TCP; all ports when it names none.
fn port_span(protocol: &str, from: Option<i32>, to: Option<i32>) -> (i32, i32) {
    if protocol == "-1" || protocol == "all" {
        return (0, 65535);
    }
    match (from, to) {
        (Some(f), Some(t)) if f >= 0 => (f, t),
        _ => (0, 65535),
    }
}

/// Who a security-group rule lets in (or out to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An address range.
    Cidr(Cidr),
    /// Members of these security groups.
    Groups(Vec<String>),
    /// An address range or members of groups (a client named both ways).
    Both(Cidr, Vec<String>),
}

impl Peer {
    fn cidr(&self) -> Option<&Cidr> {
        match self {
            Peer::Cidr(c) | Peer::Both(c, _) => Some(c),
            Peer::Groups(_) => None,
        }
    }

    fn groups(&self) -> &[String] {
        match self {
            Peer::Groups(g) | Peer::Both(_, g) => g,
            Peer::Cidr(_) => &[],
        }
    }
}

/// How a security group's rules treat a peer on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    /// A rule allows the whole peer: its description.
    Allowed(String),
    /// Rules allow part of the peer only (other addresses of it are refused).
    Partly(Vec<String>),
    /// No rule allows the peer.
    Refused,
}

/// Evaluate rules (ingress or egress of one or more groups) for TCP `port`
/// from/to `peer`. Prefix lists count when `prefix_list` names them.
pub fn rules_allow(rules: &[(String, Rule)], port: Ports, peer: &Peer, prefix_list: Option<&str>) -> RuleMatch {
    let mut partly = Vec::new();
    for (group, rule) in rules {
        if !carries_tcp(&rule.protocol) {
            continue;
        }
        let (from, to) = port_span(&rule.protocol, rule.from_port, rule.to_port);
        if !port.within(from, to) {
            continue;
        }
        let ports = if (from, to) == (0, 65535) { "all ports".to_string() } else { format!("tcp {from}-{to}") };
        if let Some(pl) = prefix_list
            && rule.prefix_lists.iter().any(|p| p == pl)
        {
            return RuleMatch::Allowed(format!("{group}: {ports} with {pl}"));
        }
        for g in &rule.groups {
            if peer.groups().iter().any(|p| p == g) {
                return RuleMatch::Allowed(format!("{group}: {ports} with members of {g}"));
            }
        }
        if let Some(want) = peer.cidr() {
            for text in &rule.cidrs {
                let Some(c) = Cidr::parse(text) else { continue };
                if c.contains(want) {
                    return RuleMatch::Allowed(format!("{group}: {ports} with {c}"));
                }
                if c.overlaps(want) {
                    partly.push(format!("{group}: {ports} with {c} only"));
                }
            }
        }
    }
    if partly.is_empty() { RuleMatch::Refused } else { RuleMatch::Partly(partly) }
}

/// What a network ACL does with TCP traffic on `ports` to or from `peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclVerdict {
    /// An entry allows it all.
    Allowed(i32),
    /// An entry denies it (all of it, or the part it names).
    Denied {
        /// Rule number (32767 is the `*` rule every ACL ends with).
        rule: i32,
        /// True when the entry covers only part of the peer or ports.
        partly: bool,
    },
}

/// Walk one direction of a network ACL in rule-number order, as AWS does:
/// the first entry that matches decides. Entries of the other address
/// family are skipped; an entry that allows only part of the traffic lets
/// the rest go on to the next entries.
pub fn acl_decides(entries: &[AclEntry], egress: bool, ports: Ports, peer: &Cidr) -> AclVerdict {
    let mut ordered: Vec<&AclEntry> = entries.iter().filter(|e| e.egress == egress).collect();
    ordered.sort_by_key(|e| e.number);
    for e in ordered {
        if !carries_tcp(&e.protocol) {
            continue;
        }
        let Some(cidr) = e.cidr.as_deref().and_then(Cidr::parse) else { continue };
        if cidr.is_v6() != peer.is_v6() || !cidr.overlaps(peer) {
            continue;
        }
        let (from, to) = port_span(&e.protocol, e.from_port, e.to_port);
        if !ports.meets(from, to) {
            continue;
        }
        let whole = cidr.contains(peer) && ports.within(from, to);
        if !e.allow {
            return AclVerdict::Denied { rule: e.number, partly: !whole };
        }
        if whole {
            return AclVerdict::Allowed(e.number);
        }
    }
    AclVerdict::Denied { rule: 32767, partly: false }
}

/// `rule 100`, or `*` for the default entry.
pub fn rule_name(number: i32) -> String {
    if number >= 32767 { "the default * entry".to_string() } else { format!("rule {number}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        number: i32,
        egress: bool,
        protocol: &str,
        ports: Option<(i32, i32)>,
        cidr: &str,
        allow: bool,
    ) -> AclEntry {
        AclEntry {
            number,
            egress,
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            cidr: Some(cidr.into()),
            allow,
        }
    }

    fn rule(protocol: &str, ports: Option<(i32, i32)>, cidrs: &[&str], groups: &[&str], pls: &[&str]) -> Rule {
        Rule {
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            prefix_lists: pls.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn cidrs_contain_and_overlap() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let subnet = Cidr::parse("10.0.1.0/24").unwrap();
        assert!(vpc.contains(&subnet) && !subnet.contains(&vpc) && subnet.overlaps(&vpc));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&vpc));
        assert!(!Cidr::parse("10.1.0.0/16").unwrap().overlaps(&vpc));
        assert_eq!(Cidr::parse("10.0.1.7/16").unwrap().to_string(), "10.0.0.0/16");
        assert_eq!(Cidr::parse("10.0.0.5").unwrap().to_string(), "10.0.0.5/32");
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.is_v6() && !v6.overlaps(&vpc) && v6.contains(&Cidr::parse("2001:db8:1::/48").unwrap()));
        assert!(Cidr::parse("::/0").unwrap().contains(&v6));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }

    #[test]
    fn acl_first_matching_entry_decides() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let https = Ports::one(443);
        let default =
            vec![entry(100, false, "-1", None, "0.0.0.0/0", true), entry(32767, false, "-1", None, "0.0.0.0/0", false)];
        assert_eq!(acl_decides(&default, false, https, &vpc), AclVerdict::Allowed(100));
        // A lower-numbered deny wins over a later allow.
        let deny_first = vec![
            entry(90, false, "6", Some((443, 443)), "10.0.0.0/16", false),
            entry(100, false, "-1", None, "0.0.0.0/0", true),
        ];
        assert_eq!(acl_decides(&deny_first, false, https, &vpc), AclVerdict::Denied { rule: 90, partly: false });
        // A deny for part of the range counts (some clients are refused).
        let part = vec![
            entry(50, false, "6", Some((443, 443)), "10.0.5.0/24", false),
            entry(100, false, "-1", None, "0.0.0.0/0", true),
        ];
        assert_eq!(acl_decides(&part, false, https, &vpc), AclVerdict::Denied { rule: 50, partly: true });
        // An allow of another port or range does not match; the * entry denies.
        let other = vec![
            entry(100, false, "6", Some((80, 80)), "0.0.0.0/0", true),
            entry(110, false, "6", Some((443, 443)), "192.168.0.0/16", true),
        ];
        assert_eq!(acl_decides(&other, false, https, &vpc), AclVerdict::Denied { rule: 32767, partly: false });
        // UDP entries never match TCP; egress entries are another direction.
        let udp = vec![
            entry(100, false, "17", Some((443, 443)), "0.0.0.0/0", true),
            entry(100, true, "-1", None, "0.0.0.0/0", true),
        ];
        assert_eq!(acl_decides(&udp, false, https, &vpc), AclVerdict::Denied { rule: 32767, partly: false });
        // Ephemeral return ports: an allow of 32768-65535 only covers part;
        // with nothing after it, the * entry refuses the rest.
        let narrow = vec![entry(100, true, "6", Some((32768, 65535)), "0.0.0.0/0", true)];
        assert_eq!(
            acl_decides(&narrow, true, Ports::EPHEMERAL, &vpc),
            AclVerdict::Denied { rule: 32767, partly: false }
        );
        let wide = vec![entry(100, true, "6", Some((1024, 65535)), "0.0.0.0/0", true)];
        assert_eq!(acl_decides(&wide, true, Ports::EPHEMERAL, &vpc), AclVerdict::Allowed(100));
        // An allow of half the range, then an allow of the whole: allowed by the second.
        let halves = vec![
            entry(100, false, "6", Some((443, 443)), "10.0.0.0/17", true),
            entry(200, false, "-1", None, "0.0.0.0/0", true),
        ];
        assert_eq!(acl_decides(&halves, false, https, &vpc), AclVerdict::Allowed(200));
        // IPv6 entries do not decide for IPv4 peers.
        let v6 = vec![AclEntry { cidr: Some("::/0".into()), ..entry(1, false, "-1", None, "0.0.0.0/0", false) }];
        assert_eq!(acl_decides(&v6, false, https, &vpc), AclVerdict::Denied { rule: 32767, partly: false });
        assert_eq!(rule_name(32767), "the default * entry");
        assert_eq!(rule_name(90), "rule 90");
    }

    #[test]
    fn security_group_rules_allow_by_range_group_or_prefix_list() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let https = Ports::one(443);
        let by_cidr = vec![("sg-1".to_string(), rule("tcp", Some((443, 443)), &["10.0.0.0/8"], &[], &[]))];
        assert!(matches!(rules_allow(&by_cidr, https, &Peer::Cidr(vpc), None), RuleMatch::Allowed(_)));
        let all = vec![("sg-1".to_string(), rule("-1", None, &["0.0.0.0/0"], &[], &[]))];
        assert!(matches!(rules_allow(&all, Ports::one(8443), &Peer::Cidr(vpc), None), RuleMatch::Allowed(_)));
        let wrong_port = vec![("sg-1".to_string(), rule("tcp", Some((80, 80)), &["0.0.0.0/0"], &[], &[]))];
        assert_eq!(rules_allow(&wrong_port, https, &Peer::Cidr(vpc), None), RuleMatch::Refused);
        let udp = vec![("sg-1".to_string(), rule("udp", Some((443, 443)), &["0.0.0.0/0"], &[], &[]))];
        assert_eq!(rules_allow(&udp, https, &Peer::Cidr(vpc), None), RuleMatch::Refused);
        let part = vec![("sg-1".to_string(), rule("tcp", Some((443, 443)), &["10.0.1.0/24"], &[], &[]))];
        assert!(
            matches!(rules_allow(&part, https, &Peer::Cidr(vpc), None), RuleMatch::Partly(p) if p[0].contains("10.0.1.0/24 only"))
        );
        let by_group = vec![("sg-1".to_string(), rule("tcp", Some((0, 65535)), &[], &["sg-client"], &[]))];
        let client = Peer::Both(Cidr::parse("10.0.1.5").unwrap(), vec!["sg-client".into()]);
        assert!(
            matches!(rules_allow(&by_group, https, &client, None), RuleMatch::Allowed(d) if d.contains("members of sg-client"))
        );
        assert_eq!(rules_allow(&by_group, https, &Peer::Cidr(vpc), None), RuleMatch::Refused);
        let to_pl = vec![("sg-1".to_string(), rule("tcp", Some((443, 443)), &[], &[], &["pl-s3"]))];
        assert!(matches!(rules_allow(&to_pl, https, &Peer::Cidr(vpc), Some("pl-s3")), RuleMatch::Allowed(_)));
        assert_eq!(rules_allow(&to_pl, https, &Peer::Cidr(vpc), Some("pl-other")), RuleMatch::Refused);
    }
}
