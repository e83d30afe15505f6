//! EndpointService reconciler: identity and tenancy → dereference (AWS
//! state) → validate (spec, load balancers) → plan → apply → status.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{
    CleanupTarget, Context, Error, Failure, Found, Reconcile, Refusal, Settled, block_deletion, cleanup_target,
    deletion_blocked, deletion_refused, drive, error_policy, let_go, record_target, scopes, watch_config,
};
use crate::api::endpoint_service::{PrivateDnsNameConfiguration, SupportedRegionStatus};
use crate::api::{DeletionPolicy, EndpointService, EndpointServiceStatus, InterfaceEndpoint};
use crate::aws::RegionClients;
use crate::plan::SpecProblem;
use crate::plan::endpoint_service::{
    DesiredService, ObservedService, ServiceAction, check_load_balancers, load_balancer_removal_blocked, plan,
    plan_deletion, service_ready,
};
use crate::plan::tags::{Owner, Ownership};

/// Run the EndpointService controllers (one per watched namespace, or one
/// for the cluster) until their streams end.
pub async fn run(ctx: Arc<Context>) {
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    let controllers = scopes::<EndpointService>(&ctx).into_iter().map(|api| {
        drive(Controller::new(api, watch_config(&ctx)).with_config(config.clone()).shutdown_on_signal().run(
            reconcile,
            error_policy,
            ctx.clone(),
        ))
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
    ) -> Result<Settled, Failure> {
        status.deletion_policy = Some(effective_policy(self));
        sync(self, api, ctx, status).await?;
        let (ready, next) = service_ready(status.service_state.as_deref(), status.service_name.as_deref());
        Ok(Settled::new(vec![ready], next))
    }

    async fn cleanup(&self, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

fn owner(svc: &EndpointService) -> Owner {
    Owner { namespace: svc.namespace().unwrap_or_default(), name: svc.name_any(), uid: svc.uid().unwrap_or_default() }
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

/// Tenancy, dereference, validate, plan and apply; fills `status` as it learns.
async fn sync(
    svc: &EndpointService,
    api: &Api<EndpointService>,
    ctx: &Context,
    status: &mut EndpointServiceStatus,
) -> Result<(), Failure> {
    let owner = owner(svc);
    let identity = ctx
        .identity(&owner.namespace, svc.spec.role_arn.as_deref(), svc.spec.external_id.as_deref())
        .map_err(Failure::Refused)?;
    if svc.spec.service_id.is_some() {
        ctx.may_adopt(&owner.namespace, "spec.serviceId").map_err(Failure::Refused)?;
    }
    let generation = svc.meta().generation.unwrap_or(1);
    // Where the service lives: the spec's region, else the region recorded
    // when it was created (the operator's default may have changed since).
    let default_region = status.region.clone().unwrap_or_else(|| ctx.settings.default_region.clone());
    let mut desired = DesiredService::from_spec(&svc.spec, &owner, generation, &default_region)
        .map_err(|p| Failure::Spec("InvalidSpec", p))?;
    if status.region.as_deref() != Some(desired.region.as_str()) || status.role_arn != svc.spec.role_arn {
        let before = status.clone();
        status.region = Some(desired.region.clone());
        status.role_arn = svc.spec.role_arn.clone();
        record_target(api, svc, Some(&before), status).await.map_err(Failure::Kube)?;
    }
    let aws = ctx.aws.for_region(&identity, &desired.region).await;

    let observed = observe(svc, &aws, status, &owner, &mut desired).await?;
    status.adopted = svc.spec.service_id.is_some();
    let lbs = aws.describe_load_balancers(&desired.load_balancer_arns()).await.map_err(|e| Failure::Aws(e, None))?;
    let lb_problems = check_load_balancers(&desired, &lbs);
    if !lb_problems.is_empty() {
        return Err(Failure::Spec("LoadBalancerCheckFailed", lb_problems));
    }
    let principals = match &observed {
        Some(o) => aws.allowed_principals(&o.id).await.map_err(|e| Failure::Aws(e, None))?,
        None => BTreeSet::new(),
    };
    let owned = svc.spec.service_id.is_none();
    let actions = plan(&desired, observed.as_ref(), &principals, owned);

    let mut service_id = observed.as_ref().map(|o| o.id.clone());
    let mut failed = None;
    for action in &actions {
        tracing::info!(action = %action, "applying");
        match aws.apply_service_action(service_id.as_deref(), action).await {
            Ok(Some(id)) => {
                status.service_id = Some(id.clone());
                service_id = Some(id);
            }
            Ok(None) => {}
            Err(e) => {
                failed = Some(match (action, &service_id) {
                    (ServiceAction::RemoveLoadBalancers(_, removed), Some(id)) => {
                        let connections = aws.service_connections(id).await.unwrap_or_default();
                        let why = load_balancer_removal_blocked(removed, &connections);
                        Failure::Aws(e, Some(why))
                    }
                    _ => Failure::Aws(e, None),
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
            let o = aws.find_service(id).await.map_err(|e| Failure::Aws(e, None))?;
            (o, aws.allowed_principals(id).await.map_err(|e| Failure::Aws(e, None))?)
        }
        _ => (observed, principals),
    };
    if let Some(o) = &observed {
        fill_status(status, o, &principals);
    }
    failed.map_or(Ok(()), Err)
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
) -> Result<Option<ObservedService>, Failure> {
    let aws_err = |e| Failure::Aws(e, None);
    let found = match (&svc.spec.service_id, &status.service_id) {
        (Some(adopt), _) => {
            let Some(found) = aws.find_service(adopt).await.map_err(aws_err)? else {
                return Err(Failure::Spec(
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
        (None, Some(recorded)) => match aws.find_service(recorded).await.map_err(aws_err)? {
            Some(found) => Some(found),
            None => {
                desired.client_token = owner.client_token_replacing(svc.meta().generation.unwrap_or(1), recorded);
                aws.find_owned_service(&owner.uid).await.map_err(aws_err)?.filter(|s| s.id != *recorded)
            }
        },
        (None, None) => aws.find_owned_service(&owner.uid).await.map_err(aws_err)?,
    };
    if let Some(found) = &found
        && let Ownership::Other(who) = owner.ownership(&found.tags)
    {
        return Err(Failure::Refused(Refusal {
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
/// With Retain, only the ownership tags go. Cleanup acts with the identity
/// and in the region recorded at creation.
async fn cleanup(svc: &EndpointService, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
    let status = svc.status.as_ref();
    let recorded = match status {
        Some(s) if s.region.is_some() => s.region.clone().map(|r| (r, s.role_arn.clone())),
        // Written before regions were recorded: the spec still names them.
        Some(s) if s.service_id.is_some() => Some((
            svc.spec.region.clone().unwrap_or_else(|| ctx.settings.default_region.clone()),
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
    let owner = owner(svc);
    let known = status.and_then(|s| s.service_id.clone()).or_else(|| svc.spec.service_id.clone());
    let existing = match &known {
        Some(id) => aws.find_service(id).await,
        None => aws.find_owned_service(&owner.uid).await,
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

    let consumers = in_cluster_consumers(svc, ctx).await?;
    if !consumers.is_empty() {
        let message = format!(
            "waiting for InterfaceEndpoints {} that use this service to be deleted first",
            consumers.join(", ")
        );
        block_deletion(api, svc, status, "ConsumersExist", &message).await?;
        return Err(Error::Waiting(message));
    }

    for action in plan_deletion(Some(&existing), false) {
        if let Err(e) = aws.apply_service_action(Some(&existing.id), &action).await {
            return Err(deletion_refused(api, svc, status, ctx, e).await);
        }
        ctx.event(svc, EventType::Normal, "Deleted", format!("deleted endpoint service {}", existing.id)).await;
    }
    match aws.find_service(&existing.id).await {
        Ok(None) => Ok(Action::await_change()),
        Ok(Some(_)) => Err(Error::Waiting(format!("endpoint service {} is still listed by AWS", existing.id))),
        Err(e) if e.is_retryable() => Err(Error::Aws(e)),
        Err(e) => Err(deletion_blocked(api, svc, status, ctx, &e.reason(), &e.with_fix()).await),
    }
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
