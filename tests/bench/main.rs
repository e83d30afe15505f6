//! The benchmark's driver (run by tests/bench.sh, which starts the servers):
//! the operator binary against the AWS simulator enforcing EC2's token
//! buckets — at AWS's real rates unless `--time-scale` compresses them — and
//! the real Kubernetes API server.
//!
//! `--objects N (100) --time-scale X (1) [--seed] [--resync S] [--concurrency C]`

#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use privatelink_operator::api::InterfaceEndpoint;
use privatelink_operator::plan::tags::{
    MANAGED_BY, MANAGED_BY_VALUE, OWNER_CLUSTER, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID,
};
use serde_json::{Value, json};

use support::{DEFAULT_ACCOUNT, ec2_as, http_get, sim_control, sim_service, sim_vpc, uuid_like};

const REGION: &str = "ap-northeast-3";
/// The operator's cluster id (`--cluster-id`), also in the seeded endpoints' tags.
const CLUSTER: &str = "bench";
const PROVIDER: &str = "500000000001";
/// CreateVpcEndpoint's bucket: burst and refill per second (AWS-FACTS).
const CREATE_BURST: f64 = 4.0;
const CREATE_REFILL: f64 = 0.3;
/// The operator's own bucket for it refills at this share of AWS's rate
/// (`--aws-rate-scale 1`, the default).
const MARGIN: f64 = privatelink_operator::aws::budget::MARGIN;

struct Args {
    objects: usize,
    time_scale: f64,
    seed: bool,
    resync: u64,
    concurrency: u16,
}

fn args() -> Args {
    let mut a = Args { objects: 100, time_scale: 1.0, seed: false, resync: 20, concurrency: 8 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = || argv.get(i + 1).cloned().unwrap_or_else(|| panic!("{} needs a value", argv[i]));
        match argv[i].as_str() {
            "--objects" => a.objects = value().parse().expect("--objects N"),
            "--time-scale" => a.time_scale = value().parse().expect("--time-scale X"),
            "--resync" => a.resync = value().parse().expect("--resync seconds"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--seed" => {
                a.seed = true;
                i += 1;
                continue;
            }
            other => {
                panic!("unknown argument {other}: --objects N --time-scale X [--seed] [--resync S] [--concurrency C]")
            }
        }
        i += 2;
    }
    a
}

/// The operator, as its Deployment runs it.
struct Operator {
    child: Child,
    port: u16,
}

impl Operator {
    fn start(ns: &str, a: &Args, per_object: bool, log: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"));
        cmd.args(["run", "--namespace", ns, "--log-format", "json"])
            .args(["--http-address", &format!("127.0.0.1:{port}")])
            .args(["--aws-rate-scale", &a.time_scale.to_string()])
            .args(["--resync-seconds", &a.resync.to_string(), "--poll-seconds", "1"])
            .args(["--concurrency", &a.concurrency.to_string()])
            .args(["--cluster-id", CLUSTER])
            .env("KUBECONFIG", support::kube::kubeconfig_path())
            .env("AWS_ENDPOINT_URL", support::aws_endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).expect("log file")));
        if per_object {
            cmd.arg("--per-object-reads");
        }
        Self { child: cmd.spawn().expect("start the operator"), port }
    }

    async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the operator exited: {exit}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && http_get(self.port, "/readyz").await.0 == 200
            {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the operator never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// AWS calls so far by operation (from /metrics), and retries.
    async fn calls(&self) -> (BTreeMap<String, f64>, f64) {
        let (_, text) = http_get(self.port, "/metrics").await;
        let mut calls = BTreeMap::new();
        let mut retries = 0.0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let value: f64 = value.parse().unwrap_or(0.0);
            if series.starts_with("privatelink_aws_api_requests_total{") {
                let op = series.split("operation=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
                *calls.entry(op.to_string()).or_default() += value;
            } else if series.starts_with("privatelink_aws_api_retries_total{") {
                retries += value;
            }
        }
        (calls, retries)
    }

    /// Peak resident memory (VmHWM), MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_read(op: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| op.starts_with(p))
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

fn sum(calls: &BTreeMap<String, f64>, reads: bool) -> f64 {
    calls.iter().filter(|(op, _)| is_read(op) == reads).map(|(_, v)| v).sum()
}

fn ready(e: &InterfaceEndpoint) -> bool {
    e.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn synced_false(e: &InterfaceEndpoint) -> bool {
    e.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Synced" && c.status == "False"))
}

fn throttled_condition(e: &InterfaceEndpoint) -> bool {
    e.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.status == "False" && (c.reason.contains("RequestLimitExceeded") || c.reason.contains("Throttl")))
    })
}

/// Wait until every object is Ready; counts objects that ever showed a
/// throttling error as a condition, and objects that ever showed
/// `Synced=False` (any failed reconcile: a throttle, a timeout).
async fn wait_all_ready(api: &Api<InterfaceEndpoint>, n: usize, limit: Duration) -> (Duration, usize, usize) {
    let started = Instant::now();
    let mut throttled = std::collections::BTreeSet::new();
    let mut unsynced = std::collections::BTreeSet::new();
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        for e in list.items.iter().filter(|e| throttled_condition(e)) {
            throttled.insert(e.name_any());
        }
        for e in list.items.iter().filter(|e| synced_false(e)) {
            unsynced.insert(e.name_any());
        }
        let done = list.items.iter().filter(|e| ready(e)).count();
        if done >= n {
            return (started.elapsed(), throttled.len(), unsynced.len());
        }
        assert!(started.elapsed() < limit, "only {done} of {n} Ready after {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn endpoint(name: &str, vpc: &support::Vpc, group: &str, service: &str) -> InterfaceEndpoint {
    let spec = json!({"vpcId": vpc.id, "serviceName": service, "subnetIds": vpc.subnets, "securityGroupIds": [group]});
    InterfaceEndpoint::new(name, serde_json::from_value(spec).expect("spec"))
}

async fn create_all(api: &Api<InterfaceEndpoint>, objects: Vec<InterfaceEndpoint>) {
    futures::stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &o).await.map(|_| ()) }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("create objects");
}

/// From the simulator's call log of the benchmark's account and region:
/// calls answered RequestLimitExceeded, and CreateVpcEndpoint calls.
async fn sim_log_counts() -> (usize, usize) {
    let log = sim_control("GET", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}&region={REGION}"), None).await;
    let calls = log["calls"].as_array().cloned().unwrap_or_default();
    let throttled = calls.iter().filter(|c| c["error"] == "RequestLimitExceeded").count();
    let creates = calls.iter().filter(|c| c["action"] == "CreateVpcEndpoint").count();
    (throttled, creates)
}

fn table(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    support::require_simulator();
    let client = support::kube::admin_client().await;
    let ns = format!("bench-{}", &uuid_like()[..8]);
    support::kube::ensure_namespace(&client, &ns).await;
    let api: Api<InterfaceEndpoint> = Api::namespaced(client.clone(), &ns);
    let logs = std::env::temp_dir().join(&ns);
    std::fs::create_dir_all(&logs).unwrap();

    // The consumer's network and a provider's service without acceptance.
    let (service, service_name) = sim_service(PROVIDER, REGION, false, 2, &[]).await;
    support::allow_all(PROVIDER, REGION, &service).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, REGION, 2).await;
    let ec2 = ec2_as(DEFAULT_ACCOUNT, REGION).await;
    let group = ec2
        .create_security_group()
        .group_name("bench")
        .description("bench")
        .vpc_id(&vpc.id)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let names: Vec<String> = (0..a.objects).map(|i| format!("ep-{i:05}")).collect();

    let mut first_call = None;
    let (mut earlier_throttled, mut earlier_creates) = (0, 0);
    let wall_started = Instant::now();
    let (operator, converge, throttled_conditions, unsynced) = if a.seed {
        // Objects first (their UIDs go into the seeded endpoints' tags), then
        // the endpoints, then the operator.
        create_all(&api, names.iter().map(|n| endpoint(n, &vpc, &group, &service_name)).collect()).await;
        let objects = api.list(&ListParams::default()).await.expect("list").items;
        let tags: Vec<Value> = objects
            .iter()
            .map(|o| {
                json!({MANAGED_BY: MANAGED_BY_VALUE, OWNER_CLUSTER: CLUSTER, OWNER_NAMESPACE: ns, OWNER_NAME: o.name_any(), OWNER_UID: o.uid().unwrap()})
            })
            .collect();
        for chunk in tags.chunks(1000) {
            sim_control(
                "POST",
                "/_sim/seed-endpoints",
                Some(json!({"account": DEFAULT_ACCOUNT, "region": REGION, "vpcId": vpc.id, "subnetIds": vpc.subnets,
                    "securityGroupIds": [group], "serviceName": service_name, "tags": chunk})),
            )
            .await;
        }
        sim_control(
            "PUT",
            "/_sim/faults",
            Some(json!({"account": DEFAULT_ACCOUNT, "region": REGION, "throttle": true, "timeScale": a.time_scale})),
        )
        .await;
        let mut op = Operator::start(&ns, &a, false, logs.join("operator.log").to_str().unwrap());
        op.wait_ready().await;
        let (took, throttled, unsynced) = wait_all_ready(&api, a.objects, Duration::from_secs(1800)).await;
        // One more object: how long until its first AWS write. (The call
        // log is emptied first, so each look at it stays small.)
        (earlier_throttled, earlier_creates) = sim_log_counts().await;
        sim_control("DELETE", &format!("/_sim/calls?account={DEFAULT_ACCOUNT}"), None).await;
        let creates = || async { sim_log_counts().await.1 };
        let before = creates().await;
        let applied = Instant::now();
        api.create(&PostParams::default(), &endpoint("ep-new", &vpc, &group, &service_name)).await.expect("apply");
        while creates().await == before {
            assert!(applied.elapsed() < Duration::from_secs(60), "the new object never reached AWS");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first_call = Some(applied.elapsed());
        (op, took, throttled, unsynced)
    } else {
        sim_control(
            "PUT",
            "/_sim/faults",
            Some(json!({"account": DEFAULT_ACCOUNT, "region": REGION, "throttle": true, "timeScale": a.time_scale})),
        )
        .await;
        let mut op = Operator::start(&ns, &a, false, logs.join("operator.log").to_str().unwrap());
        op.wait_ready().await;
        let started = Instant::now();
        create_all(&api, names.iter().map(|n| endpoint(n, &vpc, &group, &service_name)).collect()).await;
        let (_, throttled, unsynced) = wait_all_ready(&api, a.objects, Duration::from_secs(3600)).await;
        (op, started.elapsed(), throttled, unsynced)
    };
    let applied_n = a.objects + usize::from(a.seed);

    // One in-sync resync: the reads over three resync periods, by three.
    let resync = Duration::from_secs(a.resync);
    tokio::time::sleep(resync).await;
    let (before, _) = operator.calls().await;
    tokio::time::sleep(resync * 3).await;
    let (after, retries) = operator.calls().await;
    let insync = delta(&after, &before);
    let insync_reads = (sum(&insync, true) / 3.0).ceil() as u64;
    let insync_mutating = sum(&insync, false) as u64;
    let peak_rss = operator.peak_rss_mib();
    let (all_calls, _) = operator.calls().await;
    operator.stop();

    // The same resync, one Describe per object (how the peers read).
    let peer = Operator::start(&ns, &a, true, logs.join("operator-peer.log").to_str().unwrap());
    let mut peer = peer;
    peer.wait_ready().await;
    tokio::time::sleep(resync).await;
    let (before, _) = peer.calls().await;
    tokio::time::sleep(resync * 3).await;
    let (after, _) = peer.calls().await;
    let peer_reads = (sum(&delta(&after, &before), true) / 3.0).ceil() as u64;
    peer.stop();

    let converge_s = converge.as_secs_f64() * a.time_scale;
    // What the CreateVpcEndpoint bucket allows after its burst: at AWS's
    // rate, and at the operator's own (the buckets it paces itself with).
    let bound = |refill: f64| if a.seed { 0.0 } else { ((a.objects as f64 - CREATE_BURST) / refill).max(0.0) };
    let (bound_s, configured_bound_s) = (bound(CREATE_REFILL), bound(CREATE_REFILL * MARGIN));
    let ratio_to = |b: f64| if b > 0.0 { converge_s / b } else { 0.0 };
    let (ratio, configured_ratio) = (ratio_to(bound_s), ratio_to(configured_bound_s));
    let (throttled, creates) = sim_log_counts().await;
    let (throttled, creates) = (earlier_throttled + throttled, earlier_creates + creates);
    sim_control("DELETE", &format!("/_sim/faults?account={DEFAULT_ACCOUNT}&region={REGION}"), None).await;
    let clock = if a.time_scale == 1.0 {
        "AWS's real rates (time scale 1)".to_string()
    } else {
        format!("compressed: buckets {}x faster than AWS, waits {}x shorter", a.time_scale, a.time_scale)
    };
    println!(
        "\nbenchmark: {} InterfaceEndpoints{}, time scale {}x, resync {} s, concurrency {}",
        a.objects,
        if a.seed { " seeded in AWS" } else { "" },
        a.time_scale,
        a.resync,
        a.concurrency
    );
    let mut rows = vec![
        ("clock", clock),
        ("objects", applied_n.to_string()),
        ("wall seconds (to all Ready)", format!("{:.1}", converge.as_secs_f64())),
        ("simulated seconds (to all Ready)", format!("{converge_s:.1}")),
        ("CreateVpcEndpoint bound, AWS's rate (s)", format!("{bound_s:.1}")),
        ("CreateVpcEndpoint bound, operator's rate (s)", format!("{configured_bound_s:.1}")),
        ("ratio to AWS's bound", format!("{ratio:.3}")),
        ("ratio to the operator's bound", format!("{configured_ratio:.3}")),
        ("CreateVpcEndpoint calls (simulator)", creates.to_string()),
        ("in-sync resync: reads", format!("{insync_reads}")),
        ("in-sync resync: mutating calls", format!("{insync_mutating}")),
        ("peer-style resync: reads", format!("{peer_reads}")),
        ("throttled calls (simulator)", throttled.to_string()),
        ("throttling errors in conditions", throttled_conditions.to_string()),
        ("objects ever Synced=False", unsynced.to_string()),
        ("retries", format!("{retries}")),
        ("peak RSS (MiB)", format!("{peak_rss:.1}")),
        ("total wall seconds", format!("{:.1}", wall_started.elapsed().as_secs_f64())),
    ];
    if let Some(t) = first_call {
        rows.push(("apply to first AWS write (s)", format!("{:.3}", t.as_secs_f64())));
    }
    table(&rows);
    println!("  AWS calls by action (operator, whole run):");
    for (op, n) in &all_calls {
        println!("    {op:<48} {n}");
    }
    println!(
        "bench: objects={applied_n} converge_s={converge_s:.1} bound_s={bound_s:.1} ratio={ratio:.3} insync_reads={insync_reads} insync_mutating={insync_mutating} peer_reads={peer_reads} peak_rss_mib={peak_rss:.1} throttled={throttled} time_scale={} configured_bound_s={configured_bound_s:.1} configured_ratio={configured_ratio:.3} creates={creates} unsynced={unsynced}",
        a.time_scale
    );
}
