//! What AWS holds, as the operator and `doctor` read it: plain data, so
//! every decision and every check is a pure function of these, tested
//! without AWS.

pub mod endpoint;
pub mod error;
pub mod service;

pub use endpoint::{ObservedEndpoint, ServiceOffer};
pub use error::{AwsError, ErrorClass};
pub use service::{LoadBalancerKind, ObservedConnection, ObservedLoadBalancer, ObservedNotification, ObservedService};

/// The outcome of one read.
pub type Read<T> = Result<T, AwsError>;

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
    pub endpoint: Option<ObservedEndpoint>,
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

/// Everything read for an endpoint service.
#[derive(Debug, Clone)]
pub struct ServiceFacts {
    /// Region.
    pub region: String,
    /// The service; None when this account has none with the id there.
    pub service: Option<ObservedService>,
    /// Its connections.
    pub connections: Read<Vec<ObservedConnection>>,
    /// Allowed principals.
    pub principals: Read<std::collections::BTreeSet<String>>,
    /// Its load balancers; an ARN missing here no longer exists.
    pub load_balancers: Read<Vec<ObservedLoadBalancer>>,
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
    pub endpoints: Read<Vec<ObservedEndpoint>>,
    /// The DryRun answer to DeleteSecurityGroup, when asked for: Ok(()) when
    /// AWS would let the caller delete it, else the refusal.
    pub permission: Option<Read<()>>,
}
