//! Why an endpoint cannot be deleted (requester-managed: find the AWS
//! service that owns it) or carries no traffic: its state, the Availability
//! Zones the service serves, security groups, network ACLs, private DNS and
//! the VPC's DNS attributes, the endpoint policy; for gateway endpoints the
//! route tables, the client's outbound rules, the region and the bucket
//! policy.

use super::net::{AclVerdict, Cidr, Peer, Ports, RuleMatch, acl_decides, rule_name, rules_allow};
use super::policy::{EndpointPolicy, bucket_policy_blocks, endpoint_policy};
use super::{Check, Concern, Verdict, list};
use crate::api::conditions::{Condition, ConditionStatus, TRAFFIC_ALLOWED, condition};
use crate::plan::facts::{
    AclEntry, Bucket, DatabaseLink, EndpointFacts, Eni, NetworkAcl, ObservedEndpoint, OwnerClues, PrefixList, Read,
    RouteTable, SecurityGroup, ServiceOffer, Source, Subnet, TrailEvent, Vpc,
};

/// Network Firewall's tags on the endpoints it creates.
pub const FIREWALL_MANAGED_TAG: &str = "AWSNetworkFirewallManaged";
/// The firewall's ARN, on its endpoints.
pub const FIREWALL_TAG: &str = "Firewall";

/// What created a requester-managed endpoint, as far as the clues tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `AWS Network Firewall (firewall arn:…)`, or None when unknown.
    pub who: Option<String>,
    /// One sentence: what to delete instead.
    pub fix: String,
    /// The clues.
    pub evidence: Vec<String>,
}

/// The AWS service behind a requester-managed endpoint, from its tags,
/// databases whose DNS names lead to it, CloudTrail's CreateVpcEndpoint
/// event (90 days) and its network interfaces' descriptions.
pub fn requester_owner(ep: &ObservedEndpoint, interfaces: &[Eni], clues: &OwnerClues) -> Owner {
    let mut evidence = Vec::new();
    for e in interfaces {
        if !e.description.is_empty() || e.requester_id.is_some() {
            evidence.push(format!(
                "{}: \"{}\", requester {}",
                e.id,
                e.description,
                e.requester_id.as_deref().unwrap_or("?")
            ));
        }
    }
    if ep.tags.get(FIREWALL_MANAGED_TAG).map(String::as_str) == Some("true") {
        let firewall = ep.tags.get(FIREWALL_TAG).cloned().unwrap_or_else(|| "(no Firewall tag)".into());
        evidence.insert(0, format!("tag {FIREWALL_MANAGED_TAG}=true"));
        evidence.insert(1, format!("tag {FIREWALL_TAG}={firewall}"));
        return Owner {
            who: Some(format!("AWS Network Firewall (firewall {firewall})")),
            fix: format!(
                "Delete firewall {firewall}, or remove this subnet from its subnet mappings (aws network-firewall disassociate-subnets); AWS deletes the endpoint with it."
            ),
            evidence,
        };
    }
    match &clues.databases {
        Some(Ok(links)) if !links.is_empty() => {
            let DatabaseLink { kind, name, .. } = &links[0];
            evidence.extend(links.iter().map(|l| format!("{} {}: {}", l.kind, l.name, l.chain.join(" → "))));
            return Owner {
                who: Some(format!("{kind} {name}")),
                fix: format!(
                    "Delete {kind} {name} (it no longer needs the endpoint once gone); AWS deletes the endpoint with it."
                ),
                evidence,
            };
        }
        Some(Ok(_)) => {
            evidence.push("no Aurora Serverless cluster or RDS Proxy of the account resolves to this endpoint".into())
        }
        Some(Err(e)) => evidence.push(format!("databases not checked: {}", e.describe())),
        None => {}
    }
    match &clues.trail {
        Some(Ok(events)) if !events.is_empty() => {
            let TrailEvent { username, invoked_by, time, .. } = &events[0];
            let principal = invoked_by.clone().or_else(|| username.clone()).unwrap_or_else(|| "?".into());
            evidence
                .push(format!("CloudTrail: CreateVpcEndpoint by {principal} at {}", time.as_deref().unwrap_or("?")));
            let service = service_of_principal(&principal);
            return Owner {
                who: Some(service.clone()),
                fix: format!(
                    "Delete the {service} resource that uses this endpoint (the event shows which); AWS deletes the endpoint with it."
                ),
                evidence,
            };
        }
        Some(Ok(_)) => {
            evidence.push("CloudTrail has no CreateVpcEndpoint event for it in the last 90 days".to_string())
        }
        Some(Err(e)) => evidence.push(format!("CloudTrail not checked: {}", e.describe())),
        None => {}
    }
    let dns = ep.dns_names().next().cloned().unwrap_or_else(|| ep.id.clone());
    Owner {
        who: None,
        fix: format!(
            "Find the AWS service that created it and delete that resource: Network Firewall tags its endpoints, CloudTrail keeps the CreateVpcEndpoint event 90 days, and an Aurora Serverless cluster or RDS Proxy shows as a DNS name that is a CNAME of {dns}."
        ),
        evidence,
    }
}

/// A readable name for an AWS service principal.
fn service_of_principal(principal: &str) -> String {
    let known = [
        ("rds.amazonaws.com", "Amazon RDS (Aurora Serverless or RDS Proxy)"),
        ("network-firewall.amazonaws.com", "AWS Network Firewall"),
        ("elasticfilesystem.amazonaws.com", "Amazon EFS"),
        ("redshift.amazonaws.com", "Amazon Redshift"),
        ("redshift-serverless.amazonaws.com", "Amazon Redshift Serverless"),
        ("opensearchservice.amazonaws.com", "Amazon OpenSearch Service"),
        ("es.amazonaws.com", "Amazon OpenSearch Service"),
        ("kafka.amazonaws.com", "Amazon MSK"),
    ];
    known
        .iter()
        .find(|(p, _)| principal == *p || principal.ends_with(&format!("/{p}")))
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| principal.to_string())
}

/// The deletion check: who may delete it.
pub fn deletion(ep: &ObservedEndpoint, interfaces: &[Eni], clues: &OwnerClues) -> Check {
    if !ep.requester_managed {
        return Check::pass(
            "requester-managed",
            Concern::Deletion,
            "Not requester-managed: the account that owns it can delete it (DeleteVpcEndpoints).",
        );
    }
    let owner = requester_owner(ep, interfaces, clues);
    let who = owner.who.clone().unwrap_or_else(|| "an AWS service".into());
    Check::fail(
        "requester-managed",
        Concern::Deletion,
        format!(
            "Requester-managed: {who} created it and only that service can delete it (\"Operation is not allowed for requester-managed VPC endpoints for the service {}\").",
            ep.service_name
        ),
        owner.fix,
    )
    .with_all(owner.evidence)
}

/// The endpoint's state.
pub fn state(ep: &ObservedEndpoint, offer: Option<&ServiceOffer>) -> Check {
    let provider = offer.and_then(|o| o.owner.clone()).unwrap_or_else(|| "the service's owner".into());
    let c = match ep.state.as_str() {
        "available" => return Check::pass("state", Concern::Traffic, "available."),
        "pendingAcceptance" => Check::fail(
            "state",
            Concern::Traffic,
            format!("pendingAcceptance: it waits for {provider} to accept the connection."),
            format!(
                "Ask account {provider} to accept {} (with this operator: an EndpointConnection with decision Accept, or autoAccept on the EndpointService).",
                ep.id
            ),
        ),
        "pending" => Check::unknown(
            "state",
            Concern::Traffic,
            "pending: AWS is still creating it.",
            "Wait a minute and run doctor again.",
        ),
        "rejected" => Check::fail(
            "state",
            Concern::Traffic,
            format!("rejected: {provider} refused the connection."),
            "Ask the provider to allow your account, then delete the endpoint and create it again (a rejected endpoint stays rejected).",
        ),
        "expired" => Check::fail(
            "state",
            Concern::Traffic,
            "expired: the provider did not accept it in time.",
            "Delete it and create it again once the provider is ready to accept.",
        ),
        "deleting" | "deleted" => {
            Check::fail("state", Concern::Traffic, format!("{}: it is going away.", ep.state), "Create a new endpoint.")
        }
        other => Check::fail(
            "state",
            Concern::Traffic,
            format!("{other}: AWS could not make it work."),
            "Read AWS's error below; fix its cause, then delete the endpoint and create it again.",
        ),
    };
    match (&ep.last_error_code, &ep.last_error) {
        (Some(code), Some(message)) if !code.is_empty() => c.with(format!("AWS: {code}: {message}")),
        (Some(code), None) if !code.is_empty() => c.with(format!("AWS: {code}: ")),
        (_, Some(message)) => c.with(format!("AWS: {message}")),
        _ => c,
    }
}

/// Subnets in Availability Zones the service serves (by AZ ID: names differ
/// between accounts).
pub fn zones(offer: &Read<Option<ServiceOffer>>, subnets: &Read<Vec<Subnet>>) -> Check {
    let offer = match offer {
        Err(e) => return Check::unread("zones", Concern::Traffic, "what the service offers", e),
        Ok(None) => {
            return Check::fail(
                "zones",
                Concern::Traffic,
                "The service is not visible to this account any more.",
                "Ask the provider to allow your account (its allowed principals), or check the service name and region.",
            );
        }
        Ok(Some(o)) => o,
    };
    let subnets = match subnets {
        Err(e) => return Check::unread("zones", Concern::Traffic, "the endpoint's subnets", e),
        Ok(s) => s,
    };
    let served = |s: &Subnet| match (&s.zone_id, offer.zone_ids.is_empty()) {
        (Some(id), false) => offer.zone_ids.contains(id),
        _ => s.zone.as_ref().is_some_and(|z| offer.zone_names.contains(z)),
    };
    let outside: Vec<&Subnet> = subnets.iter().filter(|s| !served(s)).collect();
    let zone_of =
        |s: &Subnet| format!("{} ({})", s.zone_id.as_deref().unwrap_or("?"), s.zone.as_deref().unwrap_or("?"));
    let offered = if offer.zone_ids.is_empty() { list(&offer.zone_names) } else { list(&offer.zone_ids) };
    if outside.is_empty() {
        return Check::pass(
            "zones",
            Concern::Traffic,
            format!("Every subnet is in a zone the service serves ({offered})."),
        );
    }
    Check::fail(
        "zones",
        Concern::Traffic,
        format!(
            "{} subnet(s) are in zones the service does not serve: clients there have no endpoint address.",
            outside.len()
        ),
        "Use subnets in the zones the service serves, or ask the provider to add its load balancer to those zones.",
    )
    .with_all(outside.iter().map(|s| format!("{} in {}", s.id, zone_of(s))))
    .with(format!("the service serves {offered}"))
}

/// The clients: the named source, or the VPC's ranges.
fn peers(source: Option<&Source>, vpc: &Vpc) -> Vec<(String, Peer, bool)> {
    if let Some(s) = source {
        let groups: Vec<String> = s.groups.iter().map(|g| g.id.clone()).collect();
        let peer = match s.cidr.as_deref().and_then(Cidr::parse) {
            Some(c) if groups.is_empty() => Peer::Cidr(c),
            Some(c) => Peer::Both(c, groups),
            None => Peer::Groups(groups),
        };
        return vec![(s.label.clone(), peer, true)];
    }
    vpc.cidrs.iter().filter_map(|c| Cidr::parse(c)).map(|c| (format!("the VPC ({c})"), Peer::Cidr(c), false)).collect()
}

/// The endpoint's security groups let the clients in on the service's ports.
pub fn inbound(
    ep: &ObservedEndpoint,
    groups: &Read<Vec<SecurityGroup>>,
    vpc: &Read<Vpc>,
    source: Option<&Source>,
    ports: &[u16],
) -> Check {
    const ID: &str = "security-groups";
    let groups = match groups {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the endpoint's security groups", e),
        Ok(g) => g,
    };
    let vpc = match vpc {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the VPC", e),
        Ok(v) => v,
    };
    if ports.is_empty() {
        return Check::unknown(
            ID,
            Concern::Traffic,
            "The service's ports are unknown: a consumer cannot see an endpoint service's listeners.",
            "Run doctor with --port (the provider's listener port, e.g. --port 5432).",
        )
        .with(format!("groups: {}", list(&ep.security_group_ids)));
    }
    let rules: Vec<(String, crate::plan::facts::Rule)> =
        groups.iter().flat_map(|g| g.ingress.iter().map(move |r| (g.id.clone(), r.clone()))).collect();
    let mut evidence = Vec::new();
    let mut refused = Vec::new();
    for port in ports {
        for (label, peer, named) in peers(source, vpc) {
            match rules_allow(&rules, Ports::one(*port), &peer, None) {
                RuleMatch::Allowed(how) => evidence.push(format!("tcp {port} from {label}: {how}")),
                RuleMatch::Partly(how) if !named => {
                    evidence.push(format!("tcp {port} from part of {label}: {}", how.join("; ")))
                }
                RuleMatch::Partly(how) => refused.push(format!("tcp {port} from {label}: {}", how.join("; "))),
                RuleMatch::Refused => {
                    let by_group: Vec<String> = rules
                        .iter()
                        .filter(|(_, r)| !r.groups.is_empty() && super::net::carries_tcp(&r.protocol))
                        .filter(|(_, r)| matches!((r.from_port, r.to_port), (Some(f), Some(t)) if f <= i32::from(*port) && i32::from(*port) <= t) || r.protocol == "-1")
                        .map(|(g, r)| format!("{g}: from members of {}", r.groups.join(",")))
                        .collect();
                    if !named && !by_group.is_empty() {
                        evidence.push(format!("tcp {port} only from members of groups: {}", by_group.join("; ")));
                    } else {
                        refused.push(format!(
                            "tcp {port} from {label}: no rule of {} allows it",
                            list(&ep.security_group_ids)
                        ));
                    }
                }
            }
        }
    }
    if refused.is_empty() {
        return Check::pass(
            ID,
            Concern::Traffic,
            format!("The endpoint's security groups let clients in on {}.", ports_text(ports)),
        )
        .with_all(evidence);
    }
    Check::fail(
        ID,
        Concern::Traffic,
        "The endpoint's security groups do not let the clients in.".to_string(),
        format!(
            "Add an inbound rule to {} for tcp {} from the clients (their range or their security group).",
            ep.security_group_ids.first().map(String::as_str).unwrap_or("the endpoint's group"),
            ports_text(ports)
        ),
    )
    .with_all(refused)
    .with_all(evidence)
}

fn ports_text(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// The ACL of a subnet (its own, or the VPC's default).
fn acl_of<'a>(acls: &'a [NetworkAcl], subnet: &str) -> Option<&'a NetworkAcl> {
    acls.iter().find(|a| a.subnet_ids.iter().any(|s| s == subnet))
}

/// Check one direction of one ACL; Err(evidence) when it refuses.
fn acl_way(acl: &NetworkAcl, subnet: &str, egress: bool, ports: Ports, peer: &Cidr) -> Result<String, String> {
    let way = if egress { "outbound" } else { "inbound" };
    let to = if egress { "to" } else { "from" };
    let entries: &[AclEntry] = &acl.entries;
    match acl_decides(entries, egress, ports, peer) {
        AclVerdict::Allowed(n) => {
            Ok(format!("{} ({subnet}) {way} tcp {ports} {to} {peer}: allowed by rule {n}", acl.id))
        }
        AclVerdict::Denied { rule, partly } => Err(format!(
            "{} ({subnet}) {way} tcp {ports} {to} {peer}: {}denied by {}",
            acl.id,
            if partly { "partly " } else { "" },
            rule_name(rule)
        )),
    }
}

/// The network ACLs of the endpoint's subnets (and the client's) let
/// requests in on the ports and replies out on ephemeral ports.
pub fn interface_acls(
    ep: &ObservedEndpoint,
    acls: &Read<Vec<NetworkAcl>>,
    vpc: &Read<Vpc>,
    subnets: &Read<Vec<Subnet>>,
    source: Option<&Source>,
    ports: &[u16],
) -> Check {
    const ID: &str = "network-acls";
    let (acls, vpc) = match (acls, vpc) {
        (Err(e), _) => return Check::unread(ID, Concern::Traffic, "the network ACLs", e),
        (_, Err(e)) => return Check::unread(ID, Concern::Traffic, "the VPC", e),
        (Ok(a), Ok(v)) => (a, v),
    };
    let ports: Vec<u16> = if ports.is_empty() { vec![443] } else { ports.to_vec() };
    let clients: Vec<Cidr> = match source.and_then(|s| s.cidr.as_deref()).and_then(Cidr::parse) {
        Some(c) => vec![c],
        None => vpc.cidrs.iter().filter_map(|c| Cidr::parse(c)).collect(),
    };
    let endpoint_ranges: Vec<Cidr> = subnets
        .as_ref()
        .map(|s| s.iter().filter_map(|s| s.cidr.as_deref().and_then(Cidr::parse)).collect())
        .unwrap_or_default();
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    let mut judge = |r: Result<String, String>| match r {
        Ok(e) => ok.push(e),
        Err(e) => refused.push(e),
    };
    for subnet in &ep.subnet_ids {
        let Some(acl) = acl_of(acls, subnet) else {
            unknown.push(format!("no network ACL found for {subnet}"));
            continue;
        };
        for client in &clients {
            for port in &ports {
                judge(acl_way(acl, subnet, false, Ports::one(*port), client));
            }
            judge(acl_way(acl, subnet, true, Ports::EPHEMERAL, client));
        }
    }
    for subnet in source.map(|s| s.subnet_ids.as_slice()).unwrap_or_default() {
        let Some(acl) = acl_of(acls, subnet) else {
            unknown.push(format!("no network ACL found for {subnet}"));
            continue;
        };
        for range in &endpoint_ranges {
            for port in &ports {
                judge(acl_way(acl, subnet, true, Ports::one(*port), range));
            }
            judge(acl_way(acl, subnet, false, Ports::EPHEMERAL, range));
        }
    }
    if !refused.is_empty() {
        return Check::fail(
            ID,
            Concern::Traffic,
            "A network ACL refuses the traffic (ACLs are stateless: requests and replies need their own rules).",
            format!(
                "Add allow entries numbered below the denying ones: inbound tcp {} from the clients and outbound tcp 1024-65535 back to them on the endpoint's subnets (and the mirror image on the clients' subnets).",
                ports_text(&ports)
            ),
        )
        .with_all(refused)
        .with_all(unknown);
    }
    if !unknown.is_empty() {
        return Check::unknown(
            ID,
            Concern::Traffic,
            "Some subnets' network ACLs were not found.",
            "Check that the subnets exist.",
        )
        .with_all(unknown);
    }
    Check::pass(ID, Concern::Traffic, "The network ACLs allow requests and replies.").with_all(ok)
}

/// Private DNS needs the VPC's enableDnsSupport and enableDnsHostnames.
pub fn private_dns(ep: &ObservedEndpoint, vpc: &Read<Vpc>) -> Check {
    const ID: &str = "vpc-dns";
    let vpc = match vpc {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the VPC", e),
        Ok(v) => v,
    };
    let need_hostnames = !ep.is_gateway() && ep.private_dns_enabled;
    let mut off = Vec::new();
    let mut unread = None;
    for (name, value, needed) in
        [("enableDnsSupport", &vpc.dns_support, true), ("enableDnsHostnames", &vpc.dns_hostnames, need_hostnames)]
    {
        if !needed {
            continue;
        }
        match value {
            Ok(true) => {}
            Ok(false) => off.push(name),
            Err(e) => unread = Some(e.clone()),
        }
    }
    if !off.is_empty() {
        let why = if ep.is_gateway() {
            "clients resolve the service's public names through the VPC's DNS".to_string()
        } else {
            format!(
                "with private DNS on, {}'s name resolves to the endpoint only through the VPC's DNS",
                ep.service_name
            )
        };
        return Check::fail(
            ID,
            Concern::Traffic,
            format!("VPC {} has {} off: {why}.", vpc.id, off.join(" and ")),
            format!(
                "Turn them on: {}.",
                off.iter()
                    .map(|a| format!("aws ec2 modify-vpc-attribute --vpc-id {} --{} ", vpc.id, kebab(a)))
                    .collect::<Vec<_>>()
                    .join("; ")
                    .trim_end()
            ),
        );
    }
    if let Some(e) = unread {
        return Check::unread(ID, Concern::Traffic, "the VPC's DNS attributes", &e);
    }
    if !ep.is_gateway() && !ep.private_dns_enabled {
        return Check::pass(ID, Concern::Traffic, "Private DNS is off: clients use the endpoint's own DNS names.")
            .with_all(ep.dns_names().take(2).cloned());
    }
    Check::pass(ID, Concern::Traffic, format!("VPC {} resolves names (DNS support and hostnames as needed).", vpc.id))
}

/// `enableDnsHostnames` → `enable-dns-hostnames`.
fn kebab(attribute: &str) -> String {
    let mut out = String::new();
    for c in attribute.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The endpoint policy allows the calls.
pub fn policy(ep: &ObservedEndpoint) -> Check {
    const ID: &str = "endpoint-policy";
    match endpoint_policy(ep.policy.as_deref()) {
        Ok(EndpointPolicy::FullAccess) => Check::pass(ID, Concern::Traffic, "Full access (AWS's default policy)."),
        Ok(EndpointPolicy::BlocksAll(why)) => Check::fail(
            ID,
            Concern::Traffic,
            "The endpoint policy blocks every call through the endpoint.",
            format!("Change the endpoint policy (aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --policy-document …) or reset it to full access.", ep.id),
        )
        .with(why),
        Ok(EndpointPolicy::Restricts(lines)) => Check::unknown(
            ID,
            Concern::Traffic,
            "A custom endpoint policy: whether it allows a call depends on the principal, action and resource.",
            "Compare the failing call with these statements; the default policy allows everything.",
        )
        .with_all(lines),
        Err(e) => Check::unknown(ID, Concern::Traffic, format!("The endpoint policy could not be read: {e}."), "Check the policy document."),
    }
}

/// Gateway endpoints: each client subnet's route table sends the service's
/// prefix list to the endpoint.
pub fn routes(
    ep: &ObservedEndpoint,
    tables: &Read<Vec<RouteTable>>,
    subnets: &Read<Vec<Subnet>>,
    source: Option<&Source>,
    pl: &Read<Option<PrefixList>>,
) -> Check {
    const ID: &str = "route-tables";
    let (tables, subnets) = match (tables, subnets) {
        (Err(e), _) => return Check::unread(ID, Concern::Traffic, "the route tables", e),
        (_, Err(e)) => return Check::unread(ID, Concern::Traffic, "the VPC's subnets", e),
        (Ok(t), Ok(s)) => (t, s),
    };
    let pl_id = pl.as_ref().ok().and_then(|p| p.as_ref().map(|p| p.id.clone()));
    let wanted: Vec<String> = match source {
        Some(s) if !s.subnet_ids.is_empty() => s.subnet_ids.clone(),
        _ => subnets.iter().map(|s| s.id.clone()).collect(),
    };
    let main = tables.iter().find(|t| t.main);
    let mut missing = Vec::new();
    let mut routed = Vec::new();
    let mut tables_to_add = Vec::new();
    for subnet in &wanted {
        let (table, how) = match tables.iter().find(|t| t.subnet_ids.contains(subnet)) {
            Some(t) => (Some(t), ""),
            None => (main, " (main)"),
        };
        let Some(table) = table else {
            missing.push(format!("{subnet}: no route table found"));
            continue;
        };
        let route = table
            .routes
            .iter()
            .find(|r| r.target.as_deref() == Some(ep.id.as_str()) && (pl_id.is_none() || r.prefix_list == pl_id));
        match route {
            Some(r) if r.state.as_deref() == Some("blackhole") => {
                missing.push(format!("{subnet} uses {}{how}: the route to {} is a blackhole", table.id, ep.id))
            }
            Some(r) => routed.push(format!(
                "{subnet} uses {}{how}: {} → {}",
                table.id,
                r.prefix_list.as_deref().unwrap_or("?"),
                ep.id
            )),
            None => {
                missing.push(format!(
                    "{subnet} uses {}{how}: no route to {} via {}",
                    table.id,
                    pl_id.as_deref().unwrap_or("the service's prefix list"),
                    ep.id
                ));
                tables_to_add.push(table.id.clone());
            }
        }
    }
    if missing.is_empty() {
        return Check::pass(
            ID,
            Concern::Traffic,
            "The client subnets' route tables send the service's prefix list to the endpoint.",
        )
        .with_all(routed);
    }
    tables_to_add.sort();
    tables_to_add.dedup();
    Check::fail(
        ID,
        Concern::Traffic,
        format!("{} subnet(s) have no route to the endpoint: their traffic to the service takes another way or none.", missing.len()),
        if tables_to_add.is_empty() {
            "Associate the subnets with a route table the endpoint serves.".to_string()
        } else {
            format!(
                "Add the route tables to the endpoint: aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --add-route-table-ids {}.",
                ep.id,
                tables_to_add.join(" ")
            )
        },
    )
    .with_all(missing)
    .with_all(routed)
}

/// Gateway endpoints: the client's security groups let it out to the
/// service's prefix list on 443.
pub fn outbound(source: Option<&Read<Source>>, pl: &Read<Option<PrefixList>>) -> Check {
    const ID: &str = "client-security-groups";
    let source = match source {
        None => {
            return Check::unknown(
                ID,
                Concern::Traffic,
                "The client is unknown, so its security groups' outbound rules were not checked.",
                "Run doctor with --source i-… (or sg-…) to check them.",
            );
        }
        Some(Err(e)) => return Check::unread(ID, Concern::Traffic, "the client (--source)", e),
        Some(Ok(s)) => s,
    };
    if source.groups.is_empty() {
        return Check::unknown(
            ID,
            Concern::Traffic,
            format!("{} has no security groups to check.", source.label),
            "Name an instance or a security group with --source.",
        );
    }
    let pl = match pl {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the service's prefix list", e),
        Ok(None) => {
            return Check::unknown(
                ID,
                Concern::Traffic,
                "The service has no prefix list.",
                "Check the endpoint's service name.",
            );
        }
        Ok(Some(p)) => p,
    };
    let rules: Vec<(String, crate::plan::facts::Rule)> =
        source.groups.iter().flat_map(|g| g.egress.iter().map(move |r| (g.id.clone(), r.clone()))).collect();
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    for cidr in pl.cidrs.iter().filter_map(|c| Cidr::parse(c)) {
        match rules_allow(&rules, Ports::one(443), &Peer::Cidr(cidr), Some(&pl.id)) {
            RuleMatch::Allowed(how) => allowed.push(format!("tcp 443 to {cidr}: {how}")),
            _ => refused.push(format!("tcp 443 to {cidr} ({}): no outbound rule allows it", pl.id)),
        }
    }
    if pl.cidrs.is_empty() {
        match rules_allow(&rules, Ports::one(443), &Peer::Groups(Vec::new()), Some(&pl.id)) {
            RuleMatch::Allowed(how) => allowed.push(how),
            _ => refused.push(format!("tcp 443 to {}: no outbound rule allows it", pl.id)),
        }
    }
    if refused.is_empty() {
        return Check::pass(
            ID,
            Concern::Traffic,
            format!("{}'s security groups let it out to {} on 443.", source.label, pl.name),
        )
        .with_all(allowed);
    }
    Check::fail(
        ID,
        Concern::Traffic,
        format!("{}'s security groups do not let it out to {}.", source.label, pl.name),
        format!(
            "Add an outbound rule for tcp 443 to prefix list {} (aws ec2 authorize-security-group-egress --group-id {} --ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={}}}]').",
            pl.id,
            source.groups[0].id,
            pl.id
        ),
    )
    .with_all(refused)
}

/// Gateway endpoints: the client subnets' network ACLs let 443 out to the
/// prefix list's ranges and replies back in.
pub fn gateway_acls(
    ep: &ObservedEndpoint,
    acls: &Read<Vec<NetworkAcl>>,
    tables: &Read<Vec<RouteTable>>,
    source: Option<&Source>,
    pl: &Read<Option<PrefixList>>,
) -> Check {
    const ID: &str = "network-acls";
    let acls = match acls {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the network ACLs", e),
        Ok(a) => a,
    };
    let pl = match pl {
        Err(e) => return Check::unread(ID, Concern::Traffic, "the service's prefix list", e),
        Ok(None) => {
            return Check::unknown(
                ID,
                Concern::Traffic,
                "The service has no prefix list.",
                "Check the endpoint's service name.",
            );
        }
        Ok(Some(p)) => p,
    };
    // The subnets whose traffic should use the endpoint: the client's, or
    // those of the route tables the endpoint serves.
    let subnets: Vec<String> = match source {
        Some(s) if !s.subnet_ids.is_empty() => s.subnet_ids.clone(),
        _ => tables
            .as_ref()
            .map(|t| {
                t.iter().filter(|t| ep.route_table_ids.contains(&t.id)).flat_map(|t| t.subnet_ids.clone()).collect()
            })
            .unwrap_or_default(),
    };
    if subnets.is_empty() {
        return Check::unknown(
            ID,
            Concern::Traffic,
            "No client subnet to check.",
            "Run doctor with --source i-… or subnet-….",
        );
    }
    let mut refused = Vec::new();
    let mut ok = Vec::new();
    for subnet in &subnets {
        let Some(acl) = acl_of(acls, subnet) else { continue };
        for cidr in pl.cidrs.iter().filter_map(|c| Cidr::parse(c)) {
            for r in [
                acl_way(acl, subnet, true, Ports::one(443), &cidr),
                acl_way(acl, subnet, false, Ports::EPHEMERAL, &cidr),
            ] {
                match r {
                    Ok(e) => ok.push(e),
                    Err(e) => refused.push(e),
                }
            }
        }
    }
    if refused.is_empty() {
        return Check::pass(
            ID,
            Concern::Traffic,
            format!("The client subnets' network ACLs allow 443 out to {} and replies back.", pl.name),
        );
    }
    Check::fail(
        ID,
        Concern::Traffic,
        format!("A network ACL refuses traffic to {} (ACLs are stateless: requests and replies need their own rules).", pl.name),
        "Add allow entries numbered below the denying ones: outbound tcp 443 to the prefix list's ranges and inbound tcp 1024-65535 from them.",
    )
    .with_all(refused)
    .with(format!("{} ranges: {}", pl.id, pl.cidrs.join(", ")))
}

/// Gateway endpoints reach only their own region; the bucket policy must
/// let requests through the endpoint in.
pub fn bucket(ep: &ObservedEndpoint, region: &str, bucket: Option<&Read<Bucket>>) -> Vec<Check> {
    let Some(bucket) = bucket else {
        return vec![Check::unknown(
            "bucket",
            Concern::Traffic,
            "The bucket is unknown: its region and policy were not checked.",
            "Run doctor with --bucket NAME.",
        )];
    };
    let bucket = match bucket {
        Err(e) => return vec![Check::unread("bucket", Concern::Traffic, "the bucket", e)],
        Ok(b) => b,
    };
    let mut out = Vec::new();
    out.push(if bucket.region == region {
        Check::pass("bucket-region", Concern::Traffic, format!("Bucket {} is in {region}, the endpoint's region.", bucket.name))
    } else {
        Check::fail(
            "bucket-region",
            Concern::Traffic,
            format!("Bucket {} is in {}, but a gateway endpoint reaches only buckets of its own region ({region}).", bucket.name, bucket.region),
            format!(
                "Send the requests to {} (the SDK's region set to the bucket's) through an endpoint there, or use an interface endpoint with serviceRegion {} (S3 is cross-region capable).",
                bucket.region, bucket.region
            ),
        )
    });
    out.push(match &bucket.policy {
        None => Check::pass("bucket-policy", Concern::Traffic, format!("Bucket {} has no policy: IAM alone decides.", bucket.name)),
        Some(doc) => match bucket_policy_blocks(doc, &ep.id, &ep.vpc_id) {
            Ok(found) if found.is_empty() => Check::pass(
                "bucket-policy",
                Concern::Traffic,
                format!("No statement of bucket {}'s policy refuses requests through {}.", bucket.name, ep.id),
            ),
            Ok(found) => Check::fail(
                "bucket-policy",
                Concern::Traffic,
                format!("Bucket {}'s policy refuses requests that come through {}.", bucket.name, ep.id),
                format!("Let the endpoint in: list {} in the statement's aws:SourceVpce values (or {} in aws:SourceVpc); aws:SourceIp cannot match traffic through an endpoint.", ep.id, ep.vpc_id),
            )
            .with_all(found),
            Err(e) => Check::unknown("bucket-policy", Concern::Traffic, format!("The bucket policy could not be read: {e}."), "Check the bucket policy."),
        },
    });
    out
}

/// IAM: the caller's own permissions are beyond what the endpoint shows.
pub fn caller_iam() -> Check {
    Check::unknown(
        "caller-iam",
        Concern::Traffic,
        "Whether the caller's IAM permissions allow the call depends on who calls.",
        "Check the caller's role (aws iam simulate-principal-policy) and the organization's SCPs: both must allow the action, besides the endpoint and bucket policies.",
    )
}

/// One line about the endpoint.
pub fn about(ep: &ObservedEndpoint) -> String {
    let mut s = format!("{} endpoint to {}", ep.endpoint_type, ep.service_name);
    if let Some(r) = &ep.service_region {
        s.push_str(&format!(" in {r}"));
    }
    s.push_str(&format!(", {}, {}", ep.vpc_id, ep.state));
    if ep.requester_managed {
        s.push_str(", requester-managed");
    }
    s
}

/// The traffic checks of an interface endpoint that need no client
/// (what the InterfaceEndpoint controller runs for its TrafficAllowed
/// condition): zones, security groups, network ACLs, VPC DNS, policy.
pub fn interface_traffic(ep: &ObservedEndpoint, f: &EndpointFacts) -> Vec<Check> {
    let source = f.source.as_ref().and_then(|s| s.as_ref().ok());
    vec![
        zones(&f.offer, &f.subnets),
        inbound(ep, &f.groups, &f.vpc, source, &f.ports),
        interface_acls(ep, &f.acls, &f.vpc, &f.subnets, source, &f.ports),
        private_dns(ep, &f.vpc),
        policy(ep),
    ]
}

/// A check's words as one line: summary, fix and evidence.
pub fn sentence(c: &Check) -> String {
    let mut line = c.summary.clone();
    if let Some(fix) = c.fix.as_ref().filter(|_| c.verdict != Verdict::Pass) {
        line.push_str(&format!(" Fix: {fix}"));
    }
    if !c.evidence.is_empty() && c.verdict != Verdict::Pass {
        line.push_str(&format!(" ({})", c.evidence.join("; ")));
    }
    line
}

/// `network-acls` → `NetworkAcls`: a check id as a condition reason.
pub fn reason(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The TrafficAllowed condition from the traffic checks: False with the
/// first failing check's words (doctor prints the same), else True, naming
/// what could not be checked.
pub fn traffic_condition(checks: &[Check]) -> Condition {
    if let Some(failed) = checks.iter().find(|c| c.verdict == Verdict::Fail) {
        return condition(TRAFFIC_ALLOWED, ConditionStatus::False, &reason(failed.id), sentence(failed));
    }
    let passed: Vec<&str> = checks.iter().filter(|c| c.verdict == Verdict::Pass).map(|c| c.id).collect();
    let mut message = format!("nothing AWS shows blocks clients (checked: {})", passed.join(", "));
    let unknown: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::CouldNotCheck)
        .map(|c| format!("{}: {}", c.id, c.summary))
        .collect();
    if !unknown.is_empty() {
        message.push_str(&format!("; not checked: {}", unknown.join(" ")));
    }
    condition(TRAFFIC_ALLOWED, ConditionStatus::True, "Allowed", message)
}

/// The checks for an endpoint.
pub fn checks(f: &EndpointFacts) -> Vec<Check> {
    let Some(ep) = &f.endpoint else {
        return vec![Check::fail(
            "found",
            Concern::Subject,
            format!("No endpoint with this id in {} for this account.", f.region),
            "Check --region and --role-arn: an endpoint shows only to its own account, in its own region.",
        )];
    };
    let interfaces = f.interfaces.as_deref().unwrap_or_default();
    let offer = f.offer.as_ref().ok().and_then(|o| o.as_ref());
    let source = f.source.as_ref().and_then(|s| s.as_ref().ok());
    let mut out = vec![Check::pass("found", Concern::Subject, about(ep))];
    out.push(deletion(ep, interfaces, &f.owner));
    out.push(state(ep, offer));
    if let Some(Err(e)) = &f.source {
        out.push(Check::unread("source", Concern::Traffic, "the client named by --source", e));
    }
    if ep.is_gateway() {
        out.push(routes(ep, &f.route_tables, &f.subnets, source, &f.prefix_list));
        out.push(outbound(f.source.as_ref(), &f.prefix_list));
        out.push(gateway_acls(ep, &f.acls, &f.route_tables, source, &f.prefix_list));
        out.push(private_dns(ep, &f.vpc));
        out.push(policy(ep));
        if ep.service_name.ends_with(".s3") {
            out.extend(bucket(ep, &f.region, f.bucket.as_ref()));
        }
        out.push(caller_iam());
    } else {
        out.extend(interface_traffic(ep, f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::Verdict;
    use crate::plan::facts::{AwsError, Route, Rule};

    fn vpc(support: bool, hostnames: bool) -> Vpc {
        Vpc {
            id: "vpc-1".into(),
            cidrs: vec!["10.0.0.0/16".into()],
            dns_support: Ok(support),
            dns_hostnames: Ok(hostnames),
        }
    }

    fn open_acl(subnets: &[&str]) -> NetworkAcl {
        let e = |egress| AclEntry {
            number: 100,
            egress,
            protocol: "-1".into(),
            cidr: Some("0.0.0.0/0".into()),
            allow: true,
            ..Default::default()
        };
        NetworkAcl {
            id: "acl-1".into(),
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            entries: vec![e(false), e(true)],
        }
    }

    fn https_from_vpc(id: &str) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            name: "endpoint".into(),
            ingress: vec![Rule {
                protocol: "tcp".into(),
                from_port: Some(443),
                to_port: Some(443),
                cidrs: vec!["10.0.0.0/16".into()],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn interface() -> EndpointFacts {
        EndpointFacts {
            region: "us-east-1".into(),
            endpoint: Some(ObservedEndpoint {
                id: "vpce-1".into(),
                endpoint_type: "Interface".into(),
                vpc_id: "vpc-1".into(),
                service_name: "com.amazonaws.us-east-1.ssm".into(),
                state: "available".into(),
                subnet_ids: ["subnet-a".to_string()].into(),
                security_group_ids: ["sg-e".to_string()].into(),
                private_dns_enabled: true,
                dns_entries: vec![("vpce-1-abc.ssm.us-east-1.vpce.amazonaws.com".into(), None)],
                ..Default::default()
            }),
            interfaces: Ok(vec![]),
            offer: Ok(Some(ServiceOffer {
                name: "com.amazonaws.us-east-1.ssm".into(),
                zone_names: vec!["us-east-1a".into()],
                zone_ids: vec!["use1-az1".into()],
                owner: Some("amazon".into()),
                acceptance_required: Some(false),
                gateway: false,
            })),
            subnets: Ok(vec![Subnet {
                id: "subnet-a".into(),
                cidr: Some("10.0.1.0/24".into()),
                zone: Some("us-east-1a".into()),
                zone_id: Some("use1-az1".into()),
            }]),
            groups: Ok(vec![https_from_vpc("sg-e")]),
            vpc: Ok(vpc(true, true)),
            route_tables: Ok(vec![]),
            acls: Ok(vec![open_acl(&["subnet-a"])]),
            prefix_list: Ok(None),
            source: None,
            ports: vec![443],
            owner: OwnerClues::default(),
            bucket: None,
        }
    }

    fn gateway() -> EndpointFacts {
        let mut f = interface();
        let ep = f.endpoint.as_mut().unwrap();
        ep.endpoint_type = "Gateway".into();
        ep.service_name = "com.amazonaws.us-east-1.s3".into();
        ep.subnet_ids.clear();
        ep.security_group_ids.clear();
        ep.route_table_ids = ["rtb-1".to_string()].into();
        f.subnets = Ok(vec![Subnet { id: "subnet-a".into(), cidr: Some("10.0.1.0/24".into()), ..Default::default() }]);
        f.route_tables = Ok(vec![RouteTable {
            id: "rtb-1".into(),
            main: false,
            subnet_ids: vec!["subnet-a".into()],
            routes: vec![Route {
                prefix_list: Some("pl-s3".into()),
                target: Some("vpce-1".into()),
                state: Some("active".into()),
                ..Default::default()
            }],
        }]);
        f.prefix_list = Ok(Some(PrefixList {
            id: "pl-s3".into(),
            name: "com.amazonaws.us-east-1.s3".into(),
            cidrs: vec!["52.216.0.0/15".into()],
        }));
        f
    }

    fn verdict(f: &EndpointFacts, id: &str) -> (Verdict, Check) {
        let c = checks(f).into_iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}"));
        (c.verdict, c)
    }

    #[test]
    fn a_healthy_interface_endpoint_passes() {
        let f = interface();
        for c in checks(&f) {
            assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        }
    }

    #[test]
    fn the_traffic_condition_carries_the_doctor_words() {
        let f = interface();
        let ep = f.endpoint.clone().unwrap();
        let ok = traffic_condition(&interface_traffic(&ep, &f));
        assert_eq!((ok.status.as_str(), ok.reason.as_str()), ("True", "Allowed"));
        assert!(
            ok.message.contains("zones, security-groups, network-acls, vpc-dns, endpoint-policy"),
            "{}",
            ok.message
        );
        let mut closed = interface();
        closed.groups = Ok(vec![SecurityGroup { id: "sg-e".into(), ..Default::default() }]);
        let checks = interface_traffic(&ep, &closed);
        let failed = checks.iter().find(|c| c.id == "security-groups").unwrap();
        let c = traffic_condition(&checks);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "SecurityGroups"));
        assert!(
            c.message.starts_with(&failed.summary) && c.message.contains(failed.fix.as_deref().unwrap()),
            "{}",
            c.message
        );
        let mut custom = interface();
        custom.ports.clear();
        let c = traffic_condition(&interface_traffic(&ep, &custom));
        assert_eq!(c.status, "True");
        assert!(c.message.contains("not checked: security-groups"), "{}", c.message);
        assert_eq!(reason("vpc-dns"), "VpcDns");
    }

    #[test]
    fn a_missing_endpoint_fails_alone() {
        let f = EndpointFacts { endpoint: None, ..interface() };
        let c = checks(&f);
        assert_eq!((c.len(), c[0].id, c[0].verdict), (1, "found", Verdict::Fail));
    }

    #[test]
    fn requester_managed_endpoints_name_their_owner() {
        let mut f = interface();
        f.endpoint.as_mut().unwrap().requester_managed = true;
        let (v, c) = verdict(&f, "requester-managed");
        assert_eq!(v, Verdict::Fail);
        assert!(c.summary.contains("Operation is not allowed for requester-managed VPC endpoints"), "{c:?}");
        assert!(c.fix.as_ref().unwrap().contains("CloudTrail keeps"), "{c:?}");

        // Network Firewall's tags.
        let mut fw = f.clone();
        let tags = &mut fw.endpoint.as_mut().unwrap().tags;
        tags.insert(FIREWALL_MANAGED_TAG.into(), "true".into());
        tags.insert(FIREWALL_TAG.into(), "arn:aws:network-firewall:us-east-1:1:firewall/edge".into());
        let (_, c) = verdict(&fw, "requester-managed");
        assert!(
            c.summary.contains("AWS Network Firewall (firewall arn:aws:network-firewall:us-east-1:1:firewall/edge)"),
            "{c:?}"
        );
        assert!(c.fix.as_ref().unwrap().contains("disassociate-subnets"));
        assert_eq!(c.evidence[0], "tag AWSNetworkFirewallManaged=true");

        // CloudTrail.
        let mut ct = f.clone();
        ct.owner.trail = Some(Ok(vec![TrailEvent {
            name: "CreateVpcEndpoint".into(),
            username: Some("rds.amazonaws.com".into()),
            invoked_by: Some("rds.amazonaws.com".into()),
            time: Some("2026-10-01T10:00:00Z".into()),
        }]));
        let (_, c) = verdict(&ct, "requester-managed");
        assert!(c.summary.contains("Amazon RDS"), "{c:?}");
        assert!(c.evidence.iter().any(|e| e.contains("CreateVpcEndpoint by rds.amazonaws.com at 2026-10-01")), "{c:?}");
        // Outside CloudTrail's 90 days: no event, the fix says where else to look.
        ct.owner.trail = Some(Ok(vec![]));
        let (_, c) = verdict(&ct, "requester-managed");
        assert!(c.evidence.iter().any(|e| e.contains("last 90 days")), "{c:?}");
        assert!(c.fix.as_ref().unwrap().contains("CNAME of vpce-1-abc"), "{c:?}");

        // A database whose DNS name leads to the endpoint.
        let mut db = f.clone();
        db.owner.databases = Some(Ok(vec![DatabaseLink {
            kind: "RDS Proxy".into(),
            name: "orders".into(),
            host: "orders.proxy-abc.us-east-1.rds.amazonaws.com".into(),
            chain: vec![
                "orders.proxy-abc.us-east-1.rds.amazonaws.com".into(),
                "vpce-1-abc.ssm.us-east-1.vpce.amazonaws.com".into(),
            ],
        }]));
        let (_, c) = verdict(&db, "requester-managed");
        assert!(c.summary.contains("RDS Proxy orders created it"), "{c:?}");
        assert!(c.evidence.iter().any(|e| e.contains("→ vpce-1-abc")), "{c:?}");
    }

    #[test]
    fn states_say_who_must_act() {
        let mut f = interface();
        f.endpoint.as_mut().unwrap().state = "pendingAcceptance".into();
        f.offer.as_mut().unwrap().as_mut().unwrap().owner = Some("111122223333".into());
        let (v, c) = verdict(&f, "state");
        assert_eq!(v, Verdict::Fail);
        assert!(c.summary.contains("111122223333") && c.fix.unwrap().contains("EndpointConnection"));
        for (state, want) in [
            ("pending", Verdict::CouldNotCheck),
            ("rejected", Verdict::Fail),
            ("failed", Verdict::Fail),
            ("deleting", Verdict::Fail),
        ] {
            f.endpoint.as_mut().unwrap().state = state.into();
            assert_eq!(verdict(&f, "state").0, want, "{state}");
        }
        let ep = f.endpoint.as_mut().unwrap();
        ep.last_error_code = Some("InvalidParameter".into());
        ep.last_error = Some("subnet full".into());
        assert!(verdict(&f, "state").1.evidence[0].contains("subnet full"));
    }

    #[test]
    fn subnets_outside_the_service_zones_fail_by_zone_id() {
        let mut f = interface();
        f.subnets = Ok(vec![Subnet {
            id: "subnet-b".into(),
            zone: Some("us-east-1a".into()),
            zone_id: Some("use1-az4".into()),
            cidr: None,
        }]);
        let (v, c) = verdict(&f, "zones");
        assert_eq!(v, Verdict::Fail);
        assert!(c.evidence[0].contains("subnet-b in use1-az4"), "{c:?}");
        assert!(c.evidence[1].contains("use1-az1"));
        f.offer = Ok(None);
        assert_eq!(verdict(&f, "zones").0, Verdict::Fail);
        f.offer = Err(AwsError::read_failed("DescribeVpcEndpointServices", Some("UnauthorizedOperation".into()), "no"));
        assert_eq!(verdict(&f, "zones").0, Verdict::CouldNotCheck);
    }

    #[test]
    fn security_groups_must_let_clients_in_on_the_service_ports() {
        let mut f = interface();
        f.groups = Ok(vec![SecurityGroup { id: "sg-e".into(), ..Default::default() }]);
        let (v, c) = verdict(&f, "security-groups");
        assert_eq!(v, Verdict::Fail);
        assert!(c.evidence[0].contains("tcp 443 from the VPC (10.0.0.0/16): no rule of sg-e"), "{c:?}");
        // A custom service's ports are unknown without --port.
        let mut custom = interface();
        custom.ports.clear();
        assert_eq!(verdict(&custom, "security-groups").0, Verdict::CouldNotCheck);
        // A named client outside the allowed range fails; inside passes.
        let mut named = interface();
        named.source = Some(Ok(Source {
            label: "i-1".into(),
            cidr: Some("10.9.0.5/32".into()),
            groups: vec![],
            subnet_ids: vec![],
        }));
        assert_eq!(verdict(&named, "security-groups").0, Verdict::Fail);
        named.source = Some(Ok(Source {
            label: "i-1".into(),
            cidr: Some("10.0.3.5/32".into()),
            groups: vec![],
            subnet_ids: vec![],
        }));
        assert_eq!(verdict(&named, "security-groups").0, Verdict::Pass);
        // Rules that admit members of a group pass for the VPC at large.
        let mut by_group = interface();
        by_group.groups = Ok(vec![SecurityGroup {
            id: "sg-e".into(),
            ingress: vec![Rule {
                protocol: "tcp".into(),
                from_port: Some(443),
                to_port: Some(443),
                groups: vec!["sg-app".into()],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        assert_eq!(verdict(&by_group, "security-groups").0, Verdict::Pass);
    }

    #[test]
    fn network_acls_are_checked_both_ways() {
        let mut f = interface();
        let mut acl = open_acl(&["subnet-a"]);
        acl.entries.push(AclEntry {
            number: 90,
            egress: false,
            protocol: "6".into(),
            from_port: Some(443),
            to_port: Some(443),
            cidr: Some("10.0.0.0/16".into()),
            allow: false,
        });
        f.acls = Ok(vec![acl]);
        let (v, c) = verdict(&f, "network-acls");
        assert_eq!(v, Verdict::Fail);
        assert!(c.evidence[0].contains("inbound tcp 443 from 10.0.0.0/16: denied by rule 90"), "{c:?}");
        // Replies: outbound ephemeral ports.
        let mut f = interface();
        let mut acl = open_acl(&["subnet-a"]);
        acl.entries.retain(|e| !e.egress);
        acl.entries.push(AclEntry {
            number: 100,
            egress: true,
            protocol: "6".into(),
            from_port: Some(443),
            to_port: Some(443),
            cidr: Some("0.0.0.0/0".into()),
            allow: true,
        });
        f.acls = Ok(vec![acl]);
        let (v, c) = verdict(&f, "network-acls");
        assert_eq!(v, Verdict::Fail);
        assert!(
            c.evidence
                .iter()
                .any(|e| e.contains("outbound tcp 1024-65535 to 10.0.0.0/16: denied by the default * entry")),
            "{c:?}"
        );
    }

    #[test]
    fn private_dns_needs_both_vpc_attributes() {
        let mut f = interface();
        f.vpc = Ok(vpc(true, false));
        let (v, c) = verdict(&f, "vpc-dns");
        assert_eq!(v, Verdict::Fail);
        assert!(c.summary.contains("enableDnsHostnames off"), "{c:?}");
        assert!(c.fix.unwrap().contains("--enable-dns-hostnames"));
        f.endpoint.as_mut().unwrap().private_dns_enabled = false;
        assert_eq!(verdict(&f, "vpc-dns").0, Verdict::Pass);
        // Gateway endpoints need DNS support only.
        let mut g = gateway();
        g.vpc = Ok(vpc(false, false));
        assert!(verdict(&g, "vpc-dns").1.summary.contains("enableDnsSupport off"));
        g.vpc = Ok(vpc(true, false));
        assert_eq!(verdict(&g, "vpc-dns").0, Verdict::Pass);
    }

    #[test]
    fn endpoint_policies_that_deny_everything_fail() {
        let mut f = interface();
        f.endpoint.as_mut().unwrap().policy =
            Some(r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#.into());
        assert_eq!(verdict(&f, "endpoint-policy").0, Verdict::Fail);
        f.endpoint.as_mut().unwrap().policy = Some(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ssm:GetParameter","Resource":"*"}]}"#.into(),
        );
        assert_eq!(verdict(&f, "endpoint-policy").0, Verdict::CouldNotCheck);
    }

    #[test]
    fn gateway_endpoints_need_routes_egress_acls_region_and_bucket_policy() {
        let g = gateway();
        let all = checks(&g);
        for id in ["route-tables", "network-acls", "vpc-dns", "endpoint-policy"] {
            assert_eq!(all.iter().find(|c| c.id == id).unwrap().verdict, Verdict::Pass, "{id}");
        }
        for id in ["client-security-groups", "bucket", "caller-iam"] {
            assert_eq!(all.iter().find(|c| c.id == id).unwrap().verdict, Verdict::CouldNotCheck, "{id}");
        }
        // A subnet on the main table without the route.
        let mut g = gateway();
        g.subnets = Ok(vec![
            Subnet { id: "subnet-a".into(), ..Default::default() },
            Subnet { id: "subnet-b".into(), ..Default::default() },
        ]);
        if let Ok(t) = &mut g.route_tables {
            t.push(RouteTable { id: "rtb-main".into(), main: true, ..Default::default() });
        }
        let (v, c) = verdict(&g, "route-tables");
        assert_eq!(v, Verdict::Fail);
        assert!(c.evidence[0].contains("subnet-b uses rtb-main (main): no route to pl-s3 via vpce-1"), "{c:?}");
        assert!(c.fix.unwrap().contains("--add-route-table-ids rtb-main"));
        // The client's security group has no egress to the prefix list.
        let mut g = gateway();
        let client = SecurityGroup { id: "sg-app".into(), ..Default::default() };
        g.source = Some(Ok(Source {
            label: "i-1".into(),
            cidr: Some("10.0.1.9/32".into()),
            groups: vec![client.clone()],
            subnet_ids: vec!["subnet-a".into()],
        }));
        let (v, c) = verdict(&g, "client-security-groups");
        assert_eq!(v, Verdict::Fail);
        assert!(c.fix.unwrap().contains("PrefixListId=pl-s3"));
        let mut open = client;
        open.egress.push(Rule {
            protocol: "tcp".into(),
            from_port: Some(443),
            to_port: Some(443),
            prefix_lists: vec!["pl-s3".into()],
            ..Default::default()
        });
        g.source = Some(Ok(Source {
            label: "i-1".into(),
            cidr: None,
            groups: vec![open],
            subnet_ids: vec!["subnet-a".into()],
        }));
        assert_eq!(verdict(&g, "client-security-groups").0, Verdict::Pass);
        // A network ACL without ephemeral replies.
        let mut g = gateway();
        g.acls = Ok(vec![NetworkAcl {
            id: "acl-2".into(),
            subnet_ids: vec!["subnet-a".into()],
            entries: vec![
                AclEntry {
                    number: 100,
                    egress: true,
                    protocol: "6".into(),
                    from_port: Some(443),
                    to_port: Some(443),
                    cidr: Some("0.0.0.0/0".into()),
                    allow: true,
                },
                AclEntry {
                    number: 100,
                    egress: false,
                    protocol: "6".into(),
                    from_port: Some(22),
                    to_port: Some(22),
                    cidr: Some("0.0.0.0/0".into()),
                    allow: true,
                },
            ],
        }]);
        let (v, c) = verdict(&g, "network-acls");
        assert_eq!(v, Verdict::Fail);
        assert!(
            c.evidence[0].contains("inbound tcp 1024-65535 from 52.216.0.0/15: denied by the default * entry"),
            "{c:?}"
        );
        // The bucket: another region; a policy that allows only another endpoint.
        let mut g = gateway();
        g.bucket = Some(Ok(Bucket { name: "logs".into(), region: "eu-west-1".into(), policy: None }));
        let (v, c) = verdict(&g, "bucket-region");
        assert_eq!(v, Verdict::Fail);
        assert!(c.summary.contains("eu-west-1") && c.fix.unwrap().contains("serviceRegion"));
        g.bucket = Some(Ok(Bucket {
            name: "logs".into(),
            region: "us-east-1".into(),
            policy: Some(r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-9"}}}]}"#.into()),
        }));
        assert_eq!(verdict(&g, "bucket-region").0, Verdict::Pass);
        assert_eq!(verdict(&g, "bucket-policy").0, Verdict::Fail);
    }
}
