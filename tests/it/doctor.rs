//! `privatelink-operator doctor`, the binary, against the AWS simulator: one
//! scenario per cause in AWS's troubleshooting guides, each built through
//! the SDK, checked in doctor's JSON output and, where AWS refuses
//! something, against the simulator's own refusal.

use std::process::Command;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, PrefixListId, RuleAction, UserIdGroupPair, VpcAttributeName};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use serde_json::{Value, json};

use crate::support::{
    DEFAULT_ACCOUNT, TestEnv, allow_all, aws_endpoint, code, create, ec2_as, elbv2_as, endpoint_request, sim_control,
    sim_service, sim_vpc, uuid_like, wait_for, wait_gone,
};

const REGION: &str = "eu-west-1";

/// What one doctor run said.
struct Run {
    code: i32,
    report: Value,
    stdout: String,
}

impl Run {
    fn check(&self, id: &str) -> &Value {
        self.report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {:#}", self.report))
    }

    fn verdict(&self, id: &str) -> &str {
        self.check(id)["verdict"].as_str().unwrap()
    }

    /// The check's summary, evidence and fix as one string.
    fn words(&self, id: &str) -> String {
        let c = self.check(id);
        format!("{} | {} | {}", c["summary"], c["evidence"], c["fix"])
    }

    fn assert(&self, id: &str, verdict: &str, words: &[&str]) {
        assert_eq!(self.verdict(id), verdict, "{id}: {:#}", self.check(id));
        let text = self.words(id);
        for w in words {
            assert!(text.contains(w), "{id} lacks {w:?}: {text}");
        }
    }
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"));
    cmd.env("AWS_ENDPOINT_URL", aws_endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    cmd
}

/// Run doctor as `account` (through a role, as users of other accounts do).
fn doctor(account: &str, args: &[&str]) -> Run {
    doctor_as(account, args, true)
}

fn doctor_as(account: &str, args: &[&str], json: bool) -> Run {
    doctor_in(account, REGION, args, json)
}

fn doctor_in(account: &str, region: &str, args: &[&str], json: bool) -> Run {
    crate::support::require_simulator();
    let role = format!("arn:aws:iam::{account}:role/doctor");
    let mut cmd = binary();
    cmd.arg("doctor").args(args).args(["--region", region, "--role-arn", &role]);
    if json {
        cmd.args(["--output", "json"]);
    }
    let out = cmd.output().expect("run doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = if json {
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("doctor printed no JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        })
    } else {
        Value::Null
    };
    Run { code: out.status.code().unwrap_or(-1), report, stdout }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

async fn group(ec2: &aws_sdk_ec2::Client, vpc: &str, name: &str) -> String {
    ec2.create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc)
        .send()
        .await
        .expect("create group")
        .group_id()
        .unwrap()
        .to_string()
}

fn tcp(port: i32) -> aws_sdk_ec2::types::builders::IpPermissionBuilder {
    IpPermission::builder().ip_protocol("tcp").from_port(port).to_port(port)
}

async fn delete_group_code(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    match ec2.delete_security_group().group_id(id).send().await {
        Ok(_) => "deleted".into(),
        Err(e) => code(&e),
    }
}

#[tokio::test]
async fn security_groups_that_cannot_be_deleted_name_what_holds_them() {
    let account = "400000000101";
    let ec2 = ec2_as(account, REGION).await;
    let vpc = sim_vpc(account, REGION, 2).await;

    // The VPC's default group: CannotDelete.
    let default = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &vpc.id))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    let run = doctor(account, &[&default]);
    assert_eq!(run.code, 1);
    run.assert("default-group", "fail", &["CannotDelete", "default"]);
    assert_eq!(delete_group_code(&ec2, &default).await, "CannotDelete");

    // A free group: nothing blocks; asked, AWS says the caller may delete it.
    let free = group(&ec2, &vpc.id, "free").await;
    let run = doctor(account, &[&free]);
    assert_eq!(run.code, 0, "{:#}", run.report);
    for id in ["found", "default-group", "rules-in-vpc", "rules-in-peered-vpcs", "network-interfaces", "instances"] {
        assert_eq!(run.verdict(id), "pass", "{id}");
    }
    run.assert("permission", "could-not-check", &["--check-permissions"]);
    let run = doctor(account, &[&free, "--check-permissions"]);
    run.assert("permission", "pass", &["DryRunOperation"]);
    assert_eq!(
        ec2.describe_security_groups().group_ids(&free).send().await.unwrap().security_groups().len(),
        1,
        "a DryRun deletes nothing"
    );

    // An SCP denies the delete: the DryRun says so.
    sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": account, "rules": [{"action": "DeleteSecurityGroup", "errorRate": 1.0, "errorCode": "UnauthorizedOperation",
            "errorMessage": "You are not authorized to perform this operation. with an explicit deny in a service control policy"}]})),
    )
    .await;
    let run = doctor(account, &[&free, "--check-permissions"]);
    sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
    assert_eq!(run.code, 1);
    run.assert("permission", "fail", &["service control policy", "SCP"]);

    // Another group's rule references it.
    let db = group(&ec2, &vpc.id, "db").await;
    let app = group(&ec2, &vpc.id, "app").await;
    ec2.authorize_security_group_egress()
        .group_id(&app)
        .ip_permissions(tcp(5432).user_id_group_pairs(UserIdGroupPair::builder().group_id(&db).build()).build())
        .send()
        .await
        .unwrap();
    let run = doctor(account, &[&db]);
    run.assert("rules-in-vpc", "fail", &[&app, "outbound tcp 5432", "revoke-security-group"]);
    assert_eq!(delete_group_code(&ec2, &db).await, "DependencyViolation");

    // A group in a peered VPC references it.
    let peer =
        ec2.create_vpc().cidr_block("10.1.0.0/16").send().await.unwrap().vpc().unwrap().vpc_id().unwrap().to_string();
    let pcx = ec2
        .create_vpc_peering_connection()
        .vpc_id(&vpc.id)
        .peer_vpc_id(&peer)
        .send()
        .await
        .unwrap()
        .vpc_peering_connection()
        .unwrap()
        .vpc_peering_connection_id()
        .unwrap()
        .to_string();
    ec2.accept_vpc_peering_connection().vpc_peering_connection_id(&pcx).send().await.unwrap();
    let shared = group(&ec2, &vpc.id, "shared").await;
    let remote = group(&ec2, &peer, "remote").await;
    ec2.authorize_security_group_ingress()
        .group_id(&remote)
        .ip_permissions(
            tcp(443)
                .user_id_group_pairs(
                    UserIdGroupPair::builder().group_id(&shared).vpc_peering_connection_id(&pcx).build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = doctor(account, &[&shared]);
    run.assert("rules-in-peered-vpcs", "fail", &[&peer, &pcx]);
    assert_eq!(run.verdict("rules-in-vpc"), "pass");
    assert_eq!(delete_group_code(&ec2, &shared).await, "DependencyViolation");

    // An instance uses it.
    let web = group(&ec2, &vpc.id, "web").await;
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&vpc.subnets[0])
        .security_group_ids(&web)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let run = doctor(account, &[&web]);
    run.assert("instances", "fail", &[&instance, "terminate"]);
    assert_eq!(run.verdict("network-interfaces"), "pass", "the instance's own interface is told under instances");
    assert_eq!(delete_group_code(&ec2, &web).await, "DependencyViolation");

    // Network interfaces of an endpoint, a load balancer, a Lambda function
    // and a NAT gateway.
    let for_endpoint = group(&ec2, &vpc.id, "endpoint").await;
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc.id)
        .service_name(format!("com.amazonaws.{REGION}.s3"))
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .subnet_ids(&vpc.subnets[0])
        .security_group_ids(&for_endpoint)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let run = doctor(account, &[&for_endpoint]);
    run.assert(
        "network-interfaces",
        "fail",
        &[&format!("endpoint {endpoint}"), "--remove-security-group-ids", "has a dependent object"],
    );
    assert_eq!(delete_group_code(&ec2, &for_endpoint).await, "DependencyViolation");

    let for_lb = group(&ec2, &vpc.id, "nlb").await;
    let lb = elbv2_as(account, REGION)
        .await
        .create_load_balancer()
        .name(format!("nlb-{}", &uuid_like()[..6]))
        .r#type(LoadBalancerTypeEnum::Network)
        .set_subnets(Some(vpc.subnets.clone()))
        .security_groups(&for_lb)
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let lb_name = lb_arn.split(":loadbalancer/").nth(1).unwrap();
    let run = doctor(account, &[&for_lb]);
    run.assert("network-interfaces", "fail", &[&format!("load balancer {lb_name}"), "set-security-groups"]);
    assert_eq!(run.check("network-interfaces")["evidence"].as_array().unwrap().len(), 2, "one interface per subnet");

    let for_lambda = group(&ec2, &vpc.id, "lambda").await;
    sim_control(
        "POST",
        "/_sim/network-interface",
        Some(json!({"account": account, "region": REGION, "subnetId": vpc.subnets[0], "groupIds": [for_lambda],
            "interfaceType": "lambda", "description": "AWS Lambda VPC ENI-thumbnails-4f9c2a1e-1b2c-4d3e-8f9a-0b1c2d3e4f5a",
            "requesterId": "AROAEXAMPLE:thumbnails"})),
    )
    .await;
    let run = doctor(account, &[&for_lambda]);
    run.assert("network-interfaces", "fail", &["Lambda function thumbnails", "VPC configuration"]);
    assert_eq!(delete_group_code(&ec2, &for_lambda).await, "DependencyViolation");

    let for_nat = group(&ec2, &vpc.id, "nat").await;
    sim_control(
        "POST",
        "/_sim/network-interface",
        Some(json!({"account": account, "region": REGION, "subnetId": vpc.subnets[1], "groupIds": [for_nat],
            "interfaceType": "nat_gateway", "description": "Interface for NAT Gateway nat-0a1b2c3d4e5f60718", "requesterId": "amazon"})),
    )
    .await;
    let run = doctor(account, &[&for_nat]);
    run.assert("network-interfaces", "fail", &["NAT gateway nat-0a1b2c3d4e5f60718"]);

    // Not there at all, and not a subject.
    let run = doctor(account, &["sg-0123456789abcdef0"]);
    assert_eq!(run.code, 1);
    run.assert("found", "fail", &["--region"]);
    let out = binary().args(["doctor", "i-0123", "--region", REGION]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vpce-svc-"));
}

#[tokio::test]
async fn requester_managed_endpoints_name_the_service_to_delete_instead() {
    let account = "400000000102";
    let ec2 = ec2_as(account, REGION).await;
    let vpc = sim_vpc(account, REGION, 1).await;
    let firewall = format!("arn:aws:network-firewall:{REGION}:{account}:firewall/edge");
    let created = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
            "serviceName": format!("com.amazonaws.vpce.{REGION}.vpce-svc-0f1e2d3c4b5a69788"),
            "tags": {"AWSNetworkFirewallManaged": "true", "Firewall": firewall}})),
    )
    .await;
    let id = created["VpcEndpointId"].as_str().unwrap().to_string();
    let refused = ec2.delete_vpc_endpoints().vpc_endpoint_ids(&id).send().await.unwrap();
    let message = refused.unsuccessful()[0].error().unwrap().message().unwrap().to_string();
    assert!(message.contains("Operation is not allowed for requester-managed VPC endpoints"), "{message}");
    let run = doctor(account, &[&id]);
    assert_eq!(run.code, 1);
    run.assert(
        "requester-managed",
        "fail",
        &["AWS Network Firewall", &firewall, "Operation is not allowed for requester-managed", "disassociate-subnets"],
    );
    // Its network interfaces say what they are.
    assert!(run.words("requester-managed").contains(&format!("VPC Endpoint Interface {id}")));

    // Without tags, the fix says where to look.
    let created = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
            "serviceName": format!("com.amazonaws.vpce.{REGION}.vpce-svc-0aaaabbbbccccdddd"), "tags": {}})),
    )
    .await;
    let untagged = created["VpcEndpointId"].as_str().unwrap().to_string();
    let run = doctor(account, &[&untagged, "--nameserver", &crate::support::sim_nameserver()]);
    run.assert("requester-managed", "fail", &["an AWS service", "CloudTrail", "CNAME", "no CreateVpcEndpoint event"]);

    // A database whose DNS name is a CNAME of the endpoint's: an RDS Proxy
    // and an Aurora Serverless cluster, each behind its own endpoint.
    let rds = crate::support::rds_as(account, REGION).await;
    let for_proxy = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
            "serviceName": format!("com.amazonaws.vpce.{REGION}.vpce-svc-0cccc1111dddd2222"), "tags": {}})),
    )
    .await["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let proxy = rds
        .create_db_proxy()
        .db_proxy_name("orders")
        .engine_family(aws_sdk_rds::types::EngineFamily::Postgresql)
        .role_arn(format!("arn:aws:iam::{account}:role/proxy"))
        .vpc_subnet_ids(&vpc.subnets[0])
        .auth(
            aws_sdk_rds::types::UserAuthConfig::builder()
                .secret_arn(format!("arn:aws:secretsmanager:{REGION}:{account}:secret:db"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let proxy_host = proxy.db_proxy().unwrap().endpoint().unwrap().to_string();
    let for_cluster = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
            "serviceName": format!("com.amazonaws.vpce.{REGION}.vpce-svc-0eeee3333ffff4444"), "tags": {}})),
    )
    .await["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier("reports")
        .engine("aurora-mysql")
        .engine_mode("serverless")
        .master_username("admin")
        .master_user_password("correct-horse-battery")
        .send()
        .await
        .unwrap();
    let cluster_host = cluster.db_cluster().unwrap().endpoint().unwrap().to_string();
    for (host, endpoint) in [(&proxy_host, &for_proxy), (&cluster_host, &for_cluster)] {
        let dns = ec2.describe_vpc_endpoints().vpc_endpoint_ids(endpoint).send().await.unwrap().vpc_endpoints()[0]
            .dns_entries()[0]
            .dns_name()
            .unwrap()
            .to_string();
        sim_control("POST", "/_sim/dns", Some(json!({"name": host, "cname": dns}))).await;
    }
    let nameserver = crate::support::sim_nameserver();
    let run = doctor(account, &[&for_proxy, "--nameserver", &nameserver]);
    run.assert("requester-managed", "fail", &["RDS Proxy orders created it", &proxy_host, "Delete RDS Proxy orders"]);
    let run = doctor(account, &[&for_cluster, "--nameserver", &nameserver]);
    run.assert("requester-managed", "fail", &["Aurora Serverless cluster reports created it", &cluster_host]);

    // CloudTrail kept the CreateVpcEndpoint event (within 90 days): the
    // service principal that called names the owner.
    let event = |endpoint: &str, days: u32| {
        json!({"account": account, "region": REGION, "eventName": "CreateVpcEndpoint", "username": "rds.amazonaws.com",
            "daysAgo": days, "resources": [{"type": "AWS::EC2::VPCEndpoint", "name": endpoint}]})
    };
    sim_control("POST", "/_sim/cloudtrail", Some(event(&untagged, 12))).await;
    let run = doctor(account, &[&untagged]);
    run.assert(
        "requester-managed",
        "fail",
        &["Amazon RDS (Aurora Serverless or RDS Proxy)", "CreateVpcEndpoint by rds.amazonaws.com"],
    );

    // Older than CloudTrail's 90 days: no event, the fix says where else to look.
    let old = sim_control(
        "POST",
        "/_sim/requester-managed-endpoint",
        Some(json!({"account": account, "region": REGION, "vpcId": vpc.id, "subnetIds": [vpc.subnets[0]],
            "serviceName": format!("com.amazonaws.vpce.{REGION}.vpce-svc-0bbbbccccddddeeee"), "tags": {}})),
    )
    .await;
    let old = old["VpcEndpointId"].as_str().unwrap().to_string();
    sim_control("POST", "/_sim/cloudtrail", Some(event(&old, 120))).await;
    doctor(account, &[&old]).assert("requester-managed", "fail", &["last 90 days", "CNAME"]);

    // CloudTrail refused: said so, with the permission to ask for.
    sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": account, "rules": [{"action": "LookupEvents", "errorRate": 1.0, "errorCode": "AccessDeniedException"}]})),
    )
    .await;
    let run = doctor(account, &[&untagged]);
    sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
    run.assert("requester-managed", "fail", &["CloudTrail not checked: LookupEvents: AccessDeniedException"]);
}

#[tokio::test]
async fn interface_endpoints_without_traffic_say_why() {
    let account = "400000000103";
    let ec2 = ec2_as(account, REGION).await;
    let vpc = sim_vpc(account, REGION, 2).await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc.id)
        .enable_dns_hostnames(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    let s3 = format!("com.amazonaws.{REGION}.s3");
    let open = group(&ec2, &vpc.id, "open").await;
    ec2.authorize_security_group_ingress()
        .group_id(&open)
        .ip_permissions(tcp(443).ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build()).build())
        .send()
        .await
        .unwrap();
    let create = |subnet: &str, groups: &[&str]| {
        endpoint_request(&ec2, &vpc, &s3)
            .set_subnet_ids(Some(vec![subnet.to_string()]))
            .set_security_group_ids(Some(groups.iter().map(|g| g.to_string()).collect()))
    };
    let id_of = |out: aws_sdk_ec2::operation::create_vpc_endpoint::CreateVpcEndpointOutput| {
        out.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string()
    };

    // Healthy: every check passes, exit 0.
    let healthy = id_of(create(&vpc.subnets[0], &[&open]).send().await.unwrap());
    let run = doctor(account, &[&healthy]);
    assert_eq!(run.code, 0, "{:#}", run.report);
    for c in run.report["checks"].as_array().unwrap() {
        assert_eq!(c["verdict"], "pass", "{c:#}");
    }

    // Its security group lets nobody in on 443.
    let closed = group(&ec2, &vpc.id, "closed").await;
    let shut = id_of(create(&vpc.subnets[0], &[&closed]).send().await.unwrap());
    let run = doctor(account, &[&shut]);
    assert_eq!(run.code, 1);
    run.assert("security-groups", "fail", &["tcp 443", &closed]);

    // A network ACL denies 443 from the VPC before allowing everything.
    let acl = ec2
        .create_network_acl()
        .vpc_id(&vpc.id)
        .send()
        .await
        .unwrap()
        .network_acl()
        .unwrap()
        .network_acl_id()
        .unwrap()
        .to_string();
    for (n, egress, port, action) in [
        (90, false, Some(443), RuleAction::Deny),
        (100, false, None, RuleAction::Allow),
        (100, true, None, RuleAction::Allow),
    ] {
        let mut entry = ec2
            .create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(n)
            .egress(egress)
            .rule_action(action)
            .cidr_block(if port.is_some() { "10.0.0.0/16" } else { "0.0.0.0/0" });
        entry = match port {
            Some(p) => entry.protocol("6").port_range(aws_sdk_ec2::types::PortRange::builder().from(p).to(p).build()),
            None => entry.protocol("-1"),
        };
        entry.send().await.unwrap();
    }
    let association = ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", &vpc.subnets[1]))
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .associations()
        .iter()
        .find(|a| a.subnet_id() == Some(vpc.subnets[1].as_str()))
        .unwrap()
        .network_acl_association_id()
        .unwrap()
        .to_string();
    ec2.replace_network_acl_association().association_id(association).network_acl_id(&acl).send().await.unwrap();
    let denied = id_of(create(&vpc.subnets[1], &[&open]).send().await.unwrap());
    let run = doctor(account, &[&denied]);
    run.assert("network-acls", "fail", &[&acl, "inbound tcp 443 from 10.0.0.0/16: denied by rule 90"]);
    assert_eq!(run.verdict("security-groups"), "pass");

    // A policy that denies everything.
    let policy = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#;
    let blocked = id_of(create(&vpc.subnets[0], &[&open]).policy_document(policy).send().await.unwrap());
    doctor(account, &[&blocked]).assert("endpoint-policy", "fail", &["blocks every call"]);

    // Private DNS in a VPC without DNS hostnames.
    let bare = sim_vpc(account, REGION, 1).await;
    let bare_group = group(&ec2, &bare.id, "open").await;
    let no_dns = id_of(
        endpoint_request(&ec2, &bare, &s3)
            .security_group_ids(&bare_group)
            .private_dns_enabled(true)
            .send()
            .await
            .unwrap(),
    );
    doctor(account, &[&no_dns]).assert("vpc-dns", "fail", &["enableDnsHostnames off", "--enable-dns-hostnames"]);

    // An endpoint service that needs acceptance: its provider must accept.
    let provider = "400000000104";
    let (service, name) = sim_service(provider, REGION, true, 2, &[]).await;
    allow_all(provider, REGION, &service).await;
    let waiting = id_of(create(&vpc.subnets[0], &[&open]).service_name(&name).send().await.unwrap());
    let run = doctor(account, &[&waiting, "--port", "443"]);
    run.assert("state", "fail", &["pendingAcceptance", provider, "EndpointConnection"]);
    // An endpoint service's ports are unknown to the consumer unless told.
    assert_eq!(doctor(account, &[&waiting]).verdict("security-groups"), "could-not-check");

    // The provider's load balancer leaves a zone: the endpoint's subnet
    // there has no service behind it, and AWS refuses new endpoints there.
    let (service, name) = sim_service(provider, REGION, false, 3, &[]).await;
    allow_all(provider, REGION, &service).await;
    let both = id_of(
        endpoint_request(&ec2, &vpc, &name)
            .set_subnet_ids(Some(vpc.subnets.clone()))
            .security_group_ids(&open)
            .send()
            .await
            .unwrap(),
    );
    let elbv2 = elbv2_as(provider, REGION).await;
    let arn = ec2_as(provider, REGION)
        .await
        .describe_vpc_endpoint_service_configurations()
        .service_ids(&service)
        .send()
        .await
        .unwrap()
        .service_configurations()[0]
        .network_load_balancer_arns()[0]
        .clone();
    let lb = elbv2.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    let keep: Vec<String> = lb.load_balancers()[0]
        .availability_zones()
        .iter()
        .filter(|z| z.zone_name() != Some(&format!("{REGION}b")))
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    assert_eq!(keep.len(), 2);
    elbv2.set_subnets().load_balancer_arn(&arn).set_subnets(Some(keep)).send().await.unwrap();
    let run = doctor(account, &[&both, "--port", "443"]);
    run.assert("zones", "fail", &[&vpc.subnets[1], "euw1-az"]);
    let refused = endpoint_request(&ec2, &vpc, &name).subnet_ids(&vpc.subnets[1]).send().await.unwrap_err();
    assert!(format!("{refused:?}").contains("does not support the availability zone"), "{refused:?}");
}

#[tokio::test]
async fn gateway_endpoints_without_traffic_say_why() {
    let account = "400000000105";
    let ec2 = ec2_as(account, REGION).await;
    let vpc = sim_vpc(account, REGION, 2).await;
    let s3 = format!("com.amazonaws.{REGION}.s3");
    let table = ec2
        .create_route_table()
        .vpc_id(&vpc.id)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    ec2.associate_route_table().route_table_id(&table).subnet_id(&vpc.subnets[0]).send().await.unwrap();
    let gateway = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc.id)
        .service_name(&s3)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(&table)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let prefix_list =
        ec2.describe_prefix_lists().filters(filter("prefix-list-name", &s3)).send().await.unwrap().prefix_lists()[0]
            .prefix_list_id()
            .unwrap()
            .to_string();

    // The second subnet uses the main route table, which has no route to it.
    let run = doctor(account, &[&gateway]);
    assert_eq!(run.code, 1);
    run.assert("route-tables", "fail", &[&vpc.subnets[1], "(main)", &prefix_list, "--add-route-table-ids"]);
    run.assert("client-security-groups", "could-not-check", &["--source"]);
    run.assert("bucket", "could-not-check", &["--bucket"]);
    run.assert("caller-iam", "could-not-check", &["simulate-principal-policy"]);

    // A client in the first subnet whose group allows no egress.
    let client = group(&ec2, &vpc.id, "client").await;
    ec2.revoke_security_group_egress()
        .group_id(&client)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&vpc.subnets[0])
        .security_group_ids(&client)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let run = doctor(account, &[&gateway, "--source", &instance]);
    run.assert("route-tables", "pass", &[&table]);
    run.assert("client-security-groups", "fail", &[&format!("PrefixListId={prefix_list}")]);
    run.assert("network-acls", "pass", &[]);
    ec2.authorize_security_group_egress()
        .group_id(&client)
        .ip_permissions(tcp(443).prefix_list_ids(PrefixListId::builder().prefix_list_id(&prefix_list).build()).build())
        .send()
        .await
        .unwrap();
    let run = doctor(account, &[&gateway, "--source", &instance]);
    assert_eq!(run.code, 0, "{:#}", run.report);
    run.assert("client-security-groups", "pass", &[&prefix_list]);

    // The client subnet's network ACL lets 443 out but no replies in.
    let acl = ec2
        .create_network_acl()
        .vpc_id(&vpc.id)
        .send()
        .await
        .unwrap()
        .network_acl()
        .unwrap()
        .network_acl_id()
        .unwrap()
        .to_string();
    for (egress, port) in [(true, 443), (false, 22)] {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(100)
            .egress(egress)
            .rule_action(RuleAction::Allow)
            .protocol("6")
            .port_range(aws_sdk_ec2::types::PortRange::builder().from(port).to(port).build())
            .cidr_block("0.0.0.0/0")
            .send()
            .await
            .unwrap();
    }
    let association = ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", &vpc.subnets[0]))
        .send()
        .await
        .unwrap()
        .network_acls()[0]
        .associations()
        .iter()
        .find(|a| a.subnet_id() == Some(vpc.subnets[0].as_str()))
        .unwrap()
        .network_acl_association_id()
        .unwrap()
        .to_string();
    ec2.replace_network_acl_association().association_id(association).network_acl_id(&acl).send().await.unwrap();
    let run = doctor(account, &[&gateway, "--source", &instance]);
    run.assert("network-acls", "fail", &[&acl, "inbound tcp 1024-65535", "denied by the default * entry"]);

    // The bucket: in the endpoint's region and open to it, then in another
    // region, then with a policy that lets only another endpoint in.
    let s3_here = crate::support::s3_as(account, REGION).await;
    let here = format!("logs-{}", &uuid_like()[..8]);
    s3_here
        .create_bucket()
        .bucket(&here)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = doctor(account, &[&gateway, "--bucket", &here]);
    run.assert("bucket-region", "pass", &[REGION]);
    run.assert("bucket-policy", "pass", &["no policy"]);
    let away = format!("archive-{}", &uuid_like()[..8]);
    crate::support::s3_as(account, "ap-southeast-2")
        .await
        .create_bucket()
        .bucket(&away)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApSoutheast2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    doctor(account, &[&gateway, "--bucket", &away]).assert(
        "bucket-region",
        "fail",
        &["ap-southeast-2", "serviceRegion"],
    );
    let policy = json!({"Statement": [{"Sid": "OnlyThroughTheOtherEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{here}"), format!("arn:aws:s3:::{here}/*")],
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}}]});
    s3_here.put_bucket_policy().bucket(&here).policy(policy.to_string()).send().await.unwrap();
    let run = doctor(account, &[&gateway, "--bucket", &here]);
    run.assert("bucket-policy", "fail", &["OnlyThroughTheOtherEndpoint", "vpce-0123456789abcdef0", &gateway]);

    // DNS support off.
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc.id)
        .enable_dns_support(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    let run = doctor(account, &[&gateway]);
    run.assert("vpc-dns", "fail", &["enableDnsSupport off"]);
    let attribute = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc.id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .unwrap();
    assert_eq!(attribute.enable_dns_support().and_then(|v| v.value()), Some(false));

    // An endpoint policy that denies S3.
    let second = ec2
        .create_route_table()
        .vpc_id(&vpc.id)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    let denying = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc.id)
        .service_name(&s3)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(&second)
        .policy_document(
            r#"{"Statement":[{"Sid":"NoS3","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    doctor(account, &[&denying]).assert("endpoint-policy", "fail", &["NoS3"]);
}

#[tokio::test]
async fn endpoint_services_name_the_connections_that_hold_them() {
    let provider = "400000000106";
    let consumer = "400000000107";
    let (service, name) = sim_service(provider, REGION, true, 2, &[]).await;
    allow_all(provider, REGION, &service).await;
    let net = sim_vpc(consumer, REGION, 2).await;
    let consumer_ec2 = ec2_as(consumer, REGION).await;
    let mut endpoints = Vec::new();
    for _ in 0..2 {
        let out = endpoint_request(&consumer_ec2, &net, &name).send().await.unwrap();
        endpoints.push(out.vpc_endpoint().unwrap().vpc_endpoint_id().unwrap().to_string());
    }
    let ec2 = ec2_as(provider, REGION).await;
    ec2.accept_vpc_endpoint_connections().service_id(&service).vpc_endpoint_ids(&endpoints[0]).send().await.unwrap();
    let run = doctor(provider, &[&service]);
    assert_eq!(run.code, 1);
    run.assert(
        "connections",
        "fail",
        &["ExistingVpcEndpointConnections", &endpoints[0], &endpoints[1], consumer, "reject-vpc-endpoint-connections"],
    );
    run.assert("acceptance", "fail", &[&endpoints[1]]);
    run.assert("principals", "pass", &["*"]);
    run.assert("load-balancers", "pass", &["ResourceInUse"]);
    let refused = ec2.delete_vpc_endpoint_service_configurations().service_ids(&service).send().await.unwrap();
    assert_eq!(refused.unsuccessful()[0].error().unwrap().code(), Some("ExistingVpcEndpointConnections"));
    // The load balancer is held by the service, as the check says.
    let arn = ec2
        .describe_vpc_endpoint_service_configurations()
        .service_ids(&service)
        .send()
        .await
        .unwrap()
        .service_configurations()[0]
        .network_load_balancer_arns()[0]
        .clone();
    let held =
        elbv2_as(provider, REGION).await.delete_load_balancer().load_balancer_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&held), "ResourceInUse");

    // Nobody allowed, and a private DNS name not verified yet.
    let (bare, _) = sim_service(provider, REGION, false, 2, &[]).await;
    ec2.modify_vpc_endpoint_service_configuration()
        .service_id(&bare)
        .private_dns_name("api.example.com")
        .send()
        .await
        .unwrap();
    let run = doctor(provider, &[&bare]);
    run.assert("connections", "pass", &[]);
    run.assert("principals", "fail", &["InvalidServiceName", "--add-allowed-principals"]);
    run.assert("private-dns", "fail", &["api.example.com", "pendingVerification", "TXT"]);
}

#[tokio::test]
async fn doctor_only_reads_and_says_what_it_could_not_read() {
    let account = "400000000108";
    let ec2 = ec2_as(account, REGION).await;
    let vpc = sim_vpc(account, REGION, 1).await;
    let free = group(&ec2, &vpc.id, "free").await;
    let endpoint = endpoint_request(&ec2, &vpc, &format!("com.amazonaws.{REGION}.s3"))
        .security_group_ids(&free)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let gateway = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc.id)
        .service_name(format!("com.amazonaws.{REGION}.dynamodb"))
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let (service, _) = sim_service(account, REGION, false, 1, &[]).await;
    let calls_of = |subject: String, extra: &'static [&'static str]| async move {
        sim_control("DELETE", &format!("/_sim/calls?account={account}"), None).await;
        let mut args = vec![subject.as_str()];
        args.extend_from_slice(extra);
        doctor(account, &args);
        let log = sim_control("GET", &format!("/_sim/calls?account={account}&region={REGION}"), None).await;
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for c in log["calls"].as_array().unwrap() {
            *counts.entry(c["action"].as_str().unwrap().to_string()).or_default() += 1;
        }
        counts
    };
    for (what, subject, extra) in [
        ("interface endpoint", endpoint.clone(), &[][..]),
        ("gateway endpoint", gateway.clone(), &[][..]),
        ("endpoint service", service.clone(), &[][..]),
        ("security group", free.clone(), &[][..]),
        ("security group --check-permissions", free.clone(), &["--check-permissions"][..]),
    ] {
        let counts = calls_of(subject, extra).await;
        println!("doctor {what}: {} calls {counts:?}", counts.values().sum::<u64>());
        assert!(!counts.is_empty(), "{what}: doctor called AWS");
        for action in counts.keys() {
            let read = ["Describe", "Get", "Lookup", "List"].iter().any(|p| action.starts_with(p));
            let dry_run = action == "DeleteSecurityGroup" && extra.contains(&"--check-permissions");
            assert!(read || dry_run, "{what}: {action} is not a read");
        }
    }
    assert_eq!(ec2.describe_security_groups().group_ids(&free).send().await.unwrap().security_groups().len(), 1);

    // A read AWS refuses: the check says it could not check, and why.
    sim_control(
        "PUT",
        "/_sim/faults",
        Some(json!({"account": account, "rules": [{"action": "DescribeNetworkInterfaces", "errorRate": 1.0, "errorCode": "UnauthorizedOperation"}]})),
    )
    .await;
    let run = doctor(account, &[&free]);
    let text = doctor_as(account, &[&free], false);
    sim_control("DELETE", &format!("/_sim/faults?account={account}"), None).await;
    assert_eq!(run.code, 0, "could-not-check alone blocks nothing");
    run.assert(
        "network-interfaces",
        "could-not-check",
        &["UnauthorizedOperation", "ec2:DescribeNetworkInterfaces", "SCP"],
    );
    assert_eq!(run.report["summary"]["couldNotCheck"], 2, "{:#}", run.report);
    assert!(text.stdout.contains("????  network-interfaces"), "{}", text.stdout);
    assert!(text.stdout.contains(&format!("Security group {free} in {REGION}")), "{}", text.stdout);
    assert!(text.stdout.contains("Result: "), "{}", text.stdout);
}

/// The InterfaceEndpoint controller runs doctor's checks: its
/// TrafficAllowed condition carries the words doctor prints, deleting an
/// endpoint names what still holds its security groups, and every call it
/// makes for them is in the operator's IAM policy.
#[tokio::test]
async fn the_interface_endpoint_controller_says_what_doctor_says() {
    use kube::api::{Api, DeleteParams};
    use privatelink_operator::api::InterfaceEndpoint;
    use privatelink_operator::api::conditions::TRAFFIC_ALLOWED;
    let region = "eu-central-2";
    let timeout = std::time::Duration::from_secs(30);
    let ec2 = ec2_as(DEFAULT_ACCOUNT, region).await;
    let vpc = sim_vpc(DEFAULT_ACCOUNT, region, 2).await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc.id)
        .enable_dns_hostnames(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    let open = group(&ec2, &vpc.id, "open").await;
    ec2.authorize_security_group_ingress()
        .group_id(&open)
        .ip_permissions(tcp(443).ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build()).build())
        .send()
        .await
        .unwrap();
    let closed = group(&ec2, &vpc.id, "closed").await;
    let s3 = format!("com.amazonaws.{region}.s3");
    let mut env = TestEnv::new(region).await;
    env.start_interface_endpoints();
    let api: Api<InterfaceEndpoint> = env.api("team-b");
    let spec = |groups: &[&str]| {
        serde_json::from_value(
            json!({"vpcId": vpc.id, "serviceName": s3, "subnetIds": [vpc.subnets[0]], "securityGroupIds": groups}),
        )
        .unwrap()
    };
    create(&api, &InterfaceEndpoint::new("reachable", spec(&[&open]))).await;
    create(&api, &InterfaceEndpoint::new("unreachable", spec(&[&closed]))).await;
    let traffic = |e: &InterfaceEndpoint| {
        let c = e.status.as_ref()?.conditions.iter().find(|c| c.type_ == TRAFFIC_ALLOWED)?;
        Some((c.status.clone(), c.reason.clone(), c.message.clone(), e.status.as_ref()?.vpc_endpoint_id.clone()?))
    };
    let (status, reason, message, _) = wait_for(&api, "reachable", timeout, "TrafficAllowed", traffic).await;
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Allowed"), "{message}");
    assert!(message.contains("security-groups, network-acls, vpc-dns"), "{message}");
    let (status, reason, message, id) = wait_for(&api, "unreachable", timeout, "TrafficAllowed", traffic).await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "SecurityGroups"), "{message}");
    // The same words as doctor's.
    let run = doctor_in(DEFAULT_ACCOUNT, region, &[&id], true);
    let check = run.check("security-groups");
    assert!(message.starts_with(check["summary"].as_str().unwrap()), "{message} vs {check:#}");
    assert!(message.contains(check["fix"].as_str().unwrap()), "{message} vs {check:#}");

    // A security group also used by an endpoint made outside the operator:
    // deleting the object names what still holds it.
    let shared = group(&ec2, &vpc.id, "shared").await;
    let other = endpoint_request(&ec2, &vpc, &s3)
        .security_group_ids(&shared)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    create(&api, &InterfaceEndpoint::new("sharing", spec(&[&shared]))).await;
    wait_for(&api, "sharing", timeout, "TrafficAllowed", traffic).await;
    api.delete("sharing", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "sharing", timeout).await;
    let events = env.events("team-b").await;
    let held = events
        .iter()
        .find(|e| e["reason"] == "SecurityGroupStillHeld")
        .unwrap_or_else(|| panic!("no SecurityGroupStillHeld event: {events:#?}"));
    let note = held["note"].as_str().unwrap();
    assert!(
        note.contains(&shared)
            && note.contains(&format!("endpoint {other}"))
            && note.contains("--remove-security-group-ids"),
        "{note}"
    );

    // Every EC2 call the controller made is granted by the operator's policy.
    let policy: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/charts/privatelink-operator/files/iam-policy.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let granted: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let calls = env.aws.counter().snapshot();
    for (service, operation) in calls.calls.keys() {
        if service == "EC2" {
            assert!(
                granted.contains(&format!("ec2:{operation}")),
                "the controller called {operation}, which the operator's policy does not grant"
            );
        }
    }
    assert!(calls.calls.keys().any(|(_, op)| op == "DescribeNetworkAcls"), "the traffic checks ran: {:?}", calls.calls);
}

/// `doctor KIND/NAME -n NAMESPACE`: the object is read from the API server
/// and doctor examines the resource, region and identity its status
/// recorded — the id a user would otherwise look up first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_takes_an_object_by_kind_and_name() {
    use kube::api::Api;
    use privatelink_operator::api::{EndpointService, EndpointServiceSpec, InterfaceEndpoint, InterfaceEndpointSpec};
    let region = "ap-south-1";
    let nlb = crate::support::load_balancer(region, "doctor-obj", LoadBalancerTypeEnum::Network, 1).await;
    let (_, remote) = crate::support::open_service("400000000037", region, false).await;
    let vpc = crate::support::sim_vpc(crate::support::DEFAULT_ACCOUNT, region, 1).await;
    let mut env = crate::support::TestEnv::new(region).await;
    env.start_endpoint_services();
    env.start_interface_endpoints();
    let ns = env.ns("team-a");
    let services: Api<EndpointService> = env.api("team-a");
    let endpoints: Api<InterfaceEndpoint> = env.api("team-a");
    let spec: EndpointServiceSpec = serde_json::from_value(json!({"networkLoadBalancerArns": [nlb]})).unwrap();
    let mut svc = EndpointService::new("api", spec);
    svc.metadata.namespace = Some(ns.clone());
    crate::support::create(&services, &svc).await;
    let spec: InterfaceEndpointSpec =
        serde_json::from_value(json!({"vpcId": vpc.id, "serviceName": remote, "subnetIds": vpc.subnets})).unwrap();
    let mut ep = InterfaceEndpoint::new("db", spec);
    ep.metadata.namespace = Some(ns.clone());
    crate::support::create(&endpoints, &ep).await;
    let timeout = std::time::Duration::from_secs(30);
    let service_id = crate::support::wait_for(&services, "api", timeout, "service id", |s| {
        s.status.as_ref().and_then(|s| s.service_id.clone())
    })
    .await;
    let endpoint_id = crate::support::wait_for(&endpoints, "db", timeout, "endpoint id", |e| {
        e.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone())
    })
    .await;
    let kubeconfig = crate::support::kube::kubeconfig_path();
    let run = |subject: &str| {
        let out = binary()
            .args(["doctor", subject, "-n", &ns, "--output", "json"])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("doctor runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for (subject, id, kind) in
        [("epsvc/api", &service_id, "endpoint service"), ("interfaceendpoint/db", &endpoint_id, "endpoint")]
    {
        let (code, stdout, stderr) = run(subject);
        assert!(code.is_some_and(|c| c < 2), "{subject}: {stdout}{stderr}");
        let report: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(report["id"], json!(id), "{subject}: {report:#}");
        assert_eq!(report["kind"], kind, "{subject}");
        // The region recorded in status, with no --region and no AWS_REGION.
        assert_eq!(report["region"], region, "{subject}");
    }
    let (code, _, stderr) = run("ifep/missing");
    assert_eq!(code, Some(2));
    assert!(stderr.contains(&format!("InterfaceEndpoint {ns}/missing does not exist")), "{stderr}");
    let (code, _, stderr) = run("deployment/x");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("epsvc"), "{stderr}");
    env.stop_controllers().await;
}
