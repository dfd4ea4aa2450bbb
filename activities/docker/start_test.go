package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
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
	up.Stopped = found

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

// TestStartProjectStartsOnlyWhatComposeUpWould: a service sharing another's network starts
// after it; a container of an inactive profile and an orphan whose service left the files
// stay stopped though the stop stopped them; anything compose would do otherwise (a
// container stopped before the run, too few replicas, a cycle, files edited since the
// containers were made) is handed back to compose, starting nothing.
func TestStartProjectStartsOnlyWhatComposeUpWould(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	ctx := context.Background()
	command, err := docker.DetectCompose(ctx)
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
		return f
	}
	old := time.Now().Add(-time.Hour)
	past := func(f string) { require.NoError(t, os.Chtimes(f, old, old)) }
	main := write("compose.yml", "services:\n  db: {image: "+demostack.DBImage+"}\n  api: {image: "+demostack.APIImage+":v2.6-prod, network_mode: \"service:db\"}\n  debug: {image: "+demostack.DBImage+", profiles: [debug]}\n")
	gone := write("gone.yml", "services:\n  gone: {image: "+demostack.DBImage+"}\n")
	past(main)
	past(gone)
	project := uniqueName("rwstart")
	all := demostack.Compose{Command: command, Project: project, File: main, Overrides: []string{gone}}
	t.Cleanup(func() { _ = all.Run(context.Background(), "--profile", "debug", "down", "-t", "0") })
	require.NoError(t, all.Run(ctx, "--profile", "debug", "up", "-d"))
	up := docker.ComposeUpInput{Project: project, Files: []string{"compose.yml"}, WorkingDir: dir, Command: command}
	stop := func() []string {
		v, err := env.ExecuteActivity(a.StopProject, docker.StopInput{Project: project, Grace: time.Second})
		require.NoError(t, err)
		var stopped docker.StopResult
		require.NoError(t, v.Get(&stopped))
		return append(stopped.Stopped, stopped.Killed...)
	}
	start := func(in docker.ComposeUpInput) docker.StartResult {
		v, err := env.ExecuteActivity(a.StartProject, in)
		require.NoError(t, err)
		var res docker.StartResult
		require.NoError(t, v.Get(&res))
		return res
	}
	up.Stopped = stop()
	require.Len(t, up.Stopped, 4)

	res := start(up)

	require.Empty(t, res.NeedsCompose)
	require.Len(t, res.Started, 2)
	require.Contains(t, res.Started[0], "db", "api shares db's network, so db starts first")
	require.Contains(t, res.Started[1], "api")
	require.Len(t, res.Left, 2)
	require.Contains(t, res.Left[0], "debug")
	require.Contains(t, res.Left[1], "gone")
	for _, name := range res.Left {
		info, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		require.NoError(t, err)
		require.False(t, info.Container.State.Running, name)
	}

	up.Stopped = stop()
	handed := func(why string, in docker.ComposeUpInput) {
		t.Helper()
		res := start(in)
		require.Contains(t, res.NeedsCompose, why)
		require.Empty(t, res.Started)
	}
	partial := up
	partial.Stopped = []string{res.Started[0]}
	handed(res.Started[1]+" was not stopped by this run", partial)
	scaled := up
	scaled.Files = []string{"compose.yml", write("scale.yml", "services:\n  api: {scale: 2}\n")}
	past(scaled.Files[1])
	handed("service api has 1 containers, its replicas are 2", scaled)
	cycle := up
	cycle.Files = []string{"compose.yml", write("cycle.yml", "services:\n  db: {depends_on: [api]}\n")}
	past(cycle.Files[1])
	handed("cycle", cycle)
	require.NoError(t, os.Chtimes(main, time.Now(), time.Now()))
	handed("compose.yml changed after the containers were made", up)
	write(".env", "X=1\n")
	past(main)
	handed(".env changed after the containers were made", up)
}
