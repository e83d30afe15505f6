//! InterfaceEndpoint reconciler: resolve the service (name or in-cluster
//! EndpointService) → validate and diagnose → plan → apply → status.

use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::{
    Context, Error, aws_failure, block_deletion, deletion_refused, drive, error_policy, reconcile_with_finalizer,
    reconciled, write_status,
};
use crate::api::conditions::{ACCEPTED, Condition, ConditionStatus, READY, SYNCED};
use crate::api::interface_endpoint::DnsEntry;
use crate::api::{EndpointService, InterfaceEndpoint, InterfaceEndpointStatus};
use crate::aws::{AwsError, RegionClients};
use crate::plan::interface_endpoint::{
    DesiredEndpoint, EndpointAction, EndpointDeletion, ObservedEndpoint, ResolvedService, is_aws_service, plan,
    plan_deletion, private_dns_deferred, region_of_service_name, replacement_needed,
};
use crate::plan::tags::Owner;
use crate::plan::{SpecProblem, describe_problems};

/// Run the InterfaceEndpoint controller until the stream ends. A change to
/// an EndpointService wakes the endpoints that reference it.
pub async fn run(ctx: Arc<Context>) {
    let (endpoints, services): (Api<InterfaceEndpoint>, Api<EndpointService>) = match &ctx.settings.namespace {
        Some(ns) => (Api::namespaced(ctx.client.clone(), ns), Api::namespaced(ctx.client.clone(), ns)),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let controller = Controller::new(endpoints, watcher::Config::default().any_semantic());
    let store = controller.store();
    drive(
        controller
            .watches(services, watcher::Config::default().any_semantic(), move |svc: EndpointService| {
                let ns = svc.namespace();
                let name = svc.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|ep| ep.namespace() == ns && ep.spec.service_ref.as_ref().is_some_and(|r| r.name == name))
                    .map(|ep| ObjectRef::from_obj(ep.as_ref()))
                    .collect::<Vec<_>>()
            })
            .shutdown_on_signal()
            .run(reconcile, error_policy, ctx),
    )
    .await;
}

/// Reconcile one InterfaceEndpoint: the finalizer decides between apply and cleanup.
pub async fn reconcile(ep: Arc<InterfaceEndpoint>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_with_finalizer(
        ep,
        ctx,
        |o, api, ctx| async move { apply(&o, &api, &ctx).await },
        |o, api, ctx| async move { cleanup(&o, &api, &ctx).await },
    )
    .await
}

/// Why a reconcile did not reach the desired state.
enum Failure {
    /// Waiting on something outside this object (its EndpointService).
    Waiting(&'static str, String),
    /// The spec cannot work as written.
    Spec(&'static str, Vec<SpecProblem>),
    /// An AWS call failed; the second field is a hint to add to AWS's fix.
    Aws(AwsError, Option<String>),
}

fn owner(ep: &InterfaceEndpoint) -> Owner {
    Owner { namespace: ep.namespace().unwrap_or_default(), name: ep.name_any(), uid: ep.uid().unwrap_or_default() }
}

/// What a successful pass learned beyond the status fields.
struct Progress {
    /// Private DNS waits for the connection to be accepted.
    private_dns_deferred: bool,
    /// Account that must accept the connection, when known.
    service_owner: Option<String>,
}

async fn apply(ep: &InterfaceEndpoint, api: &Api<InterfaceEndpoint>, ctx: &Context) -> Result<Action, Error> {
    let old = ep.status.clone();
    let mut status = old.clone().unwrap_or_default();
    let outcome = sync(ep, ctx, &mut status).await;
    let state = status.state.clone().unwrap_or_default();
    let mut fresh = Vec::new();
    let action = match &outcome {
        Ok(progress) => {
            fresh.push(Condition::new(SYNCED, ConditionStatus::True, "Synced", "AWS matches the spec"));
            fresh.push(accepted_condition(&state, status.service_name.as_deref(), progress.service_owner.as_deref()));
            let ready = state == "available" && !progress.private_dns_deferred;
            fresh.push(if ready {
                Condition::new(
                    READY,
                    ConditionStatus::True,
                    "Available",
                    format!("endpoint {} is available", status.vpc_endpoint_id.as_deref().unwrap_or("")),
                )
            } else {
                Condition::new(
                    READY,
                    ConditionStatus::False,
                    &camel(&state),
                    ready_message(&state, progress, status.last_error.as_deref()),
                )
            });
            if ready { Action::requeue(ctx.settings.resync) } else { Action::requeue(ctx.settings.transition_poll) }
        }
        Err(Failure::Waiting(reason, message)) => {
            fresh.push(Condition::new(SYNCED, ConditionStatus::True, "Waiting", message.clone()));
            fresh.push(Condition::new(READY, ConditionStatus::False, reason, message.clone()));
            Action::requeue(ctx.settings.transition_poll)
        }
        Err(Failure::Spec(reason, problems)) => {
            let message = describe_problems(problems);
            fresh.push(Condition::new(SYNCED, ConditionStatus::False, reason, message.clone()));
            fresh.push(Condition::new(
                READY,
                ConditionStatus::False,
                "NotSynced",
                format!("AWS does not match the spec: {message}"),
            ));
            Action::requeue(ctx.settings.resync)
        }
        Err(Failure::Aws(e, hint)) => {
            let mut synced = aws_failure(SYNCED, e);
            if let Some(hint) = hint {
                synced.message = format!("{}. Hint: {hint}", synced.message);
            }
            fresh.push(Condition::new(
                READY,
                ConditionStatus::False,
                "NotSynced",
                format!("AWS does not match the spec: {}", synced.message),
            ));
            fresh.push(synced);
            Action::requeue(ctx.settings.resync)
        }
    };
    write_status(api, ep, old.as_ref(), status, fresh).await?;
    match outcome {
        Err(Failure::Aws(e, hint)) => {
            let note = format!("{}{}", e.with_fix(), hint.map(|h| format!(". Hint: {h}")).unwrap_or_default());
            ctx.event(ep, EventType::Warning, "SyncFailed", note).await;
            Err(Error::Aws(e))
        }
        _ => {
            reconciled(ep, ctx);
            Ok(action)
        }
    }
}

fn camel(state: &str) -> String {
    let mut chars = state.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => "Pending".into(),
    }
}

fn ready_message(state: &str, progress: &Progress, last_error: Option<&str>) -> String {
    match state {
        "pendingAcceptance" => {
            "the connection waits for the service owner's acceptance (see the Accepted condition)".into()
        }
        "available" if progress.private_dns_deferred => {
            "the endpoint is available; private DNS is being enabled".into()
        }
        "rejected" => {
            "the service owner rejected the connection: ask them to accept it, or delete this InterfaceEndpoint".into()
        }
        "failed" => format!("AWS could not create the endpoint: {}", last_error.unwrap_or("no reason given")),
        other => format!("endpoint is {other}; waiting for AWS"),
    }
}

fn accepted_condition(state: &str, service: Option<&str>, owner: Option<&str>) -> Condition {
    let service = service.unwrap_or("the service");
    let who = owner.map(|o| format!("AWS account {o}")).unwrap_or_else(|| "the service owner's AWS account".into());
    match state {
        "pendingAcceptance" => Condition::new(
            ACCEPTED,
            ConditionStatus::False,
            "PendingAcceptance",
            format!(
                "{who} must accept this connection to {service} (AcceptVpcEndpointConnections, or an EndpointConnection with decision Accept)"
            ),
        ),
        "rejected" => Condition::new(
            ACCEPTED,
            ConditionStatus::False,
            "Rejected",
            format!("{who} rejected the connection to {service}"),
        ),
        "available" => Condition::new(
            ACCEPTED,
            ConditionStatus::True,
            "Accepted",
            format!("the connection to {service} is accepted"),
        ),
        other => Condition::new(ACCEPTED, ConditionStatus::Unknown, &camel(other), format!("endpoint is {other}")),
    }
}

/// The service named by `serviceName`, or by `serviceRef` once that
/// EndpointService is Available. Also returns whether the service may
/// require acceptance (unknown counts as yes).
async fn resolve_service(ep: &InterfaceEndpoint, ctx: &Context) -> Result<(ResolvedService, bool), Failure> {
    if let Some(name) = &ep.spec.service_name {
        let resolved = ResolvedService { name: name.clone(), region: ep.spec.service_region.clone(), gateway: false };
        return Ok((resolved, !is_aws_service(name)));
    }
    let Some(reference) = &ep.spec.service_ref else {
        return Err(Failure::Spec(
            "InvalidSpec",
            vec![SpecProblem::new("spec", "set exactly one of serviceName and serviceRef")],
        ));
    };
    let ns = ep.namespace().unwrap_or_default();
    let services: Api<EndpointService> = Api::namespaced(ctx.client.clone(), &ns);
    let svc = services.get_opt(&reference.name).await.map_err(|e| {
        Failure::Waiting("ServiceUnreadable", format!("cannot read EndpointService {}: {e}", reference.name))
    })?;
    let Some(svc) = svc else {
        return Err(Failure::Waiting(
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
        )),
        (_, state) => Err(Failure::Waiting(
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
    ctx: &Context,
    status: &mut InterfaceEndpointStatus,
) -> Result<Progress, Failure> {
    let owner = owner(ep);
    let identity = ctx
        .identity(&owner.namespace, ep.spec.role_arn.as_deref(), ep.spec.external_id.as_deref())
        .map_err(|msg| Failure::Spec("RoleNotAllowed", vec![SpecProblem::new("spec.roleArn", msg)]))?;
    let (service, acceptance_may_be_required) = resolve_service(ep, ctx).await?;
    let generation = ep.meta().generation.unwrap_or(1);
    let desired = DesiredEndpoint::from_spec(&ep.spec, &service, &owner, generation, &ctx.settings.default_region)
        .map_err(|p| Failure::Spec("InvalidSpec", p))?;
    let aws = ctx.aws.for_region(&identity, &desired.region).await;
    status.service_name = Some(desired.service_name.clone());
    status.service_region = desired.service_region.clone();

    let observed = observe(ep, &aws, status, &owner).await?;
    if let Some(o) = &observed {
        let problems = replacement_needed(&desired, o);
        if !problems.is_empty() {
            fill_status(status, o);
            return Err(Failure::Spec("ReplacementRequired", problems));
        }
    }
    let same_region = desired.service_region.is_none();
    if observed.is_none() {
        diagnose(&desired, &aws, same_region).await?;
    } else if desired.private_dns_enabled == Some(true) && observed.as_ref().is_some_and(|o| !o.private_dns_enabled) {
        check_vpc_dns(&desired, &aws).await?;
    }

    let owned = ep.spec.vpc_endpoint_id.is_none();
    let actions = plan(&desired, observed.as_ref(), acceptance_may_be_required, owned);
    let mut endpoint_id = observed.as_ref().map(|o| o.id.clone());
    for action in &actions {
        tracing::info!(action = %action, "applying");
        let created = aws.apply_endpoint_action(endpoint_id.as_deref(), action).await.map_err(|e| {
            let hint = hint_for(&e, &desired);
            Failure::Aws(e, hint)
        })?;
        if let Some(id) = created {
            status.vpc_endpoint_id = Some(id.clone());
            endpoint_id = Some(id);
        }
        if !matches!(action, EndpointAction::SetTags(_) | EndpointAction::DeleteTags(_)) {
            ctx.event(ep, EventType::Normal, action.aws_action(), action.to_string()).await;
        }
    }
    let observed = match (&endpoint_id, actions.is_empty()) {
        (Some(id), false) => aws.find_endpoint(id).await.map_err(|e| Failure::Aws(e, None))?,
        _ => observed,
    };
    let deferred = observed.as_ref().is_some_and(|o| private_dns_deferred(&desired, o));
    // Who must accept: worth a lookup only while the connection waits.
    let service_owner = match &observed {
        Some(o) if same_region && o.state == "pendingAcceptance" => {
            aws.service_details(&desired.service_name).await.ok().and_then(|d| d.owner)
        }
        _ => None,
    };
    if let Some(o) = &observed {
        fill_status(status, o);
    }
    Ok(Progress { private_dns_deferred: deferred, service_owner })
}

/// Find the endpoint this object manages: the id in status, the adopted id
/// in spec, or the one tagged with the object's UID.
async fn observe(
    ep: &InterfaceEndpoint,
    aws: &RegionClients,
    status: &InterfaceEndpointStatus,
    owner: &Owner,
) -> Result<Option<ObservedEndpoint>, Failure> {
    let known = status.vpc_endpoint_id.clone().or_else(|| ep.spec.vpc_endpoint_id.clone());
    let found = match &known {
        Some(id) => aws.find_endpoint(id).await,
        None => aws.find_owned_endpoint(&owner.uid).await,
    }
    .map_err(|e| Failure::Aws(e, None))?;
    if found.is_none()
        && let Some(id) = &ep.spec.vpc_endpoint_id
    {
        return Err(Failure::Spec(
            "EndpointNotFound",
            vec![SpecProblem::new(
                "spec.vpcEndpointId",
                format!(
                    "endpoint {id} does not exist in {} for this account: check spec.vpcEndpointId, spec.region and spec.roleArn",
                    aws.region
                ),
            )],
        ));
    }
    Ok(found)
}

/// Checks before creating: private DNS needs the VPC's DNS attributes, and
/// the subnets must be in Availability Zones the service serves (compared
/// by AZ ID: names differ between accounts).
async fn diagnose(desired: &DesiredEndpoint, aws: &RegionClients, same_region: bool) -> Result<(), Failure> {
    if desired.private_dns_enabled == Some(true) {
        check_vpc_dns(desired, aws).await?;
    }
    if !same_region || desired.subnet_ids.is_empty() {
        return Ok(());
    }
    let details = match aws.service_details(&desired.service_name).await {
        Ok(d) => d,
        Err(e) => {
            let hint = hint_for(&e, desired);
            return Err(Failure::Aws(e, hint));
        }
    };
    if details.availability_zone_ids.is_empty() {
        return Ok(());
    }
    let subnets: Vec<String> = desired.subnet_ids.iter().cloned().collect();
    let zones = aws.subnet_zones(&subnets).await.map_err(|e| Failure::Aws(e, None))?;
    let problems: Vec<SpecProblem> = zones
        .iter()
        .filter(|(_, (_, az_id))| !details.availability_zone_ids.contains(az_id))
        .map(|(subnet, (az, az_id))| {
            SpecProblem::new(
                "spec.subnetIds",
                format!(
                    "{subnet} is in {az_id} ({az} in this account), which {} does not serve (it serves {}): use subnets in those Availability Zones, or ask the provider to enable the zone",
                    desired.service_name,
                    details.availability_zone_ids.join(", ")
                ),
            )
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(Failure::Spec("SubnetZoneNotServed", problems)) }
}

async fn check_vpc_dns(desired: &DesiredEndpoint, aws: &RegionClients) -> Result<(), Failure> {
    let (support, hostnames) = aws.vpc_dns_attributes(&desired.vpc_id).await.map_err(|e| Failure::Aws(e, None))?;
    if support && hostnames {
        return Ok(());
    }
    let missing: Vec<&str> = [(!support).then_some("enableDnsSupport"), (!hostnames).then_some("enableDnsHostnames")]
        .into_iter()
        .flatten()
        .collect();
    Err(Failure::Spec(
        "VpcDnsDisabled",
        vec![SpecProblem::new(
            "spec.privateDnsEnabled",
            format!(
                "private DNS needs {} on {}: turn them on (aws ec2 modify-vpc-attribute --vpc-id {} --enable-dns-hostnames '{{\"Value\":true}}', likewise --enable-dns-support) or set privateDnsEnabled: false",
                missing.join(" and "),
                desired.vpc_id,
                desired.vpc_id
            ),
        )],
    ))
}

/// A hint for errors whose AWS message does not say what to change.
fn hint_for(e: &AwsError, desired: &DesiredEndpoint) -> Option<String> {
    if e.code.as_deref() != Some("InvalidServiceName") {
        return None;
    }
    let name_region = region_of_service_name(&desired.service_name);
    Some(match (name_region, &desired.service_region) {
        (Some(r), None) if r != desired.region && !is_aws_service(&desired.service_name) => format!(
            "{} is a service in {r} and the endpoint is in {}: for cross-region PrivateLink set spec.serviceRegion: {r} (the provider must list {} in supportedRegions)",
            desired.service_name, desired.region, desired.region
        ),
        (Some(r), None) if r != desired.region => format!(
            "{} is an AWS service in {r}; AWS services are reachable only from their own region: create the endpoint in {r}",
            desired.service_name
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
/// subnets and security groups it used are free. Requester-managed
/// endpoints are never deleted: the condition and an Event name their owner.
async fn cleanup(ep: &InterfaceEndpoint, api: &Api<InterfaceEndpoint>, ctx: &Context) -> Result<Action, Error> {
    if ep.spec.deletion_policy.retains() {
        ctx.event(ep, EventType::Normal, "Retained", "deletionPolicy is Retain: the endpoint is left in AWS".into())
            .await;
        return Ok(Action::await_change());
    }
    let owner = owner(ep);
    let Ok(identity) = ctx.identity(&owner.namespace, ep.spec.role_arn.as_deref(), ep.spec.external_id.as_deref())
    else {
        return Ok(Action::await_change());
    };
    let region = ep.spec.region.clone().unwrap_or_else(|| ctx.settings.default_region.clone());
    let aws = ctx.aws.for_region(&identity, &region).await;
    let known = ep.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).or_else(|| ep.spec.vpc_endpoint_id.clone());
    let existing = match known {
        Some(id) => aws.find_endpoint(&id).await?,
        None => aws.find_owned_endpoint(&owner.uid).await?,
    };
    let Some(endpoint) = existing else { return Ok(Action::await_change()) };
    match plan_deletion(Some(&endpoint), false) {
        EndpointDeletion::RequesterManaged(why) => {
            let message = format!(
                "{why}. The operator does not delete requester-managed endpoints; the object is removed and the endpoint left in AWS"
            );
            block_deletion(api, ep, ep.status.as_ref(), "RequesterManaged", &message).await?;
            ctx.event(ep, EventType::Warning, "RequesterManaged", message).await;
            Ok(Action::await_change())
        }
        EndpointDeletion::Delete => {
            if let Err(e) = aws.apply_endpoint_action(Some(&endpoint.id), &EndpointAction::Delete).await {
                return Err(deletion_refused(api, ep, ep.status.as_ref(), ctx, e).await);
            }
            ctx.event(ep, EventType::Normal, "Deleted", format!("deleted endpoint {}", endpoint.id)).await;
            wait_until_gone(&aws, &endpoint.id).await
        }
        EndpointDeletion::Nothing => wait_until_gone(&aws, &endpoint.id).await,
    }
}

async fn wait_until_gone(aws: &RegionClients, id: &str) -> Result<Action, Error> {
    match aws.find_endpoint(id).await? {
        Some(o) => Err(Error::Waiting(format!("endpoint {id} is still listed by AWS ({})", o.state))),
        None => Ok(Action::await_change()),
    }
}
