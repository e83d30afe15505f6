//! Cluster identity: what the operator creates carries its cluster's id
//! beside the owning object's namespace, name and uid. A cluster rebuilt
//! from Git (same namespaces and names, new UIDs, empty status) finds its
//! resources by (cluster, namespace, name) and neither duplicates nor
//! orphans them; another cluster's resource of the same namespace and name
//! is never taken; a resource tagged before cluster ids is taken over by
//! the object that made it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Tag};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use privatelink_operator::api::conditions::READY;
use privatelink_operator::api::{EndpointService, EndpointServiceSpec, InterfaceEndpoint, InterfaceEndpointSpec};
use privatelink_operator::plan::tags::{
    MANAGED_BY, MANAGED_BY_VALUE, OWNER_CLUSTER, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID,
};
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, TEST_CLUSTER, TestEnv, create, ec2_as, endpoint_request, load_balancer, open_service, sim_control,
    sim_vpc, wait_for, wait_gone,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn ready(conditions: &[privatelink_operator::api::Condition]) -> bool {
    conditions.iter().any(|c| c.type_ == READY && c.status == "True")
}

fn svc_ready(s: &EndpointService) -> Option<EndpointService> {
    s.status.as_ref().is_some_and(|st| ready(&st.conditions)).then(|| s.clone())
}

fn ep_ready(e: &InterfaceEndpoint) -> Option<InterfaceEndpoint> {
    e.status.as_ref().is_some_and(|st| ready(&st.conditions)).then(|| e.clone())
}

fn service(spec: Value) -> EndpointService {
    EndpointService::new("api", serde_json::from_value::<EndpointServiceSpec>(spec).expect("spec"))
}

fn endpoint(name: &str, spec: Value) -> InterfaceEndpoint {
    InterfaceEndpoint::new(name, serde_json::from_value::<InterfaceEndpointSpec>(spec).expect("spec"))
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect()
}

async fn endpoint_tags(region: &str, id: &str) -> Option<BTreeMap<String, String>> {
    let out = ec2_as(DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-endpoint-id").values(id).build())
        .send()
        .await
        .expect("describe endpoints");
    out.vpc_endpoints().first().map(|e| tags_of(e.tags()))
}

/// Client tokens of the create calls of the default account in `region`.
async fn create_tokens(region: &str) -> Vec<String> {
    let log = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"].as_str().is_some_and(|a| a.starts_with("CreateVpcEndpoint")))
        .filter_map(|c| c["clientToken"].as_str().map(str::to_string))
        .collect()
}

/// Remove an object as a lost cluster does: it is gone, and no finalizer
/// ran (AWS keeps what it had).
async fn lose<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("remove the finalizer");
    api.delete(name, &DeleteParams::default()).await.expect("delete");
    wait_gone(api, name, TIMEOUT).await;
}

#[tokio::test]
async fn a_cluster_rebuilt_from_git_finds_its_resources_by_cluster_namespace_and_name() {
    let region = "eu-south-1";
    let provider = "400000000024";
    let nlb = load_balancer(region, "rebuilt", LoadBalancerTypeEnum::Network, 2).await;
    let (_, remote) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let svc_manifest = service(json!({"networkLoadBalancerArns": [nlb], "acceptanceRequired": false}));
    let ep_manifest = endpoint("consumer", json!({"vpcId": vpc.id, "serviceName": remote, "subnetIds": vpc.subnets}));
    create(&services, &svc_manifest).await;
    create(&endpoints, &ep_manifest).await;
    let svc = wait_for(&services, "api", TIMEOUT, "Ready", svc_ready).await;
    let ep = wait_for(&endpoints, "consumer", TIMEOUT, "Ready", ep_ready).await;
    let service_id = svc.status.as_ref().and_then(|s| s.service_id.clone()).expect("service id");
    let endpoint_id = ep.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).expect("endpoint id");
    let tags = endpoint_tags(region, &endpoint_id).await.expect("endpoint");
    assert_eq!(tags.get(OWNER_CLUSTER).map(String::as_str), Some(TEST_CLUSTER), "the cluster is in the tags");

    // The cluster is lost and rebuilt from the same manifests: new UIDs,
    // empty status, an operator with no memory.
    env.stop_controllers().await;
    lose(&services, "api").await;
    lose(&endpoints, "consumer").await;
    env.crash().await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    create(&services, &svc_manifest).await;
    create(&endpoints, &ep_manifest).await;
    let svc2 = wait_for(&services, "api", TIMEOUT, "Ready", svc_ready).await;
    let ep2 = wait_for(&endpoints, "consumer", TIMEOUT, "Ready", ep_ready).await;
    assert_ne!(svc2.uid(), svc.uid(), "new objects");
    assert_eq!(svc2.status.as_ref().and_then(|s| s.service_id.as_deref()), Some(service_id.as_str()), "found again");
    assert_eq!(ep2.status.as_ref().and_then(|s| s.vpc_endpoint_id.as_deref()), Some(endpoint_id.as_str()));
    let new_uids = [svc2.uid().unwrap(), ep2.uid().unwrap()];
    let tokens = create_tokens(region).await;
    assert!(
        !tokens.iter().any(|t| new_uids.iter().any(|u| t.starts_with(u.as_str()))),
        "no create for the rebuilt objects: {tokens:?}"
    );
    // The resources now name the new objects.
    let tags = endpoint_tags(region, &endpoint_id).await.expect("endpoint");
    assert_eq!(tags.get(OWNER_UID), ep2.uid().as_ref(), "{tags:?}");

    // And deleting them deletes what they found: nothing orphaned.
    services.delete("api", &DeleteParams::default()).await.expect("delete");
    endpoints.delete("consumer", &DeleteParams::default()).await.expect("delete");
    wait_gone(&services, "api", Duration::from_secs(60)).await;
    wait_gone(&endpoints, "consumer", Duration::from_secs(60)).await;
    assert!(endpoint_tags(region, &endpoint_id).await.is_none(), "the endpoint was deleted");
}

#[tokio::test]
async fn another_clusters_resource_is_never_taken_and_an_untagged_cluster_one_is_taken_over() {
    let region = "eu-south-1";
    let provider = "400000000025";
    let (_, remote) = open_service(provider, region, false).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    let mut env = TestEnv::new(region).await;
    let api: Api<InterfaceEndpoint> = env.api("team-a");
    let ns = env.ns("team-a");
    let seed = |tags: BTreeMap<String, String>| {
        let (ec2, vpc, remote) = (ec2.clone(), vpc.clone(), remote.clone());
        async move {
            let out = endpoint_request(&ec2, &vpc, &remote).send().await.expect("endpoint");
            let id = out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).expect("id").to_string();
            let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            ec2.create_tags().resources(&id).set_tags(Some(tags)).send().await.expect("tags");
            id
        }
    };
    let spec = json!({"vpcId": vpc.id, "serviceName": remote, "subnetIds": vpc.subnets});

    // Another cluster sharing the account has an object of the same
    // namespace and name.
    let theirs = BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (OWNER_CLUSTER.to_string(), "another-cluster".to_string()),
        (OWNER_NAMESPACE.to_string(), ns.clone()),
        (OWNER_NAME.to_string(), "same".to_string()),
        (OWNER_UID.to_string(), "6c4f3a4e-0000-4000-8000-00000000abcd".to_string()),
    ]);
    let other_cluster = seed(theirs.clone()).await;
    // An object of this cluster whose endpoint was made before cluster ids:
    // its tags carry its uid but no cluster.
    create(&api, &endpoint("legacy", spec.clone())).await;
    let legacy_uid = api.get("legacy").await.expect("get").uid().expect("uid");
    let legacy_tags = BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (OWNER_NAMESPACE.to_string(), ns.clone()),
        (OWNER_NAME.to_string(), "legacy".to_string()),
        (OWNER_UID.to_string(), legacy_uid.clone()),
    ]);
    let legacy = seed(legacy_tags).await;

    env.start_interface_endpoints();
    create(&api, &endpoint("same", spec)).await;
    let same = wait_for(&api, "same", TIMEOUT, "Ready", ep_ready).await;
    let mine = same.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).expect("id");
    assert_ne!(mine, other_cluster, "its own endpoint, not the other cluster's");
    assert_eq!(endpoint_tags(region, &other_cluster).await, Some(theirs), "the other cluster's endpoint untouched");

    let taken = wait_for(&api, "legacy", TIMEOUT, "Ready", ep_ready).await;
    assert_eq!(taken.status.as_ref().and_then(|s| s.vpc_endpoint_id.as_deref()), Some(legacy.as_str()), "taken over");
    let tags = endpoint_tags(region, &legacy).await.expect("endpoint");
    assert_eq!(tags.get(OWNER_CLUSTER).map(String::as_str), Some(TEST_CLUSTER), "the cluster tag was added");
    assert!(!create_tokens(region).await.iter().any(|t| t.starts_with(&legacy_uid)), "no duplicate");
}
