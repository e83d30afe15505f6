//! The IAM policy the chart ships (charts/privatelink-operator/files/
//! iam-policy.json) names every AWS operation the code calls, and nothing
//! else; changes to what already exists are conditioned on the ownership tag.

use std::collections::BTreeSet;

use serde_json::Value;

fn policy() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/privatelink-operator/files/iam-policy.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("policy")).expect("JSON")
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(items) => items.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// `describe_vpc_endpoints` → `DescribeVpcEndpoints`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Every AWS operation the source calls through its SDK clients.
fn called_operations() -> BTreeSet<String> {
    let call = regex::Regex::new(r"\.(ec2|elbv2|sns)\s*\.\s*([a-z0-9_]+)\(\)").unwrap();
    let mut found = BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for m in call.captures_iter(&text) {
                    let prefix = match &m[1] {
                        "ec2" => "ec2",
                        "elbv2" => "elasticloadbalancing",
                        _ => "sns",
                    };
                    found.insert(format!("{prefix}:{}", pascal(&m[2])));
                }
            }
        }
    }
    found
}

#[test]
fn the_policy_names_every_operation_the_code_calls_and_nothing_else() {
    let policy = policy();
    let statements = policy["Statement"].as_array().expect("statements");
    let granted: BTreeSet<String> = statements.iter().flat_map(actions).collect();
    let mut called = called_operations();
    assert!(called.len() >= 25, "the scan finds the SDK calls: {called:?}");
    // spec.roleArn: the SDK's AssumeRole credentials provider calls STS.
    called.insert("sts:AssumeRole".into());
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(missing.is_empty(), "operations the code calls that the policy does not grant: {missing:?}");
    assert!(unused.is_empty(), "actions the policy grants that the code never calls: {unused:?}");
    assert!(granted.iter().all(|a| !a.contains('*')), "no wildcard actions");
}

#[test]
fn changes_to_existing_resources_need_the_ownership_tag() {
    let policy = policy();
    for statement in policy["Statement"].as_array().unwrap() {
        let changes: Vec<String> = actions(statement)
            .into_iter()
            .filter(|a| ["Modify", "Delete", "Accept", "Reject", "Start"].iter().any(|p| a.contains(&format!(":{p}"))))
            .filter(|a| !a.contains("ConnectionNotification"))
            .collect();
        if changes.is_empty() {
            continue;
        }
        let condition = statement["Condition"]["StringEquals"]["aws:ResourceTag/privatelink.dev/managed-by"].as_str();
        assert_eq!(condition, Some("privatelink-operator"), "{changes:?} must be conditioned on the ownership tag");
    }
}
