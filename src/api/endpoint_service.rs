//! EndpointService: one VPC endpoint service configuration (`vpce-svc-…`), the provider side.

// kube's `printcolumn(...)` entries repeat `type_ = "string"` by design.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ACCOUNT_ID_PATTERN, DeletionPolicy, REGION_PATTERN, ROLE_ARN_PATTERN, SERVICE_ID_PATTERN, same_partition_cel,
    tags_schema,
};
use super::conditions::{Condition, conditions_schema};

/// Network Load Balancer ARN.
pub const NLB_ARN_PATTERN: &str =
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/net/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$";
/// Gateway Load Balancer ARN.
pub const GWLB_ARN_PATTERN: &str =
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/gwy/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$";
/// An IAM principal allowed to connect: `*`, or an account root, user or role ARN.
pub const PRINCIPAL_PATTERN: &str =
    r"^(\*|arn:aws[a-z-]*:iam::[0-9]{12}:(root|user/[A-Za-z0-9_+=,.@/-]+|role/[A-Za-z0-9_+=,.@/-]+))$";
/// SNS topic ARN.
pub const SNS_TOPIC_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$";
/// A DNS name as AWS accepts for a private DNS name (wildcard first label allowed).
pub const PRIVATE_DNS_NAME_PATTERN: &str =
    r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$";

/// Provider side of AWS PrivateLink: a VPC endpoint service in front of
/// Network or Gateway Load Balancers, with its permissions, acceptance
/// setting, supported regions and private DNS name.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "privatelink.dev",
    version = "v1alpha1",
    kind = "EndpointService",
    namespaced,
    status = "EndpointServiceStatus",
    shortname = "epsvc",
    category = "privatelink",
    printcolumn(name = "Service ID", type_ = "string", json_path = ".status.serviceId"),
    printcolumn(name = "Service Name", type_ = "string", json_path = ".status.serviceName", priority = 1),
    printcolumn(name = "State", type_ = "string", json_path = ".status.serviceState"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new("!(has(self.networkLoadBalancerArns) && has(self.gatewayLoadBalancerArns))").message("set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns"),
    validation = Rule::new("has(self.serviceId) || has(self.networkLoadBalancerArns) || has(self.gatewayLoadBalancerArns)").message("set networkLoadBalancerArns or gatewayLoadBalancerArns to create a service (or serviceId to adopt an existing one)").reason(Reason::FieldValueRequired),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)").message("region is immutable: an endpoint service cannot move between regions; create a new EndpointService instead").field_path(".region"),
    validation = Rule::new("has(self.serviceId) == has(oldSelf.serviceId) && (!has(self.serviceId) || self.serviceId == oldSelf.serviceId)").message("serviceId is immutable: it names the service configuration this object adopted").field_path(".serviceId"),
    validation = Rule::new("has(self.roleArn) == has(oldSelf.roleArn) && (!has(self.roleArn) || self.roleArn == oldSelf.roleArn)").message("roleArn is immutable: the service lives in that role's account; create a new EndpointService to use another account (externalId may change)").field_path(".roleArn"),
    validation = Rule::new("!has(self.gatewayLoadBalancerArns) || !has(self.privateDnsName)").message("privateDnsName is not supported for Gateway Load Balancer endpoint services").field_path(".privateDnsName"),
    validation = Rule::new("!has(self.externalId) || has(self.roleArn)").message("externalId is only used together with roleArn").field_path(".externalId"),
    validation = Rule::new(format!("!has(self.region) || !has(self.supportedRegions) || self.supportedRegions.all(r, {})", same_partition_cel("r", "self.region"))).message("supportedRegions must be in the service's partition (aws, aws-cn, aws-us-gov…): cross-region PrivateLink does not cross partitions").field_path(".supportedRegions")
)]
#[serde(rename_all = "camelCase")]
pub struct EndpointServiceSpec {
    /// AWS region of the endpoint service. Defaults to the operator's region.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// ARNs of the Network Load Balancers that serve the endpoint service (1 to 10).
    /// Set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns
    /// (one of them unless serviceId adopts a service, which then keeps its
    /// load balancers when both are omitted). Reconciled as a set: added
    /// before removed, in separate calls, since AWS refuses a removal while
    /// endpoints are connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10), inner(pattern(NLB_ARN_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub network_load_balancer_arns: Option<Vec<String>>,

    /// ARNs of the Gateway Load Balancers that serve the endpoint service (1 to 10).
    /// Set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10), inner(pattern(GWLB_ARN_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub gateway_load_balancer_arns: Option<Vec<String>>,

    /// Whether each consumer's connection request waits in `pendingAcceptance`
    /// until it is accepted (by an EndpointConnection or an autoAccept rule).
    /// Default true for a service the operator creates; an adopted service
    /// keeps its setting when this is omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_required: Option<bool>,

    /// IAM principals allowed to create endpoints to this service:
    /// `arn:aws:iam::<account>:root`, `…:user/<name>`, `…:role/<name>`, or `*`
    /// (every principal of every account). Reconciled as a set: principals
    /// missing in AWS are added, extra ones removed. Omitted: none on a
    /// created service; an adopted service keeps the principals it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(pattern(PRINCIPAL_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_principals: Option<Vec<String>>,

    /// Regions other than the service's own from which consumers may connect
    /// (cross-region PrivateLink). The load balancers must span at least 2
    /// Availability Zones. All in the service's partition. Reconciled as a
    /// set; omitted: none on a created service, an adopted service keeps its
    /// regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(pattern(REGION_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub supported_regions: Option<Vec<String>>,

    /// Private DNS name consumers resolve to their endpoint (e.g.
    /// `api.example.com`). AWS asks for a TXT record to prove ownership;
    /// `status.privateDnsNameConfiguration` shows it. Omitted: none on a
    /// created service; an adopted service keeps its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), pattern(PRIVATE_DNS_NAME_PATTERN))]
    pub private_dns_name: Option<String>,

    /// IP address types the service accepts connections over: `ipv4`, `ipv6`.
    /// Empty means the AWS default (`ipv4`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub supported_ip_address_types: Vec<ServiceIpAddressType>,

    /// Connection notifications: SNS topics told about connection events,
    /// one notification per topic. Reconciled as a set (on an adopted service
    /// notifications the spec does not name are kept). The topic policy must
    /// allow `vpce.amazonaws.com` to `SNS:Publish`; a condition warns when it
    /// does not, or the topic is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["snsTopicArn"]))]
    pub notifications: Vec<Notification>,

    /// Rules under which pending connection requests are accepted without an
    /// EndpointConnection object. An EndpointConnection for an endpoint
    /// always wins over a rule; requests no rule matches stay pending and are
    /// listed in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept: Option<AutoAccept>,

    /// Adopt this existing endpoint service configuration instead of creating
    /// one. The only way the operator takes over a service it did not create;
    /// the operator's settings say which namespaces may adopt, and a service
    /// that carries another object's ownership tags is never adopted. What
    /// the spec omits (principals, regions, private DNS name, acceptance,
    /// load balancers, others' tags) is left as it is. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SERVICE_ID_PATTERN))]
    pub service_id: Option<String>,

    /// IAM role to assume (STS) for this service's AWS calls, for a service in
    /// another account. The operator's settings decide which namespaces may
    /// use which roles. Immutable: cleanup acts in the account the service
    /// was created in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// External ID to pass when assuming `roleArn`; may change (rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,

    /// AWS tags for the service configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "tags_schema")]
    pub tags: BTreeMap<String, String>,

    /// `Delete`: deleting this object rejects remaining connections and
    /// deletes the service configuration (never the load balancers).
    /// `Retain`: AWS is left as it is (the operator's ownership tags are
    /// removed, so the service can be adopted again). Default: Delete for a
    /// service the operator created, Retain for an adopted one;
    /// `status.deletionPolicy` shows the policy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// IP address type an endpoint service supports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceIpAddressType {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl ServiceIpAddressType {
    /// The value AWS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceIpAddressType::Ipv4 => "ipv4",
            ServiceIpAddressType::Ipv6 => "ipv6",
        }
    }
}

/// One connection notification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// ARN of the SNS topic to publish to.
    #[schemars(pattern(SNS_TOPIC_ARN_PATTERN))]
    pub sns_topic_arn: String,
    /// Connection events to publish (at least one).
    #[schemars(length(min = 1, max = 4), extend("x-kubernetes-list-type" = "set"))]
    pub events: Vec<ConnectionEvent>,
}

/// A connection event an SNS notification can report.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum ConnectionEvent {
    /// A consumer created an endpoint to the service.
    Connect,
    /// A connection was accepted.
    Accept,
    /// A connection was deleted.
    Delete,
    /// A connection was rejected.
    Reject,
}

/// Rules for accepting connection requests automatically.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoAccept {
    /// Accept pending connections from endpoints owned by these AWS accounts.
    #[schemars(length(min = 1, max = 100), inner(pattern(ACCOUNT_ID_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub account_ids: Vec<String>,
}

/// Observed state of an EndpointService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointServiceStatus {
    /// ID of the endpoint service configuration (`vpce-svc-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Service name consumers use (`com.amazonaws.vpce.<region>.vpce-svc-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Region the service lives in, recorded before the first AWS change:
    /// cleanup acts there whatever the operator's default region is later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// IAM role the operator acts as for this service (none: its own
    /// credentials), recorded with the region; cleanup uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// AWS account the operator acts in for this resource (the role's
    /// account, or its own credentials' account), recorded with the
    /// region: cleanup refuses to act in any other account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What deleting this object does in AWS: `Delete` or `Retain` (from
    /// spec.deletionPolicy, or the default for created / adopted services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// AWS state: Pending, Available, Deleting, Deleted or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_state: Option<String>,
    /// True when the operator adopted an existing service (spec.serviceId)
    /// rather than creating it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Acceptance setting as AWS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_required: Option<bool>,
    /// DNS names of the service, e.g. `vpce-svc-….us-east-1.vpce.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_endpoint_dns_names: Vec<String>,
    /// Availability Zones the service is available in (names in the provider's account).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// Private DNS name and the TXT record that proves ownership of its domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_name_configuration: Option<PrivateDnsNameConfiguration>,
    /// Principals allowed to connect, as AWS reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_principals: Vec<String>,
    /// Supported regions and the state of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_regions: Vec<SupportedRegionStatus>,
    /// Supported IP address types as AWS reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_ip_address_types: Vec<String>,
    /// Endpoint connections to the service (read in one paginated call).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionStatus>,
    /// Remote regions with at least one connected endpoint: the provider
    /// pays an hourly fee for each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_remote_regions: Vec<String>,
    /// Number of connections by state (e.g. `available: 3`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connection_counts: BTreeMap<String, u32>,
    /// IDs of the connection notifications, by SNS topic ARN.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notification_ids: BTreeMap<String, String>,
    /// Latest observations: Ready, Synced, DeletionBlocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Private DNS name and its domain ownership verification.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateDnsNameConfiguration {
    /// The private DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Verification state: pendingVerification, verified or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Record type to publish (TXT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Name of the TXT record to publish in the domain's DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_name: Option<String>,
    /// Value of the TXT record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When the operator last asked AWS to verify the name (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_started_at: Option<String>,
}

/// State of one supported region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportedRegionStatus {
    /// Region name.
    pub region: String,
    /// AWS state: Pending, Available, Deleting, Deleted, Rejected or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One consumer endpoint connected to the service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// ID of the consumer's VPC endpoint.
    pub vpc_endpoint_id: String,
    /// AWS account that owns the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Connection state: pendingAcceptance, pending, available, rejected, failed, deleting, deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Region of the consumer's endpoint, where AWS reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// When the endpoint asked to connect (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// What decided the connection: `EndpointConnection <name>`, `autoAccept`,
    /// or nothing yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// True when the endpoint's account is no longer among the allowed
    /// principals: AWS does not disconnect it when a principal is removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outside_allowed_principals: bool,
}
