//! Why a security group cannot be deleted: it is its VPC's default group
//! (CannotDelete), rules of other groups reference it, here or across a
//! peering (DependencyViolation), network interfaces or instances use it
//! (DependencyViolation, "resource sg-… has a dependent object"), or the
//! caller may not delete it (IAM or an SCP).

use std::collections::BTreeMap;

use super::{Check, Concern, list};
use crate::plan::facts::{Eni, GroupFacts, GroupReference, Instance, ObservedEndpoint, SecurityGroup};
use crate::plan::tags::{MANAGED_BY, MANAGED_BY_VALUE, OWNER_NAME, OWNER_NAMESPACE};

/// Something that keeps a security group from being deleted, and how to
/// let go of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// What holds it (`endpoint vpce-… (eni-…)`).
    pub what: String,
    /// How to release it.
    pub release: String,
}

/// The object of the operator that manages an AWS resource, from its tags.
pub fn managing_object(tags: &BTreeMap<String, String>, kind: &str) -> Option<String> {
    if tags.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    Some(format!(
        "{kind} {}/{}",
        tags.get(OWNER_NAMESPACE).map(String::as_str).unwrap_or("?"),
        tags.get(OWNER_NAME).map(String::as_str).unwrap_or("?")
    ))
}

/// What a network interface belongs to, from its type and description (AWS
/// services name their resource there).
pub fn interface_holder(eni: &Eni, group_id: &str, endpoints: &[ObservedEndpoint]) -> Holder {
    let d = eni.description.as_str();
    let t = eni.interface_type.as_str();
    if t == "vpc_endpoint" || d.starts_with("VPC Endpoint Interface ") {
        let id = d.rsplit(' ').next().filter(|s| s.starts_with("vpce-")).unwrap_or("?").to_string();
        let managed = endpoints.iter().find(|e| e.id == id).and_then(|e| managing_object(&e.tags, "InterfaceEndpoint"));
        let release = match managed {
            Some(object) => format!(
                "{object} manages endpoint {id}: remove {group_id} from its spec.securityGroupIds, or delete the object"
            ),
            None => format!(
                "remove {group_id} from endpoint {id} (aws ec2 modify-vpc-endpoint --vpc-endpoint-id {id} --remove-security-group-ids {group_id}) or delete the endpoint"
            ),
        };
        return Holder { what: format!("endpoint {id} ({})", eni.id), release };
    }
    if t == "network_load_balancer" || t == "gateway_load_balancer" || d.starts_with("ELB ") {
        let name = d.strip_prefix("ELB ").unwrap_or(d);
        return Holder {
            what: format!("load balancer {name} ({})", eni.id),
            release: format!(
                "remove {group_id} from load balancer {name} (aws elbv2 set-security-groups) or delete it"
            ),
        };
    }
    if t == "lambda" || d.starts_with("AWS Lambda VPC ENI-") {
        let function = lambda_function(d);
        return Holder {
            what: format!("Lambda function {function} ({})", eni.id),
            release: format!(
                "remove {group_id} from function {function}'s VPC configuration (or delete the function); Lambda releases its network interfaces some minutes later"
            ),
        };
    }
    if t == "nat_gateway" || d.starts_with("Interface for NAT Gateway ") {
        let nat = d.rsplit(' ').next().unwrap_or("?");
        return Holder {
            what: format!("NAT gateway {nat} ({})", eni.id),
            release: format!("delete NAT gateway {nat}; its network interface goes with it"),
        };
    }
    if let Some(instance) = &eni.instance_id {
        return Holder {
            what: format!("instance {instance} ({})", eni.id),
            release: format!(
                "remove {group_id} from instance {instance}'s network interface {} or terminate it",
                eni.id
            ),
        };
    }
    let by = if eni.requester_managed {
        format!(", managed by {}", eni.requester_id.as_deref().unwrap_or("an AWS service"))
    } else {
        String::new()
    };
    let what = format!(
        "network interface {} (type {t}{by}{})",
        eni.id,
        if d.is_empty() { String::new() } else { format!(", \"{d}\"") }
    );
    let release = if eni.requester_managed {
        format!("delete the resource of the AWS service that created {} (its description names it)", eni.id)
    } else {
        format!("remove {group_id} from {} (aws ec2 modify-network-interface-attribute) or delete it", eni.id)
    };
    Holder { what, release }
}

/// `AWS Lambda VPC ENI-my-function-1b2c…` → `my-function`.
fn lambda_function(description: &str) -> String {
    let rest = description.strip_prefix("AWS Lambda VPC ENI-").unwrap_or(description);
    let parts: Vec<&str> = rest.split('-').collect();
    // A UUID (5 groups) follows the name.
    if parts.len() > 5 && parts[parts.len() - 5..].iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())) {
        parts[..parts.len() - 5].join("-")
    } else {
        rest.to_string()
    }
}

/// Rules of other groups that reference `group_id`, as (group, rule text).
pub fn referencing_rules(group_id: &str, neighbours: &[SecurityGroup]) -> Vec<String> {
    let mut found = Vec::new();
    for g in neighbours.iter().filter(|g| g.id != group_id) {
        for (direction, rules) in [("inbound", &g.ingress), ("outbound", &g.egress)] {
            for r in rules.iter().filter(|r| r.groups.iter().any(|x| x == group_id)) {
                let ports = match (r.protocol.as_str(), r.from_port, r.to_port) {
                    ("-1", _, _) => "all traffic".to_string(),
                    (p, Some(f), Some(t)) if f == t => format!("{p} {f}"),
                    (p, Some(f), Some(t)) => format!("{p} {f}-{t}"),
                    (p, _, _) => p.to_string(),
                };
                let way = if direction == "inbound" { "from" } else { "to" };
                found.push(format!("{} ({}) {direction} {ports} {way} {group_id}", g.id, g.name));
            }
        }
    }
    found
}

/// Everything that holds the group, with how to release each: interfaces
/// (endpoints, load balancers, Lambda, NAT gateways, instances) and rules.
pub fn holders(
    group_id: &str,
    interfaces: &[Eni],
    endpoints: &[ObservedEndpoint],
    neighbours: &[SecurityGroup],
    references: &[GroupReference],
) -> Vec<Holder> {
    let mut found: Vec<Holder> = interfaces.iter().map(|e| interface_holder(e, group_id, endpoints)).collect();
    found.extend(referencing_rules(group_id, neighbours).into_iter().map(|r| Holder {
        what: format!("rule of {r}"),
        release: "remove the rule (aws ec2 revoke-security-group-ingress / -egress)".into(),
    }));
    found.extend(references.iter().map(|r| Holder {
        what: format!(
            "a rule in peered VPC {}{}",
            r.vpc_id,
            r.peering_id.as_deref().map(|p| format!(" via {p}")).unwrap_or_default()
        ),
        release: format!("remove the rule in VPC {}'s group (its owner may be another account)", r.vpc_id),
    }));
    found
}

/// The checks for a security group.
pub fn checks(f: &GroupFacts) -> Vec<Check> {
    let Some(group) = &f.group else {
        return vec![Check::fail(
            "found",
            Concern::Subject,
            format!("No security group with this id in {} for this account.", f.region),
            "Check --region and --role-arn: a group shows only to its own account, in its own region.",
        )];
    };
    let mut out = vec![Check::pass(
        "found",
        Concern::Subject,
        format!("{} ({}) in {}.", group.id, group.name, group.vpc_id.as_deref().unwrap_or("no VPC")),
    )];
    out.push(if group.name == "default" && group.vpc_id.is_some() {
        Check::fail(
            "default-group",
            Concern::Deletion,
            "It is its VPC's default security group: AWS never deletes it on request (CannotDelete).",
            "Leave it; it goes when the VPC is deleted (remove its rules if you want it harmless).",
        )
        .with(format!("group name: default, VPC {}", group.vpc_id.as_deref().unwrap_or("?")))
    } else {
        Check::pass("default-group", Concern::Deletion, "Not a default group.")
    });
    out.push(match &f.neighbours {
        Err(e) => Check::unread("rules-in-vpc", Concern::Deletion, "the other security groups of the VPC", e),
        Ok(groups) => {
            let rules = referencing_rules(&group.id, groups);
            if rules.is_empty() {
                Check::pass("rules-in-vpc", Concern::Deletion, "No rule of another group in the VPC references it.")
            } else {
                Check::fail(
                    "rules-in-vpc",
                    Concern::Deletion,
                    format!("{} rule(s) of other groups reference it (DependencyViolation).", rules.len()),
                    "Remove those rules (aws ec2 revoke-security-group-ingress / revoke-security-group-egress), then delete the group.",
                )
                .with_all(rules)
            }
        }
    });
    out.push(match &f.references {
        Err(e) => Check::unread("rules-in-peered-vpcs", Concern::Deletion, "references from peered VPCs", e),
        Ok(refs) if refs.is_empty() => {
            Check::pass("rules-in-peered-vpcs", Concern::Deletion, "No group in a peered VPC references it.")
        }
        Ok(refs) => Check::fail(
            "rules-in-peered-vpcs",
            Concern::Deletion,
            format!("Groups in {} peered VPC(s) reference it.", refs.len()),
            "Remove the rules in the peered VPCs' groups (their owners may be other accounts), then delete the group.",
        )
        .with_all(refs.iter().map(|r| {
            format!(
                "VPC {}{}",
                r.vpc_id,
                r.peering_id
                    .as_deref()
                    .or(r.transit_gateway_id.as_deref())
                    .map(|p| format!(" via {p}"))
                    .unwrap_or_default()
            )
        })),
    });
    let endpoints = f.endpoints.as_deref().unwrap_or_default();
    out.push(match &f.interfaces {
        Err(e) => Check::unread("network-interfaces", Concern::Deletion, "the network interfaces that use it", e),
        Ok(enis) => {
            let others: Vec<&Eni> = enis.iter().filter(|e| e.instance_id.is_none()).collect();
            if others.is_empty() {
                Check::pass(
                    "network-interfaces",
                    Concern::Deletion,
                    "No network interface (other than instances') uses it.",
                )
            } else {
                let holders: Vec<Holder> = others.iter().map(|e| interface_holder(e, &group.id, endpoints)).collect();
                let mut check = Check::fail(
                    "network-interfaces",
                    Concern::Deletion,
                    format!(
                        "{} network interface(s) use it (DependencyViolation: \"resource {} has a dependent object\").",
                        holders.len(),
                        group.id
                    ),
                    "Release each: ".to_string()
                        + &holders.iter().map(|h| h.release.clone()).collect::<Vec<_>>().join("; ")
                        + ".",
                );
                check.evidence = holders.into_iter().map(|h| h.what).collect();
                check
            }
        }
    });
    out.push(match &f.instances {
        Err(e) => Check::unread("instances", Concern::Deletion, "the instances that use it", e),
        Ok(instances) => instances_check(&group.id, instances),
    });
    out.push(match &f.permission {
        None => Check::unknown(
            "permission",
            Concern::Deletion,
            "Not checked whether you may delete it (IAM, SCPs).",
            "Run doctor with --check-permissions: AWS answers a DryRun DeleteSecurityGroup and changes nothing.",
        ),
        Some(Ok(())) => Check::pass("permission", Concern::Deletion, "AWS would let you delete it (DryRun answered DryRunOperation)."),
        Some(Err(e)) if e.denied() => Check::fail(
            "permission",
            Concern::Deletion,
            "You may not delete it: AWS refused DeleteSecurityGroup.",
            "Ask for ec2:DeleteSecurityGroup on this group; an SCP or a permissions boundary denies even administrators, so check those too.",
        )
        .with(e.describe()),
        Some(Err(e)) => Check::unread("permission", Concern::Deletion, "whether you may delete it", e),
    });
    out
}

fn instances_check(group_id: &str, instances: &[Instance]) -> Check {
    let live: Vec<&Instance> = instances.iter().filter(|i| i.state.as_deref() != Some("terminated")).collect();
    if live.is_empty() {
        return Check::pass("instances", Concern::Deletion, "No instance uses it.");
    }
    Check::fail(
        "instances",
        Concern::Deletion,
        format!("{} instance(s) use it (DependencyViolation).", live.len()),
        format!("Give those instances other groups (aws ec2 modify-instance-attribute --groups …) or terminate them, then delete {group_id}."),
    )
    .with_all(live.iter().map(|i| format!("instance {} ({})", i.id, i.state.as_deref().unwrap_or("?"))))
    .with(format!("ids: {}", list(live.iter().map(|i| i.id.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::Verdict;
    use crate::plan::facts::{AwsError, Rule};

    fn group(id: &str, name: &str) -> SecurityGroup {
        SecurityGroup { id: id.into(), name: name.into(), vpc_id: Some("vpc-1".into()), ..Default::default() }
    }

    fn facts(g: SecurityGroup) -> GroupFacts {
        GroupFacts {
            region: "us-east-1".into(),
            group: Some(g),
            neighbours: Ok(vec![]),
            references: Ok(vec![]),
            interfaces: Ok(vec![]),
            instances: Ok(vec![]),
            endpoints: Ok(vec![]),
            permission: None,
        }
    }

    fn verdict(checks: &[Check], id: &str) -> Verdict {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}")).verdict
    }

    fn eni(id: &str, t: &str, d: &str) -> Eni {
        Eni {
            id: id.into(),
            interface_type: t.into(),
            description: d.into(),
            requester_managed: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_free_group_passes_everything_but_the_unasked_permission() {
        let checks = checks(&facts(group("sg-1", "web")));
        for id in ["found", "default-group", "rules-in-vpc", "rules-in-peered-vpcs", "network-interfaces", "instances"]
        {
            assert_eq!(verdict(&checks, id), Verdict::Pass, "{id}");
        }
        assert_eq!(verdict(&checks, "permission"), Verdict::CouldNotCheck);
    }

    #[test]
    fn each_cause_fails_its_check() {
        let checks_of = |f: GroupFacts| checks(&f);
        let missing = GroupFacts { group: None, ..facts(group("sg-1", "x")) };
        let c = checks_of(missing);
        assert_eq!((c.len(), c[0].verdict), (1, Verdict::Fail));

        assert_eq!(verdict(&checks_of(facts(group("sg-1", "default"))), "default-group"), Verdict::Fail);

        let mut referencing = group("sg-2", "app");
        referencing.ingress.push(Rule {
            protocol: "tcp".into(),
            from_port: Some(443),
            to_port: Some(443),
            groups: vec!["sg-1".into()],
            ..Default::default()
        });
        let c = checks_of(GroupFacts { neighbours: Ok(vec![referencing]), ..facts(group("sg-1", "web")) });
        let rule = c.iter().find(|c| c.id == "rules-in-vpc").unwrap();
        assert_eq!(rule.verdict, Verdict::Fail);
        assert!(rule.evidence[0].contains("sg-2 (app) inbound tcp 443"), "{:?}", rule.evidence);

        let peered =
            GroupReference { vpc_id: "vpc-9".into(), peering_id: Some("pcx-1".into()), transit_gateway_id: None };
        let c = checks_of(GroupFacts { references: Ok(vec![peered]), ..facts(group("sg-1", "web")) });
        let check = c.iter().find(|c| c.id == "rules-in-peered-vpcs").unwrap();
        assert_eq!((check.verdict, check.evidence[0].as_str()), (Verdict::Fail, "VPC vpc-9 via pcx-1"));

        let instance = Instance { id: "i-1".into(), state: Some("running".into()), ..Default::default() };
        let gone = Instance { id: "i-2".into(), state: Some("terminated".into()), ..Default::default() };
        assert_eq!(
            verdict(
                &checks_of(GroupFacts { instances: Ok(vec![instance]), ..facts(group("sg-1", "web")) }),
                "instances"
            ),
            Verdict::Fail
        );
        assert_eq!(
            verdict(&checks_of(GroupFacts { instances: Ok(vec![gone]), ..facts(group("sg-1", "web")) }), "instances"),
            Verdict::Pass
        );

        let denied = AwsError::read_failed(
            "DeleteSecurityGroup",
            Some("UnauthorizedOperation".into()),
            "explicit deny in a service control policy",
        );
        let c = checks_of(GroupFacts { permission: Some(Err(denied)), ..facts(group("sg-1", "web")) });
        let p = c.iter().find(|c| c.id == "permission").unwrap();
        assert_eq!(p.verdict, Verdict::Fail);
        assert!(p.evidence[0].contains("service control policy"));
        assert_eq!(
            verdict(&checks_of(GroupFacts { permission: Some(Ok(())), ..facts(group("sg-1", "web")) }), "permission"),
            Verdict::Pass
        );

        let unread = AwsError::read_failed("DescribeNetworkInterfaces", Some("UnauthorizedOperation".into()), "no");
        let c = checks_of(GroupFacts { interfaces: Err(unread), ..facts(group("sg-1", "web")) });
        assert_eq!(verdict(&c, "network-interfaces"), Verdict::CouldNotCheck);
    }

    #[test]
    fn interfaces_name_the_resource_that_holds_the_group() {
        let managed = ObservedEndpoint {
            id: "vpce-1".into(),
            tags: [(MANAGED_BY, MANAGED_BY_VALUE), (OWNER_NAMESPACE, "team-a"), (OWNER_NAME, "db")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let cases = [
            (
                eni("eni-1", "vpc_endpoint", "VPC Endpoint Interface vpce-1"),
                "endpoint vpce-1 (eni-1)",
                "InterfaceEndpoint team-a/db",
            ),
            (
                eni("eni-2", "vpc_endpoint", "VPC Endpoint Interface vpce-2"),
                "endpoint vpce-2",
                "modify-vpc-endpoint --vpc-endpoint-id vpce-2 --remove-security-group-ids sg-1",
            ),
            (
                eni("eni-3", "network_load_balancer", "ELB net/web/50dc6c495c0c9188"),
                "load balancer net/web/50dc6c495c0c9188",
                "set-security-groups",
            ),
            (
                eni("eni-4", "lambda", "AWS Lambda VPC ENI-resize-images-4f9c2a1e-1b2c-4d3e-8f9a-0b1c2d3e4f5a"),
                "Lambda function resize-images",
                "VPC configuration",
            ),
            (
                eni("eni-5", "nat_gateway", "Interface for NAT Gateway nat-0abc"),
                "NAT gateway nat-0abc",
                "delete NAT gateway nat-0abc",
            ),
            (Eni { instance_id: Some("i-9".into()), ..eni("eni-6", "interface", "") }, "instance i-9", "terminate"),
            (eni("eni-7", "quicksight", "QuickSight ENI"), "type quicksight", "description names it"),
            (
                Eni { requester_managed: false, ..eni("eni-8", "interface", "") },
                "network interface eni-8",
                "modify-network-interface-attribute",
            ),
        ];
        for (e, what, release) in cases {
            let h = interface_holder(&e, "sg-1", std::slice::from_ref(&managed));
            assert!(h.what.contains(what), "{h:?} lacks {what}");
            assert!(h.release.contains(release), "{h:?} lacks {release}");
        }
        assert_eq!(lambda_function("AWS Lambda VPC ENI-fn"), "fn");
        let all = holders(
            "sg-1",
            &[eni("eni-1", "lambda", "AWS Lambda VPC ENI-f")],
            &[],
            &[],
            &[GroupReference { vpc_id: "vpc-2".into(), ..Default::default() }],
        );
        assert_eq!(all.len(), 2);
        assert!(all[1].what.contains("peered VPC vpc-2"));
    }
}
