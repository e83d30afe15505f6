//! Connection notifications of a service: the set the spec asks for
//! against what AWS holds, and whether the SNS topic would ever receive them.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::facts::ObservedNotification;
use serde_json::Value;

/// One change to a service's notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationAction {
    /// CreateVpcEndpointConnectionNotification.
    Create {
        /// SNS topic ARN.
        topic_arn: String,
        /// Events to publish.
        events: Vec<String>,
    },
    /// ModifyVpcEndpointConnectionNotification (new events).
    Modify {
        /// `vpce-nfn-…`.
        id: String,
        /// SNS topic ARN.
        topic_arn: String,
        /// Events to publish.
        events: Vec<String>,
    },
    /// DeleteVpcEndpointConnectionNotifications.
    Delete(Vec<String>),
}

/// The changes that make AWS hold `desired` (topic → events). Notifications
/// for topics the spec does not name are deleted only when `owned` (the
/// operator created the service); an adopted service keeps them.
pub fn plan_notifications(
    desired: &BTreeMap<String, BTreeSet<String>>,
    observed: &[ObservedNotification],
    owned: bool,
) -> Vec<NotificationAction> {
    let mut actions = Vec::new();
    for (topic, events) in desired {
        match observed.iter().find(|n| n.topic_arn == *topic) {
            None => actions.push(NotificationAction::Create {
                topic_arn: topic.clone(),
                events: events.iter().cloned().collect(),
            }),
            Some(n) if n.events != *events => actions.push(NotificationAction::Modify {
                id: n.id.clone(),
                topic_arn: topic.clone(),
                events: events.iter().cloned().collect(),
            }),
            Some(_) => {}
        }
    }
    // One notification per topic: duplicates beyond the first go too.
    let mut kept = BTreeSet::new();
    let extra: Vec<String> = observed
        .iter()
        .filter(|n| {
            let duplicate = !kept.insert(n.topic_arn.clone());
            (owned && !desired.contains_key(&n.topic_arn)) || (duplicate && desired.contains_key(&n.topic_arn))
        })
        .map(|n| n.id.clone())
        .collect();
    if !extra.is_empty() {
        actions.push(NotificationAction::Delete(extra));
    }
    actions
}

/// Why notifications to `topic_arn` would never arrive, given its policy
/// (None: the topic does not exist); None when they would.
pub fn undeliverable(topic_arn: &str, policy: Option<&str>) -> Option<String> {
    let Some(policy) = policy else {
        return Some(format!(
            "SNS topic {topic_arn} does not exist (or the operator may not read it): create it, or fix spec.notifications"
        ));
    };
    if allows_vpce_publish(policy) {
        return None;
    }
    Some(format!(
        "the policy of SNS topic {topic_arn} does not let vpce.amazonaws.com publish, so AWS cannot deliver the notifications: add a statement {{\"Effect\": \"Allow\", \"Principal\": {{\"Service\": \"vpce.amazonaws.com\"}}, \"Action\": \"SNS:Publish\", \"Resource\": \"{topic_arn}\"}}"
    ))
}

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// True when an SNS topic policy allows the VPC endpoint service principal
/// to publish (and nothing denies it outright).
pub fn allows_vpce_publish(policy: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else { return false };
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => return false,
    };
    // A statement reaches the service principal when it names it, or when it
    // names everyone without a condition (a condition such as the default
    // policy's AWS:SourceOwner keeps the service out).
    let matches = |s: &Value| {
        let principal = s.get("Principal");
        let names_vpce = as_list(principal.and_then(|p| p.get("Service"))).iter().any(|x| x == "vpce.amazonaws.com");
        let everyone = principal == Some(&Value::String("*".into()))
            || principal.and_then(|p| p.get("AWS")).is_some_and(|a| as_list(Some(a)).iter().any(|x| x == "*"));
        let for_vpce = names_vpce || (everyone && s.get("Condition").is_none());
        let publishes = as_list(s.get("Action"))
            .iter()
            .any(|a| matches!(a.to_ascii_lowercase().as_str(), "sns:publish" | "sns:*" | "*"));
        for_vpce && publishes
    };
    let effect = |s: &Value, e: &str| s.get("Effect").and_then(Value::as_str) == Some(e);
    let denied = statements.iter().any(|s| effect(s, "Deny") && matches(s) && s.get("Condition").is_none());
    !denied && statements.iter().any(|s| effect(s, "Allow") && matches(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:events";
    const OTHER: &str = "arn:aws:sns:us-east-1:111122223333:other";

    fn events(e: &[&str]) -> BTreeSet<String> {
        e.iter().map(|s| s.to_string()).collect()
    }

    fn observed(id: &str, topic: &str, e: &[&str]) -> ObservedNotification {
        ObservedNotification { id: id.into(), topic_arn: topic.into(), events: events(e) }
    }

    #[test]
    fn notifications_reconcile_as_a_set() {
        let desired = BTreeMap::from([(TOPIC.to_string(), events(&["Accept", "Connect"]))]);
        assert_eq!(
            plan_notifications(&desired, &[], true),
            vec![NotificationAction::Create {
                topic_arn: TOPIC.into(),
                events: vec!["Accept".into(), "Connect".into()]
            }]
        );
        assert_eq!(plan_notifications(&desired, &[observed("n1", TOPIC, &["Connect", "Accept"])], true), vec![]);
        assert_eq!(
            plan_notifications(&desired, &[observed("n1", TOPIC, &["Connect"])], true),
            vec![NotificationAction::Modify {
                id: "n1".into(),
                topic_arn: TOPIC.into(),
                events: vec!["Accept".into(), "Connect".into()]
            }]
        );
        let stray = [observed("n1", TOPIC, &["Accept", "Connect"]), observed("n2", OTHER, &["Reject"])];
        assert_eq!(plan_notifications(&desired, &stray, true), vec![NotificationAction::Delete(vec!["n2".into()])]);
        assert_eq!(
            plan_notifications(&desired, &stray, false),
            vec![],
            "an adopted service keeps others' notifications"
        );
    }

    #[test]
    fn topic_policies_that_let_vpce_publish() {
        let allow = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"vpce.amazonaws.com"},"Action":"SNS:Publish","Resource":"x"}]}"#;
        assert!(allows_vpce_publish(allow));
        let list = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["events.amazonaws.com","vpce.amazonaws.com"]},"Action":["sns:Publish"]}]}"#;
        assert!(allows_vpce_publish(list));
        let owner_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"SNS:Publish"}]}"#;
        assert!(!allows_vpce_publish(owner_only));
        let denied = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"},{"Effect":"Deny","Principal":{"Service":"vpce.amazonaws.com"},"Action":"SNS:Publish"}]}"#;
        assert!(!allows_vpce_publish(denied));
        assert!(!allows_vpce_publish("not json"));
        let default = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["SNS:Publish","SNS:Subscribe"],"Condition":{"StringEquals":{"AWS:SourceOwner":"111122223333"}}}]}"#;
        assert!(!allows_vpce_publish(default), "the default topic policy admits only the owner's account");
        assert!(undeliverable(TOPIC, None).unwrap().contains("does not exist"));
        assert!(undeliverable(TOPIC, Some(owner_only)).unwrap().contains("vpce.amazonaws.com"));
        assert_eq!(undeliverable(TOPIC, Some(allow)), None);
    }
}
