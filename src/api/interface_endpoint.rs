//! InterfaceEndpoint: one interface (or Gateway Load Balancer) VPC endpoint, the consumer side.

// kube's `printcolumn(...)` entries repeat `type_ = "string"` by design.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    DeletionPolicy, ENDPOINT_ID_PATTERN, LocalObjectReference, REGION_PATTERN, ROLE_ARN_PATTERN, same_partition_cel,
    tags_schema,
};
use super::conditions::{Condition, conditions_schema};

/// VPC id.
pub const VPC_ID_PATTERN: &str = r"^vpc-[0-9a-f]{8,17}$";
/// Subnet id.
pub const SUBNET_ID_PATTERN: &str = r"^subnet-[0-9a-f]{8,17}$";
/// Security group id.
pub const SECURITY_GROUP_ID_PATTERN: &str = r"^sg-[0-9a-f]{8,17}$";
/// A VPC endpoint service name, e.g. `com.amazonaws.vpce.us-east-1.vpce-svc-…`
/// or `com.amazonaws.us-east-1.s3`.
pub const SERVICE_NAME_PATTERN: &str = r"^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?$";

/// Consumer side of AWS PrivateLink: an interface VPC endpoint to an
/// endpoint service, in this region or (with serviceRegion) another one.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "privatelink.dev",
    version = "v1alpha1",
    kind = "InterfaceEndpoint",
    namespaced,
    status = "InterfaceEndpointStatus",
    shortname = "ifep",
    category = "privatelink",
    printcolumn(name = "Endpoint ID", type_ = "string", json_path = ".status.vpcEndpointId"),
    printcolumn(name = "Service", type_ = "string", json_path = ".status.serviceName", priority = 1),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new("has(self.serviceName) != has(self.serviceRef)").message("set exactly one of serviceName and serviceRef").reason(Reason::FieldValueRequired),
    validation = Rule::new("!(has(self.subnetIds) && has(self.subnetConfigurations))").message("set at most one of subnetIds and subnetConfigurations"),
    validation = Rule::new(format!("!has(self.region) || !has(self.serviceRegion) || ({})", same_partition_cel("self.serviceRegion", "self.region"))).message("serviceRegion must be in the endpoint's partition (aws, aws-cn, aws-us-gov…): cross-region PrivateLink does not cross partitions").field_path(".serviceRegion"),
    validation = Rule::new("has(self.roleArn) == has(oldSelf.roleArn) && (!has(self.roleArn) || self.roleArn == oldSelf.roleArn)").message("roleArn is immutable: the endpoint lives in that role's account; create a new InterfaceEndpoint to use another account (externalId may change)").field_path(".roleArn"),
    validation = Rule::new("has(self.serviceRegion) == has(oldSelf.serviceRegion) && (!has(self.serviceRegion) || self.serviceRegion == oldSelf.serviceRegion)").message("serviceRegion is immutable: AWS cannot change it on an existing endpoint; create a new InterfaceEndpoint instead").field_path(".serviceRegion"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)").message("region is immutable: create a new InterfaceEndpoint instead").field_path(".region"),
    validation = Rule::new("self.vpcId == oldSelf.vpcId").message("vpcId is immutable: an endpoint cannot move between VPCs; create a new InterfaceEndpoint instead").field_path(".vpcId"),
    validation = Rule::new("has(self.vpcEndpointId) == has(oldSelf.vpcEndpointId) && (!has(self.vpcEndpointId) || self.vpcEndpointId == oldSelf.vpcEndpointId)").message("vpcEndpointId is immutable: it names the endpoint this object adopted").field_path(".vpcEndpointId"),
    validation = Rule::new("!has(self.externalId) || has(self.roleArn)").message("externalId is only used together with roleArn").field_path(".externalId")
)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceEndpointSpec {
    /// AWS region of the endpoint (the consumer's VPC). Defaults to the
    /// operator's region. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// VPC to create the endpoint in. Immutable.
    #[schemars(pattern(VPC_ID_PATTERN))]
    pub vpc_id: String,

    /// Name of the service to connect to, e.g.
    /// `com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0` (another
    /// account's endpoint service) or `com.amazonaws.us-east-1.sqs`.
    /// Set exactly one of serviceName and serviceRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SERVICE_NAME_PATTERN))]
    pub service_name: Option<String>,

    /// An EndpointService in this namespace. The endpoint waits until that
    /// service is Available, then uses its service name and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ref: Option<LocalObjectReference>,

    /// Region of the service when it differs from the endpoint's region
    /// (cross-region PrivateLink), in the same partition. Works for endpoint
    /// services that list the endpoint's region in their supported regions,
    /// and for the AWS services AWS made cross-region capable (S3, IAM, ECR,
    /// KMS, ECS, Lambda, Kinesis Data Firehose, Route 53… see AWS's list);
    /// AWS answers InvalidServiceName for the others. Immutable: AWS sets it
    /// only at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub service_region: Option<String>,

    /// Subnets to place the endpoint's network interfaces in, at most one per
    /// Availability Zone. Reconciled as a set; required to create an
    /// endpoint, and an adopted endpoint keeps its subnets when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32), inner(pattern(SUBNET_ID_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub subnet_ids: Option<Vec<String>>,

    /// Subnets with fixed IP addresses for the endpoint's network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["subnetId"]))]
    pub subnet_configurations: Option<Vec<SubnetConfiguration>>,

    /// Security groups of the endpoint's network interfaces. Reconciled as a
    /// set; when empty, AWS uses the VPC's default security group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(pattern(SECURITY_GROUP_ID_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub security_group_ids: Vec<String>,

    /// Associate a private hosted zone so the service's DNS name resolves to
    /// the endpoint. Needs the VPC's enableDnsSupport and enableDnsHostnames.
    /// For services that require acceptance the operator enables it once the
    /// connection is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_enabled: Option<bool>,

    /// DNS options of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_options: Option<DnsOptions>,

    /// IP address type of the endpoint: ipv4, dualstack or ipv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<EndpointIpAddressType>,

    /// Endpoint policy, a JSON IAM policy document (at most 20,480
    /// characters). Compared as JSON, so reformatting causes no change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 20480))]
    pub policy: Option<String>,

    /// Adopt this existing endpoint instead of creating one. The operator's
    /// settings say which namespaces may adopt, and an endpoint that carries
    /// another object's ownership tags is never adopted. What the spec
    /// omits (subnets, security groups, policy, private DNS, others' tags)
    /// is left as it is. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(ENDPOINT_ID_PATTERN))]
    pub vpc_endpoint_id: Option<String>,

    /// IAM role to assume (STS) for this endpoint's AWS calls, for a VPC in
    /// another account. The operator's settings decide which namespaces may
    /// use which roles. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// External ID to pass when assuming `roleArn`; may change (rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,

    /// AWS tags for the endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub tags: BTreeMap<String, String>,

    /// `Delete`: deleting this object deletes the endpoint and waits until
    /// AWS no longer lists it. `Retain`: AWS is left as it is (the
    /// operator's ownership tags are removed, so it can be adopted again).
    /// Default: Delete for an endpoint the operator created, Retain for an
    /// adopted one; `status.deletionPolicy` shows the policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// A subnet with fixed addresses for the endpoint's network interface.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetConfiguration {
    /// Subnet id.
    #[schemars(pattern(SUBNET_ID_PATTERN))]
    pub subnet_id: String,
    /// IPv4 address of the network interface in this subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(
        r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$"
    ))]
    pub ipv4: Option<String>,
    /// IPv6 address of the network interface in this subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 39), pattern(r"^[0-9a-fA-F:]+$"))]
    pub ipv6: Option<String>,
}

/// DNS options of an endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsOptions {
    /// DNS record type: ipv4, dualstack, ipv6 or service-defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_record_ip_type: Option<DnsRecordIpType>,
    /// Resolve the private DNS name only for requests from the VPC's inbound
    /// Resolver endpoint (for centralised DNS with a gateway endpoint for S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_only_for_inbound_resolver_endpoint: Option<bool>,
}

/// DNS record type of an endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DnsRecordIpType {
    /// A records.
    #[serde(rename = "ipv4")]
    Ipv4,
    /// A and AAAA records.
    #[serde(rename = "dualstack")]
    Dualstack,
    /// AAAA records.
    #[serde(rename = "ipv6")]
    Ipv6,
    /// What the service defines.
    #[serde(rename = "service-defined")]
    ServiceDefined,
}

/// IP address type of an endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointIpAddressType {
    /// IPv4 only.
    Ipv4,
    /// IPv4 and IPv6.
    Dualstack,
    /// IPv6 only.
    Ipv6,
}

/// Observed state of an InterfaceEndpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceEndpointStatus {
    /// ID of the endpoint (`vpce-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    /// Region of the endpoint, recorded before the first AWS change:
    /// cleanup acts there whatever the operator's default region is later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// IAM role the operator acts as for this endpoint (none: its own
    /// credentials), recorded with the region; cleanup uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// AWS account the operator acts in for this resource (the role's
    /// account, or its own credentials' account), recorded with the
    /// region: cleanup refuses to act in any other account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// True when the endpoint was adopted (spec.vpcEndpointId) rather than created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// What deleting this object does in AWS: `Delete` or `Retain` (from
    /// spec.deletionPolicy, or the default for created / adopted endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Endpoint state: pendingAcceptance, pending, available, rejected, failed, deleting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Service name the endpoint connects to (resolved from serviceRef when used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Region of the service, when it differs from the endpoint's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_region: Option<String>,
    /// Regional and zonal DNS names of the endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_entries: Vec<DnsEntry>,
    /// Network interfaces AWS created for the endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interface_ids: Vec<String>,
    /// True when an AWS service (Network Firewall, RDS…) created and owns
    /// the endpoint; the operator never deletes such an endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requester_managed: bool,
    /// Account that owns the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Last error AWS reported for the endpoint, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Latest observations: Ready, Synced, Accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One DNS name of an endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsEntry {
    /// DNS name.
    pub dns_name: String,
    /// Route 53 hosted zone of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
}
