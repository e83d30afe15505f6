"""Lints and renders the Helm chart with the real Helm library for every
value set in tests/chart/values, validates each rendered object against the
Kubernetes OpenAPI schemas, checks that bad values are refused by
values.schema.json, and prints the renderings as JSON for the Rust tests
(tests/it/chart.rs) to inspect and apply to the test API server.

Usage: python tests/chart/check.py CHART_DIR VALUES_DIR RELEASE NAMESPACE
"""

import json
import pathlib
import shutil
import sys
import tempfile

import helm_python
import kubernetes_validate
import yaml

KUBE_VERSION = "1.34.0"


def validated(rendered: dict, source: str, report: dict) -> list:
    """The rendered objects, each validated against the Kubernetes schemas
    (problems go to the report)."""
    objects = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                # A custom resource (ServiceMonitor): no built-in schema.
                if doc.get("apiVersion") != "monitoring.coreos.com/v1":
                    report["problems"].append(f"{source}: {template}: no schema for {doc.get('kind')}")
            except kubernetes_validate.ValidationError as e:
                report["problems"].append(f"{source}: {template}: {doc.get('kind')}: {e.message}")
            objects.append(doc)
    return objects


def umbrella(chart_dir: str, report: dict) -> list:
    """The chart as a dependency of an umbrella chart, as an Argo CD
    app-of-apps keeps it: global values (keys the chart does not know
    among them) and the subchart's values under its name."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "platform"
        (root / "charts").mkdir(parents=True)
        shutil.copytree(chart_dir, root / "charts" / "privatelink-operator")
        (root / "Chart.yaml").write_text(
            "apiVersion: v2\nname: platform\nversion: 1.0.0\n"
            "dependencies:\n  - name: privatelink-operator\n    version: '>=0.0.0-0'\n"
        )
        values = {
            "global": {"imageRegistry": "registry.example.com", "labels": {"team": "platform"}},
            "privatelink-operator": {"operator": {"region": "eu-west-1"}},
        }
        rendered = helm_python.Chart.load(str(root)).render(values, name="platform", namespace="platform", is_install=True)
        return validated(rendered, "umbrella", report)


def main() -> int:
    chart_dir, values_dir, release, namespace = sys.argv[1:5]
    report = {"lint": None, "renderings": {}, "refused": {}, "problems": []}
    lint = helm_python.lint(chart_dir, strict=True, namespace=namespace, kube_version=f"v{KUBE_VERSION}")
    report["lint"] = lint
    errors = [m for m in lint["messages"] if m["severity"] >= 2] + lint["errors"]
    if errors:
        report["problems"].append(f"helm lint: {errors}")
    chart = helm_python.Chart.load(chart_dir)
    for path in sorted(pathlib.Path(values_dir).glob("*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
        report["renderings"][path.stem] = validated(rendered, path.name, report)
        report.setdefault("notes", {})[path.stem] = next(
            (text for template, text in rendered.items() if template.endswith("NOTES.txt")), ""
        )
    report["renderings"]["umbrella"] = umbrella(chart_dir, report)
    for name, values in {
        "resync zero": {"operator": {"resyncSeconds": 0}},
        "unknown key": {"operater": {}},
        "bad role pair": {"operator": {"tenancy": {"allowedRoles": ["team-a"]}}},
        "namespaced without namespaces": {"rbac": {"namespaced": True}},
        "namespaced without a cluster id": {"rbac": {"namespaced": True}, "operator": {"watchNamespaces": ["a"]}},
    }.items():
        try:
            chart.render(values, name=release, namespace=namespace, is_install=True)
            report["problems"].append(f"values {name!r} were accepted")
        except helm_python.HelmError as e:
            report["refused"][name] = str(e)
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
