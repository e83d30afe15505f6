//! Reading what the checks ([`crate::plan::checks`]) need from AWS — for
//! `doctor`, and for the controllers' TrafficAllowed: Describe, Get and
//! Lookup calls only (plus, when asked with --check-permissions, one DryRun that AWS
//! answers without acting). A read that fails becomes an [`AwsError`] in the facts: the
//! checks that needed it say they could not check, and why.

use aws_config::SdkConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, VpcAttributeName};

use crate::plan::facts::{
    AclEntry, AwsError, Bucket, DatabaseLink, EndpointFacts, Eni, GroupFacts, GroupReference, Instance, NetworkAcl,
    ObservedEndpoint, OwnerClues, PrefixList, Read, Route, RouteTable, Rule, SecurityGroup, ServiceFacts, ServiceOffer,
    Source, Subnet, TrailEvent, Vpc,
};

/// What the user told doctor beyond the subject.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The client side of the traffic: `i-…`, `sg-…`, `subnet-…` or a CIDR.
    pub source: Option<String>,
    /// The ports clients use (default 443 for AWS services).
    pub ports: Vec<u16>,
    /// The S3 bucket the traffic is for.
    pub bucket: Option<String>,
    /// Ask AWS (DryRun) whether the caller may delete the subject.
    pub check_permissions: bool,
    /// DNS server for the CNAME lookups (default: the system's resolver).
    pub nameserver: Option<std::net::SocketAddr>,
}

/// The clients doctor reads with: the operator's own clients for a region
/// (whose reads of endpoints, services, connections, subnets and VPCs it
/// shares, so each fact is read one way), and the services only doctor asks.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Region.
    pub region: String,
    /// The operator's clients for the region and identity.
    pub aws: crate::aws::RegionClients,
    /// CloudTrail (who created a requester-managed endpoint).
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// S3 (the bucket behind a gateway endpoint).
    pub s3: aws_sdk_s3::Client,
    /// RDS (databases whose DNS names lead to a requester-managed endpoint).
    pub rds: aws_sdk_rds::Client,
    config: SdkConfig,
    /// Where the operator keeps facts many endpoints share, and how long.
    memo: Option<(std::sync::Arc<crate::aws::observer::Observer>, std::time::Duration)>,
}

impl Clients {
    /// Doctor's reads through the operator's clients for a region (their
    /// calls are counted like the controllers' own).
    pub fn of(rc: &crate::aws::RegionClients) -> Self {
        Self {
            region: rc.region.clone(),
            aws: rc.clone(),
            cloudtrail: aws_sdk_cloudtrail::Client::new(&rc.config),
            s3: Self::s3_client(&rc.config, &rc.region),
            rds: aws_sdk_rds::Client::new(&rc.config),
            config: rc.config.clone(),
            memo: None,
        }
    }

    /// These clients, keeping what they read in `observer`'s memo for
    /// `max_age` (the controllers' use: many endpoints share a VPC).
    pub fn with_memo(
        mut self,
        observer: std::sync::Arc<crate::aws::observer::Observer>,
        max_age: std::time::Duration,
    ) -> Self {
        self.memo = Some((observer, max_age));
        self
    }

    /// A read through the memo, when there is one.
    async fn kept<T, F, Fut>(&self, key: String, read: F) -> Read<T>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Read<T>>,
    {
        if let Some((observer, age)) = &self.memo
            && !age.is_zero()
            && let Some(found) = observer.memo.get::<T>(&key, *age)
        {
            return Ok(found);
        }
        let found = read().await?;
        if let Some((observer, _)) = &self.memo {
            observer.memo.put(key, found.clone());
        }
        Ok(found)
    }

    /// S3 in `region`; path-style addressing when the endpoint is overridden
    /// (S3-compatible endpoints do not resolve bucket subdomains).
    fn s3_client(config: &SdkConfig, region: &str) -> aws_sdk_s3::Client {
        let builder = aws_sdk_s3::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .force_path_style(config.endpoint_url().is_some());
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    /// These clients with S3 in another region (bucket policies are read in
    /// the bucket's region).
    fn with_s3_in(&self, region: &str) -> Self {
        Self { s3: Self::s3_client(&self.config, region), ..self.clone() }
    }
}

fn unread<E, R>(action: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    AwsError::from_sdk(action, err)
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

fn not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound") || c == "InvalidServiceName")
}

// --- conversions -------------------------------------------------------------------

fn to_eni(n: &aws_sdk_ec2::types::NetworkInterface) -> Eni {
    Eni {
        id: n.network_interface_id().unwrap_or_default().to_string(),
        interface_type: n.interface_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        description: n.description().unwrap_or_default().to_string(),
        requester_managed: n.requester_managed().unwrap_or(false),
        requester_id: n.requester_id().map(str::to_string),
        subnet_id: n.subnet_id().map(str::to_string),
        group_ids: n.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
        instance_id: n.attachment().and_then(|a| a.instance_id()).map(str::to_string),
        status: n.status().map(|s| s.as_str().to_string()),
        private_ip: n.private_ip_address().map(str::to_string),
    }
}

fn to_rule(p: &aws_sdk_ec2::types::IpPermission) -> Rule {
    Rule {
        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        cidrs: p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_string))
            .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6().map(str::to_string)))
            .collect(),
        groups: p.user_id_group_pairs().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
        prefix_lists: p.prefix_list_ids().iter().filter_map(|l| l.prefix_list_id().map(str::to_string)).collect(),
    }
}

fn to_group(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroup {
    SecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(str::to_string),
        owner_id: g.owner_id().map(str::to_string),
        ingress: g.ip_permissions().iter().map(to_rule).collect(),
        egress: g.ip_permissions_egress().iter().map(to_rule).collect(),
    }
}

// --- reads -------------------------------------------------------------------------

impl Clients {
    async fn endpoints(&self, ids: &[String]) -> Read<Vec<ObservedEndpoint>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self.aws.ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(ids.to_vec())).send().await {
            Ok(out) => Ok(out.vpc_endpoints().iter().map(crate::aws::interface_endpoint::observe).collect()),
            Err(e) if not_found(e.code()) => Ok(Vec::new()),
            Err(e) => Err(unread("DescribeVpcEndpoints", e)),
        }
    }

    async fn interfaces(&self, ids: &[String], filters: Vec<Filter>) -> Read<Vec<Eni>> {
        if ids.is_empty() && filters.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.aws.ec2.describe_network_interfaces();
        if ids.is_empty() {
            request = request.set_filters(Some(filters)).max_results(1000);
        } else {
            request = request.set_network_interface_ids(Some(ids.to_vec()));
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unread("DescribeNetworkInterfaces", e))?;
            found.extend(page.network_interfaces().iter().map(to_eni));
        }
        Ok(found)
    }

    async fn groups(&self, ids: &[String], filters: Vec<Filter>) -> Read<Vec<SecurityGroup>> {
        if ids.is_empty() && filters.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.aws.ec2.describe_security_groups();
        if ids.is_empty() {
            request = request.set_filters(Some(filters)).max_results(1000);
        } else {
            request = request.set_group_ids(Some(ids.to_vec()));
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => found.extend(page.security_groups().iter().map(to_group)),
                Err(e) if not_found(e.code()) => return Ok(Vec::new()),
                Err(e) => return Err(unread("DescribeSecurityGroups", e)),
            }
        }
        Ok(found)
    }

    async fn subnets(&self, ids: &[String], filters: Vec<Filter>) -> Read<Vec<Subnet>> {
        self.aws.subnets(ids, filters).await
    }

    async fn vpc(&self, id: &str) -> Read<Vpc> {
        let out = self.aws.ec2.describe_vpcs().vpc_ids(id).send().await.map_err(|e| unread("DescribeVpcs", e))?;
        let cidrs = out
            .vpcs()
            .iter()
            .flat_map(|v| {
                let mut c: Vec<String> =
                    v.cidr_block_association_set().iter().filter_map(|a| a.cidr_block().map(str::to_string)).collect();
                if c.is_empty() {
                    c.extend(v.cidr_block().map(str::to_string));
                }
                c
            })
            .collect();
        Ok(Vpc {
            id: id.to_string(),
            cidrs,
            dns_support: self.aws.vpc_attribute(id, VpcAttributeName::EnableDnsSupport).await,
            dns_hostnames: self.aws.vpc_attribute(id, VpcAttributeName::EnableDnsHostnames).await,
        })
    }

    async fn acls(&self, filters: Vec<Filter>) -> Read<Vec<NetworkAcl>> {
        let mut pages =
            self.aws.ec2.describe_network_acls().set_filters(Some(filters)).max_results(1000).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unread("DescribeNetworkAcls", e))?;
            found.extend(page.network_acls().iter().map(|a| {
                NetworkAcl {
                    id: a.network_acl_id().unwrap_or_default().to_string(),
                    subnet_ids: a.associations().iter().filter_map(|s| s.subnet_id().map(str::to_string)).collect(),
                    entries: a
                        .entries()
                        .iter()
                        .map(|e| AclEntry {
                            number: e.rule_number().unwrap_or(32767),
                            egress: e.egress().unwrap_or(false),
                            protocol: e.protocol().unwrap_or("-1").to_string(),
                            from_port: e.port_range().and_then(|p| p.from()),
                            to_port: e.port_range().and_then(|p| p.to()),
                            cidr: e.cidr_block().or(e.ipv6_cidr_block()).map(str::to_string),
                            allow: e.rule_action().map(|a| a.as_str() == "allow").unwrap_or(false),
                        })
                        .collect(),
                }
            }));
        }
        Ok(found)
    }

    async fn route_tables(&self, vpc: &str) -> Read<Vec<RouteTable>> {
        let mut pages = self
            .aws
            .ec2
            .describe_route_tables()
            .filters(filter("vpc-id", [vpc]))
            .max_results(100)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unread("DescribeRouteTables", e))?;
            found.extend(page.route_tables().iter().map(|t| {
                RouteTable {
                    id: t.route_table_id().unwrap_or_default().to_string(),
                    main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                    subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect(),
                    routes: t
                        .routes()
                        .iter()
                        .map(|r| Route {
                            destination: r.destination_cidr_block().map(str::to_string),
                            prefix_list: r.destination_prefix_list_id().map(str::to_string),
                            target: r
                                .gateway_id()
                                .or(r.nat_gateway_id())
                                .or(r.transit_gateway_id())
                                .or(r.vpc_peering_connection_id())
                                .or(r.network_interface_id())
                                .map(str::to_string),
                            state: r.state().map(|s| s.as_str().to_string()),
                        })
                        .collect(),
                }
            }));
        }
        Ok(found)
    }

    async fn prefix_list(&self, service_name: &str) -> Read<Option<PrefixList>> {
        let out = self
            .aws
            .ec2
            .describe_prefix_lists()
            .filters(filter("prefix-list-name", [service_name]))
            .send()
            .await
            .map_err(|e| unread("DescribePrefixLists", e))?;
        Ok(out.prefix_lists().first().map(|p| PrefixList {
            id: p.prefix_list_id().unwrap_or_default().to_string(),
            name: p.prefix_list_name().unwrap_or_default().to_string(),
            cidrs: p.cidrs().to_vec(),
        }))
    }

    async fn offer(&self, ep: &ObservedEndpoint) -> Read<Option<ServiceOffer>> {
        let remote = ep.service_region.as_deref().filter(|r| *r != self.region);
        match self.aws.service_offer(&ep.service_name, remote).await {
            Err(e) if not_found(e.code.as_deref()) => Ok(None),
            found => found,
        }
    }

    async fn instances(&self, ids: &[String], filters: Vec<Filter>) -> Read<Vec<Instance>> {
        let mut request = self.aws.ec2.describe_instances();
        if ids.is_empty() {
            request = request.set_filters(Some(filters)).max_results(1000);
        } else {
            request = request.set_instance_ids(Some(ids.to_vec()));
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if not_found(e.code()) => return Ok(Vec::new()),
                Err(e) => return Err(unread("DescribeInstances", e)),
            };
            for r in page.reservations() {
                found.extend(r.instances().iter().map(|i| Instance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    state: i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()),
                    subnet_id: i.subnet_id().map(str::to_string),
                    private_ip: i.private_ip_address().map(str::to_string),
                    group_ids: i.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
                }));
            }
        }
        Ok(found)
    }

    /// CloudTrail's CreateVpcEndpoint events for an endpoint (the last 90 days).
    async fn trail(&self, endpoint_id: &str) -> Read<Vec<TrailEvent>> {
        let attribute = aws_sdk_cloudtrail::types::LookupAttribute::builder()
            .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::ResourceName)
            .attribute_value(endpoint_id)
            .build()
            .map_err(|e| AwsError::read_failed("LookupEvents", None, e.to_string()))?;
        let out = self
            .cloudtrail
            .lookup_events()
            .lookup_attributes(attribute)
            .max_results(50)
            .send()
            .await
            .map_err(|e| unread("LookupEvents", e))?;
        Ok(out
            .events()
            .iter()
            .filter(|e| e.event_name() == Some("CreateVpcEndpoint"))
            .map(|e| {
                let detail: serde_json::Value =
                    e.cloud_trail_event().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
                TrailEvent {
                    name: "CreateVpcEndpoint".into(),
                    username: e.username().map(str::to_string),
                    invoked_by: detail["userIdentity"]["invokedBy"].as_str().map(str::to_string),
                    time: e.event_time().map(|t| t.to_string()),
                }
            })
            .collect())
    }

    /// The DNS names of the account's RDS Proxies and Aurora Serverless
    /// clusters: (kind, name, host).
    async fn database_hosts(&self, vpc_id: &str) -> Read<Vec<(String, String, String)>> {
        let mut hosts = Vec::new();
        let mut proxies = self.rds.describe_db_proxies().into_paginator().send();
        while let Some(page) = proxies.next().await {
            let page = page.map_err(|e| unread("DescribeDBProxies", e))?;
            for p in page.db_proxies() {
                if p.vpc_id().is_some_and(|v| v != vpc_id) {
                    continue;
                }
                if let (Some(name), Some(host)) = (p.db_proxy_name(), p.endpoint()) {
                    hosts.push(("RDS Proxy".to_string(), name.to_string(), host.to_string()));
                }
            }
        }
        let mut clusters = self.rds.describe_db_clusters().into_paginator().send();
        while let Some(page) = clusters.next().await {
            let page = page.map_err(|e| unread("DescribeDBClusters", e))?;
            for c in page.db_clusters().iter().filter(|c| c.engine_mode() == Some("serverless")) {
                let name = c.db_cluster_identifier().unwrap_or_default().to_string();
                for host in [c.endpoint(), c.reader_endpoint()].into_iter().flatten() {
                    hosts.push(("Aurora Serverless cluster".to_string(), name.clone(), host.to_string()));
                }
            }
        }
        Ok(hosts)
    }

    /// Databases whose DNS name is, through CNAMEs, one of the endpoint's.
    async fn databases(
        &self,
        ep: &ObservedEndpoint,
        nameserver: Option<std::net::SocketAddr>,
    ) -> Read<Vec<DatabaseLink>> {
        let hosts = self.database_hosts(&ep.vpc_id).await?;
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let resolver =
            super::dns::Resolver::new(nameserver).map_err(|message| AwsError::read_failed("DNS", None, message))?;
        let ours = |name: &str| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            ep.dns_names().any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(&name))
                || name.starts_with(&format!("{}-", ep.id))
        };
        let mut links = Vec::new();
        for (kind, name, host) in hosts {
            let chain = resolver.cname_chain(&host).await;
            if chain.iter().skip(1).any(|n| ours(n)) {
                links.push(DatabaseLink { kind, name, host, chain });
            }
        }
        Ok(links)
    }

    /// A bucket's region and policy.
    async fn bucket(&self, name: &str) -> Read<Bucket> {
        let location =
            self.s3.get_bucket_location().bucket(name).send().await.map_err(|e| unread("GetBucketLocation", e))?;
        let region = match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(other) => other.to_string(),
        };
        let there = self.with_s3_in(&region);
        let policy = match there.s3.get_bucket_policy().bucket(name).send().await {
            Ok(out) => out.policy().map(str::to_string),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
            Err(e) => return Err(unread("GetBucketPolicy", e)),
        };
        Ok(Bucket { name: name.to_string(), region, policy })
    }

    /// The client named by --source.
    async fn source(&self, label: &str) -> Read<Source> {
        let missing = |what: &'static str| {
            AwsError::read_failed(what, Some("NotFound".into()), format!("{label} does not exist here"))
        };
        if label.starts_with("i-") {
            let instances = self.instances(&[label.to_string()], Vec::new()).await?;
            let i = instances.first().ok_or_else(|| missing("DescribeInstances"))?;
            let groups = self.groups(&i.group_ids, Vec::new()).await?;
            return Ok(Source {
                label: format!("instance {label}"),
                cidr: i.private_ip.as_ref().map(|ip| format!("{ip}/32")),
                groups,
                subnet_ids: i.subnet_id.iter().cloned().collect(),
            });
        }
        if label.starts_with("sg-") {
            let groups = self.groups(&[label.to_string()], Vec::new()).await?;
            if groups.is_empty() {
                return Err(missing("DescribeSecurityGroups"));
            }
            return Ok(Source { label: format!("members of {label}"), cidr: None, groups, subnet_ids: Vec::new() });
        }
        if label.starts_with("subnet-") {
            let subnets = self.subnets(&[label.to_string()], Vec::new()).await?;
            let s = subnets.first().ok_or_else(|| missing("DescribeSubnets"))?;
            return Ok(Source {
                label: format!("subnet {label}"),
                cidr: s.cidr.clone(),
                groups: Vec::new(),
                subnet_ids: vec![s.id.clone()],
            });
        }
        match crate::plan::checks::net::Cidr::parse(label) {
            Some(c) => Ok(Source {
                label: c.to_string(),
                cidr: Some(c.to_string()),
                groups: Vec::new(),
                subnet_ids: Vec::new(),
            }),
            None => Err(AwsError::read_failed(
                "--source",
                None,
                format!("{label:?} is not an instance (i-…), a security group (sg-…), a subnet (subnet-…) or a CIDR"),
            )),
        }
    }
}

/// Everything the endpoint checks need.
pub async fn endpoint_facts(c: &Clients, id: &str, options: &Options) -> Read<EndpointFacts> {
    let found = c.endpoints(&[id.to_string()]).await?;
    let Some(mut ep) = found.into_iter().find(|e| e.id == id && e.state != "deleted") else {
        return Ok(EndpointFacts {
            region: c.region.clone(),
            endpoint: None,
            interfaces: Ok(Vec::new()),
            offer: Ok(None),
            subnets: Ok(Vec::new()),
            groups: Ok(Vec::new()),
            vpc: Err(AwsError::read_failed("DescribeVpcs", None, "no endpoint")),
            route_tables: Ok(Vec::new()),
            acls: Ok(Vec::new()),
            prefix_list: Ok(None),
            source: None,
            ports: Vec::new(),
            owner: OwnerClues::default(),
            bucket: None,
        });
    };
    if ep.service_region.as_deref() == Some(c.region.as_str()) {
        ep.service_region = None;
    }
    let source = match &options.source {
        Some(s) => Some(c.source(s).await),
        None => None,
    };
    let ports = if options.ports.is_empty() { default_ports(&ep.service_name) } else { options.ports.clone() };
    let owner = if ep.requester_managed {
        OwnerClues { trail: Some(c.trail(&ep.id).await), databases: Some(c.databases(&ep, options.nameserver).await) }
    } else {
        OwnerClues::default()
    };
    let bucket = match &options.bucket {
        Some(name) if ep.is_gateway() && ep.service_name.ends_with(".s3") => Some(c.bucket(name).await),
        _ => None,
    };
    if ep.is_gateway() {
        return Ok(EndpointFacts {
            region: c.region.clone(),
            interfaces: Ok(Vec::new()),
            offer: Ok(None),
            subnets: c.subnets(&[], vec![filter("vpc-id", [ep.vpc_id.as_str()])]).await,
            groups: Ok(Vec::new()),
            vpc: c.vpc(&ep.vpc_id).await,
            route_tables: c.route_tables(&ep.vpc_id).await,
            acls: c.acls(vec![filter("vpc-id", [ep.vpc_id.as_str()])]).await,
            prefix_list: c.prefix_list(&ep.service_name).await,
            source,
            ports,
            owner,
            bucket,
            endpoint: Some(ep),
        });
    }
    // A requester-managed endpoint's interfaces say who made it.
    let interfaces =
        if ep.requester_managed { c.interfaces(&ep.network_interface_ids, Vec::new()).await } else { Ok(Vec::new()) };
    let mut facts = interface_traffic_facts(c, ep, source, ports).await;
    facts.interfaces = interfaces;
    facts.owner = owner;
    facts.bucket = bucket;
    Ok(facts)
}

/// The operations doctor reads through the operator's own readers
/// ([`RegionClients`](crate::aws::RegionClients): services, their
/// connections, principals and load balancers, subnets, VPC attributes, what
/// a service offers), so each fact is read one way.
pub const SHARED_READS: &[&str] = &[
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpointConnections",
    "ec2:DescribeVpcEndpointServiceConfigurations",
    "ec2:DescribeVpcEndpointServicePermissions",
    "ec2:DescribeVpcEndpointServices",
    "elasticloadbalancing:DescribeLoadBalancers",
];

/// The operations [`interface_traffic_facts`] and [`group_facts`] (without
/// --check-permissions) call: the InterfaceEndpoint controller reads through
/// them, so the operator's IAM policy grants them too.
pub const OPERATOR_READS: &[&str] = &[
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroupReferences",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpointServices",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
];

/// What the traffic checks of an interface endpoint need: the service's
/// zones, the endpoint's subnets and security groups, the VPC and its DNS
/// attributes, the network ACLs of the endpoint's (and the client's)
/// subnets. Seven reads (the VPC attribute is read twice).
pub async fn interface_traffic_facts(
    c: &Clients,
    ep: ObservedEndpoint,
    source: Option<Read<Source>>,
    ports: Vec<u16>,
) -> EndpointFacts {
    let subnet_ids: Vec<String> = ep.subnet_ids.iter().cloned().collect();
    let group_ids: Vec<String> = ep.security_group_ids.iter().cloned().collect();
    let mut acl_subnets: std::collections::BTreeSet<String> = ep.subnet_ids.clone();
    acl_subnets.extend(source.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.subnet_ids.clone()).unwrap_or_default());
    let acl_subnets: Vec<String> = acl_subnets.into_iter().collect();
    let offer_key = format!("offer/{}/{}", ep.service_name, ep.service_region.as_deref().unwrap_or("-"));
    let offer = c.kept(offer_key, || c.offer(&ep)).await;
    let subnets = c.kept(format!("subnets/{}", subnet_ids.join(",")), || c.subnets(&subnet_ids, Vec::new())).await;
    let groups = c.kept(format!("groups/{}", group_ids.join(",")), || c.groups(&group_ids, Vec::new())).await;
    let vpc = c.kept(format!("vpc/{}", ep.vpc_id), || c.vpc(&ep.vpc_id)).await;
    let acls = if acl_subnets.is_empty() {
        Ok(Vec::new())
    } else {
        let key = format!("acls/{}", acl_subnets.join(","));
        c.kept(key, || c.acls(vec![filter("association.subnet-id", acl_subnets.clone())])).await
    };
    EndpointFacts {
        region: c.region.clone(),
        interfaces: Ok(Vec::new()),
        offer,
        subnets,
        groups,
        vpc,
        route_tables: Ok(Vec::new()),
        acls,
        prefix_list: Ok(None),
        source,
        ports,
        owner: OwnerClues::default(),
        bucket: None,
        endpoint: Some(ep),
    }
}

/// The ports clients of `service_name` use when the user names none: 443
/// for AWS services; unknown for endpoint services (consumers cannot see
/// their listeners).
pub fn default_ports(service_name: &str) -> Vec<u16> {
    let aws_service = service_name.starts_with("com.amazonaws.") && !service_name.starts_with("com.amazonaws.vpce.");
    if aws_service { vec![443] } else { Vec::new() }
}

/// Everything the security-group checks need.
pub async fn group_facts(c: &Clients, id: &str, options: &Options) -> Read<GroupFacts> {
    let found = c.groups(&[id.to_string()], Vec::new()).await?;
    let Some(group) = found.into_iter().find(|g| g.id == id) else {
        return Ok(GroupFacts {
            region: c.region.clone(),
            group: None,
            neighbours: Ok(Vec::new()),
            references: Ok(Vec::new()),
            interfaces: Ok(Vec::new()),
            instances: Ok(Vec::new()),
            endpoints: Ok(Vec::new()),
            permission: None,
        });
    };
    let neighbours = match &group.vpc_id {
        Some(vpc) => c.groups(&[], vec![filter("vpc-id", [vpc.as_str()])]).await,
        None => Ok(Vec::new()),
    };
    let references = c
        .aws
        .ec2
        .describe_security_group_references()
        .group_id(id)
        .send()
        .await
        .map(|out| {
            out.security_group_reference_set()
                .iter()
                .map(|r| GroupReference {
                    vpc_id: r.referencing_vpc_id().unwrap_or_default().to_string(),
                    peering_id: r.vpc_peering_connection_id().map(str::to_string),
                    transit_gateway_id: r.transit_gateway_id().map(str::to_string),
                })
                .collect()
        })
        .map_err(|e| unread("DescribeSecurityGroupReferences", e));
    let interfaces = c.interfaces(&[], vec![filter("group-id", [id])]).await;
    let instances = c.instances(&[], vec![filter("instance.group-id", [id])]).await;
    let endpoint_ids: Vec<String> = interfaces
        .as_ref()
        .map(|enis| {
            enis.iter()
                .filter_map(|e| e.description.strip_prefix("VPC Endpoint Interface ").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let endpoints = c.endpoints(&endpoint_ids).await;
    let permission = if options.check_permissions {
        // DryRun: AWS checks the caller's permission and deletes nothing.
        Some(match c.aws.ec2.delete_security_group().group_id(id).dry_run(true).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("DryRunOperation") => Ok(()),
            Err(e) => Err(unread("DeleteSecurityGroup", e)),
        })
    } else {
        None
    };
    Ok(GroupFacts {
        region: c.region.clone(),
        group: Some(group),
        neighbours,
        references,
        interfaces,
        instances,
        endpoints,
        permission,
    })
}

/// Everything the endpoint-service checks need, read the way the
/// controller reads it.
pub async fn service_facts(c: &Clients, id: &str) -> Read<ServiceFacts> {
    let Some(svc) = c.aws.find_service(id).await? else {
        return Ok(ServiceFacts {
            region: c.region.clone(),
            service: None,
            connections: Ok(Vec::new()),
            principals: Ok(Default::default()),
            load_balancers: Ok(Vec::new()),
        });
    };
    let connections = c.aws.service_connections(id).await;
    let principals = c.aws.allowed_principals(id).await;
    let arns: Vec<String> =
        svc.network_load_balancer_arns.iter().chain(&svc.gateway_load_balancer_arns).cloned().collect();
    let load_balancers = c.aws.describe_load_balancers(&arns).await;
    Ok(ServiceFacts { region: c.region.clone(), service: Some(svc), connections, principals, load_balancers })
}
