//! Acceptance, notifications, private DNS verification and ordered deletion
//! of endpoint services: the operator is the provider (the simulator's
//! default account); consumers are other accounts that create endpoints
//! through the AWS SDK. Each test in its own region.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::conditions::{
    DELETION_BLOCKED, EXPOSURE, NOTIFICATIONS_DELIVERABLE, PRIVATE_DNS_VERIFIED, READY, SYNCED,
};
use privatelink_operator::api::{
    Condition, EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec, InterfaceEndpoint,
    InterfaceEndpointSpec,
};
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, TestEnv, create, ec2_as, endpoint_request, load_balancer, notification_topic, sim_control,
    sim_vpc, sns_as, wait_for, wait_gone,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn service(name: &str, spec: Value) -> EndpointService {
    EndpointService::new(name, serde_json::from_value::<EndpointServiceSpec>(spec).expect("spec"))
}

fn connection(name: &str, spec: Value) -> EndpointConnection {
    EndpointConnection::new(name, serde_json::from_value::<EndpointConnectionSpec>(spec).expect("spec"))
}

fn cond(conditions: &[Condition], type_: &str) -> Option<(String, String, String)> {
    conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn svc_cond(s: &EndpointService, type_: &str) -> Option<(String, String, String)> {
    cond(&s.status.as_ref()?.conditions, type_)
}

fn conn_cond(c: &EndpointConnection, type_: &str) -> Option<(String, String, String)> {
    cond(&c.status.as_ref()?.conditions, type_)
}

fn svc_ready(s: &EndpointService) -> bool {
    svc_cond(s, READY).is_some_and(|c| c.0 == "True")
        && s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation
}

fn conn_ready(c: &EndpointConnection) -> bool {
    conn_cond(c, READY).is_some_and(|c| c.0 == "True")
}

fn root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// Poke an object so its controller looks at AWS now (AWS changes such as a
/// consumer's new endpoint bring no watch event).
async fn touch<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {"test/touched": crate::support::uuid_like()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("touch");
}

/// A consumer account's endpoint to `service_name`; returns its id.
async fn consumer_endpoint(account: &str, region: &str, service_name: &str) -> String {
    let vpc = sim_vpc(account, region, 1).await;
    let out = endpoint_request(&ec2_as(account, region).await, &vpc, service_name).send().await.expect("endpoint");
    out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).expect("id").to_string()
}

/// The connection states AWS reports for the service, by endpoint.
async fn states(region: &str, service_id: &str) -> BTreeMap<String, String> {
    let out = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoint_connections()
        .filters(aws_sdk_ec2::types::Filter::builder().name("service-id").values(service_id).build())
        .send()
        .await
        .expect("connections");
    out.vpc_endpoint_connections()
        .iter()
        .map(|c| {
            (
                c.vpc_endpoint_id().unwrap_or_default().to_string(),
                c.vpc_endpoint_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// An Available EndpointService in `ns`; returns (service id, service name).
async fn ready_service(api: &Api<EndpointService>, name: &str, spec: Value) -> (String, String) {
    create(api, &service(name, spec)).await;
    let svc = wait_for(api, name, TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let status = svc.status.expect("status");
    (status.service_id.expect("id"), status.service_name.expect("name"))
}

#[tokio::test]
async fn endpoint_connections_accept_reject_wait_conflict_and_reject_on_deletion() {
    let region = "ap-south-2";
    let consumer = "600000000001";
    let nlb = load_balancer(region, "accept", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_endpoint_connections();
    let services: Api<EndpointService> = env.api("team-a");
    let conns: Api<EndpointConnection> = env.api("team-a");
    let (id, name) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root(consumer)]}),
    )
    .await;
    let (e1, e2) = (consumer_endpoint(consumer, region, &name).await, consumer_endpoint(consumer, region, &name).await);
    assert_eq!(states(region, &id).await.get(&e1).map(String::as_str), Some("pendingAcceptance"));

    let spec = |endpoint: &str, decision: &str| json!({"serviceRef": {"name": "api"}, "vpcEndpointId": endpoint, "decision": decision});
    create(&conns, &connection("accept-e1", spec(&e1, "Accept"))).await;
    create(&conns, &connection("reject-e2", spec(&e2, "Reject"))).await;
    let accepted = wait_for(&conns, "accept-e1", TIMEOUT, "Ready", |c| conn_ready(c).then(|| c.clone())).await;
    wait_for(&conns, "reject-e2", TIMEOUT, "Ready", |c| conn_ready(c).then_some(())).await;
    let status = accepted.status.expect("status");
    assert_eq!(status.state.as_deref(), Some("available"));
    assert_eq!(status.endpoint_owner.as_deref(), Some(consumer));
    assert_eq!(status.service_id.as_deref(), Some(id.as_str()));
    assert!(status.since.is_some(), "since when the endpoint asked");
    assert_eq!(conn_cond_of(&conns, "accept-e1", "Accepted").await.0, "True");
    let aws = states(region, &id).await;
    assert_eq!((aws[&e1].as_str(), aws[&e2].as_str()), ("available", "rejected"));

    // An endpoint that has not asked to connect yet: the condition says so, and for which endpoint.
    let unknown = "vpce-0123456789abcdef9";
    create(&conns, &connection("not-yet", spec(unknown, "Accept"))).await;
    let (_, reason, message) = wait_for(&conns, "not-yet", TIMEOUT, "waiting", |c| {
        conn_cond(c, READY).filter(|c| c.1 == "WaitingForEndpoint")
    })
    .await;
    assert_eq!(reason, "WaitingForEndpoint");
    assert!(message.contains(unknown), "{message}");

    // Two objects deciding one endpoint: a condition on both, no AWS call.
    let before = env.aws.counter().snapshot();
    create(&conns, &connection("reject-e1", spec(&e1, "Reject"))).await;
    for name in ["reject-e1", "accept-e1"] {
        let (_, reason, message) = wait_for(&conns, name, TIMEOUT, "Conflict", |c| {
            conn_cond(c, SYNCED).filter(|c| c.0 == "False" && c.1 == "Conflict")
        })
        .await;
        assert_eq!(reason, "Conflict");
        assert!(message.contains("delete all but one"), "{message}");
    }
    let calls = env.aws.counter().since(&before);
    assert!(calls.mutating().is_empty(), "a conflict makes no AWS change: {:?}", calls.mutating());
    assert_eq!(states(region, &id).await[&e1], "available", "no flapping");
    conns.delete("reject-e1", &DeleteParams::default()).await.expect("delete");
    wait_gone(&conns, "reject-e1", TIMEOUT).await;
    wait_for(&conns, "accept-e1", TIMEOUT, "Synced again", |c| conn_cond(c, SYNCED).filter(|c| c.0 == "True")).await;

    // Deleting the EndpointConnection that accepted e1 rejects it.
    conns.delete("accept-e1", &DeleteParams::default()).await.expect("delete");
    wait_gone(&conns, "accept-e1", TIMEOUT).await;
    assert_eq!(states(region, &id).await[&e1], "rejected");
    let events = env.events("team-a").await;
    assert!(
        events.iter().any(|e| e["reason"] == json!("RejectVpcEndpointConnections")
            && e["note"].as_str().unwrap_or_default().contains(&e1)),
        "an Event records the rejection: {events:#?}"
    );
}

async fn conn_cond_of(api: &Api<EndpointConnection>, name: &str, type_: &str) -> (String, String, String) {
    conn_cond(&api.get(name).await.expect("get"), type_).expect("condition")
}

#[tokio::test]
async fn auto_accept_status_of_connections_and_accounts_outside_the_principals() {
    let region = "ap-southeast-5";
    let (listed, other) = ("600000000002", "600000000003");
    let nlb = load_balancer(region, "auto", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_endpoint_connections();
    let services: Api<EndpointService> = env.api("team-a");
    let conns: Api<EndpointConnection> = env.api("team-a");
    let (id, name) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root(listed), root(other)]}),
    )
    .await;
    let decided = consumer_endpoint(listed, region, &name).await;
    // An explicit decision exists before the rule: it wins.
    create(
        &conns,
        &connection("no", json!({"serviceRef": {"name": "api"}, "vpcEndpointId": decided, "decision": "Reject"})),
    )
    .await;
    wait_for(&conns, "no", TIMEOUT, "Ready", |c| conn_ready(c).then_some(())).await;
    let by_rule = consumer_endpoint(listed, region, &name).await;
    let unmatched = consumer_endpoint(other, region, &name).await;
    services
        .patch("api", &PatchParams::default(), &Patch::Merge(json!({"spec": {"autoAccept": {"accountIds": [listed]}}})))
        .await
        .expect("autoAccept");
    let svc = wait_for(&services, "api", TIMEOUT, "autoAccept applied", |s| {
        let st = s.status.as_ref()?;
        (st.observed_generation == Some(2) && st.connection_counts.get("available") == Some(&1)).then(|| s.clone())
    })
    .await;
    let aws = states(region, &id).await;
    assert_eq!(aws[&by_rule], "available");
    assert_eq!(aws[&unmatched], "pendingAcceptance", "what matches no rule stays pending");
    assert_eq!(aws[&decided], "rejected", "an EndpointConnection wins over a rule");
    let status = svc.status.expect("status");
    let row = |endpoint: &str| status.connections.iter().find(|c| c.vpc_endpoint_id == endpoint).cloned().expect("row");
    assert_eq!(row(&by_rule).decided_by.as_deref(), Some("autoAccept"));
    assert_eq!(row(&by_rule).owner.as_deref(), Some(listed));
    assert_eq!(row(&unmatched).decided_by, None);
    assert_eq!(row(&decided).decided_by.as_deref(), Some("EndpointConnection no"));
    assert!(row(&by_rule).region.is_some() && row(&by_rule).since.is_some());
    assert_eq!(status.connection_counts.get("pendingAcceptance"), Some(&1));
    assert_eq!(status.connection_counts.get("rejected"), Some(&1));

    // The listed account is removed from the principals: its connection stays (AWS keeps it), flagged.
    services
        .patch("api", &PatchParams::default(), &Patch::Merge(json!({"spec": {"allowedPrincipals": [root(other)]}})))
        .await
        .expect("principals");
    let (_, reason, message) = wait_for(&services, "api", TIMEOUT, "flagged", |s| {
        svc_cond(s, EXPOSURE)
            .filter(|c| c.1 == "ConnectedOutsidePrincipals" || c.2.contains("no longer in allowedPrincipals"))
    })
    .await;
    assert!(message.contains(&by_rule) && message.contains("decision: Reject"), "{reason}: {message}");
    let svc = services.get("api").await.expect("get");
    assert!(
        svc.status
            .expect("status")
            .connections
            .iter()
            .any(|c| c.vpc_endpoint_id == by_rule && c.outside_allowed_principals)
    );
}

#[tokio::test]
async fn notifications_are_a_set_and_deliverability_is_checked() {
    let region = "ap-southeast-6";
    let consumer = "600000000004";
    let nlb = load_balancer(region, "notify", LoadBalancerTypeEnum::Network, 2).await;
    let sns = sns_as(DEFAULT_ACCOUNT, region).await;
    let good = notification_topic(DEFAULT_ACCOUNT, region, "privatelink-events").await;
    let closed = sns.create_topic().name("no-vpce").send().await.expect("topic").topic_arn().expect("arn").to_string();
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let services: Api<EndpointService> = env.api("team-a");
    let (id, name) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": ["*"], "acceptanceRequired": true,
               "notifications": [{"snsTopicArn": good, "events": ["Connect", "Accept"]}]}),
    )
    .await;
    let svc = services.get("api").await.expect("get");
    assert_eq!(svc_cond(&svc, NOTIFICATIONS_DELIVERABLE).map(|c| c.0), Some("True".into()));
    let status = svc.status.expect("status");
    let nid = status.notification_ids.get(&good).expect("notification id in status").clone();
    let described = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoint_connection_notifications()
        .send()
        .await
        .expect("notifications");
    let events: Vec<&str> =
        described.connection_notification_set()[0].connection_events().iter().map(String::as_str).collect();
    assert_eq!(events, ["Accept", "Connect"]);

    // A consumer connects: AWS publishes Connect to the topic.
    let endpoint = consumer_endpoint(consumer, region, &name).await;
    let published = sim_control("GET", "/_sim/notifications", None).await;
    assert!(
        published["notifications"].as_array().expect("list").iter().any(|n| n["notificationId"] == json!(nid)
            && n["event"] == json!("Connect")
            && n["vpcEndpointId"] == json!(endpoint)),
        "{published:#}"
    );

    // Change the events, add a topic that refuses vpce.amazonaws.com.
    services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"notifications": [
            {"snsTopicArn": good, "events": ["Connect", "Accept", "Reject"]},
            {"snsTopicArn": closed, "events": ["Connect"]}]}})),
        )
        .await
        .expect("patch");
    let (_, reason, message) = wait_for(&services, "api", TIMEOUT, "undeliverable", |s| {
        (s.status.as_ref()?.observed_generation == Some(2)).then_some(())?;
        svc_cond(s, NOTIFICATIONS_DELIVERABLE).filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(reason, "TopicRefuses");
    assert!(message.contains(&closed) && message.contains("vpce.amazonaws.com"), "{message}");
    let described = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoint_connection_notifications()
        .send()
        .await
        .expect("notifications");
    let by_topic: BTreeMap<String, Vec<String>> = described
        .connection_notification_set()
        .iter()
        .map(|n| (n.connection_notification_arn().unwrap_or_default().to_string(), n.connection_events().to_vec()))
        .collect();
    assert_eq!(by_topic.get(&good).map(Vec::len), Some(3), "{by_topic:?}");
    assert!(by_topic.contains_key(&closed), "{by_topic:?}");

    // None in the spec: every notification of the (created) service goes.
    services
        .patch("api", &PatchParams::default(), &Patch::Merge(json!({"spec": {"notifications": null}})))
        .await
        .expect("patch");
    wait_for(&services, "api", TIMEOUT, "notifications removed", |s| {
        let st = s.status.as_ref()?;
        (st.observed_generation == Some(3) && st.notification_ids.is_empty()).then_some(())
    })
    .await;
    let described = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoint_connection_notifications()
        .send()
        .await
        .expect("notifications");
    assert!(described.connection_notification_set().iter().all(|n| n.service_id() != Some(id.as_str())));
}

#[tokio::test]
async fn private_dns_verification_is_started_reported_and_told_to_consumers() {
    let region = "ap-southeast-7";
    let nlb = load_balancer(region, "dns", LoadBalancerTypeEnum::Network, 2).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    for attr in ["hostnames", "support"] {
        let value = aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build();
        let request = ec2.modify_vpc_attribute().vpc_id(&vpc.id);
        let request =
            if attr == "hostnames" { request.enable_dns_hostnames(value) } else { request.enable_dns_support(value) };
        request.send().await.expect("vpc dns");
    }
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    let services: Api<EndpointService> = env.api("team-b");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-b");
    let (id, _) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "acceptanceRequired": false, "allowedPrincipals": ["*"], "privateDnsName": "api.example.com"}),
    )
    .await;
    let svc = services.get("api").await.expect("get");
    let (status, reason, message) = svc_cond(&svc, PRIVATE_DNS_VERIFIED).expect("condition");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "PendingVerification"));
    let config = svc.status.clone().and_then(|s| s.private_dns_name_configuration).expect("configuration");
    let value = config.value.clone().expect("TXT value");
    assert!(message.contains(&value) && message.contains("TXT"), "{message}");
    assert!(config.verification_started_at.is_some(), "verification was started");
    let calls = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    let starts = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["action"] == json!("StartVpcEndpointServicePrivateDnsVerification"))
        .count();
    assert_eq!(starts, 1, "started once, not at every reconcile");

    // A consumer in the cluster with private DNS is told the name is unverified.
    let spec: InterfaceEndpointSpec = serde_json::from_value(
        json!({"vpcId": vpc.id, "serviceRef": {"name": "api"}, "subnetIds": vpc.subnets, "privateDnsEnabled": true}),
    )
    .unwrap();
    create(&endpoints, &InterfaceEndpoint::new("consumer", spec)).await;
    let (_, reason, message) = wait_for(&endpoints, "consumer", TIMEOUT, "told", |e| {
        cond(&e.status.as_ref()?.conditions, PRIVATE_DNS_VERIFIED).filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(reason, "ServiceNameUnverified");
    assert!(message.contains("api.example.com"), "{message}");

    // The provider publishes the record; AWS verifies it.
    sim_control("POST", "/_sim/private-dns", Some(json!({"serviceId": id, "state": "verified"}))).await;
    touch(&services, "api").await;
    wait_for(&services, "api", TIMEOUT, "Verified", |s| svc_cond(s, PRIVATE_DNS_VERIFIED).filter(|c| c.0 == "True"))
        .await;
    wait_for(&endpoints, "consumer", TIMEOUT, "verified for the consumer", |e| {
        cond(&e.status.as_ref()?.conditions, PRIVATE_DNS_VERIFIED).filter(|c| c.0 == "True")
    })
    .await;
}

#[tokio::test]
async fn a_service_with_live_connections_and_in_cluster_consumers_is_deleted_in_order() {
    let region = "eu-central-1";
    let consumer = "600000000005";
    let nlb = load_balancer(region, "ordered", LoadBalancerTypeEnum::Network, 2).await;
    let topic = sns_as(DEFAULT_ACCOUNT, region).await.create_topic().name("ordered").send().await.expect("topic");
    let topic = topic.topic_arn().expect("arn").to_string();
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_endpoint_connections();
    env.start_interface_endpoints();
    let services: Api<EndpointService> = env.api("team-a");
    let conns: Api<EndpointConnection> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let (id, name) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root(consumer), root(DEFAULT_ACCOUNT)],
               "notifications": [{"snsTopicArn": topic, "events": ["Connect"]}]}),
    )
    .await;
    let accepted = consumer_endpoint(consumer, region, &name).await;
    let waiting = consumer_endpoint(consumer, region, &name).await;
    create(&conns, &connection("keep", json!({"serviceRef": {"name": "api"}, "vpcEndpointId": accepted, "decision": "Accept", "deletionPolicy": "Retain"}))).await;
    wait_for(&conns, "keep", TIMEOUT, "Ready", |c| conn_ready(c).then_some(())).await;
    let spec: InterfaceEndpointSpec =
        serde_json::from_value(json!({"vpcId": vpc.id, "serviceRef": {"name": "api"}, "subnetIds": vpc.subnets}))
            .unwrap();
    create(&endpoints, &InterfaceEndpoint::new("in-cluster", spec)).await;
    wait_for(&endpoints, "in-cluster", TIMEOUT, "created", |e| e.status.as_ref()?.vpc_endpoint_id.clone()).await;
    // The same service named by its service name, as a consumer would.
    let spec: InterfaceEndpointSpec =
        serde_json::from_value(json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets})).unwrap();
    create(&endpoints, &InterfaceEndpoint::new("by-name", spec)).await;
    wait_for(&endpoints, "by-name", TIMEOUT, "created", |e| e.status.as_ref()?.vpc_endpoint_id.clone()).await;

    services.delete("api", &DeleteParams::default()).await.expect("delete");
    let (_, reason, message) =
        wait_for(&services, "api", TIMEOUT, "DeletionBlocked", |s| svc_cond(s, DELETION_BLOCKED)).await;
    assert_eq!(reason, "DependentsExist");
    assert!(
        message.contains("InterfaceEndpoint in-cluster")
            && message.contains("InterfaceEndpoint by-name")
            && message.contains("EndpointConnection keep"),
        "{message}"
    );
    let deletion_started = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None)
        .await["calls"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    conns.delete("keep", &DeleteParams::default()).await.expect("delete");
    endpoints.delete("in-cluster", &DeleteParams::default()).await.expect("delete");
    // Still waiting for the consumer that names the service.
    wait_gone(&endpoints, "in-cluster", TIMEOUT).await;
    let (_, _, message) = wait_for(&services, "api", TIMEOUT, "waits for by-name", |s| {
        svc_cond(s, DELETION_BLOCKED).filter(|c| !c.2.contains("in-cluster"))
    })
    .await;
    assert!(message.contains("InterfaceEndpoint by-name"), "{message}");
    endpoints.delete("by-name", &DeleteParams::default()).await.expect("delete");
    wait_gone(&services, "api", Duration::from_secs(60)).await;
    for endpoint in [&accepted, &waiting] {
        let seen = ec2_as(consumer, region)
            .await
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(endpoint)
            .send()
            .await
            .expect("describe");
        let state = seen.vpc_endpoints().first().and_then(|e| e.state()).map(|s| s.as_str().to_string());
        assert_eq!(state.as_deref(), Some("rejected"), "{endpoint} was rejected before the service went");
    }
    let _ = id;

    let calls = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    let order: Vec<String> = calls["calls"].as_array().expect("calls")[deletion_started..]
        .iter()
        .filter(|c| c["status"].as_u64().is_some_and(|s| s < 300))
        .filter_map(|c| c["action"].as_str().map(str::to_string))
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("Get"))
        .collect();
    println!("deletion call order: {order:?}");
    let position = |action: &str| {
        order.iter().position(|a| a == action).unwrap_or_else(|| panic!("{action} missing from {order:?}"))
    };
    assert!(position("DeleteVpcEndpoints") < position("RejectVpcEndpointConnections"), "consumers first: {order:?}");
    assert!(
        position("RejectVpcEndpointConnections") < position("DeleteVpcEndpointConnectionNotifications"),
        "{order:?}"
    );
    assert!(
        position("DeleteVpcEndpointConnectionNotifications") < position("DeleteVpcEndpointServiceConfigurations"),
        "{order:?}"
    );
    let rejects: Vec<&Value> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == json!("RejectVpcEndpointConnections"))
        .collect();
    assert!(!rejects.is_empty());
    let events = env.events("team-a").await;
    for reason in [
        "RejectVpcEndpointConnections",
        "DeleteVpcEndpointConnectionNotifications",
        "DeleteVpcEndpointServiceConfigurations",
    ] {
        assert!(events.iter().any(|e| e["reason"] == json!(reason)), "an Event for {reason}: {events:#?}");
    }
}

#[tokio::test]
async fn an_in_sync_resync_of_a_service_with_100_connections_reads_them_in_one_call() {
    let region = "ca-west-1";
    let consumer = "600000000006";
    let nlb = load_balancer(region, "hundred", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let services: Api<EndpointService> = env.api("team-a");
    let (_, name) = ready_service(
        &services,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root(consumer)], "acceptanceRequired": false}),
    )
    .await;
    let vpc = sim_vpc(consumer, region, 1).await;
    let ec2 = ec2_as(consumer, region).await;
    for _ in 0..100 {
        endpoint_request(&ec2, &vpc, &name).send().await.expect("endpoint");
    }
    touch(&services, "api").await;
    wait_for(&services, "api", TIMEOUT, "100 connections listed", |s| {
        (s.status.as_ref()?.connection_counts.get("available") == Some(&100)).then_some(())
    })
    .await;
    env.stop_controllers().await;
    let svc = services.get("api").await.expect("get");
    let before = env.aws.counter().snapshot();
    privatelink_operator::controller::endpoint_service::reconcile(std::sync::Arc::new(svc), env.ctx.clone())
        .await
        .expect("in-sync reconcile");
    let calls = env.aws.counter().since(&before);
    println!(
        "in-sync resync of a service with 100 connections: reads {:?}, mutating {:?}",
        calls.reads(),
        calls.mutating()
    );
    assert!(calls.mutating().is_empty(), "{:?}", calls.mutating());
    assert!(calls.reads().get("DescribeVpcEndpointConnections").copied().unwrap_or(0) <= 1, "{:?}", calls.reads());
    let total: u64 = calls.reads().values().sum();
    assert!(total <= 6, "reads do not grow with connections: {:?}", calls.reads());
}
