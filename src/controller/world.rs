//! The world around an object as the controllers read it ([`World`]): the
//! Kubernetes objects of its namespace, SNS topics in any region with the
//! object's identity, and the traffic diagnosis of its endpoint.

use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};

use super::status::ObjectStatus;
use super::{Context, object_key};
use crate::api::conditions::{Condition, TRAFFIC_ALLOWED};
use crate::api::{EndpointConnection, EndpointService};
use crate::aws::{Identity, RegionClients};
use crate::plan::error::Error;
use crate::plan::facts::{AwsError, ObservedEndpoint};
use crate::plan::reads::World;

/// How long a TrafficAllowed diagnosis stands before it is made again (a
/// spec change or a new endpoint state makes it again at once).
pub const TRAFFIC_RECHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// The cluster and AWS around one object, during one reconcile.
pub struct Cluster<'a, K> {
    ctx: &'a Context,
    obj: &'a K,
    /// The object's identity and clients, once the tenancy rules allowed them.
    acting: Option<(Identity, Arc<RegionClients>)>,
}

impl<'a, K> Cluster<'a, K> {
    /// The world of `obj`, before its identity is known (Kubernetes only).
    pub fn new(ctx: &'a Context, obj: &'a K) -> Self {
        Self { ctx, obj, acting: None }
    }

    /// The same world, reading AWS as `identity` does with `aws`.
    pub fn acting(self, identity: Identity, aws: Arc<RegionClients>) -> Self {
        Self { acting: Some((identity, aws)), ..self }
    }
}

impl<K> Cluster<'_, K>
where
    K: Resource<DynamicType = ()>,
{
    fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }
}

/// What a kind's status tells the traffic diagnosis: the condition it holds.
pub trait KnownConditions {
    /// The conditions the object's status holds now.
    fn known_conditions(&self) -> Vec<Condition>;
}

impl<K> KnownConditions for K
where
    K: super::Reconcile,
{
    fn known_conditions(&self) -> Vec<Condition> {
        self.status().map(|s| s.conditions().to_vec()).unwrap_or_default()
    }
}

impl<K> World for Cluster<'_, K>
where
    K: Resource<DynamicType = ()> + KnownConditions + Sync,
{
    async fn endpoint_service(&self, name: &str) -> Result<Option<EndpointService>, Error> {
        let api: Api<EndpointService> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        Ok(api.get_opt(name).await?)
    }

    async fn endpoint_connections(&self) -> Result<Vec<EndpointConnection>, Error> {
        let api: Api<EndpointConnection> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        Ok(api.list(&ListParams::default()).await?.items)
    }

    async fn topic_policy(&self, topic_arn: &str) -> Option<Result<Option<String>, AwsError>> {
        let (identity, aws) = self.acting.as_ref()?;
        let region = topic_arn.split(':').nth(3).unwrap_or(&aws.region);
        let clients = self.ctx.aws.for_region(identity, region).await;
        Some(clients.topic_policy(topic_arn).await)
    }

    /// `doctor`'s traffic checks for the endpoint (zones, security groups,
    /// network ACLs, VPC DNS, policy), read through the operator's clients:
    /// seven Describe calls, made when the endpoint becomes available, when
    /// its spec or AWS state changes, and hourly.
    async fn traffic_allowed(&self, o: &ObservedEndpoint, fresh: bool) -> Option<Condition> {
        use crate::aws::facts as read;
        use crate::plan::checks::endpoint;
        let (_, aws) = self.acting.as_ref()?;
        let key = object_key(self.obj);
        let generation = self.obj.meta().generation.unwrap_or(1);
        let inputs = (generation, &o.state, &o.subnet_ids, &o.security_group_ids, o.private_dns_enabled);
        // Worked out for the same inputs within the hour: the status holds it.
        let known = self.obj.known_conditions().into_iter().find(|c| c.type_ == TRAFFIC_ALLOWED);
        if !fresh
            && let Some(known) = known
            && self.ctx.diagnosed(&key, inputs, TRAFFIC_RECHECK)
        {
            return Some(known);
        }
        // What many endpoints share (the service's zones, the VPC, the groups)
        // is read once per resync period for all of them.
        let memo_age = if fresh { std::time::Duration::ZERO } else { self.ctx.settings.resync };
        let clients = read::Clients::of(aws).with_memo(aws.observer(), memo_age);
        let found =
            read::interface_traffic_facts(&clients, o.clone(), None, read::default_ports(&o.service_name)).await;
        let condition = endpoint::traffic_condition(&endpoint::interface_traffic(o, &found));
        self.ctx.remember_diagnosis(key, inputs);
        Some(condition)
    }
}
