package drill

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"
)

// The throwaway mounts the drill's volume where the live database mounts the stack's,
// its bound files read-only, and nothing else of the host's volumes.
func TestTheThrowawayMountsTheDrillsVolumeInPlaceOfTheStacks(t *testing.T) {
	live := container.InspectResponse{Mounts: []container.MountPoint{
		{Type: mount.TypeVolume, Name: "algotrendy_questdb_data", Destination: "/var/lib/questdb"},
		{Type: mount.TypeBind, Source: "/srv/questdb/server.conf", Destination: "/etc/questdb/server.conf"},
		{Type: mount.TypeVolume, Name: "algotrendy_cache", Destination: "/cache"},
	}}
	got, err := drillMounts(live, []Staged{{For: "algotrendy_questdb_data", Staging: "rewind-drill-0b6f4c2e-algotrendy_questdb_data"}})
	require.NoError(t, err)
	require.Equal(t, []mount.Mount{
		{Type: mount.TypeVolume, Source: "rewind-drill-0b6f4c2e-algotrendy_questdb_data", Target: "/var/lib/questdb"},
		{Type: mount.TypeBind, Source: "/srv/questdb/server.conf", Target: "/etc/questdb/server.conf", ReadOnly: true},
	}, got)

	_, err = drillMounts(live, []Staged{{For: "billing_data", Staging: "rewind-drill-0b6f4c2e-billing_data"}})
	require.ErrorContains(t, err, "mounts none of the drilled volumes")
}

// The check asks the throwaway on the container port the stack's database URL reaches
// through its published port.
func TestTheCheckAsksTheContainerPortBehindTheStacksURL(t *testing.T) {
	live := container.InspectResponse{HostConfig: &container.HostConfig{PortBindings: network.PortMap{
		network.MustParsePort("9000/tcp"): {{HostPort: "19000"}},
		network.MustParsePort("8812/tcp"): {{HostPort: "8812"}},
	}}}
	require.Equal(t, "9000", servingPort(live, "http://127.0.0.1:19000"))
	require.Equal(t, "8812", servingPort(live, "postgres://admin@127.0.0.1:8812/qdb"))
	require.Equal(t, "5432", servingPort(live, "postgres://app@db/app"), "no port: the scheme's")
}

func TestADrillNamesWhatItMakesAfterItsRun(t *testing.T) {
	require.Equal(t, "rewind-drill-0b6f4c2e", Name("0b6f4c2e-1111-2222"))
	require.Equal(t, "rewind-drill-0b6f4c2e-db_data", Name("0b6f4c2e-1111-2222", "db_data"))
}

// A database that never answered in time says nothing of its backup; one that answered
// without the data condemns it.
func TestOnlyADatabaseThatAnsweredWithoutTheDataCondemnsItsBackup(t *testing.T) {
	err := gaveUp(false, time.Minute, "SELECT 1: connection refused")
	require.False(t, IsFailed(err), "no answer is no verdict")
	require.ErrorContains(t, err, "did not answer within 1m0s (checks.health_timeout), which says nothing of the backup")
	require.True(t, IsFailed(gaveUp(true, time.Minute, "SELECT 1 → 0")))
}
