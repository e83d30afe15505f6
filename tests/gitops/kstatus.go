package main

import (
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Verdict is what kstatus says of one object.
type Verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// kstatus reads a JSON array of objects and computes each one's status as
// Flux does (status.Compute).
func kstatus(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	// As the API machinery decodes: whole numbers as int64.
	var objects []map[string]any
	if err := utiljson.Unmarshal(data, &objects); err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	verdicts := make([]Verdict, 0, len(objects))
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		verdicts = append(verdicts, Verdict{u.GetKind(), u.GetName(), string(result.Status), result.Message})
	}
	return writeJSON(out, verdicts)
}
