//! The `plan` command, run as a user runs it: no cluster, no AWS account.

use std::process::Command;

fn plan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
        .arg("plan")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_REGION")
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn examples_plan_cleanly_against_an_empty_account() {
    let (code, stdout, stderr) = plan(&["-f", "examples"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("EndpointService payments/payments-api"), "{stdout}");
    assert!(stdout.contains("CreateVpcEndpointServiceConfiguration region=us-east-1"), "{stdout}");
    assert!(stdout.contains("supportedRegions=[eu-west-1, us-west-2]"), "{stdout}");
    assert!(stdout.contains("ModifyVpcEndpointServicePermissions add=[arn:aws:iam::444455556666:root"), "{stdout}");
    assert!(stdout.contains("InterfaceEndpoint checkout/payments-api"), "{stdout}");
    assert!(stdout.contains("serviceRegion=us-east-1"), "{stdout}");
    assert!(stdout.contains("EndpointConnection payments/checkout-us-west-2"), "{stdout}");
    assert!(stdout.contains("AcceptVpcEndpointConnections"), "{stdout}");
    assert!(stdout.contains("RejectVpcEndpointConnections service=the service of EndpointService payments-api endpoint=vpce-0a1b2c3d4e5f60799"), "{stdout}");
    // What follows the creation, as `run` decides it.
    assert!(
        stdout.contains("then CreateVpcEndpointConnectionNotification topic=arn:aws:sns:us-east-1:111122223333:payments-api-connections events=[Accept, Connect, Delete, Reject]"),
        "{stdout}"
    );
    assert!(stdout.contains("then StartVpcEndpointServicePrivateDnsVerification"), "{stdout}");
    // serviceRef resolves against the EndpointService among the manifests.
    assert!(stdout.contains("InterfaceEndpoint payments/payments-api-internal"), "{stdout}");
    assert!(stdout.contains("service=<service name of EndpointService payments-api>"), "{stdout}");
    assert!(
        stdout.contains("privateDnsEnabled=false (private DNS enabled once the connection is accepted)"),
        "{stdout}"
    );
}

#[test]
fn interface_endpoint_semantic_problems_fail_the_plan() {
    let (code, _, stderr) = plan(&["-f", "tests/fixtures/bad-policy.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("spec.policy: the policy is not valid JSON"), "{stderr}");
}

#[test]
fn invalid_manifest_names_file_document_field_and_reason() {
    let (code, stdout, stderr) = plan(&["-f", "tests/fixtures/invalid.yaml"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("tests/fixtures/invalid.yaml (document 2)"), "{stderr}");
    assert!(stderr.contains("EndpointService team-a/broken"), "{stderr}");
    assert!(stderr.contains("spec.allowedPrincipals[0]"), "{stderr}");
    assert!(stderr.contains("should match"), "{stderr}");
    assert!(stdout.contains("EndpointConnection default/ok"), "valid documents are still planned: {stdout}");
}

#[test]
fn semantic_problems_fail_the_plan_too() {
    let (code, _, stderr) = plan(&["-f", "tests/fixtures/wrong-region.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("spec.networkLoadBalancerArns[0]"), "{stderr}");
    assert!(stderr.contains("load balancer is in us-east-1 but the service is in us-west-2"), "{stderr}");
}

#[test]
fn missing_path_is_a_clear_error() {
    let (code, _, stderr) = plan(&["-f", "no/such/dir"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read no/such/dir"), "{stderr}");
}

/// `plan --live -f manifest ARGS` against the simulator.
pub fn plan_live_output_with(manifest: &std::path::Path, region: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
        .args(["plan", "--live", "-f"])
        .arg(manifest)
        .args(args)
        .env("AWS_ENDPOINT_URL", crate::support::aws_endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", region)
        .output()
        .expect("binary runs")
}

/// `plan --live -f manifest` against the simulator.
fn plan_live_output(manifest: &std::path::Path, region: &str) -> std::process::Output {
    plan_live_output_with(manifest, region, &[])
}

/// `plan --live -f manifest` against the simulator; returns stdout of a successful run.
fn plan_live(manifest: &std::path::Path, region: &str) -> String {
    let out = plan_live_output(manifest, region);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn live_plan_reads_aws_and_plans_only_the_difference() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
    let region = "sa-east-1";
    let nlb = crate::support::load_balancer(region, "live-plan", LoadBalancerTypeEnum::Network, 2).await;
    let aws = crate::support::sdk(region).await;
    let created = aws
        .ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&nlb)
        .acceptance_required(true)
        .send()
        .await
        .expect("create service");
    let id = created.service_configuration().and_then(|s| s.service_id()).expect("id").to_string();
    let dir = std::env::temp_dir().join(format!("plo-live-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("adopt.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: privatelink.dev/v1alpha1\nkind: EndpointService\nmetadata: {{name: adopted, namespace: team-a}}\nspec:\n  serviceId: {id}\n  region: {region}\n  networkLoadBalancerArns: [{nlb}]\n  allowedPrincipals: ['*']\n"
        ),
    )
    .unwrap();
    let before = crate::support::sdk(region).await.describe_services(&[]).await.unwrap();
    let stdout = plan_live(&manifest, region);
    assert!(stdout.contains(&format!("found {id} (Available)")), "{stdout}");
    assert!(stdout.contains("ModifyVpcEndpointServicePermissions add=[*]"), "{stdout}");
    assert!(
        !stdout.contains("CreateVpcEndpointServiceConfiguration"),
        "an existing service is not created again: {stdout}"
    );
    let after = crate::support::sdk(region).await.describe_services(&[]).await.unwrap();
    assert_eq!(before, after, "plan --live changes nothing in AWS");

    // An adopted endpoint: found, and only the difference planned.
    let vpc = crate::support::sim_vpc(crate::support::DEFAULT_ACCOUNT, region, 1).await;
    let ec2 = crate::support::ec2_as(crate::support::DEFAULT_ACCOUNT, region).await;
    ec2.modify_vpc_endpoint_service_permissions().service_id(&id).add_allowed_principals("*").send().await.unwrap();
    let ep = crate::support::endpoint_request(&ec2, &vpc, &format!("com.amazonaws.vpce.{region}.{id}"))
        .send()
        .await
        .unwrap();
    let ep = ep.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string();
    let sg = ec2.create_security_group().group_name("plan").description("plan").vpc_id(&vpc.id).send().await.unwrap();
    let sg = sg.group_id().unwrap().to_string();
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: privatelink.dev/v1alpha1\nkind: InterfaceEndpoint\nmetadata: {{name: adopted, namespace: team-b}}\nspec:\n  vpcEndpointId: {ep}\n  region: {region}\n  vpcId: {}\n  serviceName: com.amazonaws.vpce.{region}.{id}\n  subnetIds: [{}]\n  securityGroupIds: [{sg}]\n",
            vpc.id, vpc.subnets[0]
        ),
    )
    .unwrap();
    let stdout = plan_live(&manifest, region);
    assert!(stdout.contains(&format!("found {ep} (pendingAcceptance)")), "{stdout}");
    assert!(stdout.contains(&format!("ModifyVpcEndpoint add securityGroups=[{sg}]")), "{stdout}");
    assert!(!stdout.contains("CreateVpcEndpoint "), "{stdout}");
    assert!(stdout.contains("needs namespace team-b in the operator's --adopt-namespaces"), "{stdout}");

    // What AWS cannot modify is refused as `run` refuses it (ReplacementRequired), not planned as a Modify.
    let other_vpc = crate::support::sim_vpc(crate::support::DEFAULT_ACCOUNT, region, 1).await;
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: privatelink.dev/v1alpha1\nkind: InterfaceEndpoint\nmetadata: {{name: adopted, namespace: team-b}}\nspec:\n  vpcEndpointId: {ep}\n  region: {region}\n  vpcId: {}\n  serviceName: com.amazonaws.vpce.{region}.{id}\n  subnetIds: [{}]\n",
            other_vpc.id, vpc.subnets[0]
        ),
    )
    .unwrap();
    let out = plan_live_output(&manifest, region);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("spec.vpcId") && stderr.contains("cannot move between VPCs"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `privatelink-operator run ARGS`, for settings refused before anything starts.
fn run_refused(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
        .arg("run")
        .args(args)
        .env("KUBECONFIG", "/nonexistent")
        .env_remove("PLO_RESYNC_SECONDS")
        .output()
        .expect("binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_settings_are_refused_at_start() {
    let (code, stderr) = run_refused(&["--resync-seconds", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--resync-seconds"), "{stderr}");
    let (code, stderr) = run_refused(&["--poll-seconds", "-5"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = run_refused(&["--concurrency", "0"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = run_refused(&["--adopt-namespaces", "team-a*"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("whole segments") && stderr.contains("team-a-*"), "{stderr}");
    let (code, stderr) = run_refused(&["--allowed-role", "team-a=arn:aws:iam::111122223333:role/team*"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--allowed-role"), "{stderr}");
}

#[test]
fn plan_fits_a_pull_request_check() {
    // Summary per kind.
    let (code, stdout, _) = plan(&["-f", "examples"]);
    assert_eq!(code, 0);
    // Objects, as terraform counts resources; the AWS calls beside.
    assert!(stdout.contains("Plan: 3 to create, 2 to change, 0 to delete (8 AWS calls)."), "{stdout}");
    assert!(stdout.contains("  InterfaceEndpoint: 2 to create, 0 to change, 0 to delete"), "{stdout}");
    // The same content as JSON.
    let (code, stdout, _) = plan(&["-f", "examples", "--output", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["summary"]["create"], 3);
    assert_eq!(json["summary"]["awsCalls"], 8);
    assert_eq!(json["summary"]["byKind"]["EndpointService"]["create"], 1);
    assert_eq!(json["summary"]["byKind"]["EndpointService"]["change"], 0);
    let service = json["objects"].as_array().unwrap().iter().find(|o| o["kind"] == "EndpointService").unwrap();
    assert_eq!(service["changes"][0]["action"], "CreateVpcEndpointServiceConfiguration");
    assert_eq!(service["changes"][0]["category"], "create");
    // Detailed exit codes: 2 changes pending, 0 nothing to do, 1 errors.
    assert_eq!(plan(&["-f", "examples", "--detailed-exitcode"]).0, 2);
    let empty = std::env::temp_dir().join(format!("plo-plan-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (code, stdout, _) = plan(&["-f", empty.to_str().unwrap(), "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("Plan: 0 to create, 0 to change, 0 to delete (0 AWS calls)."), "{stdout}");
    assert_eq!(plan(&["-f", "tests/fixtures/invalid.yaml", "--detailed-exitcode"]).0, 1);
    assert_eq!(plan(&["-f", "no/such/dir", "--detailed-exitcode"]).0, 1);
    let (code, stdout, _) = plan(&["-f", "tests/fixtures/invalid.yaml", "-o", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(json["invalid"][0]["problems"][0]["field"].as_str().is_some(), "{json}");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn exposure_warnings_are_printed() {
    let dir = std::env::temp_dir().join(format!("plo-plan-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("open.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: privatelink.dev/v1alpha1\nkind: EndpointService\nmetadata: {name: open, namespace: team-a}\nspec:\n  networkLoadBalancerArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/open/0123456789abcdef]\n  allowedPrincipals: ['*']\n  acceptanceRequired: false\n",
    )
    .unwrap();
    let (code, stdout, stderr) = plan(&["-f", manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("warning: allowedPrincipals has `*` and acceptanceRequired is false"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn live_plan_shows_acceptance_decisions() {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
    let region = "il-central-1";
    let consumer = "700000000001";
    let nlb = crate::support::load_balancer(region, "live-accept", LoadBalancerTypeEnum::Network, 2).await;
    let ec2 = crate::support::ec2_as(crate::support::DEFAULT_ACCOUNT, region).await;
    let created = ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&nlb)
        .acceptance_required(true)
        .send()
        .await
        .expect("service");
    let config = created.service_configuration().expect("config");
    let (id, name) = (config.service_id().unwrap().to_string(), config.service_name().unwrap().to_string());
    ec2.modify_vpc_endpoint_service_permissions().service_id(&id).add_allowed_principals("*").send().await.unwrap();
    let vpc = crate::support::sim_vpc(consumer, region, 1).await;
    let consumer_ec2 = crate::support::ec2_as(consumer, region).await;
    let mut pending = Vec::new();
    for _ in 0..2 {
        let out = crate::support::endpoint_request(&consumer_ec2, &vpc, &name).send().await.expect("endpoint");
        pending.push(out.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string());
    }
    let dir = std::env::temp_dir().join(format!("plo-live-accept-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("accept.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: privatelink.dev/v1alpha1\nkind: EndpointService\nmetadata: {{name: adopted, namespace: team-a}}\nspec:\n  serviceId: {id}\n  region: {region}\n  autoAccept: {{accountIds: ['{consumer}']}}\n---\napiVersion: privatelink.dev/v1alpha1\nkind: EndpointConnection\nmetadata: {{name: no, namespace: team-a}}\nspec:\n  serviceId: {id}\n  region: {region}\n  vpcEndpointId: {}\n  decision: Reject\n",
            pending[1]
        ),
    )
    .unwrap();
    let stdout = plan_live(&manifest, region);
    // The rule accepts the first; the EndpointConnection decides the second (it wins over the rule).
    assert!(stdout.contains(&format!("AcceptVpcEndpointConnections endpoints=[{}]", pending[0])), "{stdout}");
    assert!(
        stdout.contains(&format!("RejectVpcEndpointConnections service={id} endpoints=[{}]", pending[1])),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_is_read_for_yaml_files_only() {
    let dir = std::env::temp_dir().join(format!("plo-plan-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/provider-service.yaml"),
        dir.join("provider-service.yaml"),
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "# Notes: [not yaml\n").unwrap();
    std::fs::write(dir.join("kustomization.json"), "{ not json").unwrap();
    let (code, stdout, stderr) = plan(&["-f", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("EndpointService payments/payments-api"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `plan -f -` (with more `-f` besides) fed `input` on standard input.
fn plan_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
        .arg("plan")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_REGION")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_reads_what_kustomize_build_renders_from_standard_input() {
    let overlay = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gitops/kustomize/overlays/prod");
    let rendered = crate::support::gitops(&["kustomize", overlay], "");
    assert!(rendered.contains("kind: Deployment") && rendered.contains("namespace: checkout-prod"), "{rendered}");
    let (code, stdout, stderr) = plan_stdin(&["-f", "-"], &rendered);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("InterfaceEndpoint checkout-prod/payments-api"), "{stdout}");
    // The overlay's patch reached the plan.
    assert!(stdout.contains("subnets=[subnet-0a1b2c3d4e5f60711, subnet-0a1b2c3d4e5f60722]"), "{stdout}");
    assert!(stdout.contains("skipped 2 documents of other kinds"), "{stdout}");
    assert!(stdout.contains("Plan: 1 to create, 0 to change, 0 to delete (1 AWS call)."), "{stdout}");
    // Several -f, standard input among them; the JSON says what was skipped.
    let (code, stdout, _) =
        plan_stdin(&["-f", "examples/provider-service.yaml", "-f", "-", "--output", "json"], &rendered);
    assert_eq!(code, 0, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["skipped"], 2);
    assert_eq!(json["summary"]["create"], 2, "{json}");
    // A privatelink.dev document with a mistake is still refused, named by
    // its place on standard input.
    let broken = rendered.replace("vpc-0a1b2c3d4e5f60718", "vpc-nope");
    let (code, _, stderr) = plan_stdin(&["-f", "-"], &broken);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("<stdin> (document") && stderr.contains("vpcId"), "{stderr}");
}

#[test]
fn plan_reads_what_helm_template_renders_from_standard_input() {
    let python = std::env::var("PLO_CHART_PYTHON")
        .expect("PLO_CHART_PYTHON is not set: run the tests with `bash tests/run.sh` (it installs the Helm library)");
    let out = Command::new(python)
        .args(["tests/chart/template.py", "tests/fixtures/gitops/app-chart", "checkout", "payments"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("helm template");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let (code, stdout, stderr) = plan_stdin(&["-f", "-", "--detailed-exitcode"], &rendered);
    assert_eq!(code, 2, "changes pending: {stdout}{stderr}");
    assert!(stdout.contains("InterfaceEndpoint payments/checkout-payments"), "{stdout}");
    assert!(stdout.contains("skipped 2 documents of other kinds"), "{stdout}");
    assert!(stdout.contains("Plan: 1 to create, 0 to change, 0 to delete (1 AWS call)."), "{stdout}");
}
