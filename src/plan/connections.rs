//! Connections between consumers' endpoints and a service: what the
//! provider sees, what decides each one (an EndpointConnection, an
//! autoAccept rule, nothing yet), and what an EndpointConnection does.

use std::collections::{BTreeMap, BTreeSet};

use super::Next;
use crate::api::conditions::{ACCEPTED, Condition, ConditionStatus, READY, condition};
use crate::api::endpoint_connection::ConnectionDecision;
use crate::api::endpoint_service::ConnectionStatus;
use crate::plan::facts::ObservedConnection;

/// The accounts `principals` admit: None when `*` admits every account.
pub fn admitted_accounts(principals: &BTreeSet<String>) -> Option<BTreeSet<String>> {
    if principals.contains("*") {
        return None;
    }
    Some(principals.iter().filter_map(|p| p.split(':').nth(4).map(str::to_string)).collect())
}

/// Connections whose endpoint's account no longer is an allowed principal:
/// AWS does not disconnect them when a principal is removed.
pub fn outside_principals<'a>(
    connections: &'a [ObservedConnection],
    principals: &BTreeSet<String>,
    service_owner: &str,
) -> Vec<&'a ObservedConnection> {
    let Some(accounts) = admitted_accounts(principals) else { return Vec::new() };
    connections
        .iter()
        .filter(|c| c.holds_service())
        .filter(|c| c.owner.as_deref().is_some_and(|o| o != service_owner && !accounts.contains(o)))
        .collect()
}

/// The pending requests an autoAccept rule accepts: from a listed account,
/// and not decided by an EndpointConnection (which always wins).
pub fn auto_accepted(
    connections: &[ObservedConnection],
    accounts: &BTreeSet<String>,
    decided: &BTreeMap<String, String>,
) -> Vec<String> {
    connections
        .iter()
        .filter(|c| c.is_pending() && !decided.contains_key(&c.endpoint_id))
        .filter(|c| c.owner.as_ref().is_some_and(|o| accounts.contains(o)))
        .map(|c| c.endpoint_id.clone())
        .collect()
}

/// What the service's status lists about its connections. A connection an
/// autoAccept rule accepted (now, or as `previously` recorded) keeps saying
/// so at later reconciles, unless an EndpointConnection decides it since.
pub fn connection_statuses(
    connections: &[ObservedConnection],
    decided: &BTreeMap<String, String>,
    auto_accepted: &[String],
    outside: &[&ObservedConnection],
    previously: &[ConnectionStatus],
) -> Vec<ConnectionStatus> {
    let by_rule = |id: &str| {
        auto_accepted.iter().any(|a| a == id)
            || previously.iter().any(|p| p.vpc_endpoint_id == id && p.decided_by.as_deref() == Some("autoAccept"))
    };
    connections
        .iter()
        .map(|c| ConnectionStatus {
            vpc_endpoint_id: c.endpoint_id.clone(),
            owner: c.owner.clone(),
            state: Some(c.state.clone()),
            region: c.region.clone(),
            since: c.since.clone(),
            decided_by: decided
                .get(&c.endpoint_id)
                .map(|name| format!("EndpointConnection {name}"))
                .or_else(|| by_rule(&c.endpoint_id).then(|| "autoAccept".to_string())),
            outside_allowed_principals: outside.iter().any(|o| o.endpoint_id == c.endpoint_id),
        })
        .collect()
}

/// Connections by state.
pub fn counts(connections: &[ObservedConnection]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for c in connections {
        *counts.entry(c.state.clone()).or_insert(0) += 1;
    }
    counts
}

/// Remote regions with at least one connected (available) endpoint: the
/// provider pays an hourly fee for each.
pub fn active_remote_regions(connections: &[ObservedConnection], service_region: &str) -> Vec<String> {
    connections
        .iter()
        .filter(|c| c.state == "available")
        .filter_map(|c| c.region.clone())
        .filter(|r| r != service_region)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The warning for connections from accounts no longer allowed, with how
/// to reject them.
pub fn outside_principals_warning(outside: &[&ObservedConnection]) -> Option<String> {
    if outside.is_empty() {
        return None;
    }
    let list: Vec<String> =
        outside.iter().map(|c| format!("{} (account {})", c.endpoint_id, c.owner.as_deref().unwrap_or("?"))).collect();
    Some(format!(
        "endpoints {} are still connected though their accounts are no longer in allowedPrincipals (AWS keeps existing connections when a principal is removed): to disconnect one, create an EndpointConnection for it with decision: Reject",
        list.join(", ")
    ))
}

/// What an EndpointConnection does about its endpoint's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionStep {
    /// The endpoint has not asked to connect yet.
    Waiting,
    /// AcceptVpcEndpointConnections.
    Accept,
    /// RejectVpcEndpointConnections.
    Reject,
    /// AWS already holds the decision.
    Done,
    /// AWS cannot carry it out; the message says why and what to do.
    Impossible(String),
}

/// The step that carries `decision` out on the connection AWS reports.
pub fn decision_step(decision: ConnectionDecision, connection: Option<&ObservedConnection>) -> DecisionStep {
    let Some(c) = connection else { return DecisionStep::Waiting };
    match (decision, c.state.as_str()) {
        (_, "deleted" | "deleting") => DecisionStep::Waiting,
        (ConnectionDecision::Accept, "pendingAcceptance") => DecisionStep::Accept,
        (ConnectionDecision::Accept, "available" | "pending") => DecisionStep::Done,
        (ConnectionDecision::Accept, state) => DecisionStep::Impossible(format!(
            "the connection of {} is {state}, and AWS cannot accept it again: its owner (account {}) must delete the endpoint and create it anew",
            c.endpoint_id,
            c.owner.as_deref().unwrap_or("?")
        )),
        (ConnectionDecision::Reject, "pendingAcceptance" | "available" | "pending") => DecisionStep::Reject,
        (ConnectionDecision::Reject, _) => DecisionStep::Done,
    }
}

/// The conditions of an EndpointConnection, and when to look again.
pub fn decision_conditions(
    step: &DecisionStep,
    decision: ConnectionDecision,
    endpoint_id: &str,
    service: &str,
    connection: Option<&ObservedConnection>,
) -> (Vec<Condition>, Next) {
    let state = connection.map(|c| c.state.as_str()).unwrap_or("");
    match step {
        DecisionStep::Waiting => {
            let message = format!(
                "waiting for endpoint {endpoint_id} to ask to connect to {service}: its owner creates the endpoint with this service's name; the decision is carried out then"
            );
            (
                vec![
                    condition(READY, ConditionStatus::False, "WaitingForEndpoint", message.clone()),
                    condition(ACCEPTED, ConditionStatus::Unknown, "WaitingForEndpoint", message),
                ],
                Next::Poll,
            )
        }
        DecisionStep::Impossible(why) => (
            vec![
                condition(READY, ConditionStatus::False, "CannotAccept", why.clone()),
                condition(ACCEPTED, ConditionStatus::False, "Rejected", why.clone()),
            ],
            Next::Resync,
        ),
        DecisionStep::Accept | DecisionStep::Reject | DecisionStep::Done => {
            let accepted = matches!(state, "available" | "pending");
            let accepted_condition = if accepted {
                condition(
                    ACCEPTED,
                    ConditionStatus::True,
                    "Accepted",
                    format!("{endpoint_id} is connected to {service}"),
                )
            } else if state == "rejected" {
                condition(ACCEPTED, ConditionStatus::False, "Rejected", format!("{endpoint_id} is rejected"))
            } else {
                condition(ACCEPTED, ConditionStatus::Unknown, "Pending", format!("{endpoint_id} is {state}"))
            };
            let done = match decision {
                ConnectionDecision::Accept => state == "available",
                ConnectionDecision::Reject => state == "rejected",
            };
            let ready = if done {
                condition(
                    READY,
                    ConditionStatus::True,
                    "DecisionApplied",
                    format!("{endpoint_id} is {state}, as decided"),
                )
            } else {
                condition(
                    READY,
                    ConditionStatus::False,
                    "Pending",
                    format!("{endpoint_id} is {state}; waiting for AWS to apply the decision"),
                )
            };
            (vec![ready, accepted_condition], if done { Next::Resync } else { Next::Poll })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: &str, owner: &str, state: &str, region: &str) -> ObservedConnection {
        ObservedConnection {
            endpoint_id: id.into(),
            owner: Some(owner.into()),
            state: state.into(),
            region: Some(region.into()),
            since: None,
        }
    }

    #[test]
    fn auto_accept_takes_listed_accounts_unless_an_endpoint_connection_decides() {
        let connections = vec![
            conn("vpce-1", "111111111111", "pendingAcceptance", "us-east-1"),
            conn("vpce-2", "222222222222", "pendingAcceptance", "us-east-1"),
            conn("vpce-3", "111111111111", "pendingAcceptance", "us-east-1"),
            conn("vpce-4", "111111111111", "available", "us-east-1"),
        ];
        let accounts = BTreeSet::from(["111111111111".to_string()]);
        let decided = BTreeMap::from([("vpce-3".to_string(), "reject-3".to_string())]);
        let accepted = auto_accepted(&connections, &accounts, &decided);
        assert_eq!(accepted, vec!["vpce-1".to_string()], "vpce-2: no rule; vpce-3: an EndpointConnection decides");
        let statuses = connection_statuses(&connections, &decided, &accepted, &[], &[]);
        assert_eq!(statuses[0].decided_by.as_deref(), Some("autoAccept"));
        assert_eq!(statuses[1].decided_by, None, "what matches nothing stays pending, visibly");
        assert_eq!(statuses[2].decided_by.as_deref(), Some("EndpointConnection reject-3"));
        assert_eq!(statuses[3].decided_by, None, "accepted before the rule, not by it");
        // The next reconcile accepts nothing, and the rule's acceptance stays recorded.
        let mut accepted_now = connections.clone();
        accepted_now[0].state = "available".into();
        let later = connection_statuses(&accepted_now, &decided, &[], &[], &statuses);
        assert_eq!(later[0].decided_by.as_deref(), Some("autoAccept"));
        assert_eq!(later[3].decided_by, None);
        // An EndpointConnection created since wins over the record.
        let now_decided = BTreeMap::from([("vpce-1".to_string(), "keep-1".to_string())]);
        let decided_later = connection_statuses(&accepted_now, &now_decided, &[], &[], &statuses);
        assert_eq!(decided_later[0].decided_by.as_deref(), Some("EndpointConnection keep-1"));
        assert_eq!(counts(&connections).get("pendingAcceptance"), Some(&3));
    }

    #[test]
    fn connections_outside_the_principals_are_flagged_with_the_way_to_reject() {
        let connections = vec![
            conn("vpce-1", "111111111111", "available", "us-east-1"),
            conn("vpce-2", "222222222222", "available", "us-west-2"),
            conn("vpce-3", "333333333333", "rejected", "us-east-1"),
        ];
        let principals = BTreeSet::from(["arn:aws:iam::111111111111:root".to_string()]);
        let outside = outside_principals(&connections, &principals, "999999999999");
        assert_eq!(outside.iter().map(|c| c.endpoint_id.as_str()).collect::<Vec<_>>(), ["vpce-2"]);
        let warning = outside_principals_warning(&outside).unwrap();
        assert!(warning.contains("vpce-2 (account 222222222222)") && warning.contains("decision: Reject"), "{warning}");
        assert!(outside_principals(&connections, &BTreeSet::from(["*".to_string()]), "9").is_empty());
        assert_eq!(active_remote_regions(&connections, "us-east-1"), vec!["us-west-2".to_string()]);
    }

    #[test]
    fn decisions_follow_the_connection_state() {
        use ConnectionDecision::{Accept, Reject};
        let pending = conn("vpce-1", "1", "pendingAcceptance", "r");
        let available = conn("vpce-1", "1", "available", "r");
        let rejected = conn("vpce-1", "1", "rejected", "r");
        assert_eq!(decision_step(Accept, None), DecisionStep::Waiting);
        assert_eq!(decision_step(Accept, Some(&pending)), DecisionStep::Accept);
        assert_eq!(decision_step(Accept, Some(&available)), DecisionStep::Done);
        assert!(
            matches!(decision_step(Accept, Some(&rejected)), DecisionStep::Impossible(m) if m.contains("create it anew"))
        );
        assert_eq!(
            decision_step(Reject, Some(&available)),
            DecisionStep::Reject,
            "an available connection can still be rejected"
        );
        assert_eq!(decision_step(Reject, Some(&rejected)), DecisionStep::Done);
        let (conditions, next) = decision_conditions(&DecisionStep::Waiting, Accept, "vpce-1", "svc", None);
        assert!(conditions[0].message.contains("waiting for endpoint vpce-1"), "{:?}", conditions[0]);
        assert_eq!(next, Next::Poll);
        let (conditions, next) = decision_conditions(&DecisionStep::Done, Accept, "vpce-1", "svc", Some(&available));
        assert_eq!((conditions[0].status.as_str(), next), ("True", Next::Resync));
    }
}
