//! The real Kubernetes API server of the tests: kube-apiserver and etcd
//! from the official Go modules (`tests/kube-apiserver`), started by
//! `tests/run.sh` with the CRDs installed. Tests reach it through the
//! kubeconfig it writes; the operator runs with a ServiceAccount bound to
//! the chart's RBAC rules, never as admin.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Namespace of the operator's ServiceAccount.
pub const OPERATOR_NAMESPACE: &str = "privatelink-system";
/// The operator's ServiceAccount, bound to the chart's rules.
pub const OPERATOR_ACCOUNT: &str = "privatelink-operator";

/// The kubeconfig `tests/run.sh` exported; fails (never skips) with
/// instructions when the server is not running.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var("PLO_KUBECONFIG") {
        Ok(path) if std::path::Path::new(&path).exists() => PathBuf::from(path),
        _ => panic!(
            "no test Kubernetes API server: run the tests with `bash tests/run.sh`, which builds and starts it \
             (tests/kube-apiserver, needs Go), or start it yourself: \
             `cd tests/kube-apiserver && go run . --kubeconfig /tmp/plo.kubeconfig --crds ../../crds/privatelink.dev.yaml` \
             and set PLO_KUBECONFIG=/tmp/plo.kubeconfig"
        ),
    }
}

async fn config_from(path: &std::path::Path) -> kube::Config {
    let kubeconfig = Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()));
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()))
}

/// A client acting as the cluster admin (for fixtures and assertions).
pub async fn admin_client() -> kube::Client {
    admin_client_of(&kubeconfig_path()).await
}

/// A client acting as the admin of the server whose kubeconfig is `path`.
pub async fn admin_client_of(path: &std::path::Path) -> kube::Client {
    kube::Client::try_from(config_from(path).await).expect("admin client")
}

/// The rules the chart grants the operator.
pub fn operator_rules() -> Vec<PolicyRule> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/privatelink-operator/files/rbac-rules.yaml");
    let text = std::fs::read_to_string(path).expect("the chart's RBAC rules");
    serde_yaml::from_str(&text).expect("RBAC rules parse")
}

/// The rules leader election needs, in the operator's namespace.
pub fn leader_election_rules() -> Vec<PolicyRule> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/privatelink-operator/files/leader-election-rules.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("leader election rules")).expect("rules parse")
}

/// Grant the operator's account the leader election rules in `ns` (a Role
/// and RoleBinding, as the chart does in its release namespace).
pub async fn grant_leader_election(admin: &kube::Client, ns: &str) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "privatelink-operator-leader-election", "namespace": ns},
        "rules": leader_election_rules()
    }))
    .expect("role");
    ensure(&Api::<Role>::namespaced(admin.clone(), ns), &role).await;
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "privatelink-operator-leader-election", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "privatelink-operator-leader-election"},
        "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": OPERATOR_NAMESPACE}]
    }))
    .expect("binding");
    ensure(&Api::<RoleBinding>::namespaced(admin.clone(), ns), &binding).await;
}

/// Create `obj` unless it exists (tests running at once create the same ones).
async fn ensure<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("creating {obj:?}: {e}"),
    }
}

/// Create a namespace (if it does not exist yet).
pub async fn ensure_namespace(admin: &kube::Client, name: &str) {
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    ensure(&Api::<Namespace>::all(admin.clone()), &ns).await;
}

/// A client acting as the operator's ServiceAccount, bound (by a
/// ClusterRole) to exactly the chart's rules.
pub async fn operator_client(admin: &kube::Client) -> kube::Client {
    operator_client_of(admin, &kubeconfig_path()).await
}

/// The operator's client for the server whose kubeconfig is `path`.
pub async fn operator_client_of(admin: &kube::Client, path: &std::path::Path) -> kube::Client {
    ensure_namespace(admin, OPERATOR_NAMESPACE).await;
    let meta = |name: &str, ns: Option<&str>| ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(str::to_string),
        ..Default::default()
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    ensure(
        &accounts,
        &ServiceAccount { metadata: meta(OPERATOR_ACCOUNT, Some(OPERATOR_NAMESPACE)), ..Default::default() },
    )
    .await;
    let role =
        ClusterRole { metadata: meta(OPERATOR_ACCOUNT, None), rules: Some(operator_rules()), ..Default::default() };
    ensure(&Api::<ClusterRole>::all(admin.clone()), &role).await;
    let binding = ClusterRoleBinding {
        metadata: meta(OPERATOR_ACCOUNT, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: OPERATOR_ACCOUNT.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: OPERATOR_ACCOUNT.into(),
            namespace: Some(OPERATOR_NAMESPACE.into()),
            ..Default::default()
        }]),
    };
    ensure(&Api::<ClusterRoleBinding>::all(admin.clone()), &binding).await;
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() },
        ..Default::default()
    };
    let token = accounts
        .create_token_request(OPERATOR_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("token for the operator's ServiceAccount")
        .status
        .expect("token status")
        .token;
    let mut config = config_from(path).await;
    config.auth_info = kube::config::AuthInfo { token: Some(token.into()), ..Default::default() };
    kube::Client::try_from(config).expect("operator client")
}

/// A kube-apiserver of a test's own, started from the binary `tests/run.sh`
/// built (`PLO_KUBE_APISERVER_BIN`), for tests that stop and restart it or
/// set it up differently; stopped, with its state removed, when dropped.
pub struct OwnServer {
    child: Child,
    dir: PathBuf,
    args: Vec<String>,
    port: String,
    /// Its kubeconfig.
    pub kubeconfig: PathBuf,
}

impl OwnServer {
    /// Start a server with the CRDs installed and `args` passed to kube-apiserver.
    pub fn start(args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("plo-own-server-{}", crate::support::uuid_like()));
        std::fs::create_dir_all(&dir).expect("state dir");
        let kubeconfig = dir.join("kubeconfig");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, port) = Self::spawn(&dir, &kubeconfig, &args, None);
        Self { child, dir, args, port, kubeconfig }
    }

    fn spawn(
        dir: &std::path::Path,
        kubeconfig: &std::path::Path,
        args: &[String],
        port: Option<&str>,
    ) -> (Child, String) {
        let bin = std::env::var("PLO_KUBE_APISERVER_BIN")
            .unwrap_or_else(|_| panic!("PLO_KUBE_APISERVER_BIN is not set: run the tests with `bash tests/run.sh`"));
        let mut command = Command::new(bin);
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--dir")
            .arg(dir.join("state"))
            .arg("--crds")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/privatelink.dev.yaml"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("log")).expect("log"));
        if let Some(port) = port {
            command.arg("--port").arg(port);
        }
        for arg in args {
            command.arg(format!("--apiserver-arg={arg}"));
        }
        let mut child = command.spawn().expect("start kube-apiserver");
        let stdout = child.stdout.take().expect("stdout");
        let line = std::io::BufRead::lines(std::io::BufReader::new(stdout)).next();
        let Some(Ok(line)) = line.filter(|l| l.as_ref().is_ok_and(|l| l.starts_with("ready"))) else {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            panic!("the test's kube-apiserver did not start:\n{log}");
        };
        let server = line.split_whitespace().find_map(|w| w.strip_prefix("server=")).expect("address");
        (child, server.rsplit(':').next().expect("port").to_string())
    }

    /// Stop the server (SIGTERM) and wait until it is gone.
    fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop the server and start it again on the same ports and data, as a
    /// control plane upgrade does: clients keep their credentials, watches
    /// break and resume.
    pub fn restart(&mut self) {
        self.stop();
        let (child, _) = Self::spawn(&self.dir, &self.kubeconfig, &self.args, Some(&self.port));
        self.child = child;
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
