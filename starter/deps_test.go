package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The rewind CLI talks to Temporal, never to Docker: it builds without the Engine's client
// (moby, or docker/docker before it) and without any package that registers activities.
// compose-go's small helpers (docker/go-units, go-connections) are not the client.
func TestTheCLIImportsNoActivityAndNoDockerClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/moby/") || strings.HasPrefix(pkg, "github.com/docker/docker/") || strings.HasPrefix(pkg, "github.com/algotrendy/rewind/activities") {
			t.Errorf("the rewind CLI imports %s", pkg)
		}
	}
}
