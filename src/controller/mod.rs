//! The reconcilers. What the kinds share lives here once: the context with
//! the tenancy rules, the error type, polling and backoff, status patching,
//! events, and the first steps of every cleanup.

pub mod endpoint_service;
pub mod interface_endpoint;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use crate::api::conditions::{Condition, ConditionStatus, DELETION_BLOCKED, merge_conditions, without};
use crate::api::{DeletionPolicy, EndpointConnectionStatus, EndpointServiceStatus, InterfaceEndpointStatus};
use crate::aws::{AwsClients, AwsError, Identity};
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
    /// Deletion waits on AWS or on other objects; polled.
    #[error("deletion waits: {0}")]
    Waiting(String),
    /// Deletion cannot proceed until someone acts (DeletionBlocked says
    /// who); retried with backoff.
    #[error("deletion blocked: {0}")]
    Blocked(String),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// Poll soon (the wait ends without anyone acting) rather than back off.
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

/// Why the operator refuses to act for an object: a condition reason and a
/// message that names the setting or field to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Condition reason, e.g. `RoleNotAllowed`.
    pub reason: &'static str,
    /// Cause and fix.
    pub message: String,
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
    failures: Mutex<HashMap<ObjectKey, u32>>,
    polls: Mutex<HashMap<ObjectKey, u32>>,
}

impl Context {
    /// A context for the reconcilers.
    pub fn new(client: kube::Client, aws: AwsClients, settings: Settings) -> Self {
        let recorder = Recorder::new(client.clone(), Reporter { controller: MANAGER.into(), instance: None });
        Self { client, aws, settings, recorder, failures: Mutex::default(), polls: Mutex::default() }
    }

    /// The AWS identity an object in `namespace` acts as: the role its
    /// `roleArn` names, or the operator's own credentials, if the tenancy
    /// settings allow it.
    pub fn identity(
        &self,
        namespace: &str,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<Identity, Refusal> {
        let tenancy = &self.settings.tenancy;
        match role_arn {
            None if tenancy.operator_credentials.contains(namespace) => Ok(Identity::operator()),
            None => Err(Refusal {
                reason: "CredentialsNotAllowed",
                message: format!(
                    "namespace {namespace} may not use the operator's own AWS credentials: set spec.roleArn to a role the operator's --allowed-role setting (PLO_ALLOWED_ROLES) grants this namespace, or add {namespace} to --operator-credentials-namespaces (PLO_OPERATOR_CREDENTIALS_NAMESPACES)"
                ),
            }),
            Some(role) if tenancy.allowed_roles.allows(namespace, role) => {
                Ok(Identity { role_arn: Some(role.to_string()), external_id: external_id.map(str::to_string) })
            }
            Some(role) => Err(Refusal {
                reason: "RoleNotAllowed",
                message: format!(
                    "namespace {namespace} may not use role {role}: add `{namespace}={role}` to the operator's --allowed-role setting (PLO_ALLOWED_ROLES), or remove spec.roleArn"
                ),
            }),
        }
    }

    /// Whether objects in `namespace` may adopt existing AWS resources
    /// (`field` names the spec field that asks for it).
    pub fn may_adopt(&self, namespace: &str, field: &str) -> Result<(), Refusal> {
        if self.settings.tenancy.adopters.contains(namespace) {
            return Ok(());
        }
        Err(Refusal {
            reason: "AdoptionNotAllowed",
            message: format!(
                "namespace {namespace} may not adopt existing AWS resources ({field}): add {namespace} to the operator's --adopt-namespaces setting (PLO_ADOPT_NAMESPACES), or remove {field} to create a new one"
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

    fn forget(&self, key: &str) {
        for map in [&self.failures, &self.polls] {
            if let Ok(mut m) = map.lock() {
                m.remove(key);
            }
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
fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectKey {
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

/// How a successful reconcile schedules the next one.
pub enum Next {
    /// AWS is still changing the resource: poll, less often each time.
    Poll,
    /// Nothing moves on its own: look again at the resync.
    Resync,
}

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
/// `cleanup` returns Ok, and the object's backoff and poll state with it).
/// Logs carry the kind and `namespace/name`.
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
    let key = object_key(obj.as_ref());
    let forget = ctx.clone();
    kube::runtime::finalizer::finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            kube::runtime::finalizer::Event::Apply(o) => apply(o, inner, ctx).await,
            kube::runtime::finalizer::Event::Cleanup(o) => {
                let done = cleanup(o, inner, ctx).await;
                if done.is_ok() {
                    forget.forget(&key);
                }
                done
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
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

/// How to let an object go when its cleanup cannot act, for messages.
pub fn release_hint<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "to delete the object anyway and leave AWS as it is, annotate it: kubectl annotate {} {} -n {} {RELEASE_ANNOTATION}=true",
        K::plural(&()).trim_end_matches('s').to_lowercase(),
        obj.name_any(),
        obj.namespace().unwrap_or_default()
    )
}

/// Deletion cannot act: show it as DeletionBlocked with the cause, the fix
/// and the way to let go, publish a Warning Event, and return the error
/// that retries with backoff.
pub async fn deletion_blocked<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    ctx: &Context,
    reason: &str,
    cause: &str,
) -> Error
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let message = format!("{cause}; {}", release_hint(obj));
    if let Err(k) = block_deletion(api, obj, old, reason, &message).await {
        return Error::Kube(k);
    }
    ctx.event(obj, EventType::Warning, "DeletionBlocked", message.clone()).await;
    Error::Blocked(message)
}

/// AWS refused a deletion: DeletionBlocked with AWS's words, the fix and the
/// way to let go; retried with backoff.
pub async fn deletion_refused<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, ctx: &Context, e: AwsError) -> Error
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    match deletion_blocked(api, obj, old, ctx, &e.reason(), &e.with_fix()).await {
        Error::Blocked(_) => Error::Aws(e),
        other => other,
    }
}

/// Where cleanup acts: what the object recorded when it first changed AWS.
pub struct CleanupTarget {
    /// The identity the resource was created or adopted with.
    pub identity: Identity,
    /// Its region.
    pub region: String,
    /// Delete or Retain.
    pub policy: DeletionPolicy,
}

/// The first steps of every cleanup. None: the finalizer may go with no AWS
/// call — the object asked to be released, or never changed AWS (nothing
/// recorded). Otherwise the identity and region recorded at creation, if the
/// tenancy settings still allow the namespace to act with them; if not,
/// deletion is blocked visibly (nothing is orphaned silently).
pub async fn cleanup_target<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    ctx: &Context,
    recorded: Option<(String, Option<String>)>,
    external_id: Option<&str>,
    policy: DeletionPolicy,
) -> Result<Option<CleanupTarget>, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    if obj.annotations().get(RELEASE_ANNOTATION).map(String::as_str) == Some("true") {
        ctx.event(
            obj,
            EventType::Warning,
            "Released",
            format!("{RELEASE_ANNOTATION}=true: the finalizer is removed and the AWS resource left as it is"),
        )
        .await;
        return Ok(None);
    }
    let Some((region, role)) = recorded else { return Ok(None) };
    let ns = obj.namespace().unwrap_or_default();
    match ctx.identity(&ns, role.as_deref(), external_id) {
        Ok(identity) => Ok(Some(CleanupTarget { identity, region, policy })),
        Err(refusal) => Err(deletion_blocked(
            api,
            obj,
            old,
            ctx,
            refusal.reason,
            &format!("cleanup in {region} cannot act: {}", refusal.message),
        )
        .await),
    }
}

/// The resource cleanup found, as far as letting go is concerned.
pub struct Found<'a> {
    /// "endpoint service", "endpoint": for messages.
    pub what: &'static str,
    /// Its AWS id.
    pub id: &'a str,
    /// Its tags.
    pub tags: &'a std::collections::BTreeMap<String, String>,
    /// False when AWS refuses tag changes on it (requester-managed).
    pub taggable: bool,
}

/// The steps of cleanup before any deletion: a resource carrying another
/// object's ownership tags is left alone (announced by a Warning Event);
/// with Retain, the ownership tags are removed and the resource stays.
/// None: go on and delete.
#[allow(clippy::too_many_arguments)]
pub async fn let_go<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    ctx: &Context,
    aws: &crate::aws::RegionClients,
    owner: &crate::plan::tags::Owner,
    found: Found<'_>,
    policy: DeletionPolicy,
) -> Option<Result<Action, Error>>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    use crate::plan::tags::{Ownership, ownership_keys};
    let Found { what, id, tags, taggable } = found;
    if let Ownership::Other(who) = owner.ownership(tags) {
        let note = format!("{what} {id} belongs to {who}; it is left as it is");
        ctx.event(obj, EventType::Warning, "NotOwned", note).await;
        return Some(Ok(Action::await_change()));
    }
    if !policy.retains() {
        return None;
    }
    if owner.owns(tags)
        && taggable
        && let Err(e) = aws.delete_tags(id, &ownership_keys()).await
    {
        return Some(Err(deletion_refused(api, obj, old, ctx, e).await));
    }
    let note = format!("deletionPolicy is Retain: {what} {id} is left in AWS, without ownership tags");
    ctx.event(obj, EventType::Normal, "Retained", note).await;
    Some(Ok(Action::await_change()))
}

/// Write the identity and region an object is about to act with into its
/// status, before the first AWS change, so cleanup finds them whatever the
/// spec or the settings say later.
pub async fn record_target<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, recorded: &S) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    patch_status(api, obj, old, recorded).await.map(|_| ()).map_err(Error::Kube)
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

    #[test]
    fn long_event_notes_are_cut_not_dropped() {
        let short = "fine".to_string();
        assert_eq!(truncate_note(short.clone()), short);
        let long = "é".repeat(800);
        let cut = truncate_note(long);
        assert!(cut.len() <= MAX_EVENT_NOTE && cut.ends_with('…'), "{}", cut.len());
    }
}
