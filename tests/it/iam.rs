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

/// Every AWS operation the source calls through its SDK clients, split
/// into what `doctor` (src/doctor) calls and what the operator calls.
fn called_operations() -> (BTreeSet<String>, BTreeSet<String>) {
    let call = regex::Regex::new(r"\.(ec2|elbv2|sns|cloudtrail|s3|rds)\s*\.\s*([a-z0-9_]+)\(\)").unwrap();
    let (mut operator, mut doctor) = (BTreeSet::new(), BTreeSet::new());
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let into = if path.starts_with(root.join("doctor")) { &mut doctor } else { &mut operator };
                for m in call.captures_iter(&text).filter(|m| !["clone", "config"].contains(&&m[2])) {
                    let prefix = match &m[1] {
                        "elbv2" => "elasticloadbalancing",
                        other => other,
                    };
                    // IAM spells RDS's DB in capitals (DescribeDBProxies).
                    let action = if prefix == "rds" { pascal(&m[2]).replace("Db", "DB") } else { pascal(&m[2]) };
                    into.insert(format!("{prefix}:{action}"));
                }
            }
        }
    }
    (operator, doctor)
}

/// Operations doctor sends only as DryRun (AWS answers whether the caller
/// may, and acts on nothing): the caller's own permission is the question,
/// so the policy does not grant them.
const DRY_RUN_ONLY: &[&str] = &["ec2:DeleteSecurityGroup"];

fn granted(statements: &[Value], doctor: bool) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s["Sid"].as_str().is_some_and(|sid| sid.starts_with("Doctor")) == doctor)
        .flat_map(actions)
        .collect()
}

#[test]
fn the_policy_names_every_operation_the_code_calls_and_nothing_else() {
    let policy = policy();
    let statements = policy["Statement"].as_array().expect("statements");
    let (mut called, doctor_called) = called_operations();
    assert!(called.len() >= 25, "the scan finds the SDK calls: {called:?}");
    // spec.roleArn: the SDK's AssumeRole credentials provider calls STS.
    called.insert("sts:AssumeRole".into());
    // The InterfaceEndpoint controller reads through doctor (TrafficAllowed,
    // the groups a deletion leaves held).
    called.extend(privatelink_operator::doctor::read::OPERATOR_READS.iter().map(|a| a.to_string()));
    let operator = granted(statements, false);
    let missing: Vec<_> = called.difference(&operator).collect();
    let unused: Vec<_> = operator.difference(&called).collect();
    assert!(missing.is_empty(), "operations the operator calls that the policy does not grant: {missing:?}");
    assert!(unused.is_empty(), "actions the policy grants that the operator never calls: {unused:?}");
    assert!(operator.iter().chain(&called).all(|a| !a.contains('*')), "no wildcard actions");

    // The optional doctor statement: exactly what doctor reads, all reads.
    let doctor = granted(statements, true);
    let doctor_reads: BTreeSet<String> =
        doctor_called.iter().filter(|a| !DRY_RUN_ONLY.contains(&a.as_str())).cloned().collect();
    assert!(doctor_reads.len() >= 15, "the scan finds doctor's calls: {doctor_reads:?}");
    assert_eq!(doctor, doctor_reads, "the doctor statement grants exactly what doctor reads");
    for action in &doctor {
        let name = action.split(':').nth(1).unwrap();
        assert!(["Describe", "Get", "Lookup", "List"].iter().any(|p| name.starts_with(p)), "{action} is not a read");
    }
}

#[test]
fn doctor_sends_deletes_only_as_dry_runs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/doctor");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (at, _) in text.match_indices(".delete_") {
            let chain: String = text[at..].chars().take(200).collect();
            let chain = chain.split(".send()").next().unwrap();
            assert!(chain.contains(".dry_run(true)"), "a delete without DryRun in src/doctor: {chain}");
        }
        for verb in [".create_", ".modify_", ".accept_", ".reject_", ".authorize_", ".revoke_", ".put_", ".start_"] {
            assert!(!text.contains(verb), "src/doctor calls {verb}…: doctor only reads");
        }
    }
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
