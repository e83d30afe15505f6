//! The only place that calls AWS. Clients are built once per (role,
//! region) and shared; every call is counted; errors are classified in
//! [`error`]. Reads are shaped to serve many objects per call (one
//! paginated Describe per region and account), so the controller's cost
//! grows with pages, not objects.

pub mod budget;
pub mod calls;
pub mod dns;
pub mod endpoint_service;
pub mod error;
pub mod execute;
pub mod facts;
pub mod gate;
pub mod guard;
pub mod interface_endpoint;
pub mod load_balancers;
pub mod notifications;
mod observed;
pub mod observer;
mod reads;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use calls::{CallCounter, CallCounts};
pub use error::{AwsError, ErrorClass};
pub use gate::MutationGate;

/// Which credentials to use: the operator's own, or an assumed role; and
/// the session tags (cluster, namespace) the session carries when the
/// operator tags its sessions (`--session-role`), which the shipped IAM
/// policy compares with the tags of every resource it lets a call touch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Role to assume; None uses the operator's credentials (or, with
    /// session tags, its session role).
    pub role_arn: Option<String>,
    /// External ID for the role.
    pub external_id: Option<String>,
    /// Session tags: the namespace (and cluster) the session acts for.
    pub session: Option<SessionTags>,
}

/// The session tags of a namespace's AWS session: `privatelink.dev/cluster`
/// and `privatelink.dev/namespace`, the same keys as the ownership tags, so
/// an IAM condition can require `aws:ResourceTag/K == ${aws:PrincipalTag/K}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionTags {
    /// The cluster id (`--cluster-id`); empty: no cluster tag.
    pub cluster: String,
    /// The namespace the session acts for.
    pub namespace: String,
}

impl SessionTags {
    /// The tags as STS takes them.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![(crate::plan::tags::OWNER_NAMESPACE, self.namespace.clone())];
        if !self.cluster.is_empty() {
            pairs.push((crate::plan::tags::OWNER_CLUSTER, self.cluster.clone()));
        }
        pairs
    }

    /// The session's name in CloudTrail: the namespace it acts for.
    pub fn session_name(&self) -> String {
        let name: String = format!("plo-{}", self.namespace).chars().take(64).collect();
        name
    }
}

impl Identity {
    /// The operator's own credentials.
    pub fn operator() -> Self {
        Self { role_arn: None, external_id: None, session: None }
    }

    /// An assumed role, without session tags.
    pub fn role(role_arn: impl Into<String>, external_id: Option<String>) -> Self {
        Self { role_arn: Some(role_arn.into()), external_id, session: None }
    }

    /// This identity acting for a namespace: its sessions carry `tags`.
    pub fn tagged(mut self, tags: SessionTags) -> Self {
        self.session = Some(tags);
        self
    }

    /// Whose token buckets this identity's calls draw from: AWS throttles
    /// per account, so a role's calls count against the account in its ARN;
    /// the operator's own credentials are one account of their own.
    pub fn budget_account(&self) -> &str {
        self.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4)).filter(|a| !a.is_empty()).unwrap_or("operator")
    }
}

/// EC2, ELBv2 and SNS clients for one region and identity.
#[derive(Debug, Clone)]
pub struct RegionClients {
    /// Region name.
    pub region: String,
    /// EC2 (VPC endpoints and endpoint services).
    pub ec2: aws_sdk_ec2::Client,
    /// ELBv2 (load balancer checks).
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// SNS (whether notification topics accept what AWS publishes).
    pub sns: aws_sdk_sns::Client,
    /// The SDK configuration the clients were built from.
    pub config: SdkConfig,
    /// Shared snapshots of this account and region.
    observer: Arc<observer::Observer>,
    /// Serve reads from the snapshots (false: one Describe per object).
    batch: bool,
    /// Availability Zones of the region (read once: they do not change).
    zone_count: std::sync::Arc<std::sync::OnceLock<usize>>,
}

/// AWS tags from a map.
pub fn tags_from_map(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect()
}

/// A map from AWS tags.
pub fn map_from_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

impl RegionClients {
    /// How many Availability Zones the region has (read once, then cached).
    pub async fn zone_count(&self) -> Result<usize, AwsError> {
        if let Some(n) = self.zone_count.get() {
            return Ok(*n);
        }
        let out = self
            .ec2
            .describe_availability_zones()
            .filters(aws_sdk_ec2::types::Filter::builder().name("zone-type").values("availability-zone").build())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeAvailabilityZones", e))?;
        let n = out.availability_zones().len();
        let _ = self.zone_count.set(n);
        Ok(n)
    }

    /// CreateTags: set (add or overwrite) tags on an EC2 resource (through
    /// a guarded action only).
    pub(in crate::aws) async fn create_tags(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.ec2
            .create_tags()
            .resources(resource)
            .set_tags(Some(tags_from_map(tags)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateTags", e))?;
        self.reread(resource).await;
        Ok(())
    }

    /// DeleteTags: remove tag keys from an EC2 resource (through a guarded
    /// action only).
    pub(in crate::aws) async fn delete_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError> {
        let tags = keys.iter().map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build()).collect();
        self.ec2
            .delete_tags()
            .resources(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteTags", e))?;
        self.reread(resource).await;
        Ok(())
    }

    /// Remove the ownership tags from the endpoint or service `id`: the
    /// object lets it go (deletionPolicy Retain), so it can be adopted again.
    pub async fn release_ownership(&self, permit: &guard::Permit, id: &str) -> Result<(), AwsError> {
        permit.covers("DeleteTags", Some(id))?;
        self.delete_tags(id, &crate::plan::tags::ownership_keys()).await
    }

    /// After a write to an endpoint or service: read it again into the
    /// shared snapshot (ownership tags decide what the next reconcile may do).
    async fn reread(&self, resource: &str) {
        if resource.starts_with("vpce-svc-") {
            if let Ok(Some(s)) = self.find_service(resource).await {
                self.note_service(&s).await;
            }
        } else if resource.starts_with("vpce-")
            && let Ok(Some(e)) = self.find_endpoint(resource).await
        {
            self.note_endpoint(&e).await;
        }
    }
}

/// Clients already built, by (identity, region).
type ClientCache = Arc<Mutex<HashMap<(Identity, String), Arc<RegionClients>>>>;

/// What the clients of one role and region share whatever namespace their
/// session acts for: the snapshots (one paginated read per account and
/// region, not per namespace) and the zone count.
type SharedState = Arc<Mutex<HashMap<SharedKey, (Arc<observer::Observer>, Arc<std::sync::OnceLock<usize>>)>>>;

/// (role acted through, external id, region).
type SharedKey = (Option<String>, Option<String>, String);

/// Credentials of assumed roles, by identity: one session per role and
/// namespace, used in every region.
type Sessions = Arc<Mutex<HashMap<Identity, aws_sdk_ec2::config::SharedCredentialsProvider>>>;

/// Builds and caches AWS clients per (identity, region).
#[derive(Clone)]
pub struct AwsClients {
    base: SdkConfig,
    counter: CallCounter,
    gate: MutationGate,
    cache: ClientCache,
    batch_reads: bool,
    budget: Option<Arc<budget::Budget>>,
    /// The account of the operator's own credentials, once asked.
    own_account: Arc<tokio::sync::OnceCell<String>>,
    /// The operator's own role, assumed with session tags for each
    /// namespace that acts with the operator's credentials.
    session_role: Option<String>,
    shared: SharedState,
    sessions: Sessions,
}

impl AwsClients {
    /// Clients from a loaded SDK configuration (credentials, endpoint).
    pub fn new(base: SdkConfig) -> Self {
        Self {
            base,
            counter: CallCounter::default(),
            gate: MutationGate::default(),
            cache: Arc::default(),
            batch_reads: true,
            budget: None,
            own_account: Arc::default(),
            session_role: None,
            shared: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// Clients whose calls also feed `metrics`.
    pub fn with_metrics(base: SdkConfig, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Self {
            base,
            counter: CallCounter::with_metrics(metrics),
            gate: MutationGate::default(),
            cache: Arc::default(),
            batch_reads: true,
            budget: None,
            own_account: Arc::default(),
            session_role: None,
            shared: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// Clients whose every call first takes its turn in `budget`, the
    /// operator's own token buckets (see [`budget`] for where the wait
    /// happens and why there). Tests and tools leave it out.
    pub fn with_budget(mut self, budget: Arc<budget::Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Tag every session with the namespace (and cluster) it acts for:
    /// objects that use the operator's own credentials act through
    /// `role_arn` (the operator's own role, assumed with `sts:TagSession`),
    /// and tenant roles are assumed with the same tags, so IAM conditions on
    /// `${aws:PrincipalTag/...}` hold each namespace to its own resources.
    pub fn with_session_role(mut self, role_arn: impl Into<String>) -> Self {
        self.session_role = Some(role_arn.into());
        self
    }

    /// Whether sessions carry session tags (a session role is set).
    pub fn tags_sessions(&self) -> bool {
        self.session_role.is_some()
    }

    /// The role `identity` acts through, if any: its own, or the session
    /// role when its session is tagged.
    fn acting_role<'a>(&'a self, identity: &'a Identity) -> Option<&'a str> {
        identity.role_arn.as_deref().or(identity.session.as_ref().and(self.session_role.as_deref()))
    }

    /// Read AWS one Describe per object instead of through the shared
    /// snapshots (how peer tools read; the benchmark compares the two).
    pub fn with_per_object_reads(mut self) -> Self {
        self.batch_reads = false;
        self
    }

    /// The gate that stops mutating calls (leader election closes it).
    pub fn gate(&self) -> &MutationGate {
        &self.gate
    }

    /// Load the default configuration: the default credential chain (IRSA,
    /// EKS Pod Identity, environment, profile, instance metadata), standard
    /// retries (exponential backoff with jitter on throttling and 5xx, up to
    /// 5 attempts at most 2 s apart; past that the reconcile fails and
    /// the controller's own backoff takes over), and rustls with ring for
    /// TLS. Not the SDK's adaptive mode: its one rate limiter per client
    /// slows every action to about 0.5 calls/s after a few throttles, while
    /// EC2 throttles each class of actions on its own.
    pub async fn from_env() -> Self {
        Self::new(Self::loader().load().await)
    }

    /// The configuration loader `from_env` uses, for callers that override
    /// parts of it (endpoint, credentials).
    pub fn loader() -> aws_config::ConfigLoader {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest()).http_client(http).retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
    }

    /// The AWS account `identity` acts in: a role's, from its ARN; the
    /// operator's own credentials', from STS GetCallerIdentity (asked once).
    /// Recorded with what the operator creates, so cleanup never acts in
    /// another account than the resource's.
    pub async fn account(&self, identity: &Identity) -> Result<String, AwsError> {
        if let Some(role) = self.acting_role(identity) {
            return Ok(Identity::role(role, None).budget_account().to_string());
        }
        let ask = || async {
            let mut config = self.base.to_builder();
            if self.base.region().is_none() {
                config.set_region(Some(Region::new("us-east-1")));
            }
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config.build()).interceptor(self.counter.clone()).build(),
            );
            let out = sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk("GetCallerIdentity", e))?;
            out.account().map(str::to_string).ok_or_else(|| {
                AwsError::unsuccessful("GetCallerIdentity", None, Some("STS answered without an account"))
            })
        };
        self.own_account.get_or_try_init(ask).await.cloned()
    }

    /// The region of the loaded configuration, if any.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// Calls counted so far over all clients.
    pub fn counter(&self) -> &CallCounter {
        &self.counter
    }

    /// The SDK configuration for `region` acting as `identity` (the base
    /// configuration, or an assumed role's credentials).
    pub async fn region_config(&self, identity: &Identity, region: &str) -> SdkConfig {
        let mut config = self.base.to_builder();
        config.set_region(Some(Region::new(region.to_string())));
        if let Some(credentials) = self.session(identity, region).await {
            config.set_credentials_provider(Some(credentials));
        }
        config.build()
    }

    /// The credentials of the role `identity` acts through (None: the
    /// base configuration's), one session per identity whatever the
    /// region: AssumeRole with the identity's session tags, refreshed by
    /// the SDK before they expire.
    async fn session(
        &self,
        identity: &Identity,
        region: &str,
    ) -> Option<aws_sdk_ec2::config::SharedCredentialsProvider> {
        let role = self.acting_role(identity)?.to_string();
        if let Some(found) = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(identity) {
            return Some(found.clone());
        }
        let name =
            identity.session.as_ref().map_or_else(|| "privatelink-operator".to_string(), SessionTags::session_name);
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name(name)
            .region(Region::new(region.to_string()))
            .configure(&self.base);
        if let Some(id) = &identity.external_id {
            provider = provider.external_id(id.clone());
        }
        if let Some(tags) = &identity.session {
            provider = provider.tags(tags.pairs());
        }
        let credentials = aws_sdk_ec2::config::SharedCredentialsProvider::new(provider.build().await);
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(sessions.entry(identity.clone()).or_insert(credentials).clone())
    }

    /// `config` with its credentials cache paced by the budget, when there
    /// is one: every client built from it — EC2, ELBv2, SNS, and the ones
    /// doctor's checks build — takes its turn before each attempt. The
    /// configuration's own cache stays inside, shared by every client of
    /// the same credentials.
    fn paced(&self, config: SdkConfig, identity: &Identity, region: &str) -> SdkConfig {
        let Some(budget) = &self.budget else { return config };
        let inner = config.identity_cache().unwrap_or_else(|| IdentityCache::lazy().build());
        let paced = budget::Paced::new(inner, budget.clone(), identity.budget_account(), region);
        config.into_builder().identity_cache(paced).build()
    }

    /// Clients for `region` acting as `identity`.
    pub async fn for_region(&self, identity: &Identity, region: &str) -> Arc<RegionClients> {
        let key = (identity.clone(), region.to_string());
        if let Ok(cache) = self.cache.lock()
            && let Some(clients) = cache.get(&key)
        {
            return clients.clone();
        }
        let config = self.paced(self.region_config(identity, region).await, identity, region);
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&config)
                .interceptor(self.gate.clone())
                .interceptor(self.counter.clone())
                .build(),
        );
        let elbv2 = aws_sdk_elasticloadbalancingv2::Client::from_conf(
            aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
                .interceptor(self.gate.clone())
                .interceptor(self.counter.clone())
                .build(),
        );
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config)
                .interceptor(self.gate.clone())
                .interceptor(self.counter.clone())
                .build(),
        );
        let (observer, zone_count) = {
            let key =
                (self.acting_role(identity).map(str::to_string), identity.external_id.clone(), region.to_string());
            let mut shared = self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            shared.entry(key).or_default().clone()
        };
        let clients = Arc::new(RegionClients {
            region: region.to_string(),
            ec2,
            elbv2,
            sns,
            config,
            observer,
            batch: self.batch_reads,
            zone_count,
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, clients.clone());
        }
        clients
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn session_tags_name_the_namespace_and_the_cluster_when_there_is_one() {
        let tags = SessionTags { cluster: "c1".into(), namespace: "team-a".into() };
        assert_eq!(
            tags.pairs(),
            vec![("privatelink.dev/namespace", "team-a".to_string()), ("privatelink.dev/cluster", "c1".to_string())]
        );
        let untagged_cluster = SessionTags { cluster: String::new(), namespace: "team-a".into() };
        assert_eq!(untagged_cluster.pairs(), vec![("privatelink.dev/namespace", "team-a".to_string())]);
        // STS takes session names of at most 64 characters.
        let long = SessionTags { cluster: "c1".into(), namespace: "n".repeat(63) };
        assert_eq!(long.session_name().len(), 64);
        assert_eq!(tags.session_name(), "plo-team-a");
    }

    #[test]
    fn a_namespace_acts_through_the_session_role_only_when_sessions_are_tagged() {
        let config = SdkConfig::builder().behavior_version(BehaviorVersion::latest()).build();
        let plain = AwsClients::new(config.clone());
        let tagged = AwsClients::new(config).with_session_role("arn:aws:iam::111122223333:role/op");
        let own = Identity::operator();
        let for_a = Identity::operator().tagged(SessionTags { cluster: "c".into(), namespace: "a".into() });
        let tenant = Identity::role("arn:aws:iam::444455556666:role/t", None)
            .tagged(SessionTags { cluster: "c".into(), namespace: "a".into() });
        assert_eq!(plain.acting_role(&for_a), None);
        assert_eq!(tagged.acting_role(&own), None, "untagged: the operator's own credentials");
        assert_eq!(tagged.acting_role(&for_a), Some("arn:aws:iam::111122223333:role/op"));
        assert_eq!(tagged.acting_role(&tenant), Some("arn:aws:iam::444455556666:role/t"));
        assert!(tagged.tags_sessions() && !plain.tags_sessions());
    }
}
