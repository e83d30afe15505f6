//! EndpointService reconciler: identity and tenancy → dereference (AWS
//! state) → validate (spec, load balancers) → plan → apply → status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{
    CleanupTarget, Context, Error, Found, Reconcile, Refusal, Settled, block_deletion, cleanup_target,
    deletion_blocked, deletion_refused, drive, error_policy, let_go, record_target, scopes,
};
use crate::api::conditions::{Condition, ConditionStatus, NOTIFICATIONS_DELIVERABLE, condition};
use crate::api::endpoint_service::{PrivateDnsNameConfiguration, SupportedRegionStatus};
use crate::api::{DeletionPolicy, EndpointConnection, EndpointService, EndpointServiceStatus, InterfaceEndpoint};
use crate::aws::guard::Claim;
use crate::aws::{Identity, RegionClients};
use crate::plan::Next;
use crate::plan::SpecProblem;
use crate::plan::connections::{
    active_remote_regions, connection_statuses, counts, outside_principals, outside_principals_warning,
};
use crate::plan::endpoint_service::{
    DesiredService, FollowUp, ServiceAction, check_load_balancers, exposure_condition, exposure_warnings,
    load_balancer_removal_blocked, plan, plan_deletion, plan_follow_up, private_dns_condition, regions_pending,
    service_ready,
};
use crate::plan::facts::{ObservedLoadBalancer, ObservedService};
use crate::plan::notifications::undeliverable;
use crate::plan::tags::{Owner, Ownership};

/// Run the EndpointService controllers (one per watched namespace, or one
/// for the cluster) until their streams end.
pub async fn run(ctx: Arc<Context>) {
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    let controllers = scopes::<EndpointService>(&ctx).into_iter().enumerate().map(|(i, api)| {
        let controller = super::controller_for(api, &ctx).with_config(config.clone());
        ctx.report_synced(format!("EndpointService/{i}"), controller.store());
        drive(controller.shutdown_on_signal().run(super::reconcile_cached, error_policy, ctx.clone()))
    });
    futures::future::join_all(controllers).await;
}

/// Reconcile one EndpointService (the shared skeleton, filled in below).
pub async fn reconcile(svc: Arc<EndpointService>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::reconcile(svc, ctx).await
}

impl Reconcile for EndpointService {
    type Status = EndpointServiceStatus;

    fn status(&self) -> Option<&EndpointServiceStatus> {
        self.status.as_ref()
    }

    async fn sync(
        &self,
        api: &Api<EndpointService>,
        ctx: &Context,
        status: &mut EndpointServiceStatus,
    ) -> Result<Settled, Error> {
        status.deletion_policy = Some(effective_policy(self));
        let base = sync(self, api, ctx, status).await?;
        match base.observed.clone() {
            Some(observed) => follow_up(self, ctx, status, &base, &observed).await,
            None => {
                let (ready, next) = service_ready(None, None, &[]);
                Ok(Settled::new(vec![ready], next))
            }
        }
    }

    async fn cleanup(&self, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

fn owner(svc: &EndpointService, ctx: &Context) -> Owner {
    Owner {
        cluster: ctx.settings.cluster_id().to_string(),
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        uid: svc.uid().unwrap_or_default(),
    }
}

/// What deleting the object does: the spec's policy, else Retain for an
/// adopted service and Delete for one the operator created.
fn effective_policy(svc: &EndpointService) -> DeletionPolicy {
    svc.spec.deletion_policy.unwrap_or(if svc.spec.service_id.is_some() {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// What the first phase of a sync learned, for the follow-up.
struct Base {
    desired: DesiredService,
    observed: Option<ObservedService>,
    principals: BTreeSet<String>,
    load_balancers: Vec<ObservedLoadBalancer>,
    aws: Arc<RegionClients>,
    identity: Identity,
    /// How old a snapshot of AWS the follow-up may use.
    age: std::time::Duration,
}

/// Tenancy, dereference, validate, plan and apply the service itself;
/// fills `status` as it learns.
async fn sync(
    svc: &EndpointService,
    api: &Api<EndpointService>,
    ctx: &Context,
    status: &mut EndpointServiceStatus,
) -> Result<Base, Error> {
    let owner = owner(svc, ctx);
    let identity = ctx
        .identity(&owner.namespace, svc.spec.role_arn.as_deref(), svc.spec.external_id.as_deref())
        .map_err(Error::Refused)?;
    if svc.spec.service_id.is_some() {
        ctx.may_adopt(&owner.namespace, "spec.serviceId").map_err(Error::Refused)?;
    }
    let generation = svc.meta().generation.unwrap_or(1);
    // Where the service lives: the spec's region, else the region recorded
    // when it was created (the operator's default may have changed since).
    let default_region = status.region.clone().unwrap_or_else(|| ctx.settings.default_region().to_string());
    let mut desired = DesiredService::from_spec(&svc.spec, &owner, generation, &default_region)
        .map_err(|p| Error::Spec("InvalidSpec", p))?;
    let account = super::acting_account(ctx, &identity, status.account.as_deref()).await?;
    if status.region.as_deref() != Some(desired.region.as_str())
        || status.role_arn != svc.spec.role_arn
        || status.account.as_deref() != Some(account.as_str())
    {
        let before = status.clone();
        status.region = Some(desired.region.clone());
        status.role_arn = svc.spec.role_arn.clone();
        status.account = Some(account);
        record_target(api, svc, Some(&before), status).await?;
    }
    let aws = ctx.aws.for_region(&identity, &desired.region).await;

    let moving = matches!(status.service_state.as_deref(), Some("Pending" | "Deleting"));
    let age = ctx.read_age(svc, moving);
    let observed = observe(svc, &aws, status, &owner, &mut desired, age).await?;
    if let Some(o) = &observed {
        super::log_aws_id(&o.id);
    }
    status.adopted = svc.spec.service_id.is_some();
    let lbs = aws.load_balancers(&desired.load_balancer_arns(), age).await.map_err(|e| Error::Aws(e, None))?;
    let lb_problems = check_load_balancers(&desired, &lbs);
    if !lb_problems.is_empty() {
        return Err(Error::Spec("LoadBalancerCheckFailed", lb_problems));
    }
    let principals = match &observed {
        Some(o) => aws.allowed_principals(&o.id).await.map_err(|e| Error::Aws(e, None))?,
        None => BTreeSet::new(),
    };
    let owned = svc.spec.service_id.is_none();
    let actions = plan(&desired, observed.as_ref(), &principals, owned);

    let mut service_id = observed.as_ref().map(|o| o.id.clone());
    let mut permit = match (actions.is_empty(), &service_id) {
        (true, _) => None,
        (false, None) => Some(super::guard(&aws, &owner, Claim::CreateService).await?),
        (false, Some(id)) => Some(super::guard(&aws, &owner, Claim::Change { id, adopting: !owned }).await?),
    };
    let mut failed = None;
    for action in &actions {
        let Some(granted) = &permit else { break };
        tracing::info!(action = %action, "applying");
        match aws.apply_service_action(granted, service_id.as_deref(), action).await {
            Ok(Some(id)) => {
                super::log_aws_id(&id);
                tracing::info!("created");
                status.service_id = Some(id.clone());
                permit = permit.map(|p| p.created(&id));
                service_id = Some(id);
            }
            Ok(None) => {}
            Err(e) => {
                failed = Some(match (action, &service_id) {
                    (ServiceAction::RemoveLoadBalancers(_, removed), Some(id)) => {
                        let connections = aws.service_connections(id).await.unwrap_or_default();
                        let why = load_balancer_removal_blocked(removed, &connections);
                        Error::Aws(e, Some(why))
                    }
                    _ => Error::Aws(e, None),
                });
                break;
            }
        }
        if !matches!(action, ServiceAction::SetTags(_) | ServiceAction::DeleteTags(_)) {
            ctx.event(svc, EventType::Normal, action.aws_action(), action.to_string()).await;
        }
    }
    let (observed, principals) = match (&service_id, actions.is_empty()) {
        (Some(id), false) => {
            let o = aws.find_service(id).await.map_err(|e| Error::Aws(e, None))?;
            if let Some(fresh) = &o {
                aws.note_service(fresh).await;
            }
            (o, aws.allowed_principals(id).await.map_err(|e| Error::Aws(e, None))?)
        }
        _ => (observed, principals),
    };
    if let Some(o) = &observed {
        fill_status(status, o, &principals);
    }
    if let Some(failure) = failed {
        return Err(failure);
    }
    Ok(Base { desired, observed, principals, load_balancers: lbs, aws, identity, age })
}

/// Once the service exists: its connections (one paginated read), what
/// decides each, autoAccept, notifications, private DNS verification, and
/// the conditions that say what the provider should know.
async fn follow_up(
    svc: &EndpointService,
    ctx: &Context,
    status: &mut EndpointServiceStatus,
    base: &Base,
    observed: &ObservedService,
) -> Result<Settled, Error> {
    let aws = &base.aws;
    let owned = svc.spec.service_id.is_none();
    let read_notifications = owned || !base.desired.notifications.is_empty();
    let read = |age: std::time::Duration| async move {
        let connections = aws.connections_of(&observed.id, age).await.map_err(Error::aws)?;
        let notifications = match read_notifications {
            true => aws.notifications_of(&observed.id, age).await.map_err(Error::aws)?,
            false => Vec::new(),
        };
        Ok::<_, Error>((connections, notifications))
    };
    let (mut connections, mut notifications) = read(base.age).await?;
    let decided = deciding_objects(svc, ctx, &observed.id).await?;
    let started = verification_started(status, observed);
    let now = ctx.clock.now();
    let f = FollowUp {
        connections: &connections,
        notifications: &notifications,
        decided: &decided,
        verification_started: started,
        now,
        owned,
    };
    let actions = plan_follow_up(&base.desired, observed, &f);
    let accepted = actions
        .iter()
        .find_map(|a| match a {
            ServiceAction::AcceptConnections(ids) => Some(ids.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let mut observed = observed.clone();
    let permit = match actions.is_empty() {
        true => None,
        false => Some(super::guard(aws, &owner(svc, ctx), Claim::Change { id: &observed.id, adopting: !owned }).await?),
    };
    for (action, granted) in actions.iter().filter_map(|a| Some((a, permit.as_ref()?))) {
        tracing::info!(action = %action, "applying");
        aws.apply_service_action(granted, Some(&observed.id), action).await.map_err(Error::aws)?;
        ctx.event(svc, EventType::Normal, action.aws_action(), action.to_string()).await;
        if *action == ServiceAction::StartPrivateDnsVerification
            && let Some(config) = status.private_dns_name_configuration.as_mut()
        {
            config.verification_started_at = Some(now.to_string());
        }
    }
    if !actions.is_empty() {
        // What the actions changed, read again (and kept for the others).
        (connections, notifications) = read(std::time::Duration::ZERO).await?;
        if let Some(fresh) = aws.service(&observed.id, std::time::Duration::ZERO).await.map_err(Error::aws)? {
            fill_status(status, &fresh, &base.principals);
            observed = fresh;
        }
    }

    let outside = outside_principals(&connections, &base.principals, &account_of(&base.identity));
    status.connections = connection_statuses(&connections, &decided, &accepted, &outside, &status.connections);
    status.connection_counts = counts(&connections);
    status.active_remote_regions = active_remote_regions(&connections, &base.desired.region);
    status.notification_ids = notifications.iter().map(|n| (n.topic_arn.clone(), n.id.clone())).collect();

    let pending_regions = regions_pending(&observed, &base.desired.region);
    let (ready, mut next) = service_ready(observed.state.as_deref(), observed.name.as_deref(), &pending_regions);
    let dns = private_dns_condition(&observed);
    if dns.reason == "PendingVerification" || !base.desired.auto_accept.is_empty() {
        next = Next::Poll;
    }
    let deliverable = deliverability(ctx, &base.identity, &base.desired).await;
    let mut warnings = exposure(&base.principals, &observed, &base.load_balancers, aws, base.age).await;
    if let Some(w) = outside_principals_warning(&outside) {
        warnings.push(("ConnectedOutsidePrincipals", w));
    }
    let conditions = vec![ready, dns, deliverable, exposure_condition(&warnings)];
    Ok(Settled::new(conditions, next))
}

/// The account an identity acts in, when its role names it.
fn account_of(identity: &Identity) -> String {
    identity.role_arn.as_deref().and_then(|r| r.split(':').nth(4)).unwrap_or_default().to_string()
}

/// When the operator last asked AWS to verify the current private DNS name.
fn verification_started(status: &EndpointServiceStatus, observed: &ObservedService) -> Option<jiff::Timestamp> {
    let config = status.private_dns_name_configuration.as_ref()?;
    if config.name != observed.private_dns_name {
        return None;
    }
    config.verification_started_at.as_deref()?.parse().ok()
}

/// EndpointConnections of the service's namespace that decide its
/// connections: endpoint id → object name (they win over autoAccept rules).
async fn deciding_objects(
    svc: &EndpointService,
    ctx: &Context,
    service_id: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let api: Api<EndpointConnection> = Api::namespaced(ctx.client.clone(), &ns);
    let name = svc.name_any();
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|c| {
            c.spec.service_ref.as_ref().is_some_and(|r| r.name == name)
                || c.spec.service_id.as_deref() == Some(service_id)
        })
        .map(|c| (c.spec.vpc_endpoint_id.clone(), c.name_any()))
        .collect())
}

/// NotificationsDeliverable: every topic exists and lets vpce.amazonaws.com publish.
async fn deliverability(ctx: &Context, identity: &Identity, desired: &DesiredService) -> Condition {
    if desired.notifications.is_empty() {
        return condition(NOTIFICATIONS_DELIVERABLE, ConditionStatus::True, "NoNotifications", "no notifications");
    }
    let mut problems = Vec::new();
    for topic in desired.notifications.keys() {
        let region = topic.split(':').nth(3).unwrap_or(&desired.region);
        let clients = ctx.aws.for_region(identity, region).await;
        match clients.topic_policy(topic).await {
            Ok(policy) => problems.extend(undeliverable(topic, policy.as_deref())),
            Err(e) => problems.push(format!(
                "cannot read SNS topic {topic} to check its policy ({e}): grant sns:GetTopicAttributes on it"
            )),
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

/// The exposure warnings of the service as AWS holds it.
async fn exposure(
    principals: &BTreeSet<String>,
    observed: &ObservedService,
    named: &[ObservedLoadBalancer],
    aws: &RegionClients,
    age: std::time::Duration,
) -> Vec<(&'static str, String)> {
    let load_balancers = if named.is_empty() {
        let arns: Vec<String> =
            observed.network_load_balancer_arns.iter().chain(&observed.gateway_load_balancer_arns).cloned().collect();
        aws.load_balancers(&arns, age).await.unwrap_or_default()
    } else {
        named.to_vec()
    };
    let zones = aws.zone_count().await.unwrap_or(0);
    exposure_warnings(principals, observed.acceptance_required, &load_balancers, zones)
}

/// Find the service this object manages: the id in status, the adopted id
/// in spec, or the one tagged with the object's UID (after a crash between
/// create and status write, or when the recorded service was deleted
/// outside the operator). A service that carries another object's
/// ownership tags is never taken. When the recorded service is gone, the
/// next creation gets a new client token.
async fn observe(
    svc: &EndpointService,
    aws: &RegionClients,
    status: &EndpointServiceStatus,
    owner: &Owner,
    desired: &mut DesiredService,
    age: std::time::Duration,
) -> Result<Option<ObservedService>, Error> {
    let aws_err = |e| Error::Aws(e, None);
    let found = match (&svc.spec.service_id, &status.service_id) {
        (Some(adopt), _) => {
            // Claiming a resource is decided from AWS as it is now, read by
            // id, never from a listing up to a resync old: another object may
            // have claimed it since.
            let cached = aws.service(adopt, age).await.map_err(aws_err)?;
            let found = match cached {
                Some(s) if owner.ownership(&s.tags) == Ownership::Ours => Some(s),
                _ => aws.find_service(adopt).await.map_err(aws_err)?,
            };
            let Some(found) = found else {
                return Err(Error::Spec(
                    "ServiceNotFound",
                    vec![SpecProblem::new(
                        "spec.serviceId",
                        format!(
                            "endpoint service {adopt} does not exist in {} for this account: check spec.serviceId, spec.region and spec.roleArn, or remove serviceId to create a new service",
                            aws.region
                        ),
                    )],
                ));
            };
            Some(found)
        }
        (None, Some(recorded)) => match aws.service(recorded, age).await.map_err(aws_err)? {
            Some(found) => Some(found),
            None => {
                desired.client_token = owner.client_token_replacing(svc.meta().generation.unwrap_or(1), recorded);
                aws.find_owned_service(owner).await.map_err(aws_err)?.filter(|s| s.id != *recorded)
            }
        },
        (None, None) => aws.owned_service(owner, age).await.map_err(aws_err)?,
    };
    if let Some(found) = &found
        && let Ownership::Other(who) = owner.ownership(&found.tags)
    {
        return Err(Error::Refused(Refusal {
            reason: "OwnedByAnotherObject",
            message: format!(
                "endpoint service {} carries the ownership tags of {who}: the operator never adopts or changes another object's service; adopt a service no object manages, or release it from its object first (deletionPolicy: Retain removes the tags)",
                found.id
            ),
        }));
    }
    Ok(found)
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

/// Tear down in the order AWS demands: wait for in-cluster consumers,
/// delete the service configuration, wait until AWS no longer lists it.
/// With Retain, only the ownership tags go. Cleanup acts with the identity
/// and in the region recorded at creation.
async fn cleanup(svc: &EndpointService, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
    let status = svc.status.as_ref();
    let recorded = match status {
        Some(s) if s.region.is_some() => s.region.clone().map(|r| (r, s.role_arn.clone())),
        // Written before regions were recorded: the spec still names them.
        Some(s) if s.service_id.is_some() => Some((
            svc.spec.region.clone().unwrap_or_else(|| ctx.settings.default_region().to_string()),
            svc.spec.role_arn.clone(),
        )),
        _ => None,
    };
    let policy = effective_policy(svc);
    let Some(CleanupTarget { identity, region, policy }) =
        cleanup_target(api, svc, status, ctx, recorded, svc.spec.external_id.as_deref(), policy).await?
    else {
        return Ok(Action::await_change());
    };
    let aws = ctx.aws.for_region(&identity, &region).await;
    let owner = owner(svc, ctx);
    let known = status.and_then(|s| s.service_id.clone()).or_else(|| svc.spec.service_id.clone());
    let existing = match &known {
        Some(id) => aws.service(id, ctx.read_age(svc, false)).await,
        None => aws.owned_service(&owner, ctx.read_age(svc, false)).await,
    };
    let existing = match existing {
        Ok(found) => found,
        Err(e) => return Err(deletion_refused(api, svc, status, ctx, e).await),
    };
    let Some(existing) = existing else { return Ok(Action::await_change()) };
    let found = Found { what: "endpoint service", id: &existing.id, tags: &existing.tags, taggable: true };
    if let Some(done) = let_go(api, svc, status, ctx, &aws, &owner, found, policy).await {
        return done;
    }

    let dependents = in_cluster_dependents(svc, ctx, &existing).await?;
    if !dependents.is_empty() {
        let message = format!("waiting for {} that use this service to be deleted first", dependents.join(", "));
        block_deletion(api, svc, status, "DependentsExist", &message, ctx.clock.now()).await?;
        return Err(Error::Waiting("DependentsExist", message));
    }

    let read = async {
        let connections = aws.service_connections(&existing.id).await?;
        let notifications = aws.notifications(&existing.id).await?;
        Ok::<_, crate::aws::AwsError>((connections, notifications))
    };
    let (connections, notifications) = match read.await {
        Ok(found) => found,
        Err(e) => return Err(deletion_refused(api, svc, status, ctx, e).await),
    };
    let deletion = plan_deletion(Some(&existing), &connections, &notifications);
    let claim = Claim::Change { id: &existing.id, adopting: false };
    let permit = match deletion.is_empty() {
        true => None,
        false => match super::guard_cleanup(svc, ctx, &aws, &owner, claim).await {
            Ok(Some(permit)) => Some(permit),
            Ok(None) => return Ok(Action::await_change()),
            Err(e) => return Err(deletion_refused(api, svc, status, ctx, e).await),
        },
    };
    for (action, granted) in deletion.into_iter().filter_map(|a| Some((a, permit.as_ref()?))) {
        if let Err(e) = aws.apply_service_action(granted, Some(&existing.id), &action).await {
            return Err(deletion_refused(api, svc, status, ctx, e).await);
        }
        let note = match &action {
            ServiceAction::Delete => format!("deleted endpoint service {}", existing.id),
            other => format!("deleting endpoint service {}: {other}", existing.id),
        };
        ctx.event(svc, EventType::Normal, action.aws_action(), note).await;
    }
    match aws.find_service(&existing.id).await {
        Ok(None) => {
            aws.forget_service(&existing.id).await;
            Ok(Action::await_change())
        }
        Ok(Some(_)) => {
            Err(Error::Waiting("Deleting", format!("endpoint service {} is still listed by AWS", existing.id)))
        }
        Err(e) if e.is_retryable() => Err(Error::aws(e)),
        Err(e) => Err(deletion_blocked(api, svc, status, ctx, &e.reason(), &e.with_fix()).await),
    }
}

/// InterfaceEndpoints and EndpointConnections in the object's namespace that
/// use the service — by the object's name (`serviceRef`), or by the
/// service's own name or id (`serviceName`, `serviceId`): deletion waits for
/// them. Objects of other namespaces are not waited for, so one team cannot
/// hold another's deletion; their connections are rejected like any other
/// consumer's.
async fn in_cluster_dependents(
    svc: &EndpointService,
    ctx: &Context,
    service: &ObservedService,
) -> Result<Vec<String>, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let service_id = service.id.as_str();
    let endpoints: Api<InterfaceEndpoint> = Api::namespaced(ctx.client.clone(), &ns);
    let mut dependents: Vec<String> = endpoints
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|ep| {
            ep.spec.service_ref.as_ref().is_some_and(|r| r.name == name)
                || (ep.spec.service_name.is_some() && ep.spec.service_name == service.name)
        })
        .map(|ep| format!("InterfaceEndpoint {}", ep.name_any()))
        .collect();
    let connections: Api<EndpointConnection> = Api::namespaced(ctx.client.clone(), &ns);
    dependents.extend(
        connections
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|c| {
                c.spec.service_ref.as_ref().is_some_and(|r| r.name == name)
                    || c.spec.service_id.as_deref() == Some(service_id)
            })
            .map(|c| format!("EndpointConnection {}", c.name_any())),
    );
    Ok(dependents)
}
