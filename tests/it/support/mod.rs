//! Shared test harness: the real Kubernetes API server (a namespace set per
//! test), the AWS simulator connection, and helpers that wait for
//! conditions with a deadline.

pub mod kube;

use std::sync::Arc;
use std::time::Duration;

use ::kube::api::{Api, PostParams};
use ::kube::{Resource, ResourceExt};
use aws_sdk_ec2::config::{Credentials, Region};
use privatelink_operator::aws::AwsClients;
use privatelink_operator::config::Settings;
use privatelink_operator::controller::Context;
use serde::de::DeserializeOwned;

/// Where the AWS simulator listens; `tests/run.sh` starts it and sets this.
pub fn aws_endpoint() -> String {
    std::env::var("PLO_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5123".to_string())
}

/// Fail (never skip) with instructions when the simulator is not running.
pub fn require_simulator() {
    let endpoint = aws_endpoint();
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    if std::net::TcpStream::connect_timeout(
        &addr.parse().expect("PLO_AWS_ENDPOINT is http://HOST:PORT"),
        Duration::from_secs(1),
    )
    .is_err()
    {
        panic!(
            "the AWS simulator is not reachable at {endpoint}. Run the tests with `bash tests/run.sh`, \
             or start it yourself: `python3 tests/aws-sim/server.py --port 5123` (needs `pip install \"moto[server]==5.2.5\"`) \
             and set PLO_AWS_ENDPOINT=http://127.0.0.1:5123"
        );
    }
}

/// AWS clients talking to the simulator with static credentials (the
/// simulator's default account).
pub async fn aws_clients() -> AwsClients {
    aws_clients_with(None).await
}

/// AWS clients of the simulator that feed `metrics` when given.
pub async fn aws_clients_with(metrics: Option<Arc<privatelink_operator::metrics::Metrics>>) -> AwsClients {
    require_simulator();
    let config = AwsClients::loader()
        .endpoint_url(aws_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    match metrics {
        Some(m) => AwsClients::with_metrics(config, m),
        None => AwsClients::new(config),
    }
}

/// AWS clients of the simulator whose calls wait for the operator's own
/// token buckets at `scale`, as `privatelink-operator run` builds them.
pub async fn paced_aws_clients(metrics: Arc<privatelink_operator::metrics::Metrics>, scale: f64) -> AwsClients {
    require_simulator();
    let budget = Arc::new(privatelink_operator::aws::budget::Budget::with_metrics(scale, metrics.clone()));
    aws_clients_with(Some(metrics)).await.with_budget(budget)
}

/// GET `path` from an HTTP server on 127.0.0.1:`port`: (status, body).
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("HTTP server reachable");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Settings for tests: fast polls and backoff, long resync (tests trigger
/// what they need).
pub fn settings(region: &str) -> Settings {
    let mut s = Settings::new(region);
    s.transition_poll = Duration::from_millis(200);
    s.base_backoff = Duration::from_millis(200);
    s.max_backoff = Duration::from_secs(2);
    s.resync = Duration::from_secs(60);
    s.cluster_id = Some(TEST_CLUSTER.to_string());
    s
}

/// The cluster id the tests' operator writes into ownership tags.
pub const TEST_CLUSTER: &str = "it-cluster";

/// Logs for failing tests: `RUST_LOG=debug bash tests/run.sh`.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The namespaces every test environment has, by the names tests use; each
/// environment's are suffixed with its id, so tests share one API server and
/// still run in parallel.
pub const NAMESPACES: &[&str] = &["team-a", "team-b", "team-c", "team-r", "team-admin"];

/// A test's corner of the API server, an AWS connection and an operator
/// context whose controllers watch only that corner.
pub struct TestEnv {
    /// Suffix of this environment's namespaces.
    pub id: String,
    /// Admin client, for fixtures and assertions.
    pub client: ::kube::Client,
    pub aws: AwsClients,
    pub ctx: Arc<Context>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl TestEnv {
    /// A fresh environment; `region` is the operator's default region.
    pub async fn new(region: &str) -> Self {
        Self::with_settings(region, |_| {}).await
    }

    /// A fresh environment whose operator settings `configure` adjusts
    /// (tenancy rules, regions…). Namespaces in patterns are written
    /// `team-a-*`: they match this environment's `team-a-<id>`.
    pub async fn with_settings(region: &str, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::build(region, None, configure).await
    }

    /// A fresh environment whose operator tags its AWS sessions: every
    /// namespace acts through `role` (the operator's own role) assumed with
    /// session tags naming the namespace and cluster, as
    /// `privatelink-operator run --session-role` does.
    pub async fn with_session_role(region: &str, role: &str, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut env = Self::build(region, None, configure).await;
        env.aws = env.aws.clone().with_session_role(role);
        env.ctx = Arc::new(Context::with_metrics(
            env.ctx.client.clone(),
            env.aws.clone(),
            env.ctx.settings.clone(),
            env.ctx.metrics.clone(),
            Arc::default(),
        ));
        env
    }

    /// A fresh environment whose operator paces its AWS calls with its own
    /// token buckets at `rate_scale` (1: AWS's rates, as `run` does by
    /// default), for tests against the simulator's throttling.
    pub async fn paced(region: &str, rate_scale: f64, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::build(region, Some(rate_scale), configure).await
    }

    async fn build(region: &str, rate_scale: Option<f64>, configure: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let id = uuid_like()[..8].to_string();
        let client = kube::admin_client().await;
        for logical in NAMESPACES {
            kube::ensure_namespace(&client, &format!("{logical}-{id}")).await;
        }
        let operator = kube::operator_client(&client).await;
        let metrics = Arc::new(privatelink_operator::metrics::Metrics::default());
        let aws = match rate_scale {
            None => aws_clients_with(Some(metrics.clone())).await,
            Some(scale) => paced_aws_clients(metrics.clone(), scale).await,
        };
        let mut s = settings(region);
        s.namespaces = NAMESPACES.iter().map(|n| format!("{n}-{id}")).collect();
        configure(&mut s);
        let ctx = Arc::new(Context::with_metrics(operator, aws.clone(), s, metrics, Arc::default()));
        Self { id, client, aws, ctx, tasks: Vec::new() }
    }

    /// The real name of a namespace tests call `logical` (`team-a`).
    pub fn ns(&self, logical: &str) -> String {
        format!("{logical}-{}", self.id)
    }

    /// Stop the controllers and restart the operator with changed settings
    /// (as an operator upgrade or a settings change does); the controllers
    /// are started again by the test.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Settings)) {
        self.stop_controllers().await;
        let mut s = self.ctx.settings.clone();
        configure(&mut s);
        self.ctx = Arc::new(Context::with_metrics(
            self.ctx.client.clone(),
            self.aws.clone(),
            s,
            self.ctx.metrics.clone(),
            Arc::default(),
        ));
    }

    /// The operator process dies and starts again: its controllers stop
    /// mid-flight (reconciles dropped wherever they are), and it comes back
    /// with new AWS clients (no snapshot, no cache) and a new context (no
    /// backoff, no memory of what it did). The controllers are started
    /// again by the test.
    pub async fn crash(&mut self) {
        self.stop_controllers().await;
        let metrics = Arc::new(privatelink_operator::metrics::Metrics::default());
        let aws = aws_clients_with(Some(metrics.clone())).await;
        self.start_again(aws, metrics);
    }

    /// A new context around `aws` (which feeds `metrics`), with the same
    /// API client and settings: the operator process started again.
    fn start_again(&mut self, aws: AwsClients, metrics: Arc<privatelink_operator::metrics::Metrics>) {
        self.aws = aws;
        self.ctx = Arc::new(Context::with_metrics(
            self.ctx.client.clone(),
            self.aws.clone(),
            self.ctx.settings.clone(),
            metrics,
            Arc::default(),
        ));
    }

    /// The operator's own credentials move to another AWS account (its
    /// role is replaced by one in `account`): the controllers stop and the
    /// operator starts again acting there. The controllers are started
    /// again by the test.
    pub async fn move_operator_to(&mut self, account: &str) {
        self.stop_controllers().await;
        let metrics = Arc::new(privatelink_operator::metrics::Metrics::default());
        let base = sim_config("us-east-1").await;
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/operator"))
            .session_name("privatelink-operator")
            .configure(&base)
            .build()
            .await;
        let config = AwsClients::loader()
            .endpoint_url(aws_endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(role)
            .load()
            .await;
        self.start_again(AwsClients::with_metrics(config, metrics.clone()), metrics);
    }

    /// Start the EndpointService controller in the background.
    pub fn start_endpoint_services(&mut self) {
        let ctx = self.ctx.clone();
        self.tasks.push(tokio::spawn(privatelink_operator::controller::endpoint_service::run(ctx)));
    }

    /// Start the EndpointConnection controller in the background.
    pub fn start_endpoint_connections(&mut self) {
        let ctx = self.ctx.clone();
        self.tasks.push(tokio::spawn(privatelink_operator::controller::endpoint_connection::run(ctx)));
    }

    /// Start the InterfaceEndpoint controller in the background.
    pub fn start_interface_endpoints(&mut self) {
        let ctx = self.ctx.clone();
        self.tasks.push(tokio::spawn(privatelink_operator::controller::interface_endpoint::run(ctx)));
    }

    /// Stop every controller started so far.
    pub async fn stop_controllers(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }

    /// An admin API in the namespace tests call `logical`.
    pub fn api<K>(&self, logical: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns(logical))
    }

    /// The Events (events.k8s.io/v1) in the namespace tests call `logical`, as JSON.
    pub async fn events(&self, logical: &str) -> Vec<serde_json::Value> {
        let api: Api<k8s_openapi::api::events::v1::Event> = self.api(logical);
        let list = api.list(&Default::default()).await.expect("list events");
        list.items.iter().map(|e| serde_json::to_value(e).expect("event as JSON")).collect()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Create an object through the API server, in the namespace of `api`
/// (whatever namespace the object names).
pub async fn create<K>(api: &Api<K>, obj: &K) -> K
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut obj = obj.clone();
    obj.meta_mut().namespace = None;
    api.create(&PostParams::default(), &obj).await.unwrap_or_else(|e| panic!("create {}: {e}", obj.name_any()))
}

/// Poll until `check` returns Some, or fail after `timeout` with the last object seen.
pub async fn wait_for<K, T>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&K) -> Option<T>,
) -> T
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Ok(obj) = api.get(name).await {
            if let Some(t) = check(&obj) {
                return t;
            }
            last = Some(obj);
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {name}: {what}; last seen: {last:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Poll until the object is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match api.get_opt(name).await {
            Ok(None) => return,
            Ok(Some(obj)) if tokio::time::Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {name} to be deleted; last seen: {obj:#?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// AWS clients for fixtures and read-back, separate from the operator's
/// (so the operator's call counts stay its own).
pub async fn sdk(region: &str) -> Arc<privatelink_operator::aws::RegionClients> {
    aws_clients().await.for_region(&privatelink_operator::aws::Identity::operator(), region).await
}

/// The simulator's default account: what static test credentials act as,
/// and so the operator's account in controller tests.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// A load balancer of `lb_type` in the default account, across a new VPC's
/// subnets in `zones` Availability Zones; returns its ARN.
pub async fn load_balancer(
    region: &str,
    name: &str,
    lb_type: aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum,
    zones: usize,
) -> String {
    sim_load_balancer(DEFAULT_ACCOUNT, region, name, lb_type, zones).await
}

/// A load balancer of `lb_type` owned by `account`, across a new VPC's
/// subnets in `zones` Availability Zones; returns its ARN.
pub async fn sim_load_balancer(
    account: &str,
    region: &str,
    name: &str,
    lb_type: aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum,
    zones: usize,
) -> String {
    let net = sim_vpc(account, region, zones).await;
    let lb = elbv2_as(account, region)
        .await
        .create_load_balancer()
        .name(name)
        .r#type(lb_type)
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .set_subnets(Some(net.subnets))
        .send()
        .await
        .expect("create load balancer");
    lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string()
}

/// CreateVpcEndpoint for an interface endpoint in the VPC's first subnet,
/// ready for more settings before `send()`.
pub fn endpoint_request(
    ec2: &aws_sdk_ec2::Client,
    vpc: &Vpc,
    service_name: &str,
) -> aws_sdk_ec2::operation::create_vpc_endpoint::builders::CreateVpcEndpointFluentBuilder {
    ec2.create_vpc_endpoint()
        .vpc_id(&vpc.id)
        .service_name(service_name)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .subnet_ids(&vpc.subnets[0])
}

/// Adds `x-moto-account-id`: the simulator then answers as that account.
#[derive(Debug)]
struct AccountHeader(String);

impl aws_sdk_ec2::config::Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "simulator account"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _rc: &aws_sdk_ec2::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ec2::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context.request_mut().headers_mut().insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

async fn sim_config(region: &str) -> aws_config::SdkConfig {
    require_simulator();
    AwsClients::loader()
        .endpoint_url(aws_endpoint())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// An EC2 client acting as `account` in `region`, without retries (tests
/// see every error the simulator returns).
pub async fn ec2_as(account: &str, region: &str) -> aws_sdk_ec2::Client {
    let config = sim_config(region).await;
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config).interceptor(AccountHeader(account.to_string())).build(),
    )
}

/// An ELBv2 client acting as `account` in `region`.
pub async fn elbv2_as(account: &str, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
    let config = sim_config(region).await;
    aws_sdk_elasticloadbalancingv2::Client::from_conf(
        aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
            .interceptor(AccountHeader(account.to_string()))
            .build(),
    )
}

/// An SNS client acting as `account` in `region`.
pub async fn sns_as(account: &str, region: &str) -> aws_sdk_sns::Client {
    let config = sim_config(region).await;
    aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&config).interceptor(AccountHeader(account.to_string())).build(),
    )
}

/// An S3 client acting as `account` in `region` (path-style: the
/// simulator does not resolve bucket subdomains).
pub async fn s3_as(account: &str, region: &str) -> aws_sdk_s3::Client {
    let config = sim_config(region).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .interceptor(AccountHeader(account.to_string()))
            .build(),
    )
}

/// An RDS client acting as `account` in `region`.
pub async fn rds_as(account: &str, region: &str) -> aws_sdk_rds::Client {
    let config = sim_config(region).await;
    aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(&config).interceptor(AccountHeader(account.to_string())).build(),
    )
}

/// A CloudTrail client acting as `account` in `region`.
pub async fn cloudtrail_as(account: &str, region: &str) -> aws_sdk_cloudtrail::Client {
    let config = sim_config(region).await;
    aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::config::Builder::from(&config).interceptor(AccountHeader(account.to_string())).build(),
    )
}

/// The simulator's DNS server (UDP, on the simulator's port).
pub fn sim_nameserver() -> String {
    aws_endpoint().trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// Call the simulator's control endpoint (`/_sim/...`) and return its JSON.
pub async fn sim_control(method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = aws_endpoint().trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("simulator reachable");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, payload) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{method} {path}: {head}\n{payload}");
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{method} {path}: {e}: {payload}"))
}

/// The AWS error code of an SDK error.
pub fn code<E: aws_sdk_ec2::error::ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("<none>").to_string()
}

/// A VPC in the simulator, with subnets.
#[derive(Clone)]
pub struct Vpc {
    /// VPC id.
    pub id: String,
    /// Subnet ids, one per Availability Zone (a, b, c…).
    pub subnets: Vec<String>,
}

/// A VPC of `account` in `region` with subnets in `zones` Availability Zones.
pub async fn sim_vpc(account: &str, region: &str, zones: usize) -> Vpc {
    let ec2 = ec2_as(account, region).await;
    let id =
        ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["a", "b", "c"].iter().take(zones).enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&id)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(format!("{region}{az}"))
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    Vpc { id, subnets }
}

/// An NLB (in `zones` AZs) and an endpoint service on it; returns (service id, service name).
pub async fn sim_service(
    account: &str,
    region: &str,
    acceptance: bool,
    zones: usize,
    regions: &[&str],
) -> (String, String) {
    let arn = sim_load_balancer(
        account,
        region,
        &format!("nlb-{}", &uuid_like()[..8]),
        aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network,
        zones,
    )
    .await;
    assert!(arn.contains(":loadbalancer/net/"), "NLB ARNs name their type: {arn}");
    let out = ec2_as(account, region)
        .await
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(arn)
        .acceptance_required(acceptance)
        .set_supported_regions((!regions.is_empty()).then(|| regions.iter().map(|r| r.to_string()).collect()))
        .send()
        .await
        .unwrap();
    let config = out.service_configuration().unwrap();
    (config.service_id().unwrap().to_string(), config.service_name().unwrap().to_string())
}

/// An endpoint service of `provider` (NLB in 2 AZs) that every principal may
/// connect to; returns (service id, service name).
pub async fn open_service(provider: &str, region: &str, acceptance: bool) -> (String, String) {
    let (id, name) = sim_service(provider, region, acceptance, 2, &[]).await;
    allow_all(provider, region, &id).await;
    (id, name)
}

/// Let every principal connect to `service_id` (as its provider account).
pub async fn allow_all(provider: &str, region: &str, service_id: &str) {
    ec2_as(provider, region)
        .await
        .modify_vpc_endpoint_service_permissions()
        .service_id(service_id)
        .add_allowed_principals("*")
        .send()
        .await
        .expect("allow");
}

/// Namespace patterns for a settings field.
pub fn namespaces(patterns: &[&str]) -> privatelink_operator::config::NamespaceSet {
    let list: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    privatelink_operator::config::NamespaceSet::parse(&list, "test").expect("namespace patterns")
}

/// An object whose conditions are of its current generation, Synced, and
/// Ready where the kind has readiness to wait for.
pub trait InSync {
    /// True when in sync (and Ready where the kind has readiness).
    fn in_sync(&self) -> bool;
}

fn in_sync(conditions: &[privatelink_operator::api::Condition], generation: Option<i64>, needs_ready: bool) -> bool {
    let current = conditions.iter().any(|c| c.observed_generation == generation);
    let ok = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
    current && ok("Synced") && (!needs_ready || ok("Ready"))
}

impl InSync for privatelink_operator::api::EndpointService {
    fn in_sync(&self) -> bool {
        self.status.as_ref().is_some_and(|s| in_sync(&s.conditions, self.metadata.generation, false))
    }
}

impl InSync for privatelink_operator::api::InterfaceEndpoint {
    fn in_sync(&self) -> bool {
        self.status.as_ref().is_some_and(|s| in_sync(&s.conditions, self.metadata.generation, true))
    }
}

impl InSync for privatelink_operator::api::EndpointConnection {
    fn in_sync(&self) -> bool {
        self.status.as_ref().is_some_and(|s| in_sync(&s.conditions, self.metadata.generation, true))
    }
}

/// The endpoint services and endpoints of `account` in `region` (deleted
/// ones left out) whose tag `key` is `value`, each as (owner uid, id).
pub async fn tagged_resources(
    account: &str,
    region: &str,
    key: &str,
    value: &str,
) -> (Vec<(String, String)>, Vec<(String, String)>) {
    use privatelink_operator::plan::tags::OWNER_UID;
    let ec2 = ec2_as(account, region).await;
    let filter = aws_sdk_ec2::types::Filter::builder().name(format!("tag:{key}")).values(value).build();
    let tag_of = |tags: &[aws_sdk_ec2::types::Tag], k: &str| {
        tags.iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string)
    };
    let mut services = Vec::new();
    let mut pages = ec2.describe_vpc_endpoint_service_configurations().filters(filter.clone()).into_paginator().send();
    while let Some(page) = pages.next().await {
        for s in page.expect("services").service_configurations() {
            if s.service_state().map(|st| st.as_str()) != Some("Deleted")
                && tag_of(s.tags(), key).as_deref() == Some(value)
            {
                services.push((tag_of(s.tags(), OWNER_UID).unwrap_or_default(), s.service_id().unwrap_or("").into()));
            }
        }
    }
    let mut endpoints = Vec::new();
    let mut pages = ec2.describe_vpc_endpoints().filters(filter).into_paginator().send();
    while let Some(page) = pages.next().await {
        for e in page.expect("endpoints").vpc_endpoints() {
            if e.state().map(|s| s.as_str()) != Some("deleted") && tag_of(e.tags(), key).as_deref() == Some(value) {
                endpoints
                    .push((tag_of(e.tags(), OWNER_UID).unwrap_or_default(), e.vpc_endpoint_id().unwrap_or("").into()));
            }
        }
    }
    (services, endpoints)
}

/// An SNS topic whose policy lets PrivateLink (`vpce.amazonaws.com`)
/// publish connection notifications to it; returns its ARN.
pub async fn notification_topic(account: &str, region: &str, name: &str) -> String {
    let sns = sns_as(account, region).await;
    let topic = sns.create_topic().name(name).send().await.expect("topic").topic_arn().expect("arn").to_string();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "vpce.amazonaws.com"}, "Action": "SNS:Publish", "Resource": topic}]});
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("Policy")
        .attribute_value(policy.to_string())
        .send()
        .await
        .expect("policy");
    topic
}

/// A string that differs between calls.
pub fn uuid_like() -> String {
    format!("{:016x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
        .chars()
        .rev()
        .collect()
}

/// Run the GitOps tools' helper (tests/gitops: the tools' own Go modules)
/// with `args`, `input` on its standard input; its standard output.
pub fn gitops(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let bin = std::env::var("PLO_GITOPS_BIN").unwrap_or_else(|_| {
        panic!("PLO_GITOPS_BIN is not set: run the tests with `bash tests/run.sh`, or build the helper with `bash tests/gitops/build.sh` and set PLO_GITOPS_BIN to the path it prints")
    });
    let mut child = std::process::Command::new(&bin)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): rebuild it with `bash tests/gitops/build.sh`"));
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("gitops helper");
    assert!(out.status.success(), "gitops {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}
