//! EndpointService reconciler: dereference (identity, AWS state) →
//! validate (spec, load balancers) → plan → apply → status.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::{
    Context, Error, aws_failure, block_deletion, deletion_refused, drive, error_policy, reconcile_with_finalizer,
    reconciled, write_status,
};
use crate::api::conditions::{Condition, ConditionStatus, READY, SYNCED};
use crate::api::endpoint_service::{PrivateDnsNameConfiguration, SupportedRegionStatus};
use crate::api::{EndpointService, EndpointServiceStatus, InterfaceEndpoint};
use crate::aws::{AwsError, RegionClients};
use crate::plan::endpoint_service::{
    DesiredService, ObservedService, ServiceAction, check_load_balancers, plan, plan_deletion,
};
use crate::plan::tags::Owner;
use crate::plan::{SpecProblem, describe_problems};

/// Run the EndpointService controller until the stream ends.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<EndpointService> = match &ctx.settings.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    drive(Controller::new(api, watcher::Config::default().any_semantic()).shutdown_on_signal().run(
        reconcile,
        error_policy,
        ctx,
    ))
    .await;
}

/// Reconcile one EndpointService: the finalizer decides between apply and cleanup.
pub async fn reconcile(svc: Arc<EndpointService>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_with_finalizer(
        svc,
        ctx,
        |o, api, ctx| async move { apply(&o, &api, &ctx).await },
        |o, api, ctx| async move { cleanup(&o, &api, &ctx).await },
    )
    .await
}

/// Why a reconcile did not reach the desired state.
enum Failure {
    /// The spec cannot work as written; nothing to retry until it changes.
    Spec(&'static str, Vec<SpecProblem>),
    /// An AWS call failed.
    Aws(AwsError),
}

impl Failure {
    fn condition(&self) -> Condition {
        match self {
            Failure::Spec(reason, problems) => {
                Condition::new(SYNCED, ConditionStatus::False, reason, describe_problems(problems))
            }
            Failure::Aws(e) => aws_failure(SYNCED, e),
        }
    }
}

fn owner(svc: &EndpointService) -> Owner {
    Owner { namespace: svc.namespace().unwrap_or_default(), name: svc.name_any(), uid: svc.uid().unwrap_or_default() }
}

/// Make AWS match the spec and report what is there.
async fn apply(svc: &EndpointService, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
    let old = svc.status.clone();
    let mut status = old.clone().unwrap_or_default();
    let outcome = sync(svc, ctx, &mut status).await;
    let mut fresh = Vec::new();
    let action = match &outcome {
        Ok(()) => {
            fresh.push(Condition::new(SYNCED, ConditionStatus::True, "Synced", "AWS matches the spec"));
            if status.service_state.as_deref() == Some("Available") {
                fresh.push(Condition::new(
                    READY,
                    ConditionStatus::True,
                    "Available",
                    format!("endpoint service {} is available", status.service_name.as_deref().unwrap_or("")),
                ));
                Action::requeue(ctx.settings.resync)
            } else {
                fresh.push(Condition::new(
                    READY,
                    ConditionStatus::False,
                    status.service_state.as_deref().unwrap_or("Pending"),
                    format!(
                        "endpoint service is {}; waiting for AWS to make it Available",
                        status.service_state.as_deref().unwrap_or("being created")
                    ),
                ));
                Action::requeue(ctx.settings.transition_poll)
            }
        }
        Err(failure) => {
            let synced = failure.condition();
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
    write_status(api, svc, old.as_ref(), status, fresh).await?;
    match outcome {
        Ok(()) => {
            reconciled(svc, ctx);
            Ok(action)
        }
        Err(Failure::Aws(e)) => {
            ctx.event(svc, EventType::Warning, "SyncFailed", e.with_fix()).await;
            Err(Error::Aws(e))
        }
        // A spec problem waits for the spec to change (the watch brings it)
        // or for the resync, e.g. when a load balancer becomes active.
        Err(Failure::Spec(..)) => Ok(action),
    }
}

/// Dereference, validate, plan and apply; fills `status` as it learns.
async fn sync(svc: &EndpointService, ctx: &Context, status: &mut EndpointServiceStatus) -> Result<(), Failure> {
    let owner = owner(svc);
    let identity = ctx
        .identity(&owner.namespace, svc.spec.role_arn.as_deref(), svc.spec.external_id.as_deref())
        .map_err(|msg| Failure::Spec("RoleNotAllowed", vec![SpecProblem::new("spec.roleArn", msg)]))?;
    let generation = svc.meta().generation.unwrap_or(1);
    let desired = DesiredService::from_spec(&svc.spec, &owner, generation, &ctx.settings.default_region)
        .map_err(|p| Failure::Spec("InvalidSpec", p))?;
    let aws = ctx.aws.for_region(&identity, &desired.region).await;
    status.region = Some(desired.region.clone());

    let observed = observe(svc, &aws, status, &owner).await?;
    let arns: Vec<String> = desired.load_balancer_arns.iter().cloned().collect();
    let lbs = aws.describe_load_balancers(&arns).await.map_err(Failure::Aws)?;
    let lb_problems = check_load_balancers(&desired, &lbs);
    if !lb_problems.is_empty() {
        return Err(Failure::Spec("LoadBalancerCheckFailed", lb_problems));
    }
    let principals = match &observed {
        Some(o) => aws.allowed_principals(&o.id).await.map_err(Failure::Aws)?,
        None => BTreeSet::new(),
    };
    let owned = svc.spec.service_id.is_none();
    let actions = plan(&desired, observed.as_ref(), &principals, owned);

    let mut service_id = observed.as_ref().map(|o| o.id.clone());
    for action in &actions {
        tracing::info!(action = %action, "applying");
        let created = aws.apply_service_action(service_id.as_deref(), action).await.map_err(Failure::Aws)?;
        if let Some(id) = created {
            status.service_id = Some(id.clone());
            service_id = Some(id);
        }
        if !matches!(action, ServiceAction::SetTags(_) | ServiceAction::DeleteTags(_)) {
            ctx.event(svc, EventType::Normal, action.aws_action(), action.to_string()).await;
        }
    }
    let (observed, principals) = match (&service_id, actions.is_empty()) {
        (Some(id), false) => {
            let o = aws.find_service(id).await.map_err(Failure::Aws)?;
            (o, aws.allowed_principals(id).await.map_err(Failure::Aws)?)
        }
        _ => (observed, principals),
    };
    if let Some(o) = &observed {
        fill_status(status, o, &principals, svc.spec.service_id.is_some());
    }
    Ok(())
}

/// Find the service this object manages: the id in status, the adopted id
/// in spec, or (after a crash between create and status write) the one
/// tagged with the object's UID.
async fn observe(
    svc: &EndpointService,
    aws: &RegionClients,
    status: &EndpointServiceStatus,
    owner: &Owner,
) -> Result<Option<ObservedService>, Failure> {
    let known = status.service_id.clone().or_else(|| svc.spec.service_id.clone());
    let found = match &known {
        Some(id) => aws.find_service(id).await.map_err(Failure::Aws)?,
        None => aws.find_owned_service(&owner.uid).await.map_err(Failure::Aws)?,
    };
    if found.is_none()
        && let Some(id) = &svc.spec.service_id
    {
        return Err(Failure::Spec(
            "ServiceNotFound",
            vec![SpecProblem::new(
                "spec.serviceId",
                format!(
                    "endpoint service {id} does not exist in {} for this account: check spec.serviceId, spec.region and spec.roleArn, or remove serviceId to create a new service",
                    aws.region
                ),
            )],
        ));
    }
    Ok(found)
}

fn fill_status(status: &mut EndpointServiceStatus, o: &ObservedService, principals: &BTreeSet<String>, adopted: bool) {
    status.service_id = Some(o.id.clone());
    status.service_name = o.name.clone();
    status.service_state = o.state.clone();
    status.adopted = adopted;
    status.acceptance_required = Some(o.acceptance_required);
    status.base_endpoint_dns_names = o.base_endpoint_dns_names.clone();
    status.availability_zones = o.availability_zones.clone();
    status.private_dns_name_configuration = o.private_dns_name.as_ref().map(|name| PrivateDnsNameConfiguration {
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
async fn cleanup(svc: &EndpointService, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
    if svc.spec.deletion_policy.retains() {
        ctx.event(
            svc,
            EventType::Normal,
            "Retained",
            "deletionPolicy is Retain: the endpoint service is left in AWS".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let owner = owner(svc);
    let Ok(identity) = ctx.identity(&owner.namespace, svc.spec.role_arn.as_deref(), svc.spec.external_id.as_deref())
    else {
        // Never allowed to act in that account: nothing was created there.
        return Ok(Action::await_change());
    };
    let region = svc
        .status
        .as_ref()
        .and_then(|s| s.region.clone())
        .or_else(|| svc.spec.region.clone())
        .unwrap_or_else(|| ctx.settings.default_region.clone());
    let aws = ctx.aws.for_region(&identity, &region).await;
    let known = svc.status.as_ref().and_then(|s| s.service_id.clone()).or_else(|| svc.spec.service_id.clone());
    let service_id = match known {
        Some(id) => id,
        None => match aws.find_owned_service(&owner.uid).await? {
            Some(found) => found.id,
            None => return Ok(Action::await_change()),
        },
    };

    let consumers = in_cluster_consumers(svc, ctx).await?;
    if !consumers.is_empty() {
        let message = format!(
            "waiting for InterfaceEndpoints {} that use this service to be deleted first",
            consumers.join(", ")
        );
        block_deletion(api, svc, svc.status.as_ref(), "ConsumersExist", &message).await?;
        return Err(Error::Waiting(message));
    }

    let existing = aws.find_service(&service_id).await?;
    for action in plan_deletion(existing.as_ref(), false) {
        if let Err(e) = aws.apply_service_action(Some(&service_id), &action).await {
            return Err(deletion_refused(api, svc, svc.status.as_ref(), ctx, e).await);
        }
        ctx.event(svc, EventType::Normal, "Deleted", format!("deleted endpoint service {service_id}")).await;
    }
    if existing.is_some() && aws.find_service(&service_id).await?.is_some() {
        return Err(Error::Waiting(format!("endpoint service {service_id} is still listed by AWS")));
    }
    Ok(Action::await_change())
}

/// InterfaceEndpoints in the object's namespace that reference it.
async fn in_cluster_consumers(svc: &EndpointService, ctx: &Context) -> Result<Vec<String>, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let endpoints: Api<InterfaceEndpoint> = Api::namespaced(ctx.client.clone(), &ns);
    let name = svc.name_any();
    Ok(endpoints
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|ep| ep.spec.service_ref.as_ref().is_some_and(|r| r.name == name))
        .map(|ep| ep.name_any())
        .collect())
}
