//! The InterfaceEndpoint's stages: the service it names (by name, or an
//! in-cluster EndpointService once Available), the endpoint AWS holds and
//! what the consumer's account sees of the service, the desired state with
//! the checks AWS would refuse (replacement, VPC DNS, zones), the plan, the
//! status.

use std::time::Duration;

use super::{
    DesiredEndpoint, EndpointAction, ResolvedService, accepted_condition, hint, is_aws_service, is_settled, plan,
    private_dns_deferred, ready_condition, replacement_needed, requester_managed_note, service_dns_condition,
    subnet_zone_problems, vpc_dns_problem,
};
use crate::api::conditions::{Condition, ConditionStatus, READY, condition};
use crate::api::interface_endpoint::DnsEntry;
use crate::api::{DeletionPolicy, InterfaceEndpoint, InterfaceEndpointStatus};
use crate::plan::error::Error;
use crate::plan::facts::{AwsError, ObservedEndpoint, ServiceOffer, Subnet};
use crate::plan::reads::{AwsReads, World};
use crate::plan::stages::{Category, PlannedAction, Scope, Settled, Stages, Target, find_owned};
use crate::plan::tags::Claim;
use crate::plan::{Next, SpecProblem};

/// What deleting the object does: the spec's policy, else Retain for an
/// adopted endpoint and Delete for one the operator created.
pub fn effective_policy(ep: &InterfaceEndpoint) -> DeletionPolicy {
    ep.spec.deletion_policy.unwrap_or(if ep.spec.vpc_endpoint_id.is_some() {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// What the endpoint's Kubernetes references resolve to.
#[derive(Debug, Clone)]
pub struct EndpointRefs {
    /// The service to connect to, or why there is none yet (a missing or
    /// not yet Available EndpointService): reported after the tenancy
    /// rules, which come first.
    pub service: Result<ResolvedService, Error>,
    /// Whether connections may need the provider's acceptance (unknown
    /// counts as yes).
    pub acceptance_may_be_required: bool,
    /// The in-cluster service's private DNS name, while not verified.
    pub unverified_service_dns: Option<String>,
}

/// What AWS holds for the endpoint, and what the consumer's account sees.
#[derive(Debug, Clone)]
pub struct EndpointObserved {
    /// The service, its type as AWS lists it.
    pub service: ResolvedService,
    /// Whether connections may need the provider's acceptance.
    pub acceptance_may_be_required: bool,
    /// The endpoint AWS holds.
    pub endpoint: Option<ObservedEndpoint>,
    /// The recorded endpoint AWS no longer has.
    pub gone: Option<String>,
    /// What the account sees of the service, read before creating.
    pub offer: Option<ServiceOffer>,
    /// The VPC's DNS attributes, read when private DNS is to be turned on.
    pub vpc_dns: Option<(bool, bool)>,
    /// The subnets' zones, read before creating in the service's region.
    pub subnets: Option<Vec<Subnet>>,
    /// Account that must accept the connection, when known.
    pub service_owner: Option<String>,
    /// TrafficAllowed, once the endpoint is available.
    pub traffic: Option<Condition>,
    /// The in-cluster service's private DNS name, while not verified.
    pub unverified_service_dns: Option<String>,
}

impl PlannedAction for EndpointAction {
    fn aws_action(&self) -> &'static str {
        EndpointAction::aws_action(self)
    }

    fn category(&self) -> Category {
        match self {
            EndpointAction::Create(_) => Category::Create,
            EndpointAction::Delete => Category::Delete,
            _ => Category::Change,
        }
    }

    fn announced(&self) -> bool {
        !matches!(self, EndpointAction::SetTags(_) | EndpointAction::DeleteTags(_))
    }
}

/// What the previous pass's actions make worth reading again: the endpoint
/// after any change (by id, now), except after a creation alone, whose
/// answer the snapshot already holds.
pub fn endpoint_age(after: &[EndpointAction], age: Duration) -> Duration {
    match after {
        [] => age,
        all if all.iter().all(|a| matches!(a, EndpointAction::Create(_))) => Duration::MAX,
        _ => Duration::ZERO,
    }
}

impl Stages for InterfaceEndpoint {
    type Status = InterfaceEndpointStatus;
    type Refs = EndpointRefs;
    type Observed = EndpointObserved;
    type Desired = DesiredEndpoint;
    type Action = EndpointAction;

    fn moving(status: &Self::Status) -> bool {
        matches!(status.state.as_deref(), Some("pending" | "pendingAcceptance" | "deleting"))
    }

    fn prepare(&self, status: &mut Self::Status) {
        status.deletion_policy = Some(effective_policy(self));
    }

    async fn dereference<W: World>(
        &self,
        world: &W,
        status: &Self::Status,
        default_region: &str,
    ) -> Result<(Self::Refs, Target), Error> {
        let region =
            self.spec.region.clone().or_else(|| status.region.clone()).unwrap_or_else(|| default_region.to_string());
        let target = Target {
            role_arn: self.spec.role_arn.clone(),
            external_id: self.spec.external_id.clone(),
            region,
            adopting: self.spec.vpc_endpoint_id.clone().map(|id| ("spec.vpcEndpointId", id)),
            vpc_id: Some(self.spec.vpc_id.clone()),
        };
        Ok((resolve_service(self, world).await, target))
    }

    async fn observe<A: AwsReads, W: World>(
        &self,
        refs: &Self::Refs,
        status: &Self::Status,
        scope: &Scope,
        aws: &A,
        world: &W,
        previous: Option<Self::Observed>,
        after: &[Self::Action],
    ) -> Result<Self::Observed, Error> {
        let mut service = refs.service.clone()?;
        let mut acceptance = refs.acceptance_may_be_required;
        let age = endpoint_age(after, scope.age);
        let adopt = self.spec.vpc_endpoint_id.as_deref();
        let missing = |id: &str| {
            Error::Spec(
                "EndpointNotFound",
                vec![SpecProblem::new(
                    "spec.vpcEndpointId",
                    format!(
                        "endpoint {id} does not exist in {} for this account: check spec.vpcEndpointId, spec.region and spec.roleArn",
                        aws.region()
                    ),
                )],
            )
        };
        let found = find_owned(aws, &scope.owner, adopt, status.vpc_endpoint_id.as_deref(), age, missing).await?;
        // What a previous pass read of the service, the VPC and the subnets
        // still holds: the actions change the endpoint only.
        let (mut offer, mut vpc_dns, mut subnets) = match previous {
            Some(p) => (p.offer, p.vpc_dns, p.subnets),
            None => (None, None, None),
        };
        let mut service_owner = offer.as_ref().and_then(|o| o.owner.clone());
        let region = aws.region().to_string();
        if found.resource.is_none() && offer.is_none() {
            // Before creating: what the consumer's account sees of the
            // service decides the endpoint type and whether acceptance is needed.
            let remote = service.region.clone().filter(|r| *r != region);
            let seen = aws.service_offer(&service.name, remote.as_deref(), scope.age).await.map_err(|e| {
                let advice = DesiredEndpoint::from_spec(&self.spec, &service, &scope.owner, 1, &region)
                    .ok()
                    .and_then(|d| hint(e.code.as_deref(), &d));
                Error::Aws(e, advice)
            })?;
            offer = seen.map(Option::unwrap_or_default);
        }
        if let Some(details) = &offer {
            service.gateway = service.gateway || details.gateway;
            if let Some(required) = details.acceptance_required {
                acceptance = required;
            }
            service_owner = details.owner.clone();
        }
        let endpoint: Option<&ObservedEndpoint> = found.resource.as_ref();
        let wants_dns = self.spec.private_dns_enabled == Some(true) && endpoint.is_none_or(|o| !o.private_dns_enabled);
        if wants_dns && !endpoint.is_some_and(|o| o.requester_managed) && vpc_dns.is_none() {
            vpc_dns = aws.vpc_dns(&self.spec.vpc_id, scope.age).await?;
        }
        let in_service_region = service.region.as_ref().is_none_or(|r| *r == region);
        if let (Some(details), Some(ids)) = (&offer, self.subnet_ids())
            && in_service_region
            && !details.zone_ids.is_empty()
            && subnets.is_none()
        {
            subnets = aws.subnets(&ids, scope.age).await?;
        }
        // Who must accept: worth a lookup only while the connection waits.
        if service_owner.is_none()
            && let Some(o) = endpoint
            && o.state == "pendingAcceptance"
        {
            let name = o.service_name.clone();
            let remote = o.service_region.clone().filter(|r| *r != region);
            service_owner = aws
                .service_offer(&name, remote.as_deref(), scope.age)
                .await
                .ok()
                .flatten()
                .flatten()
                .and_then(|d| d.owner);
        }
        let traffic = match endpoint {
            Some(o) if o.state == "available" && !service.gateway && !o.security_group_ids.is_empty() => {
                world.traffic_allowed(o, scope.age.is_zero()).await
            }
            _ => None,
        };
        Ok(EndpointObserved {
            service,
            acceptance_may_be_required: acceptance,
            endpoint: found.resource,
            gone: found.gone,
            offer,
            vpc_dns,
            subnets,
            service_owner,
            traffic,
            unverified_service_dns: refs.unverified_service_dns.clone(),
        })
    }

    fn record(&self, target: &Target, account: &str, _: &Self::Observed, status: &mut Self::Status) -> bool {
        let changed = status.region.as_deref() != Some(target.region.as_str())
            || status.role_arn != target.role_arn
            || status.account.as_deref() != Some(account);
        status.region = Some(target.region.clone());
        status.role_arn = target.role_arn.clone();
        status.account = Some(account.to_string());
        status.adopted = self.spec.vpc_endpoint_id.is_some();
        changed
    }

    fn validate(&self, _: &Self::Refs, observed: &Self::Observed, scope: &Scope) -> Result<Self::Desired, Error> {
        let mut desired =
            DesiredEndpoint::from_spec(&self.spec, &observed.service, &scope.owner, scope.generation, &scope.region)
                .map_err(|p| Error::Spec("InvalidSpec", p))?;
        if let Some(gone) = &observed.gone {
            desired.client_token = scope.owner.client_token_replacing(scope.generation, gone);
        }
        if let Some(o) = &observed.endpoint {
            let problems = replacement_needed(&desired, o);
            if !problems.is_empty() {
                return Err(Error::Spec("ReplacementRequired", problems));
            }
        }
        if let Some((support, hostnames)) = observed.vpc_dns
            && let Some(problem) = vpc_dns_problem(&desired, support, hostnames)
        {
            return Err(Error::Spec("VpcDnsDisabled", vec![problem]));
        }
        if let (Some(offer), Some(subnets)) = (&observed.offer, &observed.subnets) {
            let problems = subnet_zone_problems(&desired, offer, subnets);
            if !problems.is_empty() {
                return Err(Error::Spec("SubnetZoneNotServed", problems));
            }
        }
        Ok(desired)
    }

    fn plan(&self, desired: &Self::Desired, observed: &Self::Observed, _: &Scope) -> Vec<Self::Action> {
        let owned = self.spec.vpc_endpoint_id.is_none();
        plan(desired, observed.endpoint.as_ref(), observed.acceptance_may_be_required, owned)
    }

    fn claim<'a>(&'a self, observed: &'a Self::Observed) -> Claim<'a> {
        match &observed.endpoint {
            None => Claim::CreateEndpoint,
            Some(o) => Claim::Change { id: &o.id, adopting: self.spec.vpc_endpoint_id.is_some() },
        }
    }

    fn resource_id(observed: &Self::Observed) -> Option<&str> {
        observed.endpoint.as_ref().map(|o| o.id.as_str())
    }

    fn created(status: &mut Self::Status, id: &str) {
        status.vpc_endpoint_id = Some(id.to_string());
    }

    fn advise(
        &self,
        _: &Self::Action,
        error: &AwsError,
        desired: &Self::Desired,
        _: &Self::Observed,
    ) -> Option<String> {
        hint(error.code.as_deref(), desired)
    }

    fn notes(&self, observed: &Self::Observed) -> Vec<String> {
        let Some(o) = &observed.endpoint else { return Vec::new() };
        let mut notes = vec![format!("found {} ({})", o.id, o.state)];
        notes.extend(requester_managed_note(o).map(|note| format!("note: {note}")));
        notes
    }

    fn fill(&self, observed: &Self::Observed, desired: Option<&Self::Desired>, status: &mut Self::Status) {
        if let Some(d) = desired {
            status.service_name = Some(d.service_name.clone());
            status.service_region = d.service_region.clone();
        }
        let Some(o) = &observed.endpoint else { return };
        status.vpc_endpoint_id = Some(o.id.clone());
        status.state = Some(o.state.clone());
        status.dns_entries = o
            .dns_entries
            .iter()
            .map(|(name, zone)| DnsEntry { dns_name: name.clone(), hosted_zone_id: zone.clone() })
            .collect();
        status.network_interface_ids = o.network_interface_ids.clone();
        status.requester_managed = o.requester_managed;
        status.owner_id = o.owner_id.clone();
        status.last_error = o.last_error.clone();
        if let Some(region) = &o.service_region
            && status.service_region.is_some()
        {
            status.service_region = Some(region.clone());
        }
    }

    fn conclude(
        &self,
        _: &Self::Refs,
        observed: &Self::Observed,
        desired: &Self::Desired,
        _: &Scope,
        status: &mut Self::Status,
    ) -> Result<Settled, Error> {
        let Some(o) = &observed.endpoint else {
            return Ok(Settled::new(
                vec![condition(READY, ConditionStatus::False, "Pending", "waiting for AWS")],
                Next::Poll,
            ));
        };
        let deferred = private_dns_deferred(desired, o);
        let mut conditions = vec![
            accepted_condition(&o.state, status.service_name.as_deref(), observed.service_owner.as_deref()),
            ready_condition(o, deferred),
        ];
        conditions
            .extend(service_dns_condition(self.spec.private_dns_enabled, observed.unverified_service_dns.as_deref()));
        conditions.extend(observed.traffic.clone());
        let next = if is_settled(o, deferred) { Next::Resync } else { Next::Poll };
        let mut settled = Settled::new(conditions, next);
        settled.synced = requester_managed_note(o).map(|note| ("RequesterManaged", note));
        Ok(settled)
    }
}

impl InterfaceEndpoint {
    /// The subnets the spec names (subnetIds, or subnetConfigurations'),
    /// sorted.
    fn subnet_ids(&self) -> Option<Vec<String>> {
        let ids: std::collections::BTreeSet<String> = match (&self.spec.subnet_ids, &self.spec.subnet_configurations) {
            (Some(ids), _) => ids.iter().cloned().collect(),
            (None, Some(configs)) => configs.iter().map(|c| c.subnet_id.clone()).collect(),
            (None, None) => return None,
        };
        Some(ids.into_iter().collect())
    }
}

/// The service named by `serviceName`, or by `serviceRef` once that
/// EndpointService is Available; and whether it may require acceptance.
async fn resolve_service<W: World>(ep: &InterfaceEndpoint, world: &W) -> EndpointRefs {
    let waiting =
        |e: Error| EndpointRefs { service: Err(e), acceptance_may_be_required: true, unverified_service_dns: None };
    if let Some(name) = &ep.spec.service_name {
        let resolved = ResolvedService { name: name.clone(), region: ep.spec.service_region.clone(), gateway: false };
        return EndpointRefs {
            service: Ok(resolved),
            acceptance_may_be_required: !is_aws_service(name),
            unverified_service_dns: None,
        };
    }
    let Some(reference) = &ep.spec.service_ref else {
        return waiting(Error::Spec(
            "InvalidSpec",
            vec![SpecProblem::new("spec", "set exactly one of serviceName and serviceRef")],
        ));
    };
    let ns = ep.metadata.namespace.clone().unwrap_or_default();
    let svc = match world.endpoint_service(&reference.name).await {
        Ok(svc) => svc,
        Err(e) => {
            return waiting(Error::Waiting(
                "ServiceUnreadable",
                format!("cannot read EndpointService {}: {e}", reference.name),
            ));
        }
    };
    let Some(svc) = svc else {
        return waiting(Error::Waiting(
            "ServiceNotFound",
            format!(
                "EndpointService {} does not exist in namespace {ns}: create it or fix spec.serviceRef",
                reference.name
            ),
        ));
    };
    let status = svc.status.clone().unwrap_or_default();
    match (&status.service_name, status.service_state.as_deref()) {
        (Some(name), Some("Available")) => EndpointRefs {
            service: Ok(ResolvedService {
                name: name.clone(),
                region: status.region.clone(),
                gateway: svc.spec.gateway_load_balancer_arns.is_some(),
            }),
            acceptance_may_be_required: status.acceptance_required.unwrap_or(true),
            unverified_service_dns: status
                .private_dns_name_configuration
                .as_ref()
                .filter(|c| c.state.as_deref() != Some("verified"))
                .and_then(|c| c.name.clone()),
        },
        (_, state) => waiting(Error::Waiting(
            "WaitingForService",
            format!(
                "waiting for EndpointService {} to be Available (now {}); the endpoint is created once it is",
                reference.name,
                state.unwrap_or("not created yet")
            ),
        )),
    }
}
