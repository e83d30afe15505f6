//! The AWS simulator's own tests, through the AWS SDK for Rust (what the
//! operator uses): each pins an AWS behaviour moto 5.2.5 lacks and the
//! extension in tests/aws-sim adds. Tests act as their own accounts, so they
//! share one simulator.

use std::time::{Duration, Instant};

use crate::support::{
    code, ec2_as, elbv2_as, endpoint_request, sim_control, sim_load_balancer, sim_service as service, sim_vpc as vpc,
};
use aws_sdk_ec2::types::{DnsOptionsSpecification, DnsRecordIpType, Filter, IpAddressType, ServiceConnectivityType};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use serde_json::json;

const REGION: &str = "us-east-1";

async fn allow(provider: &str, service_id: &str, principal: &str) {
    ec2_as(provider, REGION)
        .await
        .modify_vpc_endpoint_service_permissions()
        .service_id(service_id)
        .add_allowed_principals(principal)
        .send()
        .await
        .unwrap();
}

/// A consumer endpoint; returns its id and state.
async fn endpoint(consumer: &str, region: &str, service_name: &str, service_region: Option<&str>) -> (String, String) {
    let net = vpc(consumer, region, 1).await;
    let out = endpoint_request(&ec2_as(consumer, region).await, &net, service_name)
        .set_service_region(service_region.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create endpoint to {service_name}: {:?}", e.into_service_error()));
    let ep = out.vpc_endpoint().unwrap();
    (ep.vpc_endpoint_id().unwrap().to_string(), ep.state().unwrap().as_str().to_string())
}

async fn endpoint_state(consumer: &str, id: &str) -> String {
    let out = ec2_as(consumer, REGION)
        .await
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-endpoint-id").values(id).build())
        .send()
        .await
        .unwrap();
    out.vpc_endpoints()[0].state().unwrap().as_str().to_string()
}

#[tokio::test]
async fn connections_follow_acceptance_with_filters_and_paging() {
    let (provider, consumer) = ("200000000001", "200000000002");
    let (svc, name) = service(provider, REGION, true, 2, &[]).await;
    allow(provider, &svc, &format!("arn:aws:iam::{consumer}:root")).await;
    let (ep1, state) = endpoint(consumer, REGION, &name, None).await;
    assert_eq!(state, "pendingAcceptance");
    let (ep2, _) = endpoint(consumer, REGION, &name, None).await;

    let ec2 = ec2_as(provider, REGION).await;
    let by = |n: &str, v: &str| Filter::builder().name(n).values(v).build();
    let all = ec2.describe_vpc_endpoint_connections().filters(by("service-id", &svc)).send().await.unwrap();
    assert_eq!(all.vpc_endpoint_connections().len(), 2);
    let c = &all.vpc_endpoint_connections()[0];
    assert_eq!(c.vpc_endpoint_owner(), Some(consumer));
    assert_eq!(c.vpc_endpoint_region(), Some(REGION));
    let one = ec2.describe_vpc_endpoint_connections().filters(by("vpc-endpoint-id", &ep2)).send().await.unwrap();
    assert_eq!(one.vpc_endpoint_connections().len(), 1);
    let page1 =
        ec2.describe_vpc_endpoint_connections().filters(by("service-id", &svc)).max_results(1).send().await.unwrap();
    assert_eq!(page1.vpc_endpoint_connections().len(), 1);
    let token = page1.next_token().expect("a second page").to_string();
    let page2 = ec2
        .describe_vpc_endpoint_connections()
        .filters(by("service-id", &svc))
        .max_results(1)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(page2.vpc_endpoint_connections().len(), 1);
    assert!(page2.next_token().is_none());
    let owner =
        ec2.describe_vpc_endpoint_connections().filters(by("vpc-endpoint-owner", "999999999999")).send().await.unwrap();
    assert!(owner.vpc_endpoint_connections().is_empty());

    let accepted = ec2
        .accept_vpc_endpoint_connections()
        .service_id(&svc)
        .vpc_endpoint_ids(&ep1)
        .vpc_endpoint_ids("vpce-0000000000000000a")
        .send()
        .await
        .unwrap();
    let failed = accepted.unsuccessful();
    assert_eq!(failed.len(), 1, "unknown endpoints come back per item: {failed:?}");
    assert_eq!(failed[0].resource_id(), Some("vpce-0000000000000000a"));
    assert_eq!(endpoint_state(consumer, &ep1).await, "available");
    let pending = ec2
        .describe_vpc_endpoint_connections()
        .filters(by("vpc-endpoint-state", "pendingAcceptance"))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.vpc_endpoint_connections().len(), 1);

    // An available connection can be rejected.
    let rejected = ec2.reject_vpc_endpoint_connections().service_id(&svc).vpc_endpoint_ids(&ep1).send().await.unwrap();
    assert!(rejected.unsuccessful().is_empty());
    assert_eq!(endpoint_state(consumer, &ep1).await, "rejected");
}

#[tokio::test]
async fn without_acceptance_connections_are_available_at_once() {
    let (provider, consumer) = ("200000000003", "200000000004");
    let (svc, name) = service(provider, REGION, false, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let (_, state) = endpoint(consumer, REGION, &name, None).await;
    assert_eq!(state, "available");
}

#[tokio::test]
async fn consumers_need_permission() {
    let (provider, consumer) = ("200000000005", "200000000006");
    let (svc, name) = service(provider, REGION, true, 2, &[]).await;
    let net = vpc(consumer, REGION, 1).await;
    let err =
        endpoint_request(&ec2_as(consumer, REGION).await, &net, &name).send().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "InvalidServiceName");
    let consumer_ec2 = ec2_as(consumer, REGION).await;
    let hidden = consumer_ec2.describe_vpc_endpoint_services().service_names(&name).send().await.unwrap_err();
    assert_eq!(
        code(&hidden.into_service_error()),
        "InvalidServiceName",
        "a service the consumer may not use is not found by name"
    );
    allow(provider, &svc, &format!("arn:aws:iam::{consumer}:root")).await;
    let found = consumer_ec2.describe_vpc_endpoint_services().service_names(&name).send().await.unwrap();
    assert_eq!(found.service_names(), std::slice::from_ref(&name));
    endpoint(consumer, REGION, &name, None).await;
}

#[tokio::test]
async fn gateway_load_balancer_arns_name_their_type() {
    let account = "200000000022";
    let arn = sim_load_balancer(account, REGION, "gwlb", LoadBalancerTypeEnum::Gateway, 2).await;
    assert!(arn.contains(":loadbalancer/gwy/gwlb/"), "{arn}");
    let described =
        elbv2_as(account, REGION).await.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(described.load_balancers().len(), 1, "the load balancer is found under its corrected ARN");
}

#[tokio::test]
async fn endpoint_notifications_and_call_log_reset() {
    let (provider, consumer) = ("200000000023", "200000000024");
    let (svc, name) = service(provider, REGION, true, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let (ep, _) = endpoint(consumer, REGION, &name, None).await;
    let ec2 = ec2_as(consumer, REGION).await;
    let topic = format!("arn:aws:sns:{REGION}:{consumer}:endpoint-events");
    let created = ec2
        .create_vpc_endpoint_connection_notification()
        .vpc_endpoint_id(&ep)
        .connection_notification_arn(&topic)
        .connection_events("Accept")
        .connection_events("Reject")
        .send()
        .await
        .unwrap();
    let id = created.connection_notification().unwrap().connection_notification_id().unwrap().to_string();
    assert_eq!(created.connection_notification().unwrap().vpc_endpoint_id(), Some(ep.as_str()));
    ec2_as(provider, REGION)
        .await
        .reject_vpc_endpoint_connections()
        .service_id(&svc)
        .vpc_endpoint_ids(&ep)
        .send()
        .await
        .unwrap();
    let published = sim_control("GET", "/_sim/notifications", None).await;
    let events: Vec<_> = published["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["notificationId"] == json!(id))
        .map(|p| p["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["Reject"], "an endpoint's notification reports its own events, as configured");

    sim_control("DELETE", &format!("/_sim/calls?account={consumer}"), None).await;
    ec2.describe_vpcs().send().await.unwrap();
    let calls = sim_control("GET", &format!("/_sim/calls?account={consumer}"), None).await;
    assert_eq!(calls["calls"].as_array().unwrap().len(), 1, "the log starts again after a reset: {calls}");
}

#[tokio::test]
async fn deleting_a_service_with_connections_is_refused_until_they_are_rejected() {
    let (provider, consumer) = ("200000000007", "200000000008");
    let (svc, name) = service(provider, REGION, true, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let (ep, _) = endpoint(consumer, REGION, &name, None).await;
    let ec2 = ec2_as(provider, REGION).await;
    let out = ec2.delete_vpc_endpoint_service_configurations().service_ids(&svc).send().await.unwrap();
    let error = out.unsuccessful()[0].error().unwrap();
    assert_eq!(error.code(), Some("ExistingVpcEndpointConnections"));
    assert!(error.message().unwrap().contains("existing active VPC Endpoint connections"));
    ec2.reject_vpc_endpoint_connections().service_id(&svc).vpc_endpoint_ids(&ep).send().await.unwrap();
    let out = ec2.delete_vpc_endpoint_service_configurations().service_ids(&svc).send().await.unwrap();
    assert!(out.unsuccessful().is_empty(), "{:?}", out.unsuccessful());
    let err = ec2
        .describe_vpc_endpoint_service_configurations()
        .service_ids(&svc)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidVpcEndpointServiceId.NotFound");
}

#[tokio::test]
async fn connection_notifications_are_validated_and_recorded() {
    let (provider, consumer) = ("200000000009", "200000000010");
    let (svc, name) = service(provider, REGION, true, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let ec2 = ec2_as(provider, REGION).await;
    let topic = format!("arn:aws:sns:{REGION}:{provider}:privatelink-events");
    let bad_event = ec2
        .create_vpc_endpoint_connection_notification()
        .service_id(&svc)
        .connection_notification_arn(&topic)
        .connection_events("Explode")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&bad_event), "InvalidParameterValue");
    let bad_arn = ec2
        .create_vpc_endpoint_connection_notification()
        .service_id(&svc)
        .connection_notification_arn("not-an-arn")
        .connection_events("Connect")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&bad_arn), "InvalidParameterValue");
    let created = ec2
        .create_vpc_endpoint_connection_notification()
        .service_id(&svc)
        .connection_notification_arn(&topic)
        .connection_events("Connect")
        .send()
        .await
        .unwrap();
    let id = created.connection_notification().unwrap().connection_notification_id().unwrap().to_string();
    assert!(id.starts_with("vpce-nfn-"));
    ec2.modify_vpc_endpoint_connection_notification()
        .connection_notification_id(&id)
        .connection_events("Connect")
        .connection_events("Accept")
        .send()
        .await
        .unwrap();
    let described =
        ec2.describe_vpc_endpoint_connection_notifications().connection_notification_id(&id).send().await.unwrap();
    let n = &described.connection_notification_set()[0];
    assert_eq!(n.connection_events(), ["Connect".to_string(), "Accept".to_string()]);
    assert_eq!(n.service_id(), Some(svc.as_str()));

    let (ep, _) = endpoint(consumer, REGION, &name, None).await;
    ec2.accept_vpc_endpoint_connections().service_id(&svc).vpc_endpoint_ids(&ep).send().await.unwrap();
    let published = sim_control("GET", "/_sim/notifications", None).await;
    let events: Vec<String> = published["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["notificationId"] == json!(id))
        .map(|p| p["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["Connect", "Accept"]);

    let deleted =
        ec2.delete_vpc_endpoint_connection_notifications().connection_notification_ids(&id).send().await.unwrap();
    assert!(deleted.unsuccessful().is_empty());
    let again =
        ec2.delete_vpc_endpoint_connection_notifications().connection_notification_ids(&id).send().await.unwrap();
    assert_eq!(again.unsuccessful().len(), 1);
}

#[tokio::test]
async fn private_dns_name_waits_for_verification() {
    let provider = "200000000011";
    let (svc, _) = service(provider, REGION, true, 2, &[]).await;
    let ec2 = ec2_as(provider, REGION).await;
    ec2.modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .private_dns_name("api.example.com")
        .send()
        .await
        .unwrap();
    let read = |ec2: aws_sdk_ec2::Client, svc: String| async move {
        let out = ec2.describe_vpc_endpoint_service_configurations().service_ids(svc).send().await.unwrap();
        out.service_configurations()[0].private_dns_name_configuration().cloned().unwrap()
    };
    let config = read(ec2.clone(), svc.clone()).await;
    assert_eq!(config.state().map(|s| s.as_str()), Some("pendingVerification"));
    assert_eq!(config.r#type(), Some("TXT"));
    assert!(config.name().unwrap().starts_with('_') && config.value().unwrap().starts_with("vpce:"));
    ec2.start_vpc_endpoint_service_private_dns_verification().service_id(&svc).send().await.unwrap();
    sim_control("POST", "/_sim/private-dns", Some(json!({"serviceId": svc, "state": "verified"}))).await;
    assert_eq!(read(ec2.clone(), svc.clone()).await.state().map(|s| s.as_str()), Some("verified"));
}

#[tokio::test]
async fn security_group_in_use_by_an_endpoint_cannot_be_deleted() {
    let (provider, consumer) = ("200000000012", "200000000013");
    let (svc, name) = service(provider, REGION, false, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let net = vpc(consumer, REGION, 1).await;
    let ec2 = ec2_as(consumer, REGION).await;
    let sg = ec2
        .create_security_group()
        .group_name("endpoint")
        .description("endpoint")
        .vpc_id(&net.id)
        .send()
        .await
        .unwrap();
    let sg = sg.group_id().unwrap().to_string();
    let ep = endpoint_request(&ec2, &net, &name).security_group_ids(&sg).send().await.unwrap();
    let ep = ep.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let err = ec2.delete_security_group().group_id(&sg).send().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "DependencyViolation");
    assert!(
        err.to_string().contains("has a dependent object") || format!("{err:?}").contains("has a dependent object")
    );
    let out = ec2.delete_vpc_endpoints().vpc_endpoint_ids(&ep).send().await.unwrap();
    assert!(out.unsuccessful().is_empty());
    let listed = ec2.describe_vpc_endpoints().send().await.unwrap();
    assert!(
        listed.vpc_endpoints().iter().all(|e| e.vpc_endpoint_id() != Some(ep.as_str())),
        "deleted endpoints leave the listing"
    );
    ec2.delete_security_group().group_id(&sg).send().await.expect("the group is free once the endpoint is gone");
}

#[tokio::test]
async fn requester_managed_endpoints_cannot_be_deleted() {
    let account = "200000000014";
    let net = vpc(account, REGION, 1).await;
    let firewall = format!("arn:aws:network-firewall:{REGION}:{account}:firewall/edge");
    let created = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": net.id, "subnetIds": net.subnets,
                    "serviceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0f0e0d0c0b0a09080",
                    "tags": {"AWSNetworkFirewallManaged": "true", "Firewall": firewall}})),
    )
    .await;
    let id = created["VpcEndpointId"].as_str().unwrap().to_string();
    let ec2 = ec2_as(account, REGION).await;
    let described = ec2.describe_vpc_endpoints().vpc_endpoint_ids(&id).send().await.unwrap();
    let ep = &described.vpc_endpoints()[0];
    assert_eq!(ep.requester_managed(), Some(true));
    assert!(ep.tags().iter().any(|t| t.key() == Some("AWSNetworkFirewallManaged")));
    let out = ec2.delete_vpc_endpoints().vpc_endpoint_ids(&id).send().await.unwrap();
    let error = out.unsuccessful()[0].error().unwrap();
    assert!(
        error.message().unwrap().contains("Operation is not allowed for requester-managed VPC endpoints"),
        "{error:?}"
    );
    assert_eq!(ec2.describe_vpc_endpoints().vpc_endpoint_ids(&id).send().await.unwrap().vpc_endpoints().len(), 1);
    // Nor modified, nor tagged.
    let err = ec2.modify_vpc_endpoint().vpc_endpoint_id(&id).private_dns_enabled(true).send().await.unwrap_err();
    assert!(format!("{:?}", err.into_service_error()).contains("requester-managed"));
    let tag = aws_sdk_ec2::types::Tag::builder().key("k").value("v").build();
    let err = ec2.create_tags().resources(&id).tags(tag.clone()).send().await.unwrap_err();
    assert!(format!("{:?}", err.into_service_error()).contains("requester-managed"));
    let err = ec2.delete_tags().resources(&id).tags(tag).send().await.unwrap_err();
    assert!(format!("{:?}", err.into_service_error()).contains("requester-managed"));
}

#[tokio::test]
async fn cross_region_rules() {
    let (provider, consumer) = ("200000000015", "200000000016");
    let (svc, name) = service(provider, REGION, false, 2, &["us-west-2"]).await;
    allow(provider, &svc, "*").await;
    // From a supported region with ServiceRegion: works, and ServiceRegion is kept.
    let (ep, _) = endpoint(consumer, "us-west-2", &name, Some(REGION)).await;
    let described =
        ec2_as(consumer, "us-west-2").await.describe_vpc_endpoints().vpc_endpoint_ids(&ep).send().await.unwrap();
    assert_eq!(described.vpc_endpoints()[0].service_region(), Some(REGION));
    let try_create = |region: &'static str, service: String, service_region: Option<&'static str>| async move {
        let net = vpc(consumer, region, 1).await;
        endpoint_request(&ec2_as(consumer, region).await, &net, &service)
            .set_service_region(service_region.map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e.into_service_error()))
    };
    // Without ServiceRegion the name does not validate in another region.
    assert_eq!(try_create("us-west-2", name.clone(), None).await, Err("InvalidServiceName".into()));
    // From a region the service does not support.
    assert_eq!(try_create("eu-west-1", name.clone(), Some(REGION)).await, Err("InvalidServiceName".into()));
    // AWS services: only those AWS made cross-region capable (S3 yes, SQS no).
    assert_eq!(try_create("us-west-2", "com.amazonaws.us-east-1.s3".into(), Some(REGION)).await, Ok(()));
    assert_eq!(
        try_create("us-west-2", "com.amazonaws.us-east-1.sqs".into(), Some(REGION)).await,
        Err("InvalidServiceName".into())
    );
    // Unknown names.
    assert_eq!(
        try_create("us-west-2", "com.amazonaws.vpce.us-west-2.vpce-svc-00000000000000000".into(), None).await,
        Err("InvalidServiceName".into())
    );
    // A cross-region service needs its load balancer in at least 2 AZs.
    let one_az = sim_load_balancer(provider, "eu-west-2", "one-az", LoadBalancerTypeEnum::Network, 1).await;
    let err = ec2_as(provider, "eu-west-2")
        .await
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(one_az)
        .supported_regions("eu-central-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        format!("{err:?}").contains("Services must support at least 2 availability zones for cross region"),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_tokens_are_idempotent() {
    let (provider, consumer) = ("200000000017", "200000000018");
    let (svc, name) = service(provider, REGION, false, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let net = vpc(consumer, REGION, 1).await;
    let ec2 = ec2_as(consumer, REGION).await;
    let create = |private_dns: bool| {
        endpoint_request(&ec2, &net, &name).private_dns_enabled(private_dns).client_token("token-1").send()
    };
    let first = create(false).await.unwrap().vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let second = create(false).await.unwrap().vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    assert_eq!(first, second, "same token and parameters return the same endpoint");
    let err = create(true).await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "IdempotentParameterMismatch");
    // After the endpoint is deleted, the token still answers with it (deleted): re-creating needs a new token.
    ec2.delete_vpc_endpoints().vpc_endpoint_ids(&first).send().await.unwrap();
    let replay = create(false).await.unwrap();
    let replay = replay.vpc_endpoint().unwrap();
    assert_eq!(replay.vpc_endpoint_id(), Some(first.as_str()));
    assert_eq!(replay.state().map(|s| s.as_str()), Some("deleted"));

    // The same holds for endpoint service configurations.
    let ec2p = ec2_as(provider, REGION).await;
    let nlb = ec2p.describe_vpc_endpoint_service_configurations().service_ids(&svc).send().await.unwrap();
    let nlb = nlb.service_configurations()[0].network_load_balancer_arns()[0].clone();
    let create_service = |acceptance: bool| {
        ec2p.create_vpc_endpoint_service_configuration()
            .network_load_balancer_arns(&nlb)
            .acceptance_required(acceptance)
            .client_token("service-token-1")
            .send()
    };
    let first = create_service(true).await.unwrap().service_configuration().unwrap().service_id().unwrap().to_string();
    let second = create_service(true).await.unwrap().service_configuration().unwrap().service_id().unwrap().to_string();
    assert_eq!(first, second);
    let err = create_service(false).await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "IdempotentParameterMismatch");
    ec2p.delete_vpc_endpoint_service_configurations().service_ids(&first).send().await.unwrap();
    let replay = create_service(true).await.unwrap();
    let replay = replay.service_configuration().unwrap();
    assert_eq!(replay.service_id(), Some(first.as_str()), "a reused token answers with the deleted service");
    assert_eq!(replay.service_state().map(|s| s.as_str()), Some("Deleted"));
}

#[tokio::test]
async fn load_balancers_cannot_be_removed_while_endpoints_are_connected() {
    let (provider, consumer) = ("200000000031", "200000000032");
    let (svc, name) = service(provider, REGION, false, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let ec2p = ec2_as(provider, REGION).await;
    let config = ec2p.describe_vpc_endpoint_service_configurations().service_ids(&svc).send().await.unwrap();
    let nlb = config.service_configurations()[0].network_load_balancer_arns()[0].clone();
    let other = sim_load_balancer(provider, REGION, "second-nlb", LoadBalancerTypeEnum::Network, 2).await;
    ec2p.modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .add_network_load_balancer_arns(&other)
        .send()
        .await
        .expect("adding works");
    let (endpoint_id, _) = endpoint(consumer, REGION, &name, None).await;
    let err = ec2p
        .modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .remove_network_load_balancer_arns(&nlb)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(format!("{err:?}").contains("existing endpoint connections"), "{err:?}");
    ec2p.reject_vpc_endpoint_connections().service_id(&svc).vpc_endpoint_ids(&endpoint_id).send().await.unwrap();
    ec2p.modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .remove_network_load_balancer_arns(&nlb)
        .send()
        .await
        .expect("removing works once no endpoint holds the service");
}

#[tokio::test]
async fn service_discovery_knows_types_and_other_regions() {
    let (provider, consumer) = ("200000000033", "200000000034");
    let gwlb = sim_load_balancer(provider, REGION, "gwlb-type", LoadBalancerTypeEnum::Gateway, 2).await;
    let created = ec2_as(provider, REGION)
        .await
        .create_vpc_endpoint_service_configuration()
        .gateway_load_balancer_arns(gwlb)
        .send()
        .await
        .unwrap();
    let gw = created.service_configuration().unwrap();
    let (gw_id, gw_name) = (gw.service_id().unwrap().to_string(), gw.service_name().unwrap().to_string());
    allow(provider, &gw_id, "*").await;
    let (remote_id, remote_name) = service(provider, REGION, false, 2, &["us-west-2"]).await;
    allow(provider, &remote_id, "*").await;

    let here = ec2_as(consumer, REGION).await;
    let out = here.describe_vpc_endpoint_services().service_names(&gw_name).send().await.unwrap();
    let types: Vec<&str> =
        out.service_details()[0].service_type().iter().filter_map(|t| t.service_type()).map(|t| t.as_str()).collect();
    assert_eq!(types, ["GatewayLoadBalancer"]);

    // From us-west-2, with ServiceRegions: the remote endpoint service and cross-region AWS services.
    let west = ec2_as(consumer, "us-west-2").await;
    let out =
        west.describe_vpc_endpoint_services().service_names(&remote_name).service_regions(REGION).send().await.unwrap();
    assert_eq!(out.service_details()[0].service_region(), Some(REGION));
    let s3 = format!("com.amazonaws.{REGION}.s3");
    let out = west.describe_vpc_endpoint_services().service_names(&s3).service_regions(REGION).send().await.unwrap();
    assert!(out.service_details().iter().all(|d| d.service_name() == Some(s3.as_str())));
    let err = west
        .describe_vpc_endpoint_services()
        .service_names(format!("com.amazonaws.{REGION}.sqs"))
        .service_regions(REGION)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidServiceName", "SQS is not reachable across regions");
    let err = west.describe_vpc_endpoint_services().service_names(&gw_name).send().await.unwrap_err();
    assert_eq!(code(&err.into_service_error()), "InvalidServiceName", "without ServiceRegions: this region only");
}

#[tokio::test]
async fn endpoint_and_service_fields_moto_dropped_are_kept() {
    let (provider, consumer) = ("200000000019", "200000000020");
    let (svc, name) = service(provider, REGION, false, 2, &[]).await;
    allow(provider, &svc, "*").await;
    let ec2p = ec2_as(provider, REGION).await;
    ec2p.modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .add_supported_ip_address_types("ipv6")
        .send()
        .await
        .unwrap();
    let config = ec2p.describe_vpc_endpoint_service_configurations().service_ids(&svc).send().await.unwrap();
    let types: Vec<_> = config.service_configurations()[0].supported_ip_address_types().to_vec();
    assert_eq!(types, [ServiceConnectivityType::Ipv4, ServiceConnectivityType::Ipv6]);
    assert!(!config.service_configurations()[0].availability_zone_ids().is_empty());
    let err = ec2p
        .modify_vpc_endpoint_service_configuration()
        .service_id(&svc)
        .remove_supported_regions("ap-south-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidParameterValue", "removing a region that is not there is a client error, not a 500");

    let net = vpc(consumer, REGION, 1).await;
    let ec2 = ec2_as(consumer, REGION).await;
    let ep = endpoint_request(&ec2, &net, &name)
        .ip_address_type(IpAddressType::Dualstack)
        .dns_options(DnsOptionsSpecification::builder().dns_record_ip_type(DnsRecordIpType::Dualstack).build())
        .send()
        .await
        .unwrap();
    let id = ep.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let read = ec2
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-endpoint-id").values(&id).build())
        .send()
        .await
        .unwrap();
    let ep = &read.vpc_endpoints()[0];
    assert_eq!(ep.ip_address_type(), Some(&IpAddressType::Dualstack));
    assert_eq!(ep.dns_options().and_then(|d| d.dns_record_ip_type()), Some(&DnsRecordIpType::Dualstack));
}

#[tokio::test]
async fn faults_and_call_accounting() {
    let account = "200000000021";
    let ec2 = ec2_as(account, "ap-southeast-2").await;
    sim_control("PUT", "/_sim/faults", Some(json!({"account": account, "rules": [{"action": "DescribeVpcs", "errorRate": 1.0, "errorCode": "RequestLimitExceeded"}]})))
        .await;
    let err = ec2.describe_vpcs().send().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "RequestLimitExceeded");
    sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": account, "rules": [{"action": "DescribeSubnets", "latencyMs": 300}]})),
    )
    .await;
    let started = Instant::now();
    ec2.describe_subnets().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "latency is added");
    sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;

    // Token buckets at AWS's sizes: Describe calls have a burst of 100; a
    // time scale of 0.001 slows the refill (20/s) to a standstill.
    sim_control("PUT", "/_sim/faults", Some(json!({"account": account, "throttle": true, "timeScale": 0.001}))).await;
    let mut throttled = 0;
    for _ in 0..110 {
        if let Err(e) = ec2.describe_vpc_endpoints().send().await
            && code(&e.into_service_error()) == "RequestLimitExceeded"
        {
            throttled += 1;
        }
    }
    sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
    assert!((9..=10).contains(&throttled), "10 of 110 calls over a burst of 100 are throttled, got {throttled}");

    let calls = sim_control("GET", &format!("/_sim/calls?account={account}&region=ap-southeast-2"), None).await;
    let counts = &calls["counts"];
    assert_eq!(counts[format!("{account}/ap-southeast-2/DescribeVpcEndpoints")], json!(110));
    assert_eq!(counts[format!("{account}/ap-southeast-2/DescribeVpcs")], json!(1));
    let log = calls["calls"].as_array().unwrap();
    assert_eq!(log[0]["action"], json!("DescribeVpcs"), "the log keeps call order");
    assert_eq!(log[0]["error"], json!("RequestLimitExceeded"));
}

#[tokio::test]
async fn network_interfaces_references_prefix_lists_and_cloudtrail_as_aws_shows_them() {
    let account = "300000000041";
    let ec2 = ec2_as(account, REGION).await;
    let net = vpc(account, REGION, 2).await;
    let group = |name: &'static str| {
        let ec2 = ec2.clone();
        let vpc = net.id.clone();
        async move {
            ec2.create_security_group()
                .group_name(name)
                .description(name)
                .vpc_id(vpc)
                .send()
                .await
                .unwrap()
                .group_id()
                .unwrap()
                .to_string()
        }
    };
    let (first, second) = (group("first").await, group("second").await);
    // An interface endpoint's interfaces: vpc_endpoint, requester-managed,
    // named after the endpoint, in their subnet's range, with its groups,
    // following ModifyVpcEndpoint.
    let ep = endpoint_request(&ec2, &net, &format!("com.amazonaws.{REGION}.s3"))
        .security_group_ids(&first)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .clone();
    let id = ep.vpc_endpoint_id().unwrap();
    let eni_id = ep.network_interface_ids()[0].clone();
    let eni = |ec2: aws_sdk_ec2::Client, eni_id: String| async move {
        ec2.describe_network_interfaces().network_interface_ids(eni_id).send().await.unwrap().network_interfaces()[0]
            .clone()
    };
    let e = eni(ec2.clone(), eni_id.clone()).await;
    assert_eq!(e.interface_type().map(|t| t.as_str()), Some("vpc_endpoint"));
    assert_eq!(e.requester_managed(), Some(true));
    assert_eq!(e.description(), Some(format!("VPC Endpoint Interface {id}").as_str()));
    assert!(e.private_ip_address().unwrap().starts_with("10.0.0."), "{:?}", e.private_ip_address());
    assert_eq!(e.groups()[0].group_id(), Some(first.as_str()));
    ec2.modify_vpc_endpoint()
        .vpc_endpoint_id(id)
        .add_security_group_ids(&second)
        .remove_security_group_ids(&first)
        .send()
        .await
        .unwrap();
    let e = eni(ec2.clone(), eni_id.clone()).await;
    assert_eq!(e.groups().iter().filter_map(|g| g.group_id()).collect::<Vec<_>>(), vec![second.as_str()]);
    // The released group can go; the held one cannot; the default never.
    ec2.delete_security_group().group_id(&first).send().await.unwrap();
    let held = ec2.delete_security_group().group_id(&second).send().await.unwrap_err();
    assert_eq!(code(&held.into_service_error()), "DependencyViolation");
    let default = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(&net.id).build())
        .filters(Filter::builder().name("group-name").values("default").build())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    let refused = ec2.delete_security_group().group_id(&default).send().await.unwrap_err();
    assert_eq!(code(&refused.into_service_error()), "CannotDelete");

    // A Network Load Balancer's interfaces carry its groups.
    let lb_group = group("lb").await;
    elbv2_as(account, REGION)
        .await
        .create_load_balancer()
        .name("sim-nlb-enis")
        .r#type(LoadBalancerTypeEnum::Network)
        .set_subnets(Some(net.subnets.clone()))
        .security_groups(&lb_group)
        .send()
        .await
        .unwrap();
    let lb_enis = ec2
        .describe_network_interfaces()
        .filters(Filter::builder().name("group-id").values(&lb_group).build())
        .send()
        .await
        .unwrap();
    assert_eq!(lb_enis.network_interfaces().len(), 2);
    for e in lb_enis.network_interfaces() {
        assert_eq!(e.interface_type().map(|t| t.as_str()), Some("network_load_balancer"));
        assert!(e.description().unwrap().starts_with("ELB net/sim-nlb-enis/"), "{:?}", e.description());
    }

    // References from a peered VPC.
    let peer =
        ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc().unwrap().vpc_id().unwrap().to_string();
    let pcx = ec2.create_vpc_peering_connection().vpc_id(&net.id).peer_vpc_id(&peer).send().await.unwrap();
    let pcx = pcx.vpc_peering_connection().unwrap().vpc_peering_connection_id().unwrap().to_string();
    ec2.accept_vpc_peering_connection().vpc_peering_connection_id(&pcx).send().await.unwrap();
    let remote = ec2.create_security_group().group_name("remote").description("r").vpc_id(&peer).send().await.unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(remote.group_id().unwrap())
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&lb_group)
                        .vpc_peering_connection_id(&pcx)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let refs = ec2.describe_security_group_references().group_id(&lb_group).send().await.unwrap();
    let r = &refs.security_group_reference_set()[0];
    assert_eq!((r.referencing_vpc_id(), r.vpc_peering_connection_id()), (Some(peer.as_str()), Some(pcx.as_str())));

    // AWS-managed prefix lists come with their ranges.
    let pl = ec2
        .describe_prefix_lists()
        .filters(Filter::builder().name("prefix-list-name").values(format!("com.amazonaws.{REGION}.s3")).build())
        .send()
        .await
        .unwrap();
    assert!(!pl.prefix_lists()[0].cidrs().is_empty());

    // CloudTrail: recorded events, 90 days, newest first.
    for (days, who) in [(3, "rds.amazonaws.com"), (1, "alice"), (200, "bob")] {
        sim_control(
            "POST",
            "/_sim/cloudtrail",
            Some(json!({"account": account, "region": REGION, "eventName": "CreateVpcEndpoint", "username": who,
                "daysAgo": days, "resources": [{"type": "AWS::EC2::VPCEndpoint", "name": id}]})),
        )
        .await;
    }
    let trail = crate::support::cloudtrail_as(account, REGION).await;
    let events = trail
        .lookup_events()
        .lookup_attributes(
            aws_sdk_cloudtrail::types::LookupAttribute::builder()
                .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::ResourceName)
                .attribute_value(id)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let users: Vec<_> = events.events().iter().filter_map(|e| e.username()).collect();
    assert_eq!(users, vec!["alice", "rds.amazonaws.com"], "newest first, within 90 days");
}

#[tokio::test]
async fn service_configurations_are_filtered_by_tag_and_state() {
    let provider = "400000000090";
    let region = "eu-west-3";
    let (tagged, _) = service(provider, region, false, 1, &[]).await;
    let (plain, _) = service(provider, region, false, 1, &[]).await;
    let ec2 = ec2_as(provider, region).await;
    ec2.create_tags()
        .resources(&tagged)
        .tags(aws_sdk_ec2::types::Tag::builder().key("team").value("a").build())
        .send()
        .await
        .expect("tag");
    let ids = |f: Filter| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2.describe_vpc_endpoint_service_configurations().filters(f).send().await.expect("describe");
            out.service_configurations().iter().filter_map(|s| s.service_id().map(str::to_string)).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(Filter::builder().name("tag:team").values("a").build()).await, std::slice::from_ref(&tagged));
    assert_eq!(ids(Filter::builder().name("tag-key").values("team").build()).await, std::slice::from_ref(&tagged));
    assert!(ids(Filter::builder().name("tag:team").values("b").build()).await.is_empty());
    assert_eq!(ids(Filter::builder().name("service-id").values(&plain).build()).await, std::slice::from_ref(&plain));
    let mut available = ids(Filter::builder().name("service-state").values("Available").build()).await;
    available.sort();
    let mut both = vec![tagged, plain];
    both.sort();
    assert_eq!(available, both);
}
