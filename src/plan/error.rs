//! Why a reconcile did not reach the desired state: the one error type of
//! every stage and of the reconcile skeleton, and the conditions each case
//! shows (Synced, Ready, and kstatus' Stalled).

use super::{Next, SpecProblem, describe_problems};
use crate::api::conditions::{Condition, ConditionStatus, READY, SYNCED, condition};
use crate::plan::facts::{AwsError, ErrorClass};

/// Why the operator refuses to act for an object: a condition reason and a
/// message that names the setting or field to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Condition reason, e.g. `RoleNotAllowed`.
    pub reason: &'static str,
    /// Cause and fix.
    pub message: String,
}

/// Why a reconcile (or a cleanup) stopped short.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Waiting on something outside this object (another object, AWS, a
    /// consumer, a deletion in progress): polled. The reason Ready shows,
    /// and the message.
    #[error("{1}")]
    Waiting(&'static str, String),
    /// The spec cannot work as written; nothing to retry until it changes.
    #[error("{}", describe_problems(.1))]
    Spec(&'static str, Vec<SpecProblem>),
    /// The tenancy rules forbid what the object asks; no AWS call was made.
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// An AWS call failed; the second field, when set, says what to do
    /// better than the generic fix for its error code.
    #[error("{0}")]
    Aws(AwsError, Option<String>),
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(String),
    /// Deletion cannot proceed until someone acts (DeletionBlocked says
    /// who); retried with backoff.
    #[error("deletion blocked: {0}")]
    Blocked(String),
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        Error::Aws(e, None)
    }
}

impl Error {
    /// An AWS failure with no better advice than its code's.
    pub fn aws(e: AwsError) -> Self {
        Error::Aws(e, None)
    }

    /// A Kubernetes API failure.
    pub fn kube(e: impl std::fmt::Display) -> Self {
        Error::Kube(e.to_string())
    }

    /// Poll soon (the wait ends without anyone acting) rather than back off.
    pub fn is_waiting(&self) -> bool {
        matches!(self, Error::Waiting(..))
    }

    /// The AWS error and the advice for it, as an Event or a condition says it.
    pub fn note(&self) -> String {
        match self {
            Error::Aws(e, None) => e.with_fix(),
            Error::Aws(e, Some(advice)) => format!("{e}. {advice}"),
            other => other.to_string(),
        }
    }

    /// The Synced condition, and the Ready condition it implies.
    pub fn conditions(&self) -> Vec<Condition> {
        let synced = match self {
            Error::Waiting(_, message) => condition(SYNCED, ConditionStatus::True, "Waiting", message.clone()),
            Error::Spec(reason, problems) => {
                condition(SYNCED, ConditionStatus::False, reason, describe_problems(problems))
            }
            Error::Refused(r) => condition(SYNCED, ConditionStatus::False, r.reason, r.message.clone()),
            Error::Aws(e, _) => condition(SYNCED, ConditionStatus::False, &e.reason(), self.note()),
            Error::Kube(_) => condition(SYNCED, ConditionStatus::False, "KubernetesApiError", self.to_string()),
            Error::Blocked(message) => condition(SYNCED, ConditionStatus::False, "DeletionBlocked", message.clone()),
        };
        let ready = match self {
            Error::Waiting(reason, message) => condition(READY, ConditionStatus::False, reason, message.clone()),
            _ => condition(
                READY,
                ConditionStatus::False,
                "NotSynced",
                format!("AWS does not match the spec: {}", synced.message),
            ),
        };
        vec![synced, ready]
    }

    /// (reason, message) when the object cannot progress without a change
    /// from someone (kstatus `Stalled`): its spec, the tenancy rules, or
    /// AWS refusing the request as written or the credentials lacking a
    /// permission. Waiting, throttling, network and API server failures
    /// are progress still to come.
    pub fn stalled(&self) -> Option<(String, String)> {
        match self {
            Error::Spec(reason, problems) => Some((reason.to_string(), describe_problems(problems))),
            Error::Refused(r) => Some((r.reason.to_string(), r.message.clone())),
            Error::Aws(e, _) if matches!(e.class, ErrorClass::Refused | ErrorClass::AccessDenied) => {
                Some((e.reason(), e.with_fix()))
            }
            _ => None,
        }
    }

    /// When to look again after this outcome.
    pub fn next(&self) -> Next {
        match self {
            Error::Waiting(..) => Next::Poll,
            _ => Next::Resync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_shows_its_conditions_and_whether_it_stalls() {
        let waiting = Error::Waiting("WaitingForService", "waiting for api".into());
        let [synced, ready] = <[Condition; 2]>::try_from(waiting.conditions()).expect("two");
        assert_eq!((synced.status.as_str(), ready.reason.as_str()), ("True", "WaitingForService"));
        assert!(waiting.stalled().is_none() && waiting.next() == Next::Poll && waiting.is_waiting());

        let refused = AwsError::unsuccessful("CreateVpcEndpoint", Some("InvalidServiceName"), Some("no such service"));
        let e = Error::Aws(refused, Some("check the name".into()));
        let synced = &e.conditions()[0];
        assert_eq!((synced.status.as_str(), synced.reason.as_str()), ("False", "InvalidServiceName"));
        assert!(synced.message.ends_with("no such service. check the name"), "{}", synced.message);
        assert_eq!(e.stalled().map(|s| s.0).as_deref(), Some("InvalidServiceName"));
        assert_eq!(e.next(), Next::Resync);

        let throttled = Error::aws(AwsError::unsuccessful("CreateVpcEndpoint", Some("RequestLimitExceeded"), None));
        assert!(throttled.stalled().is_none(), "throttling is progress still to come");
        let spec = Error::Spec("InvalidSpec", vec![SpecProblem::new("spec.vpcId", "set it")]);
        assert_eq!(spec.stalled(), Some(("InvalidSpec".into(), "spec.vpcId: set it".into())));
        assert_eq!(Error::kube("gone").to_string(), "Kubernetes API: gone");
    }
}
