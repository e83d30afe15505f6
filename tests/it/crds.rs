//! The CRD schemas are tests: the checked-in YAML equals the generated one,
//! and every OpenAPI constraint and CEL rule refuses bad input and accepts
//! good input, evaluated the way the API server evaluates them.

use privatelink_operator::api::{crds_yaml, schema::validate_object};
use serde_json::{Value, json};

const NLB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/api/0123456789abcdef";
const GWLB: &str = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/gwy/fw/0123456789abcdef";

#[test]
fn checked_in_crds_match_generated() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/privatelink.dev.yaml");
    let on_disk = std::fs::read_to_string(path).expect("crds/privatelink.dev.yaml exists");
    let generated = crds_yaml().expect("CRDs render");
    assert!(
        on_disk == generated,
        "crds/privatelink.dev.yaml is stale: run `cargo run -- crds > crds/privatelink.dev.yaml`"
    );
}

#[test]
fn every_field_has_a_description() {
    fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, child) in props {
                let p = format!("{path}.{name}");
                if child.get("description").is_none() && !["apiVersion", "kind", "metadata"].contains(&name.as_str()) {
                    missing.push(p.clone());
                }
                walk(child, &p, missing);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(items, &format!("{path}[]"), missing);
        }
    }
    let mut missing = Vec::new();
    for kind in ["EndpointService", "EndpointConnection", "InterfaceEndpoint"] {
        let schema = privatelink_operator::api::schema::schema_for_kind(kind).unwrap();
        walk(&schema, kind, &mut missing);
    }
    assert!(missing.is_empty(), "fields without a doc comment (kubectl explain text): {missing:?}");
}

fn object(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
}

/// One object the API server must accept or refuse, on creation (`old`
/// None) or as an update of `old`.
struct Case {
    kind: &'static str,
    old: Option<Value>,
    new: Value,
    /// None: accepted; else a text the refusal contains.
    refused_with: Option<&'static str>,
}

/// The cases, gathered by the tables below: each is checked offline (the
/// schema and `kube-cel`, what `plan` uses) and against the real API server.
#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn good(&mut self, kind: &'static str, spec: Value) {
        self.0.push(Case { kind, old: None, new: spec, refused_with: None });
    }

    fn bad(&mut self, kind: &'static str, spec: Value, expected: &'static str) {
        self.0.push(Case { kind, old: None, new: spec, refused_with: Some(expected) });
    }

    fn good_update(&mut self, kind: &'static str, old: Value, new: Value) {
        self.0.push(Case { kind, old: Some(old), new, refused_with: None });
    }

    fn bad_update(&mut self, kind: &'static str, old: Value, new: Value, expected: &'static str) {
        self.0.push(Case { kind, old: Some(old), new, refused_with: Some(expected) });
    }
}

fn all_cases() -> Vec<Case> {
    let mut c = Cases::default();
    endpoint_service_good_examples(&mut c);
    endpoint_service_schema_refusals(&mut c);
    endpoint_service_immutable_fields(&mut c);
    endpoint_connection_rules(&mut c);
    interface_endpoint_rules(&mut c);
    interface_endpoint_immutable_fields(&mut c);
    c.0
}

/// True when the server's refusal says what `expected` says. Server-side
/// apply words a few structural refusals its own way (kubectl create and
/// replace use the words `plan` uses); the field named is the same.
fn server_says(message: &str, expected: &str) -> bool {
    let apply_words = match expected {
        "Duplicate value" => "duplicate entries for key",
        "must be of type boolean" => "expected boolean",
        "unknown field" => "field not declared in schema",
        other => other,
    };
    message.contains(expected) || message.contains(apply_words)
}

fn describe(case: &Case) -> String {
    match &case.old {
        None => format!("{} {}", case.kind, case.new),
        Some(old) => format!("{} update {old} -> {}", case.kind, case.new),
    }
}

#[test]
fn offline_validation_answers_every_case() {
    for case in all_cases() {
        let old = case.old.as_ref().map(|o| object(case.kind, o.clone()));
        let violations = validate_object(case.kind, &object(case.kind, case.new.clone()), old.as_ref());
        match case.refused_with {
            None => assert!(violations.is_empty(), "{} should be valid, got {violations:?}", describe(&case)),
            Some(expected) => assert!(
                violations.iter().any(|v| v.to_string().contains(expected)),
                "{} should be refused with {expected:?}, got {violations:?}",
                describe(&case)
            ),
        }
    }
}

/// Every case against the real API server (server-side apply, dry run,
/// strict field validation): it accepts and refuses exactly what the
/// offline validation does, for the same reasons.
#[tokio::test]
async fn the_api_server_answers_every_case_as_plan_does() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let client = crate::support::kube::admin_client().await;
    let ns = format!("crd-cases-{}", &crate::support::uuid_like()[..8]);
    crate::support::kube::ensure_namespace(&client, &ns).await;
    let cases = all_cases();
    let mut disagreements = Vec::new();
    let mut refused = 0;
    for (i, case) in cases.iter().enumerate() {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("privatelink.dev", "v1alpha1", case.kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
        let name = format!("case-{i}");
        let body = |spec: &Value| json!({"apiVersion": "privatelink.dev/v1alpha1", "kind": case.kind, "metadata": {"name": name}, "spec": spec});
        let mut params = PatchParams::apply("crd-cases").validation_strict();
        if let Some(old) = &case.old {
            api.patch(&name, &params, &Patch::Apply(body(old)))
                .await
                .unwrap_or_else(|e| panic!("the old object of {} is refused: {e}", describe(case)));
        }
        params.dry_run = true;
        let answer = api.patch(&name, &params, &Patch::Apply(body(&case.new))).await;
        let old = case.old.as_ref().map(|o| object(case.kind, o.clone()));
        let offline_refuses =
            !validate_object(case.kind, &object(case.kind, case.new.clone()), old.as_ref()).is_empty();
        match (answer, case.refused_with) {
            (Ok(_), None) if !offline_refuses => {}
            (Err(kube::Error::Api(status)), Some(expected)) if offline_refuses => {
                if server_says(&status.message, expected) {
                    refused += 1;
                } else {
                    disagreements.push(format!(
                        "{}: the server refuses it, but not with {expected:?}: {}",
                        describe(case),
                        status.message
                    ));
                }
            }
            (answer, expected) => disagreements.push(format!(
                "{}: expected {}, offline {}, the server answered {:?}",
                describe(case),
                expected.map(|e| format!("refusal with {e:?}")).unwrap_or("acceptance".into()),
                if offline_refuses { "refuses" } else { "accepts" },
                answer.map(|_| "accepted").map_err(|e| e.to_string())
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    println!("{} cases: the API server and plan agree on each", cases.len());
    let bad = cases.iter().filter(|c| c.refused_with.is_some()).count();
    println!("hostile-figures: source=api-server bad_inputs={bad} refused={refused} panics=0");
}

const ES: &str = "EndpointService";
const EC: &str = "EndpointConnection";
const IE: &str = "InterfaceEndpoint";

fn endpoint_service_good_examples(c: &mut Cases) {
    c.good(ES, json!({"networkLoadBalancerArns": [NLB]}));
    c.good(ES, json!({"gatewayLoadBalancerArns": [GWLB], "acceptanceRequired": false}));
    c.good(
        ES,
        json!({
            "region": "us-east-1",
            "networkLoadBalancerArns": [NLB],
            "allowedPrincipals": ["*", "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/team/app", "arn:aws:iam::111122223333:user/alice"],
            "supportedRegions": ["us-west-2", "eu-central-1"],
            "privateDnsName": "api.example.com",
            "supportedIpAddressTypes": ["ipv4", "ipv6"],
            "notifications": [{"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:pl-events", "events": ["Connect", "Accept"]}],
            "autoAccept": {"accountIds": ["444455556666"]},
            "serviceId": "vpce-svc-0123456789abcdef0",
            "roleArn": "arn:aws:iam::111122223333:role/provider",
            "externalId": "ext-1",
            "tags": {"team": "payments"},
            "deletionPolicy": "Retain"
        }),
    );
    c.good(ES, json!({"networkLoadBalancerArns": [NLB], "privateDnsName": "*.example.com"}));
    // Adoption with a minimal spec: what it omits stays as AWS has it.
    c.good(ES, json!({"serviceId": "vpce-svc-0123456789abcdef0"}));
    c.good(
        ES,
        json!({"region": "us-gov-west-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-gov-east-1"]}),
    );
    let most: serde_json::Map<String, Value> = (0..45).map(|i| (format!("k{i}"), json!("v"))).collect();
    c.good(ES, json!({"networkLoadBalancerArns": [NLB], "tags": most}));
}

fn endpoint_service_schema_refusals(c: &mut Cases) {
    c.bad(ES, json!({}), "set networkLoadBalancerArns or gatewayLoadBalancerArns to create a service");
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "gatewayLoadBalancerArns": [GWLB]}),
        "set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns",
    );
    c.bad(
        ES,
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-west-2", "cn-north-1"]}),
        "supportedRegions must be in the service's partition",
    );
    c.bad(
        ES,
        json!({"region": "cn-north-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-gov-west-1"]}),
        "cross-region PrivateLink does not cross partitions",
    );
    c.bad(ES, json!({"networkLoadBalancerArns": []}), "at least 1 items");
    c.bad(ES, json!({"networkLoadBalancerArns": [GWLB]}), "should match");
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": ["arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef"]}),
        "should match",
    );
    c.bad(ES, json!({"gatewayLoadBalancerArns": [NLB]}), "should match");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB, NLB]}), "Duplicate value");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "region": "US-EAST-1"}), "spec.region");
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["111122223333"]}),
        "spec.allowedPrincipals[0]",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["arn:aws:iam::1111:root"]}),
        "should match",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["arn:aws:iam::111122223333:group/admins"]}),
        "should match",
    );
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "supportedRegions": ["mars-1"]}), "spec.supportedRegions[0]");
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "supportedRegions": ["us-west-2", "us-west-2"]}),
        "Duplicate value",
    );
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "supportedIpAddressTypes": ["dualstack"]}), "Unsupported value");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "privateDnsName": "Not A Name"}), "spec.privateDnsName");
    c.bad(
        ES,
        json!({"gatewayLoadBalancerArns": [GWLB], "privateDnsName": "api.example.com"}),
        "not supported for Gateway Load Balancer",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Explode"]}]}),
        "Unsupported value",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": []}]}),
        "at least 1 items",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "topic", "events": ["Connect"]}]}),
        "should match",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Connect"]},
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Accept"]}]}),
        "Duplicate value",
    );
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "autoAccept": {"accountIds": ["12"]}}), "should match");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "serviceId": "svc-123"}), "spec.serviceId");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:user/x"}), "spec.roleArn");
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "externalId": "abc"}),
        "externalId is only used together with roleArn",
    );
    c.bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "tags": {"aws:cloudformation:stack-name": "x"}}),
        "reserved by AWS",
    );
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": {"privatelink.dev/uid": "x"}}), "reserved");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": {"k": "v".repeat(257)}}), "Too long");
    // AWS allows 50 tags; the operator adds 5 ownership tags.
    let many: serde_json::Map<String, Value> = (0..46).map(|i| (format!("k{i}"), json!("v"))).collect();
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": many}), "at most 45");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "deletionPolicy": "Orphan"}), "Unsupported value");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "acceptanceRequired": "yes"}), "must be of type boolean");
    c.bad(ES, json!({"networkLoadBalancerArns": [NLB], "loadBalancers": []}), "unknown field");
}

fn endpoint_service_immutable_fields(c: &mut Cases) {
    let base =
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"});
    c.good_update(
        ES,
        base.clone(),
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0", "acceptanceRequired": false}),
    );
    c.bad_update(
        ES,
        base.clone(),
        json!({"region": "us-west-2", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"}),
        "region is immutable",
    );
    c.bad_update(
        ES,
        base.clone(),
        json!({"networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"}),
        "region is immutable",
    );
    c.bad_update(
        ES,
        base,
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef1"}),
        "serviceId is immutable",
    );
    let with_role =
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "one"});
    c.good_update(
        ES,
        with_role.clone(),
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "two"}),
    );
    c.bad_update(
        ES,
        with_role.clone(),
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::444455556666:role/a"}),
        "roleArn is immutable",
    );
    c.bad_update(ES, with_role, json!({"networkLoadBalancerArns": [NLB]}), "roleArn is immutable");
}

fn endpoint_connection_rules(c: &mut Cases) {
    c.good(EC, json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}));
    c.good(
        EC,
        json!({"serviceId": "vpce-svc-0123456789abcdef0", "region": "eu-west-1", "roleArn": "arn:aws:iam::111122223333:role/p", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Reject", "deletionPolicy": "Retain"}),
    );
    c.bad(
        EC,
        json!({"vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "set exactly one of serviceRef and serviceId",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "serviceId": "vpce-svc-0123456789abcdef0", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "exactly one",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-svc-0123456789abcdef0", "decision": "Accept"}),
        "spec.vpcEndpointId",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Maybe"}),
        "Unsupported value",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0"}),
        "spec.decision: Required value",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "region": "us-east-1", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "region is only used with serviceId",
    );
    c.bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "roleArn": "arn:aws:iam::111122223333:role/p", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "roleArn is only used with serviceId",
    );
    let old = json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"});
    c.good_update(
        EC,
        old.clone(),
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Reject"}),
    );
    c.bad_update(
        EC,
        old.clone(),
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef1", "decision": "Accept"}),
        "vpcEndpointId is immutable",
    );
    c.bad_update(
        EC,
        old,
        json!({"serviceRef": {"name": "other"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "service of an EndpointConnection is immutable",
    );
}

fn endpoint(extra: Value) -> Value {
    let mut spec = json!({"vpcId": "vpc-0123456789abcdef0", "serviceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(k);
        } else {
            spec[k] = v.clone();
        }
    }
    spec
}

fn interface_endpoint_rules(c: &mut Cases) {
    c.good(IE, endpoint(json!({})));
    c.good(
        IE,
        endpoint(
            json!({"serviceRegion": "us-east-1", "region": "us-west-2", "securityGroupIds": ["sg-0123456789abcdef0"], "privateDnsEnabled": true,
        "dnsOptions": {"dnsRecordIpType": "dualstack", "privateDnsOnlyForInboundResolverEndpoint": false}, "ipAddressType": "dualstack",
        "policy": "{\"Statement\":[]}", "vpcEndpointId": "vpce-0123456789abcdef0", "deletionPolicy": "Retain"}),
        ),
    );
    c.good(IE, endpoint(json!({"serviceName": null, "serviceRef": {"name": "api"}})));
    c.good(
        IE,
        endpoint(
            json!({"subnetIds": null, "subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0", "ipv4": "10.0.1.10"}]}),
        ),
    );
    c.good(IE, endpoint(json!({"serviceName": "com.amazonaws.us-east-1.sqs"})));
    c.bad(IE, endpoint(json!({"serviceName": null})), "set exactly one of serviceName and serviceRef");
    c.bad(IE, endpoint(json!({"serviceRef": {"name": "api"}})), "exactly one");
    // AWS services may be reached across regions (AWS keeps the list): not refused at apply time.
    c.good(
        IE,
        endpoint(
            json!({"serviceName": "com.amazonaws.us-west-2.s3", "serviceRegion": "us-west-2", "region": "us-east-1"}),
        ),
    );
    c.good(IE, endpoint(json!({"serviceName": "com.amazonaws.ap-northeast-1.ssm", "serviceRegion": "ap-northeast-1"})));
    c.bad(
        IE,
        endpoint(json!({"region": "us-east-1", "serviceRegion": "cn-northwest-1"})),
        "serviceRegion must be in the endpoint's partition",
    );
    c.bad(IE, endpoint(json!({"region": "us-gov-west-1", "serviceRegion": "us-east-1"})), "does not cross partitions");
    c.bad(
        IE,
        endpoint(json!({"subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0"}]})),
        "set at most one of subnetIds and subnetConfigurations",
    );
    c.bad(
        IE,
        endpoint(
            json!({"subnetIds": null, "subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0", "ipv4": "10.0.1.300"}]}),
        ),
        "ipv4",
    );
    c.bad(IE, endpoint(json!({"vpcId": "vpc-XYZ"})), "spec.vpcId");
    c.bad(IE, endpoint(json!({"vpcId": null})), "spec.vpcId: Required value");
    c.bad(IE, endpoint(json!({"subnetIds": ["subnet-1"]})), "spec.subnetIds[0]");
    c.bad(
        IE,
        endpoint(json!({"securityGroupIds": ["sg-0123456789abcdef0", "sg-0123456789abcdef0"]})),
        "Duplicate value",
    );
    c.bad(
        IE,
        endpoint(
            json!({"securityGroupIds": ["sg-01234567", "sg-01234568", "sg-01234569", "sg-0123456a", "sg-0123456b", "sg-0123456c"]}),
        ),
        "at most 5 items",
    );
    c.bad(IE, endpoint(json!({"ipAddressType": "ipv5"})), "Unsupported value");
    c.bad(IE, endpoint(json!({"dnsOptions": {"dnsRecordIpType": "both"}})), "Unsupported value");
    c.bad(IE, endpoint(json!({"policy": "x".repeat(20481)})), "Too long");
    c.bad(IE, endpoint(json!({"externalId": "abc"})), "externalId is only used together with roleArn");
}

fn interface_endpoint_immutable_fields(c: &mut Cases) {
    let old = endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-2"}));
    c.good_update(
        IE,
        old.clone(),
        endpoint(
            json!({"serviceRegion": "us-east-1", "region": "us-west-2", "securityGroupIds": ["sg-0123456789abcdef0"]}),
        ),
    );
    c.bad_update(
        IE,
        old.clone(),
        endpoint(json!({"serviceRegion": "eu-west-1", "region": "us-west-2"})),
        "serviceRegion is immutable",
    );
    c.bad_update(IE, old.clone(), endpoint(json!({"region": "us-west-2"})), "serviceRegion is immutable");
    c.bad_update(
        IE,
        old.clone(),
        endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-1"})),
        "region is immutable",
    );
    c.bad_update(
        IE,
        old,
        endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-2", "vpcId": "vpc-0123456789abcdef1"})),
        "vpcId is immutable",
    );
    let adopted = endpoint(json!({"vpcEndpointId": "vpce-0123456789abcdef0"}));
    c.bad_update(
        IE,
        adopted,
        endpoint(json!({"vpcEndpointId": "vpce-0123456789abcdef1"})),
        "vpcEndpointId is immutable",
    );
    let with_role = endpoint(json!({"roleArn": "arn:aws:iam::111122223333:role/a"}));
    c.bad_update(IE, with_role.clone(), endpoint(json!({})), "roleArn is immutable");
    c.good_update(
        IE,
        with_role,
        endpoint(json!({"roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "rotated"})),
    );
}
