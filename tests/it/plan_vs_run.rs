//! `plan --live` and `run` are one pipeline: for every example, against the
//! same simulator state (the load balancer, VPCs, topic the examples name,
//! made real), the AWS changes `plan --live` lists are the mutating calls
//! `run` then makes, action for action — what follows a creation included;
//! only the decisions that wait for consumers' endpoints (which the
//! examples' ids never create) wait in both.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::AttributeBooleanValue;
use privatelink_operator::api::conditions::READY;
use privatelink_operator::api::{EndpointConnection, EndpointService, InterfaceEndpoint};

use crate::support::{DEFAULT_ACCOUNT, TestEnv, create, wait_for};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Where the examples' provider lives, and the consumers' other region.
const REGION: &str = "ap-south-2";
const REMOTE: &str = "ap-southeast-3";

/// A VPC with DNS support and hostnames (as private DNS needs) and a
/// security group: (vpc, subnets, group).
async fn network(region: &str) -> (String, Vec<String>, String) {
    let vpc = crate::support::sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    let ec2 = crate::support::ec2_as(DEFAULT_ACCOUNT, region).await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc.id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("hostnames");
    let sg = ec2.create_security_group().group_name("clients").description("clients").vpc_id(&vpc.id).send().await;
    (vpc.id, vpc.subnets, sg.expect("group").group_id().expect("id").to_string())
}

/// The examples' files, with the names and ids they use replaced by this
/// test's: its namespaces, regions, load balancer, topic, VPCs.
fn rewrite(text: &str, names: &BTreeMap<&str, String>) -> String {
    names.iter().fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

/// `plan --live -o json` on these documents: each AWS change as
/// (kind, AWS action, waits for the consumer).
fn planned(dir: &std::path::Path, file: &str, text: &str) -> Vec<(String, String, bool)> {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write");
    let out = crate::plan_cli::plan_live_output_with(&path, REGION, &["-o", "json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("{file}: {stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("plan JSON");
    let mut changes = Vec::new();
    for object in json["objects"].as_array().expect("objects") {
        for change in object["changes"].as_array().expect("changes") {
            changes.push((
                object["kind"].as_str().unwrap().to_string(),
                change["action"].as_str().unwrap().to_string(),
                change["later"].as_bool().unwrap_or(false),
            ));
        }
    }
    changes
}

/// What `run` must do of a plan: every change but the decisions that wait
/// for an endpoint to ask to connect.
fn carried_out(changes: &[(String, String, bool)]) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for (kind, action, later) in changes {
        if !(kind == "EndpointConnection" && *later) {
            *calls.entry(action.clone()).or_insert(0) += 1;
        }
    }
    calls
}

/// Apply the documents of `text` to the API server.
async fn apply(env: &TestEnv, text: &str) {
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("YAML");
        let ns = value["metadata"]["namespace"].as_str().expect("namespace").to_string();
        match value["kind"].as_str() {
            Some("EndpointService") => {
                let obj: EndpointService = serde_json::from_value(value).unwrap();
                create(&kube::Api::namespaced(env.client.clone(), &ns), &obj).await;
            }
            Some("EndpointConnection") => {
                let obj: EndpointConnection = serde_json::from_value(value).unwrap();
                create(&kube::Api::namespaced(env.client.clone(), &ns), &obj).await;
            }
            Some("InterfaceEndpoint") => {
                let obj: InterfaceEndpoint = serde_json::from_value(value).unwrap();
                create(&kube::Api::namespaced(env.client.clone(), &ns), &obj).await;
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
}

fn ready_reason(conditions: &[privatelink_operator::api::Condition]) -> Option<String> {
    conditions.iter().find(|c| c.type_ == READY).map(|c| c.reason.clone())
}

#[tokio::test]
async fn plan_live_lists_the_calls_run_makes_for_every_example() {
    crate::support::init_logs();
    let mut env = TestEnv::new(REGION).await;
    let (provider, consumer) = (env.ns("team-a"), env.ns("team-b"));
    let nlb = crate::support::load_balancer(
        REGION,
        &format!("examples-{}", env.id),
        aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network,
        2,
    )
    .await;
    let topic = crate::support::notification_topic(DEFAULT_ACCOUNT, REGION, &format!("examples-{}", env.id)).await;
    let (inside_vpc, inside_subnets, inside_sg) = network(REGION).await;
    let (remote_vpc, remote_subnets, remote_sg) = network(REMOTE).await;
    let mut names = BTreeMap::from([
        ("namespace: payments", format!("namespace: {provider}")),
        ("namespace: checkout", format!("namespace: {consumer}")),
        (
            "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/payments-api/50dc6c495c0c9188",
            nlb.clone(),
        ),
        ("arn:aws:sns:us-east-1:111122223333:payments-api-connections", topic),
        // The consumer account of the cross-region endpoint is the operator's own.
        ("arn:aws:iam::777788889999:role/platform-networking", format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")),
        ("vpc-0f1e2d3c4b5a69788", inside_vpc),
        ("subnet-0f1e2d3c4b5a69701", inside_subnets[0].clone()),
        ("subnet-0f1e2d3c4b5a69702", inside_subnets[1].clone()),
        ("sg-0f1e2d3c4b5a69703", inside_sg),
        ("vpc-0a1b2c3d4e5f60718", remote_vpc),
        ("subnet-0a1b2c3d4e5f60711", remote_subnets[0].clone()),
        ("subnet-0a1b2c3d4e5f60722", remote_subnets[1].clone()),
        ("sg-0a1b2c3d4e5f60733", remote_sg),
        ("us-east-1", REGION.to_string()),
        ("us-west-2", REMOTE.to_string()),
    ]);
    let example = |file: &str| std::fs::read_to_string(format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR")));
    let dir = std::env::temp_dir().join(format!("plo-plan-vs-run-{}", env.id));
    std::fs::create_dir_all(&dir).unwrap();

    // The provider, its decisions and its in-cluster consumer: planned, then run.
    let provider_docs = ["provider-service.yaml", "acceptance.yaml", "consumer-in-cluster.yaml"]
        .map(|f| rewrite(&example(f).expect("example"), &names))
        .join("\n---\n");
    let plan = planned(&dir, "provider.yaml", &provider_docs);
    let before = env.aws.counter().snapshot();
    env.start_endpoint_services();
    env.start_endpoint_connections();
    env.start_interface_endpoints();
    apply(&env, &provider_docs).await;
    let services: kube::Api<EndpointService> = env.api("team-a");
    let status = wait_for(&services, "payments-api", TIMEOUT, "Available, notifications and verification done", |s| {
        let st = s.status.as_ref()?;
        let verified = st.private_dns_name_configuration.as_ref()?.verification_started_at.is_some();
        (ready_reason(&st.conditions).as_deref() == Some("Available") && !st.notification_ids.is_empty() && verified)
            .then(|| st.clone())
    })
    .await;
    let endpoints: kube::Api<InterfaceEndpoint> = env.api("team-a");
    wait_for(&endpoints, "payments-api-internal", TIMEOUT, "created", |e| e.status.as_ref()?.vpc_endpoint_id.clone())
        .await;
    let connections: kube::Api<EndpointConnection> = env.api("team-a");
    for name in [format!("checkout-{REMOTE}"), "unknown-consumer".to_string()] {
        wait_for(&connections, &name, TIMEOUT, "waiting for its endpoint", |c| {
            let reason = ready_reason(&c.status.as_ref()?.conditions)?;
            (reason == "WaitingForEndpoint").then_some(())
        })
        .await;
    }
    let ran = env.aws.counter().since(&before).mutating();
    assert_eq!(carried_out(&plan), ran, "plan --live listed {plan:?}; run made {ran:?}");

    // The cross-region consumer of the service now in AWS: planned, then run.
    names.insert("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0", status.service_name.clone().unwrap());
    let consumer_docs = rewrite(&example("consumer-endpoint.yaml").expect("example"), &names);
    let plan = planned(&dir, "consumer.yaml", &consumer_docs);
    let before = env.aws.counter().snapshot();
    apply(&env, &consumer_docs).await;
    let remote: kube::Api<InterfaceEndpoint> = env.api("team-b");
    wait_for(&remote, "payments-api", TIMEOUT, "created", |e| e.status.as_ref()?.vpc_endpoint_id.clone()).await;
    let ran = env.aws.counter().since(&before).mutating();
    assert_eq!(carried_out(&plan), ran, "plan --live listed {plan:?}; run made {ran:?}");
    assert!(ran.get("CreateVpcEndpoint") == Some(&1), "the consumer's endpoint: {ran:?}");
    env.stop_controllers().await;
    let _ = std::fs::remove_dir_all(&dir);
}
