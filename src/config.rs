//! Operator settings, from flags or environment variables, with defaults.

use std::time::Duration;

/// Which namespaces may have the operator assume which IAM roles.
///
/// Written `NAMESPACE=ROLE_ARN`; either side may end in `*` to match a
/// prefix (`team-a=arn:aws:iam::111122223333:role/*`, `*=arn:aws:iam::111122223333:role/shared`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleAllowList {
    entries: Vec<(String, String)>,
}

impl RoleAllowList {
    /// Parse entries of the form `NAMESPACE=ROLE_ARN`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for entry in entries {
            let Some((ns, arn)) = entry.split_once('=') else {
                return Err(format!("allowed role {entry:?} is not NAMESPACE=ROLE_ARN"));
            };
            if ns.is_empty() || arn.is_empty() {
                return Err(format!("allowed role {entry:?} has an empty namespace or ARN"));
            }
            parsed.push((ns.to_string(), arn.to_string()));
        }
        Ok(Self { entries: parsed })
    }

    /// True when objects in `namespace` may use `role_arn`.
    pub fn allows(&self, namespace: &str, role_arn: &str) -> bool {
        self.entries.iter().any(|(ns, arn)| glob(ns, namespace) && glob(arn, role_arn))
    }
}

fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Settings of the controller (`privatelink-operator run`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Region used when a spec names none.
    pub default_region: String,
    /// Period of the resync that catches drift made outside the operator.
    pub resync: Duration,
    /// Poll period while AWS is in a transitional state (Pending, Deleting…).
    pub transition_poll: Duration,
    /// First retry delay after a failed reconcile; doubles up to `max_backoff`.
    pub base_backoff: Duration,
    /// Longest retry delay after failures.
    pub max_backoff: Duration,
    /// Namespace to watch; None watches all.
    pub namespace: Option<String>,
    /// Roles each namespace may assume.
    pub allowed_roles: RoleAllowList,
}

impl Settings {
    /// Defaults for production, in `region`.
    pub fn new(default_region: impl Into<String>) -> Self {
        Self {
            default_region: default_region.into(),
            resync: Duration::from_secs(300),
            transition_poll: Duration::from_secs(10),
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            namespace: None,
            allowed_roles: RoleAllowList::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_allow_list_matches_namespace_and_arn_prefixes() {
        let list = RoleAllowList::parse(&[
            "team-a=arn:aws:iam::111122223333:role/*".to_string(),
            "*=arn:aws:iam::444455556666:role/shared".to_string(),
        ])
        .unwrap();
        assert!(list.allows("team-a", "arn:aws:iam::111122223333:role/provider"));
        assert!(!list.allows("team-b", "arn:aws:iam::111122223333:role/provider"));
        assert!(list.allows("team-b", "arn:aws:iam::444455556666:role/shared"));
        assert!(!list.allows("team-b", "arn:aws:iam::444455556666:role/shared-admin"));
        assert!(RoleAllowList::parse(&["no-equals".to_string()]).is_err());
        assert!(!RoleAllowList::default().allows("any", "arn:aws:iam::111122223333:role/x"));
    }
}
