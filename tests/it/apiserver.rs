//! The in-process API server's own tests: each Kubernetes behaviour the
//! controller tests rely on is pinned here.

use crate::support::ApiServer;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use privatelink_operator::api::{EndpointConnection, EndpointConnectionSpec};
use serde_json::json;

fn connection(name: &str) -> EndpointConnection {
    let spec: EndpointConnectionSpec = serde_json::from_value(json!({
        "serviceId": "vpce-svc-0123456789abcdef0", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"
    }))
    .unwrap();
    let mut c = EndpointConnection::new(name, spec);
    c.metadata.namespace = Some("ns".into());
    c
}

async fn api() -> (ApiServer, Api<EndpointConnection>) {
    let server = ApiServer::start().await;
    let api = Api::namespaced(server.client(), "ns");
    (server, api)
}

#[tokio::test]
async fn create_sets_server_fields_and_drops_status() {
    let (_s, api) = api().await;
    let mut c = connection("a");
    c.status = Some(Default::default());
    c.status.as_mut().unwrap().state = Some("available".into());
    let created = api.create(&PostParams::default(), &c).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    assert!(created.status.is_none(), "status is ignored on create for kinds with a status subresource");
    let err = api.create(&PostParams::default(), &c).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"), "{err:?}");
    let missing = api.get("nope").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(ref s) if s.code == 404), "{missing:?}");
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only_and_status_is_a_subresource() {
    let (_s, api) = api().await;
    api.create(&PostParams::default(), &connection("a")).await.unwrap();
    let pp = PatchParams::default();
    let after_label = api.patch("a", &pp, &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}))).await.unwrap();
    assert_eq!(after_label.metadata.generation, Some(1));
    let after_spec = api.patch("a", &pp, &Patch::Merge(json!({"spec": {"decision": "Reject"}}))).await.unwrap();
    assert_eq!(after_spec.metadata.generation, Some(2));
    // A status write through the main resource is ignored …
    let ignored = api.patch("a", &pp, &Patch::Merge(json!({"status": {"state": "x"}}))).await.unwrap();
    assert!(ignored.status.is_none());
    // … and a spec write through the status subresource too.
    let status = api
        .patch_status(
            "a",
            &pp,
            &Patch::Merge(json!({"status": {"state": "available"}, "spec": {"decision": "Accept"}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.and_then(|s| s.state).as_deref(), Some("available"));
    assert_eq!(status.spec.decision, after_spec.spec.decision);
    assert_eq!(status.metadata.generation, Some(2));
}

#[tokio::test]
async fn stale_resource_version_conflicts() {
    let (_s, api) = api().await;
    let created = api.create(&PostParams::default(), &connection("a")).await.unwrap();
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}}))).await.unwrap();
    let err = api.replace("a", &PostParams::default(), &created).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"), "{err:?}");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_s, api) = api().await;
    let mut c = connection("a");
    c.metadata.finalizers = Some(vec!["privatelink.dev/cleanup".into()]);
    api.create(&PostParams::default(), &c).await.unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let held = api.get("a").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some(), "delete sets deletionTimestamp while finalizers remain");
    let patch = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": ["privatelink.dev/cleanup"]},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]);
    let bad_test = json!([{"op": "test", "path": "/metadata/finalizers", "value": ["other"]}]);
    let pp = PatchParams::default();
    let err = api.patch("a", &pp, &Patch::<()>::Json(serde_json::from_value(bad_test).unwrap())).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 422), "{err:?}");
    api.patch("a", &pp, &Patch::<()>::Json(serde_json::from_value(patch).unwrap())).await.unwrap();
    assert!(api.get_opt("a").await.unwrap().is_none(), "the object goes when the last finalizer goes");
}

#[tokio::test]
async fn watch_streams_changes_after_a_resource_version() {
    let (_s, api) = api().await;
    let created = api.create(&PostParams::default(), &connection("a")).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let stream = api.watch(&WatchParams::default(), &rv).await.unwrap();
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"spec": {"decision": "Reject"}}))).await.unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let events: Vec<_> = stream.take(2).try_collect().await.unwrap();
    assert!(matches!(&events[0], WatchEvent::Modified(o) if o.metadata.generation == Some(2)), "{events:?}");
    assert!(matches!(&events[1], WatchEvent::Deleted(_)), "{events:?}");
}

#[tokio::test]
async fn schema_and_cel_rules_are_enforced_on_writes() {
    let (_s, api) = api().await;
    let mut bad = connection("bad");
    bad.spec.vpc_endpoint_id = "not-an-endpoint".into();
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("spec.vpcEndpointId")),
        "{err:?}"
    );
    api.create(&PostParams::default(), &connection("a")).await.unwrap();
    let err = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"vpcEndpointId": "vpce-0123456789abcdef1"}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.message.contains("immutable")), "{err:?}");
}
