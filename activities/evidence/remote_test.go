package evidence_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/backup/local"
	"github.com/algotrendy/rewind/activities/evidence"
)

func TestRemoteStagesAndUploadsWholeFiles(t *testing.T) {
	store := local.New(t.TempDir())
	r := &evidence.Remote{Store: store, Spool: t.TempDir()}
	ctx := context.Background()
	require.NoError(t, r.Put(ctx, "incidents/20261126/rewind-prod/report.md", strings.NewReader("# Incident")))
	size, err := r.Size(ctx, "incidents/20261126/rewind-prod/report.md")
	require.NoError(t, err)
	require.EqualValues(t, len("# Incident"), size)
	rc, err := r.Open(ctx, "incidents/20261126/rewind-prod/report.md")
	require.NoError(t, err)
	defer rc.Close()
	body, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.Equal(t, "# Incident", string(body))
	require.Equal(t, store.Dir+"/incidents/20261126/rewind-prod/report.md", r.Location("incidents/20261126/rewind-prod/report.md"))
}
