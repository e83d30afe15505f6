//! The reconcilers. What the kinds share lives here once: the context with
//! the tenancy rules, the error type, polling and backoff, events; the
//! reconcile skeleton every kind fills in ([`skeleton`]), status writing
//! ([`status`]) and the first and last steps of every cleanup ([`cleanup`]).

pub mod cleanup;
pub mod endpoint_connection;
pub mod endpoint_service;
pub mod interface_endpoint;
pub mod skeleton;
pub mod status;
pub mod world;

pub use cleanup::{
    CleanupTarget, Found, acting_account, cleanup_target, deletion_blocked, deletion_refused, let_go, record_target,
};
pub use skeleton::{
    Reconcile, Settled, guard, guard_cleanup, log_aws_id, owner_of, reconcile, reconcile_cached, run_stages,
};
pub use status::{ObjectStatus, apply_status, block_deletion, write_status};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};

use crate::aws::{AwsClients, Identity, SessionTags};
use crate::config::Settings;

/// Name of the finalizer on every object the operator reconciles.
pub const FINALIZER: &str = "privatelink.dev/cleanup";
/// Field manager and event reporter name.
pub const MANAGER: &str = "privatelink-operator";
/// Annotation that lets an object go without cleaning up AWS: set to
/// `"true"` on an object whose deletion is blocked (its role is no longer
/// allowed, AWS denies the deletion…) to remove the finalizer and leave the
/// AWS resource as it is.
pub const RELEASE_ANNOTATION: &str = "privatelink.dev/release";
/// Longest Event note the API server accepts (events.k8s.io/v1: 1 kB).
pub const MAX_EVENT_NOTE: usize = 1024;

pub use crate::plan::error::{Error, Refusal};

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::kube(e)
    }
}

/// Key of one object of one kind, for backoff and poll bookkeeping.
type ObjectKey = String;

/// State shared by all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// AWS clients per region and identity.
    pub aws: AwsClients,
    /// Operator settings.
    pub settings: Settings,
    /// Kubernetes Events.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What /readyz reports.
    pub health: Arc<crate::http::Health>,
    /// The time, as decisions read it.
    pub clock: Arc<dyn crate::plan::clock::Clock>,
    /// The tenancy rules in force: the settings' at start, replaced when the
    /// tenancy ConfigMap changes ([`crate::operator::watch_tenancy`]).
    tenancy: std::sync::RwLock<Arc<crate::config::Tenancy>>,
    failures: Mutex<HashMap<ObjectKey, u32>>,
    polls: Mutex<HashMap<ObjectKey, u32>>,
    diagnoses: Mutex<HashMap<ObjectKey, Diagnosis>>,
    /// A hash of each object's generation and annotations when last seen.
    looks: Mutex<HashMap<ObjectKey, u64>>,
    /// What each object refers to ([`Reconcile::reference`]), as its last
    /// reconcile read it: the caches keep no specs to look this up in.
    references: Mutex<HashMap<ObjectKey, String>>,
}

/// When a condition worked out by reads the controller does not repeat at
/// every resync was last worked out, and for what (a hash of the inputs).
/// The condition itself stays in the object's status, not here: with
/// 10,000 objects a copy per object would be megabytes.
struct Diagnosis {
    fingerprint: u64,
    at: jiff::Timestamp,
}

/// A hash of `value`, to compare what a decision was made for.
fn fingerprint(value: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl Context {
    /// A context for the reconcilers.
    pub fn new(client: kube::Client, aws: AwsClients, settings: Settings) -> Self {
        Self::with_metrics(client, aws, settings, Arc::default(), Arc::default())
    }

    /// A context sharing `metrics` (which the AWS clients feed too) and
    /// `health` with the HTTP endpoints.
    pub fn with_metrics(
        client: kube::Client,
        aws: AwsClients,
        settings: Settings,
        metrics: Arc<crate::metrics::Metrics>,
        health: Arc<crate::http::Health>,
    ) -> Self {
        let instance = std::env::var("POD_NAME").ok();
        let recorder = Recorder::new(client.clone(), Reporter { controller: MANAGER.into(), instance });
        let tenancy = std::sync::RwLock::new(Arc::new(settings.tenancy.clone()));
        Self {
            client,
            aws,
            settings,
            recorder,
            metrics,
            health,
            clock: Arc::new(crate::plan::clock::SystemClock),
            tenancy,
            failures: Mutex::default(),
            polls: Mutex::default(),
            diagnoses: Mutex::default(),
            looks: Mutex::default(),
            references: Mutex::default(),
        }
    }

    /// This context reading the time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn crate::plan::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Report when a controller's cache (`name`) is synced, for /readyz.
    pub fn report_synced<K>(&self, name: String, store: kube::runtime::reflector::Store<K>)
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.health.expect_caches(1);
        let health = self.health.clone();
        tokio::spawn(async move {
            // The store wakes one waiter only (the controller's), so look again
            // now and then: once ready, it answers at once.
            loop {
                match tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready()).await {
                    Ok(Ok(())) => return health.cache_synced(name),
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
        });
    }

    /// The tenancy rules in force now.
    pub fn tenancy(&self) -> Arc<crate::config::Tenancy> {
        self.tenancy.read().map(|t| t.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Replace the tenancy rules: every reconcile from now on decides by
    /// them, without a restart.
    pub fn set_tenancy(&self, tenancy: crate::config::Tenancy) {
        let mut current = self.tenancy.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(tenancy);
    }

    /// The AWS identity an object in `namespace` acts as: the role its
    /// `roleArn` names, or the operator's own credentials, if the tenancy
    /// settings allow it; with session tags naming the namespace and
    /// cluster when the operator tags its sessions (`--session-role`).
    pub fn identity(
        &self,
        namespace: &str,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<Identity, Refusal> {
        let tenancy = self.tenancy();
        let identity = match role_arn {
            None if tenancy.operator_credentials.contains(namespace) => Ok(Identity::operator()),
            None => Err(Refusal {
                reason: "CredentialsNotAllowed",
                message: format!(
                    "namespace {namespace} may not use the operator's own AWS credentials: set spec.roleArn to a role the operator's --allowed-role setting (PLO_ALLOWED_ROLES) grants this namespace, or add {namespace} to --operator-credentials-namespaces (PLO_OPERATOR_CREDENTIALS_NAMESPACES)"
                ),
            }),
            Some(role) if tenancy.allowed_roles.allows(namespace, role) => {
                Ok(Identity::role(role, external_id.map(str::to_string)))
            }
            Some(role) => Err(Refusal {
                reason: "RoleNotAllowed",
                message: format!(
                    "namespace {namespace} may not use role {role}: add `{namespace}={role}` to the operator's --allowed-role setting (PLO_ALLOWED_ROLES), or remove spec.roleArn"
                ),
            }),
        }?;
        if !self.aws.tags_sessions() {
            return Ok(identity);
        }
        Ok(identity
            .tagged(SessionTags { cluster: self.settings.cluster_id().to_string(), namespace: namespace.to_string() }))
    }

    /// Whether objects in `namespace` may adopt existing AWS resources
    /// (`field` names the spec field that asks for it).
    pub fn may_adopt(&self, namespace: &str, field: &str) -> Result<(), Refusal> {
        if self.tenancy().adopters.contains(namespace) {
            return Ok(());
        }
        Err(Refusal {
            reason: "AdoptionNotAllowed",
            message: format!(
                "namespace {namespace} may not adopt existing AWS resources ({field}): add {namespace} to the operator's --adopt-namespaces setting (PLO_ADOPT_NAMESPACES), or remove {field} to create a new one"
            ),
        })
    }

    /// Whether objects in `namespace` may place endpoints in `vpc_id`.
    pub fn may_use_vpc(&self, namespace: &str, vpc_id: &str) -> Result<(), Refusal> {
        if self.tenancy().allowed_vpcs.allows(namespace, vpc_id) {
            return Ok(());
        }
        Err(Refusal {
            reason: "VpcNotAllowed",
            message: format!(
                "namespace {namespace} may not place endpoints in {vpc_id}: add `{namespace}={vpc_id}` to the operator's --allowed-vpcs setting (PLO_ALLOWED_VPCS), or use a VPC granted to this namespace"
            ),
        })
    }

    /// Publish an Event about `obj`; a note longer than the API server
    /// accepts is cut (marked with `…`). Failures to publish are logged,
    /// never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate_note(note)),
            action: reason.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }

    /// Delay before retrying a failed object: doubles per consecutive
    /// failure from `base_backoff` up to `max_backoff`, with ±20% jitter so
    /// objects failing together do not retry together.
    fn backoff(&self, key: &str) -> Duration {
        let n = bump(&self.failures, key);
        let base = self.settings.base_backoff.as_secs_f64() * 2f64.powi(n.saturating_sub(1).min(16) as i32);
        let capped = base.min(self.settings.max_backoff.as_secs_f64());
        Duration::from_secs_f64(capped * (0.8 + 0.4 * fastrand::f64()))
    }

    /// Delay before the next look at an object AWS is still changing:
    /// `transition_poll`, doubling per consecutive poll up to `resync`.
    fn next_poll(&self, key: &str) -> Duration {
        let n = bump(&self.polls, key);
        let base = self.settings.transition_poll.as_secs_f64() * 2f64.powi(n.saturating_sub(1).min(16) as i32);
        Duration::from_secs_f64(base.min(self.settings.resync.as_secs_f64()))
    }

    pub(crate) fn forget(&self, key: &str) {
        for map in [&self.failures, &self.polls] {
            if let Ok(mut m) = map.lock() {
                m.remove(key);
            }
        }
        if let Ok(mut m) = self.diagnoses.lock() {
            m.remove(key);
        }
        if let Ok(mut m) = self.looks.lock() {
            m.remove(key);
        }
        self.note_reference(key.to_string(), None);
    }

    /// Record what the object `key` refers to (None: nothing, or gone).
    pub(crate) fn note_reference(&self, key: ObjectKey, reference: Option<String>) {
        let Ok(mut m) = self.references.lock() else { return };
        match reference {
            Some(r) => m.insert(key, r),
            None => m.remove(&key),
        };
    }

    /// The objects of kind `K` in `namespace` whose last reconcile found
    /// them referring to `reference`.
    pub fn referring<K: Resource<DynamicType = ()>>(
        &self,
        namespace: &str,
        reference: &str,
    ) -> Vec<kube::runtime::reflector::ObjectRef<Cached<K>>> {
        let prefix = format!("{}/{namespace}/", K::kind(&()));
        let Ok(m) = self.references.lock() else { return Vec::new() };
        m.iter()
            .filter(|(_, r)| *r == reference)
            .filter_map(|(key, _)| key.strip_prefix(&prefix))
            .map(|name| kube::runtime::reflector::ObjectRef::new(name).within(namespace))
            .collect()
    }

    /// How old a snapshot of AWS may be for a decision: the resync period,
    /// or half the first poll period while AWS is still moving the resource
    /// (so polls see its state change). None (read the resource itself,
    /// now) when someone changed the object since the operator last looked —
    /// a spec edit or an annotation (`kubectl annotate … --overwrite` forces a
    /// fresh look).
    pub fn read_age<K: Resource<DynamicType = ()>>(&self, obj: &K, transitional: bool) -> std::time::Duration {
        let key = object_key(obj);
        let look = fingerprint((obj.meta().generation, &obj.meta().annotations));
        let changed = self.looks.lock().ok().and_then(|mut m| m.insert(key, look)).is_some_and(|old| old != look);
        if changed {
            std::time::Duration::ZERO
        } else if transitional {
            (self.settings.transition_poll / 2).max(std::time::Duration::from_millis(100))
        } else {
            self.settings.resync
        }
    }

    /// Whether a diagnosis was made for `inputs` less than `max_age` ago.
    pub(crate) fn diagnosed(&self, key: &str, inputs: impl std::hash::Hash, max_age: std::time::Duration) -> bool {
        let print = fingerprint(inputs);
        let Ok(m) = self.diagnoses.lock() else { return false };
        let now = self.clock.now();
        m.get(key).is_some_and(|d| d.fingerprint == print && now.duration_since(d.at).unsigned_abs() < max_age)
    }

    /// Note that a diagnosis was made for `inputs` now.
    pub(crate) fn remember_diagnosis(&self, key: String, inputs: impl std::hash::Hash) {
        if let Ok(mut m) = self.diagnoses.lock() {
            m.insert(key, Diagnosis { fingerprint: fingerprint(inputs), at: self.clock.now() });
        }
    }

    fn settled(&self, key: &str) {
        if let Ok(mut m) = self.polls.lock() {
            m.remove(key);
        }
    }

    fn succeeded(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(key);
        }
    }
}

fn bump(map: &Mutex<HashMap<ObjectKey, u32>>, key: &str) -> u32 {
    match map.lock() {
        Ok(mut m) => {
            let n = m.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    }
}

/// Cut `note` to what an Event accepts, on a character boundary.
pub fn truncate_note(note: String) -> String {
    if note.len() <= MAX_EVENT_NOTE {
        return note;
    }
    let mut end = MAX_EVENT_NOTE - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

/// Key of an object for backoff and poll bookkeeping: kind, namespace, name.
pub(crate) fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectKey {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What `error_policy` decides for every kind: poll while waiting, back off
/// on failures.
pub fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(obj.as_ref());
    if error.is_waiting() {
        return Action::requeue(ctx.next_poll(&key));
    }
    let delay = ctx.backoff(&key);
    tracing::warn!(object = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

pub use crate::plan::Next;

/// Note a successful reconcile (resets the backoff) and schedule the next.
pub fn reconciled<K: Resource<DynamicType = ()>>(obj: &K, ctx: &Context, next: Next) -> Action {
    let key = object_key(obj);
    ctx.succeeded(&key);
    match next {
        Next::Poll => Action::requeue(ctx.next_poll(&key)),
        Next::Resync => {
            ctx.settled(&key);
            Action::requeue(ctx.settings.resync)
        }
    }
}

/// The APIs a controller of kind `K` watches: one per watched namespace, or
/// the whole cluster.
pub fn scopes<K>(ctx: &Context) -> Vec<Api<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    if ctx.settings.namespaces.is_empty() {
        vec![Api::all(ctx.client.clone())]
    } else {
        ctx.settings.namespaces.iter().map(|ns| Api::namespaced(ctx.client.clone(), ns)).collect()
    }
}

/// What a controller's cache keeps of an object: its name, namespace, uid,
/// resourceVersion and generation. A full InterfaceEndpoint takes about
/// 3 KB in memory even without `managedFields` (14 KB with them), so
/// 10,000 would not fit the memory target; each reconcile reads its object
/// instead ([`reconcile_cached`]).
pub type Cached<K> = kube::core::PartialObjectMeta<K>;

/// A controller of `api`'s objects over a metadata watch, its cache trimmed
/// to [`Cached`].
pub fn controller_for<K>(api: Api<K>, ctx: &Context) -> kube::runtime::Controller<Cached<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    // An Api of PartialObjectMeta lists and watches metadata only.
    let metadata: Api<Cached<K>> = match api.namespace() {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let writer = reflector::store::Writer::<Cached<K>>::default();
    let reader = writer.as_reader();
    let objects = reflector(writer, watcher(metadata, watch_config(ctx)).modify(trim)).applied_objects();
    kube::runtime::Controller::for_stream(objects, reader)
}

/// Keep of an object's metadata what the controller's queue needs.
fn trim<K>(obj: &mut Cached<K>) {
    obj.types = None;
    let meta = std::mem::take(&mut obj.metadata);
    obj.metadata = kube::core::ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        generation: meta.generation,
        deletion_timestamp: meta.deletion_timestamp,
        ..Default::default()
    };
}

/// The watch configuration every controller uses: any semantic (the
/// watch cache may answer), and the operator's label selector.
pub fn watch_config(ctx: &Context) -> kube::runtime::watcher::Config {
    let config = kube::runtime::watcher::Config::default().any_semantic();
    match &ctx.settings.label_selector {
        Some(selector) => config.labels(selector),
        None => config,
    }
}

/// Fail fast when the API server does not serve a kind (its CRD is not
/// installed): the controller would otherwise retry its watch forever.
pub async fn check_crd<K>(client: &kube::Client) -> Result<(), String>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(format!(
            "the API server does not serve {}.{}/{}: install the CRDs first (kubectl apply -f crds/privatelink.dev.yaml, or the Helm chart)",
            K::plural(&()),
            K::group(&()),
            K::version(&())
        )),
        Err(kube::Error::Api(status)) if status.code == 403 => Err(format!(
            "the operator may not list {}.{}: {} (grant it the ClusterRole the chart ships)",
            K::plural(&()),
            K::group(&()),
            status.message
        )),
        Err(e) => Err(format!("cannot list {}.{}: {e}", K::plural(&()), K::group(&()))),
    }
}

/// Drive a controller until its stream ends. Reconcile failures are logged
/// by [`error_policy`]; failures of the watches themselves (the operator
/// stops seeing changes) are logged here, at error level.
pub async fn drive<S, T, E>(results: S)
where
    S: futures::Stream<Item = Result<T, kube::runtime::controller::Error<Error, E>>>,
    E: std::error::Error + 'static,
{
    use futures::StreamExt;
    use kube::runtime::controller::Error as ControllerError;
    results
        .for_each(|result| async move {
            match result {
                Ok(_) | Err(ControllerError::ReconcilerFailed(..)) | Err(ControllerError::ObjectNotFound(_)) => {}
                Err(e) => tracing::error!(error = %e, "watch failed; the controller retries it"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("uri")))
            .expect("client without a server");
        let aws = AwsClients::new(aws_config::SdkConfig::builder().build());
        let mut settings = Settings::new("us-east-1");
        settings.transition_poll = Duration::from_secs(1);
        settings.resync = Duration::from_secs(5);
        settings.base_backoff = Duration::from_secs(1);
        settings.max_backoff = Duration::from_secs(8);
        Context::new(client, aws, settings)
    }

    #[tokio::test]
    async fn polls_grow_up_to_the_resync_and_start_again_once_settled() {
        let ctx = context();
        let polls: Vec<u64> = (0..5).map(|_| ctx.next_poll("k").as_secs()).collect();
        assert_eq!(polls, [1, 2, 4, 5, 5]);
        ctx.settled("k");
        assert_eq!(ctx.next_poll("k"), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn backoff_is_kept_per_kind_and_object_and_forgotten_on_deletion() {
        let ctx = context();
        let svc = crate::api::EndpointService::new("x", serde_json::from_value(json!({})).expect("spec"));
        let ep = crate::api::InterfaceEndpoint::new(
            "x",
            serde_json::from_value(json!({"vpcId": "vpc-0123456789abcdef0"})).expect("spec"),
        );
        let (svc_key, ep_key) = (object_key(&svc), object_key(&ep));
        assert_ne!(svc_key, ep_key, "two kinds with one name keep separate backoff");
        let within = |d: Duration, secs: f64| d.as_secs_f64() >= secs * 0.8 && d.as_secs_f64() <= secs * 1.2;
        assert!(within(ctx.backoff(&svc_key), 1.0));
        assert!(within(ctx.backoff(&svc_key), 2.0));
        assert!(within(ctx.backoff(&svc_key), 4.0));
        assert!(within(ctx.backoff(&ep_key), 1.0), "the other kind starts afresh");
        for _ in 0..10 {
            assert!(ctx.backoff(&svc_key) <= Duration::from_secs_f64(8.0 * 1.2), "capped at max_backoff");
        }
        ctx.forget(&svc_key);
        assert!(within(ctx.backoff(&svc_key), 1.0), "forgotten once the object is gone");
    }

    #[tokio::test]
    async fn references_find_the_objects_to_wake_by_kind_namespace_and_value() {
        use crate::api::{EndpointConnection, InterfaceEndpoint};
        let ctx = context();
        ctx.note_reference("InterfaceEndpoint/ns-a/one".into(), Some("service/api".into()));
        ctx.note_reference("InterfaceEndpoint/ns-a/two".into(), Some("service/api".into()));
        ctx.note_reference("InterfaceEndpoint/ns-a/three".into(), Some("service/other".into()));
        ctx.note_reference("InterfaceEndpoint/ns-b/four".into(), Some("service/api".into()));
        ctx.note_reference("EndpointConnection/ns-a/five".into(), Some("service/api".into()));
        let mut names: Vec<String> =
            ctx.referring::<InterfaceEndpoint>("ns-a", "service/api").into_iter().map(|r| r.name).collect();
        names.sort();
        assert_eq!(names, ["one", "two"], "same kind, namespace and reference only");
        assert!(
            ctx.referring::<InterfaceEndpoint>("ns-a", "service/api")
                .iter()
                .all(|r| r.namespace.as_deref() == Some("ns-a"))
        );
        assert_eq!(ctx.referring::<EndpointConnection>("ns-a", "service/api").len(), 1);
        // A changed spec replaces the reference; a deletion forgets it.
        ctx.note_reference("InterfaceEndpoint/ns-a/one".into(), Some("service/other".into()));
        ctx.forget("InterfaceEndpoint/ns-a/two");
        assert!(ctx.referring::<InterfaceEndpoint>("ns-a", "service/api").is_empty());
        assert_eq!(ctx.referring::<InterfaceEndpoint>("ns-a", "service/other").len(), 2);
    }

    #[tokio::test]
    async fn a_diagnosis_is_known_for_the_same_inputs_within_its_age() {
        let ctx = context();
        ctx.remember_diagnosis("k".into(), (1, "available"));
        assert!(ctx.diagnosed("k", (1, "available"), Duration::from_secs(60)));
        assert!(!ctx.diagnosed("k", (2, "available"), Duration::from_secs(60)), "other inputs");
        assert!(!ctx.diagnosed("other", (1, "available"), Duration::from_secs(60)));
        assert!(!ctx.diagnosed("k", (1, "available"), Duration::ZERO), "too old");
        // The age is the context's clock's.
        let clock =
            Arc::new(crate::plan::clock::FixedClock::at(jiff::Timestamp::from_second(1_800_000_000).expect("t")));
        let ctx = context().with_clock(clock.clone());
        ctx.remember_diagnosis("k".into(), 1);
        clock.advance(Duration::from_secs(59));
        assert!(ctx.diagnosed("k", 1, Duration::from_secs(60)));
        clock.advance(Duration::from_secs(1));
        assert!(!ctx.diagnosed("k", 1, Duration::from_secs(60)), "made again once it is as old as allowed");
    }

    #[test]
    fn cached_metadata_keeps_what_the_queue_needs_only() {
        let mut cached: Cached<crate::api::InterfaceEndpoint> = serde_json::from_value(json!({
            "apiVersion": "privatelink.dev/v1alpha1", "kind": "InterfaceEndpoint",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7", "generation": 3,
                "labels": {"team": "x"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "finalizers": ["privatelink.dev/cleanup"],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]}
        }))
        .expect("metadata");
        trim(&mut cached);
        assert_eq!(
            serde_json::to_value(&cached.metadata).expect("json"),
            json!({"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7", "generation": 3})
        );
        assert!(cached.types.is_none());
    }

    #[test]
    fn long_event_notes_are_cut_not_dropped() {
        let short = "fine".to_string();
        assert_eq!(truncate_note(short.clone()), short);
        let long = "é".repeat(800);
        let cut = truncate_note(long);
        assert!(cut.len() <= MAX_EVENT_NOTE && cut.ends_with('…'), "{}", cut.len());
    }
}
