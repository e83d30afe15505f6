//! Flux's health assessment of the three kinds: objects the operator
//! reconciled on the real API server, in each state, read back and judged
//! by kstatus itself (sigs.k8s.io/cli-utils pkg/kstatus/status, through
//! tests/gitops) — Current when Ready, InProgress while the operator or AWS
//! works (creating, waiting for acceptance or for an endpoint, retrying a
//! transient failure), Failed when only a change can help (AWS refuses the
//! spec, the tenancy rules refuse it). Argo CD's own Lua engine judges the
//! same objects with the chart's health script.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use kube::api::{Api, DeleteParams};
use privatelink_operator::api::conditions::{READY, RECONCILING, STALLED, SYNCED};
use privatelink_operator::api::{
    Condition, EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec, InterfaceEndpoint,
    InterfaceEndpointSpec,
};
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, TestEnv, allow_all, create, ec2_as, endpoint_request, gitops, load_balancer, open_service,
    sim_control, sim_service, sim_vpc, wait_for,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn object<K: kube::Resource<DynamicType = ()>>(make: impl FnOnce() -> K, ns: &str) -> K {
    let mut o = make();
    o.meta_mut().namespace = Some(ns.into());
    o
}

fn service(ns: &str, name: &str, spec: Value) -> EndpointService {
    let spec: EndpointServiceSpec = serde_json::from_value(spec).expect("spec");
    object(|| EndpointService::new(name, spec), ns)
}

fn endpoint(ns: &str, name: &str, spec: Value) -> InterfaceEndpoint {
    let spec: InterfaceEndpointSpec = serde_json::from_value(spec).expect("spec");
    object(|| InterfaceEndpoint::new(name, spec), ns)
}

fn connection(ns: &str, name: &str, spec: Value) -> EndpointConnection {
    let spec: EndpointConnectionSpec = serde_json::from_value(spec).expect("spec");
    object(|| EndpointConnection::new(name, spec), ns)
}

fn has(conditions: Option<&Vec<Condition>>, type_: &str, status: &str, reason: Option<&str>) -> bool {
    conditions.is_some_and(|cs| {
        cs.iter().any(|c| c.type_ == type_ && c.status == status && reason.is_none_or(|r| c.reason == r))
    })
}

/// kstatus's verdict on each object: kind/name → (status, message).
fn kstatus(objects: &[Value]) -> BTreeMap<String, (String, String)> {
    let out = gitops(&["kstatus"], &serde_json::to_string(objects).expect("JSON"));
    let verdicts: Vec<Value> = serde_json::from_str(&out).expect("verdicts");
    verdicts
        .iter()
        .map(|v| {
            (
                format!("{}/{}", v["kind"].as_str().unwrap(), v["name"].as_str().unwrap()),
                (v["status"].as_str().unwrap().to_string(), v["message"].as_str().unwrap().to_string()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flux_reports_each_kind_current_in_progress_or_failed_as_it_is() {
    let region = "us-west-2";
    let nlb = load_balancer(region, "kstatus-a", LoadBalancerTypeEnum::Network, 1).await;
    let nlb_retry = load_balancer(region, "kstatus-b", LoadBalancerTypeEnum::Network, 1).await;
    let (_, open) = open_service("400000000033", region, false).await;
    let (gated_id, gated) = sim_service("400000000034", region, true, 2, &[]).await;
    allow_all("400000000034", region, &gated_id).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    let mut env = TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    env.start_endpoint_connections();
    let ns = env.ns("team-a");
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let connections: Api<EndpointConnection> = env.api("team-a");
    let consumer = "400000000035";

    // EndpointService: Ready; refused by the tenancy rules (adoption).
    let root = format!("arn:aws:iam::{consumer}:root");
    create(
        &services,
        &service(
            &ns,
            "ready",
            json!({"networkLoadBalancerArns": [nlb], "acceptanceRequired": true, "allowedPrincipals": [root]}),
        ),
    )
    .await;
    create(&services, &service(&ns, "refused", json!({"serviceId": "vpce-svc-0123456789abcdef0"}))).await;
    // InterfaceEndpoint: Ready; waiting for the provider's acceptance; a
    // service name AWS refuses.
    let ep = |name: &str, service_name: &str| {
        endpoint(&ns, name, json!({"vpcId": vpc.id, "serviceName": service_name, "subnetIds": vpc.subnets}))
    };
    create(&endpoints, &ep("ready", &open)).await;
    create(&endpoints, &ep("pending", &gated)).await;
    create(&endpoints, &ep("invalid", &format!("com.amazonaws.vpce.{region}.vpce-svc-0000000000000000f"))).await;
    let svc = wait_for(&services, "ready", TIMEOUT, "Ready", |s| {
        has(s.status.as_ref().map(|s| &s.conditions), READY, "True", None).then(|| s.clone())
    })
    .await;
    let svc_name = svc.status.and_then(|s| s.service_name).expect("service name");
    // EndpointConnection: accepted; waiting for an endpoint that never
    // connected; refused by the tenancy rules (a role not granted).
    let consumer_vpc = sim_vpc(consumer, region, 1).await;
    let consumer_ep = endpoint_request(&ec2_as(consumer, region).await, &consumer_vpc, &svc_name)
        .send()
        .await
        .expect("consumer endpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("id")
        .to_string();
    let conn = |name: &str, extra: Value| {
        let mut spec = json!({"serviceRef": {"name": "ready"}, "decision": "Accept"});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        connection(&ns, name, spec)
    };
    create(&connections, &conn("accepted", json!({"vpcEndpointId": consumer_ep}))).await;
    create(&connections, &conn("waiting", json!({"vpcEndpointId": "vpce-0000000000000000a"}))).await;
    let refused = json!({"serviceId": "vpce-svc-0123456789abcdef1", "vpcEndpointId": consumer_ep, "decision": "Accept",
                         "roleArn": "arn:aws:iam::400000000036:role/not-granted"});
    create(&connections, &connection(&ns, "refused", refused)).await;

    // A transient AWS failure: the operator retries (InProgress, not Failed).
    let fault = json!({"account": DEFAULT_ACCOUNT, "region": region, "rules": [
        {"action": "CreateVpcEndpointServiceConfiguration", "errorRate": 1.0, "errorCode": "InternalError"}]});
    sim_control("PUT", "/_sim/faults", Some(fault)).await;
    create(&services, &service(&ns, "retrying", json!({"networkLoadBalancerArns": [nlb_retry]}))).await;

    let settled = |conditions: Option<&Vec<Condition>>, stalled: bool| {
        has(conditions, STALLED, if stalled { "True" } else { "False" }, None)
    };
    let svc_conditions = |s: &EndpointService| s.status.as_ref().map(|s| &s.conditions).cloned();
    for (name, stalled) in [("ready", false), ("refused", true)] {
        wait_for(&services, name, TIMEOUT, "kstatus conditions", |s| {
            settled(svc_conditions(s).as_ref(), stalled).then_some(())
        })
        .await;
    }
    wait_for(&services, "retrying", TIMEOUT, "a failed attempt", |s| {
        has(svc_conditions(s).as_ref(), SYNCED, "False", Some("InternalError")).then_some(())
    })
    .await;
    let ep_conditions = |e: &InterfaceEndpoint| e.status.as_ref().map(|s| &s.conditions).cloned();
    for (name, ready) in [("ready", "True"), ("pending", "False")] {
        wait_for(&endpoints, name, TIMEOUT, "Ready decided", |e| {
            has(ep_conditions(e).as_ref(), READY, ready, None).then_some(())
        })
        .await;
    }
    wait_for(&endpoints, "pending", TIMEOUT, "PendingAcceptance", |e| {
        has(ep_conditions(e).as_ref(), RECONCILING, "True", None).then_some(())
    })
    .await;
    wait_for(&endpoints, "invalid", TIMEOUT, "Stalled", |e| {
        has(ep_conditions(e).as_ref(), STALLED, "True", Some("InvalidServiceName")).then_some(())
    })
    .await;
    let conn_conditions = |c: &EndpointConnection| c.status.as_ref().map(|s| &s.conditions).cloned();
    for (name, stalled, ready) in [("accepted", false, "True"), ("waiting", false, "False"), ("refused", true, "False")]
    {
        wait_for(&connections, name, TIMEOUT, "kstatus conditions", |c| {
            (settled(conn_conditions(c).as_ref(), stalled) && has(conn_conditions(c).as_ref(), READY, ready, None))
                .then_some(())
        })
        .await;
    }

    // Read every object back from the API server and ask kstatus.
    let mut objects: Vec<Value> = Vec::new();
    objects.extend(services.list(&Default::default()).await.unwrap().items.iter().map(|o| json!(o)));
    objects.extend(endpoints.list(&Default::default()).await.unwrap().items.iter().map(|o| json!(o)));
    objects.extend(connections.list(&Default::default()).await.unwrap().items.iter().map(|o| json!(o)));
    sim_control("DELETE", &format!("/_sim/faults?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    let verdicts = kstatus(&objects);
    println!("kstatus verdicts: {verdicts:#?}");
    let expected = [
        ("EndpointService/ready", "Current"),
        ("EndpointService/retrying", "InProgress"),
        ("EndpointService/refused", "Failed"),
        ("InterfaceEndpoint/ready", "Current"),
        ("InterfaceEndpoint/pending", "InProgress"),
        ("InterfaceEndpoint/invalid", "Failed"),
        ("EndpointConnection/accepted", "Current"),
        ("EndpointConnection/waiting", "InProgress"),
        ("EndpointConnection/refused", "Failed"),
    ];
    for (object, status) in expected {
        let (got, message) = verdicts.get(object).unwrap_or_else(|| panic!("no verdict for {object}: {verdicts:?}"));
        assert_eq!(got, status, "{object}: {message}");
    }
    // Argo CD's own Lua engine on the same objects: Healthy where kstatus
    // says Current, Degraded where Failed, Progressing or Suspended
    // (waiting on someone else) where InProgress.
    let argo = gitops(&["argocd-health", crate::argocd::SCRIPT], &serde_json::to_string(&objects).expect("JSON"));
    let argo: Vec<Value> = serde_json::from_str(&argo).expect("health");
    println!("Argo CD health: {argo:#?}");
    for health in &argo {
        let object = format!("{}/{}", health["kind"].as_str().unwrap(), health["name"].as_str().unwrap());
        let expected: &[&str] = match verdicts[&object].0.as_str() {
            "Current" => &["Healthy"],
            "Failed" => &["Degraded"],
            _ => &["Progressing", "Suspended"],
        };
        assert!(expected.contains(&health["status"].as_str().unwrap()), "{object}: Argo CD says {health}");
    }
    assert_eq!(argo.len(), expected.len());
    // Failed carries the reason a user needs.
    assert!(verdicts["InterfaceEndpoint/invalid"].1.contains("InvalidServiceName"), "{verdicts:?}");
    assert!(verdicts["EndpointService/refused"].1.contains("--adopt-namespaces"), "{verdicts:?}");

    // A deletion the operator cannot carry out (an endpoint of the
    // namespace still uses the service) is Stalled; kstatus reports any
    // object being deleted as Terminating.
    create(
        &endpoints,
        &endpoint(&ns, "inside", json!({"vpcId": vpc.id, "serviceRef": {"name": "ready"}, "subnetIds": vpc.subnets})),
    )
    .await;
    wait_for(&endpoints, "inside", TIMEOUT, "created", |e| e.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()))
        .await;
    services.delete("ready", &DeleteParams::default()).await.expect("delete");
    let blocked = wait_for(&services, "ready", TIMEOUT, "DeletionBlocked", |s| {
        has(svc_conditions(s).as_ref(), STALLED, "True", Some("DependentsExist")).then(|| json!(s))
    })
    .await;
    assert_eq!(kstatus(&[blocked])["EndpointService/ready"].0, "Terminating");
    env.stop_controllers().await;
}
