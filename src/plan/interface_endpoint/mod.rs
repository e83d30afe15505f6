//! InterfaceEndpoint: desired state from the spec (and the service it
//! names), observed state from AWS, and the ordered actions between them.

pub mod stages;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::tags::{Owner, describe_set, desired_tags, tag_diff, takes_over};
use super::{SpecProblem, set_diff, write_lists};
use crate::api::InterfaceEndpointSpec;
use crate::api::common::partition_of;
use crate::api::conditions::{ACCEPTED, Condition, ConditionStatus, PRIVATE_DNS_VERIFIED, READY, condition};
use crate::api::interface_endpoint::{DnsRecordIpType, EndpointIpAddressType};
use crate::plan::facts::{ObservedEndpoint, ServiceOffer, Subnet};

/// The service an endpoint connects to, resolved from `serviceName` or `serviceRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedService {
    /// Service name, e.g. `com.amazonaws.vpce.us-east-1.vpce-svc-…`.
    pub name: String,
    /// Region of the service when it differs from the endpoint's.
    pub region: Option<String>,
    /// True for a Gateway Load Balancer endpoint service.
    pub gateway: bool,
}

/// True for AWS's own services (`com.amazonaws.<region>.<service>`), which
/// never require acceptance. Some of them can be reached from another region
/// (see [`CROSS_REGION_AWS_SERVICES`]).
pub fn is_aws_service(name: &str) -> bool {
    name.starts_with("com.amazonaws.") && !name.starts_with("com.amazonaws.vpce.")
}

/// The AWS services AWS documents as reachable across regions through an
/// interface endpoint with a service region ("Cross-region enabled AWS
/// services", since Nov 2025). Only used to explain AWS's refusal: the list
/// grows, so nothing is refused on it.
pub const CROSS_REGION_AWS_SERVICES: &str =
    "s3, iam, ecr.api, ecr.dkr, kms, kms-fips, ecs, lambda, kinesis-firehose, kinesisanalytics(-fips), route53";

/// The region embedded in a service name, if any (`com.amazonaws.iam` and
/// other global services name none).
pub fn region_of_service_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("com.amazonaws.vpce.").or_else(|| name.strip_prefix("com.amazonaws."))?;
    let first = rest.split('.').next()?;
    let looks_like_region = first.split('-').count() >= 3
        && first.rsplit('-').next().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    looks_like_region.then_some(first)
}

/// What the spec asks AWS to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredEndpoint {
    /// Region of the endpoint.
    pub region: String,
    /// VPC.
    pub vpc_id: String,
    /// Service name.
    pub service_name: String,
    /// Region of the service, when cross-region.
    pub service_region: Option<String>,
    /// Gateway Load Balancer endpoint rather than interface endpoint.
    pub gateway: bool,
    /// Subnets; None leaves an adopted endpoint's subnets alone.
    pub subnet_ids: Option<BTreeSet<String>>,
    /// Subnets with fixed addresses: (subnet, ipv4, ipv6), used at creation.
    pub subnet_configurations: Vec<(String, Option<String>, Option<String>)>,
    /// Security groups.
    pub security_group_ids: BTreeSet<String>,
    /// Private DNS; None leaves AWS's default.
    pub private_dns_enabled: Option<bool>,
    /// DNS record type.
    pub dns_record_ip_type: Option<String>,
    /// Private DNS only for the inbound Resolver endpoint.
    pub private_dns_only_for_inbound_resolver_endpoint: Option<bool>,
    /// IP address type.
    pub ip_address_type: Option<String>,
    /// Policy as JSON; None means AWS's default (full access).
    pub policy: Option<Value>,
    /// Tags including the ownership tags.
    pub tags: BTreeMap<String, String>,
    /// Idempotency token.
    pub client_token: String,
}

fn dns_record_ip_type(t: DnsRecordIpType) -> &'static str {
    match t {
        DnsRecordIpType::Ipv4 => "ipv4",
        DnsRecordIpType::Dualstack => "dualstack",
        DnsRecordIpType::Ipv6 => "ipv6",
        DnsRecordIpType::ServiceDefined => "service-defined",
    }
}

fn ip_address_type(t: EndpointIpAddressType) -> &'static str {
    match t {
        EndpointIpAddressType::Ipv4 => "ipv4",
        EndpointIpAddressType::Dualstack => "dualstack",
        EndpointIpAddressType::Ipv6 => "ipv6",
    }
}

impl DesiredEndpoint {
    /// Resolve a spec and its service into desired state, refusing what AWS
    /// would refuse.
    pub fn from_spec(
        spec: &InterfaceEndpointSpec,
        service: &ResolvedService,
        owner: &Owner,
        generation: i64,
        default_region: &str,
    ) -> Result<Self, Vec<SpecProblem>> {
        let region = spec.region.clone().unwrap_or_else(|| default_region.to_string());
        let adopted = spec.vpc_endpoint_id.is_some();
        let mut problems = Vec::new();
        let service_region = service.region.clone().filter(|r| *r != region);
        if let Some(remote) = &service_region
            && partition_of(remote) != partition_of(&region)
        {
            problems.push(SpecProblem::new(
                "spec.serviceRegion",
                format!(
                    "the service is in {remote} (partition {}) and the endpoint in {region} (partition {}): PrivateLink does not cross partitions; use a service of the endpoint's partition",
                    partition_of(remote),
                    partition_of(&region)
                ),
            ));
        }
        if service.gateway && spec.private_dns_enabled == Some(true) {
            problems.push(SpecProblem::new(
                "spec.privateDnsEnabled",
                format!(
                    "{} is a Gateway Load Balancer endpoint service: its endpoints have no private DNS; remove privateDnsEnabled",
                    service.name
                ),
            ));
        }
        let policy = match &spec.policy {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(v) if v.is_object() => Some(v),
                Ok(_) => {
                    problems.push(SpecProblem::new(
                        "spec.policy",
                        "the policy must be a JSON object (an IAM policy document)",
                    ));
                    None
                }
                Err(e) => {
                    problems.push(SpecProblem::new("spec.policy", format!("the policy is not valid JSON: {e}")));
                    None
                }
            },
        };
        let (subnet_ids, subnet_configurations) = match (&spec.subnet_ids, &spec.subnet_configurations) {
            (Some(ids), _) => (Some(ids.iter().cloned().collect::<BTreeSet<_>>()), Vec::new()),
            (None, Some(configs)) => (
                Some(configs.iter().map(|c| c.subnet_id.clone()).collect()),
                configs.iter().map(|c| (c.subnet_id.clone(), c.ipv4.clone(), c.ipv6.clone())).collect(),
            ),
            (None, None) => (None, Vec::new()),
        };
        if !adopted && subnet_ids.as_ref().is_none_or(BTreeSet::is_empty) {
            problems.push(SpecProblem::new(
                "spec.subnetIds",
                "an endpoint needs at least one subnet: list subnetIds (one per Availability Zone)",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            region,
            vpc_id: spec.vpc_id.clone(),
            service_name: service.name.clone(),
            service_region,
            gateway: service.gateway,
            subnet_ids,
            subnet_configurations,
            security_group_ids: spec.security_group_ids.iter().cloned().collect(),
            private_dns_enabled: spec.private_dns_enabled,
            dns_record_ip_type: spec
                .dns_options
                .as_ref()
                .and_then(|d| d.dns_record_ip_type)
                .map(|t| dns_record_ip_type(t).to_string()),
            private_dns_only_for_inbound_resolver_endpoint: spec
                .dns_options
                .as_ref()
                .and_then(|d| d.private_dns_only_for_inbound_resolver_endpoint),
            ip_address_type: spec.ip_address_type.map(|t| ip_address_type(t).to_string()),
            policy,
            tags: desired_tags(&spec.tags, owner),
            client_token: owner.client_token(generation),
        })
    }
}

/// Everything a CreateVpcEndpoint call sends.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateEndpoint {
    /// The desired endpoint.
    pub endpoint: DesiredEndpoint,
    /// Private DNS at creation (may be off until the connection is accepted).
    pub private_dns_enabled: Option<bool>,
}

/// Everything one ModifyVpcEndpoint call changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointChanges {
    /// Subnets to add.
    pub add_subnet_ids: Vec<String>,
    /// Subnets to remove.
    pub remove_subnet_ids: Vec<String>,
    /// Security groups to add.
    pub add_security_group_ids: Vec<String>,
    /// Security groups to remove.
    pub remove_security_group_ids: Vec<String>,
    /// New private DNS setting.
    pub private_dns_enabled: Option<bool>,
    /// New policy document.
    pub policy: Option<Value>,
    /// New IP address type.
    pub ip_address_type: Option<String>,
    /// New DNS record type.
    pub dns_record_ip_type: Option<String>,
    /// New inbound-resolver-only setting.
    pub private_dns_only_for_inbound_resolver_endpoint: Option<bool>,
}

impl EndpointChanges {
    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One AWS change to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointAction {
    /// CreateVpcEndpoint.
    Create(Box<CreateEndpoint>),
    /// ModifyVpcEndpoint.
    Modify(Box<EndpointChanges>),
    /// CreateTags.
    SetTags(BTreeMap<String, String>),
    /// DeleteTags.
    DeleteTags(Vec<String>),
    /// DeleteVpcEndpoints.
    Delete,
}

impl EndpointAction {
    /// The AWS API action this performs.
    pub fn aws_action(&self) -> &'static str {
        match self {
            EndpointAction::Create(_) => "CreateVpcEndpoint",
            EndpointAction::Modify(_) => "ModifyVpcEndpoint",
            EndpointAction::SetTags(_) => "CreateTags",
            EndpointAction::DeleteTags(_) => "DeleteTags",
            EndpointAction::Delete => "DeleteVpcEndpoints",
        }
    }
}

impl fmt::Display for EndpointAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| v.join(", ");
        write!(f, "{}", self.aws_action())?;
        match self {
            EndpointAction::Create(c) => {
                let e = &c.endpoint;
                write!(f, " region={} vpc={} service={}", e.region, e.vpc_id, e.service_name)?;
                if let Some(r) = &e.service_region {
                    write!(f, " serviceRegion={r}")?;
                }
                let subnets: Vec<String> = e.subnet_ids.iter().flatten().cloned().collect();
                write!(f, " subnets=[{}]", list(&subnets))?;
                let groups: Vec<String> = e.security_group_ids.iter().cloned().collect();
                write_lists(f, &[("securityGroups", &groups)])?;
                if let Some(p) = c.private_dns_enabled {
                    write!(f, " privateDnsEnabled={p}")?;
                }
                if e.private_dns_enabled == Some(true) && c.private_dns_enabled != Some(true) {
                    write!(f, " (private DNS enabled once the connection is accepted)")?;
                }
                Ok(())
            }
            EndpointAction::Modify(c) => {
                write_lists(
                    f,
                    &[
                        ("add subnets", &c.add_subnet_ids),
                        ("remove subnets", &c.remove_subnet_ids),
                        ("add securityGroups", &c.add_security_group_ids),
                        ("remove securityGroups", &c.remove_security_group_ids),
                    ],
                )?;
                if let Some(p) = c.private_dns_enabled {
                    write!(f, " privateDnsEnabled={p}")?;
                }
                if c.policy.is_some() {
                    write!(f, " policy=<updated>")?;
                }
                if let Some(t) = &c.ip_address_type {
                    write!(f, " ipAddressType={t}")?;
                }
                if let Some(t) = &c.dns_record_ip_type {
                    write!(f, " dnsRecordIpType={t}")?;
                }
                if let Some(b) = c.private_dns_only_for_inbound_resolver_endpoint {
                    write!(f, " privateDnsOnlyForInboundResolverEndpoint={b}")?;
                }
                Ok(())
            }
            EndpointAction::SetTags(t) => {
                write!(f, " {}", describe_set(t))
            }
            EndpointAction::DeleteTags(k) => write!(f, " [{}]", list(k)),
            EndpointAction::Delete => Ok(()),
        }
    }
}

/// What AWS cannot change on an existing endpoint: a differing value means
/// the endpoint must be replaced.
pub fn replacement_needed(desired: &DesiredEndpoint, observed: &ObservedEndpoint) -> Vec<SpecProblem> {
    let mut problems = Vec::new();
    if desired.vpc_id != observed.vpc_id {
        problems.push(SpecProblem::new(
            "spec.vpcId",
            format!(
                "endpoint {} is in {}, not {}: an endpoint cannot move between VPCs",
                observed.id, observed.vpc_id, desired.vpc_id
            ),
        ));
    }
    if desired.service_name != observed.service_name {
        problems.push(SpecProblem::new(
            "spec.serviceName",
            format!(
                "endpoint {} connects to {}, not {}: AWS cannot change an endpoint's service; create a new InterfaceEndpoint and delete this one",
                observed.id, observed.service_name, desired.service_name
            ),
        ));
    }
    let observed_region = observed.service_region.clone().filter(|r| *r != desired.region);
    if observed.service_region.is_some() && desired.service_region != observed_region {
        problems.push(SpecProblem::new(
            "spec.serviceRegion",
            format!(
                "endpoint {} reaches its service in {}, not {}: ModifyVpcEndpoint cannot change ServiceRegion; create a new InterfaceEndpoint instead",
                observed.id,
                observed.service_region.as_deref().unwrap_or("-"),
                desired.service_region.as_deref().unwrap_or(&desired.region)
            ),
        ));
    }
    problems
}

/// The actions that make AWS hold `desired`: none on a requester-managed
/// endpoint (AWS refuses to modify or tag those).
///
/// `acceptance_may_be_required`: the service requires acceptance, or it is
/// not known. Private DNS is then created off and enabled once the endpoint
/// is available: AWS can refuse private DNS on a connection not yet accepted.
/// `owned`: the operator created the endpoint (tags it does not know are removed).
pub fn plan(
    desired: &DesiredEndpoint,
    observed: Option<&ObservedEndpoint>,
    acceptance_may_be_required: bool,
    owned: bool,
) -> Vec<EndpointAction> {
    let Some(observed) = observed.filter(|o| !o.is_gone()) else {
        if desired.subnet_ids.is_none() {
            // Adoption of an endpoint that does not exist: nothing to create from.
            return Vec::new();
        }
        let private_dns = match desired.private_dns_enabled {
            Some(true) if acceptance_may_be_required => Some(false),
            other => other,
        };
        return vec![EndpointAction::Create(Box::new(CreateEndpoint {
            endpoint: desired.clone(),
            private_dns_enabled: private_dns,
        }))];
    };
    if observed.requester_managed {
        // AWS refuses every change to an endpoint an AWS service manages.
        return Vec::new();
    }
    let mut actions = Vec::new();
    let (add_subnets, remove_subnets) = match &desired.subnet_ids {
        Some(subnets) => set_diff(subnets, &observed.subnet_ids),
        None => (Vec::new(), Vec::new()),
    };
    // Without security groups in the spec AWS uses the VPC's default group:
    // leave it alone rather than fight it.
    let (add_groups, remove_groups) = if desired.security_group_ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        set_diff(&desired.security_group_ids, &observed.security_group_ids)
    };
    let private_dns = desired
        .private_dns_enabled
        .filter(|d| *d != observed.private_dns_enabled)
        // Enabling waits for an accepted (available) connection.
        .filter(|d| !*d || observed.state == "available");
    // Without a policy in the spec the endpoint keeps whatever AWS holds
    // (AWS's default differs between services, so resetting could loop).
    let policy = desired.policy.clone().filter(|p| Some(p) != observed.policy_json().as_ref());
    let differs = |d: &Option<String>, o: &Option<String>| d.clone().filter(|d| Some(d) != o.as_ref());
    let changes = EndpointChanges {
        add_subnet_ids: add_subnets,
        remove_subnet_ids: remove_subnets,
        add_security_group_ids: add_groups,
        remove_security_group_ids: remove_groups,
        private_dns_enabled: private_dns,
        policy,
        ip_address_type: differs(&desired.ip_address_type, &observed.ip_address_type),
        dns_record_ip_type: differs(&desired.dns_record_ip_type, &observed.dns_record_ip_type),
        private_dns_only_for_inbound_resolver_endpoint: desired
            .private_dns_only_for_inbound_resolver_endpoint
            .filter(|d| Some(*d) != observed.private_dns_only_for_inbound_resolver_endpoint),
    };
    if !changes.is_empty() {
        actions.push(EndpointAction::Modify(Box::new(changes)));
    }
    let (set_tags, delete_tags) = tag_diff(&desired.tags, &observed.tags, owned);
    if takes_over(&set_tags) {
        // Ownership first: IAM conditions read the resource's tags.
        actions.insert(0, EndpointAction::SetTags(set_tags));
    } else if !set_tags.is_empty() {
        actions.push(EndpointAction::SetTags(set_tags));
    }
    if !delete_tags.is_empty() {
        actions.push(EndpointAction::DeleteTags(delete_tags));
    }
    actions
}

/// True when the desired private DNS is on but waits for acceptance.
pub fn private_dns_deferred(desired: &DesiredEndpoint, observed: &ObservedEndpoint) -> bool {
    desired.private_dns_enabled == Some(true) && !observed.private_dns_enabled && observed.state != "available"
}

/// What deleting the object does to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointDeletion {
    /// Nothing to do: retained, or AWS no longer has it.
    Nothing,
    /// DeleteVpcEndpoints.
    Delete,
    /// An AWS service owns the endpoint; it must not be deleted. The string
    /// names the owner and what to delete instead.
    RequesterManaged(String),
}

/// Decide the deletion of an endpoint.
pub fn plan_deletion(observed: Option<&ObservedEndpoint>, retain: bool) -> EndpointDeletion {
    match observed {
        _ if retain => EndpointDeletion::Nothing,
        None => EndpointDeletion::Nothing,
        Some(o) if o.is_gone() => EndpointDeletion::Nothing,
        Some(o) if o.requester_managed => EndpointDeletion::RequesterManaged(requester_owner(o)),
        Some(o) if o.state == "deleting" => EndpointDeletion::Nothing,
        Some(_) => EndpointDeletion::Delete,
    }
}

/// Which AWS service owns a requester-managed endpoint, and what to delete
/// instead, in `doctor`'s words (from the endpoint's tags).
pub fn requester_owner(o: &ObservedEndpoint) -> String {
    use crate::plan::checks::endpoint::{deletion, sentence};
    sentence(&deletion(o, &[], &Default::default()))
}

/// Subnets in Availability Zones the service does not serve, compared by
/// AZ ID (names differ between accounts), in `doctor`'s words. Only
/// meaningful for a service in the endpoint's region.
pub fn subnet_zone_problems(desired: &DesiredEndpoint, offer: &ServiceOffer, subnets: &[Subnet]) -> Vec<SpecProblem> {
    if offer.zone_ids.is_empty() || desired.service_region.is_some() {
        return Vec::new();
    }
    let check = crate::plan::checks::endpoint::zones(&Ok(Some(offer.clone())), &Ok(subnets.to_vec()));
    if check.verdict != crate::plan::checks::Verdict::Fail {
        return Vec::new();
    }
    let served = check.evidence.last().cloned().unwrap_or_default();
    check
        .evidence
        .iter()
        .filter(|e| e.starts_with("subnet"))
        .map(|e| {
            SpecProblem::new(
                "spec.subnetIds",
                format!("{e}: {} Fix: {} ({served})", check.summary, check.fix.as_deref().unwrap_or_default()),
            )
        })
        .collect()
}

/// Private DNS needs the VPC's `enableDnsSupport` and `enableDnsHostnames`,
/// in `doctor`'s words.
pub fn vpc_dns_problem(desired: &DesiredEndpoint, dns_support: bool, dns_hostnames: bool) -> Option<SpecProblem> {
    use crate::plan::facts::Vpc;
    if desired.private_dns_enabled != Some(true) {
        return None;
    }
    let ep = ObservedEndpoint {
        endpoint_type: "Interface".into(),
        vpc_id: desired.vpc_id.clone(),
        service_name: desired.service_name.clone(),
        private_dns_enabled: true,
        ..Default::default()
    };
    let vpc = Vpc {
        id: desired.vpc_id.clone(),
        cidrs: Vec::new(),
        dns_support: Ok(dns_support),
        dns_hostnames: Ok(dns_hostnames),
    };
    let check = crate::plan::checks::endpoint::private_dns(&ep, &Ok(vpc));
    (check.verdict == crate::plan::checks::Verdict::Fail).then(|| {
        SpecProblem::new(
            "spec.privateDnsEnabled",
            format!("{} — or set privateDnsEnabled: false", crate::plan::checks::endpoint::sentence(&check)),
        )
    })
}

/// What to do about an AWS error whose message does not say what to
/// change: `InvalidServiceName`, which AWS answers for a name that does not
/// exist, is not shared with the caller, or is not reachable from the
/// endpoint's region.
pub fn hint(code: Option<&str>, desired: &DesiredEndpoint) -> Option<String> {
    if code != Some("InvalidServiceName") {
        return None;
    }
    let name = &desired.service_name;
    let name_region = region_of_service_name(name);
    Some(match (name_region, &desired.service_region) {
        (Some(r), None) if r != desired.region && !is_aws_service(name) => format!(
            "{name} is a service in {r} and the endpoint is in {}: for cross-region PrivateLink set spec.serviceRegion: {r} (the provider must list {} in supportedRegions)",
            desired.region, desired.region
        ),
        (Some(r), None) if r != desired.region => format!(
            "{name} is an AWS service in {r} and the endpoint is in {}: set spec.serviceRegion: {r} if AWS reaches that service across regions (AWS lists {CROSS_REGION_AWS_SERVICES}), or create the endpoint in {r}",
            desired.region
        ),
        (_, Some(r)) if is_aws_service(name) => format!(
            "AWS does not offer {name} to {} from {r}: only some AWS services are reachable across regions (AWS lists {CROSS_REGION_AWS_SERVICES}); for the others create the endpoint in {r} and remove serviceRegion",
            desired.region
        ),
        _ => format!(
            "check the service name and region, and that the service owner allows your account (their allowedPrincipals){}",
            desired
                .service_region
                .as_ref()
                .map(|r| format!(" and lists {} in supportedRegions of the service in {r}", desired.region))
                .unwrap_or_default()
        ),
    })
}

/// A state name as a condition reason: `pendingAcceptance` → `PendingAcceptance`.
pub fn state_reason(state: &str) -> String {
    let mut chars = state.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => "Pending".into(),
    }
}

/// The Accepted condition: who must accept while the connection waits.
pub fn accepted_condition(state: &str, service: Option<&str>, service_owner: Option<&str>) -> Condition {
    let service = service.unwrap_or("the service");
    let who =
        service_owner.map(|o| format!("AWS account {o}")).unwrap_or_else(|| "the service owner's AWS account".into());
    match state {
        "pendingAcceptance" => condition(
            ACCEPTED,
            ConditionStatus::False,
            "PendingAcceptance",
            format!(
                "{who} must accept this connection to {service} (AcceptVpcEndpointConnections, or an EndpointConnection with decision Accept)"
            ),
        ),
        "rejected" => condition(
            ACCEPTED,
            ConditionStatus::False,
            "Rejected",
            format!("{who} rejected the connection to {service}"),
        ),
        "available" => {
            condition(ACCEPTED, ConditionStatus::True, "Accepted", format!("the connection to {service} is accepted"))
        }
        other => condition(ACCEPTED, ConditionStatus::Unknown, &state_reason(other), format!("endpoint is {other}")),
    }
}

/// The Ready condition of an endpoint AWS holds.
pub fn ready_condition(observed: &ObservedEndpoint, private_dns_deferred: bool) -> Condition {
    if observed.state == "available" && !private_dns_deferred {
        return condition(READY, ConditionStatus::True, "Available", format!("endpoint {} is available", observed.id));
    }
    let message = match observed.state.as_str() {
        "pendingAcceptance" => {
            "the connection waits for the service owner's acceptance (see the Accepted condition)".to_string()
        }
        "available" => "the endpoint is available; private DNS is being enabled".to_string(),
        "rejected" => {
            "the service owner rejected the connection: ask them to accept it, or delete this InterfaceEndpoint".into()
        }
        "failed" => format!(
            "AWS could not create the endpoint: {}",
            observed.last_error.as_deref().unwrap_or("no reason given")
        ),
        other => format!("endpoint is {other}; waiting for AWS"),
    };
    condition(READY, ConditionStatus::False, &state_reason(&observed.state), message)
}

/// PrivateDnsVerified on an endpoint with private DNS to an in-cluster
/// service: False while the service's private DNS name is unverified
/// (`unverified`), since the name resolves only once the provider verifies it.
pub fn service_dns_condition(private_dns_enabled: Option<bool>, unverified: Option<&str>) -> Option<Condition> {
    if private_dns_enabled != Some(true) {
        return None;
    }
    Some(match unverified {
        Some(name) => condition(
            PRIVATE_DNS_VERIFIED,
            ConditionStatus::False,
            "ServiceNameUnverified",
            format!(
                "the service's private DNS name {name} is not verified yet: it resolves to this endpoint only once the provider publishes the TXT record the EndpointService's status shows"
            ),
        ),
        None => condition(
            PRIVATE_DNS_VERIFIED,
            ConditionStatus::True,
            "Verified",
            "the service's private DNS name is usable",
        ),
    })
}

/// How long AWS may keep the endpoint in this state on its own: transitional
/// states are polled, terminal ones (available, rejected, failed) wait for
/// the resync or a change.
pub fn is_settled(observed: &ObservedEndpoint, private_dns_deferred: bool) -> bool {
    let waits_for_dns = observed.state == "available" && private_dns_deferred;
    !(observed.is_transitional() || waits_for_dns)
}

/// What a requester-managed endpoint's status says: the operator only
/// observes it.
pub fn requester_managed_note(observed: &ObservedEndpoint) -> Option<String> {
    observed.requester_managed.then(|| {
        format!("{}; AWS refuses changes to it, so the operator only reports its state", requester_owner(observed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";

    fn owner() -> Owner {
        Owner {
            cluster: String::new(),
            namespace: "team-b".into(),
            name: "pay".into(),
            uid: "7c0d7c1e-0000-4000-8000-000000000002".into(),
        }
    }

    fn spec(extra: Value) -> InterfaceEndpointSpec {
        let mut v = serde_json::json!({
            "vpcId": "vpc-0123456789abcdef0", "serviceName": SVC,
            "subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "securityGroupIds": ["sg-0123456789abcdef0"]
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn service() -> ResolvedService {
        ResolvedService { name: SVC.into(), region: None, gateway: false }
    }

    fn desired(s: &InterfaceEndpointSpec) -> DesiredEndpoint {
        DesiredEndpoint::from_spec(s, &service(), &owner(), 1, "us-east-1").unwrap()
    }

    /// The policy AWS attaches when none is given: full access.
    fn default_policy() -> Value {
        serde_json::json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
    }

    fn created(actions: Vec<EndpointAction>) -> CreateEndpoint {
        match actions.as_slice() {
            [EndpointAction::Create(c)] => *c.clone(),
            other => panic!("expected one create, got {other:?}"),
        }
    }

    fn in_sync(d: &DesiredEndpoint) -> ObservedEndpoint {
        ObservedEndpoint {
            id: "vpce-0123456789abcdef0".into(),
            state: "available".into(),
            vpc_id: d.vpc_id.clone(),
            service_name: d.service_name.clone(),
            service_region: Some(d.service_region.clone().unwrap_or(d.region.clone())),
            subnet_ids: d.subnet_ids.clone().unwrap_or_default(),
            security_group_ids: d.security_group_ids.clone(),
            private_dns_enabled: d.private_dns_enabled.unwrap_or(false),
            dns_record_ip_type: Some(d.dns_record_ip_type.clone().unwrap_or("ipv4".into())),
            ip_address_type: Some(d.ip_address_type.clone().unwrap_or("ipv4".into())),
            policy: Some(d.policy.clone().unwrap_or_else(default_policy).to_string()),
            tags: d.tags.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn a_takeover_writes_the_cluster_tag_before_any_other_change() {
        let mut o = owner();
        o.cluster = "c1".into();
        let s = spec(serde_json::json!({"securityGroupIds": ["sg-0123456789abcdef9"]}));
        let d = DesiredEndpoint::from_spec(&s, &service(), &o, 1, "us-east-1").unwrap();
        let mut observed = in_sync(&d);
        observed.security_group_ids = ["sg-0123456789abcdef0".to_string()].into();
        observed.tags.remove("privatelink.dev/cluster");
        let actions = plan(&d, Some(&observed), true, true);
        let [EndpointAction::SetTags(tags), EndpointAction::Modify(_)] = actions.as_slice() else {
            panic!("{actions:?}")
        };
        assert_eq!(tags.get("privatelink.dev/cluster").map(String::as_str), Some("c1"));
        // A user tag alone keeps its place after the changes.
        let mut observed = in_sync(&d);
        observed.security_group_ids = ["sg-0123456789abcdef0".to_string()].into();
        observed.tags.insert("team".into(), "old".into());
        let mut d = d;
        d.tags.insert("team".into(), "new".into());
        let actions = plan(&d, Some(&observed), true, true);
        assert!(matches!(actions.as_slice(), [EndpointAction::Modify(_), EndpointAction::SetTags(_)]), "{actions:?}");
    }

    #[test]
    fn creates_when_nothing_exists() {
        let d = desired(&spec(serde_json::json!({})));
        let actions = plan(&d, None, true, true);
        let [EndpointAction::Create(c)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(c.endpoint.client_token, owner().client_token(1));
        assert_eq!(c.endpoint.tags.get("privatelink.dev/uid"), Some(&owner().uid));
        assert_eq!(c.private_dns_enabled, None);
    }

    #[test]
    fn private_dns_created_off_and_enabled_once_accepted() {
        let d = desired(&spec(serde_json::json!({"privateDnsEnabled": true})));
        let c = created(plan(&d, None, true, true));
        assert_eq!(c.private_dns_enabled, Some(false), "off while acceptance may be required");
        assert_eq!(c.endpoint.private_dns_enabled, Some(true));
        let c = created(plan(&d, None, false, true));
        assert_eq!(c.private_dns_enabled, Some(true), "on at once when no acceptance is needed");

        let mut pending = in_sync(&d);
        pending.private_dns_enabled = false;
        pending.state = "pendingAcceptance".into();
        assert_eq!(plan(&d, Some(&pending), true, true), vec![], "nothing until accepted");
        assert!(private_dns_deferred(&d, &pending));
        pending.state = "available".into();
        let actions = plan(&d, Some(&pending), true, true);
        let [EndpointAction::Modify(m)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(m.private_dns_enabled, Some(true));
    }

    #[test]
    fn in_sync_needs_nothing_and_sets_ignore_order() {
        let d = desired(&spec(serde_json::json!({})));
        assert_eq!(plan(&d, Some(&in_sync(&d)), true, true), vec![]);
        let reordered =
            desired(&spec(serde_json::json!({"subnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef0"]})));
        assert_eq!(plan(&reordered, Some(&in_sync(&d)), true, true), vec![]);
    }

    #[test]
    fn security_groups_and_subnets_change_as_sets() {
        let d = desired(&spec(
            serde_json::json!({"securityGroupIds": ["sg-0123456789abcdef1"], "subnetIds": ["subnet-0123456789abcdef0"]}),
        ));
        let before = in_sync(&desired(&spec(serde_json::json!({}))));
        let actions = plan(&d, Some(&before), true, true);
        let [EndpointAction::Modify(m)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(m.add_security_group_ids, vec!["sg-0123456789abcdef1".to_string()]);
        assert_eq!(m.remove_security_group_ids, vec!["sg-0123456789abcdef0".to_string()]);
        assert_eq!(m.remove_subnet_ids, vec!["subnet-0123456789abcdef1".to_string()]);
        assert!(m.add_subnet_ids.is_empty());
    }

    #[test]
    fn no_security_groups_in_spec_leaves_the_vpc_default_alone() {
        let d = desired(&spec(serde_json::json!({"securityGroupIds": []})));
        let mut observed = in_sync(&d);
        observed.security_group_ids = BTreeSet::from(["sg-0000000000000default".to_string()]);
        assert_eq!(plan(&d, Some(&observed), true, true), vec![]);
    }

    #[test]
    fn policy_compared_as_json_not_text() {
        let compact = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*"}]}"#;
        let pretty = "{\n  \"Statement\": [ { \"Resource\": \"*\", \"Action\": \"sqs:*\",\n \"Principal\": \"*\", \"Effect\": \"Allow\" } ]\n}";
        let d = desired(&spec(serde_json::json!({"policy": compact})));
        let observed = in_sync(&d);
        let reformatted = desired(&spec(serde_json::json!({"policy": pretty})));
        assert_eq!(plan(&reformatted, Some(&observed), true, true), vec![], "reformatting causes no call");
        let changed = desired(&spec(serde_json::json!({"policy": compact.replace("sqs:*", "sqs:SendMessage")})));
        let actions = plan(&changed, Some(&observed), true, true);
        let [EndpointAction::Modify(m)] = actions.as_slice() else { panic!("{actions:?}") };
        assert!(m.policy.is_some());
        // Without a policy in the spec, AWS's policy is left as it is.
        let none = desired(&spec(serde_json::json!({})));
        assert_eq!(plan(&none, Some(&observed), true, true), vec![]);
    }

    #[test]
    fn requester_managed_endpoints_are_never_changed_or_tagged() {
        let d = desired(&spec(serde_json::json!({"securityGroupIds": ["sg-0123456789abcdef9"], "tags": {"a": "b"}})));
        let mut o = in_sync(&desired(&spec(serde_json::json!({}))));
        o.tags.clear();
        o.requester_managed = true;
        assert_eq!(plan(&d, Some(&o), false, false), vec![]);
    }

    #[test]
    fn adopted_endpoint_keeps_its_subnets_when_the_spec_omits_them() {
        let adopt = spec(serde_json::json!({"vpcEndpointId": "vpce-0123456789abcdef0"}));
        let mut adopt = adopt;
        adopt.subnet_ids = None;
        let d = desired(&adopt);
        assert_eq!(d.subnet_ids, None);
        let mut o = in_sync(&desired(&spec(serde_json::json!({}))));
        o.subnet_ids.insert("subnet-0123456789abcdef5".into());
        o.tags = d.tags.clone();
        assert_eq!(plan(&d, Some(&o), false, false), vec![]);
        assert_eq!(plan(&d, None, false, false), vec![], "nothing to create from");
        let mut created = adopt.clone();
        created.vpc_endpoint_id = None;
        let err = DesiredEndpoint::from_spec(&created, &service(), &owner(), 1, "us-east-1").unwrap_err();
        assert_eq!(err[0].field, "spec.subnetIds");
    }

    #[test]
    fn gateway_endpoints_have_no_private_dns() {
        let gwlb = ResolvedService { name: SVC.into(), region: None, gateway: true };
        let err = DesiredEndpoint::from_spec(
            &spec(serde_json::json!({"privateDnsEnabled": true})),
            &gwlb,
            &owner(),
            1,
            "us-east-1",
        )
        .unwrap_err();
        assert_eq!(err[0].field, "spec.privateDnsEnabled");
        let ok = DesiredEndpoint::from_spec(&spec(serde_json::json!({})), &gwlb, &owner(), 1, "us-east-1").unwrap();
        assert!(ok.gateway);
        assert!(created(plan(&ok, None, true, true)).endpoint.gateway);
    }

    #[test]
    fn invalid_policy_and_cross_partition_service_region_are_spec_problems() {
        let bad = DesiredEndpoint::from_spec(
            &spec(serde_json::json!({"policy": "{not json"})),
            &service(),
            &owner(),
            1,
            "us-east-1",
        );
        assert_eq!(bad.unwrap_err()[0].field, "spec.policy");
        // AWS services may be reached cross-region (since Nov 2025): not refused here.
        let s3 = ResolvedService {
            name: "com.amazonaws.us-west-2.s3".into(),
            region: Some("us-west-2".into()),
            gateway: false,
        };
        let d = DesiredEndpoint::from_spec(&spec(serde_json::json!({})), &s3, &owner(), 1, "us-east-1").unwrap();
        assert_eq!(d.service_region.as_deref(), Some("us-west-2"));
        let china = ResolvedService { name: SVC.into(), region: Some("cn-north-1".into()), gateway: false };
        let err =
            DesiredEndpoint::from_spec(&spec(serde_json::json!({})), &china, &owner(), 1, "us-east-1").unwrap_err();
        assert_eq!(err[0].field, "spec.serviceRegion");
        assert!(err[0].message.contains("aws-cn"), "{err:?}");
    }

    #[test]
    fn cross_region_and_replacement() {
        let remote = ResolvedService { name: SVC.into(), region: Some("us-east-1".into()), gateway: false };
        let s = spec(serde_json::json!({"region": "us-west-2"}));
        let d = DesiredEndpoint::from_spec(&s, &remote, &owner(), 1, "us-east-1").unwrap();
        assert_eq!(d.service_region.as_deref(), Some("us-east-1"));
        let action = plan(&d, None, true, true).remove(0);
        assert!(action.to_string().contains("serviceRegion=us-east-1"), "{action}");
        let observed = in_sync(&d);
        assert!(replacement_needed(&d, &observed).is_empty());
        let same_region = DesiredEndpoint::from_spec(&s, &service(), &owner(), 1, "us-east-1").unwrap();
        let problems = replacement_needed(&same_region, &observed);
        assert_eq!(problems[0].field, "spec.serviceRegion", "{problems:?}");
        let mut moved = observed.clone();
        moved.vpc_id = "vpc-0123456789abcdef9".into();
        assert_eq!(replacement_needed(&d, &moved)[0].field, "spec.vpcId");
    }

    #[test]
    fn ip_and_dns_options_only_when_set() {
        let d = desired(&spec(
            serde_json::json!({"ipAddressType": "dualstack", "dnsOptions": {"dnsRecordIpType": "dualstack"}}),
        ));
        let observed = in_sync(&desired(&spec(serde_json::json!({}))));
        let actions = plan(&d, Some(&observed), true, true);
        let [EndpointAction::Modify(m)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(m.ip_address_type.as_deref(), Some("dualstack"));
        assert_eq!(m.dns_record_ip_type.as_deref(), Some("dualstack"));
    }

    #[test]
    fn requester_managed_endpoints_are_never_deleted() {
        let d = desired(&spec(serde_json::json!({})));
        let mut o = in_sync(&d);
        assert_eq!(plan_deletion(Some(&o), false), EndpointDeletion::Delete);
        assert_eq!(plan_deletion(Some(&o), true), EndpointDeletion::Nothing);
        assert_eq!(plan_deletion(None, false), EndpointDeletion::Nothing);
        o.requester_managed = true;
        o.tags.insert("AWSNetworkFirewallManaged".into(), "true".into());
        o.tags.insert("Firewall".into(), "arn:aws:network-firewall:us-east-1:111122223333:firewall/edge".into());
        let EndpointDeletion::RequesterManaged(why) = plan_deletion(Some(&o), false) else { panic!() };
        assert!(why.contains("AWS Network Firewall") && why.contains("firewall/edge"), "{why}");
        // Without tags: doctor's words say where to look.
        o.tags.clear();
        let EndpointDeletion::RequesterManaged(why) = plan_deletion(Some(&o), false) else { panic!() };
        assert!(why.contains("Operation is not allowed for requester-managed VPC endpoints"), "{why}");
        assert!(why.contains("CloudTrail") && why.contains("RDS Proxy"), "{why}");
    }

    #[test]
    fn service_name_helpers() {
        assert!(is_aws_service("com.amazonaws.us-east-1.s3"));
        assert!(!is_aws_service(SVC));
        assert_eq!(region_of_service_name(SVC), Some("us-east-1"));
        assert_eq!(region_of_service_name("com.amazonaws.eu-west-1.sqs"), Some("eu-west-1"));
        assert_eq!(region_of_service_name("aws.sagemaker.us-east-1.notebook"), None);
        assert_eq!(region_of_service_name("com.amazonaws.iam"), None);
        assert_eq!(region_of_service_name("com.amazonaws.us-gov-west-1.s3"), Some("us-gov-west-1"));
    }

    #[test]
    fn diagnostics_are_pure_decisions() {
        let d = desired(&spec(serde_json::json!({"privateDnsEnabled": true})));
        let p = vpc_dns_problem(&d, true, false).expect("hostnames missing");
        assert!(p.message.contains("enableDnsHostnames") && !p.message.contains("enableDnsSupport and"), "{p}");
        assert_eq!(vpc_dns_problem(&d, true, true), None);
        let service = ServiceOffer { zone_ids: vec!["use1-az1".into()], ..Default::default() };
        let subnet = |id: &str, zone: &str, zone_id: &str| Subnet {
            id: id.into(),
            cidr: None,
            zone: Some(zone.into()),
            zone_id: Some(zone_id.into()),
        };
        let zones = [subnet("subnet-a", "us-east-1a", "use1-az1"), subnet("subnet-c", "us-east-1c", "use1-az3")];
        let problems = subnet_zone_problems(&d, &service, &zones);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("subnet-c in use1-az3 (us-east-1c)"), "{}", problems[0]);
        assert!(problems[0].message.contains("the service serves use1-az1"), "{}", problems[0]);
    }

    #[test]
    fn invalid_service_name_hints_name_the_fix() {
        let remote_svc = spec(serde_json::json!({"region": "us-west-2"}));
        let d = DesiredEndpoint::from_spec(&remote_svc, &service(), &owner(), 1, "us-east-1").unwrap();
        let h = hint(Some("InvalidServiceName"), &d).unwrap();
        assert!(h.contains("set spec.serviceRegion: us-east-1"), "{h}");
        assert_eq!(hint(Some("InvalidParameter"), &d), None);
        let sqs = ResolvedService {
            name: "com.amazonaws.us-east-1.sqs".into(),
            region: Some("us-east-1".into()),
            gateway: false,
        };
        let d = DesiredEndpoint::from_spec(&remote_svc, &sqs, &owner(), 1, "us-east-1").unwrap();
        let h = hint(Some("InvalidServiceName"), &d).unwrap();
        assert!(h.contains("only some AWS services") && h.contains("lambda"), "{h}");
    }

    #[test]
    fn conditions_name_who_must_act() {
        let c = accepted_condition("pendingAcceptance", Some(SVC), Some("111122223333"));
        assert_eq!(c.reason, "PendingAcceptance");
        assert!(c.message.contains("AWS account 111122223333 must accept"), "{}", c.message);
        let d = desired(&spec(serde_json::json!({})));
        let mut o = in_sync(&d);
        assert_eq!(ready_condition(&o, false).status, "True");
        assert!(is_settled(&o, false));
        assert!(!is_settled(&o, true), "private DNS still to enable");
        o.state = "failed".into();
        o.last_error = Some("boom".into());
        let r = ready_condition(&o, false);
        assert_eq!((r.reason.as_str(), r.message.contains("boom")), ("Failed", true));
        assert!(is_settled(&o, false), "failed is terminal");
        o.state = "pendingAcceptance".into();
        assert!(!is_settled(&o, false));
    }
}
