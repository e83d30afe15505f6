//! The alerts and the dashboard the chart ships, judged by Prometheus' own
//! promtool (github.com/prometheus/prometheus v0.316.0, tests/alerts/
//! build.sh): the PrometheusRule the chart renders passes `promtool check
//! rules`, and `promtool test rules` (tests/alerts/alerts_test.yaml) shows
//! each alert firing on synthetic series that should fire it and staying
//! silent on those that should not; every dashboard query parses.

use std::process::Command;

use serde_json::Value;

use crate::chart::{chart_report, of_kind};

fn promtool(dir: &std::path::Path, args: &[&str]) -> String {
    let bin = std::env::var("PLO_PROMTOOL").unwrap_or_else(|_| {
        panic!("PLO_PROMTOOL is not set: run the tests with `bash tests/run.sh`, or build promtool with `bash tests/alerts/build.sh` and set PLO_PROMTOOL to the path it prints")
    });
    let out = Command::new(&bin).args(args).current_dir(dir).output().expect("promtool runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rendered_alerts_and_tests_each_one() {
    let report = chart_report("plo", "privatelink-system");
    let objects = report["renderings"]["observability"].as_array().expect("observability rendering").clone();
    let rule = of_kind(&objects, "PrometheusRule")[0].clone();
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let dir = std::env::temp_dir().join(format!("plo-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The rule file Prometheus loads from the PrometheusRule: its spec.
    std::fs::write(dir.join("rules.yaml"), serde_yaml::to_string(&rule["spec"]).unwrap()).unwrap();
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/alerts/alerts_test.yaml");
    std::fs::copy(tests, dir.join("alerts_test.yaml")).unwrap();
    let checked = promtool(&dir, &["check", "rules", "rules.yaml"]);
    assert!(checked.contains("SUCCESS: 5 rules found"), "{checked}");
    let tested = promtool(&dir, &["test", "rules", "alerts_test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    println!("promtool check rules: {}\npromtool test rules: {}", checked.trim(), tested.trim());

    // The dashboard the ConfigMap carries: every query parses.
    let dashboard = of_kind(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"].as_str().unwrap().ends_with("-dashboard"))
        .expect("dashboard ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value =
        serde_json::from_str(dashboard["data"]["privatelink-operator.json"].as_str().unwrap()).expect("JSON");
    let mut records = Vec::new();
    for panel in json["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$lease", "privatelink-operator");
            let known = privatelink_operator::metrics::NAMES.iter().any(|n| expr.contains(n));
            assert!(known, "panel {} queries no metric the operator exports: {expr}", panel["title"]);
            records.push(serde_json::json!({"record": format!("dashboard:panel_{}", records.len()), "expr": expr}));
        }
    }
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": records}]});
    std::fs::write(dir.join("dashboard.yaml"), serde_yaml::to_string(&file).unwrap()).unwrap();
    let parsed = promtool(&dir, &["check", "rules", "dashboard.yaml"]);
    assert!(parsed.contains("SUCCESS"), "{parsed}");
    let _ = std::fs::remove_dir_all(&dir);
}
