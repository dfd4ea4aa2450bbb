package docker_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// demoProject is the demo stack under a project of its own, with its compose input.
func demoProject(t *testing.T) (docker.ComposeUpInput, int) {
	t.Helper()
	file, err := demostack.ComposeFile()
	require.NoError(t, err)
	command, err := docker.DetectCompose(context.Background())
	require.NoError(t, err)
	apiPort := freePort(t)
	in := docker.ComposeUpInput{
		Project: uniqueName("rwtest"), Files: []string{file}, Command: command,
		Env: []string{"API_PORT=" + strconv.Itoa(apiPort), "QUESTDB_PORT=" + strconv.Itoa(freePort(t))},
	}
	c := demostack.Compose{Command: command, Project: in.Project, File: file, Env: in.Env}
	t.Cleanup(func() { _ = c.Run(context.Background(), "down", "-v", "-t", "0") })
	return in, apiPort
}

func TestComposeUpWaitHealthyCaptureStopRemovePrune(t *testing.T) {
	c := needEngine(t)
	a, store := newActivities(t, c)
	env := activityEnv(a)
	up, apiPort := demoProject(t)
	health := "http://127.0.0.1:" + strconv.Itoa(apiPort) + "/health"

	for range 2 {
		_, err := env.ExecuteActivity(a.ComposeUp, up)
		require.NoError(t, err)
	}
	v, err := env.ExecuteActivity(a.WaitHealthy, docker.WaitHealthyInput{Project: up.Project, Services: []string{"api", "questdb"}, Probes: []string{health}, Timeout: time.Minute})
	require.NoError(t, err)
	var healthy docker.WaitHealthyResult
	require.NoError(t, v.Get(&healthy))
	require.Equal(t, map[string]string{"api": "healthy", "questdb": "healthy"}, healthy.Services)

	v, err = env.ExecuteActivity(a.CaptureState, docker.CaptureInput{Project: up.Project, Prefix: "incidents/x/checklist"})
	require.NoError(t, err)
	var captured docker.CaptureResult
	require.NoError(t, v.Get(&captured))
	require.Len(t, captured.Containers, 2)
	logs, err := os.ReadFile(store.Location("incidents/x/checklist/deployment_logs.txt"))
	require.NoError(t, err)
	require.Contains(t, string(logs), "Connected to Binance")
	ps, err := os.ReadFile(store.Location("incidents/x/checklist/deployment_state.txt"))
	require.NoError(t, err)
	require.Contains(t, string(ps), "algotrendy-api:v2.6-prod")

	v, err = env.ExecuteActivity(a.StopProject, docker.StopInput{Project: up.Project, Grace: 5 * time.Second})
	require.NoError(t, err)
	var stopped docker.StopResult
	require.NoError(t, v.Get(&stopped))
	require.Len(t, stopped.Stopped, 2)
	v, err = env.ExecuteActivity(a.StopProject, docker.StopInput{Project: up.Project, Grace: 5 * time.Second})
	require.NoError(t, err)
	require.NoError(t, v.Get(&stopped))
	require.Len(t, stopped.AlreadyStopped, 2, "a second stop finds them stopped")

	var removed docker.RemoveResult
	for i, want := range []int{2, 0} {
		v, err = env.ExecuteActivity(a.RemoveContainers, docker.ProjectInput{Project: up.Project})
		require.NoError(t, err)
		require.NoError(t, v.Get(&removed))
		require.Len(t, removed.Removed, want, "call %d", i+1)
	}
	for i, want := range []int{1, 0} {
		v, err = env.ExecuteActivity(a.PruneNetworks, docker.ProjectInput{Project: up.Project})
		require.NoError(t, err)
		require.NoError(t, v.Get(&removed))
		require.Len(t, removed.Removed, want, "call %d", i+1)
	}
	vol, err := c.VolumeInspect(context.Background(), demostack.Volume(up.Project), client.VolumeInspectOptions{})
	require.NoError(t, err, "the data volume survives stop and removal")
	require.Equal(t, up.Project, vol.Volume.Labels[docker.ProjectLabel])
}

func TestStopKillsContainersThatIgnoreSIGTERM(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	up, _ := demoProject(t)
	up.Env = append(up.Env, "IGNORE_SIGTERM=1")
	_, err := env.ExecuteActivity(a.ComposeUp, up)
	require.NoError(t, err)
	require.NoError(t, demostack.WaitHealthy(context.Background(), c, up.Project))

	v, err := env.ExecuteActivity(a.StopProject, docker.StopInput{Project: up.Project, Grace: time.Second})
	require.NoError(t, err)
	var stopped docker.StopResult
	require.NoError(t, v.Get(&stopped))
	require.Len(t, stopped.Killed, 1, "the api ignores SIGTERM and is killed after the grace period")
	require.True(t, strings.Contains(stopped.Killed[0], "api"), stopped.Killed[0])
	require.Len(t, stopped.Stopped, 1)
}

func TestWaitHealthyNamesWhatIsStillDown(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	up, apiPort := demoProject(t)
	_, err := env.ExecuteActivity(a.ComposeUp, up)
	require.NoError(t, err)
	require.NoError(t, demostack.WaitHealthy(context.Background(), c, up.Project))
	require.NoError(t, demostack.Corrupt(context.Background(), c, up.Project))

	health := "http://127.0.0.1:" + strconv.Itoa(apiPort) + "/health"
	_, err = env.ExecuteActivity(a.WaitHealthy, docker.WaitHealthyInput{Project: up.Project, Probes: []string{health}, Timeout: 3 * time.Second})
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.NotHealthy, appErr.Type())
	require.Contains(t, err.Error(), health+" (503 Service Unavailable)")
}

func TestRemoveImageTwice(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	tag := demostack.APIImage + ":" + uniqueName("rm")
	_, err := c.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: tag})
	require.NoError(t, err)
	var removed docker.RemoveResult
	for i, want := range []int{1, 0} {
		v, err := env.ExecuteActivity(a.RemoveImage, docker.ImageInput{Image: tag})
		require.NoError(t, err)
		require.NoError(t, v.Get(&removed))
		require.Len(t, removed.Removed, want, "call %d", i+1)
	}
	_, err = c.ImageInspect(context.Background(), demostack.APIImage+":v2.6-prod")
	require.NoError(t, err, "the other tag of the image stays")
}
