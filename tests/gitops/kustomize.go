package main

import (
	"io"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeBuild prints what `kustomize build DIR` prints, by kustomize's
// own library (sigs.k8s.io/kustomize/api krusty, the code of the kustomize
// CLI and of `kubectl kustomize`).
func kustomizeBuild(dir string, out io.Writer) error {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return err
	}
	text, err := resources.AsYaml()
	if err != nil {
		return err
	}
	_, err = out.Write(text)
	return err
}
