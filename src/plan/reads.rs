//! What the `dereference` stage of each kind reads, and from where: AWS as
//! one identity sees it in one region ([`AwsReads`]), and the world around
//! the object ([`World`]): the Kubernetes objects of its namespace it refers
//! to, SNS topics wherever they are, the traffic diagnosis. `run` reads the
//! cluster and AWS (`crate::aws` implements [`AwsReads`] for its clients);
//! `plan` reads the manifests it was given and an empty account
//! ([`Nothing`]) or, with `--live`, AWS through the same clients as `run`.
//!
//! AWS reads take the age a snapshot may have (zero: read now). A fact the
//! reader cannot know — an empty account knows no load balancers, VPCs or
//! subnets — is `None`, and the checks that need it are not made.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use super::error::Error;
use super::facts::{
    AwsError, ObservedConnection, ObservedEndpoint, ObservedLoadBalancer, ObservedNotification, ObservedService,
    ServiceOffer, Subnet,
};
use super::tags::Owner;
use crate::api::conditions::Condition;
use crate::api::{EndpointConnection, EndpointService};

/// AWS as one identity sees it in one region.
pub trait AwsReads: Sync {
    /// The region read.
    fn region(&self) -> &str;
    /// The service `id`, from a snapshot no older than `age`.
    fn service(
        &self,
        id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Option<ObservedService>, AwsError>> + Send;
    /// The service `id`, read now (claims are decided from this).
    fn find_service(&self, id: &str) -> impl Future<Output = Result<Option<ObservedService>, AwsError>> + Send;
    /// The service `owner`'s ownership tags name, from a snapshot.
    fn owned_service(
        &self,
        owner: &Owner,
        age: Duration,
    ) -> impl Future<Output = Result<Option<ObservedService>, AwsError>> + Send;
    /// The service `owner`'s ownership tags name, read now.
    fn find_owned_service(
        &self,
        owner: &Owner,
    ) -> impl Future<Output = Result<Option<ObservedService>, AwsError>> + Send;
    /// Principals allowed to connect to the service.
    fn allowed_principals(&self, id: &str) -> impl Future<Output = Result<BTreeSet<String>, AwsError>> + Send;
    /// The load balancers with these ARNs (an unknown ARN is left out);
    /// None when the reader cannot know.
    fn load_balancers(
        &self,
        arns: &[String],
        age: Duration,
    ) -> impl Future<Output = Result<Option<Vec<ObservedLoadBalancer>>, AwsError>> + Send;
    /// How many Availability Zones the region has; None when unknown.
    fn zone_count(&self) -> impl Future<Output = Option<usize>> + Send;
    /// The service's connections.
    fn connections_of(
        &self,
        service_id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Vec<ObservedConnection>, AwsError>> + Send;
    /// One endpoint's connection to the service.
    fn connection_to(
        &self,
        service_id: &str,
        endpoint_id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Option<ObservedConnection>, AwsError>> + Send;
    /// The service's connection notifications.
    fn notifications_of(
        &self,
        service_id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Vec<ObservedNotification>, AwsError>> + Send;
    /// The endpoint `id`, from a snapshot no older than `age`.
    fn endpoint(
        &self,
        id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Option<ObservedEndpoint>, AwsError>> + Send;
    /// The endpoint `id`, read now.
    fn find_endpoint(&self, id: &str) -> impl Future<Output = Result<Option<ObservedEndpoint>, AwsError>> + Send;
    /// The endpoint `owner`'s ownership tags name, from a snapshot.
    fn owned_endpoint(
        &self,
        owner: &Owner,
        age: Duration,
    ) -> impl Future<Output = Result<Option<ObservedEndpoint>, AwsError>> + Send;
    /// The endpoint `owner`'s ownership tags name, read now.
    fn find_owned_endpoint(
        &self,
        owner: &Owner,
    ) -> impl Future<Output = Result<Option<ObservedEndpoint>, AwsError>> + Send;
    /// What the account sees of a service (in `service_region`, when
    /// another); `Some(None)` when AWS lists nothing by that name, None
    /// when the reader cannot know.
    fn service_offer(
        &self,
        name: &str,
        service_region: Option<&str>,
        age: Duration,
    ) -> impl Future<Output = Result<Option<Option<ServiceOffer>>, AwsError>> + Send;
    /// The VPC's `enableDnsSupport` and `enableDnsHostnames`; None when unknown.
    fn vpc_dns(
        &self,
        vpc_id: &str,
        age: Duration,
    ) -> impl Future<Output = Result<Option<(bool, bool)>, AwsError>> + Send;
    /// The subnets with these ids; None when unknown.
    fn subnets(
        &self,
        ids: &[String],
        age: Duration,
    ) -> impl Future<Output = Result<Option<Vec<Subnet>>, AwsError>> + Send;
}

/// What an object refers to outside AWS's region of its resource.
pub trait World: Sync {
    /// The EndpointService `name` of the object's namespace.
    fn endpoint_service(&self, name: &str) -> impl Future<Output = Result<Option<EndpointService>, Error>> + Send;
    /// The EndpointConnections of the object's namespace.
    fn endpoint_connections(&self) -> impl Future<Output = Result<Vec<EndpointConnection>, Error>> + Send;
    /// The policy of an SNS topic (in its own region), as the object's
    /// identity reads it: `Ok(None)` when it has none, None when unknown.
    fn topic_policy(&self, topic_arn: &str) -> impl Future<Output = Option<Result<Option<String>, AwsError>>> + Send;
    /// TrafficAllowed for an available endpoint: `doctor`'s traffic checks,
    /// made again when `fresh` or when their inputs changed; None when the
    /// reader makes no diagnosis.
    fn traffic_allowed(
        &self,
        endpoint: &ObservedEndpoint,
        fresh: bool,
    ) -> impl Future<Output = Option<Condition>> + Send;
}

/// An account with nothing in it, that knows nothing else either: what
/// `plan` reads without `--live`.
#[derive(Debug, Clone, Default)]
pub struct Nothing {
    /// The region it stands for.
    pub region: String,
}

impl AwsReads for Nothing {
    fn region(&self) -> &str {
        &self.region
    }

    async fn service(&self, _: &str, _: Duration) -> Result<Option<ObservedService>, AwsError> {
        Ok(None)
    }

    async fn find_service(&self, _: &str) -> Result<Option<ObservedService>, AwsError> {
        Ok(None)
    }

    async fn owned_service(&self, _: &Owner, _: Duration) -> Result<Option<ObservedService>, AwsError> {
        Ok(None)
    }

    async fn find_owned_service(&self, _: &Owner) -> Result<Option<ObservedService>, AwsError> {
        Ok(None)
    }

    async fn allowed_principals(&self, _: &str) -> Result<BTreeSet<String>, AwsError> {
        Ok(BTreeSet::new())
    }

    async fn load_balancers(&self, _: &[String], _: Duration) -> Result<Option<Vec<ObservedLoadBalancer>>, AwsError> {
        Ok(None)
    }

    async fn zone_count(&self) -> Option<usize> {
        None
    }

    async fn connections_of(&self, _: &str, _: Duration) -> Result<Vec<ObservedConnection>, AwsError> {
        Ok(Vec::new())
    }

    async fn connection_to(&self, _: &str, _: &str, _: Duration) -> Result<Option<ObservedConnection>, AwsError> {
        Ok(None)
    }

    async fn notifications_of(&self, _: &str, _: Duration) -> Result<Vec<ObservedNotification>, AwsError> {
        Ok(Vec::new())
    }

    async fn endpoint(&self, _: &str, _: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        Ok(None)
    }

    async fn find_endpoint(&self, _: &str) -> Result<Option<ObservedEndpoint>, AwsError> {
        Ok(None)
    }

    async fn owned_endpoint(&self, _: &Owner, _: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        Ok(None)
    }

    async fn find_owned_endpoint(&self, _: &Owner) -> Result<Option<ObservedEndpoint>, AwsError> {
        Ok(None)
    }

    async fn service_offer(
        &self,
        _: &str,
        _: Option<&str>,
        _: Duration,
    ) -> Result<Option<Option<ServiceOffer>>, AwsError> {
        Ok(None)
    }

    async fn vpc_dns(&self, _: &str, _: Duration) -> Result<Option<(bool, bool)>, AwsError> {
        Ok(None)
    }

    async fn subnets(&self, _: &[String], _: Duration) -> Result<Option<Vec<Subnet>>, AwsError> {
        Ok(None)
    }
}
