//! Endpoint service configurations: reads that serve many objects, and the
//! execution of planned [`ServiceAction`]s.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{ResourceType, ServiceConfiguration, ServiceConnectivityType, ServiceState, TagSpecification};

use super::error::{AwsError, ErrorClass};
use super::guard::Permit;
use super::{RegionClients, map_from_tags, tags_from_map};
use crate::plan::endpoint_service::{ServiceAction, ServiceChanges};
use crate::plan::facts::{LoadBalancerKind, ObservedConnection, ObservedService};
use crate::plan::tags::Owner;

/// Page size of Describe calls: AWS's maximum.
const PAGE_SIZE: i32 = 1000;

fn state_name(state: Option<&ServiceState>) -> Option<String> {
    state.map(|s| s.as_str().to_string())
}

/// Convert the SDK's view of a service configuration.
pub fn observe(config: &ServiceConfiguration) -> ObservedService {
    let dns = config.private_dns_name_configuration();
    ObservedService {
        id: config.service_id().unwrap_or_default().to_string(),
        name: config.service_name().map(str::to_string),
        state: state_name(config.service_state()),
        acceptance_required: config.acceptance_required().unwrap_or(false),
        network_load_balancer_arns: config.network_load_balancer_arns().iter().cloned().collect(),
        gateway_load_balancer_arns: config.gateway_load_balancer_arns().iter().cloned().collect(),
        private_dns_name: config.private_dns_name().filter(|n| !n.is_empty()).map(str::to_string),
        private_dns_state: dns.and_then(|d| d.state()).map(|s| s.as_str().to_string()),
        private_dns_record_type: dns.and_then(|d| d.r#type()).map(str::to_string),
        private_dns_record_name: dns.and_then(|d| d.name()).map(str::to_string),
        private_dns_record_value: dns.and_then(|d| d.value()).map(str::to_string),
        supported_ip_address_types: config
            .supported_ip_address_types()
            .iter()
            .map(|t| t.as_str().to_string())
            .collect::<BTreeSet<_>>(),
        supported_regions: config
            .supported_regions()
            .iter()
            .filter_map(|r| Some((r.region()?.to_string(), r.service_state().map(str::to_string))))
            .collect(),
        tags: map_from_tags(config.tags()),
        base_endpoint_dns_names: config.base_endpoint_dns_names().to_vec(),
        availability_zones: config.availability_zones().to_vec(),
    }
}

/// Convert the SDK's view of a connection.
pub fn observe_connection(c: &aws_sdk_ec2::types::VpcEndpointConnection) -> ObservedConnection {
    ObservedConnection {
        endpoint_id: c.vpc_endpoint_id().unwrap_or_default().to_string(),
        owner: c.vpc_endpoint_owner().map(str::to_string),
        state: c.vpc_endpoint_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        region: c.vpc_endpoint_region().map(str::to_string),
        since: c.creation_timestamp().map(|t| t.to_string()),
    }
}

impl RegionClients {
    /// Describe service configurations: the given ids, or every service of
    /// the account in this region when `ids` is empty. One paginated call
    /// covers up to 1000 services per page.
    pub async fn describe_services(&self, ids: &[String]) -> Result<Vec<ObservedService>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointServiceConfigurations";
        let mut request = self.ec2.describe_vpc_endpoint_service_configurations();
        if ids.is_empty() {
            request = request.max_results(PAGE_SIZE);
        } else {
            request = request.set_service_ids(Some(ids.to_vec()));
        }
        let mut pages = request.into_paginator().send();
        let mut services = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            services.extend(page.service_configurations().iter().map(observe));
        }
        Ok(services)
    }

    /// The service with `id`, or None when AWS does not know it (or has
    /// deleted it).
    pub async fn find_service(&self, id: &str) -> Result<Option<ObservedService>, AwsError> {
        match self.describe_services(&[id.to_string()]).await {
            Ok(found) => Ok(found.into_iter().find(|s| s.id == id && s.state.as_deref() != Some("Deleted"))),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The service this operator created for the object with `uid`, found
    /// by its ownership tag: recovers a service whose id never reached the
    /// object's status (a crash between create and status write).
    pub async fn find_owned_service(&self, owner: &Owner) -> Result<Option<ObservedService>, AwsError> {
        Ok(self.describe_services(&[]).await?.into_iter().find(|s| owner.owns(&s.tags) && !s.is_gone()))
    }

    /// Principals allowed to connect to the service.
    pub async fn allowed_principals(&self, service_id: &str) -> Result<BTreeSet<String>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointServicePermissions";
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_service_permissions()
            .service_id(service_id)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut principals = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            principals.extend(page.allowed_principals().iter().filter_map(|p| p.principal().map(str::to_string)));
        }
        Ok(principals)
    }

    /// Every connection to the service (one paginated call per 1000).
    pub async fn service_connections(&self, service_id: &str) -> Result<Vec<ObservedConnection>, AwsError> {
        self.connections(service_id, None).await
    }

    /// The connection of one endpoint to the service, if it asked to connect.
    pub async fn connection(
        &self,
        service_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<ObservedConnection>, AwsError> {
        Ok(self.connections(service_id, Some(endpoint_id)).await?.into_iter().find(|c| c.endpoint_id == endpoint_id))
    }

    async fn connections(
        &self,
        service_id: &str,
        endpoint_id: Option<&str>,
    ) -> Result<Vec<ObservedConnection>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointConnections";
        use aws_sdk_ec2::types::Filter;
        let mut filters = vec![Filter::builder().name("service-id").values(service_id).build()];
        if let Some(id) = endpoint_id {
            filters.push(Filter::builder().name("vpc-endpoint-id").values(id).build());
        }
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_connections()
            .set_filters(Some(filters))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut connections = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            connections.extend(page.vpc_endpoint_connections().iter().map(observe_connection));
        }
        Ok(connections)
    }

    /// Perform one planned action on the service `service_id` (None before
    /// it exists). Returns the id of a created service.
    pub async fn apply_service_action(
        &self,
        permit: &Permit,
        service_id: Option<&str>,
        action: &ServiceAction,
    ) -> Result<Option<String>, AwsError> {
        let name = action.aws_action();
        permit.covers(name, service_id)?;
        let id = || service_id.map(str::to_string).ok_or_else(|| AwsError::missing_id(name, "service"));
        match action {
            ServiceAction::Create(c) => {
                let (nlbs, gwlbs) = match c.load_balancer_kind {
                    LoadBalancerKind::Network => (Some(c.load_balancer_arns.clone()), None),
                    LoadBalancerKind::Gateway => (None, Some(c.load_balancer_arns.clone())),
                };
                let out = self
                    .ec2
                    .create_vpc_endpoint_service_configuration()
                    .acceptance_required(c.acceptance_required)
                    .set_network_load_balancer_arns(nlbs)
                    .set_gateway_load_balancer_arns(gwlbs)
                    .set_private_dns_name(c.private_dns_name.clone())
                    .set_supported_ip_address_types(
                        (!c.supported_ip_address_types.is_empty()).then(|| c.supported_ip_address_types.clone()),
                    )
                    .set_supported_regions((!c.supported_regions.is_empty()).then(|| c.supported_regions.clone()))
                    .client_token(&c.client_token)
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::VpcEndpointService)
                            .set_tags(Some(tags_from_map(&c.tags)))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                let created = out.service_configuration().and_then(|s| s.service_id()).map(str::to_string);
                Ok(created)
            }
            ServiceAction::Modify(changes) => {
                self.modify_service(&id()?, changes).await.map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            ServiceAction::RemoveLoadBalancers(kind, arns) => {
                let request = self.ec2.modify_vpc_endpoint_service_configuration().service_id(id()?);
                let request = match kind {
                    LoadBalancerKind::Network => request.set_remove_network_load_balancer_arns(Some(arns.clone())),
                    LoadBalancerKind::Gateway => request.set_remove_gateway_load_balancer_arns(Some(arns.clone())),
                };
                request.send().await.map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            ServiceAction::AddAllowedPrincipals(p) => {
                self.ec2
                    .modify_vpc_endpoint_service_permissions()
                    .service_id(id()?)
                    .set_add_allowed_principals(Some(p.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            ServiceAction::RemoveAllowedPrincipals(p) => {
                self.ec2
                    .modify_vpc_endpoint_service_permissions()
                    .service_id(id()?)
                    .set_remove_allowed_principals(Some(p.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            ServiceAction::SetTags(tags) => self.create_tags(&id()?, tags).await.map(|_| None),
            ServiceAction::DeleteTags(keys) => self.delete_tags(&id()?, keys).await.map(|_| None),
            ServiceAction::AcceptConnections(ids) => {
                let out = self
                    .ec2
                    .accept_vpc_endpoint_connections()
                    .service_id(id()?)
                    .set_vpc_endpoint_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                AwsError::from_unsuccessful(name, out.unsuccessful()).map(|_| None)
            }
            ServiceAction::RejectConnections(ids) => {
                let out = self
                    .ec2
                    .reject_vpc_endpoint_connections()
                    .service_id(id()?)
                    .set_vpc_endpoint_ids(Some(ids.clone()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                AwsError::from_unsuccessful(name, out.unsuccessful()).map(|_| None)
            }
            ServiceAction::Notification(n) => self.apply_notification(&id()?, n).await.map(|_| None),
            ServiceAction::StartPrivateDnsVerification => {
                self.ec2
                    .start_vpc_endpoint_service_private_dns_verification()
                    .service_id(id()?)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            ServiceAction::Delete => {
                self.delete_service(&id()?).await?;
                Ok(None)
            }
        }
    }

    async fn modify_service(
        &self,
        service_id: &str,
        c: &ServiceChanges,
    ) -> Result<(), aws_sdk_ec2::error::SdkError<aws_sdk_ec2::operation::modify_vpc_endpoint_service_configuration::ModifyVpcEndpointServiceConfigurationError>>
    {
        let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let ip = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let mut request = self
            .ec2
            .modify_vpc_endpoint_service_configuration()
            .service_id(service_id)
            .set_acceptance_required(c.acceptance_required)
            .set_private_dns_name(c.private_dns_name.clone())
            .set_add_supported_ip_address_types(ip(&c.add_ip_address_types))
            .set_remove_supported_ip_address_types(ip(&c.remove_ip_address_types))
            .set_add_supported_regions(some(&c.add_supported_regions))
            .set_remove_supported_regions(some(&c.remove_supported_regions));
        if c.remove_private_dns_name {
            request = request.remove_private_dns_name(true);
        }
        request = match c.load_balancer_kind.unwrap_or(LoadBalancerKind::Network) {
            LoadBalancerKind::Network => request.set_add_network_load_balancer_arns(some(&c.add_load_balancers)),
            LoadBalancerKind::Gateway => request.set_add_gateway_load_balancer_arns(some(&c.add_load_balancers)),
        };
        request.send().await.map(|_| ())
    }

    /// Delete the service configuration. AWS answers per item: a refusal
    /// such as `ExistingVpcEndpointConnections` comes back as an error with
    /// AWS's code and message. A service AWS no longer knows counts as deleted.
    async fn delete_service(&self, service_id: &str) -> Result<(), AwsError> {
        const ACTION: &str = "DeleteVpcEndpointServiceConfigurations";
        let out = match self.ec2.delete_vpc_endpoint_service_configurations().service_ids(service_id).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(ACTION, e);
                return if e.class == ErrorClass::NotFound { Ok(()) } else { Err(e) };
            }
        };
        AwsError::from_unsuccessful(ACTION, out.unsuccessful())
    }
}

/// The supported IP address types as the SDK spells them.
pub fn ip_address_type(name: &str) -> ServiceConnectivityType {
    ServiceConnectivityType::from(name)
}
