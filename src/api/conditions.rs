//! Status conditions in the shape of Kubernetes `metav1.Condition`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type: AWS matches the spec and the resource is usable.
pub const READY: &str = "Ready";
/// Condition type: the last reconcile succeeded (False carries the AWS error and the fix).
pub const SYNCED: &str = "Synced";
/// Condition type: deletion waits for something the user has to resolve.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";
/// Condition type (InterfaceEndpoint, EndpointConnection): the service provider accepted the connection.
pub const ACCEPTED: &str = "Accepted";

/// Status of a condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell yet.
    Unknown,
}

/// One observation of the object's state, as in Kubernetes API conventions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Kind of condition: Ready, Synced, Accepted, DeletionBlocked.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// One-word CamelCase reason, e.g. `Available`, `InvalidParameter`, `LoadBalancerNotFound`.
    pub reason: String,
    /// What was seen and what to do about it.
    pub message: String,
    /// The `metadata.generation` this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
}

impl Condition {
    /// A condition with no transition time yet; [`merge_conditions`] sets it.
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: String::new(),
        }
    }

    /// True when this is a condition of `type_` with status True.
    pub fn is_true(&self, type_: &str) -> bool {
        self.type_ == type_ && self.status == ConditionStatus::True
    }
}

/// Merge freshly computed conditions into the previous ones: the transition
/// time only moves when the status changes, so a resync that sees the same
/// state writes the same status (and the API server sees no change).
pub fn merge_conditions(
    previous: &[Condition],
    fresh: Vec<Condition>,
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> =
        previous.iter().filter(|old| !fresh.iter().any(|f| f.type_ == old.type_)).cloned().collect();
    for mut cond in fresh {
        cond.observed_generation = generation;
        cond.last_transition_time = match previous.iter().find(|p| p.type_ == cond.type_) {
            Some(p) if p.status == cond.status && !p.last_transition_time.is_empty() => p.last_transition_time.clone(),
            _ => now.to_string(),
        };
        merged.push(cond);
    }
    merged.sort_by(|a, b| a.type_.cmp(&b.type_));
    merged
}

/// Drop a condition type (e.g. `DeletionBlocked` once deletion proceeds).
pub fn without(conditions: Vec<Condition>, type_: &str) -> Vec<Condition> {
    conditions.into_iter().filter(|c| c.type_ != type_).collect()
}

/// Schema for a `conditions` list: a map keyed by `type`.
pub fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<Condition>();
    schemars::json_schema!({
        "type": "array",
        "description": "Latest observations of the object's state: Ready, Synced and kind-specific ones.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": item
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_when_status_unchanged() {
        let old =
            merge_conditions(&[], vec![Condition::new(READY, ConditionStatus::True, "Available", "ok")], Some(1), "t1");
        let again = merge_conditions(
            &old,
            vec![Condition::new(READY, ConditionStatus::True, "Available", "ok")],
            Some(2),
            "t2",
        );
        assert_eq!(again[0].last_transition_time, "t1");
        assert_eq!(again[0].observed_generation, Some(2));
        let flipped = merge_conditions(
            &again,
            vec![Condition::new(READY, ConditionStatus::False, "Pending", "wait")],
            Some(2),
            "t3",
        );
        assert_eq!(flipped[0].last_transition_time, "t3");
    }

    #[test]
    fn other_conditions_are_kept_and_sorted() {
        let old = merge_conditions(&[], vec![Condition::new(SYNCED, ConditionStatus::True, "Synced", "")], None, "t1");
        let merged =
            merge_conditions(&old, vec![Condition::new(READY, ConditionStatus::False, "Pending", "")], None, "t2");
        let types: Vec<_> = merged.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Synced"]);
        assert!(without(merged, READY).iter().all(|c| c.type_ != READY));
    }
}
