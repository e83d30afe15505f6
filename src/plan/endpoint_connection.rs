//! The EndpointConnection's stages: the service its decision applies to
//! (the referenced EndpointService's, acting as that service was created,
//! or a service named by id under the adoption rules), with the conflict
//! between two objects deciding one endpoint; the connection AWS reports;
//! the decision carried out; the status.

use std::time::Duration;

use super::connections::{DecisionStep, decision_conditions, decision_step};
use super::endpoint_service::ServiceAction;
use super::error::Error;
use super::facts::ObservedConnection;
use super::reads::{AwsReads, World};
use super::stages::{Category, PlannedAction, Scope, Settled, Stages, Target};
use super::tags::{Claim, OWNER_NAME, OWNER_NAMESPACE};
use super::{Next, SpecProblem};
use crate::api::endpoint_connection::ConnectionDecision;
use crate::api::{EndpointConnection, EndpointConnectionStatus};

/// The decision carried out on one endpoint's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Accept or reject.
    pub decision: ConnectionDecision,
    /// The service, as the spec names it (its id, or the service of an
    /// EndpointService).
    pub service: String,
    /// The consumer's endpoint.
    pub endpoint: String,
}

impl Decision {
    /// The service action that carries it out.
    pub fn service_action(&self) -> ServiceAction {
        let endpoints = vec![self.endpoint.clone()];
        match self.decision {
            ConnectionDecision::Accept => ServiceAction::AcceptConnections(endpoints),
            ConnectionDecision::Reject => ServiceAction::RejectConnections(endpoints),
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} service={} endpoints=[{}]", self.aws_action(), self.service, self.endpoint)
    }
}

impl PlannedAction for Decision {
    fn aws_action(&self) -> &'static str {
        self.service_action().aws_action()
    }

    fn category(&self) -> Category {
        Category::Change
    }

    fn announced(&self) -> bool {
        true
    }

    fn describe_later(&self) -> String {
        format!("{} service={} endpoint={} (once the request is seen)", self.aws_action(), self.service, self.endpoint)
    }
}

/// The service a decision applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    /// `vpce-svc-…`.
    pub service_id: String,
    /// The uid of the EndpointService of this namespace that owns the
    /// service (`serviceRef`'s), when known.
    pub local_owner: Option<String>,
    /// How the spec names it, for messages.
    pub label: String,
    /// How a plan names it in its actions.
    pub named: String,
}

/// The connection AWS reports, and who owns the service.
#[derive(Debug, Clone)]
pub struct ConnectionObserved {
    /// The service decided on.
    pub service_id: String,
    /// The uid of the EndpointService of this namespace the service's
    /// owner tags name.
    pub local_owner: Option<String>,
    /// The endpoint's connection, once it asked to connect.
    pub connection: Option<ObservedConnection>,
    /// How a plan names the service.
    pub named: String,
}

impl EndpointConnection {
    /// The spec's decision, on its endpoint of the observed service.
    fn decision(&self, observed: &ConnectionObserved) -> Decision {
        Decision {
            decision: self.spec.decision,
            service: observed.named.clone(),
            endpoint: self.spec.vpc_endpoint_id.clone(),
        }
    }
}

impl Stages for EndpointConnection {
    type Status = EndpointConnectionStatus;
    type Refs = ServiceTarget;
    type Observed = ConnectionObserved;
    type Desired = ConnectionDecision;
    type Action = Decision;

    fn moving(status: &Self::Status) -> bool {
        matches!(status.state.as_deref(), None | Some("pendingAcceptance" | "pending"))
    }

    async fn dereference<W: World>(
        &self,
        world: &W,
        status: &Self::Status,
        default_region: &str,
    ) -> Result<(Self::Refs, Target), Error> {
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        let (refs, target) = match &self.spec.service_id {
            Some(id) => {
                let region = self
                    .spec
                    .region
                    .clone()
                    .or_else(|| status.service_region.clone())
                    .unwrap_or_else(|| default_region.to_string());
                let target = Target {
                    role_arn: self.spec.role_arn.clone(),
                    external_id: self.spec.external_id.clone(),
                    region,
                    adopting: Some(("spec.serviceId", id.clone())),
                    vpc_id: None,
                };
                let refs = ServiceTarget {
                    service_id: id.clone(),
                    local_owner: None,
                    label: format!("service {id}"),
                    named: id.clone(),
                };
                (refs, target)
            }
            None => {
                let name = self.spec.service_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
                let Some(svc) = world.endpoint_service(&name).await? else {
                    return Err(Error::Waiting(
                        "ServiceNotFound",
                        format!(
                            "EndpointService {name} does not exist in namespace {ns}: create it or fix spec.serviceRef"
                        ),
                    ));
                };
                let svc_status = svc.status.clone().unwrap_or_default();
                let (Some(service_id), Some(region)) = (svc_status.service_id.clone(), svc_status.region.clone())
                else {
                    return Err(Error::Waiting(
                        "WaitingForService",
                        format!("waiting for EndpointService {name} to have an endpoint service in AWS"),
                    ));
                };
                // The service's own identity: the one it was created with.
                let target = Target {
                    role_arn: svc_status.role_arn.clone(),
                    external_id: svc.spec.external_id.clone(),
                    region,
                    adopting: None,
                    vpc_id: None,
                };
                let refs = ServiceTarget {
                    service_id,
                    local_owner: svc.metadata.uid.clone(),
                    label: format!("EndpointService {name}"),
                    named: format!("the service of EndpointService {name}"),
                };
                (refs, target)
            }
        };
        refuse_conflicts(self, world, &refs).await?;
        Ok((refs, target))
    }

    async fn observe<A: AwsReads, W: World>(
        &self,
        refs: &Self::Refs,
        _: &Self::Status,
        scope: &Scope,
        aws: &A,
        world: &W,
        previous: Option<Self::Observed>,
        after: &[Self::Action],
    ) -> Result<Self::Observed, Error> {
        // A service named by id: whose it is, read now by id (the guard
        // decides from it before anything is recorded).
        let local_owner = match (&self.spec.service_id, previous) {
            (None, _) => refs.local_owner.clone(),
            (Some(_), Some(p)) => p.local_owner,
            (Some(id), None) => {
                let Some(service) = aws.find_service(id).await? else {
                    return Err(Error::Spec(
                        "ServiceNotFound",
                        vec![SpecProblem::new(
                            "spec.serviceId",
                            format!(
                                "endpoint service {id} does not exist in {} for this account: check spec.serviceId, spec.region and spec.roleArn",
                                aws.region()
                            ),
                        )],
                    ));
                };
                local_owner_of(world, &scope.owner.namespace, &service.tags).await?
            }
        };
        let endpoint = &self.spec.vpc_endpoint_id;
        let connection = match after {
            // A decision carried out: the service's connections read again.
            [_, ..] => aws
                .connections_of(&refs.service_id, Duration::ZERO)
                .await?
                .into_iter()
                .find(|c| c.endpoint_id == *endpoint),
            [] => aws.connection_to(&refs.service_id, endpoint, scope.age).await?,
        };
        Ok(ConnectionObserved {
            service_id: refs.service_id.clone(),
            local_owner,
            connection,
            named: refs.named.clone(),
        })
    }

    fn claim_first<'a>(&'a self, observed: &'a Self::Observed) -> Option<Claim<'a>> {
        self.spec.service_id.as_ref().map(|_| self.claim(observed))
    }

    fn record(&self, target: &Target, account: &str, observed: &Self::Observed, status: &mut Self::Status) -> bool {
        let changed = status.service_id.as_deref() != Some(observed.service_id.as_str())
            || status.service_region.as_deref() != Some(target.region.as_str())
            || status.role_arn != target.role_arn
            || status.account.as_deref() != Some(account);
        status.service_id = Some(observed.service_id.clone());
        status.service_region = Some(target.region.clone());
        status.role_arn = target.role_arn.clone();
        status.account = Some(account.to_string());
        changed
    }

    fn validate(&self, _: &Self::Refs, _: &Self::Observed, _: &Scope) -> Result<Self::Desired, Error> {
        Ok(self.spec.decision)
    }

    fn plan(&self, decision: &Self::Desired, observed: &Self::Observed, _: &Scope) -> Vec<Self::Action> {
        match decision_step(*decision, observed.connection.as_ref()) {
            DecisionStep::Accept | DecisionStep::Reject => vec![self.decision(observed)],
            _ => Vec::new(),
        }
    }

    fn eventually(&self, decision: &Self::Desired, observed: &Self::Observed, _: &Scope) -> Vec<Self::Action> {
        match decision_step(*decision, observed.connection.as_ref()) {
            DecisionStep::Waiting => vec![self.decision(observed)],
            _ => Vec::new(),
        }
    }

    fn claim<'a>(&'a self, observed: &'a Self::Observed) -> Claim<'a> {
        Claim::Connections { service_id: &observed.service_id, local_owner: observed.local_owner.as_deref() }
    }

    fn resource_id(observed: &Self::Observed) -> Option<&str> {
        Some(&observed.service_id)
    }

    fn created(_: &mut Self::Status, _: &str) {}

    fn fill(&self, observed: &Self::Observed, _: Option<&Self::Desired>, status: &mut Self::Status) {
        let connection = observed.connection.as_ref();
        status.state = connection.map(|c| c.state.clone());
        status.endpoint_owner = connection.and_then(|c| c.owner.clone());
        status.region = connection.and_then(|c| c.region.clone());
        status.since = connection.and_then(|c| c.since.clone());
    }

    fn conclude(
        &self,
        refs: &Self::Refs,
        observed: &Self::Observed,
        decision: &Self::Desired,
        _: &Scope,
        _: &mut Self::Status,
    ) -> Result<Settled, Error> {
        let connection = observed.connection.as_ref();
        let step = decision_step(*decision, connection);
        let (conditions, next): (_, Next) =
            decision_conditions(&step, *decision, &self.spec.vpc_endpoint_id, &refs.label, connection);
        Ok(Settled::new(conditions, next))
    }
}

/// Two EndpointConnections deciding the same endpoint of the same service:
/// both report it, neither acts (no flapping between their decisions).
async fn refuse_conflicts<W: World>(conn: &EndpointConnection, world: &W, target: &ServiceTarget) -> Result<(), Error> {
    let same_service = |other: &EndpointConnection| match (&other.spec.service_ref, &conn.spec.service_ref) {
        (Some(a), Some(b)) => a.name == b.name,
        _ => {
            let other_id = other.spec.service_id.clone().or_else(|| other.status.as_ref()?.service_id.clone());
            other_id.as_deref() == Some(target.service_id.as_str())
        }
    };
    let others: Vec<String> = world
        .endpoint_connections()
        .await?
        .iter()
        .filter(|o| o.metadata.uid != conn.metadata.uid && o.metadata.deletion_timestamp.is_none())
        .filter(|o| o.spec.vpc_endpoint_id == conn.spec.vpc_endpoint_id && same_service(o))
        .map(|o| format!("{} ({:?})", o.metadata.name.clone().unwrap_or_default(), o.spec.decision))
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

/// The uid of the EndpointService of namespace `ns` that a service's
/// `tags` name as its owner, if one exists.
pub async fn local_owner_of<W: World>(
    world: &W,
    ns: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<Option<String>, Error> {
    match (tags.get(OWNER_NAMESPACE), tags.get(OWNER_NAME)) {
        (Some(owner_ns), Some(name)) if owner_ns == ns => {
            Ok(world.endpoint_service(name).await?.and_then(|s| s.metadata.uid))
        }
        _ => Ok(None),
    }
}
