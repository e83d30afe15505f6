//! The Helm chart: linted and rendered by the real Helm library for several
//! value sets (tests/chart/check.py), every object valid against the
//! Kubernetes schemas, least-privilege and restricted by construction, every
//! operator setting reachable, bad values refused — and one rendering
//! applied to the test API server, whose RBAC then grants the operator's
//! account exactly what it needs.

use std::collections::BTreeSet;
use std::process::Command;

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde_json::{Value, json};

use crate::support::kube::{admin_client, ensure_namespace, leader_election_rules, operator_rules};

/// Run tests/chart/check.py with the chart tools' Python.
pub fn chart_report(release: &str, namespace: &str) -> Value {
    let python = std::env::var("PLO_CHART_PYTHON").unwrap_or_else(|_| {
        panic!(
            "PLO_CHART_PYTHON is not set: run the tests with `bash tests/run.sh`, which installs the chart tools \
             (tests/chart/requirements.txt: the real Helm library and the Kubernetes schemas) into a virtualenv"
        )
    });
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(python)
        .arg(format!("{root}/tests/chart/check.py"))
        .arg(format!("{root}/charts/privatelink-operator"))
        .arg(format!("{root}/tests/chart/values"))
        .arg(release)
        .arg(namespace)
        .output()
        .expect("check.py runs");
    assert!(out.status.success(), "check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("check.py prints JSON")
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == json!(kind)).collect()
}

/// The env var names `privatelink-operator run --help` reads settings from.
fn settings_env() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_privatelink-operator")).args(["run", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    help.split("[env: ").skip(1).filter_map(|rest| rest.split('=').next()).map(str::to_string).collect()
}

#[test]
fn the_charts_crds_are_the_crds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let chart =
        std::fs::read_to_string(format!("{root}/charts/privatelink-operator/crds/privatelink.dev.yaml")).unwrap();
    let crds = std::fs::read_to_string(format!("{root}/crds/privatelink.dev.yaml")).unwrap();
    assert!(
        chart == crds,
        "charts/privatelink-operator/crds/ is stale: cp crds/privatelink.dev.yaml charts/privatelink-operator/crds/"
    );
}

#[tokio::test]
async fn the_chart_renders_valid_least_privilege_manifests_and_installs() {
    let id = &crate::support::uuid_like()[..8];
    let (release, ns) = (format!("plo-{id}"), format!("chart-{id}"));
    let report = chart_report(&release, &ns);
    assert_eq!(report["problems"], json!([]), "{:#}", report["problems"]);
    let refused = report["refused"].as_object().expect("refused");
    assert_eq!(refused.len(), 5, "bad values are refused: {refused:#?}");
    assert!(refused["resync zero"].as_str().unwrap().contains("resyncSeconds"));
    assert!(refused["namespaced without a cluster id"].as_str().unwrap().contains("operator.clusterId"));

    let renderings = report["renderings"].as_object().expect("renderings");
    let env_names = settings_env();
    assert!(env_names.contains("PLO_ALLOWED_ROLES") && env_names.len() >= 15, "{env_names:?}");
    for (set, objects) in renderings {
        let objects = objects.as_array().expect("objects");
        // No wildcard anywhere in RBAC; the rules are the ones the tests run with.
        for role in of_kind(objects, "ClusterRole").into_iter().chain(of_kind(objects, "Role")) {
            for rule in role["rules"].as_array().expect("rules") {
                for field in ["verbs", "resources", "apiGroups"] {
                    assert!(!rule[field].as_array().unwrap().contains(&json!("*")), "{set}: wildcard in {rule}");
                }
            }
            let rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule> =
                serde_json::from_value(role["rules"].clone()).expect("rules");
            let name = role["metadata"]["name"].as_str().unwrap();
            if name.ends_with("-view") || name.ends_with("-edit") {
                // Users' roles, aggregated into view/edit: the three kinds, never their status.
                let labels = &role["metadata"]["labels"];
                assert_eq!(labels["rbac.authorization.k8s.io/aggregate-to-edit"], "true", "{set}: {name}");
                assert!(rules.iter().all(|r| r.resources.as_ref().unwrap().iter().all(|r| !r.contains('/'))));
                continue;
            }
            let expected = if name.ends_with("-leader-election") { leader_election_rules() } else { operator_rules() };
            assert_eq!(rules, expected, "{set}: {name} holds the shared rules");
        }
        let deployment = of_kind(objects, "Deployment")[0];
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], json!(true), "{set}");
        assert_eq!(pod["securityContext"]["seccompProfile"]["type"], json!("RuntimeDefault"), "{set}");
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], json!(true), "{set}");
        assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], json!(false), "{set}");
        assert_eq!(container["securityContext"]["capabilities"]["drop"], json!(["ALL"]), "{set}");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], json!("/healthz"), "{set}");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], json!("/readyz"), "{set}");
        assert!(container["resources"]["requests"]["memory"].is_string(), "{set}");
        let env: BTreeSet<String> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect();
        // Every setting is reachable from values (AWS_REGION and
        // PLO_SESSION_ROLE only when set; the tenancy rules through the
        // tenancy ConfigMap).
        const TENANCY: [&str; 4] =
            ["PLO_OPERATOR_CREDENTIALS_NAMESPACES", "PLO_ALLOWED_ROLES", "PLO_ADOPT_NAMESPACES", "PLO_ALLOWED_VPCS"];
        assert!(env.contains("PLO_TENANCY_CONFIGMAP"), "{set}");
        let missing: Vec<&String> = env_names
            .iter()
            .filter(|n| !env.contains(*n) && !TENANCY.contains(&n.as_str()))
            .filter(|n| !["AWS_REGION", "PLO_SESSION_ROLE"].contains(&n.as_str()) || set == "multi-tenant")
            .collect();
        assert!(missing.is_empty(), "{set}: settings the chart cannot set: {missing:?}");
        // One ServiceAccount name whatever the release: the IAM trust subject.
        assert_eq!(pod["serviceAccountName"], "privatelink-operator", "{set}");
        // At two replicas or more: a budget of one down at a time and a
        // spread over zones and nodes; at one, neither.
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap();
        let budgets = of_kind(objects, "PodDisruptionBudget");
        let spread = pod["topologySpreadConstraints"].as_array().map(Vec::len).unwrap_or(0);
        if replicas > 1 {
            assert_eq!(budgets.len(), 1, "{set}");
            assert_eq!(budgets[0]["spec"]["maxUnavailable"], 1, "{set}");
            assert_eq!(spread, 2, "{set}");
        } else {
            assert!(budgets.is_empty() && spread == 0, "{set}");
        }
    }
    let namespaced = renderings["namespaced"].as_array().unwrap();
    assert!(of_kind(namespaced, "ClusterRole").is_empty(), "namespaced mode has no ClusterRole");
    let role_namespaces: BTreeSet<&str> = of_kind(namespaced, "Role")
        .iter()
        .filter(|r| !r["metadata"]["name"].as_str().unwrap().ends_with("-leader-election"))
        .map(|r| r["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(role_namespaces, BTreeSet::from(["checkout", "payments"]));
    let tenant = renderings["multi-tenant"].as_array().unwrap();
    assert_eq!(of_kind(tenant, "ServiceMonitor").len(), 1);
    // The tenancy rules are in one ConfigMap the operator reads.
    let tenancy = of_kind(tenant, "ConfigMap")[0];
    let data: std::collections::BTreeMap<String, String> =
        serde_json::from_value(tenancy["data"].clone()).expect("data");
    let rules = privatelink_operator::config::Tenancy::from_config_map(&data).expect("valid rules");
    assert!(rules.operator_credentials.contains("platform-eu") && !rules.operator_credentials.contains("team-a"));
    // A shard release reads the first release's ConfigMap and renders none.
    let shard = renderings["shard-a"].as_array().unwrap();
    assert!(of_kind(shard, "ConfigMap").is_empty(), "the shard renders no rules of its own");
    let shard_env = &of_kind(shard, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"];
    let source = shard_env.as_array().unwrap().iter().find(|e| e["name"] == "PLO_TENANCY_CONFIGMAP").expect("env");
    assert!(source["value"].as_str().unwrap().ends_with("/privatelink-operator-tenancy"), "{source}");
    let sa = of_kind(tenant, "ServiceAccount")[0];
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string());
    // NOTES.txt says what to do next, with the IAM trust subject.
    let notes = report["notes"]["default"].as_str().unwrap();
    assert!(notes.contains("Next:") && notes.contains(&format!("system:serviceaccount:{ns}:privatelink-operator")));
    // A shard uses the first release's ServiceAccount.
    assert!(of_kind(shard, "ServiceAccount").is_empty());
    // A dependency of an umbrella chart, with global values it does not know.
    let umbrella = renderings["umbrella"].as_array().unwrap();
    let deployment = of_kind(umbrella, "Deployment")[0];
    assert_eq!(deployment["metadata"]["name"], "platform-privatelink-operator");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "AWS_REGION" && e["value"] == "eu-west-1"), "{env:?}");
    // Names and the metrics NetworkPolicy.
    let single = renderings["single"].as_array().unwrap();
    assert_eq!(of_kind(single, "Deployment")[0]["metadata"]["name"], "privatelink");
    let policy = of_kind(single, "NetworkPolicy")[0];
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], "http");
    assert!(policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"].is_object());

    // Install the default rendering on the API server.
    let defaults = renderings["default"].as_array().unwrap();
    let kinds: Vec<String> = defaults
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect();
    println!("rendered objects (defaults): {kinds:?}");
    let client = admin_client().await;
    ensure_namespace(&client, &ns).await;
    for object in defaults {
        let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), object["apiVersion"].as_str().unwrap().to_string()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, object["kind"].as_str().unwrap());
        let (resource, caps) = kube::discovery::pinned_kind(&client, &gvk).await.expect("served kind");
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), &ns, &resource),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        api.patch(name, &PatchParams::apply("chart-test").force(), &Patch::Apply(object))
            .await
            .unwrap_or_else(|e| panic!("the API server refuses {}: {e}", kinds.join(",")));
    }
    // The installed RBAC grants the operator's account what it needs, and not more.
    let account = format!("system:serviceaccount:{ns}:privatelink-operator");
    let may = |verb: &str, resource: &str, sub: &str, group: &str, namespace: Option<&str>| {
        let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {"user": account,
            "groups": ["system:serviceaccounts"],
            "resourceAttributes": {"verb": verb, "resource": resource, "subresource": sub, "group": group, "namespace": namespace}}}))
        .unwrap();
        let client = client.clone();
        async move {
            let reviews: Api<SubjectAccessReview> = Api::all(client);
            let answer = reviews.create(&PostParams::default(), &review).await.expect("review");
            answer.status.is_some_and(|s| s.allowed)
        }
    };
    assert!(may("patch", "endpointservices", "status", "privatelink.dev", Some("team-x")).await);
    assert!(may("watch", "interfaceendpoints", "", "privatelink.dev", None).await);
    assert!(may("create", "leases", "", "coordination.k8s.io", Some(&ns)).await);
    assert!(
        !may("create", "leases", "", "coordination.k8s.io", Some("kube-system")).await,
        "leases only in its own namespace"
    );
    assert!(!may("delete", "endpointservices", "", "privatelink.dev", Some("team-x")).await);
    assert!(!may("get", "secrets", "", "", Some(&ns)).await);

    // A team bound to the users' roles in its namespace edits the kinds there,
    // never their status.
    let team = format!("team-{id}");
    ensure_namespace(&client, &team).await;
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(client.clone(), &team);
    for role in ["view", "edit"] {
        let binding = serde_json::from_value(json!({
            "metadata": {"name": format!("team-{role}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{release}-privatelink-operator-{role}")},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}))
        .unwrap();
        bindings.create(&PostParams::default(), &binding).await.expect("binding");
    }
    let alice = |verb: &'static str, sub: &'static str, namespace: String| {
        let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {"user": "alice",
            "resourceAttributes": {"verb": verb, "resource": "interfaceendpoints", "subresource": sub, "group": "privatelink.dev", "namespace": namespace}}}))
        .unwrap();
        let client = client.clone();
        async move {
            let reviews: Api<SubjectAccessReview> = Api::all(client);
            reviews.create(&PostParams::default(), &review).await.expect("review").status.is_some_and(|s| s.allowed)
        }
    };
    assert!(alice("create", "", team.clone()).await && alice("list", "", team.clone()).await);
    assert!(!alice("patch", "status", team.clone()).await, "status is the operator's");
    assert!(!alice("create", "", ns.clone()).await, "only where bound");
}
