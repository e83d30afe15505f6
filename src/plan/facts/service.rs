//! The provider side as AWS reports it: endpoint service configurations,
//! their load balancers, connections and connection notifications.

use std::collections::{BTreeMap, BTreeSet};

/// Which kind of load balancer fronts the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancerKind {
    /// Network Load Balancers: an interface endpoint service.
    Network,
    /// Gateway Load Balancers: a Gateway Load Balancer endpoint service.
    Gateway,
}

impl LoadBalancerKind {
    /// The ELBv2 `Type` of this kind.
    pub fn elb_type(self) -> &'static str {
        match self {
            LoadBalancerKind::Network => "network",
            LoadBalancerKind::Gateway => "gateway",
        }
    }

    /// The spec field listing load balancers of this kind.
    pub fn field(self) -> &'static str {
        match self {
            LoadBalancerKind::Network => "spec.networkLoadBalancerArns",
            LoadBalancerKind::Gateway => "spec.gatewayLoadBalancerArns",
        }
    }
}

/// A service configuration as AWS reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObservedService {
    /// `vpce-svc-…`.
    pub id: String,
    /// `com.amazonaws.vpce.<region>.vpce-svc-…`.
    pub name: Option<String>,
    /// Pending, Available, Deleting, Deleted, Failed.
    pub state: Option<String>,
    /// Acceptance setting.
    pub acceptance_required: bool,
    /// NLB ARNs.
    pub network_load_balancer_arns: BTreeSet<String>,
    /// GWLB ARNs.
    pub gateway_load_balancer_arns: BTreeSet<String>,
    /// Private DNS name.
    pub private_dns_name: Option<String>,
    /// Private DNS verification: state, record type, record name, value.
    pub private_dns_state: Option<String>,
    /// Record type to publish (TXT).
    pub private_dns_record_type: Option<String>,
    /// Name of the verification record.
    pub private_dns_record_name: Option<String>,
    /// Value of the verification record.
    pub private_dns_record_value: Option<String>,
    /// IP address types.
    pub supported_ip_address_types: BTreeSet<String>,
    /// Supported regions and their state (may include the service's own region).
    pub supported_regions: BTreeMap<String, Option<String>>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Base endpoint DNS names.
    pub base_endpoint_dns_names: Vec<String>,
    /// Availability Zones.
    pub availability_zones: Vec<String>,
}

impl ObservedService {
    /// True when AWS has deleted the service or is deleting it.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_deref(), Some("Deleted") | Some("Deleting"))
    }

    /// The load balancers of `kind` fronting the service.
    pub fn load_balancers(&self, kind: LoadBalancerKind) -> &BTreeSet<String> {
        match kind {
            LoadBalancerKind::Network => &self.network_load_balancer_arns,
            LoadBalancerKind::Gateway => &self.gateway_load_balancer_arns,
        }
    }
}

/// A load balancer as ELBv2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLoadBalancer {
    /// ARN.
    pub arn: String,
    /// `network`, `gateway` or `application`.
    pub lb_type: String,
    /// `active`, `provisioning`, `active_impaired` or `failed`.
    pub state: String,
    /// Availability Zones it is enabled in.
    pub availability_zones: Vec<String>,
}

/// One consumer endpoint's connection to a service, as the provider sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedConnection {
    /// The consumer's endpoint (`vpce-…`).
    pub endpoint_id: String,
    /// Account that owns the endpoint.
    pub owner: Option<String>,
    /// pendingAcceptance, pending, available, rejected, failed, deleting, deleted.
    pub state: String,
    /// Region of the endpoint.
    pub region: Option<String>,
    /// When the endpoint asked to connect (RFC 3339).
    pub since: Option<String>,
}

impl ObservedConnection {
    /// True while the endpoint holds the service: AWS refuses to delete the
    /// service, or to remove its load balancers, until it is rejected.
    pub fn holds_service(&self) -> bool {
        matches!(self.state.as_str(), "available" | "pendingAcceptance" | "pending")
    }

    /// True while the request waits for the provider's decision.
    pub fn is_pending(&self) -> bool {
        self.state == "pendingAcceptance"
    }
}

/// One connection notification as AWS reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedNotification {
    /// `vpce-nfn-…`.
    pub id: String,
    /// SNS topic ARN.
    pub topic_arn: String,
    /// Connect, Accept, Delete, Reject.
    pub events: BTreeSet<String>,
}
