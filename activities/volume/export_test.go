package volume

import (
	"context"
	"errors"

	"github.com/algotrendy/rewind/meter"
)

// SetOnBatch lets tests see what each restore batch wrote into the volume.
func SetOnBatch(a *Activities, f func(from, to int)) { a.onBatch = f }

// StartCopyAndLeave starts the mover copying from into to and ends this worker's attach
// at once, as a worker killed mid-copy would; it returns the mover's container ID.
func StartCopyAndLeave(ctx context.Context, a *Activities, from, to string) (string, error) {
	m, why, err := a.startMover(ctx, moverTask{Command: "copy", Volume: to, From: from, Kind: meter.Copy, Args: []string{"--batch", "1048576"}},
		func(int, int64) error { return nil }, func() {})
	if err != nil {
		return "", err
	}
	if m == nil {
		return "", errors.New(why)
	}
	m.detach()
	return m.id, nil
}
