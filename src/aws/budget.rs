//! Client-side token buckets at the rates AWS documents per account, region
//! and class of action: the operator waits for a token instead of spending
//! AWS's and being throttled.
//!
//! Where the wait happens matters as much as how long it is. A call takes
//! its turn before the SDK sends anything: every client the operator builds
//! resolves its credentials through [`Paced`], which the SDK's orchestrator
//! awaits at the start of each attempt — after the retry loop's backoff,
//! before signing and before the HTTP connector. No SDK guard measures that
//! time: attempt and operation timeouts are unset, the stalled-stream
//! protection watches only the upload and download that follow, and the
//! credentials cache's own load timeout covers only the credentials
//! provider inside. The signature is made after the wait, so it is never
//! stale. A turn whose call is dropped before it goes (a reconcile
//! cancelled, a refused credential) gives its token back.
//!
//! Because the pacing is part of each client, every call of every client
//! goes through it — reads, writes, paginated pages, the SDK's retries, and
//! calls written later — and no call site can skip it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{ConfigBag, ResolveCachedIdentity, RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::identity::{IdentityFuture, SharedIdentityCache, SharedIdentityResolver};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// A class of actions with its own bucket at AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// EC2 Describe*, Get*, List*: non-mutating.
    Read,
    /// EC2 CreateVpcEndpoint, ModifyVpcEndpoint, DeleteVpcEndpoints.
    Endpoints,
    /// EC2 Create/Modify/DeleteVpcEndpointServiceConfiguration(s).
    Services,
    /// EC2 Accept/RejectVpcEndpointConnections.
    Connections,
    /// EC2 CreateTags, DeleteTags.
    Tags,
    /// Any other mutating EC2 action.
    Mutating,
    /// Elastic Load Balancing (v2) Describe*.
    LoadBalancerReads,
}

impl Class {
    /// The bucket a call of `service`'s `action` draws from, if AWS
    /// documents one the operator could exhaust. Services without one (STS,
    /// SNS: a call per role per hour, a call per notification topic) take no
    /// token but pass through the same path.
    pub fn of(service: &str, action: &str) -> Option<Self> {
        let read = ["Describe", "Get", "List"].iter().any(|p| action.starts_with(p));
        match service.to_ascii_lowercase().as_str() {
            "ec2" => Some(Self::of_ec2(action)),
            "elastic load balancing v2" | "elasticloadbalancingv2" if read => Some(Class::LoadBalancerReads),
            _ => None,
        }
    }

    /// The class of an EC2 action.
    pub fn of_ec2(action: &str) -> Self {
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
            Class::LoadBalancerReads => (40.0, 10.0),
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
            Class::LoadBalancerReads => "elbv2-read",
        }
    }
}

/// The share of AWS's refill rate the buckets use: requests reach AWS with
/// jitter, and a token AWS has not refilled yet is a throttled call; the
/// rest of the account's budget is left to other tools (consoles, Terraform,
/// other controllers) that spend the same buckets.
pub const MARGIN: f64 = 0.95;

/// Whose bucket: AWS throttles per account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    account: Arc<str>,
    region: Arc<str>,
    class: Class,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of every (account, region) the operator calls AWS in.
pub struct Budget {
    /// Multiplies AWS's refill rates (and bursts, up to AWS's): below 1
    /// leaves more of the account's budget to other tools; above 1 only
    /// where AWS is scaled too (a simulator on a compressed clock).
    scale: f64,
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
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

    /// The (burst, refill per second) of `class` at this budget's scale.
    pub fn rate(&self, class: Class) -> (f64, f64) {
        let (burst, refill) = class.rate();
        ((burst * self.scale.min(1.0)).max(1.0), refill * self.scale * MARGIN)
    }

    /// Take the next token of `class` in `account` and `region`: a turn that
    /// is due now or later. Tokens are taken in arrival order (the bucket may
    /// go below zero), so each caller waits until its own token has refilled.
    pub fn turn(self: &Arc<Self>, account: &str, region: &str, class: Class, now: Instant) -> Turn {
        if self.scale <= 0.0 {
            return Turn { due: now, token: None };
        }
        let (burst, refill) = self.rate(class);
        let key = BucketKey { account: account.into(), region: region.into(), class };
        let Ok(mut buckets) = self.buckets.lock() else { return Turn { due: now, token: None } };
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: burst, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * refill).min(burst);
        bucket.last = now;
        bucket.tokens -= 1.0;
        let wait = if bucket.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-bucket.tokens / refill) };
        drop(buckets);
        if !wait.is_zero() {
            if let Ok(mut w) = self.waited.lock() {
                *w.entry(class).or_default() += wait;
            }
            if let Some(m) = &self.metrics {
                m.aws_waited(class.name(), wait.as_secs_f64());
            }
        }
        Turn { due: now + wait, token: Some((self.clone(), key)) }
    }

    /// Put a token taken for a call that never went back into its bucket.
    fn give_back(&self, key: &BucketKey) {
        let (burst, _) = self.rate(key.class);
        if let Ok(mut buckets) = self.buckets.lock()
            && let Some(bucket) = buckets.get_mut(key)
        {
            bucket.tokens = (bucket.tokens + 1.0).min(burst);
        }
    }

    /// Total time calls waited (or are waiting) for tokens, per class.
    pub fn waited(&self) -> HashMap<Class, Duration> {
        self.waited.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// One call's token: due at an instant; given back when dropped unspent.
#[must_use = "a turn is given back when dropped: spend it when the call goes"]
pub struct Turn {
    due: Instant,
    token: Option<(Arc<Budget>, BucketKey)>,
}

impl Turn {
    /// How long after `now` the token is due.
    pub fn wait(&self, now: Instant) -> Duration {
        self.due.saturating_duration_since(now)
    }

    /// Wait until the token is due.
    pub async fn due(&self) {
        tokio::time::sleep_until(self.due.into()).await;
    }

    /// The call goes: the token is used.
    pub fn spend(mut self) {
        self.token = None;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((budget, key)) = self.token.take() {
            budget.give_back(&key);
        }
    }
}

/// The credentials cache of one client, with the client's calls taking
/// their turn in `budget` first (see the module's comment for why here).
#[derive(Debug)]
pub struct Paced {
    inner: SharedIdentityCache,
    budget: Arc<Budget>,
    account: String,
    region: String,
}

impl Paced {
    /// Calls of a client acting in `account` (or the operator's own
    /// credentials' account) and `region` wait in `budget`, then resolve
    /// credentials through `inner`.
    pub fn new(inner: SharedIdentityCache, budget: Arc<Budget>, account: &str, region: &str) -> Self {
        Self { inner, budget, account: account.to_string(), region: region.to_string() }
    }
}

impl ResolveCachedIdentity for Paced {
    fn resolve_cached_identity<'a>(
        &'a self,
        resolver: SharedIdentityResolver,
        runtime_components: &'a RuntimeComponents,
        config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        let class = config_bag.load::<Metadata>().and_then(|m| Class::of(m.service(), m.name()));
        IdentityFuture::new(async move {
            let turn = class.map(|c| self.budget.turn(&self.account, &self.region, c, Instant::now()));
            if let Some(turn) = &turn {
                turn.due().await;
            }
            let identity = self.inner.resolve_cached_identity(resolver, runtime_components, config_bag).await?;
            if let Some(turn) = turn {
                turn.spend();
            }
            Ok(identity)
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(&self, runtime_components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    #[test]
    fn actions_fall_in_aws_classes() {
        assert_eq!(Class::of("EC2", "DescribeVpcEndpoints"), Some(Class::Read));
        assert_eq!(Class::of("EC2", "CreateVpcEndpoint"), Some(Class::Endpoints));
        assert_eq!(Class::of("EC2", "DeleteVpcEndpoints"), Some(Class::Endpoints));
        assert_eq!(Class::of("EC2", "ModifyVpcEndpointServiceConfiguration"), Some(Class::Services));
        assert_eq!(Class::of("EC2", "RejectVpcEndpointConnections"), Some(Class::Connections));
        assert_eq!(Class::of("EC2", "CreateTags"), Some(Class::Tags));
        assert_eq!(Class::of("EC2", "ModifyVpcEndpointServicePermissions"), Some(Class::Mutating));
        assert_eq!(Class::of("Elastic Load Balancing v2", "DescribeLoadBalancers"), Some(Class::LoadBalancerReads));
        assert_eq!(Class::of("SNS", "GetTopicAttributes"), None);
        assert_eq!(Class::of("STS", "AssumeRole"), None);
    }

    fn waits(turns: &[Turn], now: Instant) -> Vec<f64> {
        turns.iter().map(|t| t.wait(now).as_secs_f64()).collect()
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_refill() {
        let budget = Arc::new(Budget::new(1.0));
        let t0 = Instant::now();
        let turns: Vec<Turn> = (0..6).map(|_| budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, t0)).collect();
        let refill = 0.3 * MARGIN;
        let w = waits(&turns, t0);
        // Four at once (the burst), then one per refill: the fifth waits
        // one refill (1/0.285 s), the sixth two.
        assert!(w[..4].iter().all(|w| *w == 0.0), "{w:?}");
        assert!((w[4] - 1.0 / refill).abs() < 1e-6 && (w[5] - 2.0 / refill).abs() < 1e-6, "{w:?}");
        // Other classes, accounts and regions have their own buckets.
        assert_eq!(budget.turn(ACCOUNT, "us-east-1", Class::Read, t0).wait(t0), Duration::ZERO);
        assert_eq!(budget.turn(ACCOUNT, "eu-west-1", Class::Endpoints, t0).wait(t0), Duration::ZERO);
        assert_eq!(budget.turn("444455556666", "us-east-1", Class::Endpoints, t0).wait(t0), Duration::ZERO);
        turns.into_iter().for_each(Turn::spend);
        // Time refills: 12 s later three more tokens came (the two taken
        // ahead are paid back first).
        let later = t0 + Duration::from_secs(12);
        assert!(budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, later).wait(later) <= Duration::from_millis(1));
    }

    #[test]
    fn a_turn_dropped_before_its_call_went_gives_its_token_back() {
        let budget = Arc::new(Budget::new(1.0));
        let t0 = Instant::now();
        let refill = 0.3 * MARGIN;
        let burst: Vec<Turn> = (0..4).map(|_| budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, t0)).collect();
        burst.into_iter().for_each(Turn::spend);
        // A call queued behind the burst is dropped before it goes (its
        // reconcile was cancelled): the next caller gets its place, not the
        // place after it.
        let dropped = budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, t0);
        assert!((dropped.wait(t0).as_secs_f64() - 1.0 / refill).abs() < 1e-6);
        drop(dropped);
        let next = budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, t0);
        assert!((next.wait(t0).as_secs_f64() - 1.0 / refill).abs() < 1e-6, "{:?}", next.wait(t0));
        // A spent turn's token stays taken.
        next.spend();
        let after = budget.turn(ACCOUNT, "us-east-1", Class::Endpoints, t0);
        assert!((after.wait(t0).as_secs_f64() - 2.0 / refill).abs() < 1e-6, "{:?}", after.wait(t0));
        // A full bucket does not grow past its burst when a token comes back.
        let fresh = budget.turn(ACCOUNT, "eu-west-1", Class::Endpoints, t0);
        drop(fresh);
        let five: Vec<Turn> = (0..5).map(|_| budget.turn(ACCOUNT, "eu-west-1", Class::Endpoints, t0)).collect();
        assert!(five[4].wait(t0) > Duration::ZERO, "the burst is still four");
    }

    #[test]
    fn the_scale_slows_or_speeds_the_buckets_and_zero_turns_them_off() {
        let half = Arc::new(Budget::new(0.5));
        let t0 = Instant::now();
        let turns: Vec<Turn> = (0..3).map(|_| half.turn(ACCOUNT, "r", Class::Endpoints, t0)).collect();
        let w = waits(&turns, t0);
        assert_eq!(&w[..2], &[0.0, 0.0], "half the burst");
        assert!((w[2] - 1.0 / (0.15 * MARGIN)).abs() < 1e-6, "{w:?}");
        let fast = Arc::new(Budget::new(100.0));
        let turns: Vec<Turn> = (0..5).map(|_| fast.turn(ACCOUNT, "r", Class::Endpoints, t0)).collect();
        assert!(turns[4].wait(t0).as_secs_f64() < 0.04);
        let off = Arc::new(Budget::new(0.0));
        for _ in 0..1000 {
            assert_eq!(off.turn(ACCOUNT, "r", Class::Endpoints, t0).wait(t0), Duration::ZERO);
        }
    }

    #[tokio::test]
    async fn a_call_cancelled_while_it_waits_gives_its_token_back() {
        let budget = Arc::new(Budget::new(1.0));
        let t0 = Instant::now();
        for _ in 0..4 {
            budget.turn(ACCOUNT, "r", Class::Endpoints, t0).spend();
        }
        // A waiting call, cancelled by a timeout shorter than its wait.
        let waiting = async {
            let turn = budget.turn(ACCOUNT, "r", Class::Endpoints, Instant::now());
            turn.due().await;
            turn.spend();
        };
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting).await.is_err());
        // The next caller is first in line again: one refill after the
        // burst (less the moments that passed), not two.
        let now = Instant::now();
        let next = budget.turn(ACCOUNT, "r", Class::Endpoints, now);
        let one_refill = 1.0 / (0.3 * MARGIN);
        assert!((next.wait(now).as_secs_f64() - one_refill).abs() < 0.1, "{:?}", next.wait(now));
    }
}
