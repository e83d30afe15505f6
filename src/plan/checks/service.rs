//! Why an endpoint service cannot be deleted (connections hold it:
//! ExistingVpcEndpointConnections) or carries no traffic (its load
//! balancers, pending connections, principals, private DNS verification).

use super::security_group::managing_object;
use super::{Check, Concern, list};
use crate::plan::facts::{ObservedConnection, ObservedLoadBalancer, ObservedService, ServiceFacts};

/// What ELBv2 holds of a load balancer a service names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadBalancerFound<'a> {
    /// ELBv2 does not know the ARN (deleted, or another region or account).
    Missing,
    /// It exists but is not active (provisioning, failed…).
    NotActive(&'a ObservedLoadBalancer),
    /// It exists and is active.
    Active(&'a ObservedLoadBalancer),
}

/// Each load balancer of `arns` as `found` (what ELBv2 answered) holds it:
/// the one judgement both the spec check before a change and doctor's
/// check of the service as it stands make.
pub fn load_balancers_found<'a>(
    arns: impl IntoIterator<Item = &'a String>,
    found: &'a [ObservedLoadBalancer],
) -> Vec<(&'a str, LoadBalancerFound<'a>)> {
    arns.into_iter()
        .map(|arn| {
            let state = match found.iter().find(|lb| &lb.arn == arn) {
                None => LoadBalancerFound::Missing,
                Some(lb) if lb.state != "active" => LoadBalancerFound::NotActive(lb),
                Some(lb) => LoadBalancerFound::Active(lb),
            };
            (arn.as_str(), state)
        })
        .collect()
}

/// Where AWS's verification of a service's private DNS name stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateDnsVerification<'a> {
    /// The service has no private DNS name.
    NoName,
    /// AWS verified the name.
    Verified(&'a str),
    /// AWS looked for the TXT record and did not find it.
    Failed(&'a str),
    /// Not verified yet (pendingVerification, or no state reported).
    Pending(&'a str),
}

impl PrivateDnsVerification<'_> {
    /// AWS's word for the state (`pendingVerification` when it gives none).
    pub fn state(&self) -> &'static str {
        match self {
            Self::NoName => "none",
            Self::Verified(_) => "verified",
            Self::Failed(_) => "failed",
            Self::Pending(_) => "pendingVerification",
        }
    }
}

/// How far the verification of `svc`'s private DNS name has come.
pub fn private_dns_verification(svc: &ObservedService) -> PrivateDnsVerification<'_> {
    match (&svc.private_dns_name, svc.private_dns_state.as_deref()) {
        (None, _) => PrivateDnsVerification::NoName,
        (Some(name), Some("verified")) => PrivateDnsVerification::Verified(name),
        (Some(name), Some("failed")) => PrivateDnsVerification::Failed(name),
        (Some(name), _) => PrivateDnsVerification::Pending(name),
    }
}

/// Connections that keep the service from being deleted.
pub fn holding(connections: &[ObservedConnection]) -> Vec<&ObservedConnection> {
    connections.iter().filter(|c| c.holds_service()).collect()
}

fn connection_text(c: &ObservedConnection) -> String {
    format!(
        "{} (account {}, {}{})",
        c.endpoint_id,
        c.owner.as_deref().unwrap_or("?"),
        c.state,
        c.region.as_deref().map(|r| format!(", {r}")).unwrap_or_default()
    )
}

/// The deletion check: connections that hold the service.
pub fn connections(svc: &ObservedService, connections: &[ObservedConnection]) -> Check {
    let held = holding(connections);
    if held.is_empty() {
        return Check::pass("connections", Concern::Deletion, "No available or pending connection holds it.");
    }
    let by_operator = managing_object(&svc.tags, "EndpointService")
        .map(|o| format!(" With this operator, deleting {o} rejects them first."))
        .unwrap_or_default();
    Check::fail(
        "connections",
        Concern::Deletion,
        format!("{} connection(s) hold it: AWS refuses to delete it (ExistingVpcEndpointConnections).", held.len()),
        format!(
            "Reject them (aws ec2 reject-vpc-endpoint-connections --service-id {} --vpc-endpoint-ids {}) or ask their owners to delete their endpoints.{by_operator}",
            svc.id,
            held.iter().map(|c| c.endpoint_id.as_str()).collect::<Vec<_>>().join(" ")
        ),
    )
    .with_all(held.iter().map(|c| connection_text(c)))
}

/// The load balancers exist and are active.
pub fn load_balancers(svc: &ObservedService, found: &[ObservedLoadBalancer]) -> Check {
    let attached = svc.network_load_balancer_arns.iter().chain(&svc.gateway_load_balancer_arns);
    let judged = load_balancers_found(attached, found);
    if judged.is_empty() {
        return Check::fail(
            "load-balancers",
            Concern::Traffic,
            "The service has no load balancer.",
            "Add a Network or Gateway Load Balancer to the service.",
        );
    }
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for (arn, state) in judged {
        match state {
            LoadBalancerFound::Missing => bad.push(format!("{arn}: no longer exists")),
            LoadBalancerFound::NotActive(lb) => bad.push(format!("{arn}: {}", lb.state)),
            LoadBalancerFound::Active(lb) => ok.push(format!("{arn}: active in {}", list(&lb.availability_zones))),
        }
    }
    let attachments =
        "it cannot be deleted while the service uses it (ResourceInUse): remove it from the service first".to_string();
    if bad.is_empty() {
        return Check::pass(
            "load-balancers",
            Concern::Traffic,
            format!("Its load balancers are active; each is held by the service ({attachments})."),
        )
        .with_all(ok);
    }
    Check::fail(
        "load-balancers",
        Concern::Traffic,
        "A load balancer of the service is missing or not active: consumers' connections through it go nowhere.",
        "Replace the load balancer in the service's configuration (add the new one, then remove the old).",
    )
    .with_all(bad)
    .with_all(ok)
}

/// Endpoints waiting for acceptance.
pub fn pending(svc: &ObservedService, connections: &[ObservedConnection]) -> Check {
    let waiting: Vec<&ObservedConnection> = connections.iter().filter(|c| c.is_pending()).collect();
    if waiting.is_empty() {
        return Check::pass("acceptance", Concern::Traffic, "No endpoint waits for acceptance.");
    }
    Check::fail(
        "acceptance",
        Concern::Traffic,
        format!("{} endpoint(s) wait for acceptance: no traffic until accepted.", waiting.len()),
        format!(
            "Accept them (an EndpointConnection with decision Accept, autoAccept on the EndpointService, or aws ec2 accept-vpc-endpoint-connections --service-id {}).",
            svc.id
        ),
    )
    .with_all(waiting.iter().map(|c| connection_text(c)))
}

/// Who may connect.
pub fn principals(
    svc: &ObservedService,
    principals: &std::collections::BTreeSet<String>,
    connections: &[ObservedConnection],
) -> Check {
    if !principals.is_empty() {
        return Check::pass("principals", Concern::Traffic, format!("Allowed: {}.", list(principals)));
    }
    let others = connections.iter().any(|c| c.state == "available");
    let c = Check::fail(
        "principals",
        Concern::Traffic,
        "No principal is allowed: other accounts cannot create endpoints to it (they get InvalidServiceName).",
        format!(
            "Allow the consumers (spec.allowedPrincipals, or aws ec2 modify-vpc-endpoint-service-permissions --service-id {} --add-allowed-principals …).",
            svc.id
        ),
    );
    if others { c.with("existing connections keep working; only new endpoints are refused") } else { c }
}

/// Private DNS needs the name verified.
pub fn private_dns(svc: &ObservedService) -> Check {
    let name = match private_dns_verification(svc) {
        PrivateDnsVerification::NoName => {
            return Check::pass("private-dns", Concern::Traffic, "No private DNS name.");
        }
        PrivateDnsVerification::Verified(name) => {
            return Check::pass("private-dns", Concern::Traffic, format!("Private DNS name {name} is verified."));
        }
        PrivateDnsVerification::Failed(name) | PrivateDnsVerification::Pending(name) => name,
    };
    let state = svc.private_dns_state.as_deref().unwrap_or(private_dns_verification(svc).state());
    let check = Check::fail(
        "private-dns",
        Concern::Traffic,
        format!("Private DNS name {name} is {state}: consumers cannot turn private DNS on for it."),
        format!(
            "Publish the TXT record in {name}'s DNS zone, then start verification (aws ec2 start-vpc-endpoint-service-private-dns-verification --service-id {}; the operator does it for an EndpointService).",
            svc.id
        ),
    );
    match (&svc.private_dns_record_name, &svc.private_dns_record_value) {
        (Some(txt_name), Some(value)) => check.with(format!("TXT record {txt_name}.{name} = \"{value}\"")),
        _ => check,
    }
}

/// The checks for an endpoint service.
pub fn checks(f: &ServiceFacts) -> Vec<Check> {
    let Some(svc) = &f.service else {
        return vec![Check::fail(
            "found",
            Concern::Subject,
            format!("No endpoint service with this id in {} for this account.", f.region),
            "Check --region and --role-arn: a service configuration shows only to the account that owns it.",
        )];
    };
    let mut out = vec![match svc.state.as_deref().unwrap_or_default() {
        "Available" => {
            Check::pass("found", Concern::Subject, format!("{} is Available.", svc.name.as_deref().unwrap_or(&svc.id)))
        }
        "Pending" => Check::unknown(
            "found",
            Concern::Subject,
            "Pending: AWS is still creating it.",
            "Wait a minute and run doctor again.",
        ),
        other => Check::fail(
            "found",
            Concern::Subject,
            format!("{other}: the service is not usable."),
            "Check its load balancers; delete and create it again if it Failed.",
        ),
    }];
    out.push(match &f.connections {
        Err(e) => Check::unread("connections", Concern::Deletion, "the service's connections", e),
        Ok(c) => connections(svc, c),
    });
    out.push(match &f.load_balancers {
        Err(e) => Check::unread("load-balancers", Concern::Traffic, "the load balancers", e),
        Ok(lbs) => load_balancers(svc, lbs),
    });
    if let Ok(c) = &f.connections {
        out.push(pending(svc, c));
    }
    out.push(match &f.principals {
        Err(e) => Check::unread("principals", Concern::Traffic, "the allowed principals", e),
        Ok(p) => principals(svc, p, f.connections.as_deref().unwrap_or_default()),
    });
    out.push(private_dns(svc));
    out
}

/// One line about the service.
pub fn about(svc: &ObservedService) -> String {
    format!(
        "{}, {}, acceptance {}",
        svc.name.as_deref().unwrap_or("?"),
        svc.state.as_deref().unwrap_or_default(),
        if svc.acceptance_required { "required" } else { "not required" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::Verdict;

    fn svc() -> ObservedService {
        ObservedService {
            id: "vpce-svc-1".into(),
            name: Some("com.amazonaws.vpce.us-east-1.vpce-svc-1".into()),
            state: Some("Available".into()),
            network_load_balancer_arns: ["arn:lb/net/a/1".to_string()].into(),
            ..Default::default()
        }
    }

    fn lb(state: &str) -> ObservedLoadBalancer {
        ObservedLoadBalancer {
            arn: "arn:lb/net/a/1".into(),
            lb_type: "network".into(),
            state: state.into(),
            availability_zones: vec!["use1-az1".into()],
        }
    }

    fn conn(id: &str, state: &str) -> ObservedConnection {
        ObservedConnection {
            endpoint_id: id.into(),
            owner: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            state: state.into(),
            since: None,
        }
    }

    fn facts() -> ServiceFacts {
        ServiceFacts {
            region: "us-east-1".into(),
            service: Some(svc()),
            connections: Ok(vec![]),
            principals: Ok(["arn:aws:iam::111122223333:root".to_string()].into()),
            load_balancers: Ok(vec![lb("active")]),
        }
    }

    fn find(f: &ServiceFacts, id: &str) -> Check {
        checks(f).into_iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn a_healthy_service_passes() {
        for c in checks(&facts()) {
            assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        }
    }

    #[test]
    fn connections_hold_the_service() {
        let mut f = facts();
        f.connections =
            Ok(vec![conn("vpce-a", "available"), conn("vpce-b", "pendingAcceptance"), conn("vpce-c", "rejected")]);
        let c = find(&f, "connections");
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.evidence.len(), 2);
        assert!(c.fix.as_ref().unwrap().contains("--vpc-endpoint-ids vpce-a vpce-b"), "{c:?}");
        assert!(c.summary.contains("ExistingVpcEndpointConnections"));
        let p = find(&f, "acceptance");
        assert_eq!((p.verdict, p.evidence.len()), (Verdict::Fail, 1));
        // Managed by the operator: the fix says deleting the object rejects them.
        let mut managed = f.clone();
        managed.service.as_mut().unwrap().tags = [
            ("privatelink.dev/managed-by", "privatelink-operator"),
            ("privatelink.dev/namespace", "team-a"),
            ("privatelink.dev/name", "api"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(find(&managed, "connections").fix.unwrap().contains("EndpointService team-a/api rejects them first"));
    }

    #[test]
    fn load_balancers_principals_and_dns_fail_when_wrong() {
        let mut f = facts();
        f.load_balancers = Ok(vec![]);
        assert!(find(&f, "load-balancers").evidence[0].contains("no longer exists"));
        f.load_balancers = Ok(vec![lb("provisioning")]);
        assert_eq!(find(&f, "load-balancers").verdict, Verdict::Fail);
        let mut f = facts();
        f.principals = Ok(Default::default());
        assert_eq!(find(&f, "principals").verdict, Verdict::Fail);
        let mut f = facts();
        let service = f.service.as_mut().unwrap();
        service.private_dns_name = Some("api.example.com".into());
        service.private_dns_state = Some("pendingVerification".into());
        assert_eq!(find(&f, "private-dns").verdict, Verdict::Fail);
        let mut f = facts();
        f.service = None;
        assert_eq!(checks(&f).len(), 1);
    }
}
