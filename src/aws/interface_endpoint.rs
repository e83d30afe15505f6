//! VPC endpoints (consumer side): batched reads, the execution of planned
//! [`EndpointAction`]s, and the lookups behind the diagnostics.

use aws_sdk_ec2::types::{
    DnsOptionsSpecification, DnsRecordIpType, Filter, IpAddressType, ResourceType, SubnetConfiguration,
    TagSpecification, VpcAttributeName, VpcEndpoint, VpcEndpointType,
};

use super::error::{AwsError, ErrorClass};
use super::guard::Permit;
use super::observer::Index;
use super::{RegionClients, map_from_tags, tags_from_map};
use crate::plan::facts::{ObservedEndpoint, ServiceOffer, Subnet};
use crate::plan::interface_endpoint::EndpointAction;
use crate::plan::tags::{OWNER_CLUSTER, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID, Owner};

const PAGE_SIZE: i32 = 1000;

/// Convert the SDK's view of an endpoint.
pub fn observe(e: &VpcEndpoint) -> ObservedEndpoint {
    ObservedEndpoint {
        id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
        endpoint_type: e.vpc_endpoint_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        state: e.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        service_region: e.service_region().map(str::to_string),
        subnet_ids: e.subnet_ids().iter().cloned().collect(),
        security_group_ids: e.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
        route_table_ids: e.route_table_ids().iter().cloned().collect(),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
        dns_record_ip_type: e.dns_options().and_then(|d| d.dns_record_ip_type()).map(|t| t.as_str().to_string()),
        private_dns_only_for_inbound_resolver_endpoint: e
            .dns_options()
            .and_then(|d| d.private_dns_only_for_inbound_resolver_endpoint()),
        ip_address_type: e.ip_address_type().map(|t| t.as_str().to_string()),
        policy: e.policy_document().map(str::to_string),
        tags: map_from_tags(e.tags()),
        dns_entries: e
            .dns_entries()
            .iter()
            .filter_map(|d| Some((d.dns_name()?.to_string(), d.hosted_zone_id().map(str::to_string))))
            .collect(),
        network_interface_ids: e.network_interface_ids().to_vec(),
        requester_managed: e.requester_managed().unwrap_or(false),
        owner_id: e.owner_id().map(str::to_string),
        last_error: e.last_error().and_then(|l| l.message()).map(str::to_string),
        last_error_code: e.last_error().and_then(|l| l.code()).map(str::to_string),
    }
}

impl RegionClients {
    /// Describe endpoints by id (one call per 1000), leaving out those AWS
    /// no longer lists.
    pub async fn describe_endpoints(&self, ids: &[String]) -> Result<Vec<ObservedEndpoint>, AwsError> {
        let filter = Filter::builder().name("vpc-endpoint-id").set_values(Some(ids.to_vec())).build();
        self.describe_endpoints_filtered(vec![filter]).await
    }

    /// Every endpoint of the account in this region, a page per 1000.
    pub async fn list_endpoints(&self) -> Result<Vec<ObservedEndpoint>, AwsError> {
        self.describe_endpoints_filtered(Vec::new()).await
    }

    /// Every endpoint of the account in this region, indexed page by page
    /// (a page of 1000 at a time is unpacked, never the whole listing).
    pub async fn index_endpoints(&self) -> Result<Index<ObservedEndpoint>, AwsError> {
        let index = Index::default();
        self.each_endpoint(Vec::new(), |e| index.put(e)).await?;
        Ok(index)
    }

    async fn describe_endpoints_filtered(&self, filters: Vec<Filter>) -> Result<Vec<ObservedEndpoint>, AwsError> {
        let mut found = Vec::new();
        self.each_endpoint(filters, |e| found.push(e)).await?;
        Ok(found)
    }

    /// Each endpoint AWS lists (leaving out deleted ones), one paginated call
    /// per 1000.
    async fn each_endpoint(
        &self,
        filters: Vec<Filter>,
        mut each: impl FnMut(ObservedEndpoint),
    ) -> Result<(), AwsError> {
        const ACTION: &str = "DescribeVpcEndpoints";
        let mut pages = self
            .ec2
            .describe_vpc_endpoints()
            .set_filters((!filters.is_empty()).then_some(filters))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            page.vpc_endpoints().iter().map(observe).filter(|e| !e.is_gone()).for_each(&mut each);
        }
        Ok(())
    }

    /// The endpoint with `id`, if AWS lists it.
    pub async fn find_endpoint(&self, id: &str) -> Result<Option<ObservedEndpoint>, AwsError> {
        match self.describe_endpoints(&[id.to_string()]).await {
            Ok(found) => Ok(found.into_iter().find(|e| e.id == id)),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The endpoint this operator created for `owner`: tagged with its
    /// UID, or with its cluster, namespace and name (a cluster rebuilt from
    /// Git, whose objects have new UIDs).
    pub async fn find_owned_endpoint(&self, owner: &Owner) -> Result<Option<ObservedEndpoint>, AwsError> {
        let tag = |key: &str, value: &str| Filter::builder().name(format!("tag:{key}")).values(value).build();
        let by_uid = self.describe_endpoints_filtered(vec![tag(OWNER_UID, &owner.uid)]).await?;
        if let Some(found) = by_uid.into_iter().find(|e| owner.owns(&e.tags)) {
            return Ok(Some(found));
        }
        if owner.cluster.is_empty() {
            return Ok(None);
        }
        let by_name = vec![
            tag(OWNER_CLUSTER, &owner.cluster),
            tag(OWNER_NAMESPACE, &owner.namespace),
            tag(OWNER_NAME, &owner.name),
        ];
        Ok(self.describe_endpoints_filtered(by_name).await?.into_iter().find(|e| owner.owns(&e.tags)))
    }

    /// What the consumer's account sees of a service, in this region or,
    /// with `service_region`, in another one (cross-region PrivateLink);
    /// None when AWS lists nothing by that name.
    pub async fn service_offer(
        &self,
        name: &str,
        service_region: Option<&str>,
    ) -> Result<Option<ServiceOffer>, AwsError> {
        const ACTION: &str = "DescribeVpcEndpointServices";
        let out = self
            .ec2
            .describe_vpc_endpoint_services()
            .service_names(name)
            .set_service_regions(service_region.map(|r| vec![r.to_string()]))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ACTION, e))?;
        let detail = out.service_details().iter().find(|d| d.service_name() == Some(name));
        Ok(detail.map(|d| ServiceOffer {
            name: name.to_string(),
            zone_names: d.availability_zones().to_vec(),
            zone_ids: d.availability_zone_ids().to_vec(),
            owner: d.owner().map(str::to_string),
            acceptance_required: d.acceptance_required(),
            gateway: d
                .service_type()
                .iter()
                .any(|t| t.service_type().map(|s| s.as_str()) == Some("GatewayLoadBalancer")),
        }))
    }

    /// One DNS attribute of a VPC (`enableDnsSupport`, `enableDnsHostnames`).
    pub async fn vpc_attribute(&self, vpc_id: &str, attribute: VpcAttributeName) -> Result<bool, AwsError> {
        const ACTION: &str = "DescribeVpcAttribute";
        let out = self
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(attribute.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ACTION, e))?;
        let value = match attribute {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support().and_then(|v| v.value()),
            _ => out.enable_dns_hostnames().and_then(|v| v.value()),
        };
        Ok(value.unwrap_or(false))
    }

    /// The VPC's `enableDnsSupport` and `enableDnsHostnames`.
    pub async fn vpc_dns_attributes(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        Ok((
            self.vpc_attribute(vpc_id, VpcAttributeName::EnableDnsSupport).await?,
            self.vpc_attribute(vpc_id, VpcAttributeName::EnableDnsHostnames).await?,
        ))
    }

    /// Subnets by id, or those `filters` select (a page per 1000).
    pub async fn subnets(&self, ids: &[String], filters: Vec<Filter>) -> Result<Vec<Subnet>, AwsError> {
        const ACTION: &str = "DescribeSubnets";
        if ids.is_empty() && filters.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.ec2.describe_subnets();
        if ids.is_empty() {
            request = request.set_filters(Some(filters)).max_results(PAGE_SIZE);
        } else {
            request = request.set_subnet_ids(Some(ids.to_vec()));
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ACTION, e))?;
            found.extend(page.subnets().iter().map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                cidr: s.cidr_block().map(str::to_string),
                zone: s.availability_zone().map(str::to_string),
                zone_id: s.availability_zone_id().map(str::to_string),
            }));
        }
        Ok(found)
    }

    /// Perform one planned action on the endpoint `endpoint_id` (None
    /// before it exists). Returns the id of a created endpoint.
    pub async fn apply_endpoint_action(
        &self,
        permit: &Permit,
        endpoint_id: Option<&str>,
        action: &EndpointAction,
    ) -> Result<Option<String>, AwsError> {
        let name = action.aws_action();
        permit.covers(name, endpoint_id)?;
        let id = || endpoint_id.map(str::to_string).ok_or_else(|| AwsError::missing_id(name, "endpoint"));
        match action {
            EndpointAction::Create(c) => {
                let e = &c.endpoint;
                let mut request = self
                    .ec2
                    .create_vpc_endpoint()
                    .vpc_id(&e.vpc_id)
                    .service_name(&e.service_name)
                    .vpc_endpoint_type(if e.gateway {
                        VpcEndpointType::GatewayLoadBalancer
                    } else {
                        VpcEndpointType::Interface
                    })
                    .set_service_region(e.service_region.clone())
                    .set_security_group_ids(
                        (!e.security_group_ids.is_empty()).then(|| e.security_group_ids.iter().cloned().collect()),
                    )
                    .set_private_dns_enabled(c.private_dns_enabled)
                    .set_ip_address_type(e.ip_address_type.as_deref().map(IpAddressType::from))
                    .set_policy_document(e.policy.as_ref().map(|p| p.to_string()))
                    .client_token(&e.client_token)
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::VpcEndpoint)
                            .set_tags(Some(tags_from_map(&e.tags)))
                            .build(),
                    );
                if e.subnet_configurations.is_empty() {
                    request = request.set_subnet_ids(Some(e.subnet_ids.iter().flatten().cloned().collect()));
                } else {
                    request = request.set_subnet_configurations(Some(
                        e.subnet_configurations
                            .iter()
                            .map(|(subnet, v4, v6)| {
                                SubnetConfiguration::builder()
                                    .subnet_id(subnet)
                                    .set_ipv4(v4.clone())
                                    .set_ipv6(v6.clone())
                                    .build()
                            })
                            .collect(),
                    ));
                }
                if e.dns_record_ip_type.is_some() || e.private_dns_only_for_inbound_resolver_endpoint.is_some() {
                    request = request.dns_options(
                        DnsOptionsSpecification::builder()
                            .set_dns_record_ip_type(e.dns_record_ip_type.as_deref().map(DnsRecordIpType::from))
                            .set_private_dns_only_for_inbound_resolver_endpoint(
                                e.private_dns_only_for_inbound_resolver_endpoint,
                            )
                            .build(),
                    );
                }
                let out = request.send().await.map_err(|e| AwsError::from_sdk(name, e))?;
                if let Some(created) = out.vpc_endpoint() {
                    self.note_endpoint(&observe(created)).await;
                }
                Ok(out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).map(str::to_string))
            }
            EndpointAction::Modify(c) => {
                let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
                let mut request = self
                    .ec2
                    .modify_vpc_endpoint()
                    .vpc_endpoint_id(id()?)
                    .set_add_subnet_ids(some(&c.add_subnet_ids))
                    .set_remove_subnet_ids(some(&c.remove_subnet_ids))
                    .set_add_security_group_ids(some(&c.add_security_group_ids))
                    .set_remove_security_group_ids(some(&c.remove_security_group_ids))
                    .set_private_dns_enabled(c.private_dns_enabled)
                    .set_policy_document(c.policy.as_ref().map(|p| p.to_string()))
                    .set_ip_address_type(c.ip_address_type.as_deref().map(IpAddressType::from));
                if c.dns_record_ip_type.is_some() || c.private_dns_only_for_inbound_resolver_endpoint.is_some() {
                    request = request.dns_options(
                        DnsOptionsSpecification::builder()
                            .set_dns_record_ip_type(c.dns_record_ip_type.as_deref().map(DnsRecordIpType::from))
                            .set_private_dns_only_for_inbound_resolver_endpoint(
                                c.private_dns_only_for_inbound_resolver_endpoint,
                            )
                            .build(),
                    );
                }
                request.send().await.map_err(|e| AwsError::from_sdk(name, e))?;
                Ok(None)
            }
            EndpointAction::SetTags(t) => self.create_tags(&id()?, t).await.map(|_| None),
            EndpointAction::DeleteTags(keys) => self.delete_tags(&id()?, keys).await.map(|_| None),
            EndpointAction::Delete => {
                let out = self
                    .ec2
                    .delete_vpc_endpoints()
                    .vpc_endpoint_ids(id()?)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(name, e))?;
                AwsError::from_unsuccessful(name, out.unsuccessful()).map(|_| None)
            }
        }
    }
}
