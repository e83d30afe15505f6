//! InterfaceEndpoint end to end: the real controllers against the in-process
//! API server and the AWS simulator. The operator acts as the simulator's
//! default account (the consumer); providers are other accounts unless the
//! test says otherwise. Each test works in its own region.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::{
    TestEnv, allow_all, code, create, ec2_as, endpoint_request, load_balancer, namespaces, open_service, sim_control,
    sim_service, sim_vpc, wait_for, wait_gone,
};
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::conditions::{ACCEPTED, READY, SYNCED};
use privatelink_operator::api::{EndpointService, EndpointServiceSpec, InterfaceEndpoint, InterfaceEndpointSpec};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);
/// The simulator's default account: the operator's credentials in tests.
const OPERATOR: &str = crate::support::DEFAULT_ACCOUNT;

fn endpoint(name: &str, spec: serde_json::Value) -> InterfaceEndpoint {
    let spec: InterfaceEndpointSpec = serde_json::from_value(spec).expect("spec");
    let mut ep = InterfaceEndpoint::new(name, spec);
    ep.metadata.namespace = Some("team-b".into());
    ep
}

fn condition(ep: &InterfaceEndpoint, type_: &str) -> Option<(String, String, String)> {
    ep.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready_at(ep: &InterfaceEndpoint, generation: i64) -> bool {
    condition(ep, READY).is_some_and(|c| c.0 == "True")
        && ep.metadata.generation == Some(generation)
        && ep.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
}

fn synced_false(ep: &InterfaceEndpoint) -> Option<(String, String, String)> {
    condition(ep, SYNCED).filter(|c| c.0 == "False")
}

async fn aws_endpoint(region: &str, id: &str) -> Option<aws_sdk_ec2::types::VpcEndpoint> {
    let out = ec2_as(OPERATOR, region)
        .await
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-endpoint-id").values(id).build())
        .send()
        .await
        .expect("describe endpoints");
    out.vpc_endpoints().first().cloned()
}

async fn security_group(region: &str, vpc: &str, name: &str) -> String {
    let out = ec2_as(OPERATOR, region)
        .await
        .create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc)
        .send()
        .await
        .expect("security group");
    out.group_id().expect("group id").to_string()
}

async fn enable_vpc_dns(region: &str, vpc: &str) {
    let ec2 = ec2_as(OPERATOR, region).await;
    ec2.modify_vpc_attribute()
        .vpc_id(vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("enable DNS hostnames");
}

#[tokio::test]
async fn same_region_lifecycle_with_security_groups_policy_and_deletion() {
    let region = "ca-central-1";
    let provider = "400000000001";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(OPERATOR, region, 2).await;
    let (sg1, sg2) = (security_group(region, &vpc.id, "ep-1").await, security_group(region, &vpc.id, "ep-2").await);
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"*"}]}"#;

    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");
    let started = Instant::now();
    create(
        &api,
        &endpoint(
            "payments",
            json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets, "securityGroupIds": [sg1], "policy": policy, "tags": {"team": "checkout"}}),
        ),
    )
    .await;
    let ep = wait_for(&api, "payments", TIMEOUT, "Ready", |e| ready_at(e, 1).then(|| e.clone())).await;
    println!("apply to Ready: {:?}", started.elapsed());
    let status = ep.status.clone().expect("status");
    let id = status.vpc_endpoint_id.clone().expect("endpoint id");
    assert_eq!(status.state.as_deref(), Some("available"));
    assert_eq!(status.service_name.as_deref(), Some(name.as_str()));
    assert_eq!(status.network_interface_ids.len(), 2);
    assert!(!status.dns_entries.is_empty());
    assert_eq!(status.owner_id.as_deref(), Some(OPERATOR));
    assert_eq!(condition(&ep, ACCEPTED).map(|c| c.0), Some("True".into()));

    let aws = aws_endpoint(region, &id).await.expect("endpoint in AWS");
    let groups: BTreeSet<_> = aws.groups().iter().filter_map(|g| g.group_id()).collect();
    assert_eq!(groups, BTreeSet::from([sg1.as_str()]));
    assert!(aws.tags().iter().any(|t| t.key() == Some("privatelink.dev/uid") && t.value() == ep.uid().as_deref()));
    assert!(aws.tags().iter().any(|t| t.key() == Some("team")));

    // Security groups change as a set.
    api.patch("payments", &PatchParams::default(), &Patch::Merge(json!({"spec": {"securityGroupIds": [sg2]}})))
        .await
        .expect("patch");
    wait_for(&api, "payments", TIMEOUT, "Ready at generation 2", |e| ready_at(e, 2).then_some(())).await;
    let aws = aws_endpoint(region, &id).await.expect("endpoint");
    let groups: BTreeSet<_> = aws.groups().iter().filter_map(|g| g.group_id()).collect();
    assert_eq!(groups, BTreeSet::from([sg2.as_str()]));

    // Reformatting the policy changes nothing in AWS: a second reconcile of
    // the in-sync endpoint makes no mutating call.
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(policy).unwrap()).unwrap();
    api.patch("payments", &PatchParams::default(), &Patch::Merge(json!({"spec": {"policy": pretty}})))
        .await
        .expect("patch");
    wait_for(&api, "payments", TIMEOUT, "Ready at generation 3", |e| ready_at(e, 3).then_some(())).await;
    env.stop_controllers().await;
    let before = env.aws.counter().snapshot();
    privatelink_operator::controller::interface_endpoint::reconcile(
        std::sync::Arc::new(api.get("payments").await.expect("get")),
        env.ctx.clone(),
    )
    .await
    .expect("in-sync reconcile");
    let calls = env.aws.counter().since(&before);
    println!("in-sync reconcile: reads {:?}, mutating {:?}", calls.reads(), calls.mutating());
    assert!(calls.mutating().is_empty(), "in-sync reconcile made mutating calls: {:?}", calls.mutating());
    // At most one page of the account's endpoints (none while the shared
    // snapshot is fresh).
    for (op, n) in calls.reads() {
        assert!(op == "DescribeVpcEndpoints" && n <= 1, "in-sync reads: {:?}", calls.reads());
    }

    // The group in use cannot be deleted; once the endpoint is gone it can.
    let ec2 = ec2_as(OPERATOR, region).await;
    let err = ec2.delete_security_group().group_id(&sg2).send().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "DependencyViolation");
    env.start_interface_endpoints();
    api.delete("payments", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "payments", TIMEOUT).await;
    assert!(aws_endpoint(region, &id).await.is_none(), "AWS no longer lists the endpoint when the finalizer goes");
    ec2.delete_security_group().group_id(&sg2).send().await.expect("no DependencyViolation left behind");
}

#[tokio::test]
async fn service_ref_waits_for_acceptance_then_enables_private_dns() {
    let region = "eu-north-1";
    let nlb = load_balancer(region, "ref-svc", LoadBalancerTypeEnum::Network, 2).await;
    let vpc = sim_vpc(OPERATOR, region, 2).await;
    enable_vpc_dns(region, &vpc.id).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    let services: Api<EndpointService> = env.api("team-b");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-b");

    let started = Instant::now();
    create(&endpoints, &endpoint("via-ref", json!({"vpcId": vpc.id, "serviceRef": {"name": "api"}, "subnetIds": vpc.subnets, "privateDnsEnabled": true})))
        .await;
    let (_, reason, message) =
        wait_for(&endpoints, "via-ref", TIMEOUT, "waiting for the service", |e| condition(e, READY)).await;
    assert_eq!(reason, "ServiceNotFound", "{message}");
    assert!(message.contains("EndpointService api does not exist"), "{message}");

    let spec: EndpointServiceSpec = serde_json::from_value(
        json!({"networkLoadBalancerArns": [nlb], "acceptanceRequired": true, "allowedPrincipals": ["*"]}),
    )
    .unwrap();
    let mut svc = EndpointService::new("api", spec);
    svc.metadata.namespace = Some("team-b".into());
    create(&services, &svc).await;
    let (_, reason, message) = wait_for(&endpoints, "via-ref", TIMEOUT, "pendingAcceptance", |e| {
        condition(e, ACCEPTED).filter(|c| c.1 == "PendingAcceptance")
    })
    .await;
    assert_eq!(reason, "PendingAcceptance");
    assert!(
        message.contains(&format!("AWS account {OPERATOR} must accept")),
        "the message names who must accept: {message}"
    );
    let ep = endpoints.get("via-ref").await.expect("get");
    let status = ep.status.clone().expect("status");
    let service_name = services.get("api").await.unwrap().status.unwrap().service_name.unwrap();
    assert_eq!(status.service_name.as_deref(), Some(service_name.as_str()));
    let id = status.vpc_endpoint_id.expect("endpoint id");
    assert_eq!(
        aws_endpoint(region, &id).await.unwrap().private_dns_enabled(),
        Some(false),
        "created with private DNS off"
    );
    assert_eq!(condition(&ep, READY).map(|c| c.0), Some("False".into()));

    // The provider accepts through the SDK → Ready, and private DNS is enabled.
    let service_id = services.get("api").await.unwrap().status.unwrap().service_id.unwrap();
    ec2_as(OPERATOR, region)
        .await
        .accept_vpc_endpoint_connections()
        .service_id(&service_id)
        .vpc_endpoint_ids(&id)
        .send()
        .await
        .expect("accept");
    // Noticed at the next poll, whose period has doubled (from 200 ms here)
    // while the connection waited.
    wait_for(&endpoints, "via-ref", TIMEOUT * 2, "Ready", |e| ready_at(e, 1).then_some(())).await;
    println!("apply to Ready through acceptance: {:?}", started.elapsed());
    assert_eq!(
        aws_endpoint(region, &id).await.unwrap().private_dns_enabled(),
        Some(true),
        "private DNS enabled once accepted"
    );

    // The service's deletion waits for the endpoint that uses it.
    services.delete("api", &DeleteParams::default()).await.expect("delete service");
    let (_, reason, _) = wait_for(&services, "api", TIMEOUT, "DeletionBlocked", |s| {
        s.status.as_ref()?.conditions.iter().find(|c| c.type_ == "DeletionBlocked").map(|c| ((), c.reason.clone(), ()))
    })
    .await;
    assert_eq!(reason, "DependentsExist");
    endpoints.delete("via-ref", &DeleteParams::default()).await.expect("delete endpoint");
    wait_gone(&endpoints, "via-ref", TIMEOUT).await;
    wait_gone(&services, "api", TIMEOUT).await;
}

#[tokio::test]
async fn cross_region_endpoint_and_service_region_rules() {
    let (service_region, region) = ("us-east-2", "ap-northeast-2");
    let provider = "400000000002";
    let (svc, name) = sim_service(provider, service_region, false, 2, &[region]).await;
    allow_all(provider, service_region, &svc).await;
    let vpc = sim_vpc(OPERATOR, region, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");

    // Without serviceRegion the name does not resolve; the hint says why.
    create(&api, &endpoint("no-region", json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets}))).await;
    let (_, reason, message) = wait_for(&api, "no-region", TIMEOUT, "Synced=False", synced_false).await;
    assert_eq!(reason, "InvalidServiceName");
    assert!(message.contains(&format!("set spec.serviceRegion: {service_region}")), "{message}");

    create(
        &api,
        &endpoint(
            "remote",
            json!({"vpcId": vpc.id, "serviceName": name, "serviceRegion": service_region, "subnetIds": vpc.subnets}),
        ),
    )
    .await;
    let ep = wait_for(&api, "remote", TIMEOUT, "Ready", |e| ready_at(e, 1).then(|| e.clone())).await;
    let status = ep.status.expect("status");
    assert_eq!(status.service_region.as_deref(), Some(service_region));
    let aws = aws_endpoint(region, status.vpc_endpoint_id.as_deref().unwrap()).await.expect("endpoint");
    assert_eq!(aws.service_region(), Some(service_region));

    // serviceRegion cannot change after creation: refused at apply.
    let err = api
        .patch("remote", &PatchParams::default(), &Patch::Merge(json!({"spec": {"serviceRegion": "eu-west-1"}})))
        .await
        .expect_err("immutable");
    let kube::Error::Api(status) = err else { panic!("{err:?}") };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("serviceRegion is immutable"), "{}", status.message);
}

#[tokio::test]
async fn adoption_retain_and_requester_managed_endpoints() {
    let region = "sa-east-1";
    let provider = "400000000003";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(OPERATOR, region, 1).await;
    let existing = endpoint_request(&ec2_as(OPERATOR, region).await, &vpc, &name)
        .send()
        .await
        .expect("endpoint made outside the operator");
    let existing = existing.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let firewall = format!("arn:aws:network-firewall:{region}:{OPERATOR}:firewall/edge");
    let managed = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": OPERATOR, "region": region, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
                    "serviceName": name, "tags": {"AWSNetworkFirewallManaged": "true", "Firewall": firewall}})),
    )
    .await;
    let managed = managed["VpcEndpointId"].as_str().unwrap().to_string();

    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-b-*"])).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");
    let spec = |id: &str, retain: bool| {
        json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": [vpc.subnets[0]], "vpcEndpointId": id,
               "deletionPolicy": if retain { "Retain" } else { "Delete" }})
    };
    create(&api, &endpoint("adopted", spec(&existing, true))).await;
    create(&api, &endpoint("firewall", spec(&managed, false))).await;
    let adopted = wait_for(&api, "adopted", TIMEOUT, "Ready", |e| ready_at(e, 1).then(|| e.clone())).await;
    assert_eq!(adopted.status.and_then(|s| s.vpc_endpoint_id).as_deref(), Some(existing.as_str()));
    let fw = wait_for(&api, "firewall", TIMEOUT, "Ready", |e| ready_at(e, 1).then(|| e.clone())).await;
    let (_, reason, message) = condition(&fw, SYNCED).expect("Synced");
    assert_eq!(reason, "RequesterManaged");
    assert!(message.contains("AWS Network Firewall") && message.contains("only reports"), "{message}");
    assert!(fw.status.expect("status").requester_managed);
    let managed_tags = aws_endpoint(region, &managed).await.expect("endpoint").tags().to_vec();
    assert!(
        managed_tags.iter().all(|t| !t.key().unwrap_or_default().starts_with("privatelink.dev/")),
        "a requester-managed endpoint is never tagged: {managed_tags:?}"
    );

    // Retain leaves the adopted endpoint in AWS.
    api.delete("adopted", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "adopted", TIMEOUT).await;
    assert!(aws_endpoint(region, &existing).await.is_some(), "Retain leaves the endpoint");

    // A requester-managed endpoint is never deleted: the finalizer goes, an
    // Event names Network Firewall, and AWS keeps the endpoint.
    api.delete("firewall", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "firewall", TIMEOUT).await;
    assert!(aws_endpoint(region, &managed).await.is_some(), "requester-managed endpoint left in AWS");
    let events = env.events("team-b").await;
    let warning = events
        .iter()
        .find(|e| e["reason"] == json!("RequesterManaged"))
        .unwrap_or_else(|| panic!("an Event explains the requester-managed endpoint: {events:#?}"));
    let note = warning["note"].as_str().unwrap_or_default();
    assert!(note.contains("AWS Network Firewall") && note.contains("firewall/edge"), "{note}");
}

#[tokio::test]
async fn diagnostics_name_the_cause_and_the_fix() {
    let region = "eu-south-1";
    let provider = "400000000004";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(OPERATOR, region, 3).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");

    // Private DNS in a VPC without DNS hostnames.
    create(
        &api,
        &endpoint(
            "dns-off",
            json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": [vpc.subnets[0]], "privateDnsEnabled": true}),
        ),
    )
    .await;
    let (_, reason, message) = wait_for(&api, "dns-off", TIMEOUT, "Synced=False", synced_false).await;
    assert_eq!(reason, "VpcDnsDisabled");
    assert!(message.contains("enableDnsHostnames") && message.contains("privateDnsEnabled: false"), "{message}");

    // A subnet in an Availability Zone the service does not serve (the NLB is in a and b).
    create(&api, &endpoint("zone-c", json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": [vpc.subnets[2]]})))
        .await;
    let (_, reason, message) = wait_for(&api, "zone-c", TIMEOUT, "Synced=False", synced_false).await;
    assert_eq!(reason, "SubnetZoneNotServed");
    assert!(message.contains(&vpc.subnets[2]) && message.contains("does not serve"), "{message}");

    // A service name that does not exist.
    let missing = format!("com.amazonaws.vpce.{region}.vpce-svc-00000000000000000");
    create(&api, &endpoint("missing", json!({"vpcId": vpc.id, "serviceName": missing, "subnetIds": [vpc.subnets[0]]})))
        .await;
    let (_, reason, message) = wait_for(&api, "missing", TIMEOUT, "Synced=False", synced_false).await;
    assert_eq!(reason, "InvalidServiceName");
    assert!(message.contains("does not exist") && message.contains("allowedPrincipals"), "{message}");
    let listed = ec2_as(OPERATOR, region).await.describe_vpc_endpoints().send().await.unwrap();
    assert!(listed.vpc_endpoints().is_empty(), "nothing was created");
}
