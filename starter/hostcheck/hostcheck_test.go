package hostcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestALaptopIsNotADockerHost(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "docker.sock")
	host, why, err := open(context.Background(), "", socket)
	require.NoError(t, err, "no engine here is no failure")
	require.Nil(t, host)
	require.Equal(t, "no DOCKER_HOST and no "+socket, why)
}

func TestAnEngineThatDoesNotAnswerFails(t *testing.T) {
	host, _, err := open(context.Background(), "tcp://127.0.0.1:1", "")
	require.Nil(t, host)
	require.ErrorContains(t, err, "reach the docker engine at tcp://127.0.0.1:1")
}

func TestComposeIsTheConfiguredCommandWhenOneIsSet(t *testing.T) {
	cmd, version, err := Compose(context.Background(), []string{"sh", "-c", "echo 2.29.7"})
	require.NoError(t, err)
	require.Equal(t, []string{"sh", "-c", "echo 2.29.7"}, cmd)
	require.Equal(t, "2.29.7", version)

	_, _, err = Compose(context.Background(), []string{"false"})
	require.ErrorContains(t, err, "run the compose CLI: `false version`: exit status 1")
}

// The engine of this machine, read as doctor reads it (the test needs a Docker Engine).
func TestTheLocalEngineIsRead(t *testing.T) {
	host, why, err := Open(context.Background())
	if host == nil && err == nil {
		if os.Getenv("REWIND_REQUIRE_DOCKER") != "" {
			t.Fatalf("REWIND_REQUIRE_DOCKER is set but %s", why)
		}
		t.Skip(why)
	}
	require.NoError(t, err)
	defer host.Close()
	ctx := context.Background()
	desc, err := host.Describe(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^Docker Engine \d+\.\S+ \(API 1\.\d+\) at (unix|tcp)://`, desc)

	root, free, err := host.DataRoot(ctx)
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(root), root)
	require.Positive(t, free)

	name := fmt.Sprintf("rewind-hostcheck-%d", os.Getpid())
	out, err := exec.Command("docker", "volume", "create", name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { _ = exec.Command("docker", "volume", "rm", name).Run() })
	vols, err := host.Volumes(ctx, []string{"rewind-hostcheck-no-such-volume", name})
	require.NoError(t, err)
	require.Equal(t, Volume{Size: -1}, vols["rewind-hostcheck-no-such-volume"])
	require.True(t, vols[name].Exists)
	require.Equal(t, "local", vols[name].Driver)
	require.Zero(t, vols[name].Size, "an empty volume takes no bytes")
}
