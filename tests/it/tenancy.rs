//! Tenancy and safety in a shared cluster: which namespaces may act with
//! which credentials and adopt; ownership tags that keep one object off
//! another's resources; adoption that keeps what the spec omits; cleanup by
//! the record made at creation; nothing orphaned silently; a new client
//! token after an out-of-band deletion. Real controllers, in-cluster API
//! server, AWS simulator; each test in its own region or accounts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::conditions::{DELETION_BLOCKED, READY, SYNCED};
use privatelink_operator::api::{
    DeletionPolicy, EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec,
    InterfaceEndpoint, InterfaceEndpointSpec,
};
use privatelink_operator::config::{RoleAllowList, VpcAllowList};
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, TestEnv, allow_all, create, ec2_as, endpoint_request, load_balancer, namespaces, open_service,
    sdk, sim_control, sim_load_balancer, sim_vpc, wait_for, wait_gone,
};

const TIMEOUT: Duration = Duration::from_secs(30);

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

/// (status, reason, message) of a condition.
type Cond = (String, String, String);

fn find(conditions: &[privatelink_operator::api::Condition], type_: &str) -> Option<Cond> {
    conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn svc_condition(s: &EndpointService, type_: &str) -> Option<Cond> {
    find(&s.status.as_ref()?.conditions, type_)
}

fn ep_condition(e: &InterfaceEndpoint, type_: &str) -> Option<Cond> {
    find(&e.status.as_ref()?.conditions, type_)
}

fn conn_condition(c: &EndpointConnection, type_: &str) -> Option<Cond> {
    find(&c.status.as_ref()?.conditions, type_)
}

fn conn_ready(c: &EndpointConnection) -> bool {
    conn_condition(c, READY).is_some_and(|c| c.0 == "True")
}

fn connection(ns: &str, name: &str, spec: Value) -> EndpointConnection {
    let spec: EndpointConnectionSpec = serde_json::from_value(spec).expect("spec");
    let mut conn = EndpointConnection::new(name, spec);
    conn.metadata.namespace = Some(ns.into());
    conn
}

/// The service name of team A's EndpointService `api`.
async fn a_svc_name(api: &Api<EndpointService>) -> String {
    api.get("api").await.expect("get").status.and_then(|s| s.service_name).expect("service name")
}

/// The state AWS reports for `endpoint`'s connection to `service_id`.
async fn connection_state(region: &str, service_id: &str, endpoint: &str) -> Option<String> {
    let out = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoint_connections()
        .filters(Filter::builder().name("service-id").values(service_id).build())
        .send()
        .await
        .expect("connections");
    out.vpc_endpoint_connections()
        .iter()
        .find(|c| c.vpc_endpoint_id() == Some(endpoint))
        .and_then(|c| c.vpc_endpoint_state())
        .map(|s| s.as_str().to_string())
}

fn svc_ready(s: &EndpointService) -> bool {
    svc_condition(s, READY).is_some_and(|c| c.0 == "True")
        && s.status.as_ref().and_then(|st| st.observed_generation) == s.metadata.generation
}

fn ep_ready(e: &InterfaceEndpoint) -> bool {
    ep_condition(e, READY).is_some_and(|c| c.0 == "True")
        && e.status.as_ref().and_then(|st| st.observed_generation) == e.metadata.generation
}

async fn service_config(account: &str, region: &str, id: &str) -> Option<aws_sdk_ec2::types::ServiceConfiguration> {
    let out = ec2_as(account, region).await.describe_vpc_endpoint_service_configurations().service_ids(id).send().await;
    out.ok()?
        .service_configurations()
        .first()
        .cloned()
        .filter(|s| s.service_state().map(|st| st.as_str()) != Some("Deleted"))
}

async fn principals_of(account: &str, region: &str, id: &str) -> BTreeSet<String> {
    let out = ec2_as(account, region)
        .await
        .describe_vpc_endpoint_service_permissions()
        .service_id(id)
        .send()
        .await
        .expect("permissions");
    out.allowed_principals().iter().filter_map(|p| p.principal().map(str::to_string)).collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect()
}

async fn vpc_endpoint(account: &str, region: &str, id: &str) -> Option<aws_sdk_ec2::types::VpcEndpoint> {
    let out = ec2_as(account, region)
        .await
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-endpoint-id").values(id).build())
        .send()
        .await
        .expect("describe endpoints");
    out.vpc_endpoints().first().cloned()
}

/// Endpoints of `account` in `region` tagged with the object `uid`.
async fn endpoints_of_object(account: &str, region: &str, uid: &str) -> Vec<String> {
    let out = ec2_as(account, region)
        .await
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("tag:privatelink.dev/uid").values(uid).build())
        .send()
        .await
        .expect("describe endpoints");
    out.vpc_endpoints().iter().filter_map(|e| e.vpc_endpoint_id().map(str::to_string)).collect()
}

#[tokio::test]
async fn tenant_b_cannot_adopt_modify_or_delete_tenant_a_resources() {
    let region = "ap-southeast-1";
    let provider = "400000000020";
    let nlb = load_balancer(region, "tenant-a", LoadBalancerTypeEnum::Network, 2).await;
    let (_, remote_name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    // Both teams may adopt: the ownership tags alone must keep B off A's resources.
    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-a-*", "team-b-*"])).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    env.start_endpoint_connections();
    let a_services: Api<EndpointService> = env.api("team-a");
    let b_services: Api<EndpointService> = env.api("team-b");
    let a_endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let b_endpoints: Api<InterfaceEndpoint> = env.api("team-b");

    let root = "arn:aws:iam::444455556666:root";
    create(
        &a_services,
        &service("team-a", "api", json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root]})),
    )
    .await;
    create(
        &a_endpoints,
        &endpoint("team-a", "api", json!({"vpcId": vpc.id, "serviceName": remote_name, "subnetIds": vpc.subnets})),
    )
    .await;
    let a_svc = wait_for(&a_services, "api", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let a_ep = wait_for(&a_endpoints, "api", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let svc_id = a_svc.status.and_then(|s| s.service_id).expect("service id");
    let ep_id = a_ep.status.and_then(|s| s.vpc_endpoint_id).expect("endpoint id");
    // A consumer of A's service, accepted by A's own EndpointConnection.
    let consumer = "444455556666";
    let consumer_vpc = sim_vpc(consumer, region, 1).await;
    let svc_name = a_svc_name(&a_services).await;
    let consumer_ep = endpoint_request(&ec2_as(consumer, region).await, &consumer_vpc, &svc_name)
        .send()
        .await
        .expect("consumer endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let a_connections: Api<EndpointConnection> = env.api("team-a");
    let b_connections: Api<EndpointConnection> = env.api("team-b");
    create(
        &a_connections,
        &connection(
            "team-a",
            "consumer",
            json!({"serviceRef": {"name": "api"}, "vpcEndpointId": consumer_ep, "decision": "Accept"}),
        ),
    )
    .await;
    wait_for(&a_connections, "consumer", TIMEOUT, "Ready", |c| conn_ready(c).then_some(())).await;
    let svc_before = service_config(DEFAULT_ACCOUNT, region, &svc_id).await.expect("service");
    let ep_before = vpc_endpoint(DEFAULT_ACCOUNT, region, &ep_id).await.expect("endpoint");
    let calls_before = env.aws.counter().snapshot();

    // Team B names A's resources, asking for changes and deletion.
    create(
        &b_services,
        &service(
            "team-b",
            "grab",
            json!({"serviceId": svc_id, "allowedPrincipals": ["*"], "acceptanceRequired": false, "deletionPolicy": "Delete"}),
        ),
    )
    .await;
    create(
        &b_endpoints,
        &endpoint(
            "team-b",
            "grab",
            json!({"vpcId": vpc.id, "serviceName": remote_name, "vpcEndpointId": ep_id, "subnetIds": vpc.subnets,
                   "tags": {"stolen": "yes"}, "deletionPolicy": "Delete"}),
        ),
    )
    .await;
    // …and B decides A's consumer's connection by service id.
    create(
        &b_connections,
        &connection("team-b", "grab", json!({"serviceId": svc_id, "vpcEndpointId": consumer_ep, "decision": "Accept"})),
    )
    .await;
    let (_, reason, message) =
        wait_for(&b_services, "grab", TIMEOUT, "Synced=False", |s| svc_condition(s, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "OwnedByAnotherObject", "{message}");
    let refused = wait_for(&b_connections, "grab", TIMEOUT, "Synced=False", |c| {
        conn_condition(c, SYNCED).filter(|c| c.0 == "False").map(|_| c.clone())
    })
    .await;
    let (_, reason, message) = conn_condition(&refused, SYNCED).expect("Synced");
    assert_eq!(reason, "OwnedByAnotherObject", "{message}");
    assert!(message.contains(&format!("{}/api", env.ns("team-a"))), "the message names the owner: {message}");
    let recorded = refused.status.as_ref().expect("status");
    assert_eq!(
        (recorded.service_id.as_deref(), recorded.service_region.as_deref()),
        (None, None),
        "a refused object records no target"
    );
    assert!(message.contains(&format!("{}/api", env.ns("team-a"))), "the message names the owner: {message}");
    let (_, reason, message) =
        wait_for(&b_endpoints, "grab", TIMEOUT, "Synced=False", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "OwnedByAnotherObject", "{message}");

    // B deletes its objects: the finalizers go, A's resources stay as they were.
    b_services.delete("grab", &DeleteParams::default()).await.expect("delete");
    b_endpoints.delete("grab", &DeleteParams::default()).await.expect("delete");
    b_connections.delete("grab", &DeleteParams::default()).await.expect("delete");
    wait_gone(&b_services, "grab", TIMEOUT).await;
    wait_gone(&b_endpoints, "grab", TIMEOUT).await;
    wait_gone(&b_connections, "grab", TIMEOUT).await;
    let state = connection_state(region, &svc_id, &consumer_ep).await;
    assert_eq!(state.as_deref(), Some("available"), "A's consumer stays connected");
    let calls = env.aws.counter().since(&calls_before);
    assert!(calls.mutating().is_empty(), "B caused AWS changes: {:?}", calls.mutating());
    let svc_after = service_config(DEFAULT_ACCOUNT, region, &svc_id).await.expect("A's service still exists");
    assert_eq!(svc_after.acceptance_required(), svc_before.acceptance_required());
    assert_eq!(tag_map(svc_after.tags()), tag_map(svc_before.tags()));
    assert_eq!(principals_of(DEFAULT_ACCOUNT, region, &svc_id).await, BTreeSet::from([root.to_string()]));
    let ep_after = vpc_endpoint(DEFAULT_ACCOUNT, region, &ep_id).await.expect("A's endpoint still exists");
    assert_eq!(tag_map(ep_after.tags()), tag_map(ep_before.tags()));
    assert!(a_services.get("api").await.is_ok() && a_endpoints.get("api").await.is_ok());
}

#[tokio::test]
async fn refused_namespaces_get_a_condition_and_cause_no_aws_call() {
    let region = "ap-southeast-4";
    let mut env = TestEnv::with_settings(region, |s| {
        s.tenancy.operator_credentials = namespaces(&["team-a-*"]);
        s.tenancy.allowed_roles =
            RoleAllowList::parse(&["team-a-*=arn:aws:iam::111122223333:role/*".to_string()]).expect("roles");
        s.tenancy.allowed_vpcs = VpcAllowList::parse(&["team-a-*=vpc-0aaaaaaaaaaaaaaaa".to_string()]).expect("vpcs");
    })
    .await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    let before = env.aws.counter().snapshot();
    let nlb = format!("arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/net/x/0123456789abcdef");

    // Adoption is off by default.
    let a: Api<EndpointService> = env.api("team-a");
    create(&a, &service("team-a", "adopt", json!({"serviceId": "vpce-svc-0123456789abcdef0"}))).await;
    // team-b may not use the operator's credentials…
    let b: Api<EndpointService> = env.api("team-b");
    create(&b, &service("team-b", "own-creds", json!({"networkLoadBalancerArns": [nlb]}))).await;
    // …nor a role granted to team-a; and team-admin is not team-a.
    let admin: Api<InterfaceEndpoint> = env.api("team-admin");
    create(
        &admin,
        &endpoint(
            "team-admin",
            "role",
            json!({"vpcId": "vpc-0123456789abcdef0", "serviceName": "com.amazonaws.ap-southeast-4.sqs",
                   "subnetIds": ["subnet-0123456789abcdef0"], "roleArn": "arn:aws:iam::111122223333:role/consumer"}),
        ),
    )
    .await;

    let synced_false = |s: &EndpointService| svc_condition(s, SYNCED).filter(|c| c.0 == "False");
    let (_, reason, message) = wait_for(&a, "adopt", TIMEOUT, "AdoptionNotAllowed", synced_false).await;
    assert_eq!(reason, "AdoptionNotAllowed");
    assert!(message.contains("--adopt-namespaces") && message.contains("spec.serviceId"), "{message}");
    let (_, reason, message) = wait_for(&b, "own-creds", TIMEOUT, "CredentialsNotAllowed", synced_false).await;
    assert_eq!(reason, "CredentialsNotAllowed");
    assert!(message.contains("--operator-credentials-namespaces") && message.contains("spec.roleArn"), "{message}");
    // team-a may use the operator's credentials, but only in its own VPC.
    let a_endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    create(
        &a_endpoints,
        &endpoint(
            "team-a",
            "other-vpc",
            json!({"vpcId": "vpc-0bbbbbbbbbbbbbbbb", "serviceName": "com.amazonaws.ap-southeast-4.sqs",
                   "subnetIds": ["subnet-0123456789abcdef0"], "privateDnsEnabled": true}),
        ),
    )
    .await;
    let (_, reason, message) = wait_for(&a_endpoints, "other-vpc", TIMEOUT, "VpcNotAllowed", |e| {
        ep_condition(e, SYNCED).filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(reason, "VpcNotAllowed");
    assert!(message.contains("--allowed-vpcs") && message.contains("vpc-0bbbbbbbbbbbbbbbb"), "{message}");
    let (_, reason, message) =
        wait_for(&admin, "role", TIMEOUT, "RoleNotAllowed", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "RoleNotAllowed");
    let wanted = format!("`{}=arn:aws:iam::111122223333:role/consumer`", env.ns("team-admin"));
    assert!(message.contains(&wanted), "{message}");
    let calls = env.aws.counter().since(&before);
    assert!(calls.calls.is_empty(), "refused objects made AWS calls: {:?}", calls.calls);

    // Nothing was created, so deletion needs no AWS call either.
    a.delete("adopt", &DeleteParams::default()).await.expect("delete");
    b.delete("own-creds", &DeleteParams::default()).await.expect("delete");
    admin.delete("role", &DeleteParams::default()).await.expect("delete");
    wait_gone(&a, "adopt", TIMEOUT).await;
    wait_gone(&b, "own-creds", TIMEOUT).await;
    wait_gone(&admin, "role", TIMEOUT).await;
    assert!(env.aws.counter().since(&before).calls.is_empty());
}

#[tokio::test]
async fn adopting_with_a_minimal_spec_leaves_the_service_as_it_was() {
    let region = "af-south-1";
    let nlb = load_balancer(region, "legacy", LoadBalancerTypeEnum::Network, 2).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    let created = ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&nlb)
        .acceptance_required(false)
        .private_dns_name("legacy.example.com")
        .supported_regions("eu-west-1")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::VpcEndpointService)
                .tags(Tag::builder().key("owner").value("terraform").build())
                .build(),
        )
        .send()
        .await
        .expect("service made outside the operator");
    let id = created.service_configuration().and_then(|s| s.service_id()).expect("id").to_string();
    let root = "arn:aws:iam::444455556666:root";
    ec2.modify_vpc_endpoint_service_permissions().service_id(&id).add_allowed_principals(root).send().await.unwrap();
    let before = service_config(DEFAULT_ACCOUNT, region, &id).await.expect("service");

    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-a-*"])).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(&api, &service("team-a", "legacy", json!({"serviceId": id}))).await;
    let svc = wait_for(&api, "legacy", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let status = svc.status.clone().expect("status");
    assert!(status.adopted);
    assert_eq!(status.deletion_policy, Some(DeletionPolicy::Retain), "adopted: Retain unless the spec says Delete");
    assert_eq!(status.region.as_deref(), Some(region), "where the service lives is recorded");

    let after = service_config(DEFAULT_ACCOUNT, region, &id).await.expect("service");
    assert_eq!(after.acceptance_required(), Some(false), "acceptance kept");
    assert_eq!(after.private_dns_name(), before.private_dns_name(), "private DNS name kept");
    assert_eq!(after.network_load_balancer_arns(), before.network_load_balancer_arns(), "load balancers kept");
    let regions = |c: &aws_sdk_ec2::types::ServiceConfiguration| -> BTreeSet<String> {
        c.supported_regions().iter().filter_map(|r| r.region().map(str::to_string)).collect()
    };
    assert_eq!(regions(&after), regions(&before), "supported regions kept");
    assert_eq!(principals_of(DEFAULT_ACCOUNT, region, &id).await, BTreeSet::from([root.to_string()]));
    let tags = tag_map(after.tags());
    assert_eq!(tags.get("owner").map(String::as_str), Some("terraform"), "others' tags kept");
    assert_eq!(tags.get("privatelink.dev/uid"), svc.uid().as_ref(), "marked as this object's");

    // Deleting the object retains the service and removes only the ownership tags,
    // so another object can adopt it again.
    api.delete("legacy", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "legacy", TIMEOUT).await;
    let released = service_config(DEFAULT_ACCOUNT, region, &id).await.expect("retained");
    assert_eq!(tag_map(released.tags()), tag_map(before.tags()), "ownership tags removed, the rest kept");
    create(&api, &service("team-a", "legacy-again", json!({"serviceId": id}))).await;
    wait_for(&api, "legacy-again", TIMEOUT, "Ready", |s| svc_ready(s).then_some(())).await;
}

#[tokio::test]
async fn deletion_uses_the_region_recorded_at_creation() {
    let region = "me-south-1";
    let provider = "400000000021";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");
    // No spec.region: the operator's default region applies.
    create(
        &api,
        &endpoint("team-b", "regional", json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets})),
    )
    .await;
    let ep = wait_for(&api, "regional", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let status = ep.status.expect("status");
    assert_eq!(status.region.as_deref(), Some(region));
    let id = status.vpc_endpoint_id.expect("endpoint id");

    // The operator now runs with another default region; deletion still happens where the endpoint is.
    env.restart_with(|s| s.region = Some("il-central-1".into())).await;
    env.start_interface_endpoints();
    api.delete("regional", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "regional", TIMEOUT).await;
    assert!(vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.is_none(), "endpoint {id} deleted in {region}");
}

#[tokio::test]
async fn a_role_removed_from_the_allow_list_blocks_deletion_until_released() {
    let region = "eu-central-2";
    let account = "500000000001";
    let role = format!("arn:aws:iam::{account}:role/provider");
    let nlb = sim_load_balancer(account, region, "assumed", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::with_settings(region, |s| {
        s.tenancy.allowed_roles =
            RoleAllowList::parse(&[format!("team-r-*=arn:aws:iam::{account}:role/*")]).expect("roles");
    })
    .await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-r");
    create(&api, &service("team-r", "remote", json!({"networkLoadBalancerArns": [nlb], "roleArn": role}))).await;
    let svc = wait_for(&api, "remote", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let status = svc.status.expect("status");
    assert_eq!(status.role_arn.as_deref(), Some(role.as_str()), "the identity is recorded");
    let id = status.service_id.expect("service id");
    assert!(service_config(account, region, &id).await.is_some(), "created in the role's account");

    // The role is no longer allowed: deletion is blocked, visibly, and nothing is orphaned.
    env.restart_with(|s| s.tenancy.allowed_roles = RoleAllowList::default()).await;
    env.start_endpoint_services();
    api.delete("remote", &DeleteParams::default()).await.expect("delete");
    let (_, reason, message) = wait_for(&api, "remote", TIMEOUT, "DeletionBlocked", |s| {
        svc_condition(s, DELETION_BLOCKED).filter(|c| c.0 == "True")
    })
    .await;
    assert_eq!(reason, "RoleNotAllowed");
    assert!(message.contains("--allowed-role") && message.contains("privatelink.dev/release=true"), "{message}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(api.get("remote").await.is_ok(), "the finalizer stays while cleanup cannot act");
    assert!(service_config(account, region, &id).await.is_some());

    // Letting go on purpose: the object goes, AWS stays as it is.
    api.patch(
        "remote",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"privatelink.dev/release": "true"}}})),
    )
    .await
    .expect("annotate");
    wait_gone(&api, "remote", TIMEOUT).await;
    assert!(service_config(account, region, &id).await.is_some(), "release leaves AWS untouched");
}

#[tokio::test]
async fn out_of_band_deletion_is_followed_by_exactly_one_new_resource() {
    let region = "ap-southeast-3";
    let provider = "400000000022";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let nlb = load_balancer(region, "oob", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    env.start_endpoint_services();
    let endpoints: Api<InterfaceEndpoint> = env.api("team-b");
    let services: Api<EndpointService> = env.api("team-b");
    create(
        &endpoints,
        &endpoint("team-b", "oob", json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets})),
    )
    .await;
    create(&services, &service("team-b", "oob", json!({"networkLoadBalancerArns": [nlb]}))).await;
    let ep = wait_for(&endpoints, "oob", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let s = wait_for(&services, "oob", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let first_ep = ep.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).expect("endpoint id");
    let first_svc = s.status.as_ref().and_then(|s| s.service_id.clone()).expect("service id");

    // Someone deletes both outside the operator.
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    ec2.delete_vpc_endpoints().vpc_endpoint_ids(&first_ep).send().await.expect("delete endpoint");
    ec2.delete_vpc_endpoint_service_configurations().service_ids(&first_svc).send().await.expect("delete service");
    let touch = Patch::Merge(json!({"metadata": {"annotations": {"touched": "1"}}}));
    endpoints.patch("oob", &PatchParams::default(), &touch).await.expect("touch");
    services.patch("oob", &PatchParams::default(), &touch).await.expect("touch");

    let ep = wait_for(&endpoints, "oob", TIMEOUT, "a new endpoint, Ready", |e| {
        (ep_ready(e) && e.status.as_ref()?.vpc_endpoint_id.as_deref() != Some(first_ep.as_str())).then(|| e.clone())
    })
    .await;
    let s = wait_for(&services, "oob", TIMEOUT, "a new service, Ready", |s| {
        (svc_ready(s) && s.status.as_ref()?.service_id.as_deref() != Some(first_svc.as_str())).then(|| s.clone())
    })
    .await;
    let second_ep = ep.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).expect("endpoint id");
    assert_eq!(endpoints_of_object(DEFAULT_ACCOUNT, region, &ep.uid().unwrap()).await, vec![second_ep]);
    let owned: Vec<String> = sdk(region)
        .await
        .describe_services(&[])
        .await
        .expect("services")
        .into_iter()
        .filter(|svc| !svc.is_gone() && svc.tags.get("privatelink.dev/uid") == s.uid().as_ref())
        .map(|svc| svc.id)
        .collect();
    assert_eq!(owned.len(), 1, "exactly one live service for the object: {owned:?}");
    // Two creations each: the first and the re-create. A reconcile may repeat
    // a create (its cache a step behind its own status write), but only with
    // the same ClientToken, which AWS answers with the same resource.
    let log = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    let events = env.events("team-b").await;
    // This object's creations (its tokens start with its uid): other tests
    // create in the same account and region.
    let (ep_uid, svc_uid) = (ep.uid().unwrap(), s.uid().unwrap());
    for (action, uid) in [("CreateVpcEndpoint", &ep_uid), ("CreateVpcEndpointServiceConfiguration", &svc_uid)] {
        let tokens: BTreeSet<&str> = log["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == action)
            .map(|c| c["clientToken"].as_str().unwrap_or_else(|| panic!("{action} without a ClientToken: {c}")))
            .filter(|token| token.starts_with(uid.as_str()))
            .collect();
        assert_eq!(tokens.len(), 2, "{action}: one create, one re-create: {tokens:?}\nevents: {events:#?}");
    }
}

#[tokio::test]
async fn load_balancer_removal_refused_by_aws_names_the_endpoints_and_the_add_still_happens() {
    let region = "eu-south-2";
    let consumer = "400000000023";
    let nlb_a = load_balancer(region, "lb-a", LoadBalancerTypeEnum::Network, 2).await;
    let nlb_b = load_balancer(region, "lb-b", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(
        &api,
        &service(
            "team-a",
            "swap",
            json!({"networkLoadBalancerArns": [nlb_a], "acceptanceRequired": false,
                   "allowedPrincipals": [format!("arn:aws:iam::{consumer}:root")]}),
        ),
    )
    .await;
    let svc = wait_for(&api, "swap", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let status = svc.status.expect("status");
    let (id, name) = (status.service_id.expect("id"), status.service_name.expect("name"));
    let net = sim_vpc(consumer, region, 1).await;
    let connected = endpoint_request(&ec2_as(consumer, region).await, &net, &name).send().await.expect("endpoint");
    let connected = connected.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).expect("id").to_string();

    api.patch("swap", &PatchParams::default(), &Patch::Merge(json!({"spec": {"networkLoadBalancerArns": [nlb_b]}})))
        .await
        .expect("patch");
    let (_, _, message) = wait_for(&api, "swap", TIMEOUT, "Synced=False", |s| {
        svc_condition(s, SYNCED).filter(|c| c.0 == "False" && c.2.contains("cannot be removed"))
    })
    .await;
    assert!(message.contains(&connected) && message.contains(consumer), "names the endpoint that holds it: {message}");
    let config = service_config(DEFAULT_ACCOUNT, region, &id).await.expect("service");
    let lbs: BTreeSet<&str> = config.network_load_balancer_arns().iter().map(String::as_str).collect();
    assert_eq!(lbs, BTreeSet::from([nlb_a.as_str(), nlb_b.as_str()]), "the new load balancer was added");
}

#[tokio::test]
async fn gateway_load_balancer_services_get_gateway_endpoints_and_aws_services_cross_regions() {
    let region = "ap-east-1";
    let provider = "400000000024";
    let gwlb = sim_load_balancer(provider, region, "gwlb", LoadBalancerTypeEnum::Gateway, 2).await;
    let created = ec2_as(provider, region)
        .await
        .create_vpc_endpoint_service_configuration()
        .gateway_load_balancer_arns(gwlb)
        .acceptance_required(false)
        .send()
        .await
        .expect("GWLB service");
    let config = created.service_configuration().expect("config");
    let (svc_id, gw_name) = (config.service_id().unwrap().to_string(), config.service_name().unwrap().to_string());
    allow_all(provider, region, &svc_id).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");

    // The endpoint's type follows the service's.
    create(
        &api,
        &endpoint("team-b", "inspect", json!({"vpcId": vpc.id, "serviceName": gw_name, "subnetIds": [vpc.subnets[0]]})),
    )
    .await;
    let ep = wait_for(&api, "inspect", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let id = ep.status.and_then(|s| s.vpc_endpoint_id).expect("id");
    let aws = vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.expect("endpoint");
    assert_eq!(aws.vpc_endpoint_type().map(|t| t.as_str()), Some("GatewayLoadBalancer"));
    create(
        &api,
        &endpoint(
            "team-b",
            "inspect-dns",
            json!({"vpcId": vpc.id, "serviceName": gw_name, "subnetIds": [vpc.subnets[1]], "privateDnsEnabled": true}),
        ),
    )
    .await;
    let (_, reason, message) =
        wait_for(&api, "inspect-dns", TIMEOUT, "Synced=False", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "InvalidSpec");
    assert!(message.contains("Gateway Load Balancer") && message.contains("privateDnsEnabled"), "{message}");

    // An AWS service AWS made cross-region capable (S3) is reached from here; one it did not (SQS) is explained.
    let remote = "ap-southeast-1";
    create(
        &api,
        &endpoint(
            "team-b",
            "s3",
            json!({"vpcId": vpc.id, "serviceName": format!("com.amazonaws.{remote}.s3"), "serviceRegion": remote, "subnetIds": [vpc.subnets[0]]}),
        ),
    )
    .await;
    let ep = wait_for(&api, "s3", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    assert_eq!(ep.status.and_then(|s| s.service_region).as_deref(), Some(remote));
    create(
        &api,
        &endpoint(
            "team-b",
            "sqs",
            json!({"vpcId": vpc.id, "serviceName": format!("com.amazonaws.{remote}.sqs"), "serviceRegion": remote, "subnetIds": [vpc.subnets[0]]}),
        ),
    )
    .await;
    let (_, reason, message) =
        wait_for(&api, "sqs", TIMEOUT, "Synced=False", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False")).await;
    assert_eq!(reason, "InvalidServiceName");
    assert!(message.contains("only some AWS services") && message.contains("s3"), "{message}");
}

/// A kind whose CRD is not installed.
#[derive(kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, schemars::JsonSchema)]
#[kube(group = "missing.privatelink.dev", version = "v1", kind = "NotInstalled", namespaced)]
struct NotInstalledSpec {
    field: String,
}

#[tokio::test]
async fn a_kind_the_api_server_does_not_serve_is_reported_at_start() {
    let env = TestEnv::new("us-east-1").await;
    let err = privatelink_operator::controller::check_crd::<NotInstalled>(&env.client).await.expect_err("404");
    assert!(err.contains("notinstalleds.missing.privatelink.dev/v1") && err.contains("install the CRDs"), "{err}");
    privatelink_operator::controller::check_crd::<EndpointService>(&env.client).await.expect("served");
}

/// The identity recorded for cleanup is the account actually used: when the
/// operator's own credentials move to another account, the object neither
/// creates a second resource there nor lets go of the first — it reports
/// AccountChanged, and its deletion is blocked (the finalizer stays) until
/// the credentials act in the recorded account again.
#[tokio::test]
async fn an_object_never_acts_in_another_account_than_the_one_recorded() {
    let region = "me-central-1";
    let provider = "400000000021";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-a");
    create(&api, &endpoint("team-a", "moved", json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets})))
        .await;
    let ep = wait_for(&api, "moved", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let status = ep.status.expect("status");
    assert_eq!(status.account.as_deref(), Some(DEFAULT_ACCOUNT), "the account of the operator's credentials");
    let id = status.vpc_endpoint_id.expect("endpoint id");

    // The operator's credentials now act in another account.
    let elsewhere = "730000000007";
    env.move_operator_to(elsewhere).await;
    env.start_interface_endpoints();
    api.patch("moved", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"look": "now"}}})))
        .await
        .expect("touch");
    let (_, reason, message) =
        wait_for(&api, "moved", TIMEOUT, "AccountChanged", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False"))
            .await;
    assert_eq!(reason, "AccountChanged", "{message}");
    assert!(message.contains(DEFAULT_ACCOUNT) && message.contains(elsewhere), "{message}");
    api.delete("moved", &DeleteParams::default()).await.expect("delete");
    let (_, reason, message) =
        wait_for(&api, "moved", TIMEOUT, "DeletionBlocked", |e| ep_condition(e, DELETION_BLOCKED)).await;
    assert_eq!(reason, "AccountChanged", "{message}");
    assert!(message.contains("privatelink.dev/release"), "says how to let go: {message}");
    assert!(vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.is_some(), "the endpoint is still there");
    let in_elsewhere = ec2_as(elsewhere, region).await.describe_vpc_endpoints().send().await.expect("describe");
    assert!(in_elsewhere.vpc_endpoints().is_empty(), "nothing was created in the other account");

    // Back in the recorded account, deletion goes on.
    env.crash().await;
    env.start_interface_endpoints();
    wait_gone(&api, "moved", Duration::from_secs(60)).await;
    assert!(vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.is_none(), "deleted where it was created");
}

/// A released object's resource keeps its ownership tags, so nothing adopts
/// it by accident; removing them as the README says makes it adoptable.
#[tokio::test]
async fn a_released_resource_is_adopted_again_once_its_ownership_tags_are_removed() {
    let region = "me-central-1";
    let provider = "400000000022";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-b-*"])).await;
    env.start_interface_endpoints();
    let a: Api<InterfaceEndpoint> = env.api("team-a");
    let b: Api<InterfaceEndpoint> = env.api("team-b");
    let spec = json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets});
    create(&a, &endpoint("team-a", "first", spec.clone())).await;
    let ep = wait_for(&a, "first", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let id = ep.status.and_then(|s| s.vpc_endpoint_id).expect("endpoint id");

    // Released: the object goes, the endpoint stays with A's tags.
    a.patch(
        "first",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"privatelink.dev/release": "true"}}})),
    )
    .await
    .expect("annotate");
    a.delete("first", &DeleteParams::default()).await.expect("delete");
    wait_gone(&a, "first", TIMEOUT).await;
    let kept = vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.expect("the endpoint stays");
    assert!(tag_map(kept.tags()).contains_key("privatelink.dev/uid"), "ownership tags kept");
    let mut adopt = spec.clone();
    adopt["vpcEndpointId"] = json!(id);
    create(&b, &endpoint("team-b", "again", adopt.clone())).await;
    let (_, reason, _) =
        wait_for(&b, "again", TIMEOUT, "refused", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False")).await;
    assert_eq!(reason, "OwnedByAnotherObject", "not adopted by accident");
    b.delete("again", &DeleteParams::default()).await.expect("delete");
    wait_gone(&b, "again", TIMEOUT).await;

    // The README's command, then adoption works.
    let keys = [
        "privatelink.dev/managed-by",
        "privatelink.dev/cluster",
        "privatelink.dev/namespace",
        "privatelink.dev/name",
        "privatelink.dev/uid",
    ];
    ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .delete_tags()
        .resources(&id)
        .set_tags(Some(keys.iter().map(|k| Tag::builder().key(*k).build()).collect()))
        .send()
        .await
        .expect("delete tags");
    create(&b, &endpoint("team-b", "adopted", adopt)).await;
    let adopted = wait_for(&b, "adopted", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    assert_eq!(adopted.status.as_ref().and_then(|s| s.vpc_endpoint_id.as_deref()), Some(id.as_str()));
    let tags = tag_map(vpc_endpoint(DEFAULT_ACCOUNT, region, &id).await.expect("endpoint").tags());
    assert_eq!(tags.get("privatelink.dev/uid"), adopted.uid().as_ref(), "now B's");
}

/// Adoption decides from AWS as it is now, not from the operator's listing:
/// a resource another object claimed after the listing was read is refused,
/// and its tags are left as they are.
#[tokio::test]
async fn adoption_decides_from_a_fresh_read_not_a_stale_listing() {
    let region = "me-central-1";
    let provider = "400000000023";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    let unclaimed = endpoint_request(&ec2, &vpc, &name)
        .send()
        .await
        .expect("endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let mut env = TestEnv::with_settings(region, |s| s.tenancy.adopters = namespaces(&["team-b-*"])).await;
    env.start_interface_endpoints();
    // Another object's reconcile reads the account's endpoints: the listing
    // now holds the endpoint untagged (and stays fresh for the resync).
    let a: Api<InterfaceEndpoint> = env.api("team-a");
    let spec = json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets});
    create(&a, &endpoint("team-a", "lister", spec.clone())).await;
    wait_for(&a, "lister", TIMEOUT, "Ready", |e| ep_ready(e).then_some(())).await;

    // Meanwhile another owner claims it (another operator instance, another cluster).
    let claimed = BTreeMap::from([
        ("privatelink.dev/managed-by".to_string(), "privatelink-operator".to_string()),
        ("privatelink.dev/namespace".to_string(), env.ns("team-a")),
        ("privatelink.dev/name".to_string(), "first".to_string()),
        ("privatelink.dev/uid".to_string(), "0b5c1e4e-2a6f-4d8e-9f3c-7a1b2c3d4e5f".to_string()),
    ]);
    ec2.create_tags()
        .resources(&unclaimed)
        .set_tags(Some(claimed.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .send()
        .await
        .expect("claim");

    let b: Api<InterfaceEndpoint> = env.api("team-b");
    let mut adopt = spec;
    adopt["vpcEndpointId"] = json!(unclaimed);
    create(&b, &endpoint("team-b", "late", adopt)).await;
    let (_, reason, message) =
        wait_for(&b, "late", TIMEOUT, "refused", |e| ep_condition(e, SYNCED).filter(|c| c.0 == "False")).await;
    assert_eq!(reason, "OwnedByAnotherObject", "{message}");
    let tags = tag_map(vpc_endpoint(DEFAULT_ACCOUNT, region, &unclaimed).await.expect("endpoint").tags());
    assert_eq!(tags, claimed, "the claim stands");
}

/// Every deployment reads the tenancy rules from one ConfigMap, and a change
/// to it applies to the next reconcile without a restart.
#[tokio::test]
async fn tenancy_rules_change_with_their_config_map_without_a_restart() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let region = "ap-southeast-4";
    let mut env = TestEnv::new(region).await;
    let home = env.ns("team-admin");
    crate::support::kube::grant_leader_election(&env.client, &home).await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), &home);
    let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "tenancy"},
        "data": {"operatorCredentialsNamespaces": "*", "adoptNamespaces": ""}}))
    .expect("configmap");
    maps.create(&Default::default(), &map).await.expect("create the ConfigMap");
    // The operator's own client: its RBAC in its namespace is the chart's.
    let watch = tokio::spawn(privatelink_operator::operator::watch_tenancy(
        env.ctx.client.clone(),
        home.clone(),
        "tenancy".into(),
        env.ctx.clone(),
    ));
    env.start_endpoint_services();
    let a: Api<EndpointService> = env.api("team-a");
    create(&a, &service("team-a", "adopt", json!({"serviceId": "vpce-svc-0123456789abcdef0"}))).await;
    let reason_is = |want: &'static str| {
        move |s: &EndpointService| svc_condition(s, SYNCED).filter(|c| c.0 == "False" && c.1 == want).map(|_| ())
    };
    wait_for(&a, "adopt", TIMEOUT, "AdoptionNotAllowed", reason_is("AdoptionNotAllowed")).await;

    // The platform team lets team-a adopt: no restart.
    maps.patch("tenancy", &PatchParams::default(), &Patch::Merge(json!({"data": {"adoptNamespaces": "team-a-*"}})))
        .await
        .expect("patch the ConfigMap");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !env.ctx.tenancy().adopters.contains(&env.ns("team-a")) {
        assert!(std::time::Instant::now() < deadline, "the new rules never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.patch("adopt", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"annotations": {"look": "now"}}})))
        .await
        .expect("touch");
    // Now adoption is allowed; the service id does not exist in AWS.
    wait_for(&a, "adopt", TIMEOUT, "ServiceNotFound", reason_is("ServiceNotFound")).await;

    // An invalid change keeps the rules in force.
    maps.patch("tenancy", &PatchParams::default(), &Patch::Merge(json!({"data": {"allowedRoles": "team-a"}})))
        .await
        .expect("patch the ConfigMap");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(env.ctx.tenancy().adopters.contains(&env.ns("team-a")), "the rules in force stay");
    watch.abort();
}

/// Re-tag `id` (out of band, as another tool or cluster would) with the
/// ownership tags of an object of another cluster.
async fn hand_over(region: &str, id: &str) {
    ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .create_tags()
        .resources(id)
        .tags(Tag::builder().key("privatelink.dev/cluster").value("another-cluster").build())
        .tags(Tag::builder().key("privatelink.dev/uid").value("00000000-0000-0000-0000-000000000000").build())
        .send()
        .await
        .expect("re-tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guard_refuses_every_kind_at_update_and_delete_once_the_resource_changed_hands() {
    let region = "ap-northeast-2";
    let nlb = load_balancer(region, "guard-a", LoadBalancerTypeEnum::Network, 1).await;
    let (_, remote_name) = open_service("400000000031", region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    env.start_endpoint_connections();
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let connections: Api<EndpointConnection> = env.api("team-a");
    let consumer = "400000000032";
    let root = format!("arn:aws:iam::{consumer}:root");
    create(
        &services,
        &service(
            "team-a",
            "api",
            json!({"networkLoadBalancerArns": [nlb], "allowedPrincipals": [root], "acceptanceRequired": true}),
        ),
    )
    .await;
    create(
        &endpoints,
        &endpoint("team-a", "api", json!({"vpcId": vpc.id, "serviceName": remote_name, "subnetIds": vpc.subnets})),
    )
    .await;
    let svc = wait_for(&services, "api", TIMEOUT, "Ready", |s| svc_ready(s).then(|| s.clone())).await;
    let ep = wait_for(&endpoints, "api", TIMEOUT, "Ready", |e| ep_ready(e).then(|| e.clone())).await;
    let svc_id = svc.status.and_then(|s| s.service_id).expect("service id");
    let ep_id = ep.status.and_then(|s| s.vpc_endpoint_id).expect("endpoint id");
    let consumer_vpc = sim_vpc(consumer, region, 1).await;
    let consumer_ep = endpoint_request(&ec2_as(consumer, region).await, &consumer_vpc, &a_svc_name(&services).await)
        .send()
        .await
        .expect("consumer endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    create(
        &connections,
        &connection(
            "team-a",
            "consumer",
            json!({"serviceRef": {"name": "api"}, "vpcEndpointId": consumer_ep, "decision": "Accept"}),
        ),
    )
    .await;
    wait_for(&connections, "consumer", TIMEOUT, "Ready", |c| conn_ready(c).then_some(())).await;

    // Both resources change hands: another cluster's objects own them now.
    hand_over(region, &svc_id).await;
    hand_over(region, &ep_id).await;
    let before = env.aws.counter().snapshot().mutating();

    // Update: every kind is asked for a change; the guard refuses each.
    let patch = |spec: Value| Patch::Merge(json!({"spec": spec}));
    services
        .patch("api", &PatchParams::default(), &patch(json!({"acceptanceRequired": false, "allowedPrincipals": ["*"]})))
        .await
        .expect("patch service");
    endpoints.patch("api", &PatchParams::default(), &patch(json!({"tags": {"changed": "yes"}}))).await.expect("patch");
    connections.patch("consumer", &PatchParams::default(), &patch(json!({"decision": "Reject"}))).await.expect("patch");
    let refused = |c: Option<Cond>| c.filter(|c| c.0 == "False" && c.1 == "OwnedByAnotherObject");
    wait_for(&services, "api", TIMEOUT, "service refused", |s| refused(svc_condition(s, SYNCED))).await;
    wait_for(&endpoints, "api", TIMEOUT, "endpoint refused", |e| refused(ep_condition(e, SYNCED))).await;
    wait_for(&connections, "consumer", TIMEOUT, "connection refused", |c| refused(conn_condition(c, SYNCED))).await;
    assert_eq!(env.aws.counter().snapshot().mutating(), before, "no AWS change for a refused update");
    assert_eq!(connection_state(region, &svc_id, &consumer_ep).await.as_deref(), Some("available"));

    // Delete: the objects go, their resources stay, no AWS change is made.
    connections.delete("consumer", &DeleteParams::default()).await.expect("delete connection");
    endpoints.delete("api", &DeleteParams::default()).await.expect("delete endpoint");
    services.delete("api", &DeleteParams::default()).await.expect("delete service");
    wait_gone(&connections, "consumer", TIMEOUT).await;
    wait_gone(&endpoints, "api", TIMEOUT).await;
    wait_gone(&services, "api", TIMEOUT).await;
    assert_eq!(env.aws.counter().snapshot().mutating(), before, "no AWS change for a refused deletion");
    assert!(service_config(DEFAULT_ACCOUNT, region, &svc_id).await.is_some(), "the service stays");
    assert!(vpc_endpoint(DEFAULT_ACCOUNT, region, &ep_id).await.is_some(), "the endpoint stays");
    assert_eq!(connection_state(region, &svc_id, &consumer_ep).await.as_deref(), Some("available"));
    let events = env.events("team-a").await;
    let not_owned = events.iter().filter(|e| e["reason"] == "NotOwned").count();
    assert!(not_owned >= 2, "cleanup says why it left the resources: {events:#?}");
    env.stop_controllers().await;
}
