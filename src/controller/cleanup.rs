//! The first and last steps of every cleanup: where to act (the identity and
//! region recorded at creation, if still allowed), letting go of what is not
//! the object's or is retained, and DeletionBlocked when cleanup cannot act.

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::status::{ObjectStatus, apply_status, block_deletion};
use super::{Context, Error, RELEASE_ANNOTATION, Refusal};
use crate::api::DeletionPolicy;
use crate::aws::{AwsError, Identity};

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
    if let Err(k) = block_deletion(api, obj, old, reason, &message, ctx.clock.now()).await {
        return Error::kube(k);
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
        Error::Blocked(_) => Error::aws(e),
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
    let identity = match ctx.identity(&ns, role.as_deref(), external_id) {
        Ok(identity) => identity,
        Err(refusal) => {
            let cause = format!("cleanup in {region} cannot act: {}", refusal.message);
            return Err(deletion_blocked(api, obj, old, ctx, refusal.reason, &cause).await);
        }
    };
    let recorded_account = old.and_then(ObjectStatus::account);
    match acting_account(ctx, &identity, recorded_account).await {
        Ok(_) => Ok(Some(CleanupTarget { identity, region, policy })),
        Err(Error::Refused(refusal)) => {
            let cause = format!("cleanup in {region} cannot act: {}", refusal.message);
            Err(deletion_blocked(api, obj, old, ctx, refusal.reason, &cause).await)
        }
        Err(Error::Aws(e, _)) => Err(deletion_refused(api, obj, old, ctx, e).await),
        Err(_) => Err(Error::Waiting("WaitingForAccount", "the account of the operator's credentials".into())),
    }
}

/// The AWS account `identity` acts in, which must be the one recorded for
/// the object's resource when one was: the operator's own credentials may
/// have moved to another account since, and acting there would create a
/// second resource (and leave the first behind) or find nothing to delete.
pub async fn acting_account(ctx: &Context, identity: &Identity, recorded: Option<&str>) -> Result<String, Error> {
    let account = ctx.aws.account(identity).await.map_err(Error::aws)?;
    match recorded {
        Some(recorded) if recorded != account => Err(Error::Refused(Refusal {
            reason: "AccountChanged",
            message: format!(
                "the resource was recorded in AWS account {recorded}, but {} now act in account {account}: give the operator credentials of account {recorded} again (or a roleArn there), or release the object",
                match &identity.role_arn {
                    Some(role) => format!("role {role} would"),
                    None => "the operator's own credentials".to_string(),
                }
            ),
        })),
        _ => Ok(account),
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
    use crate::plan::tags::Ownership;
    let Found { what, id, tags, taggable } = found;
    if let Ownership::Other(who) = owner.ownership(tags) {
        let note = format!("{what} {id} belongs to {who}; it is left as it is");
        ctx.event(obj, EventType::Warning, "NotOwned", note).await;
        return Some(Ok(Action::await_change()));
    }
    if !policy.retains() {
        return None;
    }
    if owner.owns(tags) && taggable {
        let claim = crate::aws::guard::Claim::Change { id, adopting: false };
        let released = match super::guard_cleanup(obj, ctx, aws, owner, claim).await {
            Ok(Some(permit)) => aws.release_ownership(&permit, id).await,
            Ok(None) => return Some(Ok(Action::await_change())),
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            return Some(Err(deletion_refused(api, obj, old, ctx, e).await));
        }
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
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    apply_status(api, obj, old, recorded).await.map(|_| ()).map_err(Error::kube)
}
