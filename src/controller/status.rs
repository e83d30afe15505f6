//! Writing status: server-side apply by the operator's field manager, only
//! when something changed, with conditions merged so transition times move
//! only when a status does.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;

use super::MANAGER;
use crate::api::conditions::{
    Condition, ConditionStatus, DELETION_BLOCKED, condition, merge_conditions, progress, without,
};
use crate::api::{EndpointConnectionStatus, EndpointServiceStatus, InterfaceEndpointStatus};

/// A status with conditions and an observed generation: what every kind's
/// status shares.
pub trait ObjectStatus: Serialize + Clone + Default + Send + Sync {
    /// The conditions.
    fn conditions(&self) -> &[Condition];
    /// Replace the conditions.
    fn set_conditions(&mut self, conditions: Vec<Condition>);
    /// Record the generation the status describes.
    fn set_observed_generation(&mut self, generation: Option<i64>);
    /// The AWS account recorded for cleanup.
    fn account(&self) -> Option<&str>;
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
            fn account(&self) -> Option<&str> {
                self.account.as_deref()
            }
        }
    )*};
}
object_status!(EndpointServiceStatus, EndpointConnectionStatus, InterfaceEndpointStatus);

/// Apply `new` as the object's whole status (server-side apply, field
/// manager `privatelink-operator`, forced: the operator owns status), unless
/// it equals `old`: an in-sync resync costs no write.
pub async fn apply_status<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, new: &S) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let unchanged = old.map(serde_json::to_value).and_then(Result::ok) == serde_json::to_value(new).ok();
    if unchanged {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch_status(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(true)
}

/// Write a reconcile's outcome: `fresh` conditions merged into the previous
/// ones (a condition whose status changes takes `now` as its transition) (DeletionBlocked dropped, since the object is not being deleted),
/// the observed generation, and only if anything changed.
pub async fn write_status<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    mut status: S,
    fresh: Vec<Condition>,
    now: jiff::Timestamp,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let generation = obj.meta().generation;
    let previous = old.map(|s| s.conditions()).unwrap_or_default();
    status.set_conditions(without(merge_conditions(previous, fresh, generation, now), DELETION_BLOCKED));
    status.set_observed_generation(generation);
    apply_status(api, obj, old, &status).await.map(|_| ())
}

/// Show why deletion waits: a DeletionBlocked condition with the cause and the fix.
pub async fn block_deletion<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    let mut status = old.cloned().unwrap_or_default();
    let previous = old.map(|s| s.conditions()).unwrap_or_default();
    let mut fresh = vec![condition(DELETION_BLOCKED, ConditionStatus::True, reason, message)];
    fresh.extend(progress(Some((reason, message)), None));
    status.set_conditions(merge_conditions(previous, fresh, obj.meta().generation, now));
    apply_status(api, obj, old, &status).await.map(|_| ())
}
