//! Prometheus metrics, in controller-runtime's names where one exists, so
//! dashboards built for Go operators read ours too; the operator's own
//! (AWS calls, objects) prefixed `privatelink_`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// The kind, lowercase (`endpointservice`…).
    pub controller: String,
}

/// Labels of reconcile totals.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// The kind, lowercase.
    pub controller: String,
    /// `success` or `error`.
    pub result: String,
}

/// Labels of AWS request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsLabels {
    /// `EC2`, `Elastic Load Balancing v2`, `SNS`.
    pub service: String,
    /// API action, e.g. `DescribeVpcEndpoints`.
    pub operation: String,
}

/// Labels of AWS requests by result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsResultLabels {
    /// `EC2`, `Elastic Load Balancing v2`, `SNS`.
    pub service: String,
    /// API action.
    pub operation: String,
    /// `Success`, the AWS error code, or the HTTP status when there is none.
    pub code: String,
}

/// Labels of the client-side throttle wait.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    /// EC2 action class (`read`, `endpoints`, `services`, …).
    pub class: String,
}

/// Labels of the leader gauge (controller-runtime's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// The leader election Lease's name.
    pub name: String,
}

/// Labels of per-kind gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The kind, lowercase.
    pub kind: String,
}

/// Labels of the objects gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// The kind, lowercase.
    pub kind: String,
    /// Status of the Ready condition: `True`, `False`, `Unknown`.
    pub ready: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    reconcile_total: Family<ReconcileLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_time: Family<ControllerLabels, Histogram>,
    aws_requests: Family<AwsResultLabels, Counter>,
    aws_throttled: Family<AwsLabels, Counter>,
    aws_retries: Family<AwsLabels, Counter>,
    aws_wait: Family<BudgetLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    aws_latency: Family<AwsLabels, Histogram>,
    objects: Family<ObjectLabels, Gauge>,
    deletion_blocked: Family<KindLabels, Gauge>,
    leader: Family<LeaseLabels, Gauge>,
    ready_by_object: Mutex<HashMap<String, ObjectLabels>>,
    blocked_objects: Mutex<HashMap<String, KindLabels>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The names of the metrics, as they appear in /metrics.
pub const NAMES: &[&str] = &[
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "privatelink_aws_api_requests_total",
    "privatelink_aws_api_throttled_requests_total",
    "privatelink_aws_api_retries_total",
    "privatelink_aws_api_client_wait_seconds_total",
    "privatelink_aws_api_request_duration_seconds",
    "privatelink_objects",
    "privatelink_objects_deletion_blocked",
    "leader_election_master_status",
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconcile_total = Family::<ReconcileLabels, Counter>::default();
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        let reconcile_time = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let aws_requests = Family::<AwsResultLabels, Counter>::default();
        let aws_throttled = Family::<AwsLabels, Counter>::default();
        let aws_retries = Family::<AwsLabels, Counter>::default();
        let aws_wait = Family::<BudgetLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        // 5 ms to about 40 s: a Describe page to a create that waited out
        // throttling retries.
        let aws_latency = Family::<AwsLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let objects = Family::<ObjectLabels, Gauge>::default();
        let deletion_blocked = Family::<KindLabels, Gauge>::default();
        let leader = Family::<LeaseLabels, Gauge>::default();
        // prometheus-client adds `_total` to counters itself.
        registry.register(
            "controller_runtime_reconcile",
            "Reconciles per controller and result",
            reconcile_total.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Reconcile errors per controller",
            reconcile_errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Time of each reconcile per controller",
            reconcile_time.clone(),
        );
        // AWS metrics carry the operator's prefix: other AWS controllers
        // export aws_api_* series of their own.
        registry.register(
            "privatelink_aws_api_requests",
            "AWS API requests (attempts) by operation and result code",
            aws_requests.clone(),
        );
        registry.register(
            "privatelink_aws_api_throttled_requests",
            "AWS API requests answered with throttling",
            aws_throttled.clone(),
        );
        registry.register(
            "privatelink_aws_api_retries",
            "AWS API attempts beyond the first of a call",
            aws_retries.clone(),
        );
        registry.register(
            "privatelink_aws_api_client_wait_seconds",
            "Time EC2 calls waited for the operator's own token buckets, by action class",
            aws_wait.clone(),
        );
        registry.register(
            "privatelink_aws_api_request_duration_seconds",
            "Time of each AWS API attempt, from sending to the answer, by operation",
            aws_latency.clone(),
        );
        registry.register("privatelink_objects", "Objects by kind and Ready status", objects.clone());
        registry.register(
            "privatelink_objects_deletion_blocked",
            "Objects being deleted whose deletion waits on someone (DeletionBlocked), by kind",
            deletion_blocked.clone(),
        );
        registry.register(
            "leader_election_master_status",
            "1 while this instance leads, by Lease name",
            leader.clone(),
        );
        // Every controller's series from the start, as controller-runtime shows them.
        for controller in ["endpointservice", "endpointconnection", "interfaceendpoint"] {
            let labels = ControllerLabels { controller: controller.to_string() };
            reconcile_errors.get_or_create(&labels).inc_by(0);
            for result in ["success", "error"] {
                let labels = ReconcileLabels { controller: controller.to_string(), result: result.into() };
                reconcile_total.get_or_create(&labels).inc_by(0);
            }
        }
        Self {
            registry,
            reconcile_total,
            reconcile_errors,
            reconcile_time,
            aws_requests,
            aws_throttled,
            aws_retries,
            aws_wait,
            aws_latency,
            objects,
            deletion_blocked,
            leader,
            ready_by_object: Mutex::default(),
            blocked_objects: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Record one reconcile of `kind`.
    pub fn reconciled(&self, kind: &str, duration: Duration, ok: bool) {
        let controller = kind.to_lowercase();
        let result = if ok { "success" } else { "error" }.to_string();
        self.reconcile_total.get_or_create(&ReconcileLabels { controller: controller.clone(), result }).inc();
        if !ok {
            self.reconcile_errors.get_or_create(&ControllerLabels { controller: controller.clone() }).inc();
        }
        self.reconcile_time.get_or_create(&ControllerLabels { controller }).observe(duration.as_secs_f64());
    }

    /// Record one AWS request attempt and its result code.
    pub fn aws_attempt(&self, service: &str, operation: &str, code: &str) {
        let labels = AwsLabels { service: service.to_string(), operation: operation.to_string() };
        self.aws_requests
            .get_or_create(&AwsResultLabels {
                service: labels.service.clone(),
                operation: labels.operation.clone(),
                code: code.to_string(),
            })
            .inc();
        if crate::plan::facts::error::classify(Some(code)) == crate::plan::facts::ErrorClass::Throttled {
            self.aws_throttled.get_or_create(&labels).inc();
        }
    }

    /// How long one AWS attempt took.
    pub fn aws_latency(&self, service: &str, operation: &str, seconds: f64) {
        let labels = AwsLabels { service: service.to_string(), operation: operation.to_string() };
        self.aws_latency.get_or_create(&labels).observe(seconds);
    }

    /// Record the retries of one AWS call (attempts beyond the first).
    pub fn aws_retries(&self, service: &str, operation: &str, retries: u64) {
        if retries > 0 {
            let labels = AwsLabels { service: service.to_string(), operation: operation.to_string() };
            self.aws_retries.get_or_create(&labels).inc_by(retries);
        }
    }

    /// Time a call of `class` waited for a token.
    pub fn aws_waited(&self, class: &str, seconds: f64) {
        self.aws_wait.get_or_create(&BudgetLabels { class: class.to_string() }).inc_by(seconds);
    }

    /// The Ready status of one object (`key` identifies it); None forgets it.
    pub fn object_ready(&self, kind: &str, key: &str, ready: Option<&str>) {
        let Ok(mut seen) = self.ready_by_object.lock() else { return };
        if let Some(old) = seen.remove(key) {
            self.objects.get_or_create(&old).dec();
        }
        if let Some(ready) = ready {
            let labels = ObjectLabels { kind: kind.to_lowercase(), ready: ready.to_string() };
            self.objects.get_or_create(&labels).inc();
            seen.insert(key.to_string(), labels);
        }
    }

    /// Whether one object's deletion is blocked (`key` identifies it);
    /// None forgets it (deleted, or no longer being deleted).
    pub fn deletion_blocked(&self, kind: &str, key: &str, blocked: Option<bool>) {
        let Ok(mut seen) = self.blocked_objects.lock() else { return };
        let labels = KindLabels { kind: kind.to_lowercase() };
        let gauge = self.deletion_blocked.get_or_create(&labels);
        let was = seen.remove(key).is_some();
        if was {
            gauge.dec();
        }
        if blocked == Some(true) {
            gauge.inc();
            seen.insert(key.to_string(), labels);
        }
    }

    /// Whether this instance leads the election on Lease `lease`.
    pub fn leading(&self, lease: &str, leading: bool) {
        self.leader.get_or_create(&LeaseLabels { name: lease.to_string() }).set(i64::from(leading));
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_under_their_names() {
        let m = Metrics::default();
        m.reconciled("EndpointService", Duration::from_millis(20), true);
        m.reconciled("EndpointService", Duration::from_millis(20), false);
        m.aws_attempt("EC2", "CreateVpcEndpoint", "RequestLimitExceeded");
        m.aws_attempt("EC2", "CreateVpcEndpoint", "Success");
        m.aws_retries("EC2", "CreateVpcEndpoint", 1);
        m.aws_waited("endpoints", 2.5);
        m.object_ready("InterfaceEndpoint", "a", Some("False"));
        m.object_ready("InterfaceEndpoint", "a", Some("True"));
        m.object_ready("InterfaceEndpoint", "b", Some("True"));
        m.object_ready("InterfaceEndpoint", "b", None);
        m.aws_latency("EC2", "CreateVpcEndpoint", 0.12);
        m.deletion_blocked("EndpointService", "ns/a", Some(true));
        m.deletion_blocked("EndpointService", "ns/b", Some(true));
        m.deletion_blocked("EndpointService", "ns/b", None);
        m.leading("privatelink-operator", true);
        let text = m.encode();
        for name in NAMES {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(
            text.contains(r#"controller_runtime_reconcile_total{controller="endpointservice",result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"privatelink_aws_api_throttled_requests_total{service="EC2",operation="CreateVpcEndpoint"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"privatelink_objects{kind="interfaceendpoint",ready="True"} 1"#), "{text}");
        assert!(text.contains(r#"privatelink_objects{kind="interfaceendpoint",ready="False"} 0"#), "{text}");
        assert!(text.contains(r#"leader_election_master_status{name="privatelink-operator"} 1"#), "{text}");
        assert!(text.contains(r#"privatelink_objects_deletion_blocked{kind="endpointservice"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"privatelink_aws_api_request_duration_seconds_count{service="EC2",operation="CreateVpcEndpoint"} 1"#
            ),
            "{text}"
        );
    }
}
