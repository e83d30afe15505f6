//! The IAM policies the chart ships (charts/privatelink-operator/files/):
//! the operator's names every AWS operation the code calls, and nothing
//! else; the doctor's every read doctor makes; every create and every change
//! to what exists is conditioned on the session's namespace and cluster
//! (attribute-based access control); the tenant roles' is the operator's
//! without the AssumeRole statement. How they hold against a session that
//! bypasses the operator's guard: tests/it/abac.rs.

use std::collections::BTreeSet;

use serde_json::Value;

/// A policy file of the chart (`iam-policy.json`, `iam-policy-doctor.json`…).
pub fn policy_file(name: &str) -> Value {
    let path = format!("{}/charts/privatelink-operator/files/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("policy")).expect("JSON")
}

fn policy() -> Value {
    policy_file("iam-policy.json")
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
/// into what `doctor` calls (its reads: src/doctor, src/aws/facts.rs, and
/// the operator's readers it shares) and what the operator calls.
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
                let doctors = path.starts_with(root.join("doctor")) || path == root.join("aws/facts.rs");
                let into = if doctors { &mut doctor } else { &mut operator };
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
    doctor.extend(privatelink_operator::aws::facts::SHARED_READS.iter().map(|a| a.to_string()));
    (operator, doctor)
}

/// Operations doctor sends only as DryRun (AWS answers whether the caller
/// may, and acts on nothing): the caller's own permission is the question,
/// so the policy does not grant them.
const DRY_RUN_ONLY: &[&str] = &["ec2:DeleteSecurityGroup"];

fn granted(statements: &[Value]) -> BTreeSet<String> {
    statements.iter().flat_map(actions).collect()
}

#[test]
fn the_policy_names_every_operation_the_code_calls_and_nothing_else() {
    let policy = policy();
    let statements = policy["Statement"].as_array().expect("statements");
    let (mut called, doctor_called) = called_operations();
    assert!(called.len() >= 25, "the scan finds the SDK calls: {called:?}");
    // spec.roleArn: the SDK's AssumeRole credentials provider calls STS.
    called.insert("sts:AssumeRole".into());
    // --session-role: the same provider tags the session.
    called.insert("sts:TagSession".into());
    // The InterfaceEndpoint controller reads through doctor (TrafficAllowed,
    // the groups a deletion leaves held).
    called.extend(privatelink_operator::aws::facts::OPERATOR_READS.iter().map(|a| a.to_string()));
    let operator = granted(statements);
    let missing: Vec<_> = called.difference(&operator).collect();
    let unused: Vec<_> = operator.difference(&called).collect();
    assert!(missing.is_empty(), "operations the operator calls that the policy does not grant: {missing:?}");
    assert!(unused.is_empty(), "actions the policy grants that the operator never calls: {unused:?}");
    assert!(operator.iter().chain(&called).all(|a| !a.contains('*')), "no wildcard actions");

    // The doctor's policy (its own file): exactly what doctor reads, all reads.
    let doctor_policy = policy_file("iam-policy-doctor.json");
    let doctor = granted(doctor_policy["Statement"].as_array().expect("statements"));
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

/// The keys the session tags set, which every create and change compares
/// with the request's and the resource's tags.
const SESSION_KEYS: [&str; 2] = ["privatelink.dev/namespace", "privatelink.dev/cluster"];

fn principal(key: &str) -> String {
    format!("${{aws:PrincipalTag/{key}}}")
}

#[test]
fn creates_and_changes_are_held_to_the_session_namespace_and_cluster() {
    for file in ["iam-policy.json", "iam-policy-tenant.json", "iam-policy-adoption.json"] {
        let policy = policy_file(file);
        for statement in policy["Statement"].as_array().unwrap() {
            let sid = statement["Sid"].as_str().unwrap_or_default();
            let writes: Vec<String> =
                actions(statement).into_iter().filter(|a| a.starts_with("ec2:") && !a.contains(":Describe")).collect();
            let on_endpoints = statement["Resource"].to_string().contains("vpc-endpoint");
            if writes.is_empty() || !on_endpoints {
                continue;
            }
            let condition = &statement["Condition"];
            let equals = &condition["StringEquals"];
            for key in SESSION_KEYS {
                let request = equals[format!("aws:RequestTag/{key}")].as_str();
                let resource = equals[format!("aws:ResourceTag/{key}")].as_str();
                let held = request == Some(principal(key).as_str()) || resource == Some(principal(key).as_str());
                // A statement for resources without the key (legacy tags,
                // adoption) must set it to the session's value.
                let unset = condition["Null"][format!("aws:ResourceTag/{key}")].as_str() == Some("true")
                    && request == Some(principal(key).as_str());
                assert!(held || unset, "{file} {sid}: {writes:?} not held to the session's {key}: {condition}");
            }
        }
        for statement in policy["Statement"].as_array().unwrap() {
            for resource in
                statement["Resource"].as_array().cloned().unwrap_or_else(|| vec![statement["Resource"].clone()])
            {
                let resource = resource.as_str().unwrap();
                assert!(resource == "*" || resource.starts_with("arn:*:"), "{file}: ARN {resource} names a partition");
            }
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
            .collect();
        if changes.is_empty() {
            continue;
        }
        let condition = statement["Condition"]["StringEquals"]["aws:ResourceTag/privatelink.dev/managed-by"].as_str();
        assert_eq!(condition, Some("privatelink-operator"), "{changes:?} must be conditioned on the ownership tag");
    }
}

#[test]
fn tenant_roles_get_the_operators_policy_without_assuming_roles() {
    let operator = policy();
    let tenant = policy_file("iam-policy-tenant.json");
    let expected: Vec<&Value> = operator["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !actions(s).iter().any(|a| a.starts_with("sts:")))
        .collect();
    let tenant: Vec<&Value> = tenant["Statement"].as_array().unwrap().iter().collect();
    assert_eq!(tenant, expected, "iam-policy-tenant.json is iam-policy.json without its sts statement");
    // Adoption (tagging a resource no one owns) is only in its own, optional file.
    for statement in operator["Statement"].as_array().unwrap() {
        assert!(
            statement["Condition"]["Null"]["aws:ResourceTag/privatelink.dev/managed-by"].is_null(),
            "iam-policy.json must not let a session tag resources without an owner: {statement}"
        );
    }
}
