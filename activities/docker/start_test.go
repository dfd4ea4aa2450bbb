package docker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
)

// TestStartProjectStartsWhatTheStopStopped: the engine starts the stopped containers, the
// database before the api that depends on it; a retry finds them running and starts
// nothing; a service whose container is gone leaves the start to compose.
func TestStartProjectStartsWhatTheStopStopped(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	up, apiPort := demoProject(t)
	_, err := env.ExecuteActivity(a.ComposeUp, up)
	require.NoError(t, err)
	v, err := env.ExecuteActivity(a.StopProject, docker.StopInput{Project: up.Project, Grace: 5 * time.Second})
	require.NoError(t, err)
	var stopped docker.StopResult
	require.NoError(t, v.Get(&stopped))
	found := append(stopped.Stopped, stopped.Killed...)
	require.Len(t, found, 2)

	v, err = env.ExecuteActivity(a.StartProject, up)
	require.NoError(t, err)
	var started docker.StartResult
	require.NoError(t, v.Get(&started))
	require.Empty(t, started.NeedsCompose)
	require.Len(t, started.Started, 2)
	require.Contains(t, started.Started[0], "questdb", "the database starts before the api that depends on it")
	health := "http://127.0.0.1:" + strconv.Itoa(apiPort) + "/health"
	_, err = env.ExecuteActivity(a.WaitHealthy, docker.WaitHealthyInput{Project: up.Project, Services: []string{"api", "questdb"}, Probes: []string{health}, Timeout: time.Minute})
	require.NoError(t, err)

	v, err = env.ExecuteActivity(a.StartProject, up)
	require.NoError(t, err)
	var again docker.StartResult
	require.NoError(t, v.Get(&again))
	require.Empty(t, again.Started, "a retry starts nothing")
	require.ElementsMatch(t, found, again.AlreadyRunning)

	list, err := c.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+up.Project).Add("label", docker.ServiceLabel+"=questdb")})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	_, err = c.ContainerRemove(context.Background(), list.Items[0].ID, client.ContainerRemoveOptions{Force: true})
	require.NoError(t, err)
	v, err = env.ExecuteActivity(a.StartProject, up)
	require.NoError(t, err)
	var gone docker.StartResult
	require.NoError(t, v.Get(&gone))
	require.Equal(t, "service questdb has no container", gone.NeedsCompose)
	require.Empty(t, gone.Started)
}
