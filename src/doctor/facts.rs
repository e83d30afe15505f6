//! What `doctor` read from AWS, as plain data: the checks are pure
//! functions of these, so every cause can be tested without AWS.

use std::collections::BTreeMap;

use serde::Serialize;

/// A read that failed: the check that needed it could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    /// The AWS operation (`DescribeNetworkAcls`).
    pub action: String,
    /// AWS's error code, when AWS answered.
    pub code: Option<String>,
    /// AWS's message (or the transport error).
    pub message: String,
}

impl Unread {
    /// `DescribeX: Code: message`.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!("{}: {code}: {}", self.action, self.message),
            None => format!("{}: {}", self.action, self.message),
        }
    }

    /// True when AWS refused the caller (IAM, an SCP, a permissions boundary).
    pub fn denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure")
        )
    }
}

/// The outcome of one read.
pub type Read<T> = Result<T, Unread>;

/// One VPC endpoint (DescribeVpcEndpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `vpce-…`.
    pub id: String,
    /// `Interface`, `Gateway`, `GatewayLoadBalancer`.
    pub kind: String,
    /// VPC.
    pub vpc_id: String,
    /// Service name.
    pub service_name: String,
    /// Region of the service, when it is another region's.
    pub service_region: Option<String>,
    /// State (`available`, `pendingAcceptance`, …).
    pub state: String,
    /// Created by an AWS service for the account.
    pub requester_managed: bool,
    /// Owner account.
    pub owner_id: Option<String>,
    /// Subnets (interface endpoints).
    pub subnet_ids: Vec<String>,
    /// Security groups (interface endpoints).
    pub group_ids: Vec<String>,
    /// Route tables (gateway endpoints).
    pub route_table_ids: Vec<String>,
    /// Network interfaces (interface endpoints).
    pub network_interface_ids: Vec<String>,
    /// Private DNS on.
    pub private_dns_enabled: bool,
    /// Endpoint policy document.
    pub policy: Option<String>,
    /// The endpoint's DNS names.
    pub dns_names: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When AWS created it (RFC 3339).
    pub created: Option<String>,
    /// AWS's last error for the endpoint (code, message).
    pub last_error: Option<(String, String)>,
}

impl Endpoint {
    /// True for a gateway endpoint (S3, DynamoDB).
    pub fn is_gateway(&self) -> bool {
        self.kind == "Gateway"
    }
}

/// A network interface (DescribeNetworkInterfaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eni {
    /// `eni-…`.
    pub id: String,
    /// `interface`, `vpc_endpoint`, `network_load_balancer`, `lambda`, `nat_gateway`, …
    pub interface_type: String,
    /// Description (AWS services name their resource there).
    pub description: String,
    /// Managed by an AWS service.
    pub requester_managed: bool,
    /// Who created it (an AWS service's id, or a principal).
    pub requester_id: Option<String>,
    /// Subnet.
    pub subnet_id: Option<String>,
    /// Security groups.
    pub group_ids: Vec<String>,
    /// Instance it is attached to.
    pub instance_id: Option<String>,
    /// Status (`in-use`, `available`).
    pub status: Option<String>,
    /// Primary private address.
    pub private_ip: Option<String>,
}

/// What a service offers a consumer (DescribeVpcEndpointServices).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceOffer {
    /// Service name.
    pub name: String,
    /// Availability Zones, by the caller's names.
    pub zone_names: Vec<String>,
    /// Availability Zones by ID (the same in every account).
    pub zone_ids: Vec<String>,
    /// `amazon` or the provider's account.
    pub owner: Option<String>,
    /// Connections need the provider's acceptance.
    pub acceptance_required: bool,
}

/// A subnet (DescribeSubnets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// IPv4 range.
    pub cidr: Option<String>,
    /// Availability Zone name.
    pub zone: Option<String>,
    /// Availability Zone ID.
    pub zone_id: Option<String>,
}

/// A VPC (DescribeVpcs, DescribeVpcAttribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// IPv4 ranges.
    pub cidrs: Vec<String>,
    /// `enableDnsSupport`.
    pub dns_support: Read<bool>,
    /// `enableDnsHostnames`.
    pub dns_hostnames: Read<bool>,
}

/// A security-group rule (one direction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `-1`, `tcp`, `udp`, `icmp` or a number.
    pub protocol: String,
    /// First port.
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// IPv4 and IPv6 ranges.
    pub cidrs: Vec<String>,
    /// Referenced security groups.
    pub groups: Vec<String>,
    /// Referenced prefix lists.
    pub prefix_lists: Vec<String>,
}

/// A security group (DescribeSecurityGroups).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Name (`default` for a VPC's default group).
    pub name: String,
    /// VPC.
    pub vpc_id: Option<String>,
    /// Owner account.
    pub owner_id: Option<String>,
    /// Inbound rules.
    pub ingress: Vec<Rule>,
    /// Outbound rules.
    pub egress: Vec<Rule>,
}

/// A rule in a group of a peered VPC that references a group
/// (DescribeSecurityGroupReferences).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupReference {
    /// The referencing VPC.
    pub vpc_id: String,
    /// The peering connection.
    pub peering_id: Option<String>,
    /// The transit gateway, when the reference crosses one.
    pub transit_gateway_id: Option<String>,
}

/// A route table (DescribeRouteTables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// `rtb-…`.
    pub id: String,
    /// The VPC's main table (serves subnets without their own).
    pub main: bool,
    /// Subnets associated explicitly.
    pub subnet_ids: Vec<String>,
    /// Routes.
    pub routes: Vec<Route>,
}

/// One route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Destination range.
    pub destination: Option<String>,
    /// Destination prefix list.
    pub prefix_list: Option<String>,
    /// Target (`vpce-…`, `igw-…`, `local`, …).
    pub target: Option<String>,
    /// `active` or `blackhole`.
    pub state: Option<String>,
}

/// A network ACL (DescribeNetworkAcls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAcl {
    /// `acl-…`.
    pub id: String,
    /// Subnets it applies to.
    pub subnet_ids: Vec<String>,
    /// Entries, both directions.
    pub entries: Vec<AclEntry>,
}

/// One network ACL entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclEntry {
    /// Rule number (lowest first).
    pub number: i32,
    /// Outbound.
    pub egress: bool,
    /// `-1`, `6` (TCP), `17` (UDP), …
    pub protocol: String,
    /// First port.
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// IPv4 or IPv6 range.
    pub cidr: Option<String>,
    /// Allow (else deny).
    pub allow: bool,
}

/// An AWS-managed prefix list (DescribePrefixLists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixList {
    /// `pl-…`.
    pub id: String,
    /// `com.amazonaws.<region>.s3`.
    pub name: String,
    /// Its address ranges.
    pub cidrs: Vec<String>,
}

/// An instance (DescribeInstances).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// State (`running`, `stopped`, …).
    pub state: Option<String>,
    /// Subnet.
    pub subnet_id: Option<String>,
    /// Primary private address.
    pub private_ip: Option<String>,
    /// Security groups.
    pub group_ids: Vec<String>,
}

/// A CloudTrail management event (LookupEvents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailEvent {
    /// `CreateVpcEndpoint`.
    pub name: String,
    /// Who called: a user, a role session or an AWS service principal.
    pub username: Option<String>,
    /// The AWS service that called on the account's behalf (`invokedBy`).
    pub invoked_by: Option<String>,
    /// When (RFC 3339).
    pub time: Option<String>,
}

/// A database whose DNS name leads to the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseLink {
    /// `RDS Proxy`, `Aurora Serverless cluster`.
    pub kind: String,
    /// Its identifier.
    pub name: String,
    /// Its DNS name.
    pub host: String,
    /// The CNAME chain from `host` to the endpoint's DNS name.
    pub chain: Vec<String>,
}

/// An S3 bucket the traffic is for (GetBucketLocation, GetBucketPolicy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// Region (`us-east-1` when AWS answers with none).
    pub region: String,
    /// Bucket policy, when there is one.
    pub policy: Option<String>,
}

/// The client side of the traffic (`--source`), resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// What the user named (`i-…`, `sg-…`, `subnet-…`, a CIDR).
    pub label: String,
    /// Its addresses (an instance's address, a subnet's range, the CIDR).
    pub cidr: Option<String>,
    /// Its security groups (instance or `sg-`): their rules decide egress.
    pub groups: Vec<SecurityGroup>,
    /// Its subnets (instance or `subnet-`): their routes and ACLs apply.
    pub subnet_ids: Vec<String>,
}

/// Clues to the AWS service behind a requester-managed endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerClues {
    /// CloudTrail's CreateVpcEndpoint events for the endpoint (90 days).
    pub trail: Option<Read<Vec<TrailEvent>>>,
    /// Databases whose DNS names are CNAMEs of the endpoint's.
    pub databases: Option<Read<Vec<DatabaseLink>>>,
}

/// Everything read for an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointFacts {
    /// Region the endpoint was looked up in.
    pub region: String,
    /// The endpoint; None when this account has none with the id there.
    pub endpoint: Option<Endpoint>,
    /// Its network interfaces.
    pub interfaces: Read<Vec<Eni>>,
    /// What the service offers (interface endpoints).
    pub offer: Read<Option<ServiceOffer>>,
    /// Its subnets (interface) or the subnets traffic comes from (gateway).
    pub subnets: Read<Vec<Subnet>>,
    /// Its security groups (interface endpoints).
    pub groups: Read<Vec<SecurityGroup>>,
    /// The VPC.
    pub vpc: Read<Vpc>,
    /// The VPC's route tables (gateway endpoints).
    pub route_tables: Read<Vec<RouteTable>>,
    /// Network ACLs of the subnets that matter.
    pub acls: Read<Vec<NetworkAcl>>,
    /// The service's prefix list (gateway endpoints).
    pub prefix_list: Read<Option<PrefixList>>,
    /// The client (`--source`), when named.
    pub source: Option<Read<Source>>,
    /// The ports clients use (`--port`; 443 for AWS services by default).
    pub ports: Vec<u16>,
    /// Owner clues for a requester-managed endpoint.
    pub owner: OwnerClues,
    /// The bucket (`--bucket`), when named.
    pub bucket: Option<Read<Bucket>>,
}

/// A connection to an endpoint service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// The consumer's endpoint.
    pub endpoint_id: String,
    /// Its owner account.
    pub owner: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// `available`, `pendingAcceptance`, `rejected`, …
    pub state: String,
}

/// An endpoint service configuration (DescribeVpcEndpointServiceConfigurations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `vpce-svc-…`.
    pub id: String,
    /// Service name.
    pub name: Option<String>,
    /// State (`Available`, `Pending`, `Failed`, …).
    pub state: String,
    /// Acceptance required.
    pub acceptance_required: bool,
    /// Network Load Balancers.
    pub network_load_balancers: Vec<String>,
    /// Gateway Load Balancers.
    pub gateway_load_balancers: Vec<String>,
    /// Private DNS name and its verification state.
    pub private_dns: Option<(String, String)>,
    /// The TXT record (name, value) that proves the domain is the provider's.
    pub private_dns_txt: Option<(String, String)>,
    /// Availability Zones.
    pub zones: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A load balancer (DescribeLoadBalancers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancer {
    /// ARN.
    pub arn: String,
    /// `network`, `gateway`, `application`.
    pub kind: String,
    /// `active`, `provisioning`, `failed`.
    pub state: String,
    /// Availability Zones.
    pub zones: Vec<String>,
}

/// Everything read for an endpoint service.
#[derive(Debug, Clone)]
pub struct ServiceFacts {
    /// Region.
    pub region: String,
    /// The service; None when this account has none with the id there.
    pub service: Option<ServiceConfig>,
    /// Its connections.
    pub connections: Read<Vec<Connection>>,
    /// Allowed principals.
    pub principals: Read<Vec<String>>,
    /// Its load balancers; an ARN missing here no longer exists.
    pub load_balancers: Read<Vec<LoadBalancer>>,
}

/// Everything read for a security group.
#[derive(Debug, Clone)]
pub struct GroupFacts {
    /// Region.
    pub region: String,
    /// The group; None when this account has none with the id there.
    pub group: Option<SecurityGroup>,
    /// Other groups of its VPC (their rules may reference it).
    pub neighbours: Read<Vec<SecurityGroup>>,
    /// References from peered VPCs.
    pub references: Read<Vec<GroupReference>>,
    /// Network interfaces that use it.
    pub interfaces: Read<Vec<Eni>>,
    /// Instances that use it.
    pub instances: Read<Vec<Instance>>,
    /// Endpoints of those interfaces, with their tags (to name the object
    /// that manages one).
    pub endpoints: Read<Vec<Endpoint>>,
    /// The DryRun answer to DeleteSecurityGroup, when asked for: Ok(()) when
    /// AWS would let the caller delete it, else the refusal.
    pub permission: Option<Read<()>>,
}
