package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/activities/docker"
)

func TestHeartbeatProgressReadsRestoresAndTransfers(t *testing.T) {
	payloads := func(v any) *commonpb.Payloads {
		p, err := converter.GetDefaultDataConverter().ToPayloads(v)
		require.NoError(t, err)
		return p
	}
	require.Equal(t, "3.0 MiB of 12.0 MiB of the backup read (25%)",
		heartbeatProgress(payloads(docker.RestoreProgress{BackupSize: 12 << 20, BackupRead: 3 << 20, Entries: 4})))
	require.Equal(t, "8388608 bytes of volume v read", heartbeatProgress(payloads("8388608 bytes of volume v read")))
	require.Empty(t, heartbeatProgress(nil), "a step that has not reported yet")
	require.Empty(t, heartbeatProgress(payloads(docker.RestoreProgress{})), "a restore that has not read anything yet")
	require.Equal(t, "120 entries, 3.0 MiB copied", heartbeatProgress(payloads(docker.RestoreProgress{Entries: 120, Bytes: 3 << 20})))
}
