//! InterfaceEndpoint reconciler: identity and tenancy → resolve the service
//! (name or in-cluster EndpointService) → observe → validate and diagnose →
//! plan → apply → status. Every decision is a pure function of
//! [`crate::plan::interface_endpoint`], which `plan` calls too.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{
    CleanupTarget, Context, Error, Found, Next, Reconcile, Refusal, Settled, block_deletion, cleanup_target,
    deletion_blocked, deletion_refused, drive, error_policy, let_go, record_target, scopes, watch_config,
};
use crate::api::conditions::{ConditionStatus, READY, TRAFFIC_ALLOWED, condition};
use crate::api::interface_endpoint::DnsEntry;
use crate::api::{DeletionPolicy, EndpointService, InterfaceEndpoint, InterfaceEndpointStatus};
use crate::aws::RegionClients;
use crate::aws::guard::Claim;
use crate::plan::SpecProblem;
use crate::plan::facts::ObservedEndpoint;
use crate::plan::interface_endpoint::{
    DesiredEndpoint, EndpointAction, EndpointDeletion, ResolvedService, accepted_condition, hint, is_aws_service,
    is_settled, plan, plan_deletion, private_dns_deferred, ready_condition, replacement_needed, requester_managed_note,
    service_dns_condition, subnet_zone_problems, vpc_dns_problem,
};
use crate::plan::tags::{Owner, Ownership};

/// Run the InterfaceEndpoint controllers (one per watched namespace, or one
/// for the cluster) until their streams end. A change to an EndpointService
/// wakes the endpoints that reference it.
pub async fn run(ctx: Arc<Context>) {
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    let services = scopes::<EndpointService>(&ctx);
    let controllers =
        scopes::<InterfaceEndpoint>(&ctx).into_iter().zip(services).enumerate().map(|(i, (endpoints, services))| {
            let controller = super::controller_for(endpoints, &ctx).with_config(config.clone());
            ctx.report_synced(format!("InterfaceEndpoint/{i}"), controller.store());
            let refs = ctx.clone();
            drive(
                controller
                    .watches(services, watch_config(&ctx), move |svc: EndpointService| {
                        let ns = svc.namespace().unwrap_or_default();
                        refs.referring::<InterfaceEndpoint>(&ns, &service_reference(&svc.name_any()))
                    })
                    .shutdown_on_signal()
                    .run(super::reconcile_cached, error_policy, ctx.clone()),
            )
        });
    futures::future::join_all(controllers).await;
}

/// Reconcile one InterfaceEndpoint (the shared skeleton, filled in below).
pub async fn reconcile(ep: Arc<InterfaceEndpoint>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::reconcile(ep, ctx).await
}

/// What an endpoint that names the EndpointService `name` in its
/// serviceRef refers to.
fn service_reference(name: &str) -> String {
    format!("service/{name}")
}

impl Reconcile for InterfaceEndpoint {
    type Status = InterfaceEndpointStatus;

    fn reference(&self) -> Option<String> {
        self.spec.service_ref.as_ref().map(|r| service_reference(&r.name))
    }

    fn status(&self) -> Option<&InterfaceEndpointStatus> {
        self.status.as_ref()
    }

    async fn sync(
        &self,
        api: &Api<InterfaceEndpoint>,
        ctx: &Context,
        status: &mut InterfaceEndpointStatus,
    ) -> Result<Settled, Error> {
        status.deletion_policy = Some(effective_policy(self));
        let progress = sync(self, api, ctx, status).await?;
        let Some(o) = &progress.observed else {
            return Ok(Settled::new(
                vec![condition(READY, ConditionStatus::False, "Pending", "waiting for AWS")],
                Next::Poll,
            ));
        };
        let mut conditions = vec![
            accepted_condition(&o.state, status.service_name.as_deref(), progress.service_owner.as_deref()),
            ready_condition(o, progress.private_dns_deferred),
        ];
        conditions
            .extend(service_dns_condition(self.spec.private_dns_enabled, progress.unverified_service_dns.as_deref()));
        conditions.extend(progress.traffic.clone());
        let next = if is_settled(o, progress.private_dns_deferred) { Next::Resync } else { Next::Poll };
        let mut settled = Settled::new(conditions, next);
        settled.synced = requester_managed_note(o).map(|note| ("RequesterManaged", note));
        Ok(settled)
    }

    async fn cleanup(&self, api: &Api<InterfaceEndpoint>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

fn owner(ep: &InterfaceEndpoint, ctx: &Context) -> Owner {
    Owner {
        cluster: ctx.settings.cluster_id().to_string(),
        namespace: ep.namespace().unwrap_or_default(),
        name: ep.name_any(),
        uid: ep.uid().unwrap_or_default(),
    }
}

/// What deleting the object does: the spec's policy, else Retain for an
/// adopted endpoint and Delete for one the operator created.
fn effective_policy(ep: &InterfaceEndpoint) -> DeletionPolicy {
    ep.spec.deletion_policy.unwrap_or(if ep.spec.vpc_endpoint_id.is_some() {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// What a successful pass learned beyond the status fields.
struct Progress {
    /// The endpoint AWS holds now.
    observed: Option<ObservedEndpoint>,
    /// The private DNS name of the in-cluster service, while not verified.
    unverified_service_dns: Option<String>,
    /// Private DNS waits for the connection to be accepted.
    private_dns_deferred: bool,
    /// Account that must accept the connection, when known.
    service_owner: Option<String>,
    /// TrafficAllowed, once the endpoint is available.
    traffic: Option<crate::api::conditions::Condition>,
}

/// The service named by `serviceName`, or by `serviceRef` once that
/// EndpointService is Available. Also returns whether the service may
/// require acceptance (unknown counts as yes).
async fn resolve_service(
    ep: &InterfaceEndpoint,
    ctx: &Context,
) -> Result<(ResolvedService, bool, Option<String>), Error> {
    if let Some(name) = &ep.spec.service_name {
        let resolved = ResolvedService { name: name.clone(), region: ep.spec.service_region.clone(), gateway: false };
        return Ok((resolved, !is_aws_service(name), None));
    }
    let Some(reference) = &ep.spec.service_ref else {
        return Err(Error::Spec(
            "InvalidSpec",
            vec![SpecProblem::new("spec", "set exactly one of serviceName and serviceRef")],
        ));
    };
    let ns = ep.namespace().unwrap_or_default();
    let services: Api<EndpointService> = Api::namespaced(ctx.client.clone(), &ns);
    let svc = services.get_opt(&reference.name).await.map_err(|e| {
        Error::Waiting("ServiceUnreadable", format!("cannot read EndpointService {}: {e}", reference.name))
    })?;
    let Some(svc) = svc else {
        return Err(Error::Waiting(
            "ServiceNotFound",
            format!(
                "EndpointService {} does not exist in namespace {ns}: create it or fix spec.serviceRef",
                reference.name
            ),
        ));
    };
    let status = svc.status.clone().unwrap_or_default();
    match (&status.service_name, status.service_state.as_deref()) {
        (Some(name), Some("Available")) => Ok((
            ResolvedService {
                name: name.clone(),
                region: status.region.clone(),
                gateway: svc.spec.gateway_load_balancer_arns.is_some(),
            },
            status.acceptance_required.unwrap_or(true),
            status
                .private_dns_name_configuration
                .as_ref()
                .filter(|c| c.state.as_deref() != Some("verified"))
                .and_then(|c| c.name.clone()),
        )),
        (_, state) => Err(Error::Waiting(
            "WaitingForService",
            format!(
                "waiting for EndpointService {} to be Available (now {}); the endpoint is created once it is",
                reference.name,
                state.unwrap_or("not created yet")
            ),
        )),
    }
}

async fn sync(
    ep: &InterfaceEndpoint,
    api: &Api<InterfaceEndpoint>,
    ctx: &Context,
    status: &mut InterfaceEndpointStatus,
) -> Result<Progress, Error> {
    let owner = owner(ep, ctx);
    let identity = ctx
        .identity(&owner.namespace, ep.spec.role_arn.as_deref(), ep.spec.external_id.as_deref())
        .map_err(Error::Refused)?;
    if ep.spec.vpc_endpoint_id.is_some() {
        ctx.may_adopt(&owner.namespace, "spec.vpcEndpointId").map_err(Error::Refused)?;
    }
    ctx.may_use_vpc(&owner.namespace, &ep.spec.vpc_id).map_err(Error::Refused)?;
    let (mut service, mut acceptance_may_be_required, unverified_service_dns) = resolve_service(ep, ctx).await?;
    let generation = ep.meta().generation.unwrap_or(1);
    let default_region = status.region.clone().unwrap_or_else(|| ctx.settings.default_region().to_string());
    let region = ep.spec.region.clone().unwrap_or(default_region);
    let account = super::acting_account(ctx, &identity, status.account.as_deref()).await?;
    if status.region.as_deref() != Some(region.as_str())
        || status.role_arn != ep.spec.role_arn
        || status.account.as_deref() != Some(account.as_str())
    {
        let before = status.clone();
        status.region = Some(region.clone());
        status.role_arn = ep.spec.role_arn.clone();
        status.account = Some(account);
        record_target(api, ep, Some(&before), status).await?;
    }
    let aws = ctx.aws.for_region(&identity, &region).await;
    status.adopted = ep.spec.vpc_endpoint_id.is_some();

    let moving = matches!(status.state.as_deref(), Some("pending" | "pendingAcceptance" | "deleting"));
    let age = ctx.read_age(ep, moving);
    let (observed, gone) = observe(ep, &aws, status, &owner, age).await?;
    if let Some(o) = &observed {
        super::log_aws_id(&o.id);
    }
    let mut service_owner = None;
    let mut zone_facts = None;
    if observed.is_none() {
        // Before creating: what the consumer's account sees of the service
        // decides the endpoint type and whether acceptance is needed.
        let remote = service.region.clone().filter(|r| *r != region);
        let details = aws
            .service_offer_seen(&service.name, remote.as_deref(), age)
            .await
            .map_err(|e| Error::Aws(e, None))
            .map_err(|f| with_hint(f, ep, &service, &owner, &region));
        let details = details?.unwrap_or_default();
        service.gateway = service.gateway || details.gateway;
        if let Some(required) = details.acceptance_required {
            acceptance_may_be_required = required;
        }
        service_owner = details.owner.clone();
        zone_facts = Some(details);
    }
    let mut desired = DesiredEndpoint::from_spec(&ep.spec, &service, &owner, generation, &region)
        .map_err(|p| Error::Spec("InvalidSpec", p))?;
    if let Some(gone) = &gone {
        desired.client_token = owner.client_token_replacing(generation, gone);
    }
    status.service_name = Some(desired.service_name.clone());
    status.service_region = desired.service_region.clone();

    if let Some(o) = &observed {
        let problems = replacement_needed(&desired, o);
        if !problems.is_empty() {
            fill_status(status, o);
            return Err(Error::Spec("ReplacementRequired", problems));
        }
    }
    let needs_dns_check =
        desired.private_dns_enabled == Some(true) && observed.as_ref().is_none_or(|o| !o.private_dns_enabled);
    if needs_dns_check && !observed.as_ref().is_some_and(|o| o.requester_managed) {
        let (support, hostnames) = aws.vpc_dns_seen(&desired.vpc_id, age).await.map_err(|e| Error::Aws(e, None))?;
        if let Some(problem) = vpc_dns_problem(&desired, support, hostnames) {
            return Err(Error::Spec("VpcDnsDisabled", vec![problem]));
        }
    }
    if let (Some(details), Some(subnets)) = (&zone_facts, &desired.subnet_ids)
        && desired.service_region.is_none()
        && !details.zone_ids.is_empty()
    {
        let subnets: Vec<String> = subnets.iter().cloned().collect();
        let zones = aws.subnets_seen(&subnets, age).await.map_err(|e| Error::Aws(e, None))?;
        let problems = subnet_zone_problems(&desired, details, &zones);
        if !problems.is_empty() {
            return Err(Error::Spec("SubnetZoneNotServed", problems));
        }
    }

    let owned = ep.spec.vpc_endpoint_id.is_none();
    let actions = plan(&desired, observed.as_ref(), acceptance_may_be_required, owned);
    let mut endpoint_id = observed.as_ref().map(|o| o.id.clone());
    let mut permit = match (actions.is_empty(), &endpoint_id) {
        (true, _) => None,
        (false, None) => Some(super::guard(&aws, &owner, Claim::CreateEndpoint).await?),
        (false, Some(id)) => Some(super::guard(&aws, &owner, Claim::Change { id, adopting: !owned }).await?),
    };
    for action in &actions {
        let Some(granted) = &permit else { break };
        tracing::info!(action = %action, "applying");
        let created = aws.apply_endpoint_action(granted, endpoint_id.as_deref(), action).await.map_err(|e| {
            let hint = hint(e.code.as_deref(), &desired);
            Error::Aws(e, hint)
        })?;
        if let Some(id) = created {
            super::log_aws_id(&id);
            tracing::info!("created");
            status.vpc_endpoint_id = Some(id.clone());
            permit = permit.map(|p| p.created(&id));
            endpoint_id = Some(id);
        }
        if !matches!(action, EndpointAction::SetTags(_) | EndpointAction::DeleteTags(_)) {
            ctx.event(ep, EventType::Normal, action.aws_action(), action.to_string()).await;
        }
    }
    // A create answers with the endpoint (kept in the snapshot); other
    // writes are read back.
    let only_created = actions.iter().all(|a| matches!(a, EndpointAction::Create(_)));
    let observed = match (&endpoint_id, actions.is_empty()) {
        (Some(id), false) if only_created => {
            aws.endpoint(id, ctx.settings.resync).await.map_err(|e| Error::Aws(e, None))?
        }
        (Some(id), false) => {
            let fresh = aws.find_endpoint(id).await.map_err(|e| Error::Aws(e, None))?;
            if let Some(o) = &fresh {
                aws.note_endpoint(o).await;
            }
            fresh
        }
        _ => observed,
    };
    let deferred = observed.as_ref().is_some_and(|o| private_dns_deferred(&desired, o));
    // Who must accept: worth a lookup only while the connection waits.
    if service_owner.is_none()
        && let Some(o) = &observed
        && o.state == "pendingAcceptance"
    {
        service_owner = aws
            .service_offer_seen(&desired.service_name, desired.service_region.as_deref(), age)
            .await
            .ok()
            .flatten()
            .and_then(|d| d.owner);
    }
    if let Some(o) = &observed {
        fill_status(status, o);
    }
    let traffic = match &observed {
        Some(o) if o.state == "available" && !service.gateway && !o.security_group_ids.is_empty() => {
            Some(traffic_condition(ep, ctx, &aws, o, generation, age.is_zero()).await)
        }
        _ => None,
    };
    Ok(Progress { observed, unverified_service_dns, private_dns_deferred: deferred, service_owner, traffic })
}

/// How long a TrafficAllowed diagnosis stands before it is made again (a
/// spec change or a new endpoint state makes it again at once).
pub const TRAFFIC_RECHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// TrafficAllowed: `doctor`'s traffic checks for the endpoint (zones,
/// security groups, network ACLs, VPC DNS, policy), read through the
/// operator's clients: seven Describe calls, made when the endpoint becomes
/// available, when its spec or AWS state changes, and hourly.
async fn traffic_condition(
    ep: &InterfaceEndpoint,
    ctx: &Context,
    aws: &RegionClients,
    o: &ObservedEndpoint,
    generation: i64,
    fresh: bool,
) -> crate::api::conditions::Condition {
    use crate::aws::facts as read;
    use crate::plan::checks::endpoint;
    let key = super::object_key(ep);
    let inputs = (generation, &o.state, &o.subnet_ids, &o.security_group_ids, o.private_dns_enabled);
    // Worked out for the same inputs within the hour: the status holds it.
    let known = ep.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == TRAFFIC_ALLOWED));
    if !fresh
        && let Some(known) = known
        && ctx.diagnosed(&key, inputs, TRAFFIC_RECHECK)
    {
        return known.clone();
    }
    let subject = o.clone();
    // What many endpoints share (the service's zones, the VPC, the groups)
    // is read once per resync period for all of them.
    let memo_age = if fresh { std::time::Duration::ZERO } else { ctx.settings.resync };
    let clients = read::Clients::of(aws).with_memo(aws.observer(), memo_age);
    let found =
        read::interface_traffic_facts(&clients, subject.clone(), None, read::default_ports(&o.service_name)).await;
    let condition = endpoint::traffic_condition(&endpoint::interface_traffic(&subject, &found));
    ctx.remember_diagnosis(key, inputs);
    condition
}

/// After the endpoint is gone, tell what still holds the security groups
/// the spec named (another endpoint, a load balancer, a Lambda function, an
/// instance, a rule here or in a peered VPC), in `doctor`'s words: deleting
/// the group would fail until each lets go. Groups nothing holds go unsaid.
async fn report_held_groups(ep: &InterfaceEndpoint, ctx: &Context, aws: &RegionClients, deleted: &str) {
    use crate::aws::facts as read;
    use crate::plan::checks::security_group;
    let clients = read::Clients::of(aws);
    for group in &ep.spec.security_group_ids {
        let Ok(found) = read::group_facts(&clients, group, &read::Options::default()).await else { continue };
        if found.group.is_none() {
            continue;
        }
        let interfaces: Vec<_> =
            found.interfaces.unwrap_or_default().into_iter().filter(|e| !e.description.ends_with(deleted)).collect();
        let holders = security_group::holders(
            group,
            &interfaces,
            &found.endpoints.unwrap_or_default(),
            &found.neighbours.unwrap_or_default(),
            &found.references.unwrap_or_default(),
        );
        if holders.is_empty() {
            continue;
        }
        let what: Vec<String> = holders.iter().map(|h| h.what.clone()).collect();
        let release: Vec<String> = holders.iter().map(|h| h.release.clone()).collect();
        let message = format!(
            "security group {group} is still held by {}: it cannot be deleted until each lets go ({})",
            what.join("; "),
            release.join("; ")
        );
        ctx.event(ep, EventType::Normal, "SecurityGroupStillHeld", message).await;
    }
}

/// An AWS failure before creating, with the hint the plan core gives for it.
fn with_hint(f: Error, ep: &InterfaceEndpoint, service: &ResolvedService, owner: &Owner, region: &str) -> Error {
    match f {
        Error::Aws(e, None) => {
            let hint = DesiredEndpoint::from_spec(&ep.spec, service, owner, 1, region)
                .ok()
                .and_then(|d| hint(e.code.as_deref(), &d));
            Error::Aws(e, hint)
        }
        other => other,
    }
}

/// Find the endpoint this object manages: the adopted id in spec, the id in
/// status, or the one tagged with the object's UID (after a crash between
/// create and status write, or when the recorded endpoint was deleted
/// outside the operator: then the second value names it, and the next
/// creation gets a new client token). An endpoint that carries another
/// object's ownership tags is never taken.
async fn observe(
    ep: &InterfaceEndpoint,
    aws: &RegionClients,
    status: &InterfaceEndpointStatus,
    owner: &Owner,
    age: std::time::Duration,
) -> Result<(Option<ObservedEndpoint>, Option<String>), Error> {
    let aws_err = |e| Error::Aws(e, None);
    let (found, gone) = match (&ep.spec.vpc_endpoint_id, &status.vpc_endpoint_id) {
        (Some(adopt), _) => {
            // Claiming a resource is decided from AWS as it is now, read by
            // id, never from a listing up to a resync old: another object may
            // have claimed it since.
            let cached = aws.endpoint(adopt, age).await.map_err(aws_err)?;
            let found = match cached {
                Some(e) if owner.ownership(&e.tags) == Ownership::Ours => Some(e),
                _ => aws.find_endpoint(adopt).await.map_err(aws_err)?,
            };
            let Some(found) = found else {
                return Err(Error::Spec(
                    "EndpointNotFound",
                    vec![SpecProblem::new(
                        "spec.vpcEndpointId",
                        format!(
                            "endpoint {adopt} does not exist in {} for this account: check spec.vpcEndpointId, spec.region and spec.roleArn",
                            aws.region
                        ),
                    )],
                ));
            };
            (Some(found), None)
        }
        (None, Some(recorded)) => match aws.endpoint(recorded, age).await.map_err(aws_err)? {
            Some(found) => (Some(found), None),
            None => {
                let replacement = aws.find_owned_endpoint(owner).await.map_err(aws_err)?;
                (replacement.filter(|e| e.id != *recorded), Some(recorded.clone()))
            }
        },
        (None, None) => (aws.owned_endpoint(owner, age).await.map_err(aws_err)?, None),
    };
    if let Some(found) = &found
        && let Ownership::Other(who) = owner.ownership(&found.tags)
    {
        return Err(Error::Refused(Refusal {
            reason: "OwnedByAnotherObject",
            message: format!(
                "endpoint {} carries the ownership tags of {who}: the operator never adopts or changes another object's endpoint; adopt an endpoint no object manages, or release it from its object first (deletionPolicy: Retain removes the tags)",
                found.id
            ),
        }));
    }
    Ok((found, gone))
}

fn fill_status(status: &mut InterfaceEndpointStatus, o: &ObservedEndpoint) {
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

/// Delete the endpoint and wait until AWS no longer lists it, so the
/// subnets and security groups it used are free. With Retain, only the
/// ownership tags go. Requester-managed endpoints are never deleted: the
/// condition and an Event name their owner. Cleanup acts with the identity
/// and in the region recorded at creation.
async fn cleanup(ep: &InterfaceEndpoint, api: &Api<InterfaceEndpoint>, ctx: &Context) -> Result<Action, Error> {
    let status = ep.status.as_ref();
    let recorded = match status {
        Some(s) if s.region.is_some() => s.region.clone().map(|r| (r, s.role_arn.clone())),
        // Written before regions were recorded: the spec still names them.
        Some(s) if s.vpc_endpoint_id.is_some() => Some((
            ep.spec.region.clone().unwrap_or_else(|| ctx.settings.default_region().to_string()),
            ep.spec.role_arn.clone(),
        )),
        _ => None,
    };
    let Some(CleanupTarget { identity, region, policy }) =
        cleanup_target(api, ep, status, ctx, recorded, ep.spec.external_id.as_deref(), effective_policy(ep)).await?
    else {
        return Ok(Action::await_change());
    };
    let aws = ctx.aws.for_region(&identity, &region).await;
    let owner = owner(ep, ctx);
    let known = status.and_then(|s| s.vpc_endpoint_id.clone()).or_else(|| ep.spec.vpc_endpoint_id.clone());
    let existing = match &known {
        Some(id) => aws.endpoint(id, ctx.read_age(ep, false)).await,
        None => aws.owned_endpoint(&owner, ctx.read_age(ep, false)).await,
    };
    let endpoint = match existing {
        Ok(Some(found)) => found,
        Ok(None) => {
            if let Some(id) = &known {
                report_held_groups(ep, ctx, &aws, id).await;
            }
            return Ok(Action::await_change());
        }
        Err(e) => return Err(deletion_refused(api, ep, status, ctx, e).await),
    };
    let found =
        Found { what: "endpoint", id: &endpoint.id, tags: &endpoint.tags, taggable: !endpoint.requester_managed };
    if let Some(done) = let_go(api, ep, status, ctx, &aws, &owner, found, policy).await {
        return done;
    }
    match plan_deletion(Some(&endpoint), false) {
        EndpointDeletion::RequesterManaged(why) => {
            let message = format!(
                "{why}. The operator does not delete requester-managed endpoints; the object is removed and the endpoint left in AWS"
            );
            block_deletion(api, ep, status, "RequesterManaged", &message, ctx.clock.now()).await?;
            ctx.event(ep, EventType::Warning, "RequesterManaged", message).await;
            Ok(Action::await_change())
        }
        EndpointDeletion::Delete => {
            let claim = Claim::Change { id: &endpoint.id, adopting: false };
            let deleted = match super::guard_cleanup(ep, ctx, &aws, &owner, claim).await {
                Ok(Some(permit)) => {
                    aws.apply_endpoint_action(&permit, Some(&endpoint.id), &EndpointAction::Delete).await
                }
                Ok(None) => return Ok(Action::await_change()),
                Err(e) => Err(e),
            };
            if let Err(e) = deleted {
                return Err(deletion_refused(api, ep, status, ctx, e).await);
            }
            ctx.event(ep, EventType::Normal, "Deleted", format!("deleted endpoint {}", endpoint.id)).await;
            wait_until_gone(api, ep, ctx, &aws, &endpoint.id).await
        }
        EndpointDeletion::Nothing => wait_until_gone(api, ep, ctx, &aws, &endpoint.id).await,
    }
}

async fn wait_until_gone(
    api: &Api<InterfaceEndpoint>,
    ep: &InterfaceEndpoint,
    ctx: &Context,
    aws: &RegionClients,
    id: &str,
) -> Result<Action, Error> {
    match aws.find_endpoint(id).await {
        Ok(Some(o)) => Err(Error::Waiting("Deleting", format!("endpoint {id} is still listed by AWS ({})", o.state))),
        Ok(None) => {
            aws.forget_endpoint(id).await;
            report_held_groups(ep, ctx, aws, id).await;
            Ok(Action::await_change())
        }
        Err(e) if e.is_retryable() => Err(Error::aws(e)),
        Err(e) => Err(deletion_blocked(api, ep, ep.status.as_ref(), ctx, &e.reason(), &e.with_fix()).await),
    }
}
