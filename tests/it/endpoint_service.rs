//! EndpointService end to end: the real controller against the in-process
//! API server and the AWS simulator, with AWS state read back through the SDK.
//! Each test works in its own region so tests share one simulator safely.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::{TestEnv, create, load_balancer, namespaces, sdk, wait_for, wait_gone};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::conditions::{READY, SYNCED};
use privatelink_operator::api::{EndpointService, EndpointServiceSpec};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn service(name: &str, spec: serde_json::Value) -> EndpointService {
    let spec: EndpointServiceSpec = serde_json::from_value(spec).expect("spec");
    let mut svc = EndpointService::new(name, spec);
    svc.metadata.namespace = Some("team-a".into());
    svc
}

fn condition(svc: &EndpointService, type_: &str) -> Option<(String, String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn is_ready(svc: &EndpointService) -> bool {
    condition(svc, READY).is_some_and(|(s, _, _)| s == "True")
        && svc.status.as_ref().and_then(|s| s.observed_generation) == svc.metadata.generation
}

async fn describe(region: &str, id: &str) -> Option<aws_sdk_ec2::types::ServiceConfiguration> {
    let aws = sdk(region).await;
    match aws.ec2.describe_vpc_endpoint_service_configurations().service_ids(id).send().await {
        Ok(out) => out.service_configurations().first().cloned(),
        Err(_) => None,
    }
}

async fn principals(region: &str, id: &str) -> BTreeSet<String> {
    sdk(region).await.allowed_principals(id).await.expect("permissions")
}

/// The services of `region` the objects of namespace `ns` own (the
/// account also holds services the operator did not create).
async fn services_of(region: &str, ns: &str) -> Vec<privatelink_operator::plan::facts::ObservedService> {
    let all = sdk(region).await.describe_services(&[]).await.expect("list");
    let ours = |s: &privatelink_operator::plan::facts::ObservedService| {
        s.tags.get(privatelink_operator::plan::tags::OWNER_NAMESPACE).map(String::as_str) == Some(ns)
    };
    all.into_iter().filter(ours).collect()
}

#[tokio::test]
async fn create_update_in_sync_and_delete() {
    let region = "eu-west-1";
    let nlb = load_balancer(region, "svc-lifecycle", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");

    // Create → Ready, with AWS holding what the spec says.
    create(
        &api,
        &service(
            "payments",
            json!({
                "networkLoadBalancerArns": [nlb],
                "allowedPrincipals": ["arn:aws:iam::444455556666:root"],
                "supportedRegions": ["us-west-2"],
                "tags": {"team": "payments"}
            }),
        ),
    )
    .await;
    let svc = wait_for(&api, "payments", TIMEOUT, "Ready", |s| is_ready(s).then(|| s.clone())).await;
    let status = svc.status.clone().expect("status");
    let id = status.service_id.clone().expect("service id in status");
    assert_eq!(status.service_name.as_deref(), Some(format!("com.amazonaws.vpce.{region}.{id}").as_str()));
    assert_eq!(status.service_state.as_deref(), Some("Available"));
    assert_eq!(status.allowed_principals, vec!["arn:aws:iam::444455556666:root".to_string()]);
    assert!(status.supported_regions.iter().any(|r| r.region == "us-west-2"), "{status:?}");
    assert_eq!(status.availability_zones.len(), 2, "{status:?}");
    assert!(!status.base_endpoint_dns_names.is_empty());
    assert_eq!(condition(&svc, SYNCED).map(|c| c.0), Some("True".into()));
    assert!(svc.finalizers().iter().any(|f| f == "privatelink.dev/cleanup"));

    let config = describe(region, &id).await.expect("service exists in AWS");
    assert_eq!(config.acceptance_required(), Some(true));
    assert_eq!(config.network_load_balancer_arns(), std::slice::from_ref(&nlb));
    let tags: BTreeMap<_, _> = config
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or("").to_string(), t.value().unwrap_or("").to_string()))
        .collect();
    assert_eq!(tags.get("privatelink.dev/uid"), svc.uid().as_ref());
    assert_eq!(tags.get("privatelink.dev/managed-by").map(String::as_str), Some("privatelink-operator"));
    assert_eq!(tags.get("team").map(String::as_str), Some("payments"));
    assert_eq!(principals(region, &id).await, BTreeSet::from(["arn:aws:iam::444455556666:root".to_string()]));

    // Change principals, regions and acceptance → AWS updated.
    api.patch(
        "payments",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {
            "acceptanceRequired": false,
            "allowedPrincipals": ["arn:aws:iam::777788889999:role/consumer", "arn:aws:iam::444455556666:root"],
            "supportedRegions": ["eu-central-1"]
        }})),
    )
    .await
    .expect("patch spec");
    let svc = wait_for(&api, "payments", TIMEOUT, "Ready at generation 2", |s| {
        (is_ready(s) && s.metadata.generation == Some(2)).then(|| s.clone())
    })
    .await;
    let config = describe(region, &id).await.expect("service exists");
    assert_eq!(config.acceptance_required(), Some(false));
    let regions: BTreeSet<_> = config.supported_regions().iter().filter_map(|r| r.region()).collect();
    assert!(regions.contains("eu-central-1") && !regions.contains("us-west-2"), "{regions:?}");
    assert_eq!(
        principals(region, &id).await,
        BTreeSet::from([
            "arn:aws:iam::444455556666:root".to_string(),
            "arn:aws:iam::777788889999:role/consumer".to_string()
        ])
    );
    assert_eq!(svc.status.as_ref().map(|s| s.allowed_principals.len()), Some(2));

    // A second reconcile of the in-sync object makes no mutating call.
    env.stop_controllers().await;
    let before = env.aws.counter().snapshot();
    let action = privatelink_operator::controller::endpoint_service::reconcile(
        std::sync::Arc::new(api.get("payments").await.expect("get")),
        env.ctx.clone(),
    )
    .await
    .expect("in-sync reconcile succeeds");
    let calls = env.aws.counter().since(&before);
    println!("in-sync reconcile: reads {:?}, mutating {:?}, next {action:?}", calls.reads(), calls.mutating());
    assert!(calls.mutating().is_empty(), "in-sync reconcile made mutating calls: {:?}", calls.mutating());
    // Reads come from the account's shared snapshots (fresh here, so none
    // is read again) plus the service's permissions, which AWS reads only
    // per service.
    let allowed = [
        "DescribeLoadBalancers",
        "DescribeVpcEndpointConnectionNotifications",
        "DescribeVpcEndpointConnections",
        "DescribeVpcEndpointServiceConfigurations",
        "DescribeVpcEndpointServicePermissions",
    ];
    for (op, n) in calls.reads() {
        assert!(allowed.contains(&op.as_str()) && n <= 1, "in-sync reads: {:?}", calls.reads());
    }
    assert_eq!(calls.reads().get("DescribeVpcEndpointServicePermissions"), Some(&1));
    assert_eq!(calls.calls, calls.attempts, "no retries: {calls:?}");

    // Delete → gone from AWS, finalizer removed, object gone.
    env.start_endpoint_services();
    api.delete("payments", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "payments", TIMEOUT).await;
    assert!(describe(region, &id).await.is_none(), "service {id} still exists in AWS after deletion");
}

#[tokio::test]
async fn adopt_existing_service_and_retain_it() {
    let region = "eu-west-2";
    let nlb = load_balancer(region, "svc-adopt", LoadBalancerTypeEnum::Network, 2).await;
    let aws = sdk(region).await;
    let existing = aws
        .ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&nlb)
        .acceptance_required(true)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::VpcEndpointService)
                .tags(Tag::builder().key("owner").value("legacy-terraform").build())
                .build(),
        )
        .send()
        .await
        .expect("create service outside the operator");
    let id = existing.service_configuration().and_then(|s| s.service_id()).expect("id").to_string();

    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-a-*"])).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(
        &api,
        &service(
            "adopted",
            json!({"serviceId": id, "networkLoadBalancerArns": [nlb], "acceptanceRequired": true,
                   "allowedPrincipals": ["*"], "deletionPolicy": "Retain"}),
        ),
    )
    .await;
    let svc = wait_for(&api, "adopted", TIMEOUT, "Ready", |s| is_ready(s).then(|| s.clone())).await;
    let status = svc.status.expect("status");
    assert_eq!(status.service_id.as_deref(), Some(id.as_str()));
    assert!(status.adopted);
    let config = describe(region, &id).await.expect("still there");
    let keys: BTreeSet<_> = config.tags().iter().filter_map(|t| t.key()).collect();
    assert!(keys.contains("owner"), "tags set by others on an adopted service are kept: {keys:?}");
    assert!(keys.contains("privatelink.dev/uid"), "adopted service is marked as managed: {keys:?}");
    assert_eq!(principals(region, &id).await, BTreeSet::from(["*".to_string()]));
    let count_before = aws.describe_services(&[]).await.expect("list").len();

    // Retain: deleting the object leaves AWS as it was.
    api.delete("adopted", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "adopted", TIMEOUT).await;
    assert!(describe(region, &id).await.is_some(), "Retain must leave the service in AWS");
    assert_eq!(aws.describe_services(&[]).await.expect("list").len(), count_before, "no service was created");
}

#[tokio::test]
async fn missing_load_balancer_is_a_clear_condition() {
    let region = "eu-west-3";
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    let arn = format!("arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/net/missing/0123456789abcdef");
    create(&api, &service("broken", json!({"networkLoadBalancerArns": [arn]}))).await;
    let (status, reason, message) =
        wait_for(&api, "broken", TIMEOUT, "Synced=False", |s| condition(s, SYNCED).filter(|c| c.0 == "False")).await;
    assert_eq!(status, "False");
    assert_eq!(reason, "LoadBalancerCheckFailed");
    assert!(message.contains(&arn) && message.contains("does not exist"), "{message}");
    assert!(message.contains("check the ARN"), "the message names the fix: {message}");
    let svc = api.get("broken").await.expect("get");
    assert_eq!(condition(&svc, READY).map(|c| c.0), Some("False".into()));
    assert!(services_of(region, &env.ns("team-a")).await.is_empty(), "nothing was created");

    // Deleting an object that never created anything just removes it.
    api.delete("broken", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "broken", TIMEOUT).await;
}

#[tokio::test]
async fn wrong_load_balancer_type_and_single_zone_cross_region_are_refused() {
    let region = "eu-central-1";
    let one_zone = load_balancer(region, "one-zone", LoadBalancerTypeEnum::Network, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(
        &api,
        &service("one-zone", json!({"networkLoadBalancerArns": [one_zone], "supportedRegions": ["us-east-1"]})),
    )
    .await;
    let (_, reason, message) =
        wait_for(&api, "one-zone", TIMEOUT, "Synced=False", |s| condition(s, SYNCED).filter(|c| c.0 == "False")).await;
    assert_eq!(reason, "LoadBalancerCheckFailed");
    assert!(message.contains("Services must support at least 2 availability zones for cross region"), "{message}");
    assert!(services_of(region, &env.ns("team-a")).await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn role_outside_the_allow_list_is_refused() {
    let region = "ap-south-1";
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    let arn = format!("arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/net/x/0123456789abcdef");
    create(
        &api,
        &service(
            "other-account",
            json!({"networkLoadBalancerArns": [arn], "roleArn": "arn:aws:iam::999988887777:role/provider"}),
        ),
    )
    .await;
    let (_, reason, message) =
        wait_for(&api, "other-account", TIMEOUT, "Synced=False", |s| condition(s, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "RoleNotAllowed");
    assert!(message.contains("--allowed-role"), "{message}");
}

#[tokio::test]
async fn schema_refuses_bad_input_at_apply_time() {
    let env = TestEnv::new("us-east-1").await;
    let api: Api<EndpointService> = env.api("team-a");
    let mut bad = service("bad", json!({"networkLoadBalancerArns": ["not-an-arn"]}));
    bad.metadata.namespace = None;
    let err = api.create(&Default::default(), &bad).await.expect_err("schema refuses");
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("spec.networkLoadBalancerArns[0]"), "{}", status.message);
}

#[tokio::test]
async fn deletion_refused_by_aws_shows_deletion_blocked_and_is_retried() {
    let region = "us-west-1";
    let consumer = "300000000001";
    let nlb = load_balancer(region, "svc-blocked", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(
        &api,
        &service(
            "blocked",
            json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [format!("arn:aws:iam::{consumer}:root")]}),
        ),
    )
    .await;
    let svc = wait_for(&api, "blocked", TIMEOUT, "Ready", |s| is_ready(s).then(|| s.clone())).await;
    let status = svc.status.expect("status");
    let (id, name) = (status.service_id.expect("id"), status.service_name.expect("name"));

    // A consumer in another account connects; the request waits for acceptance.
    let vpc = crate::support::sim_vpc(consumer, region, 1).await;
    let endpoint = crate::support::endpoint_request(&crate::support::ec2_as(consumer, region).await, &vpc, &name)
        .send()
        .await
        .expect("consumer endpoint");
    let endpoint_id = endpoint.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).expect("endpoint id").to_string();

    // The operator's role may not delete the service (an SCP, say): the
    // connection is rejected first, then AWS refuses the deletion.
    let deny = json!({"account": crate::support::DEFAULT_ACCOUNT, "region": region, "rules": [
        {"action": "DeleteVpcEndpointServiceConfigurations", "errorRate": 1.0, "errorCode": "UnauthorizedOperation"}]});
    crate::support::sim_control("PUT", "/_sim/faults", Some(deny)).await;
    api.delete("blocked", &DeleteParams::default()).await.expect("delete");
    let (status, reason, message) = wait_for(&api, "blocked", TIMEOUT, "DeletionBlocked", |s| {
        condition(s, privatelink_operator::api::conditions::DELETION_BLOCKED)
    })
    .await;
    assert_eq!(status, "True");
    assert_eq!(reason, "UnauthorizedOperation");
    assert!(message.contains("DeleteVpcEndpointServiceConfigurations"), "AWS's words are kept: {message}");
    assert!(message.contains("grant the operator's IAM role"), "the fix is named: {message}");
    assert!(message.contains("privatelink.dev/release=true"), "and the way to let go: {message}");
    assert!(describe(region, &id).await.is_some(), "the service stays while AWS refuses");
    let consumer_view = crate::support::ec2_as(consumer, region)
        .await
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint_id)
        .send()
        .await
        .expect("describe");
    assert_eq!(consumer_view.vpc_endpoints()[0].state().map(|s| s.as_str()), Some("rejected"));

    // Once the permission is back, the retried deletion goes through.
    crate::support::sim_control(
        "DELETE",
        &format!("/_sim/faults?account={}&region={region}", crate::support::DEFAULT_ACCOUNT),
        None,
    )
    .await;
    wait_gone(&api, "blocked", TIMEOUT).await;
    assert!(describe(region, &id).await.is_none(), "service deleted once AWS allowed it");
}

#[tokio::test]
async fn throttled_calls_are_retried_until_the_service_is_ready() {
    let region = "ap-northeast-3";
    let nlb = load_balancer(region, "svc-throttled", LoadBalancerTypeEnum::Network, 2).await;
    // Half of every EC2 call in this region answers RequestLimitExceeded (HTTP 503).
    crate::support::sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"region": region, "rules": [{"action": "*", "errorRate": 0.5, "errorCode": "RequestLimitExceeded"}]})),
    )
    .await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(
        &api,
        &service(
            "throttled",
            json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": ["arn:aws:iam::444455556666:root"]}),
        ),
    )
    .await;
    let started = std::time::Instant::now();
    let ready = wait_for(&api, "throttled", Duration::from_secs(60), "Ready despite throttling", |s| {
        is_ready(s).then(|| s.clone())
    })
    .await;
    println!("Ready under throttling after {:?}", started.elapsed());
    crate::support::sim_control("DELETE", &format!("/_sim/faults?region={region}"), None).await;
    let calls = env.aws.counter().snapshot();
    assert!(calls.retries() > 0, "the SDK retried throttled calls: {calls:?}");
    let log = crate::support::sim_control("GET", &format!("/_sim/calls?region={region}"), None).await;
    let throttled =
        log["calls"].as_array().unwrap().iter().filter(|c| c["error"] == json!("RequestLimitExceeded")).count();
    assert!(throttled > 0, "the simulator throttled some calls");
    let id = ready.status.and_then(|s| s.service_id).expect("service id");
    let services = services_of(region, &env.ns("team-a")).await;
    assert_eq!(services.len(), 1, "retries made exactly one service, not duplicates");
    assert_eq!(services[0].id, id);
}
