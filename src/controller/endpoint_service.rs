//! EndpointService reconciler: its stages
//! ([`crate::plan::endpoint_service::stages`], which `plan` runs too) in the
//! shared skeleton, and the cleanup in the order AWS demands.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;

use super::{
    CleanupTarget, Context, Error, Found, Reconcile, block_deletion, cleanup_target, deletion_blocked,
    deletion_refused, drive, error_policy, let_go, scopes,
};
use crate::api::{EndpointConnection, EndpointService, EndpointServiceStatus, InterfaceEndpoint};
use crate::aws::guard::Claim;
use crate::plan::endpoint_service::{ServiceAction, plan_deletion, stages};
use crate::plan::facts::ObservedService;

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
    fn status(&self) -> Option<&EndpointServiceStatus> {
        self.status.as_ref()
    }

    async fn cleanup(&self, api: &Api<EndpointService>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
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
    let policy = stages::effective_policy(svc);
    let Some(CleanupTarget { identity, region, policy }) =
        cleanup_target(api, svc, status, ctx, recorded, svc.spec.external_id.as_deref(), policy).await?
    else {
        return Ok(Action::await_change());
    };
    let aws = ctx.aws.for_region(&identity, &region).await;
    let owner = super::owner_of(svc, ctx);
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
