package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/gitops-engine/pkg/health"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// Health is what Argo CD says of one object.
type Health struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// vm runs health scripts as Argo CD's application controller does: its Lua
// VM (gopher-lua) with only the libraries Argo CD opens for them.
var vm = lua.VM{UseOpenLibs: false}

// argocdHealth reads a JSON array of objects and runs the health script
// `script` on each, through Argo CD's own Lua package.
func argocdHealth(script string, in io.Reader, out io.Writer) error {
	code, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	var objects []map[string]any
	if err := utiljson.Unmarshal(data, &objects); err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	verdicts := make([]Health, 0, len(objects))
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		result, err := vm.ExecuteHealthLua(u, string(code))
		if err != nil {
			return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		verdicts = append(verdicts, Health{u.GetKind(), u.GetName(), string(result.Status), result.Message})
	}
	return writeJSON(out, verdicts)
}

// TestCase is one entry of an upstream health_test.yaml.
type TestCase struct {
	InputPath    string              `json:"inputPath"`
	HealthStatus health.HealthStatus `json:"healthStatus"`
}

// Outcome is one test case's result.
type Outcome struct {
	Script   string              `json:"script"`
	Input    string              `json:"input"`
	Expected health.HealthStatus `json:"expected"`
	Got      health.HealthStatus `json:"got"`
	Passed   bool                `json:"passed"`
}

// argocdTests runs every health_test.yaml under `root` (Argo CD's upstream
// resource_customizations layout: <group>/<Kind or _>/health.lua,
// health_test.yaml, testdata/*.yaml) as Argo CD's own TestLuaHealthScript
// does, and prints each case's outcome.
func argocdTests(root string, out io.Writer) error {
	var outcomes []Outcome
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "health.lua" {
			return err
		}
		dir := filepath.Dir(path)
		script, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		spec, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			return fmt.Errorf("%s has no health_test.yaml: %w", dir, err)
		}
		var tests struct {
			Tests []TestCase `json:"tests"`
		}
		if err := yaml.UnmarshalStrict(spec, &tests); err != nil {
			return fmt.Errorf("%s/health_test.yaml: %w", dir, err)
		}
		for _, test := range tests.Tests {
			input, err := os.ReadFile(filepath.Join(dir, test.InputPath))
			if err != nil {
				return err
			}
			obj := map[string]any{}
			if err := yaml.Unmarshal(input, &obj); err != nil {
				return fmt.Errorf("%s: %w", test.InputPath, err)
			}
			got, err := vm.ExecuteHealthLua(&unstructured.Unstructured{Object: obj}, string(script))
			if err != nil {
				return fmt.Errorf("%s on %s: %w", path, test.InputPath, err)
			}
			rel, _ := filepath.Rel(root, path)
			outcomes = append(outcomes, Outcome{rel, test.InputPath, test.HealthStatus, *got, reflect.DeepEqual(test.HealthStatus, *got)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(outcomes, func(i, j int) bool { return outcomes[i].Input < outcomes[j].Input })
	return writeJSON(out, outcomes)
}
