//! The reconcilers. What the kinds share lives here once: the context,
//! the error type, backoff, status patching and events.

pub mod endpoint_service;
pub mod interface_endpoint;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use crate::api::conditions::{Condition, ConditionStatus, DELETION_BLOCKED, merge_conditions, without};
use crate::api::{EndpointConnectionStatus, EndpointServiceStatus, InterfaceEndpointStatus};
use crate::aws::{AwsClients, AwsError, Identity};
use crate::config::Settings;

/// Name of the finalizer on every object the operator reconciles.
pub const FINALIZER: &str = "privatelink.dev/cleanup";
/// Field manager and event reporter name.
pub const MANAGER: &str = "privatelink-operator";

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The spec cannot be reconciled as written (reported as a condition).
    #[error("{0}")]
    Invalid(String),
    /// Deletion waits on AWS or on other objects; retried at the poll period.
    #[error("deletion waits: {0}")]
    Waiting(String),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Retry soon (poll) rather than back off.
    fn is_waiting(&self) -> bool {
        match self {
            Error::Waiting(_) => true,
            Error::Finalizer(inner) => matches!(
                inner.as_ref(),
                kube::runtime::finalizer::Error::CleanupFailed(Error::Waiting(_))
                    | kube::runtime::finalizer::Error::ApplyFailed(Error::Waiting(_))
            ),
            _ => false,
        }
    }
}

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
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context for the reconcilers.
    pub fn new(client: kube::Client, aws: AwsClients, settings: Settings) -> Self {
        let recorder = Recorder::new(client.clone(), Reporter { controller: MANAGER.into(), instance: None });
        Self { client, aws, settings, recorder, failures: Mutex::default() }
    }

    /// The AWS identity an object's `roleArn` asks for, if the operator's
    /// allow-list lets its namespace use it.
    pub fn identity(
        &self,
        namespace: &str,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<Identity, String> {
        match role_arn {
            None => Ok(Identity::operator()),
            Some(role) if self.settings.allowed_roles.allows(namespace, role) => {
                Ok(Identity { role_arn: Some(role.to_string()), external_id: external_id.map(str::to_string) })
            }
            Some(role) => Err(format!(
                "namespace {namespace} may not use role {role}: add `{namespace}={role}` to the operator's --allowed-role setting, or remove spec.roleArn"
            )),
        }
    }

    /// Publish an Event about `obj`; failures to publish are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &str, note: String) {
        let event = Event { type_, reason: reason.into(), note: Some(note), action: reason.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }

    fn record_success(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }

    /// Delay before retrying a failed object: doubles per consecutive
    /// failure from `base_backoff` up to `max_backoff`, with ±20% jitter so
    /// objects failing together do not retry together.
    fn backoff(&self, key: &str) -> Duration {
        let n = match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let base = self.settings.base_backoff.as_secs_f64() * 2f64.powi(n.saturating_sub(1).min(16) as i32);
        let capped = base.min(self.settings.max_backoff.as_secs_f64());
        Duration::from_secs_f64(capped * (0.8 + 0.4 * jitter_fraction()))
    }
}

/// A number in [0, 1) that differs between calls (no RNG dependency).
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// Key of an object for backoff bookkeeping.
fn object_key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// What `error_policy` decides for every kind: poll while waiting, back off
/// on failures.
pub fn error_policy<K: Resource>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_waiting() {
        return Action::requeue(ctx.settings.transition_poll);
    }
    let delay = ctx.backoff(&object_key(obj.as_ref()));
    tracing::warn!(object = %object_key(obj.as_ref()), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Note a successful reconcile (resets the backoff).
pub fn reconciled<K: Resource>(obj: &K, ctx: &Context) {
    ctx.record_success(&object_key(obj));
}

/// The current time as Kubernetes writes it (RFC 3339, seconds).
pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// A JSON merge patch (RFC 7386) turning `old` into `new`: changed keys,
/// added keys, and removed keys as null. Lists are replaced whole.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) if ov == nv => {}
                    Some(ov) if ov.is_object() && nv.is_object() => {
                        if let Some(p) = merge_patch(ov, nv) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    _ => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// Write `status` when it differs from what the object holds: only the
/// changed fields are sent, and nothing when nothing changed.
pub async fn patch_status<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, new: &S) -> Result<bool, kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let old = old.and_then(|s| serde_json::to_value(s).ok()).unwrap_or(Value::Object(Default::default()));
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let Some(diff) = merge_patch(&old, &new) else { return Ok(false) };
    let patch = serde_json::json!({ "status": diff });
    api.patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(true)
}

/// Reconcile one namespaced object through the finalizer: `apply` while it
/// lives, `cleanup` once it is being deleted (the finalizer goes when
/// `cleanup` returns Ok). Logs carry the kind and `namespace/name`.
pub async fn reconcile_with_finalizer<K, A, FA, C, FC>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    apply: A,
    cleanup: C,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    A: FnOnce(Arc<K>, Api<K>, Arc<Context>) -> FA,
    FA: std::future::Future<Output = Result<Action, Error>>,
    C: FnOnce(Arc<K>, Api<K>, Arc<Context>) -> FC,
    FC: std::future::Future<Output = Result<Action, Error>>,
{
    use tracing::Instrument;
    let kind = K::kind(&()).to_string();
    let ns = obj.namespace().ok_or_else(|| Error::Invalid(format!("{kind} without namespace")))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", kind = %kind, object = %format!("{ns}/{}", obj.name_any()));
    let inner = api.clone();
    kube::runtime::finalizer::finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            kube::runtime::finalizer::Event::Apply(o) => apply(o, inner, ctx).await,
            kube::runtime::finalizer::Event::Cleanup(o) => cleanup(o, inner, ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Drive a controller until its stream ends. Failures are logged by
/// [`error_policy`]; here only at debug level, with the object.
pub async fn drive<S, T, E>(results: S)
where
    S: futures::Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    results
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile error");
            }
        })
        .await;
}

/// A status with conditions and an observed generation: what every kind's
/// status shares.
pub trait ObjectStatus: Serialize + Clone + Default {
    /// The conditions.
    fn conditions(&self) -> &[Condition];
    /// Replace the conditions.
    fn set_conditions(&mut self, conditions: Vec<Condition>);
    /// Record the generation the status describes.
    fn set_observed_generation(&mut self, generation: Option<i64>);
}

macro_rules! object_status {
    ($($t:ty),*) => {$(
        impl ObjectStatus for $t {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn set_conditions(&mut self, conditions: Vec<Condition>) {
                self.conditions = conditions;
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        }
    )*};
}
object_status!(EndpointServiceStatus, EndpointConnectionStatus, InterfaceEndpointStatus);

/// Write a reconcile's outcome: `fresh` conditions merged into the previous
/// ones (DeletionBlocked dropped, since the object is not being deleted),
/// the observed generation, and only if anything changed.
pub async fn write_status<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    mut status: S,
    fresh: Vec<Condition>,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let generation = obj.meta().generation;
    let previous = old.map(|s| s.conditions()).unwrap_or_default();
    status.set_conditions(without(merge_conditions(previous, fresh, generation, &now()), DELETION_BLOCKED));
    status.set_observed_generation(generation);
    patch_status(api, obj, old, &status).await.map(|_| ())
}

/// Show why deletion waits: a DeletionBlocked condition with the cause and the fix.
pub async fn block_deletion<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let mut status = old.cloned().unwrap_or_default();
    let previous = old.map(|s| s.conditions()).unwrap_or_default();
    status.set_conditions(merge_conditions(
        previous,
        vec![Condition::new(DELETION_BLOCKED, ConditionStatus::True, reason, message)],
        obj.meta().generation,
        &now(),
    ));
    patch_status(api, obj, old, &status).await.map(|_| ())
}

/// AWS refused a deletion: show it as DeletionBlocked (AWS's words and the
/// fix), publish a Warning Event, and return the error that schedules the
/// retry (backoff when retrying may help, the poll period otherwise).
pub async fn deletion_refused<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, ctx: &Context, e: AwsError) -> Error
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let message = e.with_fix();
    if let Err(k) = block_deletion(api, obj, old, &e.reason(), &message).await {
        return Error::Kube(k);
    }
    ctx.event(obj, EventType::Warning, "DeletionBlocked", message).await;
    if e.is_retryable() { Error::Aws(e) } else { Error::Waiting(e.to_string()) }
}

/// The condition for a failed AWS call: AWS's code and message verbatim, then the fix.
pub fn aws_failure(type_: &str, e: &AwsError) -> Condition {
    Condition::new(type_, ConditionStatus::False, &e.reason(), e.with_fix())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sends_changes_and_nulls_removed_keys() {
        let old = json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1], "gone": true});
        let new = json!({"a": 1, "b": {"c": 1, "d": 3}, "e": [1, 2], "new": "x"});
        assert_eq!(merge_patch(&old, &new), Some(json!({"b": {"d": 3}, "e": [1, 2], "new": "x", "gone": null})));
        assert_eq!(merge_patch(&new, &new), None);
    }

    #[test]
    fn now_is_rfc3339() {
        let t = now();
        assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    }
}
