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
use super::{Cached, Context, Error, FINALIZER, Refusal, object_key, reconciled};
use crate::api::conditions::{ConditionStatus, READY, SYNCED, condition, find, progress};
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

pub use crate::plan::stages::Settled;

/// What a kind adds to its stages for `run`: where its status is, its
/// cleanup, and what it refers to; [`reconcile`] runs every kind alike.
pub trait Reconcile:
    crate::plan::stages::Stages<Status: ObjectStatus, Action: crate::aws::execute::Execute>
    + Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The object's status, if any.
    fn status(&self) -> Option<&<Self as crate::plan::stages::Stages>::Status>;

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
    let outcome = run_stages(obj, api, ctx, &mut status).await;
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

/// How many times one reconcile carries out a plan before it reports: a
/// creation, what follows it (notifications, private DNS), and what that
/// asks for still; the rest waits for the next look.
const MAX_PASSES: usize = 3;

/// The owner identity of an object, as its ownership tags carry it.
pub fn owner_of<K: Resource<DynamicType = ()>>(obj: &K, ctx: &Context) -> crate::plan::tags::Owner {
    crate::plan::tags::Owner {
        cluster: ctx.settings.cluster_id().to_string(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    }
}

/// Run a kind's stages ([`crate::plan::stages`]) for one look at `obj`:
/// dereference, the tenancy rules and the acting account, observe, the
/// target recorded in status for cleanup, then validate and plan; the
/// actions, when there are any, carried out under the ownership guard's
/// permit with an Event each, and AWS observed again for what they changed,
/// up to [`MAX_PASSES`] times; the status from what was observed last.
pub async fn run_stages<K>(
    obj: &K,
    api: &Api<K>,
    ctx: &Context,
    status: &mut <K as crate::plan::stages::Stages>::Status,
) -> Result<Settled, Error>
where
    K: Reconcile,
{
    use crate::aws::execute::Execute;
    use crate::plan::stages::{PlannedAction, Scope, Stages};
    obj.prepare(status);
    let ns = obj.namespace().unwrap_or_default();
    let world = super::world::Cluster::new(ctx, obj);
    let (refs, target) = obj.dereference(&world, status, ctx.settings.default_region()).await?;
    let identity =
        ctx.identity(&ns, target.role_arn.as_deref(), target.external_id.as_deref()).map_err(Error::Refused)?;
    if let Some((field, _)) = &target.adopting {
        ctx.may_adopt(&ns, field).map_err(Error::Refused)?;
    }
    if let Some(vpc) = &target.vpc_id {
        ctx.may_use_vpc(&ns, vpc).map_err(Error::Refused)?;
    }
    let scope = Scope {
        owner: owner_of(obj, ctx),
        generation: obj.meta().generation.unwrap_or(1),
        region: target.region.clone(),
        age: ctx.read_age(obj, K::moving(status)),
        now: ctx.clock.now(),
    };
    obj.check(&refs, &scope)?;
    let account = super::acting_account(ctx, &identity, status.account()).await?;
    let aws = ctx.aws.for_region(&identity, &target.region).await;
    let world = world.acting(identity, aws.clone());
    let mut observed = obj.observe(&refs, status, &scope, aws.as_ref(), &world, None, &[]).await?;
    let mut granted = match obj.claim_first(&observed) {
        Some(claim) => Some(guard(&aws, &scope.owner, claim).await?),
        None => None,
    };
    let before = status.clone();
    if obj.record(&target, &account, &observed, status) {
        super::record_target(api, obj, Some(&before), status).await?;
    }
    let mut last: Vec<<K as Stages>::Action> = Vec::new();
    for pass in 1..=MAX_PASSES + 1 {
        if let Some(id) = K::resource_id(&observed) {
            log_aws_id(id);
        }
        let desired = match obj.validate(&refs, &observed, &scope) {
            Ok(desired) => desired,
            Err(e) => {
                obj.fill(&observed, None, status);
                return Err(e);
            }
        };
        obj.fill(&observed, Some(&desired), status);
        let actions = obj.plan(&desired, &observed, &scope);
        // Nothing to do, the same plan again (AWS did not take the last
        // one), or enough for one look: report.
        if actions.is_empty() || actions == last || pass > MAX_PASSES {
            return obj.conclude(&refs, &observed, &desired, &scope, status);
        }
        let mut permit = match granted.take() {
            Some(permit) => permit,
            None => guard(&aws, &scope.owner, obj.claim(&observed)).await?,
        };
        let mut resource = K::resource_id(&observed).map(str::to_string);
        let mut failed = None;
        for action in &actions {
            tracing::info!(action = %action, "applying");
            match action.execute(&aws, &permit, resource.as_deref()).await {
                Ok(Some(id)) => {
                    log_aws_id(&id);
                    tracing::info!("created");
                    K::created(status, &id);
                    permit = permit.created(&id);
                    resource = Some(id);
                }
                Ok(None) => {}
                Err(e) => {
                    let advice = obj.advise(action, &e, &desired, &observed);
                    failed = Some(Error::Aws(e, advice));
                    break;
                }
            }
            obj.carried_out(action, status, &scope);
            if action.announced() {
                ctx.event(obj, EventType::Normal, action.aws_action(), action.to_string()).await;
            }
        }
        // What the actions changed, read back.
        observed = obj.observe(&refs, status, &scope, aws.as_ref(), &world, Some(observed), &actions).await?;
        if let Some(failure) = failed {
            obj.fill(&observed, Some(&desired), status);
            return Err(failure);
        }
        last = actions;
    }
    unreachable!("the loop reports at the latest after MAX_PASSES")
}
