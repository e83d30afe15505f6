//! Client-side token buckets for EC2, at the rates AWS documents per
//! account, region and class of action: the operator waits for a token
//! instead of spending AWS's and being throttled. The buckets sit in the HTTP
//! connector every AWS client shares, so every call — reads, writes, doctor's
//! reads for the controllers — goes through them; the SDK's retries remain
//! for what slips through (another tool spending the same account's budget).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A class of EC2 actions with its own bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Describe*, Get*, List*: non-mutating.
    Read,
    /// CreateVpcEndpoint, ModifyVpcEndpoint, DeleteVpcEndpoints.
    Endpoints,
    /// Create/Modify/DeleteVpcEndpointServiceConfiguration(s).
    Services,
    /// Accept/RejectVpcEndpointConnections.
    Connections,
    /// CreateTags, DeleteTags.
    Tags,
    /// Any other mutating action.
    Mutating,
}

impl Class {
    /// The class of an EC2 action.
    pub fn of(action: &str) -> Self {
        match action {
            a if ["Describe", "Get", "List"].iter().any(|p| a.starts_with(p)) => Class::Read,
            "CreateVpcEndpoint" | "ModifyVpcEndpoint" | "DeleteVpcEndpoints" => Class::Endpoints,
            "CreateVpcEndpointServiceConfiguration"
            | "ModifyVpcEndpointServiceConfiguration"
            | "DeleteVpcEndpointServiceConfigurations" => Class::Services,
            "AcceptVpcEndpointConnections" | "RejectVpcEndpointConnections" => Class::Connections,
            "CreateTags" | "DeleteTags" => Class::Tags,
            _ => Class::Mutating,
        }
    }

    /// AWS's documented (burst, refill per second).
    pub fn rate(self) -> (f64, f64) {
        match self {
            Class::Read => (100.0, 20.0),
            Class::Endpoints => (4.0, 0.3),
            Class::Services => (10.0, 1.0),
            Class::Connections => (10.0, 1.0),
            Class::Tags => (100.0, 10.0),
            Class::Mutating => (50.0, 5.0),
        }
    }

    /// Lower-case name, for metrics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Endpoints => "endpoints",
            Class::Services => "services",
            Class::Connections => "connections",
            Class::Tags => "tags",
            Class::Mutating => "mutating",
        }
    }
}

/// The share of AWS's refill rate the buckets use.
pub const MARGIN: f64 = 0.95;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of every (credentials, region) the operator calls EC2 with.
pub struct Budget {
    /// Multiplies AWS's refill rates (and bursts): below 1 leaves budget to
    /// other tools of the account; above 1 only where AWS is scaled too.
    scale: f64,
    buckets: Mutex<HashMap<(String, String, Class), Bucket>>,
    waited: Mutex<HashMap<Class, Duration>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget").field("scale", &self.scale).finish()
    }
}

impl Budget {
    /// Buckets at AWS's rates times `scale` (0 turns them off).
    pub fn new(scale: f64) -> Self {
        Self { scale, buckets: Mutex::default(), waited: Mutex::default(), metrics: None }
    }

    /// Buckets whose waits feed `metrics`.
    pub fn with_metrics(scale: f64, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Self { metrics: Some(metrics), ..Self::new(scale) }
    }

    /// How long to wait before a call of `class` by `key` (credentials,
    /// region) may go, taking its token when it is free now.
    pub fn reserve(&self, key: (&str, &str), class: Class, now: Instant) -> Duration {
        if self.scale <= 0.0 {
            return Duration::ZERO;
        }
        let (burst, refill) = class.rate();
        // 5% under AWS's refill: requests reach AWS with jitter, and a token
        // AWS has not refilled yet is a throttled call.
        let (burst, refill) = ((burst * self.scale.min(1.0)).max(1.0), refill * self.scale * MARGIN);
        let Ok(mut buckets) = self.buckets.lock() else { return Duration::ZERO };
        let bucket =
            buckets.entry((key.0.to_string(), key.1.to_string(), class)).or_insert(Bucket { tokens: burst, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * refill).min(burst);
        bucket.last = now;
        // Take the token now (possibly going below zero): callers queue in
        // arrival order, each waiting until its token has refilled.
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-bucket.tokens / refill) }
    }

    /// Wait for a token.
    pub async fn take(&self, key: (&str, &str), class: Class) {
        let wait = self.reserve(key, class, Instant::now());
        if !wait.is_zero() {
            if let Ok(mut w) = self.waited.lock() {
                *w.entry(class).or_default() += wait;
            }
            if let Some(m) = &self.metrics {
                m.aws_waited(class.name(), wait.as_secs_f64());
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Total time calls waited for tokens, per class.
    pub fn waited(&self) -> HashMap<Class, Duration> {
        self.waited.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// The EC2 action and the (access key, region) of a signed request: the
/// Query protocol names the action in the form body; SigV4's credential
/// scope names the key and region.
fn ec2_call(request: &HttpRequest) -> Option<(String, String, String)> {
    let auth = request.headers().get("authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_string();
    let region = parts.nth(1)?.to_string();
    let service = parts.next()?;
    if service != "ec2" {
        return None;
    }
    let body = std::str::from_utf8(request.body().bytes()?).ok()?;
    let action = body.split('&').find_map(|kv| kv.strip_prefix("Action="))?.to_string();
    Some((key, region, action))
}

/// An HTTP client whose connectors wait for a token before each EC2 call.
#[derive(Clone)]
pub struct BudgetedClient {
    inner: SharedHttpClient,
    budget: Arc<Budget>,
}

impl fmt::Debug for BudgetedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetedClient").field("budget", &self.budget).finish()
    }
}

impl BudgetedClient {
    /// Wrap `inner`.
    pub fn new(inner: SharedHttpClient, budget: Arc<Budget>) -> Self {
        Self { inner, budget }
    }
}

impl HttpClient for BudgetedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            budget: self.budget.clone(),
        })
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    budget: Arc<Budget>,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some((key, region, action)) = ec2_call(&request) else {
            return self.inner.call(request);
        };
        let inner = self.inner.clone();
        let budget = self.budget.clone();
        HttpConnectorFuture::new(async move {
            budget.take((&key, &region), Class::of(&action)).await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_fall_in_aws_classes() {
        assert_eq!(Class::of("DescribeVpcEndpoints"), Class::Read);
        assert_eq!(Class::of("CreateVpcEndpoint"), Class::Endpoints);
        assert_eq!(Class::of("DeleteVpcEndpoints"), Class::Endpoints);
        assert_eq!(Class::of("ModifyVpcEndpointServiceConfiguration"), Class::Services);
        assert_eq!(Class::of("RejectVpcEndpointConnections"), Class::Connections);
        assert_eq!(Class::of("CreateTags"), Class::Tags);
        assert_eq!(Class::of("ModifyVpcEndpointServicePermissions"), Class::Mutating);
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_refill() {
        let budget = Budget::new(1.0);
        let t0 = Instant::now();
        let key = ("AKID", "us-east-1");
        for _ in 0..4 {
            assert_eq!(budget.reserve(key, Class::Endpoints, t0), Duration::ZERO);
        }
        // The fifth waits one refill (1/0.3 s), the sixth two.
        let fifth = budget.reserve(key, Class::Endpoints, t0).as_secs_f64();
        let sixth = budget.reserve(key, Class::Endpoints, t0).as_secs_f64();
        let refill = 0.3 * MARGIN;
        assert!((fifth - 1.0 / refill).abs() < 1e-6 && (sixth - 2.0 / refill).abs() < 1e-6, "{fifth} {sixth}");
        // Other classes, keys and regions have their own buckets.
        assert_eq!(budget.reserve(key, Class::Read, t0), Duration::ZERO);
        assert_eq!(budget.reserve(("AKID", "eu-west-1"), Class::Endpoints, t0), Duration::ZERO);
        // Time refills: 12 s later three more tokens came (the two taken
        // ahead are paid back first).
        let later = t0 + Duration::from_secs(12);
        assert!(budget.reserve(key, Class::Endpoints, later) <= Duration::from_millis(1));
    }

    #[test]
    fn the_scale_slows_or_speeds_the_buckets_and_zero_turns_them_off() {
        let half = Budget::new(0.5);
        let t0 = Instant::now();
        let key = ("K", "r");
        for _ in 0..2 {
            assert_eq!(half.reserve(key, Class::Endpoints, t0), Duration::ZERO);
        }
        let wait = half.reserve(key, Class::Endpoints, t0).as_secs_f64();
        assert!((wait - 1.0 / (0.15 * MARGIN)).abs() < 1e-6, "{wait}");
        let fast = Budget::new(100.0);
        for _ in 0..4 {
            fast.reserve(key, Class::Endpoints, t0);
        }
        assert!(fast.reserve(key, Class::Endpoints, t0).as_secs_f64() < 0.04);
        let off = Budget::new(0.0);
        for _ in 0..1000 {
            assert_eq!(off.reserve(key, Class::Endpoints, t0), Duration::ZERO);
        }
    }
}
