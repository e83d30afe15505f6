//! The EndpointService's stages: the EndpointConnections of its namespace
//! that decide its connections; the service AWS holds with its load
//! balancers, principals, connections, notifications and what the provider
//! should know (topics, exposure); the desired state with the load-balancer
//! checks; the plan — the service itself first, then what follows once it
//! exists (autoAccept, notifications, private DNS verification); the status.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{
    DesiredService, FollowUp, ServiceAction, check_load_balancers, exposure_condition, exposure_warnings,
    load_balancer_removal_blocked, plan, plan_follow_up, private_dns_condition, regions_pending, service_ready,
};
use crate::api::conditions::{Condition, ConditionStatus, NOTIFICATIONS_DELIVERABLE, condition};
use crate::api::endpoint_service::{PrivateDnsNameConfiguration, SupportedRegionStatus};
use crate::api::{DeletionPolicy, EndpointConnection, EndpointService, EndpointServiceStatus};
use crate::plan::connections::{
    active_remote_regions, connection_statuses, counts, outside_principals, outside_principals_warning,
};
use crate::plan::error::Error;
use crate::plan::facts::{AwsError, ObservedConnection, ObservedLoadBalancer, ObservedNotification, ObservedService};
use crate::plan::notifications::undeliverable;
use crate::plan::reads::{AwsReads, World};
use crate::plan::stages::{Category, PlannedAction, Scope, Settled, Stages, Target, find_owned};
use crate::plan::tags::Claim;
use crate::plan::{Next, SpecProblem};

/// What deleting the object does: the spec's policy, else Retain for an
/// adopted service and Delete for one the operator created.
pub fn effective_policy(svc: &EndpointService) -> DeletionPolicy {
    svc.spec.deletion_policy.unwrap_or(if svc.spec.service_id.is_some() {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// A notification topic and its policy as the service's identity reads it
/// (`Ok(None)`: no policy; None: not known).
pub type TopicPolicy = (String, Option<Result<Option<String>, AwsError>>);

/// What AWS holds for the service, and what decides its connections.
#[derive(Debug, Clone, Default)]
pub struct ServiceObserved {
    /// The service AWS holds.
    pub service: Option<ObservedService>,
    /// The recorded service AWS no longer has.
    pub gone: Option<String>,
    /// The load balancers the spec names, as ELBv2 holds them (None: not known).
    pub load_balancers: Option<Vec<ObservedLoadBalancer>>,
    /// Principals allowed to connect.
    pub principals: BTreeSet<String>,
    /// Its connections.
    pub connections: Vec<ObservedConnection>,
    /// Its connection notifications.
    pub notifications: Vec<ObservedNotification>,
    /// Endpoints an EndpointConnection of the namespace decides (endpoint → object name).
    pub decided: BTreeMap<String, String>,
    /// Endpoints autoAccept rules accepted in this look.
    pub accepted: Vec<String>,
    /// When the operator last asked AWS to verify the current private DNS name.
    pub verification_started: Option<jiff::Timestamp>,
    /// Each notification topic's policy, as the service's identity reads
    /// it (None until read in this look).
    pub topic_policies: Option<Vec<TopicPolicy>>,
    /// The load balancers the exposure warnings judge (the spec's, or the
    /// service's), and the region's Availability Zones (0: unknown); None
    /// until read in this look.
    pub exposure: Option<(Vec<ObservedLoadBalancer>, usize)>,
}

impl PlannedAction for ServiceAction {
    fn aws_action(&self) -> &'static str {
        ServiceAction::aws_action(self)
    }

    fn category(&self) -> Category {
        match self {
            ServiceAction::Create(_) => Category::Create,
            ServiceAction::Delete => Category::Delete,
            _ => Category::Change,
        }
    }

    fn announced(&self) -> bool {
        !matches!(self, ServiceAction::SetTags(_) | ServiceAction::DeleteTags(_))
    }
}

/// True for what follows once the service exists: accepting connections,
/// notifications, private DNS verification.
pub fn is_follow_up(action: &ServiceAction) -> bool {
    matches!(
        action,
        ServiceAction::AcceptConnections(_)
            | ServiceAction::Notification(_)
            | ServiceAction::StartPrivateDnsVerification
    )
}

/// What the previous pass's actions make worth reading again, and how
/// fresh: (the service, its principals, its connections and notifications).
/// A change to the service itself is read back with its principals, the
/// connections as the look found them; what follows (acceptance,
/// notifications, verification) is read back with the service, the
/// principals kept.
pub fn rereads(after: &[ServiceAction], age: Duration) -> (Duration, bool, Duration) {
    match after {
        [] => (age, true, age),
        all if all.iter().all(is_follow_up) => (Duration::ZERO, false, Duration::ZERO),
        _ => (Duration::ZERO, true, age),
    }
}

impl EndpointService {
    fn owned(&self) -> bool {
        self.spec.service_id.is_none()
    }

    fn desired(&self, scope: &Scope) -> Result<DesiredService, Error> {
        DesiredService::from_spec(&self.spec, &scope.owner, scope.generation, &scope.region)
            .map_err(|p| Error::Spec("InvalidSpec", p))
    }

    /// The load balancers the spec names.
    fn load_balancer_arns(&self) -> Vec<String> {
        let arns = self.spec.network_load_balancer_arns.iter().chain(&self.spec.gateway_load_balancer_arns);
        arns.flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect()
    }
}

impl Stages for EndpointService {
    type Status = EndpointServiceStatus;
    type Refs = Vec<EndpointConnection>;
    type Observed = ServiceObserved;
    type Desired = DesiredService;
    type Action = ServiceAction;

    fn moving(status: &Self::Status) -> bool {
        matches!(status.service_state.as_deref(), Some("Pending" | "Deleting"))
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
        // Where the service lives: the spec's region, else the region
        // recorded when it was created (the operator's default may have
        // changed since).
        let region =
            self.spec.region.clone().or_else(|| status.region.clone()).unwrap_or_else(|| default_region.to_string());
        let target = Target {
            role_arn: self.spec.role_arn.clone(),
            external_id: self.spec.external_id.clone(),
            region,
            adopting: self.spec.service_id.clone().map(|id| ("spec.serviceId", id)),
            vpc_id: None,
        };
        Ok((world.endpoint_connections().await?, target))
    }

    fn check(&self, _: &Self::Refs, scope: &Scope) -> Result<(), Error> {
        self.desired(scope).map(|_| ())
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
        let (service_age, read_principals, connections_age) = rereads(after, scope.age);
        let missing = |id: &str| {
            Error::Spec(
                "ServiceNotFound",
                vec![SpecProblem::new(
                    "spec.serviceId",
                    format!(
                        "endpoint service {id} does not exist in {} for this account: check spec.serviceId, spec.region and spec.roleArn, or remove serviceId to create a new service",
                        aws.region()
                    ),
                )],
            )
        };
        let adopt = self.spec.service_id.as_deref();
        let found = find_owned(aws, &scope.owner, adopt, status.service_id.as_deref(), service_age, missing).await?;
        let mut observed = previous.unwrap_or_default();
        observed.accepted.extend(
            after
                .iter()
                .filter_map(|a| match a {
                    ServiceAction::AcceptConnections(ids) => Some(ids.clone()),
                    _ => None,
                })
                .flatten(),
        );
        observed.gone = found.gone;
        observed.service = found.resource;
        if observed.load_balancers.is_none() {
            observed.load_balancers = aws.load_balancers(&self.load_balancer_arns(), scope.age).await?;
        }
        let Some(service) = observed.service.clone() else {
            observed.principals = BTreeSet::new();
            return Ok(observed);
        };
        if read_principals {
            observed.principals = aws.allowed_principals(&service.id).await?;
        }
        // Once the service exists: its connections (one paginated read),
        // what decides each, autoAccept, notifications, private DNS.
        observed.connections = aws.connections_of(&service.id, connections_age).await?;
        let spec_notifications = !self.spec.notifications.is_empty();
        observed.notifications = match self.owned() || spec_notifications {
            true => aws.notifications_of(&service.id, connections_age).await?,
            false => Vec::new(),
        };
        let name = self.metadata.name.clone().unwrap_or_default();
        observed.decided = refs
            .iter()
            .filter(|c| {
                c.spec.service_ref.as_ref().is_some_and(|r| r.name == name)
                    || c.spec.service_id.as_deref() == Some(service.id.as_str())
            })
            .map(|c| (c.spec.vpc_endpoint_id.clone(), c.metadata.name.clone().unwrap_or_default()))
            .collect();
        observed.verification_started = verification_started(status, &service);
        if observed.topic_policies.is_none() {
            let topics: BTreeSet<&String> = self.spec.notifications.iter().map(|n| &n.sns_topic_arn).collect();
            let mut policies = Vec::new();
            for topic in topics {
                policies.push((topic.clone(), world.topic_policy(topic).await));
            }
            observed.topic_policies = Some(policies);
        }
        if observed.exposure.is_none() {
            let load_balancers = match &observed.load_balancers {
                Some(named) if !named.is_empty() => named.clone(),
                _ => {
                    let arns: Vec<String> = service
                        .network_load_balancer_arns
                        .iter()
                        .chain(&service.gateway_load_balancer_arns)
                        .cloned()
                        .collect();
                    aws.load_balancers(&arns, scope.age).await.ok().flatten().unwrap_or_default()
                }
            };
            observed.exposure = Some((load_balancers, aws.zone_count().await.unwrap_or(0)));
        }
        Ok(observed)
    }

    fn record(&self, target: &Target, account: &str, _: &Self::Observed, status: &mut Self::Status) -> bool {
        let changed = status.region.as_deref() != Some(target.region.as_str())
            || status.role_arn != target.role_arn
            || status.account.as_deref() != Some(account);
        status.region = Some(target.region.clone());
        status.role_arn = target.role_arn.clone();
        status.account = Some(account.to_string());
        status.adopted = self.spec.service_id.is_some();
        changed
    }

    fn validate(&self, _: &Self::Refs, observed: &Self::Observed, scope: &Scope) -> Result<Self::Desired, Error> {
        let mut desired = self.desired(scope)?;
        if let Some(gone) = &observed.gone {
            desired.client_token = scope.owner.client_token_replacing(scope.generation, gone);
        }
        if let Some(lbs) = &observed.load_balancers {
            let problems = check_load_balancers(&desired, lbs);
            if !problems.is_empty() {
                return Err(Error::Spec("LoadBalancerCheckFailed", problems));
            }
        }
        Ok(desired)
    }

    fn plan(&self, desired: &Self::Desired, observed: &Self::Observed, scope: &Scope) -> Vec<Self::Action> {
        let actions = plan(desired, observed.service.as_ref(), &observed.principals, self.owned());
        if !actions.is_empty() {
            return actions;
        }
        let Some(service) = &observed.service else { return actions };
        let follow = FollowUp {
            connections: &observed.connections,
            notifications: &observed.notifications,
            decided: &observed.decided,
            verification_started: observed.verification_started,
            now: scope.now,
            owned: self.owned(),
        };
        plan_follow_up(desired, service, &follow)
    }

    fn eventually(&self, desired: &Self::Desired, observed: &Self::Observed, scope: &Scope) -> Vec<Self::Action> {
        if plan(desired, observed.service.as_ref(), &observed.principals, self.owned()).is_empty() {
            return Vec::new();
        }
        // What follows once the service is as the spec says: on the
        // service AWS holds, or the one it will create.
        let service = observed.service.clone().unwrap_or_else(|| ObservedService {
            private_dns_name: desired.private_dns_name.clone().flatten(),
            private_dns_state: Some("pendingVerification".into()),
            ..Default::default()
        });
        let follow = FollowUp {
            connections: &observed.connections,
            notifications: &observed.notifications,
            decided: &observed.decided,
            verification_started: observed.verification_started,
            now: scope.now,
            owned: self.owned(),
        };
        plan_follow_up(desired, &service, &follow)
    }

    fn notes(&self, observed: &Self::Observed) -> Vec<String> {
        let found = observed.service.as_ref();
        found
            .map(|o| format!("found {} ({})", o.id, o.state.as_deref().unwrap_or("unknown state")))
            .into_iter()
            .collect()
    }

    fn warnings(&self, desired: &Self::Desired, observed: &Self::Observed) -> Vec<String> {
        let acceptance = desired
            .acceptance_required
            .unwrap_or_else(|| observed.service.as_ref().is_some_and(|s| s.acceptance_required));
        let allowed = desired.allowed_principals.clone().unwrap_or_else(|| observed.principals.clone());
        let (load_balancers, zones) = observed.exposure.clone().unwrap_or_default();
        exposure_warnings(&allowed, acceptance, &load_balancers, zones).into_iter().map(|(_, w)| w).collect()
    }

    fn claim<'a>(&'a self, observed: &'a Self::Observed) -> Claim<'a> {
        match &observed.service {
            None => Claim::CreateService,
            Some(s) => Claim::Change { id: &s.id, adopting: !self.owned() },
        }
    }

    fn resource_id(observed: &Self::Observed) -> Option<&str> {
        observed.service.as_ref().map(|s| s.id.as_str())
    }

    fn created(status: &mut Self::Status, id: &str) {
        status.service_id = Some(id.to_string());
    }

    fn carried_out(&self, action: &Self::Action, status: &mut Self::Status, scope: &Scope) {
        if *action == ServiceAction::StartPrivateDnsVerification
            && let Some(config) = status.private_dns_name_configuration.as_mut()
        {
            config.verification_started_at = Some(scope.now.to_string());
        }
    }

    fn advise(
        &self,
        action: &Self::Action,
        _: &AwsError,
        _: &Self::Desired,
        observed: &Self::Observed,
    ) -> Option<String> {
        match action {
            ServiceAction::RemoveLoadBalancers(_, removed) => {
                Some(load_balancer_removal_blocked(removed, &observed.connections))
            }
            _ => None,
        }
    }

    fn fill(&self, observed: &Self::Observed, _: Option<&Self::Desired>, status: &mut Self::Status) {
        if let Some(o) = &observed.service {
            fill_status(status, o, &observed.principals);
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
        let Some(service) = &observed.service else {
            let (ready, next) = service_ready(None, None, &[]);
            return Ok(Settled::new(vec![ready], next));
        };
        let role_account = self.spec.role_arn.as_deref().and_then(|r| r.split(':').nth(4)).unwrap_or_default();
        let connections = &observed.connections;
        let outside = outside_principals(connections, &observed.principals, role_account);
        status.connections =
            connection_statuses(connections, &observed.decided, &observed.accepted, &outside, &status.connections);
        status.connection_counts = counts(connections);
        status.active_remote_regions = active_remote_regions(connections, &desired.region);
        status.notification_ids = observed.notifications.iter().map(|n| (n.topic_arn.clone(), n.id.clone())).collect();
        let pending_regions = regions_pending(service, &desired.region);
        let (ready, mut next) = service_ready(service.state.as_deref(), service.name.as_deref(), &pending_regions);
        let dns = private_dns_condition(service);
        if dns.reason == "PendingVerification" || !desired.auto_accept.is_empty() {
            next = Next::Poll;
        }
        let deliverable = deliverability(desired, observed.topic_policies.as_deref().unwrap_or_default());
        let (load_balancers, zones) = observed.exposure.clone().unwrap_or_default();
        let mut warnings = exposure_warnings(&observed.principals, service.acceptance_required, &load_balancers, zones);
        if let Some(w) = outside_principals_warning(&outside) {
            warnings.push(("ConnectedOutsidePrincipals", w));
        }
        Ok(Settled::new(vec![ready, dns, deliverable, exposure_condition(&warnings)], next))
    }
}

/// When the operator last asked AWS to verify the current private DNS name.
fn verification_started(status: &EndpointServiceStatus, observed: &ObservedService) -> Option<jiff::Timestamp> {
    let config = status.private_dns_name_configuration.as_ref()?;
    if config.name != observed.private_dns_name {
        return None;
    }
    config.verification_started_at.as_deref()?.parse().ok()
}

/// NotificationsDeliverable: every topic exists and lets vpce.amazonaws.com publish.
fn deliverability(desired: &DesiredService, policies: &[TopicPolicy]) -> Condition {
    if desired.notifications.is_empty() {
        return condition(NOTIFICATIONS_DELIVERABLE, ConditionStatus::True, "NoNotifications", "no notifications");
    }
    let mut problems = Vec::new();
    for (topic, policy) in policies {
        match policy {
            Some(Ok(policy)) => problems.extend(undeliverable(topic, policy.as_deref())),
            Some(Err(e)) => problems.push(format!(
                "cannot read SNS topic {topic} to check its policy ({e}): grant sns:GetTopicAttributes on it"
            )),
            None => {}
        }
    }
    if problems.is_empty() {
        condition(
            NOTIFICATIONS_DELIVERABLE,
            ConditionStatus::True,
            "Deliverable",
            "every topic accepts what AWS publishes",
        )
    } else {
        condition(NOTIFICATIONS_DELIVERABLE, ConditionStatus::False, "TopicRefuses", problems.join("; "))
    }
}

fn fill_status(status: &mut EndpointServiceStatus, o: &ObservedService, principals: &BTreeSet<String>) {
    status.service_id = Some(o.id.clone());
    status.service_name = o.name.clone();
    status.service_state = o.state.clone();
    status.acceptance_required = Some(o.acceptance_required);
    status.base_endpoint_dns_names = o.base_endpoint_dns_names.clone();
    status.availability_zones = o.availability_zones.clone();
    // When verification was last started, kept while the name stays the same.
    let started = status
        .private_dns_name_configuration
        .as_ref()
        .filter(|c| c.name == o.private_dns_name)
        .and_then(|c| c.verification_started_at.clone());
    status.private_dns_name_configuration = o.private_dns_name.as_ref().map(|name| PrivateDnsNameConfiguration {
        verification_started_at: started,
        name: Some(name.clone()),
        state: o.private_dns_state.clone(),
        r#type: o.private_dns_record_type.clone(),
        record_name: o.private_dns_record_name.clone(),
        value: o.private_dns_record_value.clone(),
    });
    status.allowed_principals = principals.iter().cloned().collect();
    status.supported_regions = o
        .supported_regions
        .iter()
        .map(|(region, state)| SupportedRegionStatus { region: region.clone(), state: state.clone() })
        .collect();
    status.supported_ip_address_types = o.supported_ip_address_types.iter().cloned().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_pass_reads_again_depends_on_what_it_carried_out() {
        let age = Duration::from_secs(300);
        assert_eq!(rereads(&[], age), (age, true, age), "a first look reads as old as allowed");
        let accept = ServiceAction::AcceptConnections(vec!["vpce-1".into()]);
        assert_eq!(
            rereads(&[accept.clone(), ServiceAction::StartPrivateDnsVerification], age),
            (Duration::ZERO, false, Duration::ZERO),
            "after what follows: the service and its connections now, the principals kept"
        );
        let tags = ServiceAction::SetTags(BTreeMap::from([("k".to_string(), "v".to_string())]));
        assert_eq!(
            rereads(&[tags, accept], age),
            (Duration::ZERO, true, age),
            "a change to the service: it and its principals now"
        );
    }

    #[test]
    fn follow_ups_are_told_from_changes_to_the_service() {
        assert!(is_follow_up(&ServiceAction::StartPrivateDnsVerification));
        assert!(!is_follow_up(&ServiceAction::AddAllowedPrincipals(vec!["*".into()])));
        assert_eq!(ServiceAction::Delete.category(), Category::Delete);
        assert!(!ServiceAction::DeleteTags(vec![]).announced());
    }
}
