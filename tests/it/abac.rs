//! Isolation enforced by IAM as well as by the code: with `--session-role`,
//! every namespace acts through the operator's role assumed with session
//! tags naming the namespace and cluster, and the shipped policy
//! (charts/privatelink-operator/files/iam-policy.json) lets a session
//! create, change, tag and delete only resources tagged with its own
//! namespace and cluster. The simulator evaluates that policy on every call
//! of those sessions with a real IAM policy engine (tests/aws-sim/iam_sim.py).
//!
//! The operator's whole life cycle passes the policy (create, tag, accept,
//! delete), and a session that bypasses the operator's guard entirely —
//! the SDK called directly with namespace B's session — is refused by IAM
//! alone on namespace A's endpoint and service.

use std::fmt::Debug;
use std::time::Duration;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Tag;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::api::{Api, DeleteParams};
use privatelink_operator::api::conditions::READY;
use privatelink_operator::api::{
    EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec, InterfaceEndpoint,
    InterfaceEndpointSpec,
};
use privatelink_operator::aws::{Identity, SessionTags};
use serde_json::{Value, json};

use crate::iam::policy_file;
use crate::support::{
    TEST_CLUSTER, TestEnv, create, ec2_as, endpoint_request, open_service, sim_control, sim_load_balancer, sim_vpc,
    wait_for, wait_gone,
};

const TIMEOUT: Duration = Duration::from_secs(40);

fn service(ns: &str, name: &str, spec: Value) -> EndpointService {
    let spec: EndpointServiceSpec = serde_json::from_value(spec).expect("spec");
    let mut svc = EndpointService::new(name, spec);
    svc.metadata.namespace = Some(ns.into());
    svc
}

fn endpoint(ns: &str, name: &str, spec: Value) -> InterfaceEndpoint {
    let spec: InterfaceEndpointSpec = serde_json::from_value(spec).expect("spec");
    let mut ep = InterfaceEndpoint::new(name, spec);
    ep.metadata.namespace = Some(ns.into());
    ep
}

fn connection(ns: &str, name: &str, spec: Value) -> EndpointConnection {
    let spec: EndpointConnectionSpec = serde_json::from_value(spec).expect("spec");
    let mut conn = EndpointConnection::new(name, spec);
    conn.metadata.namespace = Some(ns.into());
    conn
}

fn ready(conditions: Option<&Vec<privatelink_operator::api::Condition>>) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == READY && c.status == "True"))
}

/// The call was refused with EC2's UnauthorizedOperation.
fn refused<T: Debug, E: ProvideErrorMetadata + Debug>(what: &str, result: Result<T, E>) {
    match result {
        Err(e) => assert_eq!(e.code(), Some("UnauthorizedOperation"), "{what}: {e:?}"),
        Ok(out) => panic!("{what} was allowed: {out:?}"),
    }
}

async fn register(role: &str, files: &[&str]) {
    let policies: Vec<Value> = files.iter().map(|f| json!({"name": f, "policy": policy_file(f)})).collect();
    sim_control("PUT", "/_sim/iam/policies", Some(json!({"roleArn": role, "policies": policies}))).await;
}

async fn tags_of(account: &str, region: &str, id: &str) -> std::collections::BTreeMap<String, String> {
    let out = ec2_as(account, region)
        .await
        .describe_tags()
        .filters(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(id).build())
        .send()
        .await
        .expect("tags");
    out.tags().iter().map(|t| (t.key().unwrap_or_default().into(), t.value().unwrap_or_default().into())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn iam_alone_holds_each_namespace_to_its_own_resources() {
    let region = "eu-central-1";
    let account = "500000000042";
    let provider = "500000000043";
    let consumer = "500000000044";
    let role = format!("arn:aws:iam::{account}:role/privatelink-operator");
    register(&role, &["iam-policy.json"]).await;

    let nlb = sim_load_balancer(account, region, "abac-a", LoadBalancerTypeEnum::Network, 2).await;
    let (_, remote) = open_service(provider, region, false).await;
    let vpc = sim_vpc(account, region, 1).await;
    let mut env = TestEnv::with_session_role(region, &role, |_| {}).await;
    env.start_endpoint_services();
    env.start_endpoint_connections();
    env.start_interface_endpoints();
    let (ns_a, ns_b) = (env.ns("team-a"), env.ns("team-b"));
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let connections: Api<EndpointConnection> = env.api("team-a");

    // Namespace A's whole life cycle passes the policy: creates with the
    // session's tags, tag changes, acceptance.
    let svc = service(
        &ns_a,
        "api",
        json!({"networkLoadBalancerArns": [nlb], "acceptanceRequired": true,
               "allowedPrincipals": [format!("arn:aws:iam::{consumer}:root")], "tags": {"team": "a"}}),
    );
    create(&services, &svc).await;
    let ep = endpoint(
        &ns_a,
        "api",
        json!({"vpcId": vpc.id, "serviceName": remote, "subnetIds": vpc.subnets, "tags": {"team": "a"}}),
    );
    create(&endpoints, &ep).await;
    let svc = wait_for(&services, "api", TIMEOUT, "service Ready", |s| {
        ready(s.status.as_ref().map(|s| &s.conditions)).then(|| s.clone())
    })
    .await;
    let ep = wait_for(&endpoints, "api", TIMEOUT, "endpoint Ready", |e| {
        ready(e.status.as_ref().map(|s| &s.conditions)).then(|| e.clone())
    })
    .await;
    let svc_status = svc.status.expect("status");
    let (svc_id, svc_name) = (svc_status.service_id.expect("id"), svc_status.service_name.expect("name"));
    let ep_id = ep.status.and_then(|s| s.vpc_endpoint_id).expect("endpoint id");
    let owner_tags = tags_of(account, region, &ep_id).await;
    assert_eq!(owner_tags.get("privatelink.dev/namespace"), Some(&ns_a), "{owner_tags:?}");
    assert_eq!(owner_tags.get("privatelink.dev/cluster").map(String::as_str), Some(TEST_CLUSTER), "{owner_tags:?}");

    let consumer_vpc = sim_vpc(consumer, region, 1).await;
    let consumer_ep = endpoint_request(&ec2_as(consumer, region).await, &consumer_vpc, &svc_name)
        .send()
        .await
        .expect("consumer endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let conn = connection(
        &ns_a,
        "consumer",
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": consumer_ep, "decision": "Accept"}),
    );
    create(&connections, &conn).await;
    wait_for(&connections, "consumer", TIMEOUT, "connection Ready", |c| {
        ready(c.status.as_ref().map(|s| &s.conditions)).then_some(())
    })
    .await;
    let operator_refusals = sim_control("GET", &format!("/_sim/calls?account={account}"), None).await["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["error"] == "UnauthorizedOperation")
        .count();
    assert_eq!(operator_refusals, 0, "the shipped policy refused a call of the operator's own life cycle");

    // Namespace B's session, with the operator's guard bypassed: the SDK
    // called directly. IAM alone refuses every change to A's resources.
    let b = env
        .aws
        .for_region(
            &Identity::operator().tagged(SessionTags { cluster: TEST_CLUSTER.into(), namespace: ns_b.clone() }),
            region,
        )
        .await;
    let b = &b.ec2;
    refused("ModifyVpcEndpoint", b.modify_vpc_endpoint().vpc_endpoint_id(&ep_id).reset_policy(true).send().await);
    refused(
        "CreateTags (take ownership)",
        b.create_tags()
            .resources(&ep_id)
            .tags(Tag::builder().key("privatelink.dev/namespace").value(&ns_b).build())
            .send()
            .await,
    );
    refused(
        "CreateTags (a user tag)",
        b.create_tags().resources(&ep_id).tags(Tag::builder().key("team").value("b").build()).send().await,
    );
    refused(
        "DeleteTags (strip ownership)",
        b.delete_tags().resources(&ep_id).tags(Tag::builder().key("privatelink.dev/managed-by").build()).send().await,
    );
    refused("DeleteVpcEndpoints", b.delete_vpc_endpoints().vpc_endpoint_ids(&ep_id).send().await);
    refused(
        "ModifyVpcEndpointServiceConfiguration",
        b.modify_vpc_endpoint_service_configuration().service_id(&svc_id).acceptance_required(false).send().await,
    );
    refused(
        "ModifyVpcEndpointServicePermissions",
        b.modify_vpc_endpoint_service_permissions().service_id(&svc_id).add_allowed_principals("*").send().await,
    );
    refused(
        "RejectVpcEndpointConnections",
        b.reject_vpc_endpoint_connections().service_id(&svc_id).vpc_endpoint_ids(&consumer_ep).send().await,
    );
    refused(
        "DeleteVpcEndpointServiceConfigurations",
        b.delete_vpc_endpoint_service_configurations().service_ids(&svc_id).send().await,
    );
    // Another cluster's session for the same namespace name is refused too.
    let other_cluster = env
        .aws
        .for_region(
            &Identity::operator().tagged(SessionTags { cluster: "another-cluster".into(), namespace: ns_a.clone() }),
            region,
        )
        .await;
    refused(
        "DeleteVpcEndpoints (another cluster)",
        other_cluster.ec2.delete_vpc_endpoints().vpc_endpoint_ids(&ep_id).send().await,
    );
    assert_eq!(tags_of(account, region, &ep_id).await, owner_tags, "A's endpoint is as it was");

    // A's own session may change A's resources: the refusals are about
    // whose resource it is, not a blanket refusal.
    let a = env
        .aws
        .for_region(
            &Identity::operator().tagged(SessionTags { cluster: TEST_CLUSTER.into(), namespace: ns_a.clone() }),
            region,
        )
        .await;
    a.ec2
        .create_tags()
        .resources(&ep_id)
        .tags(Tag::builder().key("reviewed").value("yes").build())
        .send()
        .await
        .expect("A tags its own endpoint");

    // Adoption: tagging a resource no one owns is not in the shipped
    // policy; it is the optional statement of iam-policy-adoption.json.
    let untagged = endpoint_request(&ec2_as(account, region).await, &vpc, &remote)
        .send()
        .await
        .expect("untagged endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let adopt = || {
        a.ec2
            .create_tags()
            .resources(&untagged)
            .tags(Tag::builder().key("privatelink.dev/managed-by").value("privatelink-operator").build())
            .tags(Tag::builder().key("privatelink.dev/namespace").value(&ns_a).build())
            .tags(Tag::builder().key("privatelink.dev/cluster").value(TEST_CLUSTER).build())
            .send()
    };
    refused("CreateTags of managed-by on an untagged endpoint", adopt().await);
    register(&role, &["iam-policy.json", "iam-policy-adoption.json"]).await;
    adopt().await.expect("with the adoption statement, a namespace adopts an untagged endpoint for itself");
    // …but never for another namespace.
    refused(
        "CreateTags (adopt for another namespace)",
        a.ec2
            .create_tags()
            .resources(&untagged)
            .tags(Tag::builder().key("privatelink.dev/namespace").value(&ns_b).build())
            .send()
            .await,
    );
    register(&role, &["iam-policy.json"]).await;

    // A resource tagged by a version without the cluster tag: sessions of
    // the namespace in its tags may add the cluster tag (the takeover),
    // no other namespace's may.
    let legacy = endpoint_request(&ec2_as(account, region).await, &vpc, &remote)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::VpcEndpoint)
                .tags(Tag::builder().key("privatelink.dev/managed-by").value("privatelink-operator").build())
                .tags(Tag::builder().key("privatelink.dev/namespace").value(&ns_a).build())
                .build(),
        )
        .send()
        .await
        .expect("legacy endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let cluster_tag = || Tag::builder().key("privatelink.dev/cluster").value(TEST_CLUSTER).build();
    refused(
        "CreateTags (another namespace takes over a legacy resource)",
        b.create_tags().resources(&legacy).tags(cluster_tag()).send().await,
    );
    a.ec2.create_tags().resources(&legacy).tags(cluster_tag()).send().await.expect("the namespace takes over");

    // Deletion passes the policy too: everything A made is gone.
    connections.delete("consumer", &DeleteParams::default()).await.expect("delete connection");
    wait_gone(&connections, "consumer", TIMEOUT).await;
    endpoints.delete("api", &DeleteParams::default()).await.expect("delete endpoint");
    wait_gone(&endpoints, "api", TIMEOUT).await;
    // The consumer lets go of the service, which then goes.
    ec2_as(consumer, region)
        .await
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&consumer_ep)
        .send()
        .await
        .expect("consumer");
    services.delete("api", &DeleteParams::default()).await.expect("delete service");
    wait_gone(&services, "api", TIMEOUT).await;
    let left = ec2_as(account, region)
        .await
        .describe_vpc_endpoint_service_configurations()
        .service_ids(&svc_id)
        .send()
        .await
        .map(|o| o.service_configurations().len())
        .unwrap_or(0);
    assert_eq!(left, 0, "the service is deleted");
    sim_control("DELETE", &format!("/_sim/iam/policies?roleArn={role}"), None).await;
    env.stop_controllers().await;
}
