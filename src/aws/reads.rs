//! The stages' reads ([`AwsReads`]) through the operator's clients: the
//! shared snapshots, as `run` and `plan --live` read AWS.

use std::collections::BTreeSet;
use std::time::Duration;

use super::RegionClients;
use crate::plan::facts::{
    AwsError, ObservedConnection, ObservedEndpoint, ObservedLoadBalancer, ObservedNotification, ObservedService,
    ServiceOffer, Subnet,
};
use crate::plan::reads::AwsReads;
use crate::plan::tags::Owner;

impl AwsReads for RegionClients {
    fn region(&self) -> &str {
        &self.region
    }

    async fn service(&self, id: &str, age: Duration) -> Result<Option<ObservedService>, AwsError> {
        RegionClients::service(self, id, age).await
    }

    async fn find_service(&self, id: &str) -> Result<Option<ObservedService>, AwsError> {
        RegionClients::find_service(self, id).await
    }

    async fn owned_service(&self, owner: &Owner, age: Duration) -> Result<Option<ObservedService>, AwsError> {
        RegionClients::owned_service(self, owner, age).await
    }

    async fn find_owned_service(&self, owner: &Owner) -> Result<Option<ObservedService>, AwsError> {
        RegionClients::find_owned_service(self, owner).await
    }

    async fn allowed_principals(&self, id: &str) -> Result<BTreeSet<String>, AwsError> {
        RegionClients::allowed_principals(self, id).await
    }

    async fn load_balancers(
        &self,
        arns: &[String],
        age: Duration,
    ) -> Result<Option<Vec<ObservedLoadBalancer>>, AwsError> {
        RegionClients::load_balancers(self, arns, age).await.map(Some)
    }

    async fn zone_count(&self) -> Option<usize> {
        RegionClients::zone_count(self).await.ok()
    }

    async fn connections_of(&self, service_id: &str, age: Duration) -> Result<Vec<ObservedConnection>, AwsError> {
        RegionClients::connections_of(self, service_id, age).await
    }

    async fn connection_to(
        &self,
        service_id: &str,
        endpoint_id: &str,
        age: Duration,
    ) -> Result<Option<ObservedConnection>, AwsError> {
        RegionClients::connection_to(self, service_id, endpoint_id, age).await
    }

    async fn notifications_of(&self, service_id: &str, age: Duration) -> Result<Vec<ObservedNotification>, AwsError> {
        RegionClients::notifications_of(self, service_id, age).await
    }

    async fn endpoint(&self, id: &str, age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        RegionClients::endpoint(self, id, age).await
    }

    async fn find_endpoint(&self, id: &str) -> Result<Option<ObservedEndpoint>, AwsError> {
        RegionClients::find_endpoint(self, id).await
    }

    async fn owned_endpoint(&self, owner: &Owner, age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        RegionClients::owned_endpoint(self, owner, age).await
    }

    async fn find_owned_endpoint(&self, owner: &Owner) -> Result<Option<ObservedEndpoint>, AwsError> {
        RegionClients::find_owned_endpoint(self, owner).await
    }

    async fn service_offer(
        &self,
        name: &str,
        service_region: Option<&str>,
        age: Duration,
    ) -> Result<Option<Option<ServiceOffer>>, AwsError> {
        self.service_offer_seen(name, service_region, age).await.map(Some)
    }

    async fn vpc_dns(&self, vpc_id: &str, age: Duration) -> Result<Option<(bool, bool)>, AwsError> {
        self.vpc_dns_seen(vpc_id, age).await.map(Some)
    }

    async fn subnets(&self, ids: &[String], age: Duration) -> Result<Option<Vec<Subnet>>, AwsError> {
        self.subnets_seen(ids, age).await.map(Some)
    }
}
