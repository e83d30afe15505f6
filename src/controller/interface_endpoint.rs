//! InterfaceEndpoint reconciler: its stages
//! ([`crate::plan::interface_endpoint::stages`], which `plan` runs too) in
//! the shared skeleton, the watch that wakes endpoints when their
//! EndpointService changes, and the cleanup.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;

use super::{
    CleanupTarget, Context, Error, Found, Reconcile, block_deletion, cleanup_target, deletion_blocked,
    deletion_refused, drive, error_policy, let_go, scopes, watch_config,
};
use crate::api::{EndpointService, InterfaceEndpoint, InterfaceEndpointStatus};
use crate::aws::RegionClients;
use crate::aws::guard::Claim;
use crate::plan::interface_endpoint::stages;
use crate::plan::interface_endpoint::{EndpointAction, EndpointDeletion, plan_deletion};

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
    fn reference(&self) -> Option<String> {
        self.spec.service_ref.as_ref().map(|r| service_reference(&r.name))
    }

    fn status(&self) -> Option<&InterfaceEndpointStatus> {
        self.status.as_ref()
    }

    async fn cleanup(&self, api: &Api<InterfaceEndpoint>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
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
        cleanup_target(api, ep, status, ctx, recorded, ep.spec.external_id.as_deref(), stages::effective_policy(ep))
            .await?
    else {
        return Ok(Action::await_change());
    };
    let aws = ctx.aws.for_region(&identity, &region).await;
    let owner = super::owner_of(ep, ctx);
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
