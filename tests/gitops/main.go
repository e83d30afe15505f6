// The GitOps tools' own code, for the tests: each subcommand runs the
// published Go module a platform team's tool runs, on objects the test
// passes in, and prints the tool's verdict as JSON.
//
//	gitops kstatus < objects.json
//	    Flux's health assessment (sigs.k8s.io/cli-utils pkg/kstatus/status,
//	    the library Flux's kustomize-controller and helm-controller use):
//	    one {"kind","name","status","message"} per object.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: gitops kstatus < objects.json")
	}
	var err error
	switch os.Args[1] {
	case "kstatus":
		err = kstatus(os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "gitops:", message)
	os.Exit(1)
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
