//! Hostile input to `plan`, as a user or a pull request feeds it: wrong
//! kinds and versions, unknown fields, documents that are not objects,
//! text that is not YAML, bytes that are not text, alias bombs, nesting
//! deeper than any parser should follow. Each is refused with its file,
//! document and field and a reason, with exit code 1 (invalid manifest) or
//! 2 (unreadable), never a panic (101). The schema's refusals (types,
//! patterns, cross-field rules, immutability, limits) are the cases of
//! `crds.rs`, checked against the real API server.

use std::process::Command;

/// (what, file content, expected exit code, texts the answer contains)
type HostileCase = (&'static str, Vec<u8>, i32, Vec<&'static str>);

const OK_SERVICE: &str = "apiVersion: privatelink.dev/v1alpha1\nkind: EndpointService\nmetadata:\n  name: api\n  namespace: team-a\nspec:\n  networkLoadBalancerArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/api/0123456789abcdef]\n";

fn with(replace: &str, by: &str) -> Vec<u8> {
    assert!(OK_SERVICE.contains(replace), "{replace}");
    OK_SERVICE.replacen(replace, by, 1).into_bytes()
}

fn cases() -> Vec<HostileCase> {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    vec![
        (
            "a misspelt kind",
            with("kind: EndpointService", "kind: EndpointServce"),
            1,
            vec!["kind", "unknown kind \"EndpointServce\""],
        ),
        ("a core kind", with("kind: EndpointService", "kind: Deployment"), 1, vec!["kind", "unknown kind"]),
        ("no kind", with("kind: EndpointService\n", ""), 1, vec!["kind"]),
        ("an older version", with("v1alpha1", "v1"), 1, vec!["apiVersion", "expected \"privatelink.dev/v1alpha1\""]),
        ("another group", with("privatelink.dev/v1alpha1", "networking.k8s.io/v1"), 1, vec!["apiVersion"]),
        ("no apiVersion", with("apiVersion: privatelink.dev/v1alpha1\n", ""), 1, vec!["apiVersion"]),
        ("an unknown top-level field", with("spec:", "specs:\n  x: 1\nspec:"), 1, vec!["specs", "unknown field"]),
        (
            "an unknown metadata field",
            with("  name: api", "  name: api\n  lables: {a: b}"),
            1,
            vec!["metadata.lables", "unknown field"],
        ),
        ("an unknown spec field", with("spec:\n", "spec:\n  vpcID: vpc-1\n"), 1, vec!["spec.vpcID", "unknown field"]),
        (
            "a misspelt spec field",
            with("spec:\n", "spec:\n  allowedPrincipal: ['*']\n"),
            1,
            vec!["spec.allowedPrincipal", "unknown field"],
        ),
        ("no name", with("  name: api\n", ""), 1, vec!["metadata.name", "Required value"]),
        ("a name in capitals", with("name: api", "name: Api"), 1, vec!["metadata.name", "RFC 1123"]),
        ("a name too long", with("name: api", &format!("name: {}", "a".repeat(254))), 1, vec!["metadata.name"]),
        (
            "a namespace with an underscore",
            with("namespace: team-a", "namespace: team_a"),
            1,
            vec!["metadata.namespace", "RFC 1123 label"],
        ),
        ("a numeric namespace", with("namespace: team-a", "namespace: 42"), 1, vec!["metadata.namespace"]),
        (
            "metadata as a list",
            with("metadata:\n  name: api\n  namespace: team-a\n", "metadata: [api]\n"),
            1,
            vec!["metadata"],
        ),
        (
            "spec as a list",
            with("spec:\n  networkLoadBalancerArns:", "spec:\n- networkLoadBalancerArns:"),
            1,
            vec!["spec", "must be of type object"],
        ),
        (
            "spec as a string",
            format!("{}spec: hello\n", &OK_SERVICE[..OK_SERVICE.find("spec:").unwrap()]).into_bytes(),
            1,
            vec!["spec", "must be of type object"],
        ),
        ("no spec", OK_SERVICE.as_bytes()[..OK_SERVICE.find("spec:").unwrap()].to_vec(), 1, vec!["spec"]),
        (
            "a list for a boolean",
            with("spec:\n", "spec:\n  acceptanceRequired: [true]\n"),
            1,
            vec!["spec.acceptanceRequired", "must be of type boolean"],
        ),
        (
            "a string for a list",
            with("spec:\n", "spec:\n  supportedRegions: us-west-2\n"),
            1,
            vec!["spec.supportedRegions", "must be of type array"],
        ),
        ("a number for a map", with("spec:\n", "spec:\n  tags: 7\n"), 1, vec!["spec.tags", "must be of type object"]),
        (
            "a document that is a list",
            b"- apiVersion: privatelink.dev/v1alpha1\n- kind: EndpointService\n".to_vec(),
            1,
            vec!["expected a mapping"],
        ),
        ("a document that is a scalar", b"hello\n".to_vec(), 1, vec!["expected a mapping"]),
        (
            "JSON with the wrong kind",
            br#"{"apiVersion": "privatelink.dev/v1alpha1", "kind": "Endpoint", "metadata": {"name": "x"}, "spec": {}}"#
                .to_vec(),
            1,
            vec!["unknown kind \"Endpoint\""],
        ),
        (
            "a second document gone wrong",
            [OK_SERVICE.as_bytes(), b"---\nkind: [\n"].concat(),
            2,
            vec!["document 2", "not valid YAML"],
        ),
        ("unclosed brackets", b"apiVersion: [privatelink.dev/v1alpha1\nkind: {\n".to_vec(), 2, vec!["not valid YAML"]),
        (
            "tabs for indentation",
            b"apiVersion: privatelink.dev/v1alpha1\nmetadata:\n\tname: x\n".to_vec(),
            2,
            vec!["not valid YAML"],
        ),
        ("a duplicate key", with("  name: api\n", "  name: api\n  name: web\n"), 2, vec!["duplicate"]),
        ("bytes that are not UTF-8", vec![0xff, 0xfe, 0x00, 0x41, 0x80, 0x81], 2, vec!["cannot read", "UTF-8"]),
        (
            "a NUL in the text",
            b"apiVersion: privatelink.dev/v1alpha1\x00\nkind: EndpointService\n".to_vec(),
            2,
            vec!["not valid YAML"],
        ),
        ("an alias bomb", bomb.as_bytes().to_vec(), 2, vec!["not valid YAML"]),
        ("nesting 10,000 deep", deep.into_bytes(), 2, vec!["not valid YAML"]),
        ("an undefined alias", b"apiVersion: *nothing\n".to_vec(), 2, vec!["not valid YAML"]),
        ("a stray document end", b"...\n...\n: x\n".to_vec(), 2, vec!["not valid YAML"]),
        (
            "a tag value of a megabyte",
            with("spec:\n", &format!("spec:\n  tags: {{team: {}}}\n", "x".repeat(1 << 20))),
            1,
            vec!["spec.tags"],
        ),
        (
            "a thousand principals",
            with("spec:\n", &format!("spec:\n  allowedPrincipals: [{}]\n", vec!["'*'"; 1000].join(", "))),
            1,
            vec!["spec.allowedPrincipals"],
        ),
    ]
}

#[test]
fn hostile_manifests_are_refused_with_the_field_and_never_panic() {
    let dir = std::env::temp_dir().join(format!("plo-hostile-{}", crate::support::uuid_like()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = cases();
    let (mut refused, mut panics, mut wrong) = (0, 0, Vec::new());
    for (i, (what, content, code, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("case-{i}.yaml"));
        std::fs::write(&file, content).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_privatelink-operator"))
            .args(["plan", "-f"])
            .arg(&file)
            .env_remove("AWS_REGION")
            .output()
            .expect("binary runs");
        let answer = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let got = out.status.code().unwrap_or(-1);
        if got == 101 || answer.contains("panicked") {
            panics += 1;
        }
        let names_file = answer.contains(&format!("case-{i}.yaml"));
        if got == *code && names_file && expected.iter().all(|e| answer.contains(e)) {
            refused += 1;
        } else {
            let short: String = answer.chars().take(600).collect();
            wrong.push(format!("{what}: exit {got} (expected {code}, containing {expected:?}):\n{short}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("hostile-figures: source=plan bad_inputs={} refused={refused} panics={panics}", cases.len());
    assert_eq!(panics, 0, "no input makes plan panic");
    assert!(
        wrong.is_empty(),
        "{} of {} refused otherwise than expected:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n\n")
    );
}
