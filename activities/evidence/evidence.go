// Package evidence keeps what an incident leaves behind (state captures, logs, notices,
// decisions, the report, forensic snapshots) in an evidence store, one folder per run:
// incidents/YYYYMMDD/<workflow id>/<run id>/.
package evidence

import (
	"context"
	"path"
	"strings"

	"github.com/algotrendy/rewind/storage"
)

// Prefix is the folder of one run's evidence. The run ID keeps a later rollback of the same
// stack on the same day (same workflow ID) from reading or overwriting this one's files.
func Prefix(day, workflowID, runID string) string {
	return path.Join("incidents", day, workflowID, runID)
}

// Activities record notes in an incident's evidence.
type Activities struct {
	Store storage.Store
}

// NoteInput is one text file of evidence.
type NoteInput struct {
	Name string
	Text string
}

// Note writes a text file and returns where it is.
func (a *Activities) Note(ctx context.Context, in NoteInput) (string, error) {
	if err := a.Store.Put(ctx, in.Name, strings.NewReader(in.Text)); err != nil {
		return "", err
	}
	return a.Store.Location(in.Name), nil
}
