"""`helm template RELEASE CHART --namespace NAMESPACE` with the real Helm
library (helm-python-sdk, Helm v4's Go SDK): prints the rendered manifests
as one YAML stream, as `helm template` does, for tests that pipe a chart's
output into `privatelink-operator plan -f -`.

Usage: python tests/chart/template.py CHART_DIR RELEASE NAMESPACE
"""

import sys

import helm_python


def main() -> int:
    chart_dir, release, namespace = sys.argv[1:4]
    chart = helm_python.Chart.load(chart_dir)
    rendered = chart.render({}, name=release, namespace=namespace, is_install=True)
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        print(f"---\n# Source: {template}\n{text.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
