package docker

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoadProjectTakesComposesDependencies: the dependencies compose adds itself (links,
// network_mode/ipc/pid: service:x, volumes_from), depends_on through an alias, extends,
// include, !reset and interpolation, and profiles as compose applies them.
func TestLoadProjectTakesComposesDependencies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("base.yml", `
x-deps: &deps [db]
include: [inc.yml]
services:
  db: {image: x}
  net: {image: x, network_mode: "service:db"}
  ipc: {image: x, ipc: "service:db", pid: "service:net"}
  link: {image: x, links: ["db:database"]}
  from: {image: x, volumes_from: [db]}
  alias: {image: x, depends_on: *deps}
  ext: {extends: {service: alias}}
  env: {image: x, depends_on: ["${DEP}"]}
  reset: {image: x, depends_on: [db]}
  debug: {image: x, profiles: [debug]}
`)
	write("inc.yml", "services:\n  included: {image: x, depends_on: {db: {condition: service_healthy}}}\n")
	write("override.yml", "services:\n  reset:\n    depends_on: !reset []\n")
	write(".env", "DEP=link\n")

	p, files, err := loadProject(context.Background(), ComposeUpInput{Project: "p", Files: []string{"base.yml", "override.yml"}, WorkingDir: dir})

	require.NoError(t, err)
	deps := func(s string) []string { return slices.Sorted(maps.Keys(p.Services[s].DependsOn)) }
	require.Equal(t, []string{"db"}, deps("net"))
	require.Equal(t, []string{"db", "net"}, deps("ipc"))
	require.Equal(t, []string{"db"}, deps("link"))
	require.Equal(t, []string{"db"}, deps("from"))
	require.Equal(t, []string{"db"}, deps("alias"))
	require.Equal(t, []string{"db"}, deps("ext"))
	require.Equal(t, []string{"link"}, deps("env"))
	require.Empty(t, deps("reset"))
	require.Equal(t, "service_healthy", p.Services["included"].DependsOn["db"].Condition)
	require.NotContains(t, p.Services, "debug", "an inactive profile's service is not started")
	require.Contains(t, files, filepath.Join(dir, ".env"))
	require.Contains(t, files, filepath.Join(dir, "override.yml"))
	_, _, err = loadProject(context.Background(), ComposeUpInput{Project: "p", Files: []string{"gone.yml"}, WorkingDir: dir})
	require.Error(t, err)
}

// TestStartOrderPutsDependenciesFirst, and refuses a cycle.
func TestStartOrderPutsDependenciesFirst(t *testing.T) {
	cs := []Container{{Name: "p-api-1", Service: "api"}, {Name: "p-worker-1", Service: "worker"}, {Name: "p-db-1", Service: "db"}}

	order, err := startOrder(cs, map[string][]string{"api": {"db", "worker"}, "worker": {"db"}})

	require.NoError(t, err)
	var names []string
	for _, c := range order {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"p-db-1", "p-worker-1", "p-api-1"}, names)
	_, err = startOrder(cs, map[string][]string{"api": {"db"}, "db": {"api"}})
	require.ErrorContains(t, err, "cycle")
}
