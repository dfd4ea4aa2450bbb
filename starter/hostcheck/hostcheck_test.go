package hostcheck

import (
	"context"
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
