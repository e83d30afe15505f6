//! Foreign resources: AWS resources the operator did not create, in the
//! accounts and regions the tests use, which it must never change.
//! `tests/run.sh` runs `seed FILE` before the test suite and `verify FILE`
//! after it: seed creates endpoint services (with allowed principals),
//! interface endpoints and tags — some carrying the operator's own tag keys
//! with values no object of the tests has (look-alikes) — and records each
//! as AWS describes it; verify describes each again and compares them byte
//! for byte. It prints `foreign-figures: foreign=N foreign_touched=M` and
//! fails when anything changed or went.

#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VpcEndpointType};
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerTypeEnum};
use privatelink_operator::plan::tags::{MANAGED_BY, MANAGED_BY_VALUE, OWNER_NAME, OWNER_NAMESPACE, OWNER_UID};

use support::{DEFAULT_ACCOUNT, ec2_as, elbv2_as, sim_vpc, uuid_like};

/// Where the tests act: the default account in its busiest regions, and
/// the accounts of the fault runs.
const PLACES: &[(&str, &str)] = &[
    (DEFAULT_ACCOUNT, "us-east-1"),
    (DEFAULT_ACCOUNT, "us-west-2"),
    (DEFAULT_ACCOUNT, "eu-west-1"),
    (DEFAULT_ACCOUNT, "eu-central-1"),
    (DEFAULT_ACCOUNT, "sa-east-1"),
    ("710000000001", "ap-southeast-4"),
    ("710000000002", "ca-west-1"),
    ("720000000001", "ap-southeast-4"),
    ("720000000003", "ca-west-1"),
    ("500000000001", "eu-central-2"),
];

/// A foreign resource: where it is and what it is.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    account: String,
    region: String,
    kind: String,
    id: String,
    /// AWS's description of it (every field the SDK reads), as recorded.
    described: String,
}

fn tags(pairs: &[(&str, String)]) -> Vec<Tag> {
    pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(v).build()).collect()
}

/// Tags that look like the operator's: its keys, values of no test object.
fn look_alike(kind: &str) -> Vec<(&'static str, String)> {
    vec![
        (MANAGED_BY, MANAGED_BY_VALUE.to_string()),
        (OWNER_NAMESPACE, "team-a".to_string()),
        (OWNER_NAME, kind.to_string()),
        (OWNER_UID, format!("00000000-0000-4000-8000-{}", &uuid_like()[..12])),
        ("team", "foreign".to_string()),
    ]
}

async fn describe(account: &str, region: &str, kind: &str, id: &str) -> Option<String> {
    let ec2 = ec2_as(account, region).await;
    match kind {
        "endpoint" => {
            let out = ec2.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await.ok()?;
            out.vpc_endpoints().first().map(|e| format!("{e:?}"))
        }
        "service" => {
            let out = ec2.describe_vpc_endpoint_service_configurations().service_ids(id).send().await.ok()?;
            out.service_configurations().first().map(|s| format!("{s:?}"))
        }
        "permissions" => {
            let out = ec2.describe_vpc_endpoint_service_permissions().service_id(id).send().await.ok()?;
            Some(format!("{:?}", out.allowed_principals()))
        }
        "connections" => {
            let filter = Filter::builder().name("service-id").values(id).build();
            let out = ec2.describe_vpc_endpoint_connections().filters(filter).send().await.ok()?;
            Some(format!("{:?}", out.vpc_endpoint_connections()))
        }
        other => panic!("unknown kind {other}"),
    }
}

async fn seed_place(account: &str, region: &str, out: &mut Vec<(String, String, String, String)>) {
    let ec2 = ec2_as(account, region).await;
    let vpc = sim_vpc(account, region, 2).await;
    let lb = |name: String| {
        let subnets = vpc.subnets.clone();
        async move {
            let lb = elbv2_as(account, region)
                .await
                .create_load_balancer()
                .name(name)
                .r#type(LoadBalancerTypeEnum::Network)
                .scheme(LoadBalancerSchemeEnum::Internal)
                .set_subnets(Some(subnets))
                .send()
                .await
                .expect("load balancer");
            lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string()
        }
    };
    let mut service_names = Vec::new();
    // A service that looks like the operator's, and a plain one with
    // principals of the account and another.
    for (i, look) in [true, false].into_iter().enumerate() {
        let arn = lb(format!("foreign-{i}-{}", &uuid_like()[..8])).await;
        let kind = if look { "look-alike" } else { "plain" };
        let pairs = if look { look_alike("api") } else { vec![("team", "foreign".to_string())] };
        let svc = ec2
            .create_vpc_endpoint_service_configuration()
            .network_load_balancer_arns(arn)
            .acceptance_required(i == 0)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::VpcEndpointService)
                    .set_tags(Some(tags(&pairs)))
                    .build(),
            )
            .send()
            .await
            .expect("service");
        let config = svc.service_configuration().expect("config");
        let id = config.service_id().expect("id").to_string();
        service_names.push(config.service_name().expect("name").to_string());
        ec2.modify_vpc_endpoint_service_permissions()
            .service_id(&id)
            .add_allowed_principals(format!("arn:aws:iam::{account}:root"))
            .add_allowed_principals("arn:aws:iam::999999999999:root")
            .send()
            .await
            .expect("principals");
        println!("seeded {kind} service {id} in {account} {region}");
        out.push((account.into(), region.into(), "service".into(), id.clone()));
        out.push((account.into(), region.into(), "permissions".into(), id.clone()));
        out.push((account.into(), region.into(), "connections".into(), id));
    }
    // Endpoints to each: one with look-alike tags (waiting for acceptance),
    // one plain.
    for (i, name) in service_names.iter().enumerate() {
        let pairs = if i == 0 { look_alike("client") } else { vec![("team", "foreign".to_string())] };
        let ep = ec2
            .create_vpc_endpoint()
            .vpc_id(&vpc.id)
            .service_name(name)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .set_subnet_ids(Some(vpc.subnets.clone()))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::VpcEndpoint)
                    .set_tags(Some(tags(&pairs)))
                    .build(),
            )
            .send()
            .await
            .expect("endpoint");
        let id = ep.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).expect("id").to_string();
        println!("seeded endpoint {id} in {account} {region}");
        out.push((account.into(), region.into(), "endpoint".into(), id));
    }
}

async fn seed(file: &str) {
    let mut places = Vec::new();
    for (account, region) in PLACES {
        seed_place(account, region, &mut places).await;
    }
    let mut records = Vec::new();
    for (account, region, kind, id) in places {
        let described = describe(&account, &region, &kind, &id).await.expect("just seeded");
        records.push(Record { account, region, kind, id, described });
    }
    std::fs::write(file, serde_json::to_vec_pretty(&records).expect("json")).expect("write the record");
    println!("foreign-seeded: {} records", records.len());
}

async fn verify(file: &str) -> bool {
    let text = std::fs::read_to_string(file).expect("the record of `seed`");
    let records: Vec<Record> = serde_json::from_str(&text).expect("record");
    let mut touched = BTreeMap::new();
    for r in &records {
        let now = describe(&r.account, &r.region, &r.kind, &r.id).await;
        if now.as_deref() != Some(r.described.as_str()) {
            touched.insert(format!("{} {} {} {}", r.account, r.region, r.kind, r.id), (r.described.clone(), now));
        }
    }
    for (what, (before, now)) in &touched {
        println!("foreign resource changed: {what}\n  before: {before}\n  now:    {now:?}");
    }
    println!("foreign-figures: foreign={} foreign_touched={}", records.len(), touched.len());
    touched.is_empty()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["seed", file] => {
            support::require_simulator();
            seed(file).await;
            std::process::ExitCode::SUCCESS
        }
        ["verify", file] => {
            support::require_simulator();
            if verify(file).await { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
        }
        _ => {
            eprintln!("usage: foreign seed FILE | foreign verify FILE (tests/run.sh runs both)");
            std::process::ExitCode::from(2)
        }
    }
}
