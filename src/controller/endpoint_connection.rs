//! EndpointConnection reconciler: the provider's Accept/Reject decision on
//! one consumer endpoint's connection. Its stages
//! ([`crate::plan::endpoint_connection`], which `plan` runs too) in the
//! shared skeleton, the watch that shows a conflict on both objects at once,
//! and the cleanup: deleting an object that accepted its endpoint rejects it.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;

use super::{
    CleanupTarget, Context, Error, Reconcile, cleanup_target, deletion_refused, drive, error_policy, scopes,
    watch_config,
};
use crate::api::endpoint_connection::ConnectionDecision;
use crate::api::{DeletionPolicy, EndpointConnection, EndpointConnectionStatus};
use crate::aws::guard::Claim;
use crate::plan::endpoint_connection::local_owner_of;
use crate::plan::endpoint_service::ServiceAction;
use crate::plan::facts::ObservedConnection;

/// Run the EndpointConnection controllers (one per watched namespace, or
/// one for the cluster) until their streams end. A change to one
/// EndpointConnection wakes the others that decide the same endpoint, so a
/// conflict shows on both at once and clears on both when it ends.
pub async fn run(ctx: Arc<Context>) {
    let config = controller::Config::default().concurrency(ctx.settings.concurrency);
    let controllers = scopes::<EndpointConnection>(&ctx).into_iter().enumerate().map(|(i, api)| {
        let controller = super::controller_for(api.clone(), &ctx).with_config(config.clone());
        ctx.report_synced(format!("EndpointConnection/{i}"), controller.store());
        let refs = ctx.clone();
        drive(
            controller
                .watches(api, watch_config(&ctx), move |changed: EndpointConnection| {
                    let ns = changed.namespace().unwrap_or_default();
                    let mut others = refs.referring::<EndpointConnection>(&ns, &endpoint_reference(&changed));
                    others.retain(|o| o.name != changed.name_any());
                    others
                })
                .shutdown_on_signal()
                .run(super::reconcile_cached, error_policy, ctx.clone()),
        )
    });
    futures::future::join_all(controllers).await;
}

/// Reconcile one EndpointConnection (the shared skeleton, filled in below).
pub async fn reconcile(conn: Arc<EndpointConnection>, ctx: Arc<Context>) -> Result<Action, Error> {
    super::reconcile(conn, ctx).await
}

/// What an EndpointConnection refers to: the endpoint it decides.
fn endpoint_reference(conn: &EndpointConnection) -> String {
    format!("endpoint/{}", conn.spec.vpc_endpoint_id)
}

impl Reconcile for EndpointConnection {
    fn reference(&self) -> Option<String> {
        Some(endpoint_reference(self))
    }

    fn status(&self) -> Option<&EndpointConnectionStatus> {
        self.status.as_ref()
    }

    async fn cleanup(&self, api: &Api<EndpointConnection>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

/// Deleting an EndpointConnection that accepted its endpoint rejects the
/// endpoint (unless Retain), with the identity and in the region recorded.
async fn cleanup(conn: &EndpointConnection, api: &Api<EndpointConnection>, ctx: &Context) -> Result<Action, Error> {
    let status = conn.status.as_ref();
    let recorded = status.and_then(|s| Some((s.service_region.clone()?, s.role_arn.clone())));
    let external_id = conn.spec.external_id.as_deref();
    let Some(CleanupTarget { identity, region, policy }) =
        cleanup_target(api, conn, status, ctx, recorded, external_id, conn.spec.deletion_policy).await?
    else {
        return Ok(Action::await_change());
    };
    if policy == DeletionPolicy::Retain || conn.spec.decision == ConnectionDecision::Reject {
        return Ok(Action::await_change());
    }
    let Some(service_id) = status.and_then(|s| s.service_id.clone()) else { return Ok(Action::await_change()) };
    let aws = ctx.aws.for_region(&identity, &region).await;
    let endpoint = &conn.spec.vpc_endpoint_id;
    let connection = match aws.connection(&service_id, endpoint).await {
        Ok(c) => c,
        Err(e) => return Err(deletion_refused(api, conn, status, ctx, e).await),
    };
    if connection.as_ref().is_some_and(ObservedConnection::holds_service) {
        // Whose the service is now, read fresh: it may have changed hands
        // since this object decided its connection.
        let tags = match aws.find_service(&service_id).await {
            Ok(service) => service.map(|s| s.tags).unwrap_or_default(),
            Err(e) => return Err(deletion_refused(api, conn, status, ctx, e).await),
        };
        let world = super::world::Cluster::new(ctx, conn);
        let local_owner = local_owner_of(&world, &conn.namespace().unwrap_or_default(), &tags).await?;
        let claim = Claim::Connections { service_id: &service_id, local_owner: local_owner.as_deref() };
        let permit = match super::guard_cleanup(conn, ctx, &aws, &super::owner_of(conn, ctx), claim).await {
            Ok(Some(permit)) => permit,
            Ok(None) => return Ok(Action::await_change()),
            Err(e) => return Err(deletion_refused(api, conn, status, ctx, e).await),
        };
        let reject = ServiceAction::RejectConnections(vec![endpoint.clone()]);
        if let Err(e) = aws.apply_service_action(&permit, Some(&service_id), &reject).await {
            return Err(deletion_refused(api, conn, status, ctx, e).await);
        }
        let note = format!("rejected {endpoint}: its EndpointConnection was deleted");
        ctx.event(conn, EventType::Normal, "RejectVpcEndpointConnections", note).await;
        let _ = aws.refresh_connections(&service_id).await;
    }
    Ok(Action::await_change())
}
