//! At AWS's real rates: the simulator enforces EC2's token buckets at time
//! scale 1 (what an account really allows), and the operator paces its calls
//! with its own buckets at their default scale, with its default
//! concurrency. Enough objects are applied at once that calls wait for a
//! token longer than any SDK guard's grace (the stalled-stream protection
//! fails an upload that sends nothing for 5 s), so a wait that an SDK timer
//! measured would fail calls here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, ListParams};
use privatelink_operator::api::conditions::{READY, SYNCED};
use privatelink_operator::api::{InterfaceEndpoint, InterfaceEndpointSpec};
use serde_json::json;

use crate::support::{DEFAULT_ACCOUNT, TestEnv, allow_all, create, sim_control, sim_service, sim_vpc};

/// CreateVpcEndpoint's bucket at AWS: burst 4, refill 0.3 per second; the
/// operator's buckets refill at 95 % of that.
const CREATE_BURST: f64 = 4.0;
const CREATE_REFILL: f64 = 0.3 * privatelink_operator::aws::budget::MARGIN;

#[tokio::test]
async fn endpoints_converge_at_real_rates_without_a_failed_call() {
    let region = "ap-northeast-1";
    let provider = "400000000019";
    let objects = 24;
    // One zone: the simulator knows ap-northeast-1a but no ap-northeast-1b.
    let (service, service_name) = sim_service(provider, region, false, 1, &[]).await;
    allow_all(provider, region, &service).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 1).await;
    sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": DEFAULT_ACCOUNT, "region": region, "throttle": true, "timeScale": 1.0})),
    )
    .await;

    // The operator's defaults: its buckets at AWS's rates, 8 reconciles at once.
    let defaults = privatelink_operator::config::Settings::new(region);
    let mut env = TestEnv::paced(region, 1.0, |s| s.concurrency = defaults.concurrency).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");
    let started = Instant::now();
    for i in 0..objects {
        let spec: InterfaceEndpointSpec =
            serde_json::from_value(json!({"vpcId": vpc.id, "serviceName": service_name, "subnetIds": vpc.subnets}))
                .expect("spec");
        create(&api, &InterfaceEndpoint::new(&format!("ep-{i:02}"), spec)).await;
    }

    // Every object Ready; none ever Synced=False on the way.
    let bound = (objects as f64 - CREATE_BURST) / CREATE_REFILL;
    let deadline = Duration::from_secs_f64(bound * 2.0 + 60.0);
    let mut failed: BTreeMap<String, (String, String)> = BTreeMap::new();
    let ids = loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        for e in &list.items {
            let conditions = e.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
            if let Some(c) = conditions.iter().find(|c| c.type_ == SYNCED && c.status == "False") {
                failed.entry(e.name_any()).or_insert((c.reason.clone(), c.message.clone()));
            }
        }
        let ready: Vec<_> = list
            .items
            .iter()
            .filter(|e| {
                e.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == READY && c.status == "True"))
            })
            .collect();
        if ready.len() == objects {
            break ready
                .iter()
                .filter_map(|e| e.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()))
                .collect::<BTreeSet<_>>();
        }
        assert!(
            started.elapsed() < deadline,
            "only {} of {objects} Ready after {:?}; Synced=False seen: {failed:#?}",
            ready.len(),
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = started.elapsed();
    env.stop_controllers().await;

    let log = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    sim_control("DELETE", &format!("/_sim/faults?account={DEFAULT_ACCOUNT}&region={region}"), None).await;
    let calls = log["calls"].as_array().cloned().unwrap_or_default();
    let creates = calls.iter().filter(|c| c["action"] == "CreateVpcEndpoint").count();
    let throttled = calls.iter().filter(|c| c["error"] == "RequestLimitExceeded").count();
    println!(
        "{objects} endpoints at real rates: all Ready in {:.1} s (bound at the operator's rate {bound:.1} s), \
         {creates} CreateVpcEndpoint, {throttled} throttled",
        took.as_secs_f64()
    );
    assert!(failed.is_empty(), "objects showed Synced=False on the way: {failed:#?}");
    assert_eq!(ids.len(), objects, "one endpoint per object");
    assert_eq!(creates, objects, "exactly one CreateVpcEndpoint per object");
    assert_eq!(throttled, 0, "the operator's buckets keep its calls within AWS's");
    // Waits longer than the SDK guards' grace happened: the last creates
    // waited about (objects − burst) / refill seconds.
    assert!(took.as_secs_f64() >= bound * 0.9, "converged in {took:?}, faster than the bucket allows ({bound:.1} s)");
}
