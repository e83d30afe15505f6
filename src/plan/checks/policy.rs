//! Endpoint and bucket policies, read for what blocks traffic through an
//! endpoint. Not a full IAM evaluator: it finds the statements that deny
//! everything through the endpoint (or everything not through it), and says
//! when the answer depends on who calls.

use serde_json::Value;

/// One statement, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Allow` (true) or `Deny`.
    pub allow: bool,
    /// Principals (`*` for anyone).
    pub principals: Vec<String>,
    /// Actions (`NotAction` statements keep theirs in `not_actions`).
    pub actions: Vec<String>,
    /// `NotAction`.
    pub not_actions: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Conditions: (operator, key, values).
    pub conditions: Vec<(String, String, Vec<String>)>,
}

impl Statement {
    fn name(&self, index: usize) -> String {
        self.sid.clone().map(|s| format!("statement {s:?}")).unwrap_or_else(|| format!("statement {}", index + 1))
    }

    fn everyone(&self) -> bool {
        self.principals.iter().any(|p| p == "*")
    }

    fn every_action(&self) -> bool {
        self.not_actions.is_empty() && self.actions.iter().any(|a| a == "*" || a.ends_with(":*"))
    }

    fn every_resource(&self) -> bool {
        self.resources.iter().any(|r| r == "*")
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Parse a policy document; Err with the reason when it is not one.
pub fn parse(document: &str) -> Result<Vec<Statement>, String> {
    let doc: Value = serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err("no Statement".into()),
    };
    Ok(statements
        .iter()
        .map(|s| {
            let principals = match s.get("Principal") {
                Some(Value::String(p)) => vec![p.clone()],
                Some(Value::Object(m)) => m.values().flat_map(|v| strings(Some(v))).collect(),
                _ => Vec::new(),
            };
            let conditions = s
                .get("Condition")
                .and_then(Value::as_object)
                .map(|ops| {
                    ops.iter()
                        .flat_map(|(op, keys)| {
                            keys.as_object()
                                .into_iter()
                                .flatten()
                                .map(move |(k, v)| (op.clone(), k.clone(), strings(Some(v))))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Statement {
                sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
                allow: s.get("Effect").and_then(Value::as_str) != Some("Deny"),
                principals,
                actions: strings(s.get("Action")),
                not_actions: strings(s.get("NotAction")),
                resources: strings(s.get("Resource")),
                conditions,
            }
        })
        .collect())
}

/// What an endpoint policy does to calls through the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointPolicy {
    /// Full access (AWS's default policy).
    FullAccess,
    /// Blocks every call: why.
    BlocksAll(String),
    /// Allows some calls: which statements decide.
    Restricts(Vec<String>),
}

/// Judge an endpoint policy.
pub fn endpoint_policy(document: Option<&str>) -> Result<EndpointPolicy, String> {
    let Some(document) = document else { return Ok(EndpointPolicy::FullAccess) };
    let statements = parse(document)?;
    for (i, s) in statements.iter().enumerate() {
        if !s.allow && s.everyone() && s.every_action() && s.every_resource() && s.conditions.is_empty() {
            return Ok(EndpointPolicy::BlocksAll(format!(
                "{} denies every action on every resource to everyone",
                s.name(i)
            )));
        }
    }
    if !statements.iter().any(|s| s.allow) {
        return Ok(EndpointPolicy::BlocksAll("no statement allows anything".into()));
    }
    let full = statements.iter().all(|s| s.allow)
        && statements.iter().any(|s| s.everyone() && s.every_action() && s.every_resource() && s.conditions.is_empty());
    if full {
        return Ok(EndpointPolicy::FullAccess);
    }
    Ok(EndpointPolicy::Restricts(
        statements
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut line = format!(
                    "{}: {} {} on {} for {}",
                    s.name(i),
                    if s.allow { "Allow" } else { "Deny" },
                    if s.not_actions.is_empty() {
                        s.actions.join(",")
                    } else {
                        format!("all but {}", s.not_actions.join(","))
                    },
                    s.resources.join(","),
                    if s.principals.is_empty() { "-".to_string() } else { s.principals.join(",") }
                );
                if !s.conditions.is_empty() {
                    line.push_str(&format!(" when {}", conditions_text(&s.conditions)));
                }
                line
            })
            .collect(),
    ))
}

fn conditions_text(conditions: &[(String, String, Vec<String>)]) -> String {
    conditions.iter().map(|(op, k, v)| format!("{op} {k} {}", v.join("|"))).collect::<Vec<_>>().join(" and ")
}

/// A bucket-policy statement that refuses requests through the endpoint.
pub fn bucket_policy_blocks(document: &str, endpoint_id: &str, vpc_id: &str) -> Result<Vec<String>, String> {
    let statements = parse(document)?;
    let mut found = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        if s.allow {
            continue;
        }
        for (op, key, values) in &s.conditions {
            let key_l = key.to_ascii_lowercase();
            let negated = op.contains("Not");
            let ours = match key_l.as_str() {
                "aws:sourcevpce" => Some(endpoint_id),
                "aws:sourcevpc" => Some(vpc_id),
                _ => None,
            };
            if let Some(ours) = ours {
                let listed = values.iter().any(|v| {
                    v == ours || (op.contains("Like") && v.ends_with('*') && ours.starts_with(v.trim_end_matches('*')))
                });
                if negated && !listed {
                    found.push(format!(
                        "{} denies requests unless {key} is {} (this endpoint is {endpoint_id} in {vpc_id})",
                        s.name(i),
                        values.join(" or ")
                    ));
                } else if !negated && listed {
                    found.push(format!("{} denies requests whose {key} is {ours}", s.name(i)));
                }
            }
            if key_l == "aws:sourceip" && op == "NotIpAddress" {
                found.push(format!(
                    "{} denies requests whose aws:SourceIp is not {}: requests through a VPC endpoint carry private addresses, so aws:SourceIp never matches them",
                    s.name(i),
                    values.join(" or ")
                ));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_policies_are_judged() {
        assert_eq!(endpoint_policy(None).unwrap(), EndpointPolicy::FullAccess);
        let default =
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
        assert_eq!(endpoint_policy(Some(default)).unwrap(), EndpointPolicy::FullAccess);
        let deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"NoWay","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"*"}]}"#;
        assert!(
            matches!(endpoint_policy(Some(deny)).unwrap(), EndpointPolicy::BlocksAll(w) if w.contains("\"NoWay\""))
        );
        let nothing = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"*"}]}"#;
        assert!(
            matches!(endpoint_policy(Some(nothing)).unwrap(), EndpointPolicy::BlocksAll(w) if w.contains("no statement allows"))
        );
        let some = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::logs/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}}"#;
        match endpoint_policy(Some(some)).unwrap() {
            EndpointPolicy::Restricts(lines) => {
                assert!(lines[0].contains("s3:GetObject on arn:aws:s3:::logs/*"), "{lines:?}");
                assert!(lines[0].contains("StringEquals aws:PrincipalOrgID o-1"), "{lines:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(endpoint_policy(Some("{")).is_err());
        assert!(endpoint_policy(Some("{}")).is_err());
    }

    #[test]
    fn bucket_policies_that_refuse_the_endpoint_are_found() {
        let only_other = r#"{"Statement":[{"Sid":"OnlyVpce","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-other"}}}]}"#;
        let found = bucket_policy_blocks(only_other, "vpce-1", "vpc-1").unwrap();
        assert!(found[0].contains("\"OnlyVpce\"") && found[0].contains("vpce-other"), "{found:?}");
        let only_ours = only_other.replace("vpce-other", "vpce-1");
        assert!(bucket_policy_blocks(&only_ours, "vpce-1", "vpc-1").unwrap().is_empty());
        let deny_ours = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:sourceVpce":["vpce-1"]}}}]}"#;
        assert!(bucket_policy_blocks(deny_ours, "vpce-1", "vpc-1").unwrap()[0].contains("statement 1"));
        let vpc = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-9"}}}]}"#;
        assert_eq!(bucket_policy_blocks(vpc, "vpce-1", "vpc-1").unwrap().len(), 1);
        let ip = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}}]}"#;
        assert!(bucket_policy_blocks(ip, "vpce-1", "vpc-1").unwrap()[0].contains("private addresses"));
        let like = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotLike":{"aws:SourceVpce":"vpce-*"}}}]}"#;
        assert!(bucket_policy_blocks(like, "vpce-1", "vpc-1").unwrap().is_empty());
        let allow = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert!(bucket_policy_blocks(allow, "vpce-1", "vpc-1").unwrap().is_empty());
    }
}
