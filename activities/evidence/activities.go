package evidence

import (
	"context"
	"strings"
)

// Activities record notes in an incident's evidence.
type Activities struct {
	Store Store
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
