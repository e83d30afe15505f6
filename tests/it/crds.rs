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

/// Assert that `spec` is accepted.
fn good(kind: &str, spec: Value) {
    let v = validate_object(kind, &object(kind, spec.clone()), None);
    assert!(v.is_empty(), "{kind} {spec} should be valid, got {v:?}");
}

/// Assert that `spec` is refused with a message containing `expected`.
fn bad(kind: &str, spec: Value, expected: &str) {
    let v = validate_object(kind, &object(kind, spec.clone()), None);
    assert!(
        v.iter().any(|e| e.to_string().contains(expected)),
        "{kind} {spec} should be refused with {expected:?}, got {v:?}"
    );
}

/// Assert that changing `old` into `new` is refused with `expected`.
fn bad_update(kind: &str, old: Value, new: Value, expected: &str) {
    let v = validate_object(kind, &object(kind, new.clone()), Some(&object(kind, old)));
    assert!(
        v.iter().any(|e| e.to_string().contains(expected)),
        "update to {new} should be refused with {expected:?}, got {v:?}"
    );
}

fn good_update(kind: &str, old: Value, new: Value) {
    let v = validate_object(kind, &object(kind, new.clone()), Some(&object(kind, old)));
    assert!(v.is_empty(), "update to {new} should be allowed, got {v:?}");
}

const ES: &str = "EndpointService";
const EC: &str = "EndpointConnection";
const IE: &str = "InterfaceEndpoint";

#[test]
fn endpoint_service_good_examples() {
    good(ES, json!({"networkLoadBalancerArns": [NLB]}));
    good(ES, json!({"gatewayLoadBalancerArns": [GWLB], "acceptanceRequired": false}));
    good(
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
    good(ES, json!({"networkLoadBalancerArns": [NLB], "privateDnsName": "*.example.com"}));
    // Adoption with a minimal spec: what it omits stays as AWS has it.
    good(ES, json!({"serviceId": "vpce-svc-0123456789abcdef0"}));
    good(
        ES,
        json!({"region": "us-gov-west-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-gov-east-1"]}),
    );
    let most: serde_json::Map<String, Value> = (0..46).map(|i| (format!("k{i}"), json!("v"))).collect();
    good(ES, json!({"networkLoadBalancerArns": [NLB], "tags": most}));
}

#[test]
fn endpoint_service_schema_refusals() {
    bad(ES, json!({}), "set networkLoadBalancerArns or gatewayLoadBalancerArns to create a service");
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "gatewayLoadBalancerArns": [GWLB]}),
        "set at most one of networkLoadBalancerArns and gatewayLoadBalancerArns",
    );
    bad(
        ES,
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-west-2", "cn-north-1"]}),
        "supportedRegions must be in the service's partition",
    );
    bad(
        ES,
        json!({"region": "cn-north-1", "networkLoadBalancerArns": [NLB], "supportedRegions": ["us-gov-west-1"]}),
        "cross-region PrivateLink does not cross partitions",
    );
    bad(ES, json!({"networkLoadBalancerArns": []}), "at least 1 items");
    bad(ES, json!({"networkLoadBalancerArns": [GWLB]}), "should match");
    bad(
        ES,
        json!({"networkLoadBalancerArns": ["arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/0123456789abcdef"]}),
        "should match",
    );
    bad(ES, json!({"gatewayLoadBalancerArns": [NLB]}), "should match");
    bad(ES, json!({"networkLoadBalancerArns": [NLB, NLB]}), "Duplicate value");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "region": "US-EAST-1"}), "spec.region");
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["111122223333"]}),
        "spec.allowedPrincipals[0]",
    );
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["arn:aws:iam::1111:root"]}), "should match");
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "allowedPrincipals": ["arn:aws:iam::111122223333:group/admins"]}),
        "should match",
    );
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "supportedRegions": ["mars-1"]}), "spec.supportedRegions[0]");
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "supportedRegions": ["us-west-2", "us-west-2"]}),
        "Duplicate value",
    );
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "supportedIpAddressTypes": ["dualstack"]}), "Unsupported value");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "privateDnsName": "Not A Name"}), "spec.privateDnsName");
    bad(
        ES,
        json!({"gatewayLoadBalancerArns": [GWLB], "privateDnsName": "api.example.com"}),
        "not supported for Gateway Load Balancer",
    );
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Explode"]}]}),
        "Unsupported value",
    );
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": []}]}),
        "at least 1 items",
    );
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [{"snsTopicArn": "topic", "events": ["Connect"]}]}),
        "should match",
    );
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "notifications": [
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Connect"]},
            {"snsTopicArn": "arn:aws:sns:us-east-1:111122223333:t", "events": ["Accept"]}]}),
        "Duplicate value",
    );
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "autoAccept": {"accountIds": ["12"]}}), "should match");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "serviceId": "svc-123"}), "spec.serviceId");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:user/x"}), "spec.roleArn");
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "externalId": "abc"}),
        "externalId is only used together with roleArn",
    );
    bad(
        ES,
        json!({"networkLoadBalancerArns": [NLB], "tags": {"aws:cloudformation:stack-name": "x"}}),
        "reserved by AWS",
    );
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": {"privatelink.dev/uid": "x"}}), "reserved");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": {"k": "v".repeat(257)}}), "Too long");
    // AWS allows 50 tags; the operator adds 4 ownership tags.
    let many: serde_json::Map<String, Value> = (0..47).map(|i| (format!("k{i}"), json!("v"))).collect();
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "tags": many}), "at most 46");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "deletionPolicy": "Orphan"}), "Unsupported value");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "acceptanceRequired": "yes"}), "must be of type boolean");
    bad(ES, json!({"networkLoadBalancerArns": [NLB], "loadBalancers": []}), "unknown field");
}

#[test]
fn endpoint_service_immutable_fields() {
    let base =
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"});
    good_update(
        ES,
        base.clone(),
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0", "acceptanceRequired": false}),
    );
    bad_update(
        ES,
        base.clone(),
        json!({"region": "us-west-2", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"}),
        "region is immutable",
    );
    bad_update(
        ES,
        base.clone(),
        json!({"networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef0"}),
        "region is immutable",
    );
    bad_update(
        ES,
        base,
        json!({"region": "us-east-1", "networkLoadBalancerArns": [NLB], "serviceId": "vpce-svc-0123456789abcdef1"}),
        "serviceId is immutable",
    );
    let with_role =
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "one"});
    good_update(
        ES,
        with_role.clone(),
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "two"}),
    );
    bad_update(
        ES,
        with_role.clone(),
        json!({"networkLoadBalancerArns": [NLB], "roleArn": "arn:aws:iam::444455556666:role/a"}),
        "roleArn is immutable",
    );
    bad_update(ES, with_role, json!({"networkLoadBalancerArns": [NLB]}), "roleArn is immutable");
}

#[test]
fn endpoint_connection_rules() {
    good(EC, json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}));
    good(
        EC,
        json!({"serviceId": "vpce-svc-0123456789abcdef0", "region": "eu-west-1", "roleArn": "arn:aws:iam::111122223333:role/p", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Reject", "deletionPolicy": "Retain"}),
    );
    bad(
        EC,
        json!({"vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "set exactly one of serviceRef and serviceId",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "serviceId": "vpce-svc-0123456789abcdef0", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "exactly one",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-svc-0123456789abcdef0", "decision": "Accept"}),
        "spec.vpcEndpointId",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Maybe"}),
        "Unsupported value",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0"}),
        "spec.decision: Required value",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "region": "us-east-1", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "region is only used with serviceId",
    );
    bad(
        EC,
        json!({"serviceRef": {"name": "api"}, "roleArn": "arn:aws:iam::111122223333:role/p", "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"}),
        "roleArn is only used with serviceId",
    );
    let old = json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Accept"});
    good_update(
        EC,
        old.clone(),
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef0", "decision": "Reject"}),
    );
    bad_update(
        EC,
        old.clone(),
        json!({"serviceRef": {"name": "api"}, "vpcEndpointId": "vpce-0123456789abcdef1", "decision": "Accept"}),
        "vpcEndpointId is immutable",
    );
    bad_update(
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

#[test]
fn interface_endpoint_rules() {
    good(IE, endpoint(json!({})));
    good(
        IE,
        endpoint(
            json!({"serviceRegion": "us-east-1", "region": "us-west-2", "securityGroupIds": ["sg-0123456789abcdef0"], "privateDnsEnabled": true,
        "dnsOptions": {"dnsRecordIpType": "dualstack", "privateDnsOnlyForInboundResolverEndpoint": false}, "ipAddressType": "dualstack",
        "policy": "{\"Statement\":[]}", "vpcEndpointId": "vpce-0123456789abcdef0", "deletionPolicy": "Retain"}),
        ),
    );
    good(IE, endpoint(json!({"serviceName": null, "serviceRef": {"name": "api"}})));
    good(
        IE,
        endpoint(
            json!({"subnetIds": null, "subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0", "ipv4": "10.0.1.10"}]}),
        ),
    );
    good(IE, endpoint(json!({"serviceName": "com.amazonaws.us-east-1.sqs"})));
    bad(IE, endpoint(json!({"serviceName": null})), "set exactly one of serviceName and serviceRef");
    bad(IE, endpoint(json!({"serviceRef": {"name": "api"}})), "exactly one");
    // AWS services may be reached across regions (AWS keeps the list): not refused at apply time.
    good(
        IE,
        endpoint(
            json!({"serviceName": "com.amazonaws.us-west-2.s3", "serviceRegion": "us-west-2", "region": "us-east-1"}),
        ),
    );
    good(IE, endpoint(json!({"serviceName": "com.amazonaws.ap-northeast-1.ssm", "serviceRegion": "ap-northeast-1"})));
    bad(
        IE,
        endpoint(json!({"region": "us-east-1", "serviceRegion": "cn-northwest-1"})),
        "serviceRegion must be in the endpoint's partition",
    );
    bad(IE, endpoint(json!({"region": "us-gov-west-1", "serviceRegion": "us-east-1"})), "does not cross partitions");
    bad(
        IE,
        endpoint(json!({"subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0"}]})),
        "set at most one of subnetIds and subnetConfigurations",
    );
    bad(
        IE,
        endpoint(
            json!({"subnetIds": null, "subnetConfigurations": [{"subnetId": "subnet-0123456789abcdef0", "ipv4": "10.0.1.300"}]}),
        ),
        "ipv4",
    );
    bad(IE, endpoint(json!({"vpcId": "vpc-XYZ"})), "spec.vpcId");
    bad(IE, endpoint(json!({"vpcId": null})), "spec.vpcId: Required value");
    bad(IE, endpoint(json!({"subnetIds": ["subnet-1"]})), "spec.subnetIds[0]");
    bad(IE, endpoint(json!({"securityGroupIds": ["sg-0123456789abcdef0", "sg-0123456789abcdef0"]})), "Duplicate value");
    bad(
        IE,
        endpoint(
            json!({"securityGroupIds": ["sg-01234567", "sg-01234568", "sg-01234569", "sg-0123456a", "sg-0123456b", "sg-0123456c"]}),
        ),
        "at most 5 items",
    );
    bad(IE, endpoint(json!({"ipAddressType": "ipv5"})), "Unsupported value");
    bad(IE, endpoint(json!({"dnsOptions": {"dnsRecordIpType": "both"}})), "Unsupported value");
    bad(IE, endpoint(json!({"policy": "x".repeat(20481)})), "Too long");
    bad(IE, endpoint(json!({"externalId": "abc"})), "externalId is only used together with roleArn");
}

#[test]
fn interface_endpoint_immutable_fields() {
    let old = endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-2"}));
    good_update(
        IE,
        old.clone(),
        endpoint(
            json!({"serviceRegion": "us-east-1", "region": "us-west-2", "securityGroupIds": ["sg-0123456789abcdef0"]}),
        ),
    );
    bad_update(
        IE,
        old.clone(),
        endpoint(json!({"serviceRegion": "eu-west-1", "region": "us-west-2"})),
        "serviceRegion is immutable",
    );
    bad_update(IE, old.clone(), endpoint(json!({"region": "us-west-2"})), "serviceRegion is immutable");
    bad_update(
        IE,
        old.clone(),
        endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-1"})),
        "region is immutable",
    );
    bad_update(
        IE,
        old,
        endpoint(json!({"serviceRegion": "us-east-1", "region": "us-west-2", "vpcId": "vpc-0123456789abcdef1"})),
        "vpcId is immutable",
    );
    let adopted = endpoint(json!({"vpcEndpointId": "vpce-0123456789abcdef0"}));
    bad_update(IE, adopted, endpoint(json!({"vpcEndpointId": "vpce-0123456789abcdef1"})), "vpcEndpointId is immutable");
    let with_role = endpoint(json!({"roleArn": "arn:aws:iam::111122223333:role/a"}));
    bad_update(IE, with_role.clone(), endpoint(json!({})), "roleArn is immutable");
    good_update(
        IE,
        with_role,
        endpoint(json!({"roleArn": "arn:aws:iam::111122223333:role/a", "externalId": "rotated"})),
    );
}
