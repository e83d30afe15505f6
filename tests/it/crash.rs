//! Crash points: the operator dies right after each kind of mutating AWS
//! call of a full lifecycle — an EndpointService with permissions,
//! notifications and private DNS, an InterfaceEndpoint to it, the
//! EndpointConnection that accepts it; then changes to each; then their
//! deletion — and starts again with nothing in memory. The simulator carries
//! each call out and holds its answer (`crashAfter`), so the operator never
//! learns the result; the test then drops the controllers and their clients
//! and starts new ones. AWS must end with exactly what the specs ask for: no
//! duplicate, nothing leaked, and each finalizer gone only once AWS no
//! longer lists the resource.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::{
    EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec, InterfaceEndpoint,
    InterfaceEndpointSpec,
};
use privatelink_operator::plan::tags::OWNER_UID;
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, InSync, TestEnv, create, ec2_as, load_balancer, notification_topic, sim_control, sim_vpc,
    tagged_resources,
};

const REGION: &str = "sa-east-1";

/// Every mutating EC2 action the operator makes for the three kinds.
const MUTATING: &[&str] = &[
    "CreateVpcEndpointServiceConfiguration",
    "ModifyVpcEndpointServiceConfiguration",
    "ModifyVpcEndpointServicePermissions",
    "CreateVpcEndpointConnectionNotification",
    "ModifyVpcEndpointConnectionNotification",
    "DeleteVpcEndpointConnectionNotifications",
    "StartVpcEndpointServicePrivateDnsVerification",
    "AcceptVpcEndpointConnections",
    "RejectVpcEndpointConnections",
    "DeleteVpcEndpointServiceConfigurations",
    "CreateVpcEndpoint",
    "ModifyVpcEndpoint",
    "DeleteVpcEndpoints",
    "CreateTags",
    "DeleteTags",
];

/// The lifecycle's progress, kept across crashes.
struct Crashes {
    seen: usize,
    actions: Vec<String>,
}

async fn calls() -> Vec<Value> {
    let log = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={REGION}"), None).await;
    log["calls"].as_array().cloned().unwrap_or_default()
}

fn start(env: &mut TestEnv) {
    env.start_endpoint_services();
    env.start_endpoint_connections();
    env.start_interface_endpoints();
}

/// Let the controllers work until `done` holds, crashing the operator each
/// time the simulator reports a held call and starting it again.
async fn converge<F, Fut>(env: &mut TestEnv, crashes: &mut Crashes, what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let crashed: Vec<String> = calls()
            .await
            .iter()
            .filter(|c| c["crashed"] == json!(true))
            .filter_map(|c| c["action"].as_str().map(str::to_string))
            .collect();
        if crashed.len() > crashes.seen {
            for action in &crashed[crashes.seen..] {
                println!("crash after {action} ({what}): the operator stops and starts again");
                crashes.actions.push(action.clone());
            }
            crashes.seen = crashed.len();
            env.crash().await;
            start(env);
            continue;
        }
        if done().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not reached within 120 s (crashes so far: {:?})", crashes.actions);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// AWS resources of the account and region that carry `uid` as owner.
async fn owned(uid: &str) -> (Vec<String>, Vec<String>) {
    let (services, endpoints) = tagged_resources(DEFAULT_ACCOUNT, REGION, OWNER_UID, uid).await;
    let ids = |v: Vec<(String, String)>| v.into_iter().map(|(_, id)| id).collect();
    (ids(services), ids(endpoints))
}

async fn notifications(service_id: &str) -> usize {
    ec2_as(DEFAULT_ACCOUNT, REGION)
        .await
        .describe_vpc_endpoint_connection_notifications()
        .filters(aws_sdk_ec2::types::Filter::builder().name("service-id").values(service_id).build())
        .send()
        .await
        .expect("notifications")
        .connection_notification_set()
        .len()
}

#[tokio::test]
async fn a_crash_after_every_mutating_call_leaves_no_duplicate_and_no_leak() {
    let nlb = load_balancer(REGION, "crash", LoadBalancerTypeEnum::Network, 2).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, REGION, 2).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, REGION).await;
    let mut groups = Vec::new();
    for name in ["crash-a", "crash-b"] {
        let g = ec2.create_security_group().group_name(name).description(name).vpc_id(&vpc.id).send().await;
        groups.push(g.expect("group").group_id().expect("id").to_string());
    }
    let topic = notification_topic(DEFAULT_ACCOUNT, REGION, "crash").await;
    // From here on every mutating call of the account in this region is the
    // operator's: the first of each kind is carried out and never answered.
    let rules: Vec<Value> =
        MUTATING.iter().map(|a| json!({"action": a, "crashAfter": true, "holdSeconds": 5})).collect();
    sim_control("PUT", "/_sim/faults", Some(json!({"account": DEFAULT_ACCOUNT, "region": REGION, "rules": rules})))
        .await;

    let mut env = TestEnv::new(REGION).await;
    let mut crashes = Crashes { seen: 0, actions: Vec::new() };
    start(&mut env);
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let conns: Api<EndpointConnection> = env.api("team-a");
    let root = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root");

    // Create: the service (permissions, a notification, private DNS, tags)
    // and an endpoint to it, which waits for acceptance.
    let spec: EndpointServiceSpec = serde_json::from_value(json!({
        "networkLoadBalancerArns": [nlb], "allowedPrincipals": [root],
        "notifications": [{"snsTopicArn": topic, "events": ["Connect", "Accept"]}],
        "privateDnsName": "api.crash.example.com", "tags": {"team": "a"}
    }))
    .expect("spec");
    let svc = create(&services, &EndpointService::new("api", spec)).await;
    let spec: InterfaceEndpointSpec = serde_json::from_value(json!({
        "vpcId": vpc.id, "serviceRef": {"name": "api"}, "subnetIds": vpc.subnets, "securityGroupIds": [groups[0]],
        "tags": {"team": "a"}
    }))
    .expect("spec");
    let ep = create(&endpoints, &InterfaceEndpoint::new("client", spec)).await;
    let endpoint_id = || async {
        endpoints.get("client").await.ok().and_then(|e| e.status?.vpc_endpoint_id).filter(|id| !id.is_empty())
    };
    converge(&mut env, &mut crashes, "endpoint created", || async { endpoint_id().await.is_some() }).await;
    let vpce = endpoint_id().await.expect("endpoint id");

    // Accept it.
    let spec: EndpointConnectionSpec =
        serde_json::from_value(json!({"serviceRef": {"name": "api"}, "vpcEndpointId": vpce, "decision": "Accept"}))
            .expect("spec");
    let conn = create(&conns, &EndpointConnection::new("accept", spec)).await;
    let all_ready = || async {
        let (Ok(s), Ok(e), Ok(c)) =
            (services.get("api").await, endpoints.get("client").await, conns.get("accept").await)
        else {
            return false;
        };
        s.in_sync() && e.in_sync() && c.in_sync()
    };
    converge(&mut env, &mut crashes, "all accepted and in sync", all_ready).await;
    let (svc_ids, _) = owned(&svc.uid().expect("uid")).await;
    let (_, ep_ids) = owned(&ep.uid().expect("uid")).await;
    let duplicates = svc_ids.len().saturating_sub(1) + ep_ids.len().saturating_sub(1);
    assert_eq!(svc_ids.len(), 1, "one service for the EndpointService: {svc_ids:?}");
    let service_id = svc_ids[0].clone();
    assert_eq!(ep_ids, vec![vpce.clone()], "one endpoint for the InterfaceEndpoint");
    assert_eq!(notifications(&service_id).await, 1, "one notification for the one topic");

    // Change each: tags and principals of the service, the endpoint's groups.
    let patch = json!({"spec": {
        "tags": {"team": null, "owner": "b"}, "allowedPrincipals": [root, "arn:aws:iam::600000000077:root"],
        "notifications": [{"snsTopicArn": topic, "events": ["Connect", "Accept", "Reject"]}],
        "privateDnsName": "api2.crash.example.com"
    }});
    services.patch("api", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch service");
    let patch = json!({"spec": {"securityGroupIds": [groups[0], groups[1]], "tags": {"team": null, "owner": "b"}}});
    endpoints.patch("client", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch endpoint");
    converge(&mut env, &mut crashes, "changes applied", all_ready).await;
    let seen = ec2.describe_vpc_endpoints().vpc_endpoint_ids(&vpce).send().await.expect("describe");
    let groups_now: BTreeSet<String> =
        seen.vpc_endpoints()[0].groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
    assert_eq!(groups_now, groups.iter().cloned().collect::<BTreeSet<_>>());
    let permissions =
        ec2.describe_vpc_endpoint_service_permissions().service_id(&service_id).send().await.expect("permissions");
    assert_eq!(permissions.allowed_principals().len(), 2);
    let config =
        ec2.describe_vpc_endpoint_service_configurations().service_ids(&service_id).send().await.expect("service");
    let config = &config.service_configurations()[0];
    assert_eq!(config.private_dns_name(), Some("api2.crash.example.com"));
    let tags: Vec<_> = config.tags().iter().filter_map(|t| t.key()).filter(|k| !k.starts_with("privatelink")).collect();
    assert_eq!(tags, ["owner"], "the removed tag is gone, the new one there");
    assert_eq!(notifications(&service_id).await, 1, "the notification changed in place");

    // Delete all three: AWS goes in order, each finalizer only once AWS
    // no longer lists what it held.
    conns.delete("accept", &DeleteParams::default()).await.expect("delete");
    endpoints.delete("client", &DeleteParams::default()).await.expect("delete");
    services.delete("api", &DeleteParams::default()).await.expect("delete");
    // Each time an object is seen gone, AWS must already have let go of
    // what it held: its finalizer went only after AWS confirmed.
    let (svc_uid, ep_uid) = (svc.uid().expect("uid"), ep.uid().expect("uid"));
    let gone = || async {
        let (s, e, c) =
            (services.get_opt("api").await, endpoints.get_opt("client").await, conns.get_opt("accept").await);
        if matches!(e, Ok(None)) {
            assert!(owned(&ep_uid).await.1.is_empty(), "the endpoint's finalizer went before AWS deleted it");
        }
        if matches!(s, Ok(None)) {
            assert!(owned(&svc_uid).await.0.is_empty(), "the service's finalizer went before AWS deleted it");
        }
        matches!((s, e, c), (Ok(None), Ok(None), Ok(None)))
    };
    converge(&mut env, &mut crashes, "all deleted", gone).await;
    let (svc_ids, _) = owned(&svc.uid().expect("uid")).await;
    let (_, ep_ids) = owned(&ep.uid().expect("uid")).await;
    let leaks = svc_ids.len() + ep_ids.len() + notifications(&service_id).await;
    assert!(svc_ids.is_empty() && ep_ids.is_empty(), "nothing leaked: {svc_ids:?} {ep_ids:?}");
    assert_eq!(notifications(&service_id).await, 0, "the notification went with the service");
    let _ = conn;
    sim_control("DELETE", &format!("/_sim/faults?account={DEFAULT_ACCOUNT}&region={REGION}"), None).await;

    // Every kind of mutating call the lifecycle made crashed the operator once.
    let made: BTreeSet<String> = calls()
        .await
        .iter()
        .filter(|c| c["status"].as_u64().is_some_and(|s| s < 300))
        .filter_map(|c| c["action"].as_str().map(str::to_string))
        .filter(|a| MUTATING.contains(&a.as_str()))
        .collect();
    let crashed: BTreeSet<String> = crashes.actions.iter().cloned().collect();
    assert_eq!(crashed, made, "a crash after each kind of mutating call");
    for expected in [
        "CreateVpcEndpointServiceConfiguration",
        "ModifyVpcEndpointServicePermissions",
        "CreateVpcEndpointConnectionNotification",
        "StartVpcEndpointServicePrivateDnsVerification",
        "CreateVpcEndpoint",
        "AcceptVpcEndpointConnections",
        "ModifyVpcEndpoint",
        "CreateTags",
        "DeleteTags",
        "ModifyVpcEndpointServiceConfiguration",
        "ModifyVpcEndpointConnectionNotification",
        "RejectVpcEndpointConnections",
        "DeleteVpcEndpoints",
        "DeleteVpcEndpointConnectionNotifications",
        "DeleteVpcEndpointServiceConfigurations",
    ] {
        assert!(crashed.contains(expected), "the lifecycle crashed after {expected}: {crashed:?}");
    }
    let creates = |action: &str| {
        let action = action.to_string();
        async move { calls().await.iter().filter(|c| c["action"] == json!(action) && c["status"] == json!(200)).count() }
    };
    println!(
        "reliability-figures: crash_points={} duplicates={duplicates} leaks={leaks} (creates answered: services {}, endpoints {}; crashed after {:?})",
        crashes.actions.len(),
        creates("CreateVpcEndpointServiceConfiguration").await,
        creates("CreateVpcEndpoint").await,
        crashes.actions
    );
}
