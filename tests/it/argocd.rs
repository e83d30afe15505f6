//! The Argo CD health script, run under Lua 5.1 (what Argo CD's health
//! scripts run on) on fixture objects of every state of the three kinds;
//! and the argocd-cm patch carrying exactly that script for each kind.

use std::process::Command;

use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/privatelink-operator/argocd/health.lua");

/// A JSON value as a Lua table literal.
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let escaped: String = s
                .chars()
                .flat_map(|c| match c {
                    '\\' => "\\\\".chars().collect::<Vec<_>>(),
                    '"' => "\\\"".chars().collect(),
                    '\n' => "\\n".chars().collect(),
                    other => vec![other],
                })
                .collect();
            format!("\"{escaped}\"")
        }
        Value::Array(items) => format!("{{{}}}", items.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            format!("{{{}}}", map.iter().map(|(k, v)| format!("[\"{k}\"] = {}", lua(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

/// (status, message) the script gives `obj`.
fn health(obj: &Value) -> (String, String) {
    let lua_bin = std::env::var("PLO_LUA").unwrap_or_else(|_| "lua5.1".into());
    let program = format!(
        "obj = {}\nlocal hs = dofile(\"{SCRIPT}\")\nio.write(hs.status .. \"\\n\" .. (hs.message or \"\"))",
        lua(obj)
    );
    let out = Command::new(&lua_bin).arg("-e").arg(program).output().unwrap_or_else(|e| {
        panic!("{lua_bin} is needed to test the Argo CD health script ({e}): `bash tests/run.sh` installs it (apt-get install lua5.1)")
    });
    assert!(out.status.success(), "lua failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_string(), message.to_string())
}

fn object(kind: &str, generation: i64, observed: Option<i64>, conditions: Value) -> Value {
    let mut status = json!({"conditions": conditions});
    if let Some(o) = observed {
        status["observedGeneration"] = json!(o);
    }
    json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "generation": generation}, "status": status})
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": "2026-11-25T10:00:00Z"})
}

#[test]
fn health_of_every_state_of_every_kind() {
    let synced = cond("Synced", "True", "Synced", "AWS matches the spec");
    let cases = [
        // Nothing reported yet.
        (
            json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": "EndpointService", "metadata": {"name": "x", "generation": 1}}),
            "Progressing",
            "waiting for the operator",
        ),
        // A spec change not observed yet, though Ready from before.
        (
            object("EndpointService", 3, Some(2), json!([synced.clone(), cond("Ready", "True", "Available", "ok")])),
            "Progressing",
            "generation 3",
        ),
        (
            object(
                "EndpointService",
                2,
                Some(2),
                json!([synced.clone(), cond("Ready", "True", "Available", "endpoint service x is available")]),
            ),
            "Healthy",
            "is available",
        ),
        (
            object(
                "EndpointService",
                1,
                Some(1),
                json!([synced.clone(), cond("Ready", "False", "Pending", "being created")]),
            ),
            "Progressing",
            "being created",
        ),
        (
            object(
                "EndpointService",
                1,
                Some(1),
                json!([synced.clone(), cond("Ready", "False", "RegionsPending", "us-west-2 (Pending)")]),
            ),
            "Progressing",
            "us-west-2",
        ),
        (
            object(
                "EndpointService",
                1,
                Some(1),
                json!([synced.clone(), cond("Ready", "False", "Failed", "AWS will not make it Available")]),
            ),
            "Degraded",
            "Failed",
        ),
        (
            object(
                "EndpointService",
                1,
                Some(1),
                json!([
                    cond("Synced", "False", "LoadBalancerCheckFailed", "load balancer is provisioning"),
                    cond("Ready", "False", "NotSynced", "x")
                ]),
            ),
            "Degraded",
            "LoadBalancerCheckFailed",
        ),
        (
            object(
                "EndpointService",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Ready", "True", "Available", "ok"),
                    cond("DeletionBlocked", "True", "DependentsExist", "waiting for InterfaceEndpoint a")
                ]),
            ),
            "Degraded",
            "deletion blocked",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Accepted", "False", "PendingAcceptance", "AWS account 111122223333 must accept"),
                    cond("Ready", "False", "PendingAcceptance", "waits")
                ]),
            ),
            "Suspended",
            "111122223333 must accept",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Accepted", "False", "Rejected", "rejected the connection"),
                    cond("Ready", "False", "Rejected", "x")
                ]),
            ),
            "Degraded",
            "Rejected",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Accepted", "True", "Accepted", "ok"),
                    cond("Ready", "False", "Available", "private DNS is being enabled")
                ]),
            ),
            "Progressing",
            "private DNS",
        ),
        // Available, but nothing lets clients in.
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Ready", "True", "Available", "endpoint vpce-1 is available"),
                    cond(
                        "TrafficAllowed",
                        "False",
                        "SecurityGroups",
                        "The endpoint's security groups do not let the clients in."
                    )
                ]),
            ),
            "Degraded",
            "traffic blocked: SecurityGroups",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Ready", "True", "Available", "endpoint vpce-1 is available"),
                    cond("TrafficAllowed", "True", "Allowed", "nothing AWS shows blocks clients")
                ]),
            ),
            "Healthy",
            "vpce-1 is available",
        ),
        (
            object(
                "InterfaceEndpoint",
                2,
                Some(2),
                json!([
                    synced.clone(),
                    cond("Accepted", "True", "Accepted", "ok"),
                    cond("Ready", "True", "Available", "endpoint vpce-1 is available")
                ]),
            ),
            "Healthy",
            "vpce-1",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    cond("Synced", "False", "RoleNotAllowed", "namespace x may not use role y"),
                    cond("Ready", "False", "NotSynced", "x")
                ]),
            ),
            "Degraded",
            "RoleNotAllowed",
        ),
        (
            object(
                "InterfaceEndpoint",
                1,
                Some(1),
                json!([
                    cond("Synced", "True", "Waiting", "waiting for EndpointService api"),
                    cond("Ready", "False", "WaitingForService", "waiting for EndpointService api")
                ]),
            ),
            "Progressing",
            "WaitingForService",
        ),
        (
            object(
                "EndpointConnection",
                1,
                Some(1),
                json!([
                    synced.clone(),
                    cond("Ready", "False", "WaitingForEndpoint", "waiting for endpoint vpce-9"),
                    cond("Accepted", "Unknown", "WaitingForEndpoint", "x")
                ]),
            ),
            "Suspended",
            "vpce-9",
        ),
        (
            object(
                "EndpointConnection",
                1,
                Some(1),
                json!([synced.clone(), cond("Ready", "True", "DecisionApplied", "vpce-1 is available, as decided")]),
            ),
            "Healthy",
            "as decided",
        ),
        (
            object(
                "EndpointConnection",
                1,
                Some(1),
                json!([
                    cond("Synced", "False", "Conflict", "EndpointConnections b also decide vpce-1"),
                    cond("Ready", "False", "NotSynced", "x")
                ]),
            ),
            "Degraded",
            "Conflict",
        ),
        (
            object(
                "EndpointConnection",
                1,
                Some(1),
                json!([
                    synced,
                    cond("Ready", "False", "CannotAccept", "cannot accept it again"),
                    cond("Accepted", "False", "Rejected", "x")
                ]),
            ),
            "Degraded",
            "cannot accept",
        ),
    ];
    for (obj, status, fragment) in cases {
        let (got, message) = health(&obj);
        assert_eq!(got, status, "{obj}: {message}");
        assert!(message.contains(fragment), "{obj}: message {message:?} lacks {fragment:?}");
    }
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
