//! Faults: a fleet of all three kinds — EndpointServices that require
//! acceptance, InterfaceEndpoints to them, EndpointConnections that accept
//! each endpoint — in three accounts (one namespace each, through
//! `roleArn`) and two regions, against an AWS that fails 10 % of every
//! action (5xx and throttling) and answers slowly. The fleet is created,
//! accepted and deleted; AWS must end each phase with exactly what the
//! specs ask for: every object's resource once, nothing lost, nothing
//! duplicated, nothing left after deletion. The second run restarts the
//! Kubernetes API server midway (watches break and relist; writes race the
//! restart). `PLO_FAULT_OBJECTS` sets the size of each run (default 50;
//! `tests/reliability.sh` runs 200).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerTypeEnum};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams};
use privatelink_operator::api::{
    EndpointConnection, EndpointConnectionSpec, EndpointService, EndpointServiceSpec, InterfaceEndpoint,
    InterfaceEndpointSpec,
};
use privatelink_operator::config::RoleAllowList;
use privatelink_operator::controller::Context;
use privatelink_operator::plan::tags::OWNER_NAMESPACE;
use serde_json::{Value, json};

use crate::support::kube::{OwnServer, admin_client_of, ensure_namespace, operator_client_of};
use crate::support::{
    InSync, aws_clients, create, ec2_as, elbv2_as, settings, sim_control, sim_vpc, tagged_resources, uuid_like,
};

const REGIONS: [&str; 2] = ["ap-southeast-4", "ca-west-1"];
/// Per group: one service, two endpoints, two connections.
const PER_GROUP: usize = 5;

fn fleet_size() -> usize {
    std::env::var("PLO_FAULT_OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(50)
}

/// What a run found, printed as `fault-figures:`.
#[derive(Debug, Default)]
struct Figures {
    objects: usize,
    lost: usize,
    duplicates: usize,
    leaks: usize,
    injected: usize,
    calls: usize,
}

/// One account's corner: its namespace and role.
struct Tenant {
    account: String,
    ns: String,
}

impl Tenant {
    fn role(&self) -> String {
        format!("arn:aws:iam::{}:role/operator", self.account)
    }
}

/// A service with its endpoints, in one account and region.
struct Group {
    tenant: usize,
    region: &'static str,
    name: String,
}

fn faults(account: &str, rate: f64) -> Value {
    json!({"account": account, "rules": [{
        "action": "*", "errorRate": rate,
        "errorCode": ["InternalError", "ServiceUnavailable", "RequestLimitExceeded", "Throttling"],
        "latencyMs": [2, 30]
    }]})
}

/// Every object of the tenants' namespaces, by kind.
async fn listed(
    admin: &kube::Client,
    tenants: &[Tenant],
) -> (Vec<EndpointService>, Vec<InterfaceEndpoint>, Vec<EndpointConnection>) {
    let (mut s, mut e, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for t in tenants {
        let lp = ListParams::default();
        // A list during the API server's restart fails: the caller asks again.
        if let Ok(l) = Api::<EndpointService>::namespaced(admin.clone(), &t.ns).list(&lp).await {
            s.extend(l.items);
        }
        if let Ok(l) = Api::<InterfaceEndpoint>::namespaced(admin.clone(), &t.ns).list(&lp).await {
            e.extend(l.items);
        }
        if let Ok(l) = Api::<EndpointConnection>::namespaced(admin.clone(), &t.ns).list(&lp).await {
            c.extend(l.items);
        }
    }
    (s, e, c)
}

/// AWS resources of a namespace in an account and region, by owner uid.
async fn owned_in(account: &str, region: &str, ns: &str) -> BTreeMap<String, Vec<String>> {
    let (services, endpoints) = tagged_resources(account, region, OWNER_NAMESPACE, ns).await;
    let mut by_uid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (uid, id) in services.into_iter().chain(endpoints) {
        by_uid.entry(uid).or_default().push(id);
    }
    by_uid
}

/// Wait until `done` holds for what the API server lists, up to `limit`.
async fn until<F>(admin: &kube::Client, tenants: &[Tenant], limit: Duration, what: &str, done: F) -> bool
where
    F: Fn(&[EndpointService], &[InterfaceEndpoint], &[EndpointConnection]) -> bool,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let (s, e, c) = listed(admin, tenants).await;
        if done(&s, &e, &c) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("{what}: not reached within {limit:?}");
    false
}

async fn run(label: &str, first_account: u64, restart: bool) -> Figures {
    let objects = fleet_size().max(PER_GROUP);
    let groups_count = objects.div_ceil(PER_GROUP);
    let id = uuid_like()[..6].to_string();
    let mut server = OwnServer::start(&[]);
    let mut admin = admin_client_of(&server.kubeconfig).await;
    let tenants: Vec<Tenant> = (0..3)
        .map(|i| Tenant { account: format!("{}", first_account + i), ns: format!("faults-{label}-{i}-{id}") })
        .collect();
    for t in &tenants {
        ensure_namespace(&admin, &t.ns).await;
    }

    // AWS: per account and region one VPC; per group a load balancer.
    let mut vpcs = BTreeMap::new();
    for t in &tenants {
        for region in REGIONS {
            vpcs.insert((t.account.clone(), region), sim_vpc(&t.account, region, 2).await);
        }
    }
    let groups: Vec<Group> = (0..groups_count)
        .map(|g| Group { tenant: g % 3, region: REGIONS[(g / 3) % 2], name: format!("svc-{g}") })
        .collect();
    let mut nlbs = Vec::new();
    for g in &groups {
        let t = &tenants[g.tenant];
        let vpc = &vpcs[&(t.account.clone(), g.region)];
        let lb = elbv2_as(&t.account, g.region)
            .await
            .create_load_balancer()
            .name(format!("{label}-{}-{id}", g.name))
            .r#type(LoadBalancerTypeEnum::Network)
            .scheme(LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(vpc.subnets.clone()))
            .send()
            .await
            .expect("load balancer");
        nlbs.push(lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string());
    }

    // The operator, with each namespace allowed its account's role.
    let operator = operator_client_of(&admin, &server.kubeconfig).await;
    let mut s = settings(REGIONS[0]);
    s.namespaces = tenants.iter().map(|t| t.ns.clone()).collect();
    let roles: Vec<String> = tenants.iter().map(|t| format!("{}=arn:aws:iam::{}:role/*", t.ns, t.account)).collect();
    s.tenancy.allowed_roles = RoleAllowList::parse(&roles).expect("roles");
    let ctx = Arc::new(Context::new(operator, aws_clients().await, s));
    let controllers = [
        tokio::spawn(privatelink_operator::controller::endpoint_service::run(ctx.clone())),
        tokio::spawn(privatelink_operator::controller::interface_endpoint::run(ctx.clone())),
        tokio::spawn(privatelink_operator::controller::endpoint_connection::run(ctx.clone())),
    ];
    for t in &tenants {
        sim_control("DELETE", &format!("/_sim/calls?account={}", t.account), None).await;
        sim_control("PUT", "/_sim/faults", Some(faults(&t.account, 0.1))).await;
    }
    let started = Instant::now();

    // Create the services and their endpoints, all at once.
    let endpoint_names = |g: &Group| [format!("{}-a", g.name), format!("{}-b", g.name)];
    for (g, nlb) in groups.iter().zip(&nlbs) {
        let t = &tenants[g.tenant];
        let spec: EndpointServiceSpec = serde_json::from_value(json!({
            "region": g.region, "roleArn": t.role(), "networkLoadBalancerArns": [nlb],
            "acceptanceRequired": true, "allowedPrincipals": [format!("arn:aws:iam::{}:root", t.account)],
            "tags": {"run": label}
        }))
        .expect("service spec");
        create(&Api::namespaced(admin.clone(), &t.ns), &EndpointService::new(&g.name, spec)).await;
        let vpc = &vpcs[&(t.account.clone(), g.region)];
        for name in endpoint_names(g) {
            let spec: InterfaceEndpointSpec = serde_json::from_value(json!({
                "region": g.region, "roleArn": t.role(), "vpcId": vpc.id, "serviceRef": {"name": g.name},
                "subnetIds": vpc.subnets, "tags": {"run": label}
            }))
            .expect("endpoint spec");
            create(&Api::namespaced(admin.clone(), &t.ns), &InterfaceEndpoint::new(&name, spec)).await;
        }
    }
    let total = groups.len() * PER_GROUP;
    let services_total = groups.len();
    let endpoints_total = groups.len() * 2;

    // Midway: the control plane restarts while the endpoints are created.
    if restart {
        until(&admin, &tenants, Duration::from_secs(120), "a third of the endpoints created", |_, e, _| {
            e.iter().filter(|e| e.status.as_ref().is_some_and(|s| s.vpc_endpoint_id.is_some())).count()
                >= endpoints_total / 3
        })
        .await;
        println!("{label}: restarting the Kubernetes API server at {:?}", started.elapsed());
        server = tokio::task::spawn_blocking(move || {
            server.restart();
            server
        })
        .await
        .expect("restart");
        admin = admin_client_of(&server.kubeconfig).await;
    }

    // Every endpoint waits for acceptance: accept each.
    let created = until(&admin, &tenants, Duration::from_secs(300), "every endpoint created", |_, e, _| {
        e.len() == endpoints_total
            && e.iter().all(|e| e.status.as_ref().and_then(|s| s.vpc_endpoint_id.as_ref()).is_some())
    })
    .await;
    let mut lost = 0;
    if created {
        let (_, endpoints, _) = listed(&admin, &tenants).await;
        for e in &endpoints {
            let ns = e.namespace().expect("namespace");
            let service = e.spec.service_ref.as_ref().expect("serviceRef").name.clone();
            let vpce = e.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).expect("id");
            let spec: EndpointConnectionSpec = serde_json::from_value(
                json!({"serviceRef": {"name": service}, "vpcEndpointId": vpce, "decision": "Accept"}),
            )
            .expect("connection spec");
            create(
                &Api::namespaced(admin.clone(), &ns),
                &EndpointConnection::new(&format!("accept-{}", e.name_any()), spec),
            )
            .await;
        }
    }
    let converged = until(&admin, &tenants, Duration::from_secs(300), "every object in sync", |s, e, c| {
        s.len() == services_total
            && e.len() == endpoints_total
            && c.len() == endpoints_total
            && s.iter().all(InSync::in_sync)
            && e.iter().all(InSync::in_sync)
            && c.iter().all(InSync::in_sync)
    })
    .await;
    println!("{label}: {total} objects converged: {converged} after {:?}", started.elapsed());

    // AWS holds each object's resource exactly once.
    for t in &tenants {
        sim_control("DELETE", &format!("/_sim/faults?account={}", t.account), None).await;
    }
    let (services, endpoints, conns) = listed(&admin, &tenants).await;
    let mut duplicates = 0;
    let mut owned = BTreeMap::new();
    for t in &tenants {
        for region in REGIONS {
            owned.extend(owned_in(&t.account, region, &t.ns).await);
        }
    }
    for uid in services.iter().map(|o| o.uid()).chain(endpoints.iter().map(|o| o.uid())).flatten() {
        match owned.get(&uid).map(Vec::len).unwrap_or(0) {
            0 => lost += 1,
            1 => {}
            n => duplicates += n - 1,
        }
    }
    let expected_uids: BTreeSet<String> =
        services.iter().map(|o| o.uid()).chain(endpoints.iter().map(|o| o.uid())).flatten().collect();
    let strays: Vec<_> = owned.iter().filter(|(uid, _)| !expected_uids.contains(*uid)).collect();
    duplicates += strays.iter().map(|(_, ids)| ids.len()).sum::<usize>();
    lost += total.saturating_sub(services.len() + endpoints.len() + conns.len());
    if !converged {
        lost += services.iter().filter(|o| !o.in_sync()).count();
        lost += endpoints.iter().filter(|o| !o.in_sync()).count();
        lost += conns.iter().filter(|o| !o.in_sync()).count();
    }
    // Each endpoint is accepted: available in AWS.
    for e in &endpoints {
        let t = tenants.iter().find(|t| Some(&t.ns) == e.metadata.namespace.as_ref()).expect("tenant");
        let region = e.spec.region.clone().expect("region");
        let id = e.status.as_ref().and_then(|s| s.vpc_endpoint_id.clone()).unwrap_or_default();
        let seen = ec2_as(&t.account, &region).await.describe_vpc_endpoints().vpc_endpoint_ids(&id).send().await;
        let state =
            seen.ok().and_then(|o| o.vpc_endpoints().first().and_then(|e| e.state().map(|s| s.as_str().to_string())));
        if state.as_deref() != Some("available") {
            println!("{label}: endpoint {id} of {} is {state:?}", e.name_any());
            lost += 1;
        }
    }

    // Delete the fleet, still under faults; each finalizer waits for AWS.
    for t in &tenants {
        sim_control("PUT", "/_sim/faults", Some(faults(&t.account, 0.1))).await;
    }
    for t in &tenants {
        let dp = DeleteParams::default();
        let lp = ListParams::default();
        Api::<EndpointConnection>::namespaced(admin.clone(), &t.ns).delete_collection(&dp, &lp).await.expect("delete");
        Api::<InterfaceEndpoint>::namespaced(admin.clone(), &t.ns).delete_collection(&dp, &lp).await.expect("delete");
        Api::<EndpointService>::namespaced(admin.clone(), &t.ns).delete_collection(&dp, &lp).await.expect("delete");
    }
    let gone = until(&admin, &tenants, Duration::from_secs(300), "every object deleted", |s, e, c| {
        s.is_empty() && e.is_empty() && c.is_empty()
    })
    .await;
    println!("{label}: deleted: {gone} after {:?}", started.elapsed());
    let log = sim_control("GET", "/_sim/calls", None).await;
    let accounts: BTreeSet<&str> = tenants.iter().map(|t| t.account.as_str()).collect();
    let ours: Vec<&Value> = log["calls"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["account"].as_str().is_some_and(|a| accounts.contains(a))).collect())
        .unwrap_or_default();
    let injected = ours.iter().filter(|c| c["error"].as_str().is_some_and(|e| !e.is_empty())).count();
    for t in &tenants {
        sim_control("DELETE", &format!("/_sim/faults?account={}", t.account), None).await;
    }
    let mut leaks = 0;
    for t in &tenants {
        for region in REGIONS {
            let left = owned_in(&t.account, region, &t.ns).await;
            if !left.is_empty() {
                println!("{label}: left in {} {region}: {left:?}", t.account);
            }
            leaks += left.values().map(Vec::len).sum::<usize>();
        }
    }
    for c in controllers {
        c.abort();
    }
    let figures = Figures { objects: total, lost, duplicates, leaks, injected, calls: ours.len() };
    println!(
        "fault-figures: run={label} objects={} lost={} duplicates={} leaks={} injected_errors={} aws_calls={} restart={restart} seconds={:.0}",
        figures.objects,
        figures.lost,
        figures.duplicates,
        figures.leaks,
        figures.injected,
        figures.calls,
        started.elapsed().as_secs_f64()
    );
    assert!(converged && gone, "{label}: the fleet converged ({converged}) and was deleted ({gone}): {figures:?}");
    figures
}

fn check(f: &Figures) {
    assert_eq!((f.lost, f.duplicates, f.leaks), (0, 0, 0), "nothing lost, duplicated or leaked: {f:?}");
    assert!(f.injected > 0, "faults were injected: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_converges_through_injected_faults() {
    check(&run("plain", 710000000001, false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_converges_through_faults_and_an_api_server_restart() {
    check(&run("restart", 720000000001, true).await);
}
