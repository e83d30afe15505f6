//! EndpointConnection: the provider's decision on one consumer's connection request.

// kube's `printcolumn(...)` entries repeat `type_ = "string"` by design.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    DeletionPolicy, ENDPOINT_ID_PATTERN, LocalObjectReference, REGION_PATTERN, ROLE_ARN_PATTERN, SERVICE_ID_PATTERN,
};
use super::conditions::{Condition, conditions_schema};

/// Accept or reject one consumer endpoint's connection to an endpoint
/// service. Deleting an accepted EndpointConnection rejects (disconnects)
/// the endpoint unless `deletionPolicy: Retain`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "privatelink.dev",
    version = "v1alpha1",
    kind = "EndpointConnection",
    namespaced,
    status = "EndpointConnectionStatus",
    shortname = "epconn",
    category = "privatelink",
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.vpcEndpointId"),
    printcolumn(name = "Decision", type_ = "string", json_path = ".spec.decision"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new("has(self.serviceRef) != has(self.serviceId)").message("set exactly one of serviceRef and serviceId").reason(Reason::FieldValueRequired),
    validation = Rule::new("!has(self.region) || has(self.serviceId)").message("region is only used with serviceId; with serviceRef the service's region applies").field_path(".region"),
    validation = Rule::new("!has(self.roleArn) || has(self.serviceId)").message("roleArn is only used with serviceId; with serviceRef the service's role applies").field_path(".roleArn"),
    validation = Rule::new("!has(self.externalId) || has(self.roleArn)").message("externalId is only used together with roleArn").field_path(".externalId"),
    validation = Rule::new("has(self.roleArn) == has(oldSelf.roleArn) && (!has(self.roleArn) || self.roleArn == oldSelf.roleArn)").message("roleArn is immutable: the service lives in that role's account").field_path(".roleArn"),
    validation = Rule::new("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)").message("region is immutable: it names where the service lives").field_path(".region"),
    validation = Rule::new("self.vpcEndpointId == oldSelf.vpcEndpointId").message("vpcEndpointId is immutable: create another EndpointConnection for another endpoint").field_path(".vpcEndpointId"),
    validation = Rule::new("has(self.serviceRef) == has(oldSelf.serviceRef) && has(self.serviceId) == has(oldSelf.serviceId) && (!has(self.serviceId) || self.serviceId == oldSelf.serviceId) && (!has(self.serviceRef) || self.serviceRef.name == oldSelf.serviceRef.name)").message("the service of an EndpointConnection is immutable").field_path(".serviceRef")
)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConnectionSpec {
    /// The EndpointService (same namespace) the connection was made to.
    /// Set exactly one of serviceRef and serviceId. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ref: Option<LocalObjectReference>,

    /// ID of an endpoint service not managed by an EndpointService of this
    /// namespace (`vpce-svc-…`). Deciding its connections changes another's
    /// service, so the namespace must be allowed to adopt (operator
    /// settings), and a service carrying another namespace's ownership tags
    /// is refused. Set exactly one of serviceRef and serviceId. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SERVICE_ID_PATTERN))]
    pub service_id: Option<String>,

    /// Region of the service named by serviceId. Defaults to the operator's
    /// region (recorded in status). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// IAM role to assume for the service named by serviceId (the
    /// operator's settings decide which namespaces may use which roles).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(ROLE_ARN_PATTERN))]
    pub role_arn: Option<String>,

    /// External ID to pass when assuming `roleArn`; may change (rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,

    /// ID of the consumer's VPC endpoint (`vpce-…`). Immutable.
    #[schemars(pattern(ENDPOINT_ID_PATTERN))]
    pub vpc_endpoint_id: String,

    /// `Accept` connects the endpoint; `Reject` refuses (or disconnects) it.
    pub decision: ConnectionDecision,

    /// `Delete` (default): deleting an EndpointConnection that accepted its
    /// endpoint rejects (disconnects) it. `Retain`: the connection stays as
    /// it is.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The provider's decision on a connection request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConnectionDecision {
    /// Accept the connection (AcceptVpcEndpointConnections).
    Accept,
    /// Reject the connection (RejectVpcEndpointConnections).
    Reject,
}

/// Observed state of an EndpointConnection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConnectionStatus {
    /// ID of the endpoint service the connection belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Region of the service, recorded before the first AWS change; cleanup
    /// acts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_region: Option<String>,
    /// IAM role the operator acts as for the service (none: its own
    /// credentials), recorded with the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// AWS account the operator acts in for this resource (the role's
    /// account, or its own credentials' account), recorded with the
    /// region: cleanup refuses to act in any other account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When the endpoint asked to connect (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Connection state: pendingAcceptance, pending, available, rejected, failed, deleting, deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// AWS account that owns the consumer's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_owner: Option<String>,
    /// Region of the consumer's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Latest observations: Ready, Synced, Accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
