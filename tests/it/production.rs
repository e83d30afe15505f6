//! Running in production: leader election between two instances against
//! the real API server (mutations from one instance only; a standby takes
//! over when the leader stops renewing; losing the lease stops mutations at
//! once), and the HTTP endpoints scraped while a controller works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use privatelink_operator::api::conditions::READY;
use privatelink_operator::api::{EndpointService, EndpointServiceSpec};
use privatelink_operator::aws::AwsClients;
use privatelink_operator::controller::Context;
use privatelink_operator::leader::{Election, Role, lead};
use serde_json::json;

use crate::support::kube::grant_leader_election;
use crate::support::{TestEnv, aws_clients, create, http_get, load_balancer, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);

fn service(name: &str, nlb: &str) -> EndpointService {
    EndpointService::new(
        name,
        serde_json::from_value::<EndpointServiceSpec>(json!({"networkLoadBalancerArns": [nlb]})).unwrap(),
    )
}

fn ready(s: &EndpointService) -> bool {
    s.status.as_ref().is_some_and(|st| st.conditions.iter().any(|c| c.type_ == READY && c.status == "True"))
}

/// One operator instance: its own AWS clients (so its calls are counted
/// apart), the shared Kubernetes client, leader election on `lease`.
struct Instance {
    aws: AwsClients,
    role: Role,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

fn instance(env: &TestEnv, aws: AwsClients, lease_ns: &str, identity: &str) -> Instance {
    let ctx = Arc::new(Context::new(env.ctx.client.clone(), aws.clone(), env.ctx.settings.clone()));
    let role = Role {
        gate: aws.gate().clone(),
        health: ctx.health.clone(),
        metrics: ctx.metrics.clone(),
        lease: "privatelink-operator".into(),
    };
    role.gate.set(false);
    let election = Election {
        lease_name: "privatelink-operator".into(),
        namespace: lease_ns.into(),
        identity: identity.into(),
        duration: Duration::from_secs(3),
        grace: Duration::from_secs(1),
    };
    let client = env.ctx.client.clone();
    let work_ctx = ctx.clone();
    let task = tokio::spawn(lead(
        client,
        election,
        role.clone(),
        move || privatelink_operator::controller::endpoint_service::run(work_ctx.clone()),
        std::future::pending(),
    ));
    Instance { aws, role, task }
}

async fn wait_until(what: &str, timeout: Duration, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn only_the_leader_changes_aws_and_a_standby_takes_over() {
    let region = "me-central-1";
    let nlb = load_balancer(region, "leader", LoadBalancerTypeEnum::Network, 2).await;
    let env = TestEnv::new(region).await;
    let lease_ns = env.ns("team-c");
    grant_leader_election(&env.client, &lease_ns).await;
    let a = instance(&env, aws_clients().await, &lease_ns, "instance-a");
    let b = instance(&env, aws_clients().await, &lease_ns, "instance-b");
    wait_until("a leader", TIMEOUT, || a.role.gate.is_open() || b.role.gate.is_open()).await;
    assert!(a.role.gate.is_open() != b.role.gate.is_open(), "exactly one instance leads");
    let (leader, standby) = if a.role.gate.is_open() { (a, b) } else { (b, a) };
    let (_, standby_ready) = standby.role.health.readiness();
    assert!(standby_ready.contains("standby"), "{standby_ready}");

    let api: Api<EndpointService> = env.api("team-a");
    create(&api, &service("first", &nlb)).await;
    wait_for(&api, "first", TIMEOUT, "Ready", |s| ready(s).then_some(())).await;
    let leader_calls = leader.aws.counter().snapshot().mutating();
    let standby_calls = standby.aws.counter().snapshot().mutating();
    println!("leader mutations {leader_calls:?}; standby mutations {standby_calls:?}");
    assert!(leader_calls.contains_key("CreateVpcEndpointServiceConfiguration"), "{leader_calls:?}");
    assert!(standby_calls.is_empty(), "the standby changed AWS: {standby_calls:?}");

    // The leader stops renewing (it crashes): the standby takes over once the lease expires.
    let stopped = Instant::now();
    leader.task.abort();
    let before = leader.aws.counter().snapshot();
    wait_until("the standby to lead", Duration::from_secs(15), || standby.role.gate.is_open()).await;
    let takeover = stopped.elapsed();
    println!("takeover after the leader stopped renewing: {takeover:?} (lease 3 s)");
    assert!(
        takeover <= Duration::from_secs(6),
        "took over within the lease duration (and renewal slack): {takeover:?}"
    );
    create(&api, &service("second", &nlb)).await;
    wait_for(&api, "second", TIMEOUT, "Ready under the new leader", |s| ready(s).then_some(())).await;
    assert!(leader.aws.counter().since(&before).mutating().is_empty(), "the stopped leader changed nothing more");
    assert!(standby.aws.counter().snapshot().mutating().contains_key("CreateVpcEndpointServiceConfiguration"));

    // Someone else takes the lease: the leader stops mutating at once.
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &lease_ns);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now());
    let steal = json!({"spec": {"holderIdentity": "intruder", "renewTime": now, "leaseDurationSeconds": 30}});
    leases.patch("privatelink-operator", &PatchParams::default(), &Patch::Merge(&steal)).await.expect("steal");
    let closed = wait_until("the gate to close", Duration::from_secs(5), || !standby.role.gate.is_open()).await;
    println!("mutations stopped {closed:?} after the lease changed hands");
    let gated = standby.aws.for_region(&privatelink_operator::aws::Identity::operator(), region).await;
    // Any mutating call of the operator's clients, guarded or not.
    let tag = aws_sdk_ec2::types::Tag::builder().key("k").value("v").build();
    let refused =
        gated.ec2.create_tags().resources("vpce-svc-0123456789abcdef0").tags(tag).send().await.expect_err("refused");
    let refused = privatelink_operator::aws::AwsError::from_sdk("CreateTags", refused).to_string();
    assert!(refused.contains("does not lead"), "{refused}");
    standby.task.abort();
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_while_controllers_work() {
    let region = "ap-east-2";
    let nlb = load_balancer(region, "metrics", LoadBalancerTypeEnum::Network, 2).await;
    let mut env = TestEnv::new(region).await;
    let (bound, server) = privatelink_operator::http::serve(
        "127.0.0.1:0".parse().unwrap(),
        env.ctx.health.clone(),
        env.ctx.metrics.clone(),
    )
    .await
    .expect("serve");
    let server = tokio::spawn(server);
    let port = bound.port();
    assert_eq!(http_get(port, "/healthz").await.0, 200);
    assert_eq!(http_get(port, "/readyz").await.0, 503, "not ready before the caches sync");
    env.start_endpoint_services();
    let api: Api<EndpointService> = env.api("team-a");
    create(&api, &service("scraped", &nlb)).await;
    wait_for(&api, "scraped", TIMEOUT, "Ready", |s| ready(s).then_some(())).await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, body) = http_get(port, "/readyz").await;
        if status == 200 {
            assert!(body.contains("caches synced"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, metrics) = http_get(port, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"controller_runtime_reconcile_total{controller="endpointservice",result="success"}"#,
        r#"controller_runtime_reconcile_time_seconds_count{controller="endpointservice"}"#,
        r#"privatelink_aws_api_requests_total{service="EC2",operation="CreateVpcEndpointServiceConfiguration",code="Success"} 1"#,
        r#"privatelink_aws_api_requests_total{service="EC2",operation="DescribeVpcEndpointServiceConfigurations",code="Success"}"#,
        r#"privatelink_objects{kind="endpointservice",ready="True"} 1"#,
        r#"privatelink_aws_api_request_duration_seconds_count{service="EC2",operation="CreateVpcEndpointServiceConfiguration"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    // Throttling, retries, token waits and blocked deletions show once they
    // happen, the leader once there is an election (the unit test pins
    // their names).
    let with_samples = privatelink_operator::metrics::NAMES
        .iter()
        .filter(|n| !["throttled", "retries", "wait", "deletion_blocked", "leader"].iter().any(|w| n.contains(w)));
    for name in with_samples {
        assert!(metrics.contains(name), "{name} missing");
    }
    server.abort();
}

/// The released binary, as the chart's Deployment starts it: `run` with
/// JSON logs against the real API server and the AWS simulator. Every log
/// line is one JSON object, reconcile lines carry the object and the AWS id,
/// and SIGTERM stops it cleanly.
#[tokio::test]
async fn the_binary_logs_json_lines_with_the_object_and_aws_id_and_stops_on_sigterm() {
    use std::io::Read;
    let region = "ap-east-2";
    let nlb = load_balancer(region, "binary", LoadBalancerTypeEnum::Network, 2).await;
    let admin = crate::support::kube::admin_client().await;
    let ns = format!("team-bin-{}", &crate::support::uuid_like()[..8]);
    crate::support::kube::ensure_namespace(&admin, &ns).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
        .args(["run", "--namespace", &ns, "--log-format", "json", "--http-address"])
        .arg(format!("127.0.0.1:{port}"))
        .env("KUBECONFIG", crate::support::kube::kubeconfig_path())
        .env("AWS_ENDPOINT_URL", crate::support::aws_endpoint())
        .env("AWS_REGION", region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("RUST_LOG", "info")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the operator binary");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stderr.read_to_string(&mut out);
        out
    });
    let api: Api<EndpointService> = Api::namespaced(admin.clone(), &ns);
    create(&api, &service("logged", &nlb)).await;
    let id = wait_for(&api, "logged", TIMEOUT, "Ready", |s| {
        ready(s).then(|| s.status.as_ref().and_then(|st| st.service_id.clone())).flatten()
    })
    .await;
    assert_eq!(http_get(port, "/healthz").await.0, 200);
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + TIMEOUT;
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the operator did not stop within {TIMEOUT:?} of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logs = reader.join().unwrap();
    assert!(exit.success(), "exit {exit:?}; logs:\n{logs}");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let object = format!("{ns}/logged");
    let tagged = lines.iter().find(|l| l["span"]["object"] == object.as_str() && l["span"]["aws_id"] == id.as_str());
    assert!(tagged.is_some(), "no line carries object {object} and aws_id {id}:\n{logs}");
    for l in &lines {
        assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
    }
}

/// The operator's own token buckets keep its EC2 calls within AWS's: with
/// the simulator enforcing AWS's buckets (time scaled), a burst of creates
/// that AWS would throttle goes through without one RequestLimitExceeded,
/// paced at the refill rate; the same burst without the buckets is throttled.
#[tokio::test]
async fn client_side_buckets_keep_calls_within_aws_throttling() {
    use aws_sdk_ec2::types::VpcEndpointType;
    use privatelink_operator::aws::Identity;
    use privatelink_operator::aws::budget::Budget;
    let region = "us-east-2";
    let scale = 10.0;
    // Fresh accounts: the simulator's buckets and call log start empty.
    let fresh_account = || {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        format!("3{:011}", n % 100_000_000_000)
    };
    let (paced, unpaced) = (fresh_account(), fresh_account());
    let throttled_in = |account: String| async move {
        let log =
            crate::support::sim_control("GET", &format!("/_sim/calls?account={account}&region={region}"), None).await;
        log["calls"].as_array().unwrap().iter().filter(|c| c["error"] == "RequestLimitExceeded").count()
    };
    let burst = |account: String, budget: Option<std::sync::Arc<Budget>>| async move {
        let vpc = crate::support::sim_vpc(&account, region, 1).await;
        crate::support::sim_control(
            "PUT",
            "/_sim/faults",
            Some(json!({"account": account, "region": region, "throttle": true, "timeScale": scale})),
        )
        .await;
        let config = AwsClients::loader()
            .endpoint_url(crate::support::aws_endpoint())
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let clients = match budget {
            Some(budget) => AwsClients::new(config).with_budget(budget),
            None => AwsClients::new(config),
        };
        let identity = Identity::role(format!("arn:aws:iam::{account}:role/operator"), None);
        let ec2 = clients.for_region(&identity, region).await.ec2.clone();
        let started = Instant::now();
        let calls = (0..10).map(|_| {
            let ec2 = ec2.clone();
            let vpc = vpc.id.clone();
            async move {
                ec2.create_vpc_endpoint()
                    .vpc_id(vpc)
                    .service_name(format!("com.amazonaws.{region}.s3"))
                    .vpc_endpoint_type(VpcEndpointType::Gateway)
                    .send()
                    .await
                    .is_ok()
            }
        });
        let ok = futures::future::join_all(calls).await.into_iter().filter(|ok| *ok).count();
        let took = started.elapsed();
        crate::support::sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
        (ok, took)
    };
    // The buckets at 80 % of the simulator's (time-scaled) refill, not 95 %:
    // at ten times AWS's rate, 100 ms of arrival jitter on a busy machine
    // is a whole token of the production margin.
    let (ok, took) = burst(paced.clone(), Some(std::sync::Arc::new(Budget::new(scale * 0.8)))).await;
    assert_eq!((ok, throttled_in(paced).await), (10, 0), "paced, not throttled");
    // Burst 4, then 6 more at 0.3 × 10 per second: about two seconds.
    assert!(took >= Duration::from_millis(1800), "paced at the refill rate: {took:?}");
    let (ok, _) = burst(unpaced.clone(), None).await;
    assert!(ok < 10 && throttled_in(unpaced).await > 0, "without the buckets AWS throttles the same burst");
}

/// The leader-election gate is asked at every HTTP attempt: a mutating call
/// whose first attempt failed is not retried once the lease is lost (the
/// SDK's standard retries would otherwise send it again).
#[tokio::test]
async fn a_retry_of_a_mutating_call_does_not_go_out_after_the_lease_is_lost() {
    use privatelink_operator::aws::Identity;
    let region = "us-east-2";
    let account = format!(
        "3{:011}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 100_000_000_000
    );
    // Every CreateTags of the account fails, slowly: the first attempt is in
    // flight when the lease is lost; the SDK would retry it.
    crate::support::sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": account, "region": region,
            "rules": [{"action": "CreateTags", "errorRate": 1.0, "errorCode": "InternalError", "latencyMs": 600}]})),
    )
    .await;
    let clients = aws_clients().await;
    let identity = Identity::role(format!("arn:aws:iam::{account}:role/operator"), None);
    let rc = clients.for_region(&identity, region).await;
    // The role's credentials first (AssumeRole): the CreateTags attempt
    // below then goes out at once, well inside the 300 ms, on a busy machine too.
    rc.ec2.describe_availability_zones().send().await.expect("a read with the role's credentials");
    let tag = aws_sdk_ec2::types::Tag::builder().key("k").value("v").build();
    let call = tokio::spawn(async move {
        let sent = rc.ec2.create_tags().resources("vpce-0123456789abcdef0").tags(tag).send().await;
        sent.map_err(|e| privatelink_operator::aws::AwsError::from_sdk("CreateTags", e))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    clients.gate().set(false);
    let outcome = call.await.expect("task");
    let log = crate::support::sim_control("GET", &format!("/_sim/calls?account={account}&region={region}"), None).await;
    crate::support::sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
    let attempts = log["calls"].as_array().unwrap().iter().filter(|c| c["action"] == "CreateTags").count();
    let error = outcome.expect_err("the call fails").to_string();
    assert!(error.contains("does not lead"), "refused by the gate: {error}");
    assert_eq!(attempts, 1, "no retry went out after the lease was lost: {log}");
}
