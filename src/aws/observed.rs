//! Reads through the shared [`Observer`](super::observer::Observer): what
//! the controllers call instead of one Describe per object. With batching
//! off (`--per-object-reads`, how peers read) each goes straight to AWS.

use std::collections::HashMap;
use std::time::Duration;

use super::RegionClients;
use super::error::AwsError;
use super::observer::{ByService, Index};

use crate::plan::facts::{
    ObservedConnection, ObservedEndpoint, ObservedLoadBalancer, ObservedNotification, ObservedService,
};
use crate::plan::tags::Owner;

const PAGE_SIZE: i32 = 1000;

impl RegionClients {
    async fn endpoint_index(&self, max_age: Duration) -> Result<std::sync::Arc<Index<ObservedEndpoint>>, AwsError> {
        self.observer.endpoints.get(max_age, || self.index_endpoints()).await
    }

    /// The endpoint `id`, from a listing no older than `max_age`; one the
    /// listing lacks is confirmed by a targeted Describe.
    pub async fn endpoint(&self, id: &str, max_age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        if !self.batch || max_age.is_zero() {
            let found = self.find_endpoint(id).await?;
            if let Some(e) = found.as_ref().filter(|_| self.batch) {
                self.note_endpoint(e).await;
            }
            return Ok(found);
        }
        if let Some(e) = self.endpoint_index(max_age).await?.get(id) {
            return Ok(Some(e));
        }
        let found = self.find_endpoint(id).await?;
        if let Some(e) = &found {
            self.note_endpoint(e).await;
        }
        Ok(found)
    }

    /// The endpoint `owner` owns (by its ownership tags), as
    /// [`Self::endpoint`] finds it.
    pub async fn owned_endpoint(&self, owner: &Owner, max_age: Duration) -> Result<Option<ObservedEndpoint>, AwsError> {
        if !self.batch || max_age.is_zero() {
            return self.find_owned_endpoint(owner).await;
        }
        if let Some(e) = self.endpoint_index(max_age).await?.owned_by(owner) {
            return Ok(Some(e));
        }
        let found = self.find_owned_endpoint(owner).await?;
        if let Some(e) = &found {
            self.note_endpoint(e).await;
        }
        Ok(found)
    }

    /// Record an endpoint as just read or written.
    pub async fn note_endpoint(&self, e: &ObservedEndpoint) {
        self.observer.endpoints.modify(|i| i.put(e.clone())).await;
    }

    /// Record that AWS no longer lists an endpoint.
    pub async fn forget_endpoint(&self, id: &str) {
        self.observer.endpoints.modify(|i| i.remove(id)).await;
    }

    async fn service_index(&self, max_age: Duration) -> Result<std::sync::Arc<Index<ObservedService>>, AwsError> {
        self.observer.services.get(max_age, || async { Ok(Index::of(self.describe_services(&[]).await?)) }).await
    }

    /// The service configuration `id`, as [`Self::endpoint`] finds endpoints.
    pub async fn service(&self, id: &str, max_age: Duration) -> Result<Option<ObservedService>, AwsError> {
        if !self.batch || max_age.is_zero() {
            let found = self.find_service(id).await?;
            if let Some(s) = found.as_ref().filter(|_| self.batch) {
                self.note_service(s).await;
            }
            return Ok(found);
        }
        if let Some(s) = self.service_index(max_age).await?.get(id).filter(|s| s.state.as_deref() != Some("Deleted")) {
            return Ok(Some(s));
        }
        let found = self.find_service(id).await?;
        if let Some(s) = &found {
            self.note_service(s).await;
        }
        Ok(found)
    }

    /// The service `owner` owns.
    pub async fn owned_service(&self, owner: &Owner, max_age: Duration) -> Result<Option<ObservedService>, AwsError> {
        if !self.batch || max_age.is_zero() {
            return self.find_owned_service(owner).await;
        }
        if let Some(s) = self.service_index(max_age).await?.owned_by(owner).filter(|s| !s.is_gone()) {
            return Ok(Some(s));
        }
        let found = self.find_owned_service(owner).await?;
        if let Some(s) = &found {
            self.note_service(s).await;
        }
        Ok(found)
    }

    /// Record a service as just read or written.
    pub async fn note_service(&self, s: &ObservedService) {
        self.observer.services.modify(|i| i.put(s.clone())).await;
    }

    /// Record that AWS no longer lists a service.
    pub async fn forget_service(&self, id: &str) {
        self.observer.services.modify(|i| i.remove(id)).await;
    }

    /// Every connection to the account's services, by service (one
    /// paginated call per 1000).
    async fn list_connections(&self) -> Result<ByService<ObservedConnection>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointConnections";
        let mut pages = self.ec2.describe_vpc_endpoint_connections().max_results(PAGE_SIZE).into_paginator().send();
        let mut found: ByService<ObservedConnection> = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            for c in page.vpc_endpoint_connections() {
                found
                    .entry(c.service_id().unwrap_or_default().to_string())
                    .or_default()
                    .push(super::endpoint_service::observe_connection(c));
            }
        }
        Ok(found)
    }

    /// The service's connections, from a listing no older than `max_age`.
    pub async fn connections_of(
        &self,
        service_id: &str,
        max_age: Duration,
    ) -> Result<Vec<ObservedConnection>, AwsError> {
        if !self.batch || max_age.is_zero() {
            return if self.batch {
                self.refresh_connections(service_id).await
            } else {
                self.service_connections(service_id).await
            };
        }
        let all = self.observer.connections.get(max_age, || self.list_connections()).await?;
        Ok(all.get(service_id).cloned().unwrap_or_default())
    }

    /// One endpoint's connection to the service; one the listing lacks is
    /// confirmed by a targeted Describe.
    pub async fn connection_to(
        &self,
        service_id: &str,
        endpoint_id: &str,
        max_age: Duration,
    ) -> Result<Option<ObservedConnection>, AwsError> {
        if !self.batch || max_age.is_zero() {
            return self.connection(service_id, endpoint_id).await;
        }
        let all = self.observer.connections.get(max_age, || self.list_connections()).await?;
        if let Some(c) = all.get(service_id).and_then(|cs| cs.iter().find(|c| c.endpoint_id == endpoint_id)) {
            return Ok(Some(c.clone()));
        }
        self.connection(service_id, endpoint_id).await
    }

    /// Read one service's connections again after changing them.
    pub async fn refresh_connections(&self, service_id: &str) -> Result<Vec<ObservedConnection>, AwsError> {
        let fresh = self.service_connections(service_id).await?;
        let copy = fresh.clone();
        self.observer
            .connections
            .update(|all| {
                all.insert(service_id.to_string(), copy);
            })
            .await;
        Ok(fresh)
    }

    async fn list_notifications(&self) -> Result<ByService<ObservedNotification>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointConnectionNotifications";
        let mut pages =
            self.ec2.describe_vpc_endpoint_connection_notifications().max_results(PAGE_SIZE).into_paginator().send();
        let mut found: ByService<ObservedNotification> = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            for n in page.connection_notification_set() {
                found
                    .entry(n.service_id().unwrap_or_default().to_string())
                    .or_default()
                    .push(super::notifications::observe_notification(n));
            }
        }
        Ok(found)
    }

    /// The service's connection notifications, from a listing no older
    /// than `max_age`.
    pub async fn notifications_of(
        &self,
        service_id: &str,
        max_age: Duration,
    ) -> Result<Vec<ObservedNotification>, AwsError> {
        if !self.batch || max_age.is_zero() {
            return if self.batch {
                self.refresh_notifications(service_id).await
            } else {
                self.notifications(service_id).await
            };
        }
        let all = self.observer.notifications.get(max_age, || self.list_notifications()).await?;
        Ok(all.get(service_id).cloned().unwrap_or_default())
    }

    /// Read one service's notifications again after changing them.
    pub async fn refresh_notifications(&self, service_id: &str) -> Result<Vec<ObservedNotification>, AwsError> {
        let fresh = self.notifications(service_id).await?;
        let copy = fresh.clone();
        self.observer
            .notifications
            .update(|all| {
                all.insert(service_id.to_string(), copy);
            })
            .await;
        Ok(fresh)
    }

    async fn list_load_balancers(&self) -> Result<HashMap<String, ObservedLoadBalancer>, AwsError> {
        const ACTION: &str = "DescribeLoadBalancers";
        let mut pages = self.elbv2.describe_load_balancers().page_size(400).into_paginator().send();
        let mut found = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            for lb in page.load_balancers().iter().filter_map(super::load_balancers::observe) {
                found.insert(lb.arn.clone(), lb);
            }
        }
        Ok(found)
    }

    /// The load balancers with these ARNs, from a listing no older than
    /// `max_age`; ARNs the listing lacks are asked for directly.
    pub async fn load_balancers(
        &self,
        arns: &[String],
        max_age: Duration,
    ) -> Result<Vec<ObservedLoadBalancer>, AwsError> {
        if !self.batch || arns.is_empty() || max_age.is_zero() {
            return self.describe_load_balancers(arns).await;
        }
        let all = self.observer.load_balancers.get(max_age, || self.list_load_balancers()).await?;
        let mut found: Vec<ObservedLoadBalancer> = arns.iter().filter_map(|a| all.get(a).cloned()).collect();
        let missing: Vec<String> = arns.iter().filter(|a| !all.contains_key(*a)).cloned().collect();
        if !missing.is_empty() {
            let extra = self.describe_load_balancers(&missing).await?;
            let copy = extra.clone();
            self.observer
                .load_balancers
                .update(|all| {
                    for lb in copy {
                        all.insert(lb.arn.clone(), lb);
                    }
                })
                .await;
            found.extend(extra);
        }
        Ok(found)
    }

    /// The observer of this account and region (its memo serves doctor's
    /// reads for the controllers).
    pub fn observer(&self) -> std::sync::Arc<super::observer::Observer> {
        self.observer.clone()
    }

    /// What the consumer's account sees of a service, kept `max_age`.
    pub async fn service_offer_seen(
        &self,
        name: &str,
        service_region: Option<&str>,
        max_age: Duration,
    ) -> Result<Option<crate::plan::facts::ServiceOffer>, AwsError> {
        let key = format!("service-details/{name}/{}", service_region.unwrap_or("-"));
        self.memo(key, max_age, || self.service_offer(name, service_region)).await
    }

    /// The VPC's DNS attributes, kept `max_age`.
    pub async fn vpc_dns_seen(&self, vpc_id: &str, max_age: Duration) -> Result<(bool, bool), AwsError> {
        self.memo(format!("vpc-dns/{vpc_id}"), max_age, || self.vpc_dns_attributes(vpc_id)).await
    }

    /// Subnets by id, kept `max_age`.
    pub async fn subnets_seen(
        &self,
        subnet_ids: &[String],
        max_age: Duration,
    ) -> Result<Vec<crate::plan::facts::Subnet>, AwsError> {
        let key = format!("subnet-zones/{}", subnet_ids.join(","));
        self.memo(key, max_age, || self.subnets(subnet_ids, Vec::new())).await
    }

    /// A read kept in the account-region's memo for `max_age` (made afresh
    /// with per-object reads, which keep nothing).
    async fn memo<T, F, Fut>(&self, key: String, max_age: Duration, read: F) -> Result<T, AwsError>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        if self.batch
            && let Some(found) = self.observer.memo.get(&key, max_age)
        {
            return Ok(found);
        }
        let found = read().await?;
        self.observer.memo.put(key, found.clone());
        Ok(found)
    }
}
