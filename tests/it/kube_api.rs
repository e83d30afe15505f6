//! What only a real Kubernetes API server can answer: the CRDs install and
//! are Established, status is a subresource the server validates, unknown
//! fields are pruned and nothing is defaulted (as `plan` assumes), finalizers
//! hold deletion, a watch resumed after a restart gets 410 Gone and the
//! controller carries on, and the operator's RBAC rules are all it needs
//! and no more.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use privatelink_operator::api::conditions::{READY, SYNCED};
use privatelink_operator::api::{EndpointService, InterfaceEndpoint, InterfaceEndpointSpec};
use privatelink_operator::controller::Context;
use serde_json::json;

use crate::support::kube::{OwnServer, admin_client, admin_client_of, ensure_namespace, operator_client_of};
use crate::support::{
    TestEnv, aws_clients, create, ec2_as, open_service, settings, sim_vpc, uuid_like, wait_for, wait_gone,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn endpoint(name: &str, spec: serde_json::Value) -> InterfaceEndpoint {
    let spec: InterfaceEndpointSpec = serde_json::from_value(spec).expect("spec");
    InterfaceEndpoint::new(name, spec)
}

fn ready(e: &InterfaceEndpoint) -> bool {
    e.status
        .as_ref()
        .is_some_and(|s| s.conditions.iter().any(|c| privatelink_operator::api::conditions::is_true(c, READY)))
}

#[tokio::test]
async fn the_crds_install_and_are_established() {
    let client = admin_client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "endpointservices.privatelink.dev",
        "endpointconnections.privatelink.dev",
        "interfaceendpoints.privatelink.dev",
    ] {
        let crd = crds.get(name).await.unwrap_or_else(|e| panic!("{name} is installed: {e}"));
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        for wanted in ["Established", "NamesAccepted"] {
            assert!(
                conditions.iter().any(|c| c.type_ == wanted && c.status == "True"),
                "{name} is not {wanted}: {conditions:?}"
            );
        }
        let generated = privatelink_operator::api::crds().into_iter().find(|c| c.name_any() == name).expect("ours");
        assert_eq!(crd.spec.versions.len(), generated.spec.versions.len());
        assert_eq!(
            crd.spec.versions[0].schema, generated.spec.versions[0].schema,
            "the server holds the schema `privatelink-operator crds` prints (no field dropped or rewritten)"
        );
    }
}

#[tokio::test]
async fn status_is_a_validated_subresource_that_survives_spec_updates() {
    let env = TestEnv::new("us-east-1").await;
    let api: Api<InterfaceEndpoint> = env.api("team-a");
    let spec = json!({"vpcId": "vpc-0123456789abcdef0", "serviceName": "com.amazonaws.us-east-1.sqs", "subnetIds": ["subnet-0123456789abcdef0"]});
    let mut obj = endpoint("status", spec);
    obj.status = Some(serde_json::from_value(json!({"state": "forged"})).expect("status"));
    let created = create(&api, &obj).await;
    assert_eq!(created.status, None, "status in a create is dropped");
    assert_eq!(created.metadata.generation, Some(1));

    let status = json!({"status": {"vpcEndpointId": "vpce-0123456789abcdef0", "state": "available",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "ok", "lastTransitionTime": "2026-11-25T10:00:00Z"}]}});
    let patched = api.patch_status("status", &PatchParams::default(), &Patch::Merge(&status)).await.expect("status");
    assert_eq!(patched.metadata.generation, Some(1), "a status write does not bump the generation");

    // The server validates status writes too (the fake one did not).
    let bad = json!({"status": {"conditions": [{"type": "Ready"}]}});
    let err = api.patch_status("status", &PatchParams::default(), &Patch::Merge(&bad)).await.expect_err("refused");
    let kube::Error::Api(refusal) = err else { panic!("{err:?}") };
    assert_eq!(refusal.code, 422, "{}", refusal.message);
    assert!(refusal.message.contains("status.conditions[0]"), "{}", refusal.message);

    // A spec update bumps the generation and keeps status; status sent to the main resource is ignored.
    let update = json!({"spec": {"securityGroupIds": ["sg-0123456789abcdef0"]}, "status": {"state": "ignored"}});
    let updated = api.patch("status", &PatchParams::default(), &Patch::Merge(&update)).await.expect("update");
    assert_eq!(updated.metadata.generation, Some(2));
    let status = updated.status.expect("status survives");
    assert_eq!(status.state.as_deref(), Some("available"));
    assert_eq!(status.vpc_endpoint_id.as_deref(), Some("vpce-0123456789abcdef0"));
}

#[tokio::test]
async fn unknown_fields_are_pruned_and_omitted_ones_stay_omitted_as_plan_assumes() {
    let env = TestEnv::new("us-east-1").await;
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns("team-a"),
        &kube::core::ApiResource::erase::<EndpointService>(&()),
    );
    let nlb = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/api/0123456789abcdef";
    let object = json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": "EndpointService", "metadata": {"name": "pruned"},
        "spec": {"networkLoadBalancerArns": [nlb], "loadBalancers": [nlb]}});
    // plan refuses the unknown field, saying the server would drop it…
    let violations = privatelink_operator::api::schema::validate_object("EndpointService", &object, None);
    assert!(violations.iter().any(|v| v.field == "spec.loadBalancers" && v.reason.contains("would drop it")));
    // …and the server (without strict validation) does drop it.
    let obj: kube::api::DynamicObject = serde_json::from_value(object).expect("object");
    let stored = api.create(&PostParams::default(), &obj).await.expect("created");
    let spec = &stored.data["spec"];
    assert!(spec.get("loadBalancers").is_none(), "pruned: {spec}");
    // Nothing is defaulted by the server: what the spec omits is resolved by the operator
    // (acceptance required on a created service, Delete on deletion).
    for omitted in ["acceptanceRequired", "deletionPolicy", "allowedPrincipals", "supportedRegions"] {
        assert!(spec.get(omitted).is_none(), "{omitted} was defaulted by the server: {spec}");
    }
    let typed: EndpointService = serde_json::from_value(serde_json::to_value(&stored).unwrap()).expect("typed");
    let owner = privatelink_operator::plan::tags::Owner {
        cluster: String::new(),
        namespace: "n".into(),
        name: "p".into(),
        uid: "u".into(),
    };
    let desired =
        privatelink_operator::plan::endpoint_service::DesiredService::from_spec(&typed.spec, &owner, 1, "us-east-1")
            .expect("valid");
    assert_eq!(desired.acceptance_required, Some(true));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let env = TestEnv::new("us-east-1").await;
    let api: Api<InterfaceEndpoint> = env.api("team-a");
    let mut obj =
        endpoint("held", json!({"vpcId": "vpc-0123456789abcdef0", "serviceName": "com.amazonaws.us-east-1.sqs"}));
    obj.metadata.finalizers = Some(vec!["privatelink.dev/cleanup".into()]);
    create(&api, &obj).await;
    api.delete("held", &DeleteParams::default()).await.expect("delete");
    let held = api.get("held").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("remove finalizer");
    wait_gone(&api, "held", TIMEOUT).await;
}

#[tokio::test]
async fn after_an_api_server_restart_a_stale_watch_gets_410_and_the_controller_carries_on() {
    let region = "mx-central-1";
    let provider = "400000000030";
    let (_, name) = open_service(provider, region, false).await;
    let vpc = sim_vpc(crate::support::DEFAULT_ACCOUNT, region, 1).await;
    let mut server = OwnServer::start(&[]);
    let admin = admin_client_of(&server.kubeconfig).await;
    let ns = format!("restart-{}", &uuid_like()[..8]);
    ensure_namespace(&admin, &ns).await;
    let operator = operator_client_of(&admin, &server.kubeconfig).await;
    let mut s = settings(region);
    s.namespaces = vec![ns.clone()];
    let ctx = Arc::new(Context::new(operator, aws_clients().await, s));
    let controller = tokio::spawn(privatelink_operator::controller::interface_endpoint::run(ctx));

    let api: Api<InterfaceEndpoint> = Api::namespaced(admin.clone(), &ns);
    let spec = json!({"vpcId": vpc.id, "serviceName": name, "subnetIds": vpc.subnets});
    create(&api, &endpoint("before", spec.clone())).await;
    let before = wait_for(&api, "before", TIMEOUT, "Ready", |e| ready(e).then(|| e.clone())).await;
    let stale = before.resource_version().expect("resourceVersion");
    // The cluster moves on (the revision grows), then the control plane restarts.
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    for i in 0..5 {
        let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("tick-{i}")}})).unwrap();
        maps.create(&PostParams::default(), &map).await.expect("configmap");
    }
    let started = std::time::Instant::now();
    server.restart();
    println!("restart took {:?}", started.elapsed());

    // A watch resumed from the resourceVersion the controller last saw is Gone…
    let admin = admin_client_of(&server.kubeconfig).await;
    let api: Api<InterfaceEndpoint> = Api::namespaced(admin.clone(), &ns);
    let gone = match api.watch(&WatchParams::default().timeout(5), &stale).await {
        Err(kube::Error::Api(status)) => status.code == 410,
        Ok(stream) => {
            let mut stream = stream.boxed();
            matches!(stream.next().await, Some(Ok(WatchEvent::Error(e))) if e.code == 410)
        }
        Err(_) => false,
    };
    assert!(gone, "a watch from resourceVersion {stale} after the restart answers 410 Gone");

    // …so the controller relists, and goes on reconciling.
    create(&api, &endpoint("after", spec)).await;
    wait_for(&api, "after", Duration::from_secs(60), "Ready after the restart", |e| ready(e).then_some(())).await;
    println!("Ready after the restart: {:?}", started.elapsed());
    api.delete("before", &DeleteParams::default()).await.expect("delete");
    wait_gone(&api, "before", TIMEOUT).await;
    let id = before.status.and_then(|s| s.vpc_endpoint_id).expect("id");
    let listed = ec2_as(crate::support::DEFAULT_ACCOUNT, region)
        .await
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&id)
        .send()
        .await
        .map(|o| o.vpc_endpoints().len())
        .unwrap_or(0);
    assert_eq!(listed, 0, "deleted through the controller after the restart");
    controller.abort();
}

#[tokio::test]
async fn the_operator_has_its_rules_and_nothing_more() {
    let env = TestEnv::new("us-east-1").await;
    let operator = env.ctx.client.clone();
    let ns = env.ns("team-a");
    let services: Api<EndpointService> = Api::namespaced(operator.clone(), &ns);
    services.list(&ListParams::default()).await.expect("list is granted");
    let forbidden = |r: Result<_, kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 403);
    assert!(forbidden(services.delete("x", &DeleteParams::default()).await.map(|_| ())), "no delete");
    let nlb = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/api/0123456789abcdef";
    let svc: EndpointService =
        serde_json::from_value(json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": "EndpointService",
            "metadata": {"name": "x"}, "spec": {"networkLoadBalancerArns": [nlb]}}))
        .unwrap();
    assert!(forbidden(services.create(&PostParams::default(), &svc).await.map(|_| ())), "no create");
    let secrets: Api<Secret> = Api::namespaced(operator.clone(), &ns);
    assert!(forbidden(secrets.list(&ListParams::default()).await.map(|_| ())), "no secrets");
    let crds: Api<CustomResourceDefinition> = Api::all(operator);
    assert!(forbidden(crds.list(&ListParams::default()).await.map(|_| ())), "no CRDs");
}

#[tokio::test]
async fn a_rule_missing_from_the_chart_fails_the_reconcile() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let env = TestEnv::with_settings("us-east-1", |s| {
        s.tenancy.operator_credentials = crate::support::namespaces(&[]);
    })
    .await;
    // An account bound to the chart's rules without the status rule.
    let admin = env.client.clone();
    let name = format!("no-status-{}", env.id);
    let ns = crate::support::kube::OPERATOR_NAMESPACE;
    let rules: Vec<_> = crate::support::kube::operator_rules()
        .into_iter()
        .filter(|r| !r.resources.iter().flatten().any(|res| res.ends_with("/status")))
        .collect();
    let role: ClusterRole = serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
    Api::<ClusterRole>::all(admin.clone()).create(&PostParams::default(), &role).await.expect("role");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({"metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]}))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone()).create(&PostParams::default(), &binding).await.expect("binding");
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    accounts.create(&PostParams::default(), &account).await.expect("account");
    let token = accounts
        .create_token_request(&name, &PostParams::default(), &Default::default())
        .await
        .expect("token")
        .status
        .expect("status")
        .token;
    let kubeconfig = crate::support::kube::kubeconfig_path();
    let kubeconfig = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    config.auth_info = kube::config::AuthInfo { token: Some(token.into()), ..Default::default() };
    let limited = kube::Client::try_from(config).expect("client");
    let ctx = Arc::new(Context::new(limited, env.aws.clone(), env.ctx.settings.clone()));

    // An object refused by the tenancy rules needs no AWS call, only a status write…
    let api: Api<InterfaceEndpoint> = env.api("team-a");
    let obj = create(
        &api,
        &endpoint("limited", json!({"vpcId": "vpc-0123456789abcdef0", "serviceName": "com.amazonaws.us-east-1.sqs"})),
    )
    .await;
    use privatelink_operator::controller::interface_endpoint::reconcile;
    reconcile(Arc::new(obj), ctx.clone()).await.expect("the finalizer is added (patch is granted)");
    let obj = api.get("limited").await.expect("get");
    assert_eq!(obj.finalizers(), ["privatelink.dev/cleanup"]);
    let err = reconcile(Arc::new(obj), ctx).await.expect_err("the status write is forbidden");
    assert!(err.to_string().contains("403") || err.to_string().to_lowercase().contains("forbidden"), "{err}");
    // …which the chart's full rules allow.
    let obj = api.get("limited").await.expect("get");
    reconcile(Arc::new(obj), env.ctx.clone()).await.expect("the chart's rules are enough");
    let obj = api.get("limited").await.expect("get");
    let synced = obj.status.expect("status").conditions.into_iter().find(|c| c.type_ == SYNCED).expect("Synced");
    assert_eq!(synced.reason, "CredentialsNotAllowed");
}
