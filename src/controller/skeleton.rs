//! One reconcile skeleton for every kind: the finalizer decides between
//! apply and cleanup; apply runs the kind's sync (identity → observe →
//! validate → plan → apply, filling status as it learns), turns its outcome
//! into conditions, writes status, and schedules the next look. A kind only
//! fills in [`Reconcile`].

use std::future::Future;
use std::sync::Arc;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::status::{ObjectStatus, write_status};
use super::{Cached, Context, Error, FINALIZER, Next, Refusal, object_key, reconciled};
use crate::api::conditions::{Condition, ConditionStatus, READY, SYNCED, condition, find, progress};
use crate::aws::AwsError;

/// The ownership guard, as a reconcile asks it ([`crate::aws::guard`]): a
/// permit for the AWS change `claim` describes, or the refusal as a
/// condition. Every mutating AWS call of every kind needs a permit.
pub async fn guard(
    aws: &crate::aws::RegionClients,
    owner: &crate::plan::tags::Owner,
    claim: crate::aws::guard::Claim<'_>,
) -> Result<crate::aws::guard::Permit, Error> {
    use crate::aws::guard::Denied;
    aws.authorize(owner, claim).await.map_err(|denied| match denied {
        Denied::Aws(e) => Error::aws(e),
        Denied::Refused(reason, message) => Error::Refused(Refusal {
            reason,
            message: format!("{message}: the operator changes only what is this object's"),
        }),
    })
}

/// The ownership guard, as a cleanup asks it: a permit, or — when the
/// resource is not the object's — a Warning Event and None (the finalizer
/// may go; nothing in AWS is touched).
pub async fn guard_cleanup<K: Resource<DynamicType = ()>>(
    obj: &K,
    ctx: &Context,
    aws: &crate::aws::RegionClients,
    owner: &crate::plan::tags::Owner,
    claim: crate::aws::guard::Claim<'_>,
) -> Result<Option<crate::aws::guard::Permit>, AwsError> {
    use crate::aws::guard::Denied;
    match aws.authorize(owner, claim).await {
        Ok(permit) => Ok(Some(permit)),
        Err(Denied::Aws(e)) => Err(e),
        Err(Denied::Refused(_, message)) => {
            ctx.event(obj, EventType::Warning, "NotOwned", format!("{message}; it is left as it is")).await;
            Ok(None)
        }
    }
}

/// What a successful sync reports beyond the status fields.
pub struct Settled {
    /// Ready and the kind's own conditions (Synced=True is added).
    pub conditions: Vec<Condition>,
    /// The message of Synced=True (e.g. a requester-managed note).
    pub synced: Option<(&'static str, String)>,
    /// When to look again.
    pub next: Next,
    /// Warning Events to publish (reason, note).
    pub warnings: Vec<(&'static str, String)>,
}

impl Settled {
    /// Settled with these conditions, looking again as `next` says.
    pub fn new(conditions: Vec<Condition>, next: Next) -> Self {
        Self { conditions, synced: None, next, warnings: Vec::new() }
    }
}

/// The steps a kind fills in; [`reconcile`] runs them in the same order for
/// every kind.
pub trait Reconcile:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The kind's status.
    type Status: ObjectStatus;

    /// The object's status, if any.
    fn status(&self) -> Option<&Self::Status>;

    /// Identity → observe → validate → plan → apply, filling `status` as it
    /// learns; `api` is for recording, before the first AWS change, where
    /// the resource lives.
    fn sync(
        &self,
        api: &Api<Self>,
        ctx: &Context,
        status: &mut Self::Status,
    ) -> impl Future<Output = Result<Settled, Error>> + Send;

    /// Tear down in the order AWS demands; Ok removes the finalizer.
    fn cleanup(&self, api: &Api<Self>, ctx: &Context) -> impl Future<Output = Result<Action, Error>> + Send;

    /// What the object refers to that should wake it when that changes
    /// (`service/<name>`, `endpoint/<vpce-id>`); see [`Context::referring`].
    fn reference(&self) -> Option<String> {
        None
    }
}

/// Reconcile the object a controller's cache names. The cache keeps only
/// metadata (10,000 full objects would not fit the memory target), so the
/// object is read first: one GET per reconcile. An object already gone
/// needs nothing.
pub async fn reconcile_cached<K: Reconcile>(cached: Arc<Cached<K>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let kind = K::kind(&()).to_string();
    let ns = cached.namespace().ok_or_else(|| Error::Kube(format!("{kind} without namespace")))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    match api.get_opt(&cached.name_any()).await? {
        Some(obj) => {
            ctx.note_reference(object_key(&obj), obj.reference());
            reconcile(Arc::new(obj), ctx).await
        }
        None => {
            ctx.note_reference(object_key(cached.as_ref()), None);
            Ok(Action::await_change())
        }
    }
}

/// Reconcile one object: the finalizer decides between apply and cleanup
/// (the finalizer goes when cleanup returns Ok, and the object's backoff
/// and poll state with it). Logs carry the kind and `namespace/name`.
pub async fn reconcile<K: Reconcile>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    use tracing::Instrument;
    let kind = K::kind(&()).to_string();
    let ns = obj.namespace().ok_or_else(|| Error::Kube(format!("{kind} without namespace")))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!(
        "reconcile",
        kind = %kind,
        object = %format!("{ns}/{}", obj.name_any()),
        aws_id = tracing::field::Empty
    );
    let key = object_key(obj.as_ref());
    let inner = api.clone();
    let metrics = ctx.metrics.clone();
    let started = std::time::Instant::now();
    let result = kube::runtime::finalizer::finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            kube::runtime::finalizer::Event::Apply(o) => apply(o.as_ref(), &inner, &ctx).await,
            kube::runtime::finalizer::Event::Cleanup(o) => {
                let done = o.cleanup(&inner, &ctx).await;
                // Waiting on someone (DeletionBlocked) or on dependents.
                let blocked = match &done {
                    Ok(_) => None,
                    Err(e) => Some(matches!(e, Error::Blocked(_) | Error::Waiting(..))),
                };
                ctx.metrics.deletion_blocked(K::kind(&()).as_ref(), &key, blocked);
                if done.is_ok() {
                    ctx.forget(&key);
                    ctx.metrics.object_ready(K::kind(&()).as_ref(), &key, None);
                }
                done
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| {
        use kube::runtime::finalizer::Error as Finalizer;
        match e {
            Finalizer::ApplyFailed(e) | Finalizer::CleanupFailed(e) => e,
            other => Error::kube(other),
        }
    });
    metrics.reconciled(&kind, started.elapsed(), result.is_ok());
    result
}

/// Note the AWS id an object manages in the current reconcile's logs.
pub fn log_aws_id(id: &str) {
    tracing::Span::current().record("aws_id", id);
}

/// Make AWS match the spec and report what is there.
async fn apply<K: Reconcile>(obj: &K, api: &Api<K>, ctx: &Context) -> Result<Action, Error> {
    let old = obj.status().cloned();
    let mut status = old.clone().unwrap_or_default();
    let outcome = obj.sync(api, ctx, &mut status).await;
    let (fresh, next) = match &outcome {
        Ok(settled) => {
            let (reason, message) = settled.synced.clone().unwrap_or(("Synced", "AWS matches the spec".to_string()));
            let mut fresh = vec![condition(SYNCED, ConditionStatus::True, reason, message)];
            fresh.extend(settled.conditions.iter().cloned());
            (fresh, settled.next)
        }
        Err(failure) => (failure.conditions(), failure.next()),
    };
    let stalled = outcome.as_ref().err().and_then(Error::stalled);
    let mut fresh = fresh;
    let kstatus = progress(stalled.as_ref().map(|(r, m)| (r.as_str(), m.as_str())), find(&fresh, READY));
    fresh.extend(kstatus);
    let ready = fresh.iter().find(|c| c.type_ == READY).map(|c| c.status.clone());
    write_status(api, obj, old.as_ref(), status, fresh, ctx.clock.now()).await?;
    ctx.metrics.object_ready(K::kind(&()).as_ref(), &object_key(obj), ready.as_deref());
    match outcome {
        Ok(settled) => {
            for (reason, note) in settled.warnings {
                ctx.event(obj, EventType::Warning, reason, note).await;
            }
            Ok(reconciled(obj, ctx, next))
        }
        Err(e @ Error::Aws(..)) => {
            ctx.event(obj, EventType::Warning, "SyncFailed", e.note()).await;
            Err(e)
        }
        Err(e @ (Error::Kube(_) | Error::Blocked(_))) => Err(e),
        Err(Error::Spec(..) | Error::Refused(_) | Error::Waiting(..)) => Ok(reconciled(obj, ctx, next)),
    }
}
