package docker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServicesInFilesReadsDependsOnInBothForms: list form and map form with a condition,
// the override file adding to the base.
func TestServicesInFilesReadsDependsOnInBothForms(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "base.yml"), []byte("services:\n  api:\n    depends_on: [db]\n  db: {}\n  debug:\n    profiles: [debug]\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "override.yml"), []byte("services:\n  api:\n    depends_on:\n      db:\n        condition: service_healthy\n      cache: {}\n"), 0o600))

	services, err := servicesInFiles([]string{"base.yml", filepath.Join(dir, "override.yml")}, dir)

	require.NoError(t, err)
	require.Equal(t, map[string]string{"db": "service_healthy", "cache": "service_started"}, services["api"].dependsOn)
	require.Empty(t, services["db"].dependsOn)
	require.Equal(t, []string{"debug"}, services["debug"].Profiles)
	_, err = servicesInFiles([]string{"gone.yml"}, dir)
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
