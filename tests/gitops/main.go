// The GitOps tools' own code, for the tests: each subcommand runs the
// published Go module a platform team's tool runs, on objects the test
// passes in, and prints the tool's verdict as JSON.
//
//	gitops kstatus < objects.json
//	    Flux's health assessment (sigs.k8s.io/cli-utils pkg/kstatus/status,
//	    the library Flux's kustomize-controller and helm-controller use):
//	    one {"kind","name","status","message"} per object.
//	gitops argocd-health SCRIPT < objects.json
//	    Argo CD's health assessment: the health script run by Argo CD's own
//	    Lua package (github.com/argoproj/argo-cd/v3/util/lua, gopher-lua with
//	    the libraries Argo CD opens); one {"kind","name","status","message"}
//	    per object.
//	gitops argocd-tests DIR
//	    every health_test.yaml under DIR (Argo CD's resource_customizations
//	    layout) run as Argo CD's own tests run them; one outcome per case.
//	gitops kustomize DIR
//	    `kustomize build DIR`, by kustomize's own library.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: gitops kstatus|argocd-health SCRIPT|argocd-tests DIR|kustomize DIR")
	}
	var err error
	switch os.Args[1] {
	case "kstatus":
		err = kstatus(os.Stdin, os.Stdout)
	case "argocd-health":
		err = argocdHealth(arg(2), os.Stdin, os.Stdout)
	case "argocd-tests":
		err = argocdTests(arg(2), os.Stdout)
	case "kustomize":
		err = kustomizeBuild(arg(2), os.Stdout)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func arg(i int) string {
	if len(os.Args) <= i {
		fail("missing argument")
	}
	return os.Args[i]
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
