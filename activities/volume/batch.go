package volume

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/meter"
)

// batchWriter sends entries into a volume through the archive API, one PUT per batch, and
// calls saved once the engine has taken each batch.
type batchWriter struct {
	a      *Activities
	ctx    context.Context
	helper string
	volume string
	limit  int64
	// kind is the meter the bytes count toward.
	kind  string
	saved func(consumed int, bytes int64) error
	// from is the first backup entry of the batch being written.
	from int

	pw       *io.PipeWriter
	tw       *tar.Writer
	done     chan error
	consumed int
	bytes    int64
	names    []string
	batches  int
	// folders are the folder entries written, as sent: a later batch that writes into a
	// folder changes its mtime, so finish sends them again.
	folders []*tar.Header
}

func (a *Activities) newBatchWriter(ctx context.Context, helper, volume string, limit int64, kind string, saved func(int, int64) error) *batchWriter {
	return &batchWriter{a: a, ctx: ctx, helper: helper, volume: volume, limit: limit, kind: kind, saved: saved}
}

// write adds one checked entry to the current batch; a full batch is sent.
func (w *batchWriter) write(e archive.Entry, content io.Reader) error {
	w.remember(e)
	if w.tw == nil {
		w.open()
	}
	// Names go under data/ and land through the helper's root: the engine skips an entry
	// named ".", which would lose the volume root's owner and mode.
	n, err := archive.WriteEntry(w.tw, "data", e, meter.For(w.ctx, w.kind).Reader(content))
	if err != nil {
		return err
	}
	w.consumed, w.bytes = e.Index+1, w.bytes+n
	w.names = append(w.names, e.Path)
	if w.bytes >= w.limit || len(w.names) >= 4096 {
		return w.flush()
	}
	return nil
}

// writeRaw adds an entry that needs no checking (it comes from a volume Rewind filled).
func (w *batchWriter) writeRaw(index int, hdr *tar.Header, content io.Reader) error {
	if hdr.Typeflag == tar.TypeDir {
		w.folders = append(w.folders, hdr)
	}
	if w.tw == nil {
		w.open()
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header of %s: %w", hdr.Name, err)
	}
	n, err := io.Copy(w.tw, meter.For(w.ctx, w.kind).Reader(content))
	if err != nil {
		return fmt.Errorf("write %s: %w", hdr.Name, err)
	}
	w.consumed, w.bytes = index+1, w.bytes+n
	w.names = append(w.names, path.Clean(hdr.Name))
	if w.bytes >= w.limit || len(w.names) >= 4096 {
		return w.flush()
	}
	return nil
}

// remember keeps a folder entry to send again at the end.
func (w *batchWriter) remember(e archive.Entry) {
	if e.Header.Typeflag == tar.TypeDir {
		w.folders = append(w.folders, archive.Under("data", archive.Normalize(e.Header, e)))
	}
}

// finish sends the last batch and, when there were several, every folder again, so each
// ends with the mode, owner and mtime the backup holds.
func (w *batchWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.batches <= 1 || len(w.folders) == 0 {
		return nil
	}
	w.open()
	for _, h := range w.folders {
		if err := w.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write header of %s: %w", h.Name, err)
		}
	}
	w.folders = nil
	return w.flush()
}

func (w *batchWriter) open() {
	pr, pw := io.Pipe()
	w.pw, w.done = pw, make(chan error, 1)
	w.tw = tar.NewWriter(pw)
	go func() {
		_, err := w.a.Engine.CopyToContainer(w.ctx, w.helper, copyToOptions(pr))
		pr.CloseWithError(err)
		w.done <- err
	}()
}

// flush ends the batch, waits for the engine to take it and checkpoints.
func (w *batchWriter) flush() error {
	if w.tw == nil {
		return w.saved(w.consumed, 0)
	}
	err := w.tw.Close()
	w.pw.CloseWithError(err)
	if cerr := <-w.done; err == nil && cerr != nil {
		err = fmt.Errorf("write into volume %s through the archive API: %w", w.volume, cerr)
	}
	w.tw = nil
	if err != nil {
		return err
	}
	w.batches++
	if w.a.onBatch != nil {
		w.a.onBatch(w.from, w.consumed)
	}
	w.from = w.consumed
	bytes := w.bytes
	w.bytes, w.names = 0, nil
	return w.saved(w.consumed, bytes)
}

// abort ends a batch in flight without letting the engine take a half-written one.
func (w *batchWriter) abort(err error) {
	if w.tw != nil {
		w.pw.CloseWithError(cmp.Or(err, errors.New("restore stopped")))
		<-w.done
		w.tw = nil
	}
}

func copyToOptions(content io.Reader) client.CopyToContainerOptions {
	return client.CopyToContainerOptions{DestinationPath: "/", Content: content, CopyUIDGID: true}
}
