//! Status conditions: the Kubernetes `metav1.Condition` type, the types this
//! operator sets, and how fresh observations merge into previous ones.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition type: AWS matches the spec and the resource is usable.
pub const READY: &str = "Ready";
/// Condition type: the last reconcile succeeded (False carries the AWS error and the fix).
pub const SYNCED: &str = "Synced";
/// Condition type: deletion waits for something the user has to resolve.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";
/// Condition type (InterfaceEndpoint, EndpointConnection): the service provider accepted the connection.
pub const ACCEPTED: &str = "Accepted";
/// Condition type (EndpointService): the private DNS name's domain is verified.
pub const PRIVATE_DNS_VERIFIED: &str = "PrivateDnsVerified";
/// Condition type (EndpointService): connection notifications can be delivered.
pub const NOTIFICATIONS_DELIVERABLE: &str = "NotificationsDeliverable";
/// Condition type (EndpointService): who can connect, and whether anyone reviews it.
pub const EXPOSURE: &str = "ExposureReviewed";
/// InterfaceEndpoint: nothing AWS shows (zones, security groups, network
/// ACLs, VPC DNS, endpoint policy) keeps clients from the endpoint; the
/// words are those of `doctor`.
pub const TRAFFIC_ALLOWED: &str = "TrafficAllowed";

/// Condition type (kstatus): True when the object cannot progress without a
/// change from someone — its spec is invalid or refused by AWS or by the
/// tenancy rules, its credentials lack a permission, or its deletion is
/// blocked. Flux, `kubectl wait` users and other kstatus readers report it
/// as Failed.
pub const STALLED: &str = "Stalled";
/// Condition type (kstatus): True while the operator or AWS is still
/// working toward the spec (creating, waiting for acceptance, retrying a
/// transient failure). kstatus readers report it as InProgress.
pub const RECONCILING: &str = "Reconciling";

/// Ready reasons of states AWS does not leave on its own.
pub const TERMINAL_READY_REASONS: [&str; 5] = ["Failed", "Rejected", "Expired", "Deleted", "CannotAccept"];

/// The kstatus conditions of an outcome: `stalled` (reason, message) when
/// the object cannot progress without a change; otherwise Reconciling
/// follows `ready`: True (with Ready's reason and message) until Ready is.
pub fn progress(stalled: Option<(&str, &str)>, ready: Option<&Condition>) -> Vec<Condition> {
    // A resource AWS failed, rejected, expired or deleted, or a connection
    // that cannot be accepted, stays so until someone acts.
    let terminal = ready
        .filter(|r| r.status != "True" && TERMINAL_READY_REASONS.contains(&r.reason.as_str()))
        .map(|r| (r.reason.as_str(), r.message.as_str()));
    match stalled.or(terminal) {
        Some((reason, message)) => vec![
            condition(STALLED, ConditionStatus::True, reason, message),
            condition(RECONCILING, ConditionStatus::False, "Stalled", "nothing will change until the cause is fixed"),
        ],
        None => {
            let reconciling = match ready {
                Some(r) if r.status != "True" => {
                    condition(RECONCILING, ConditionStatus::True, &r.reason, r.message.clone())
                }
                _ => condition(RECONCILING, ConditionStatus::False, "Settled", "AWS matches the spec"),
            };
            vec![condition(STALLED, ConditionStatus::False, "Progressing", "nothing is stuck"), reconciling]
        }
    }
}

/// Status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell yet.
    Unknown,
}

impl ConditionStatus {
    /// As Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// A condition with no transition time yet; [`merge_conditions`] sets it.
pub fn condition(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: status.as_str().to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: None,
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
    }
}

/// True when `c` is a condition of `type_` with status True.
pub fn is_true(c: &Condition, type_: &str) -> bool {
    c.type_ == type_ && c.status == "True"
}

/// The condition of `type_`, if any.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Merge freshly computed conditions into the previous ones: the transition
/// time only moves when the status changes, so a resync that sees the same
/// state writes the same status (and the API server sees no change).
pub fn merge_conditions(
    previous: &[Condition],
    fresh: Vec<Condition>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> =
        previous.iter().filter(|old| !fresh.iter().any(|f| f.type_ == old.type_)).cloned().collect();
    for mut cond in fresh {
        cond.observed_generation = generation;
        cond.last_transition_time = match previous.iter().find(|p| p.type_ == cond.type_) {
            Some(p) if p.status == cond.status => p.last_transition_time.clone(),
            _ => Time(now),
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

/// Schema for a `conditions` list: Kubernetes conditions, a map keyed by `type`.
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

    fn kinds(cs: &[Condition]) -> Vec<(String, String, String)> {
        cs.iter().map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone())).collect()
    }

    #[test]
    fn stalled_and_reconciling_follow_the_kstatus_conventions() {
        let stuck = progress(Some(("InvalidServiceName", "no such service")), None);
        assert_eq!(
            kinds(&stuck),
            vec![
                ("Stalled".into(), "True".into(), "InvalidServiceName".into()),
                ("Reconciling".into(), "False".into(), "Stalled".into())
            ]
        );
        let waiting = condition(READY, ConditionStatus::False, "PendingAcceptance", "account 1 must accept");
        let working = progress(None, Some(&waiting));
        assert_eq!(kinds(&working)[1], ("Reconciling".into(), "True".into(), "PendingAcceptance".into()));
        assert_eq!(working[1].message, "account 1 must accept");
        assert_eq!(kinds(&working)[0].1, "False");
        let ready = condition(READY, ConditionStatus::True, "Available", "");
        assert_eq!(kinds(&progress(None, Some(&ready)))[1].1, "False");
        let failed = condition(READY, ConditionStatus::False, "Failed", "AWS failed it");
        assert_eq!(kinds(&progress(None, Some(&failed)))[0], ("Stalled".into(), "True".into(), "Failed".into()));
        // A kind without readiness is settled once synced.
        assert_eq!(kinds(&progress(None, None))[1].1, "False");
    }

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).expect("time")
    }

    #[test]
    fn transition_time_kept_when_status_unchanged() {
        let old =
            merge_conditions(&[], vec![condition(READY, ConditionStatus::True, "Available", "ok")], Some(1), at(1));
        let again =
            merge_conditions(&old, vec![condition(READY, ConditionStatus::True, "Available", "ok")], Some(2), at(2));
        assert_eq!(again[0].last_transition_time, Time(at(1)));
        assert_eq!(again[0].observed_generation, Some(2));
        let flipped =
            merge_conditions(&again, vec![condition(READY, ConditionStatus::False, "Pending", "wait")], Some(2), at(3));
        assert_eq!(flipped[0].last_transition_time, Time(at(3)));
    }

    #[test]
    fn other_conditions_are_kept_and_sorted() {
        let old = merge_conditions(&[], vec![condition(SYNCED, ConditionStatus::True, "Synced", "")], None, at(1));
        let merged = merge_conditions(&old, vec![condition(READY, ConditionStatus::False, "Pending", "")], None, at(2));
        let types: Vec<_> = merged.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Synced"]);
        assert!(find(&merged, SYNCED).is_some_and(|c| is_true(c, SYNCED)));
        assert!(without(merged, READY).iter().all(|c| c.type_ != READY));
    }
}
