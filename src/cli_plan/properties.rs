//! Property tests of the plan core and the manifest reader: whatever the
//! spec and whatever AWS holds, a plan carried out (as AWS would carry it
//! out) leaves nothing more to do; and no text, however hostile, makes the
//! manifest reader or `plan` panic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::api::{EndpointServiceSpec, InterfaceEndpointSpec};
use crate::plan::endpoint_service::{self, DesiredService, ServiceAction};
use crate::plan::facts::{LoadBalancerKind, ObservedEndpoint, ObservedService};
use crate::plan::interface_endpoint::{self, DesiredEndpoint, EndpointAction, ResolvedService};
use crate::plan::tags::Owner;

const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "us-west-2"];

fn owner() -> Owner {
    Owner {
        cluster: String::new(),
        namespace: "team-a".into(),
        name: "api".into(),
        uid: "0b5c1e4e-2a6f-4d8e-9f3c-7a1b2c3d4e5f".into(),
    }
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_string)
}

fn subset(items: &'static [&'static str]) -> impl Strategy<Value = BTreeSet<String>> {
    btree_set(pick(items), 0..=items.len())
}

fn tags() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(pick(&["team", "env", "cost-center", "aws:cloudformation:stack-name"]), pick(&["a", "b", ""]), 0..4)
}

const NLBS: &[&str] = &[
    "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/a/0123456789abcdef",
    "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/b/0123456789abcdef",
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/net/c/0123456789abcdef",
];
const PRINCIPALS: &[&str] = &["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root", "*"];
const DNS_NAMES: &[&str] = &["api.example.com", "svc.example.org"];

/// EndpointService specs, valid or not (from_spec refuses some).
fn service_spec() -> impl Strategy<Value = Value> {
    (
        option::of(pick(&["us-east-1", "eu-west-1"])),
        btree_set(pick(NLBS), 1..=2),
        option::of(any::<bool>()),
        option::of(subset(PRINCIPALS)),
        option::of(subset(REGIONS)),
        option::of(pick(DNS_NAMES)),
        subset(&["ipv4", "ipv6"]),
        tags(),
    )
        .prop_map(|(region, nlbs, acceptance, principals, regions, dns, ip, tags)| {
            let mut spec = json!({"networkLoadBalancerArns": nlbs, "tags": tags});
            let fields = [
                ("region", region.map(Value::from)),
                ("acceptanceRequired", acceptance.map(Value::from)),
                ("allowedPrincipals", principals.map(|p| json!(p))),
                ("supportedRegions", regions.map(|r| json!(r))),
                ("privateDnsName", dns.map(Value::from)),
                ("supportedIpAddressTypes", (!ip.is_empty()).then(|| json!(ip))),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    spec[k] = v;
                }
            }
            spec
        })
}

/// Service configurations AWS may hold, anywhere between nothing and the spec.
fn observed_service() -> impl Strategy<Value = ObservedService> {
    (
        any::<bool>(),
        subset(NLBS),
        option::of(pick(DNS_NAMES)),
        subset(&["ipv4", "ipv6"]),
        subset(REGIONS),
        tags(),
        pick(&["Available", "Pending", "Deleted", "Failed"]),
    )
        .prop_map(|(acceptance, nlbs, dns, ip, regions, tags, state)| ObservedService {
            id: "vpce-svc-0123456789abcdef0".into(),
            state: Some(state),
            acceptance_required: acceptance,
            network_load_balancer_arns: nlbs,
            private_dns_name: dns,
            supported_ip_address_types: ip,
            supported_regions: regions.into_iter().map(|r| (r, Some("Available".to_string()))).collect(),
            tags,
            ..Default::default()
        })
}

/// Carry out service actions as AWS does.
fn apply_service(
    desired: &DesiredService,
    observed: &mut Option<ObservedService>,
    principals: &mut BTreeSet<String>,
    actions: &[ServiceAction],
) {
    for action in actions {
        match action {
            ServiceAction::Create(c) => {
                let mut regions: BTreeMap<String, Option<String>> =
                    c.supported_regions.iter().map(|r| (r.clone(), Some("Available".into()))).collect();
                regions.insert(c.region.clone(), Some("Available".into()));
                let ip = if c.supported_ip_address_types.is_empty() {
                    BTreeSet::from(["ipv4".to_string()])
                } else {
                    c.supported_ip_address_types.iter().cloned().collect()
                };
                *observed = Some(ObservedService {
                    id: "vpce-svc-0fedcba9876543210".into(),
                    state: Some("Available".into()),
                    acceptance_required: c.acceptance_required,
                    network_load_balancer_arns: c.load_balancer_arns.iter().cloned().collect(),
                    private_dns_name: c.private_dns_name.clone(),
                    supported_ip_address_types: ip,
                    supported_regions: regions,
                    tags: c.tags.clone(),
                    ..Default::default()
                });
                principals.clear();
            }
            ServiceAction::Modify(m) => {
                let o = observed.as_mut().expect("modify needs a service");
                if let Some(a) = m.acceptance_required {
                    o.acceptance_required = a;
                }
                o.network_load_balancer_arns.extend(m.add_load_balancers.iter().cloned());
                if let Some(name) = &m.private_dns_name {
                    o.private_dns_name = Some(name.clone());
                }
                if m.remove_private_dns_name {
                    o.private_dns_name = None;
                }
                o.supported_ip_address_types.extend(m.add_ip_address_types.iter().cloned());
                for t in &m.remove_ip_address_types {
                    o.supported_ip_address_types.remove(t);
                }
                for r in &m.add_supported_regions {
                    o.supported_regions.insert(r.clone(), Some("Available".into()));
                }
                for r in &m.remove_supported_regions {
                    o.supported_regions.remove(r);
                }
            }
            ServiceAction::RemoveLoadBalancers(kind, arns) => {
                assert_eq!(*kind, LoadBalancerKind::Network);
                let o = observed.as_mut().expect("service");
                for a in arns {
                    assert!(o.network_load_balancer_arns.remove(a), "removes only what is there: {a}");
                }
            }
            ServiceAction::AddAllowedPrincipals(p) => principals.extend(p.iter().cloned()),
            ServiceAction::RemoveAllowedPrincipals(p) => {
                for x in p {
                    assert!(principals.remove(x), "removes only what is there: {x}");
                }
            }
            ServiceAction::SetTags(t) => observed.as_mut().expect("service").tags.extend(t.clone()),
            ServiceAction::DeleteTags(keys) => {
                let o = observed.as_mut().expect("service");
                for k in keys {
                    assert!(!k.starts_with("aws:"), "AWS's own tags are never deleted: {k}");
                    assert!(!desired.tags.contains_key(k), "a wanted tag is never deleted: {k}");
                    o.tags.remove(k);
                }
            }
            other => panic!("plan() made a follow-up action: {other}"),
        }
    }
}

const SUBNETS: &[&str] = &["subnet-0000000000000000a", "subnet-0000000000000000b", "subnet-0000000000000000c"];
const GROUPS: &[&str] = &["sg-0000000000000000a", "sg-0000000000000000b"];
const POLICIES: &[&str] = &[
    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
    r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
];

fn endpoint_spec() -> impl Strategy<Value = Value> {
    (
        btree_set(pick(SUBNETS), 1..=3),
        subset(GROUPS),
        option::of(any::<bool>()),
        option::of(pick(POLICIES)),
        option::of(pick(&["ipv4", "dualstack"])),
        tags(),
    )
        .prop_map(|(subnets, groups, dns, policy, ip, tags)| {
            let mut spec = json!({"vpcId": "vpc-0000000000000000a", "serviceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
                "subnetIds": subnets, "securityGroupIds": groups, "tags": tags});
            if let Some(d) = dns {
                spec["privateDnsEnabled"] = json!(d);
            }
            if let Some(p) = policy {
                spec["policy"] = json!(p);
            }
            if let Some(ip) = ip {
                spec["ipAddressType"] = json!(ip);
            }
            spec
        })
}

fn observed_endpoint() -> impl Strategy<Value = ObservedEndpoint> {
    (
        subset(SUBNETS),
        subset(GROUPS),
        any::<bool>(),
        option::of(pick(POLICIES)),
        option::of(pick(&["ipv4", "dualstack"])),
        tags(),
        pick(&["available", "pendingAcceptance", "deleted"]),
    )
        .prop_map(|(subnets, groups, dns, policy, ip, tags, state)| ObservedEndpoint {
            id: "vpce-0123456789abcdef0".into(),
            state,
            vpc_id: "vpc-0000000000000000a".into(),
            service_name: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into(),
            subnet_ids: subnets,
            security_group_ids: groups,
            private_dns_enabled: dns,
            policy,
            ip_address_type: ip,
            tags,
            ..Default::default()
        })
}

fn apply_endpoint(
    desired: &DesiredEndpoint,
    observed: &mut Option<ObservedEndpoint>,
    acceptance: bool,
    actions: &[EndpointAction],
) {
    for action in actions {
        match action {
            EndpointAction::Create(c) => {
                let e = &c.endpoint;
                let groups = if e.security_group_ids.is_empty() {
                    BTreeSet::from(["sg-0000000000000default".to_string()])
                } else {
                    e.security_group_ids.clone()
                };
                *observed = Some(ObservedEndpoint {
                    id: "vpce-0fedcba9876543210".into(),
                    state: if acceptance { "pendingAcceptance" } else { "available" }.into(),
                    vpc_id: e.vpc_id.clone(),
                    service_name: e.service_name.clone(),
                    subnet_ids: e.subnet_ids.clone().unwrap_or_default(),
                    security_group_ids: groups,
                    private_dns_enabled: c.private_dns_enabled.unwrap_or(false),
                    policy: e.policy.as_ref().map(Value::to_string),
                    ip_address_type: e.ip_address_type.clone().or(Some("ipv4".into())),
                    tags: e.tags.clone(),
                    ..Default::default()
                });
            }
            EndpointAction::Modify(m) => {
                let o = observed.as_mut().expect("endpoint");
                o.subnet_ids.extend(m.add_subnet_ids.iter().cloned());
                for s in &m.remove_subnet_ids {
                    assert!(o.subnet_ids.remove(s), "removes only what is there: {s}");
                }
                o.security_group_ids.extend(m.add_security_group_ids.iter().cloned());
                for g in &m.remove_security_group_ids {
                    assert!(o.security_group_ids.remove(g), "removes only what is there: {g}");
                }
                if let Some(d) = m.private_dns_enabled {
                    o.private_dns_enabled = d;
                }
                if let Some(p) = &m.policy {
                    o.policy = Some(p.to_string());
                }
                if let Some(t) = &m.ip_address_type {
                    o.ip_address_type = Some(t.clone());
                }
                if let Some(t) = &m.dns_record_ip_type {
                    o.dns_record_ip_type = Some(t.clone());
                }
                if let Some(b) = m.private_dns_only_for_inbound_resolver_endpoint {
                    o.private_dns_only_for_inbound_resolver_endpoint = Some(b);
                }
            }
            EndpointAction::SetTags(t) => observed.as_mut().expect("endpoint").tags.extend(t.clone()),
            EndpointAction::DeleteTags(keys) => {
                let o = observed.as_mut().expect("endpoint");
                for k in keys {
                    assert!(!desired.tags.contains_key(k) && !k.starts_with("aws:"), "deletes only unwanted tags: {k}");
                    o.tags.remove(k);
                }
            }
            EndpointAction::Delete => panic!("plan() never deletes"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// plan(observed after carrying out plan) is empty, for services the
    /// operator owns and adopted ones, from nothing or from any state.
    #[test]
    fn a_service_plan_carried_out_leaves_nothing_to_do(
        spec in service_spec(),
        observed in option::of(observed_service()),
        principals in subset(PRINCIPALS),
        owned in any::<bool>(),
    ) {
        let spec: EndpointServiceSpec = serde_json::from_value(spec).expect("spec");
        let Ok(desired) = DesiredService::from_spec(&spec, &owner(), 1, "us-east-1") else {
            return Ok(());
        };
        let (mut observed, mut principals) = (observed, principals);
        let actions = endpoint_service::plan(&desired, observed.as_ref(), &principals, owned);
        apply_service(&desired, &mut observed, &mut principals, &actions);
        let again = endpoint_service::plan(&desired, observed.as_ref(), &principals, owned);
        prop_assert!(again.is_empty(), "after {actions:?}\nstill {again:?}\nobserved {observed:?}");
    }

    /// The same for interface endpoints; private DNS waits for acceptance
    /// and is the one change left once the connection is accepted.
    #[test]
    fn an_endpoint_plan_carried_out_leaves_nothing_to_do(
        spec in endpoint_spec(),
        observed in option::of(observed_endpoint()),
        acceptance in any::<bool>(),
        owned in any::<bool>(),
    ) {
        let spec: InterfaceEndpointSpec = serde_json::from_value(spec).expect("spec");
        let service = ResolvedService { name: spec.service_name.clone().unwrap_or_default(), region: None, gateway: false };
        let Ok(desired) = DesiredEndpoint::from_spec(&spec, &service, &owner(), 1, "us-east-1") else {
            return Ok(());
        };
        let mut observed = observed;
        let actions = interface_endpoint::plan(&desired, observed.as_ref(), acceptance, owned);
        apply_endpoint(&desired, &mut observed, acceptance, &actions);
        let again = interface_endpoint::plan(&desired, observed.as_ref(), acceptance, owned);
        prop_assert!(again.is_empty(), "after {actions:?}\nstill {again:?}\nobserved {observed:?}");
        // The consumer's connection is accepted: what waited for it follows.
        if let Some(o) = observed.as_mut() {
            o.state = "available".into();
        }
        let follow = interface_endpoint::plan(&desired, observed.as_ref(), acceptance, owned);
        apply_endpoint(&desired, &mut observed, acceptance, &follow);
        let last = interface_endpoint::plan(&desired, observed.as_ref(), acceptance, owned);
        prop_assert!(last.is_empty(), "after acceptance and {follow:?}\nstill {last:?}");
    }

    /// Any text: the reader answers documents or an error naming the
    /// document, and `plan` answers a report, never a panic.
    #[test]
    fn no_text_makes_the_reader_or_plan_panic(text in any::<String>()) {
        if let Ok(manifests) = crate::manifests::parse(&text, Path::new("fuzz.yaml")) {
            let _ = crate::cli_plan::plan_offline(&manifests, "us-east-1", jiff::Timestamp::UNIX_EPOCH);
        }
    }

    /// YAML-shaped text built from the manifests' own vocabulary.
    #[test]
    fn no_yaml_shaped_text_makes_plan_panic(
        lines in vec((0usize..4, pick(YAML_KEYS), pick(YAML_VALUES)), 0..40),
    ) {
        let mut text = String::from("apiVersion: privatelink.dev/v1alpha1\n");
        for (indent, key, value) in lines {
            text.push_str(&format!("{}{key}: {value}\n", "  ".repeat(indent)));
        }
        if let Ok(manifests) = crate::manifests::parse(&text, Path::new("fuzz.yaml")) {
            let _ = crate::cli_plan::plan_offline(&manifests, "us-east-1", jiff::Timestamp::UNIX_EPOCH);
        }
    }

    /// Any JSON values in the spec's fields of each kind.
    #[test]
    fn no_spec_values_make_plan_panic(
        kind in pick(&["EndpointService", "InterfaceEndpoint", "EndpointConnection", "Other"]),
        fields in btree_map(pick(SPEC_FIELDS), json_value(), 0..8),
    ) {
        let doc = json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": kind,
            "metadata": {"name": "x", "namespace": "team-a"}, "spec": fields});
        let text = serde_yaml::to_string(&doc).expect("yaml");
        let manifests = crate::manifests::parse(&text, Path::new("fuzz.yaml")).expect("our own YAML reads back");
        let _ = crate::cli_plan::plan_offline(&manifests, "us-east-1", jiff::Timestamp::UNIX_EPOCH);
    }
}

const YAML_KEYS: &[&str] = &[
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "region",
    "networkLoadBalancerArns",
    "serviceRef",
    "serviceName",
    "vpcId",
    "subnetIds",
    "- ",
    "tags",
    "&a",
    "<<",
];
const YAML_VALUES: &[&str] = &[
    "EndpointService",
    "InterfaceEndpoint",
    "EndpointConnection",
    "",
    "[",
    "]",
    "{",
    "*a",
    "&a [1, 2]",
    "- x",
    "!!binary aGVsbG8=",
    "null",
    "~",
    "0x10",
    "1e999",
    "\"\\u0000\"",
    "'",
    "|",
    ">-",
    "---",
    "...",
    "true",
    "us-east-1",
    "vpc-0123456789abcdef0",
];
const SPEC_FIELDS: &[&str] = &[
    "region",
    "networkLoadBalancerArns",
    "gatewayLoadBalancerArns",
    "acceptanceRequired",
    "allowedPrincipals",
    "supportedRegions",
    "privateDnsName",
    "notifications",
    "autoAccept",
    "serviceId",
    "roleArn",
    "tags",
    "vpcId",
    "serviceName",
    "serviceRef",
    "serviceRegion",
    "subnetIds",
    "subnetConfigurations",
    "securityGroupIds",
    "privateDnsEnabled",
    "policy",
    "vpcEndpointId",
    "decision",
    "deletionPolicy",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        pick(&["us-east-1", "Accept", "Reject", "arn:aws:iam::111122223333:root", "*", "vpce-0123456789abcdef0"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            btree_map(pick(SPEC_FIELDS), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
