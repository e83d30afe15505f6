//! EndpointService: desired state from the spec, observed state from AWS,
//! and the ordered actions that make AWS match.

pub mod stages;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::Next;
use super::notifications::NotificationAction;
use super::tags::{Owner, describe_set, desired_tags, tag_diff, takes_over};
use super::{SpecProblem, set_diff, write_lists};
use crate::api::EndpointServiceSpec;
use crate::api::common::partition_of;
use crate::api::conditions::{Condition, ConditionStatus, EXPOSURE, PRIVATE_DNS_VERIFIED, READY, condition};
pub use crate::plan::facts::ObservedConnection;
use crate::plan::facts::{LoadBalancerKind, ObservedLoadBalancer, ObservedNotification, ObservedService};

/// What the spec asks AWS to hold, with defaults resolved. A field that is
/// None is left as AWS has it: what an adopted service's spec omits.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    /// Region of the service.
    pub region: String,
    /// Kind and ARNs of the load balancers.
    pub load_balancers: Option<(LoadBalancerKind, BTreeSet<String>)>,
    /// Whether connections need acceptance.
    pub acceptance_required: Option<bool>,
    /// Principals allowed to connect.
    pub allowed_principals: Option<BTreeSet<String>>,
    /// Remote regions consumers may connect from (the service's own region excluded).
    pub supported_regions: Option<BTreeSet<String>>,
    /// Private DNS name: `Some(None)` means none.
    pub private_dns_name: Option<Option<String>>,
    /// IP address types; empty leaves AWS's setting alone.
    pub supported_ip_address_types: BTreeSet<String>,
    /// Tags including the ownership tags.
    pub tags: BTreeMap<String, String>,
    /// Idempotency token for creation.
    pub client_token: String,
    /// Connection notifications: SNS topic ARN → events.
    pub notifications: BTreeMap<String, BTreeSet<String>>,
    /// Accounts whose pending connection requests are accepted without an
    /// EndpointConnection.
    pub auto_accept: BTreeSet<String>,
}

impl DesiredService {
    /// Resolve a spec into desired state, refusing what AWS would refuse.
    /// For a service the operator creates, what the spec omits takes the
    /// defaults (acceptance required, no principals, no remote regions, no
    /// private DNS name); for an adopted one (`spec.serviceId`) it is left as
    /// it is.
    pub fn from_spec(
        spec: &EndpointServiceSpec,
        owner: &Owner,
        generation: i64,
        default_region: &str,
    ) -> Result<Self, Vec<SpecProblem>> {
        let adopted = spec.service_id.is_some();
        let region = spec.region.clone().unwrap_or_else(|| default_region.to_string());
        let mut problems = Vec::new();
        let load_balancers = match (&spec.network_load_balancer_arns, &spec.gateway_load_balancer_arns) {
            (Some(arns), None) => Some((LoadBalancerKind::Network, arns.clone())),
            (None, Some(arns)) => Some((LoadBalancerKind::Gateway, arns.clone())),
            (Some(_), Some(_)) => {
                problems.push(SpecProblem::new(
                    "spec",
                    "set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns",
                ));
                None
            }
            (None, None) if adopted => None,
            (None, None) => {
                problems.push(SpecProblem::new(
                    "spec",
                    "set networkLoadBalancerArns or gatewayLoadBalancerArns to create a service (or serviceId to adopt an existing one)",
                ));
                None
            }
        };
        if let Some((kind, arns)) = &load_balancers {
            if arns.is_empty() {
                problems.push(SpecProblem::new(kind.field(), "list at least one load balancer ARN"));
            }
            for (i, arn) in arns.iter().enumerate() {
                match arn.split(':').nth(3) {
                    Some(lb_region) if lb_region == region => {}
                    Some(lb_region) => problems.push(SpecProblem::new(
                        format!("{}[{i}]", kind.field()),
                        format!(
                            "load balancer is in {lb_region} but the service is in {region}: an endpoint service uses load balancers of its own region; set spec.region to {lb_region} or use a load balancer in {region}"
                        ),
                    )),
                    None => {
                        problems.push(SpecProblem::new(format!("{}[{i}]", kind.field()), "not a load balancer ARN"))
                    }
                }
            }
            if *kind == LoadBalancerKind::Gateway && spec.private_dns_name.is_some() {
                problems.push(SpecProblem::new(
                    "spec.privateDnsName",
                    "Gateway Load Balancer endpoint services have no private DNS name; remove the field",
                ));
            }
        }
        let partition = partition_of(&region);
        for (i, remote) in spec.supported_regions.iter().flatten().enumerate() {
            if partition_of(remote) != partition {
                problems.push(SpecProblem::new(
                    format!("spec.supportedRegions[{i}]"),
                    format!(
                        "{remote} is in partition {}, the service's region {region} in {partition}: cross-region PrivateLink stays within one partition; remove {remote}",
                        partition_of(remote)
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let set = |v: &Option<Vec<String>>| v.as_ref().map(|v| v.iter().cloned().collect::<BTreeSet<_>>());
        let owned_default = |v: Option<BTreeSet<String>>| if adopted { v } else { Some(v.unwrap_or_default()) };
        Ok(Self {
            supported_regions: owned_default(set(&spec.supported_regions))
                .map(|regions| regions.into_iter().filter(|r| *r != region).collect()),
            region,
            load_balancers: load_balancers.map(|(kind, arns)| (kind, arns.into_iter().collect())),
            acceptance_required: spec.acceptance_required.or((!adopted).then_some(true)),
            allowed_principals: owned_default(set(&spec.allowed_principals)),
            private_dns_name: match &spec.private_dns_name {
                Some(name) => Some(Some(name.clone())),
                None if adopted => None,
                None => Some(None),
            },
            supported_ip_address_types: spec
                .supported_ip_address_types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            tags: desired_tags(&spec.tags, owner),
            client_token: owner.client_token(generation),
            notifications: spec
                .notifications
                .iter()
                .map(|n| (n.sns_topic_arn.clone(), n.events.iter().map(|e| format!("{e:?}")).collect()))
                .collect(),
            auto_accept: spec.auto_accept.iter().flat_map(|a| a.account_ids.iter().cloned()).collect(),
        })
    }

    /// True when consumers from other regions may connect: AWS then needs the
    /// load balancers in at least 2 Availability Zones.
    pub fn is_cross_region(&self) -> bool {
        self.supported_regions.as_ref().is_some_and(|r| !r.is_empty())
    }

    /// The load balancer ARNs the spec names (none when left alone).
    pub fn load_balancer_arns(&self) -> Vec<String> {
        self.load_balancers.as_ref().map(|(_, arns)| arns.iter().cloned().collect()).unwrap_or_default()
    }
}

/// Everything a CreateVpcEndpointServiceConfiguration call sends.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateService {
    /// Region.
    pub region: String,
    /// Kind of the load balancers.
    pub load_balancer_kind: LoadBalancerKind,
    /// Load balancer ARNs.
    pub load_balancer_arns: Vec<String>,
    /// Acceptance setting.
    pub acceptance_required: bool,
    /// Private DNS name.
    pub private_dns_name: Option<String>,
    /// IP address types.
    pub supported_ip_address_types: Vec<String>,
    /// Remote regions.
    pub supported_regions: Vec<String>,
    /// Tags, ownership tags included.
    pub tags: BTreeMap<String, String>,
    /// Idempotency token.
    pub client_token: String,
}

/// Everything one ModifyVpcEndpointServiceConfiguration call changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceChanges {
    /// New acceptance setting.
    pub acceptance_required: Option<bool>,
    /// Kind of the load balancers added and removed.
    pub load_balancer_kind: Option<LoadBalancerKind>,
    /// Load balancers to add (removals are a separate call: AWS refuses
    /// them while endpoints are connected, and must not block the rest).
    pub add_load_balancers: Vec<String>,
    /// New private DNS name.
    pub private_dns_name: Option<String>,
    /// Remove the private DNS name.
    pub remove_private_dns_name: bool,
    /// IP address types to add.
    pub add_ip_address_types: Vec<String>,
    /// IP address types to remove.
    pub remove_ip_address_types: Vec<String>,
    /// Regions to add.
    pub add_supported_regions: Vec<String>,
    /// Regions to remove.
    pub remove_supported_regions: Vec<String>,
}

impl ServiceChanges {
    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == ServiceChanges { load_balancer_kind: self.load_balancer_kind, ..Default::default() }
    }
}

/// One AWS change to an endpoint service, in the order they must happen.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceAction {
    /// CreateVpcEndpointServiceConfiguration.
    Create(Box<CreateService>),
    /// ModifyVpcEndpointServiceConfiguration.
    Modify(ServiceChanges),
    /// ModifyVpcEndpointServiceConfiguration removing load balancers, alone.
    RemoveLoadBalancers(LoadBalancerKind, Vec<String>),
    /// ModifyVpcEndpointServicePermissions with AddAllowedPrincipals.
    AddAllowedPrincipals(Vec<String>),
    /// ModifyVpcEndpointServicePermissions with RemoveAllowedPrincipals.
    RemoveAllowedPrincipals(Vec<String>),
    /// CreateTags.
    SetTags(BTreeMap<String, String>),
    /// DeleteTags.
    DeleteTags(Vec<String>),
    /// AcceptVpcEndpointConnections (autoAccept rules).
    AcceptConnections(Vec<String>),
    /// RejectVpcEndpointConnections (before deleting the service).
    RejectConnections(Vec<String>),
    /// A change to a connection notification.
    Notification(NotificationAction),
    /// StartVpcEndpointServicePrivateDnsVerification.
    StartPrivateDnsVerification,
    /// DeleteVpcEndpointServiceConfigurations.
    Delete,
}

impl ServiceAction {
    /// The AWS API action this performs.
    pub fn aws_action(&self) -> &'static str {
        match self {
            ServiceAction::Create(_) => "CreateVpcEndpointServiceConfiguration",
            ServiceAction::Modify(_) | ServiceAction::RemoveLoadBalancers(..) => {
                "ModifyVpcEndpointServiceConfiguration"
            }
            ServiceAction::AddAllowedPrincipals(_) | ServiceAction::RemoveAllowedPrincipals(_) => {
                "ModifyVpcEndpointServicePermissions"
            }
            ServiceAction::SetTags(_) => "CreateTags",
            ServiceAction::DeleteTags(_) => "DeleteTags",
            ServiceAction::AcceptConnections(_) => "AcceptVpcEndpointConnections",
            ServiceAction::RejectConnections(_) => "RejectVpcEndpointConnections",
            ServiceAction::Notification(NotificationAction::Create { .. }) => "CreateVpcEndpointConnectionNotification",
            ServiceAction::Notification(NotificationAction::Modify { .. }) => "ModifyVpcEndpointConnectionNotification",
            ServiceAction::Notification(NotificationAction::Delete(_)) => "DeleteVpcEndpointConnectionNotifications",
            ServiceAction::StartPrivateDnsVerification => "StartVpcEndpointServicePrivateDnsVerification",
            ServiceAction::Delete => "DeleteVpcEndpointServiceConfigurations",
        }
    }
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

impl fmt::Display for ServiceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.aws_action())?;
        match self {
            ServiceAction::Create(c) => {
                write!(
                    f,
                    " region={} {}LoadBalancers=[{}] acceptanceRequired={}",
                    c.region,
                    c.load_balancer_kind.elb_type(),
                    list(&c.load_balancer_arns),
                    c.acceptance_required
                )?;
                if let Some(name) = &c.private_dns_name {
                    write!(f, " privateDnsName={name}")?;
                }
                write_lists(
                    f,
                    &[
                        ("supportedRegions", &c.supported_regions),
                        ("supportedIpAddressTypes", &c.supported_ip_address_types),
                    ],
                )?;
                write!(f, " tags={}", c.tags.len())
            }
            ServiceAction::Modify(c) => {
                if let Some(a) = c.acceptance_required {
                    write!(f, " acceptanceRequired={a}")?;
                }
                let kind = c.load_balancer_kind.map(LoadBalancerKind::elb_type).unwrap_or("");
                let add_lbs = format!("add {kind}LoadBalancers");
                write_lists(
                    f,
                    &[
                        (&add_lbs, &c.add_load_balancers),
                        ("add supportedRegions", &c.add_supported_regions),
                        ("remove supportedRegions", &c.remove_supported_regions),
                        ("add supportedIpAddressTypes", &c.add_ip_address_types),
                        ("remove supportedIpAddressTypes", &c.remove_ip_address_types),
                    ],
                )?;
                if let Some(name) = &c.private_dns_name {
                    write!(f, " privateDnsName={name}")?;
                }
                if c.remove_private_dns_name {
                    write!(f, " removePrivateDnsName")?;
                }
                Ok(())
            }
            ServiceAction::RemoveLoadBalancers(kind, arns) => {
                write!(f, " remove {}LoadBalancers=[{}]", kind.elb_type(), list(arns))
            }
            ServiceAction::AddAllowedPrincipals(p) => write!(f, " add=[{}]", list(p)),
            ServiceAction::RemoveAllowedPrincipals(p) => write!(f, " remove=[{}]", list(p)),
            ServiceAction::SetTags(t) => {
                write!(f, " {}", describe_set(t))
            }
            ServiceAction::DeleteTags(k) => write!(f, " [{}]", list(k)),
            ServiceAction::AcceptConnections(ids) | ServiceAction::RejectConnections(ids) => {
                write!(f, " endpoints=[{}]", list(ids))
            }
            ServiceAction::Notification(NotificationAction::Create { topic_arn, events })
            | ServiceAction::Notification(NotificationAction::Modify { topic_arn, events, .. }) => {
                write!(f, " topic={topic_arn} events=[{}]", list(events))
            }
            ServiceAction::Notification(NotificationAction::Delete(ids)) => write!(f, " [{}]", list(ids)),
            ServiceAction::StartPrivateDnsVerification | ServiceAction::Delete => Ok(()),
        }
    }
}

/// The actions that make AWS hold `desired`. `observed` is None when no
/// service exists yet; `principals` are the observed allowed principals.
/// `owned` is true when the operator created the service, so tags it does
/// not know are removed; on an adopted service they are kept. Removing
/// load balancers comes last, in a call of its own.
pub fn plan(
    desired: &DesiredService,
    observed: Option<&ObservedService>,
    principals: &BTreeSet<String>,
    owned: bool,
) -> Vec<ServiceAction> {
    let mut actions = Vec::new();
    let Some(observed) = observed.filter(|o| !o.is_gone()) else {
        let Some((kind, arns)) = &desired.load_balancers else {
            // Adoption of a service that does not exist: nothing to create from.
            return actions;
        };
        actions.push(ServiceAction::Create(Box::new(CreateService {
            region: desired.region.clone(),
            load_balancer_kind: *kind,
            load_balancer_arns: arns.iter().cloned().collect(),
            acceptance_required: desired.acceptance_required.unwrap_or(true),
            private_dns_name: desired.private_dns_name.clone().flatten(),
            supported_ip_address_types: desired.supported_ip_address_types.iter().cloned().collect(),
            supported_regions: desired.supported_regions.iter().flatten().cloned().collect(),
            tags: desired.tags.clone(),
            client_token: desired.client_token.clone(),
        })));
        if let Some(principals) = desired.allowed_principals.as_ref().filter(|p| !p.is_empty()) {
            actions.push(ServiceAction::AddAllowedPrincipals(principals.iter().cloned().collect()));
        }
        return actions;
    };

    let (kind, add_lbs, remove_lbs) = match &desired.load_balancers {
        Some((kind, arns)) => {
            let (add, remove) = set_diff(arns, observed.load_balancers(*kind));
            (Some(*kind), add, remove)
        }
        None => (None, Vec::new(), Vec::new()),
    };
    let observed_remote: BTreeSet<String> =
        observed.supported_regions.keys().filter(|r| **r != desired.region).cloned().collect();
    let (add_regions, remove_regions) = match &desired.supported_regions {
        Some(regions) => set_diff(regions, &observed_remote),
        None => (Vec::new(), Vec::new()),
    };
    let (add_ip, remove_ip) = if desired.supported_ip_address_types.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        set_diff(&desired.supported_ip_address_types, &observed.supported_ip_address_types)
    };
    let (set_dns, remove_dns) = match &desired.private_dns_name {
        Some(Some(name)) => (observed.private_dns_name.as_ref() != Some(name)).then(|| (Some(name.clone()), false)),
        Some(None) => observed.private_dns_name.is_some().then_some((None, true)),
        None => None,
    }
    .unwrap_or((None, false));
    let changes = ServiceChanges {
        acceptance_required: desired.acceptance_required.filter(|a| *a != observed.acceptance_required),
        load_balancer_kind: kind,
        add_load_balancers: add_lbs,
        private_dns_name: set_dns,
        remove_private_dns_name: remove_dns,
        add_ip_address_types: add_ip,
        remove_ip_address_types: remove_ip,
        add_supported_regions: add_regions,
        remove_supported_regions: remove_regions,
    };
    if !changes.is_empty() {
        actions.push(ServiceAction::Modify(changes));
    }

    if let Some(desired_principals) = &desired.allowed_principals {
        let (add_principals, remove_principals) = set_diff(desired_principals, principals);
        if !add_principals.is_empty() {
            actions.push(ServiceAction::AddAllowedPrincipals(add_principals));
        }
        if !remove_principals.is_empty() {
            actions.push(ServiceAction::RemoveAllowedPrincipals(remove_principals));
        }
    }

    let (set_tags, delete_tags) = tag_diff(&desired.tags, &observed.tags, owned);
    if takes_over(&set_tags) {
        // Ownership first: IAM conditions read the resource's tags.
        actions.insert(0, ServiceAction::SetTags(set_tags));
    } else if !set_tags.is_empty() {
        actions.push(ServiceAction::SetTags(set_tags));
    }
    if !delete_tags.is_empty() {
        actions.push(ServiceAction::DeleteTags(delete_tags));
    }
    if let (Some(kind), false) = (kind, remove_lbs.is_empty()) {
        actions.push(ServiceAction::RemoveLoadBalancers(kind, remove_lbs));
    }
    actions
}

/// The actions that delete the service, in the order AWS demands: reject
/// the endpoints still connected or waiting (AWS refuses to delete a service
/// they hold), delete its connection notifications, then the service
/// configuration. None when AWS no longer has it (or is deleting it). Load
/// balancers are never deleted.
pub fn plan_deletion(
    observed: Option<&ObservedService>,
    connections: &[ObservedConnection],
    notifications: &[ObservedNotification],
) -> Vec<ServiceAction> {
    let Some(_) = observed.filter(|o| !o.is_gone()) else { return Vec::new() };
    let mut actions = Vec::new();
    let holding: Vec<String> =
        connections.iter().filter(|c| c.holds_service()).map(|c| c.endpoint_id.clone()).collect();
    if !holding.is_empty() {
        actions.push(ServiceAction::RejectConnections(holding));
    }
    if !notifications.is_empty() {
        let ids = notifications.iter().map(|n| n.id.clone()).collect();
        actions.push(ServiceAction::Notification(NotificationAction::Delete(ids)));
    }
    actions.push(ServiceAction::Delete);
    actions
}

/// What the service's follow-up plan needs besides the service itself.
#[derive(Debug, Clone)]
pub struct FollowUp<'a> {
    /// Its connections.
    pub connections: &'a [ObservedConnection],
    /// Its connection notifications.
    pub notifications: &'a [ObservedNotification],
    /// Endpoints an EndpointConnection in the cluster decides (endpoint → object name).
    pub decided: &'a BTreeMap<String, String>,
    /// When the operator last asked AWS to verify the current private DNS name.
    pub verification_started: Option<jiff::Timestamp>,
    /// Now.
    pub now: jiff::Timestamp,
    /// The operator created the service (notifications it does not know are removed).
    pub owned: bool,
}

/// How often a private DNS name that is not verified yet is sent for
/// verification again.
pub const VERIFICATION_RETRY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The actions that follow once the service exists: accept what autoAccept
/// rules accept, reconcile the notifications, and ask AWS to verify a
/// private DNS name that is not verified (once, then hourly).
pub fn plan_follow_up(desired: &DesiredService, observed: &ObservedService, f: &FollowUp) -> Vec<ServiceAction> {
    let mut actions = Vec::new();
    let accepted = super::connections::auto_accepted(f.connections, &desired.auto_accept, f.decided);
    if !accepted.is_empty() {
        actions.push(ServiceAction::AcceptConnections(accepted));
    }
    actions.extend(
        super::notifications::plan_notifications(&desired.notifications, f.notifications, f.owned)
            .into_iter()
            .map(ServiceAction::Notification),
    );
    if verification_due(observed, f.verification_started, f.now) {
        actions.push(ServiceAction::StartPrivateDnsVerification);
    }
    actions
}

/// True when the private DNS name should be sent for verification: it is
/// set and not verified, and was never sent, or last sent an hour ago.
pub fn verification_due(observed: &ObservedService, started: Option<jiff::Timestamp>, now: jiff::Timestamp) -> bool {
    if observed.private_dns_name.is_none() || observed.private_dns_state.as_deref() == Some("verified") {
        return false;
    }
    match started {
        None => true,
        Some(at) => now.duration_since(at).unsigned_abs() >= VERIFICATION_RETRY,
    }
}

/// The PrivateDnsVerified condition: what to publish and what happens next.
pub fn private_dns_condition(observed: &ObservedService) -> Condition {
    use super::checks::service::{PrivateDnsVerification, private_dns_verification};
    let record = || {
        format!(
            "a TXT record named {} in the domain of {}, with value {}",
            observed.private_dns_record_name.as_deref().unwrap_or("?"),
            observed.private_dns_name.as_deref().unwrap_or("?"),
            observed.private_dns_record_value.as_deref().unwrap_or("?")
        )
    };
    match private_dns_verification(observed) {
        PrivateDnsVerification::NoName => {
            condition(PRIVATE_DNS_VERIFIED, ConditionStatus::True, "NoPrivateDnsName", "no private DNS name is set")
        }
        PrivateDnsVerification::Verified(name) => {
            condition(PRIVATE_DNS_VERIFIED, ConditionStatus::True, "Verified", format!("{name} is verified"))
        }
        PrivateDnsVerification::Failed(name) => condition(
            PRIVATE_DNS_VERIFIED,
            ConditionStatus::False,
            "VerificationFailed",
            format!(
                "AWS could not verify {name}: publish {} (check the name and value exactly); the operator asks AWS to verify again every hour",
                record()
            ),
        ),
        PrivateDnsVerification::Pending(name) => condition(
            PRIVATE_DNS_VERIFIED,
            ConditionStatus::False,
            "PendingVerification",
            format!(
                "publish {}; AWS verifies it after the operator starts verification, and consumers' private DNS works only once {name} is verified",
                record()
            ),
        ),
    }
}

/// Supported regions AWS has not made available yet, with their state.
pub fn regions_pending(observed: &ObservedService, region: &str) -> Vec<String> {
    observed
        .supported_regions
        .iter()
        .filter(|(r, _)| *r != region)
        .filter(|(_, state)| state.as_deref() != Some("Available"))
        .map(|(r, state)| format!("{r} ({})", state.as_deref().unwrap_or("unknown")))
        .collect()
}

/// Who can reach the service unreviewed, and where consumers cannot reach
/// it: `*` allowed with acceptance off (every AWS account connects, nobody
/// reviews), load balancers in fewer Availability Zones than the region has
/// (AWS recommends every zone; consumers in the others cannot connect).
pub fn exposure_warnings(
    principals: &BTreeSet<String>,
    acceptance_required: bool,
    load_balancers: &[ObservedLoadBalancer],
    region_zones: usize,
) -> Vec<(&'static str, String)> {
    let mut warnings = Vec::new();
    if principals.contains("*") && !acceptance_required {
        warnings.push((
            "OpenToAnyAccount",
            "allowedPrincipals has `*` and acceptanceRequired is false: any AWS account can connect without review; name the consumers' accounts, or require acceptance".to_string(),
        ));
    }
    for lb in load_balancers {
        if region_zones > 0 && lb.availability_zones.len() < region_zones {
            warnings.push((
                "ZonesNotServed",
                format!(
                    "load balancer {} serves {} of the region's {region_zones} Availability Zones: consumers' endpoints in the others cannot connect; enable the load balancer in every zone (AWS's recommendation)",
                    lb.arn,
                    lb.availability_zones.len()
                ),
            ));
        }
    }
    warnings
}

/// The ExposureReviewed condition from the warnings.
pub fn exposure_condition(warnings: &[(&'static str, String)]) -> Condition {
    match warnings.first() {
        None => condition(EXPOSURE, ConditionStatus::True, "Reviewed", "no exposure warnings"),
        Some((reason, _)) => condition(
            EXPOSURE,
            ConditionStatus::False,
            reason,
            warnings.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>().join("; "),
        ),
    }
}

/// The Ready condition of a service in `state`, and when to look again:
/// poll while AWS creates it, resync once it is Available or failed.
pub fn service_ready(state: Option<&str>, name: Option<&str>, regions_pending: &[String]) -> (Condition, Next) {
    match state.unwrap_or("Pending") {
        "Available" if !regions_pending.is_empty() => (
            condition(
                READY,
                ConditionStatus::False,
                "RegionsPending",
                format!(
                    "endpoint service {} is available in its region; supported regions not available yet: {}",
                    name.unwrap_or(""),
                    regions_pending.join(", ")
                ),
            ),
            Next::Poll,
        ),
        "Available" => (
            condition(
                READY,
                ConditionStatus::True,
                "Available",
                format!("endpoint service {} is available", name.unwrap_or("")),
            ),
            Next::Resync,
        ),
        "Pending" => (
            condition(
                READY,
                ConditionStatus::False,
                "Pending",
                "endpoint service is being created; waiting for AWS to make it Available",
            ),
            Next::Poll,
        ),
        other => (
            condition(
                READY,
                ConditionStatus::False,
                other,
                format!(
                    "endpoint service is {other}: AWS will not make it Available on its own; check the load balancers, or delete and recreate the EndpointService"
                ),
            ),
            Next::Resync,
        ),
    }
}

/// Why AWS refused to remove load balancers, naming the endpoints that hold
/// them and what to do.
pub fn load_balancer_removal_blocked(removed: &[String], connections: &[ObservedConnection]) -> String {
    let holders: Vec<String> = connections
        .iter()
        .filter(|c| c.holds_service())
        .map(|c| match &c.owner {
            Some(owner) => format!("{} (account {owner}, {})", c.endpoint_id, c.state),
            None => format!("{} ({})", c.endpoint_id, c.state),
        })
        .collect();
    let held = if holders.is_empty() {
        "endpoints are connected".to_string()
    } else {
        format!("endpoints {} are connected", holders.join(", "))
    };
    format!(
        "load balancers {} cannot be removed while {held}: reject those connections (an EndpointConnection with decision Reject) or ask their owners to delete the endpoints; the other changes were applied",
        removed.join(", ")
    )
}

/// Check the load balancers the spec names against what ELBv2 reports:
/// each must exist, be of the spec's kind and active, and span at least 2
/// Availability Zones when the service is cross-region.
pub fn check_load_balancers(desired: &DesiredService, found: &[ObservedLoadBalancer]) -> Vec<SpecProblem> {
    use super::checks::service::{LoadBalancerFound, load_balancers_found};
    let Some((kind, arns)) = &desired.load_balancers else { return Vec::new() };
    let kind = *kind;
    let field = kind.field();
    let mut problems = Vec::new();
    for (arn, state) in load_balancers_found(arns, found) {
        let lb = match state {
            LoadBalancerFound::Missing => {
                problems.push(SpecProblem::new(
                    field,
                    format!(
                        "load balancer {arn} does not exist in {}: check the ARN, the region and the account",
                        desired.region
                    ),
                ));
                continue;
            }
            LoadBalancerFound::NotActive(lb) | LoadBalancerFound::Active(lb) => lb,
        };
        if lb.lb_type != kind.elb_type() {
            problems.push(SpecProblem::new(
                field,
                format!(
                    "load balancer {arn} is of type {}, but {field} needs type {}: list it under the matching field or use another load balancer",
                    lb.lb_type,
                    kind.elb_type()
                ),
            ));
        }
        if let LoadBalancerFound::NotActive(lb) = state {
            problems.push(SpecProblem::new(
                field,
                format!("load balancer {arn} is {} (not active): wait until it is active or fix it in ELB", lb.state),
            ));
        }
        if desired.is_cross_region() && lb.availability_zones.len() < 2 {
            problems.push(SpecProblem::new(
                field,
                format!(
                    "load balancer {arn} is in {} Availability Zone(s), and AWS refuses cross-region services on fewer than 2 (\"Services must support at least 2 availability zones for cross region\"): enable a second zone on the load balancer or remove spec.supportedRegions",
                    lb.availability_zones.len()
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::endpoint_service::ServiceIpAddressType;

    const NLB_A: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/a/0123456789abcdef";
    const NLB_B: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/b/0123456789abcdef";
    const ROOT_1: &str = "arn:aws:iam::444455556666:root";
    const ROOT_2: &str = "arn:aws:iam::777788889999:root";

    fn owner() -> Owner {
        Owner {
            cluster: String::new(),
            namespace: "team-a".into(),
            name: "api".into(),
            uid: "5f0b7c1e-0000-4000-8000-000000000001".into(),
        }
    }

    fn spec() -> EndpointServiceSpec {
        serde_json::from_value(serde_json::json!({
            "networkLoadBalancerArns": [NLB_A],
            "allowedPrincipals": [ROOT_1, ROOT_2],
            "supportedRegions": ["us-west-2", "eu-west-1"],
        }))
        .unwrap()
    }

    fn desired(spec: &EndpointServiceSpec) -> DesiredService {
        DesiredService::from_spec(spec, &owner(), 1, "us-east-1").unwrap()
    }

    /// The service AWS would hold after applying `desired`.
    fn in_sync(d: &DesiredService) -> (ObservedService, BTreeSet<String>) {
        let mut regions: BTreeMap<String, Option<String>> =
            d.supported_regions.iter().flatten().map(|r| (r.clone(), Some("Available".into()))).collect();
        regions.insert(d.region.clone(), Some("Available".into()));
        let observed = ObservedService {
            id: "vpce-svc-0123456789abcdef0".into(),
            state: Some("Available".into()),
            acceptance_required: d.acceptance_required.unwrap_or(true),
            network_load_balancer_arns: d.load_balancer_arns().into_iter().collect(),
            private_dns_name: d.private_dns_name.clone().flatten(),
            supported_ip_address_types: if d.supported_ip_address_types.is_empty() {
                BTreeSet::from(["ipv4".to_string()])
            } else {
                d.supported_ip_address_types.clone()
            },
            supported_regions: regions,
            tags: d.tags.clone(),
            ..Default::default()
        };
        (observed, d.allowed_principals.clone().unwrap_or_default())
    }

    #[test]
    fn creates_then_grants_principals_when_nothing_exists() {
        let d = desired(&spec());
        let actions = plan(&d, None, &BTreeSet::new(), true);
        assert_eq!(actions.len(), 2);
        let ServiceAction::Create(create) = &actions[0] else { panic!("expected create, got {actions:?}") };
        assert_eq!(create.load_balancer_arns, vec![NLB_A.to_string()]);
        assert!(create.acceptance_required, "acceptance defaults to required");
        assert_eq!(create.supported_regions, vec!["eu-west-1".to_string(), "us-west-2".to_string()]);
        assert_eq!(create.tags.get("privatelink.dev/uid"), Some(&owner().uid));
        assert_eq!(create.client_token, owner().client_token(1));
        assert_eq!(actions[1], ServiceAction::AddAllowedPrincipals(vec![ROOT_1.into(), ROOT_2.into()]));
    }

    #[test]
    fn create_without_principals_is_one_call() {
        let mut s = spec();
        s.allowed_principals = None;
        assert_eq!(plan(&desired(&s), None, &BTreeSet::new(), true).len(), 1);
    }

    #[test]
    fn a_deleted_service_is_created_again() {
        let d = desired(&spec());
        let (mut observed, principals) = in_sync(&d);
        observed.state = Some("Deleted".into());
        assert!(matches!(plan(&d, Some(&observed), &principals, true)[0], ServiceAction::Create(_)));
    }

    #[test]
    fn in_sync_service_needs_nothing() {
        let d = desired(&spec());
        let (observed, principals) = in_sync(&d);
        assert_eq!(plan(&d, Some(&observed), &principals, true), vec![]);
    }

    #[test]
    fn sets_in_another_order_need_nothing() {
        let mut s = spec();
        s.allowed_principals.as_mut().unwrap().reverse();
        s.supported_regions.as_mut().unwrap().reverse();
        let (observed, principals) = in_sync(&desired(&spec()));
        assert_eq!(plan(&desired(&s), Some(&observed), &principals, true), vec![]);
    }

    #[test]
    fn own_region_in_supported_regions_is_ignored_on_both_sides() {
        let mut s = spec();
        s.supported_regions.as_mut().unwrap().push("us-east-1".into());
        let d = desired(&s);
        assert!(!d.supported_regions.as_ref().unwrap().contains("us-east-1"));
        let (observed, principals) = in_sync(&d);
        assert!(observed.supported_regions.contains_key("us-east-1"));
        assert_eq!(plan(&d, Some(&observed), &principals, true), vec![]);
    }

    #[test]
    fn principals_added_and_removed_as_a_set() {
        let d = desired(&spec());
        let (observed, _) = in_sync(&d);
        let principals = BTreeSet::from([ROOT_1.to_string(), "*".to_string()]);
        assert_eq!(
            plan(&d, Some(&observed), &principals, true),
            vec![
                ServiceAction::AddAllowedPrincipals(vec![ROOT_2.into()]),
                ServiceAction::RemoveAllowedPrincipals(vec!["*".into()]),
            ]
        );
    }

    #[test]
    fn regions_acceptance_and_added_load_balancers_change_in_one_modify_removals_in_another() {
        let mut s = spec();
        s.acceptance_required = Some(false);
        s.supported_regions = Some(vec!["us-west-2".into(), "ap-northeast-1".into()]);
        s.network_load_balancer_arns = Some(vec![NLB_B.into()]);
        let (observed, principals) = in_sync(&desired(&spec()));
        let actions = plan(&desired(&s), Some(&observed), &principals, true);
        let [ServiceAction::Modify(c), ServiceAction::RemoveLoadBalancers(kind, removed)] = actions.as_slice() else {
            panic!("expected a modify, then the removal alone, got {actions:?}")
        };
        assert_eq!(c.acceptance_required, Some(false));
        assert_eq!(c.add_load_balancers, vec![NLB_B.to_string()]);
        assert_eq!(c.add_supported_regions, vec!["ap-northeast-1".to_string()]);
        assert_eq!(c.remove_supported_regions, vec!["eu-west-1".to_string()]);
        assert!(!c.remove_private_dns_name);
        assert_eq!((*kind, removed.clone()), (LoadBalancerKind::Network, vec![NLB_A.to_string()]));
    }

    #[test]
    fn adoption_with_a_minimal_spec_changes_nothing_but_ownership_tags() {
        let adopt: EndpointServiceSpec =
            serde_json::from_value(serde_json::json!({"serviceId": "vpce-svc-0123456789abcdef0"})).unwrap();
        let d = desired(&adopt);
        assert_eq!(d.acceptance_required, None);
        assert_eq!(d.allowed_principals, None);
        assert_eq!(d.supported_regions, None);
        assert_eq!(d.private_dns_name, None);
        assert_eq!(d.load_balancers, None);
        let mut s = spec();
        s.private_dns_name = Some("api.example.com".into());
        s.acceptance_required = Some(false);
        let (mut observed, principals) = in_sync(&desired(&s));
        observed.tags = BTreeMap::from([("owner".into(), "someone-else".into())]);
        let actions = plan(&d, Some(&observed), &principals, false);
        let [ServiceAction::SetTags(tags)] = actions.as_slice() else { panic!("{actions:?}") };
        assert!(tags.keys().all(|k| k.starts_with("privatelink.dev/")), "{tags:?}");
        assert!(check_load_balancers(&d, &[]).is_empty(), "no load balancers named, none checked");
        assert_eq!(plan(&d, None, &BTreeSet::new(), false), vec![], "nothing to create from");
    }

    #[test]
    fn refused_load_balancer_removal_names_the_endpoints_that_hold_it() {
        let connections = vec![
            ObservedConnection {
                endpoint_id: "vpce-0aaa".into(),
                owner: Some("444455556666".into()),
                state: "available".into(),
                ..Default::default()
            },
            ObservedConnection { endpoint_id: "vpce-0bbb".into(), state: "rejected".into(), ..Default::default() },
        ];
        let why = load_balancer_removal_blocked(&[NLB_A.to_string()], &connections);
        assert!(why.contains("vpce-0aaa (account 444455556666, available)"), "{why}");
        assert!(!why.contains("vpce-0bbb"), "a rejected connection holds nothing: {why}");
        assert!(why.contains("decision Reject"), "{why}");
    }

    #[test]
    fn supported_regions_stay_in_the_partition() {
        let mut s = spec();
        s.supported_regions = Some(vec!["cn-north-1".into(), "us-west-2".into()]);
        let problems = DesiredService::from_spec(&s, &owner(), 1, "us-east-1").unwrap_err();
        assert_eq!(problems[0].field, "spec.supportedRegions[0]");
        assert!(problems[0].message.contains("aws-cn"), "{}", problems[0]);
    }

    #[test]
    fn private_dns_name_set_changed_and_removed() {
        let base = desired(&spec());
        let (observed, principals) = in_sync(&base);
        let mut s = spec();
        s.private_dns_name = Some("api.example.com".into());
        let actions = plan(&desired(&s), Some(&observed), &principals, true);
        let [ServiceAction::Modify(c)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(c.private_dns_name.as_deref(), Some("api.example.com"));

        let (with_name, _) = in_sync(&desired(&s));
        let actions = plan(&base, Some(&with_name), &principals, true);
        let [ServiceAction::Modify(c)] = actions.as_slice() else { panic!("{actions:?}") };
        assert!(c.remove_private_dns_name);
        assert_eq!(c.private_dns_name, None);
    }

    #[test]
    fn ip_address_types_only_managed_when_listed() {
        let base = desired(&spec());
        let (observed, principals) = in_sync(&base);
        assert_eq!(plan(&base, Some(&observed), &principals, true), vec![]);
        let mut s = spec();
        s.supported_ip_address_types = vec![ServiceIpAddressType::Ipv6];
        let actions = plan(&desired(&s), Some(&observed), &principals, true);
        let [ServiceAction::Modify(c)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(c.add_ip_address_types, vec!["ipv6".to_string()]);
        assert_eq!(c.remove_ip_address_types, vec!["ipv4".to_string()]);
    }

    #[test]
    fn tags_set_and_deleted_only_on_owned_services() {
        let d = desired(&spec());
        let (mut observed, principals) = in_sync(&d);
        observed.tags.insert("stale".into(), "x".into());
        observed.tags.remove("privatelink.dev/name");
        let actions = plan(&d, Some(&observed), &principals, true);
        assert_eq!(
            actions,
            vec![
                ServiceAction::SetTags(BTreeMap::from([("privatelink.dev/name".into(), "api".into())])),
                ServiceAction::DeleteTags(vec!["stale".into()]),
            ]
        );
        let adopted = plan(&d, Some(&observed), &principals, false);
        assert_eq!(adopted.len(), 1, "an adopted service keeps tags it had: {adopted:?}");
    }

    #[test]
    fn deletion_rejects_connections_then_deletes_notifications_then_the_service() {
        let (observed, _) = in_sync(&desired(&spec()));
        assert_eq!(plan_deletion(Some(&observed), &[], &[]), vec![ServiceAction::Delete]);
        assert_eq!(plan_deletion(None, &[], &[]), vec![]);
        let connections = vec![
            ObservedConnection { endpoint_id: "vpce-a".into(), state: "available".into(), ..Default::default() },
            ObservedConnection {
                endpoint_id: "vpce-b".into(),
                state: "pendingAcceptance".into(),
                ..Default::default()
            },
            ObservedConnection { endpoint_id: "vpce-c".into(), state: "rejected".into(), ..Default::default() },
        ];
        let notifications = vec![ObservedNotification { id: "vpce-nfn-1".into(), ..Default::default() }];
        assert_eq!(
            plan_deletion(Some(&observed), &connections, &notifications),
            vec![
                ServiceAction::RejectConnections(vec!["vpce-a".into(), "vpce-b".into()]),
                ServiceAction::Notification(NotificationAction::Delete(vec!["vpce-nfn-1".into()])),
                ServiceAction::Delete,
            ]
        );
        let deleting = ObservedService { state: Some("Deleting".into()), ..observed };
        assert_eq!(plan_deletion(Some(&deleting), &connections, &[]), vec![]);
    }

    #[test]
    fn follow_up_accepts_by_rule_reconciles_notifications_and_verifies_private_dns() {
        let mut s = spec();
        s.auto_accept = Some(serde_json::from_value(serde_json::json!({"accountIds": ["444455556666"]})).unwrap());
        s.notifications = serde_json::from_value(serde_json::json!([
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:events", "events": ["Connect", "Accept"]}
        ]))
        .unwrap();
        s.private_dns_name = Some("api.example.com".into());
        let d = desired(&s);
        let (mut observed, _) = in_sync(&d);
        observed.private_dns_state = Some("pendingVerification".into());
        let connections = vec![ObservedConnection {
            endpoint_id: "vpce-a".into(),
            owner: Some("444455556666".into()),
            state: "pendingAcceptance".into(),
            ..Default::default()
        }];
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let decided = BTreeMap::new();
        let f = FollowUp {
            connections: &connections,
            notifications: &[],
            decided: &decided,
            verification_started: None,
            now,
            owned: true,
        };
        let actions = plan_follow_up(&d, &observed, &f);
        assert_eq!(actions[0], ServiceAction::AcceptConnections(vec!["vpce-a".into()]));
        assert!(
            matches!(&actions[1], ServiceAction::Notification(NotificationAction::Create { events, .. }) if events == &["Accept".to_string(), "Connect".to_string()])
        );
        assert_eq!(actions[2], ServiceAction::StartPrivateDnsVerification);
        let later = FollowUp { verification_started: Some(now), ..f.clone() };
        assert!(
            !plan_follow_up(&d, &observed, &later).contains(&ServiceAction::StartPrivateDnsVerification),
            "not again at once"
        );
        let hour_later = FollowUp { now: now + jiff::SignedDuration::from_secs(3600), ..later };
        assert!(plan_follow_up(&d, &observed, &hour_later).contains(&ServiceAction::StartPrivateDnsVerification));
        observed.private_dns_state = Some("verified".into());
        assert!(!verification_due(&observed, None, now));
        let c = private_dns_condition(&observed);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Verified"));
    }

    #[test]
    fn exposure_warnings_and_pending_regions() {
        let open = BTreeSet::from(["*".to_string()]);
        let warnings = exposure_warnings(&open, false, &[lb(NLB_A, "network", "active", 2)], 6);
        assert_eq!(warnings.iter().map(|w| w.0).collect::<Vec<_>>(), ["OpenToAnyAccount", "ZonesNotServed"]);
        assert!(warnings[1].1.contains("2 of the region's 6"), "{}", warnings[1].1);
        assert!(exposure_warnings(&open, true, &[lb(NLB_A, "network", "active", 6)], 6).is_empty());
        assert_eq!(exposure_condition(&warnings).reason, "OpenToAnyAccount");
        let d = desired(&spec());
        let (mut observed, _) = in_sync(&d);
        observed.supported_regions.insert("ap-south-1".into(), Some("Pending".into()));
        assert_eq!(regions_pending(&observed, "us-east-1"), vec!["ap-south-1 (Pending)".to_string()]);
        let (ready, next) = service_ready(Some("Available"), Some("svc"), &regions_pending(&observed, "us-east-1"));
        assert_eq!((ready.reason.as_str(), next), ("RegionsPending", Next::Poll));
    }

    #[test]
    fn spec_problems_are_reported_with_fields() {
        let mut s = spec();
        s.network_load_balancer_arns = Some(vec![
            "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/a/0123456789abcdef".into(),
        ]);
        let problems = DesiredService::from_spec(&s, &owner(), 1, "us-east-1").unwrap_err();
        assert_eq!(problems[0].field, "spec.networkLoadBalancerArns[0]");
        assert!(problems[0].message.contains("eu-west-1"), "{}", problems[0]);

        s.network_load_balancer_arns = None;
        let problems = DesiredService::from_spec(&s, &owner(), 1, "us-east-1").unwrap_err();
        assert!(problems[0].message.contains("set networkLoadBalancerArns or gatewayLoadBalancerArns"));

        s.gateway_load_balancer_arns = Some(vec![
            "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/gwy/g/0123456789abcdef".into(),
        ]);
        s.private_dns_name = Some("api.example.com".into());
        let problems = DesiredService::from_spec(&s, &owner(), 1, "us-east-1").unwrap_err();
        assert_eq!(problems[0].field, "spec.privateDnsName");
    }

    #[test]
    fn region_defaults_to_the_operator_region() {
        let d = DesiredService::from_spec(&spec(), &owner(), 1, "us-east-1").unwrap();
        assert_eq!(d.region, "us-east-1");
    }

    fn lb(arn: &str, lb_type: &str, state: &str, zones: usize) -> ObservedLoadBalancer {
        ObservedLoadBalancer {
            arn: arn.into(),
            lb_type: lb_type.into(),
            state: state.into(),
            availability_zones: (0..zones).map(|i| format!("us-east-1{}", (b'a' + i as u8) as char)).collect(),
        }
    }

    #[test]
    fn load_balancer_checks() {
        let d = desired(&spec());
        assert_eq!(check_load_balancers(&d, &[lb(NLB_A, "network", "active", 2)]), vec![]);
        let missing = check_load_balancers(&d, &[]);
        assert!(missing[0].message.contains("does not exist"), "{missing:?}");
        let wrong = check_load_balancers(&d, &[lb(NLB_A, "application", "active", 2)]);
        assert!(wrong[0].message.contains("type application"), "{wrong:?}");
        let inactive = check_load_balancers(&d, &[lb(NLB_A, "network", "provisioning", 2)]);
        assert!(inactive[0].message.contains("provisioning"), "{inactive:?}");
        let one_zone = check_load_balancers(&d, &[lb(NLB_A, "network", "active", 1)]);
        assert!(one_zone[0].message.contains("at least 2 availability zones"), "{one_zone:?}");
        let mut same_region = spec();
        same_region.supported_regions = None;
        assert_eq!(check_load_balancers(&desired(&same_region), &[lb(NLB_A, "network", "active", 1)]), vec![]);
    }
}
