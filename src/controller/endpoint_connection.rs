//! EndpointConnection reconciler: the provider's Accept/Reject decision on
//! one consumer endpoint's connection. Identity and tenancy (the referenced
//! EndpointService's, or a service named by id under the adoption rules) →
//! conflicts with other EndpointConnections → observe the connection →
//! decide → status. Deleting an object that accepted its endpoint rejects it.

use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::{
    CleanupTarget, Context, Error, Reconcile, Settled, cleanup_target, deletion_refused, drive, error_policy,
    record_target, scopes, watch_config,
};
use crate::api::endpoint_connection::ConnectionDecision;
use crate::api::{DeletionPolicy, EndpointConnection, EndpointConnectionStatus, EndpointService};
use crate::aws::guard::{Claim, Permit};
use crate::aws::{Identity, RegionClients};
use crate::plan::SpecProblem;
use crate::plan::connections::{DecisionStep, decision_conditions, decision_step};
use crate::plan::endpoint_service::ServiceAction;
use crate::plan::facts::ObservedConnection;
use crate::plan::tags::{OWNER_NAME, OWNER_NAMESPACE, Owner};

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

/// The service a connection decision applies to, and how to reach it.
struct Target {
    service_id: String,
    region: String,
    identity: Identity,
    role_arn: Option<String>,
    /// The uid of the EndpointService of this namespace that owns the
    /// service (`serviceRef`'s), if known.
    local_owner: Option<String>,
    /// How the spec names it, for messages.
    label: String,
}

fn owner(conn: &EndpointConnection, ctx: &Context) -> Owner {
    Owner {
        cluster: ctx.settings.cluster_id().to_string(),
        namespace: conn.namespace().unwrap_or_default(),
        name: conn.name_any(),
        uid: conn.uid().unwrap_or_default(),
    }
}

/// What an EndpointConnection refers to: the endpoint it decides.
fn endpoint_reference(conn: &EndpointConnection) -> String {
    format!("endpoint/{}", conn.spec.vpc_endpoint_id)
}

impl Reconcile for EndpointConnection {
    fn reference(&self) -> Option<String> {
        Some(endpoint_reference(self))
    }

    type Status = EndpointConnectionStatus;

    fn status(&self) -> Option<&EndpointConnectionStatus> {
        self.status.as_ref()
    }

    async fn sync(
        &self,
        api: &Api<EndpointConnection>,
        ctx: &Context,
        status: &mut EndpointConnectionStatus,
    ) -> Result<Settled, Error> {
        let target = resolve(self, ctx, status).await?;
        refuse_conflicts(self, ctx, &target).await?;
        let aws = ctx.aws.for_region(&target.identity, &target.region).await;
        let owner = owner(self, ctx);
        // A service named by id: the guard decides before anything is
        // recorded, so a refused object's cleanup finds no target and makes
        // no AWS call.
        let mut permit = match &self.spec.service_id {
            Some(_) => Some(claim_service(self, ctx, &aws, &owner, &target).await?),
            None => None,
        };
        let account = super::acting_account(ctx, &target.identity, status.account.as_deref()).await?;
        if status.service_id.as_deref() != Some(target.service_id.as_str())
            || status.service_region.as_deref() != Some(target.region.as_str())
            || status.role_arn != target.role_arn
            || status.account.as_deref() != Some(account.as_str())
        {
            let before = status.clone();
            status.service_id = Some(target.service_id.clone());
            status.service_region = Some(target.region.clone());
            status.role_arn = target.role_arn.clone();
            status.account = Some(account);
            record_target(api, self, Some(&before), status).await?;
        }
        let moving = matches!(status.state.as_deref(), None | Some("pendingAcceptance" | "pending"));
        let age = ctx.read_age(self, moving);
        let endpoint = &self.spec.vpc_endpoint_id;
        super::log_aws_id(endpoint);
        let mut connection = aws.connection_to(&target.service_id, endpoint, age).await.map_err(Error::aws)?;
        let step = decision_step(self.spec.decision, connection.as_ref());
        let action = match step {
            DecisionStep::Accept => Some(ServiceAction::AcceptConnections(vec![endpoint.clone()])),
            DecisionStep::Reject => Some(ServiceAction::RejectConnections(vec![endpoint.clone()])),
            _ => None,
        };
        if let Some(action) = action {
            let granted = match permit.take() {
                Some(granted) => granted,
                None => {
                    let local_owner = target.local_owner.as_deref();
                    let claim = Claim::Connections { service_id: &target.service_id, local_owner };
                    super::guard(&aws, &owner, claim).await?
                }
            };
            tracing::info!(action = %action, "applying");
            aws.apply_service_action(&granted, Some(&target.service_id), &action).await.map_err(Error::aws)?;
            ctx.event(self, EventType::Normal, action.aws_action(), action.to_string()).await;
            let fresh = aws.refresh_connections(&target.service_id).await.map_err(Error::aws)?;
            connection = fresh.into_iter().find(|c| c.endpoint_id == *endpoint);
        }
        fill_status(status, connection.as_ref());
        let step = decision_step(self.spec.decision, connection.as_ref());
        let (conditions, next) =
            decision_conditions(&step, self.spec.decision, endpoint, &target.label, connection.as_ref());
        Ok(Settled::new(conditions, next))
    }

    async fn cleanup(&self, api: &Api<EndpointConnection>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

/// The service and identity: those of the EndpointService named by
/// `serviceRef` (it must exist and have a service), or `serviceId` with the
/// spec's region and role under the tenancy rules (adopting: acting on a
/// service no EndpointService of the namespace manages).
async fn resolve(conn: &EndpointConnection, ctx: &Context, status: &EndpointConnectionStatus) -> Result<Target, Error> {
    let ns = conn.namespace().unwrap_or_default();
    if let Some(id) = &conn.spec.service_id {
        let identity = ctx
            .identity(&ns, conn.spec.role_arn.as_deref(), conn.spec.external_id.as_deref())
            .map_err(Error::Refused)?;
        ctx.may_adopt(&ns, "spec.serviceId").map_err(Error::Refused)?;
        let region = conn
            .spec
            .region
            .clone()
            .or_else(|| status.service_region.clone())
            .unwrap_or_else(|| ctx.settings.default_region().to_string());
        return Ok(Target {
            service_id: id.clone(),
            region,
            identity,
            role_arn: conn.spec.role_arn.clone(),
            local_owner: None,
            label: format!("service {id}"),
        });
    }
    let name = conn.spec.service_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let services: Api<EndpointService> = Api::namespaced(ctx.client.clone(), &ns);
    let svc = services.get_opt(&name).await?;
    let Some(svc) = svc else {
        return Err(Error::Waiting(
            "ServiceNotFound",
            format!("EndpointService {name} does not exist in namespace {ns}: create it or fix spec.serviceRef"),
        ));
    };
    let svc_status = svc.status.clone().unwrap_or_default();
    let (Some(service_id), Some(region)) = (svc_status.service_id.clone(), svc_status.region.clone()) else {
        return Err(Error::Waiting(
            "WaitingForService",
            format!("waiting for EndpointService {name} to have an endpoint service in AWS"),
        ));
    };
    // The service's own identity: the one it was created with.
    let identity =
        ctx.identity(&ns, svc_status.role_arn.as_deref(), svc.spec.external_id.as_deref()).map_err(Error::Refused)?;
    Ok(Target {
        service_id,
        region,
        identity,
        role_arn: svc_status.role_arn.clone(),
        local_owner: svc.uid(),
        label: format!("EndpointService {name}"),
    })
}

/// Two EndpointConnections deciding the same endpoint of the same service:
/// both report it, neither acts (no flapping between their decisions).
async fn refuse_conflicts(conn: &EndpointConnection, ctx: &Context, target: &Target) -> Result<(), Error> {
    let ns = conn.namespace().unwrap_or_default();
    let api: Api<EndpointConnection> = Api::namespaced(ctx.client.clone(), &ns);
    let list = api.list(&ListParams::default()).await?;
    let same_service = |other: &EndpointConnection| match (&other.spec.service_ref, &conn.spec.service_ref) {
        (Some(a), Some(b)) => a.name == b.name,
        _ => {
            let other_id = other.spec.service_id.clone().or_else(|| other.status.as_ref()?.service_id.clone());
            other_id.as_deref() == Some(target.service_id.as_str())
        }
    };
    let others: Vec<String> = list
        .items
        .iter()
        .filter(|o| o.uid() != conn.uid() && o.meta().deletion_timestamp.is_none())
        .filter(|o| o.spec.vpc_endpoint_id == conn.spec.vpc_endpoint_id && same_service(o))
        .map(|o| format!("{} ({:?})", o.name_any(), o.spec.decision))
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(Error::Spec(
        "Conflict",
        vec![SpecProblem::new(
            "spec.vpcEndpointId",
            format!(
                "EndpointConnections {} also decide {} of {}: none of them acts until one is left; delete all but one",
                others.join(", "),
                conn.spec.vpc_endpoint_id,
                target.label
            ),
        )],
    ))
}

/// The guard's permit to decide connections of a service named by id: read
/// fresh by id, decided from the full owner in its tags (an EndpointService
/// of this namespace by namespace, name and uid, or no one).
async fn claim_service(
    conn: &EndpointConnection,
    ctx: &Context,
    aws: &RegionClients,
    owner: &Owner,
    target: &Target,
) -> Result<Permit, Error> {
    let Some(service) = aws.find_service(&target.service_id).await.map_err(Error::aws)? else {
        return Err(Error::Spec(
            "ServiceNotFound",
            vec![SpecProblem::new(
                "spec.serviceId",
                format!(
                    "endpoint service {} does not exist in {} for this account: check spec.serviceId, spec.region and spec.roleArn",
                    target.service_id, target.region
                ),
            )],
        ));
    };
    let ns = conn.namespace().unwrap_or_default();
    let local_owner = local_owner_of(ctx, &ns, &service.tags).await?;
    let claim = Claim::Connections { service_id: &target.service_id, local_owner: local_owner.as_deref() };
    super::guard(aws, owner, claim).await
}

/// The uid of the EndpointService of namespace `ns` that a service's
/// `tags` name as its owner, if one exists.
async fn local_owner_of(
    ctx: &Context,
    ns: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<Option<String>, kube::Error> {
    match (tags.get(OWNER_NAMESPACE), tags.get(OWNER_NAME)) {
        (Some(owner_ns), Some(name)) if owner_ns == ns => {
            let services: Api<EndpointService> = Api::namespaced(ctx.client.clone(), ns);
            Ok(services.get_opt(name).await?.and_then(|s| s.uid()))
        }
        _ => Ok(None),
    }
}

fn fill_status(status: &mut EndpointConnectionStatus, connection: Option<&ObservedConnection>) {
    status.state = connection.map(|c| c.state.clone());
    status.endpoint_owner = connection.and_then(|c| c.owner.clone());
    status.region = connection.and_then(|c| c.region.clone());
    status.since = connection.and_then(|c| c.since.clone());
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
        let local_owner = local_owner_of(ctx, &conn.namespace().unwrap_or_default(), &tags).await?;
        let claim = Claim::Connections { service_id: &service_id, local_owner: local_owner.as_deref() };
        let permit = match super::guard_cleanup(conn, ctx, &aws, &owner(conn, ctx), claim).await {
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
