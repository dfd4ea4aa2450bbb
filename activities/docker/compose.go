package docker

import (
	"context"
	"fmt"
	"os/exec"
)

// DetectCompose finds the operator's compose CLI: `docker compose` (v2), then
// `docker-compose` (v1). Both label what they create the same way.
func DetectCompose(ctx context.Context) ([]string, error) {
	for _, cmd := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		args := append(append([]string{}, cmd[1:]...), "version")
		if err := exec.CommandContext(ctx, cmd[0], args...).Run(); err == nil {
			return cmd, nil
		}
	}
	return nil, fmt.Errorf("find a compose CLI: neither `docker compose` nor `docker-compose` runs here; install one or set compose.command in rewind.yaml")
}
