//! The Argo CD health script, in Argo CD's upstream layout
//! (charts/privatelink-operator/argocd/resource_customizations/
//! privatelink.dev/_/: health.lua, health_test.yaml, testdata/), run by
//! Argo CD's own Lua package (github.com/argoproj/argo-cd/v3 util/lua,
//! through tests/gitops) as Argo CD's own tests run it; and the argocd-cm
//! patch carrying exactly that script for each kind. tests/it/kstatus.rs
//! also runs it on objects the operator reconciled.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::gitops;

/// Argo CD's resource_customizations tree of this project.
pub const CUSTOMIZATIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/charts/privatelink-operator/argocd/resource_customizations");

/// The health script (one for every kind of the group: the `_` directory).
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/privatelink-operator/argocd/resource_customizations/privatelink.dev/_/health.lua"
);

#[test]
fn argo_cds_lua_engine_gives_every_state_of_every_kind_its_health() {
    let out = gitops(&["argocd-tests", CUSTOMIZATIONS], "");
    let outcomes: Vec<Value> = serde_json::from_str(&out).expect("outcomes");
    let failed: Vec<&Value> = outcomes.iter().filter(|o| o["passed"] != true).collect();
    assert!(failed.is_empty(), "health_test.yaml cases Argo CD's engine disagrees with: {failed:#?}");
    // Every kind in every health it can have.
    let covered: BTreeSet<(String, String)> = outcomes
        .iter()
        .map(|o| {
            let input = o["input"].as_str().unwrap();
            let kind = input.trim_start_matches("testdata/").split('-').next().unwrap().to_string();
            (kind, o["got"]["status"].as_str().unwrap().to_string())
        })
        .collect();
    for (kind, statuses) in [
        ("endpointservice", &["Healthy", "Progressing", "Degraded"][..]),
        ("interfaceendpoint", &["Healthy", "Progressing", "Suspended", "Degraded"][..]),
        ("endpointconnection", &["Healthy", "Suspended", "Degraded"][..]),
    ] {
        for status in statuses {
            assert!(covered.contains(&(kind.to_string(), status.to_string())), "no {kind} case that is {status}");
        }
    }
    println!("Argo CD engine: {} cases, all as expected", outcomes.len());
}

#[test]
fn the_argocd_patch_carries_the_script_for_each_kind() {
    let patch = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/privatelink-operator/argocd/argocd-cm-patch.yaml"
    ))
    .unwrap();
    let doc: Value = serde_yaml::from_str(&patch).expect("YAML");
    let script = std::fs::read_to_string(SCRIPT).unwrap();
    for kind in ["EndpointService", "EndpointConnection", "InterfaceEndpoint"] {
        let key = format!("resource.customizations.health.privatelink.dev_{kind}");
        assert_eq!(doc["data"][&key].as_str(), Some(script.as_str()), "{key} is health.lua");
    }
}
