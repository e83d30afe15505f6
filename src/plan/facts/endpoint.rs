//! The consumer side as AWS reports it: VPC endpoints, and what a service
//! offers the account that connects to it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// An endpoint as AWS reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObservedEndpoint {
    /// `vpce-…`.
    pub id: String,
    /// `Interface`, `Gateway`, `GatewayLoadBalancer`… (not kept in the
    /// snapshots when `Interface`, as most are).
    #[serde(default = "interface", skip_serializing_if = "is_interface")]
    pub endpoint_type: String,
    /// pendingAcceptance, pending, available, rejected, failed, deleting, deleted.
    pub state: String,
    /// VPC.
    pub vpc_id: String,
    /// Service name.
    pub service_name: String,
    /// Service region as AWS reports it (interface endpoints only).
    pub service_region: Option<String>,
    /// Subnets.
    pub subnet_ids: BTreeSet<String>,
    /// Security groups.
    pub security_group_ids: BTreeSet<String>,
    /// Route tables (gateway endpoints).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub route_table_ids: BTreeSet<String>,
    /// Private DNS.
    pub private_dns_enabled: bool,
    /// DNS record type.
    pub dns_record_ip_type: Option<String>,
    /// Private DNS only for the inbound Resolver endpoint.
    pub private_dns_only_for_inbound_resolver_endpoint: Option<bool>,
    /// IP address type.
    pub ip_address_type: Option<String>,
    /// Policy document as AWS returns it (kept as text: parsed, a policy
    /// takes several times the memory, and the operator may hold 10,000).
    pub policy: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// DNS names and hosted zones.
    pub dns_entries: Vec<(String, Option<String>)>,
    /// Network interfaces.
    pub network_interface_ids: Vec<String>,
    /// Created and owned by an AWS service.
    pub requester_managed: bool,
    /// Owning account.
    pub owner_id: Option<String>,
    /// Last error, verbatim.
    pub last_error: Option<String>,
    /// The code of the last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_code: Option<String>,
}

fn interface() -> String {
    "Interface".to_string()
}

fn is_interface(endpoint_type: &str) -> bool {
    endpoint_type == "Interface"
}

impl ObservedEndpoint {
    /// True for a gateway endpoint (S3, DynamoDB).
    pub fn is_gateway(&self) -> bool {
        self.endpoint_type == "Gateway"
    }

    /// The endpoint's DNS names.
    pub fn dns_names(&self) -> impl Iterator<Item = &String> {
        self.dns_entries.iter().map(|(name, _)| name)
    }

    /// The policy document as JSON (None when absent or not JSON).
    pub fn policy_json(&self) -> Option<Value> {
        self.policy.as_deref().and_then(|p| serde_json::from_str(p).ok())
    }

    /// True while AWS moves the endpoint between states.
    pub fn is_transitional(&self) -> bool {
        matches!(self.state.as_str(), "pending" | "pendingAcceptance" | "deleting")
    }

    /// True when AWS no longer has the endpoint.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_str(), "deleted")
    }
}

/// What a service offers the account that connects to it
/// (DescribeVpcEndpointServices).
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
    /// Whether connections need the provider's acceptance.
    pub acceptance_required: Option<bool>,
    /// True for a Gateway Load Balancer endpoint service.
    pub gateway: bool,
}
