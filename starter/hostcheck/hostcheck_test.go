package hostcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// standInEngine answers the five reads doctor makes on a unix socket, with disk usage in
// the given JSON: a stand-in, because this machine's engine speaks one API version only.
func standInEngine(t *testing.T, df string) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "OK") })
	mux.HandleFunc("GET /volumes/data", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"Name":"data","Driver":"local"}`) })
	mux.HandleFunc("GET /volumes/{name}", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"get gone: no such volume"}`, http.StatusNotFound)
	})
	mux.HandleFunc("GET /system/df", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("verbose") != "1" {
			http.Error(w, "want verbose", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, df)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return socket
}

func TestVolumeSizesAreReadInEitherShapeOfDiskUsage(t *testing.T) {
	for name, df := range map[string]string{
		"before API 1.52": `{"Volumes":[{"Name":"data","UsageData":{"Size":4096}}]}`,
		"API 1.53":        `{"VolumeUsage":{"Items":[{"Name":"data","UsageData":{"Size":4096}}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			host, _, err := open(context.Background(), "unix://"+standInEngine(t, df), "")
			require.NoError(t, err)
			defer host.Close()
			vols, err := host.Volumes(context.Background(), []string{"data", "gone"})
			require.NoError(t, err)
			require.Equal(t, map[string]Volume{"data": {Exists: true, Size: 4096, Driver: "local"}, "gone": {Size: -1}}, vols)
		})
	}
}
