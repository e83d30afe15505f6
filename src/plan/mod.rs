//! The heart of the operator: pure functions from desired state (a spec)
//! and observed AWS state to an ordered list of actions. No IO happens here,
//! so `run` and `plan` share exactly the same decisions and the unit tests
//! cover them without any server.

pub mod checks;
pub mod clock;
pub mod connections;
pub mod endpoint_connection;
pub mod endpoint_service;
pub mod error;
pub mod facts;
pub mod interface_endpoint;
pub mod notifications;
pub mod reads;
pub mod stages;
pub mod tags;

use std::collections::BTreeSet;

/// How soon to look at an object again: poll while AWS is still changing
/// it, otherwise wait for the resync (or a change to the object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// AWS is still changing the resource: poll, less often each time.
    Poll,
    /// Nothing moves on its own: look again at the resync.
    Resync,
}

/// Elements of `desired` missing from `observed`, and elements of `observed`
/// not in `desired`: the add and remove halves of reconciling a set.
pub fn set_diff<T: Ord + Clone>(desired: &BTreeSet<T>, observed: &BTreeSet<T>) -> (Vec<T>, Vec<T>) {
    (desired.difference(observed).cloned().collect(), observed.difference(desired).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_diff_ignores_order_and_reports_both_sides() {
        let desired: BTreeSet<_> = ["b", "a", "c"].into_iter().collect();
        let observed: BTreeSet<_> = ["c", "d", "a"].into_iter().collect();
        assert_eq!(set_diff(&desired, &observed), (vec!["b"], vec!["d"]));
        assert_eq!(set_diff(&desired, &desired), (vec![], vec![]));
    }
}

/// A semantic problem with a spec that the schema cannot express: the
/// object is valid YAML for the CRD but cannot be reconciled as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Field path, e.g. `spec.networkLoadBalancerArns[0]`.
    pub field: String,
    /// Cause and fix in one sentence.
    pub message: String,
}

impl SpecProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Write ` label=[a, b]` for each non-empty list: how a plan shows set changes.
pub fn write_lists(f: &mut std::fmt::Formatter<'_>, lists: &[(&str, &[String])]) -> std::fmt::Result {
    for (label, items) in lists {
        if !items.is_empty() {
            write!(f, " {label}=[{}]", items.join(", "))?;
        }
    }
    Ok(())
}

/// Join problems into one condition message.
pub fn describe_problems(problems: &[SpecProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
