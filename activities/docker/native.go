package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/activities/archive"
	"github.com/algotrendy/rewind/activities/docker/mover"
	"github.com/algotrendy/rewind/activities/meter"
)

// Ways a restore writes into a volume.
const (
	// TransferNative: Rewind's mover, in a helper container with the volume mounted,
	// reads the checked entries from a FIFO on this host and writes them itself.
	TransferNative = "native"
	// TransferArchive: the entries go in batches through the engine's archive API.
	TransferArchive = "archive"
)

// volumeWriter takes a restore's checked entries into a volume, checkpointing as it goes.
type volumeWriter interface {
	// write adds one entry that lands in the volume.
	write(e archive.Entry, content io.Reader) error
	// remember sees an entry a resumed restore skips (written by an earlier attempt).
	remember(e archive.Entry)
	// finish writes what is left and returns once it is all in the volume.
	finish() error
	// abort stops without finishing.
	abort(err error)
}

// streamWriter hands entries to the mover through a FIFO: no copy through the engine, no
// request per batch. The mover acks each batch on stdout once it is written, and only
// then is the batch checkpointed; the writer sends no further than one batch past the
// last ack, so a crash makes it send at most one batch again.
type streamWriter struct {
	a       *Activities
	ctx     context.Context
	volume  string
	kind    string
	saved   func(consumed int, bytes int64) error
	cleanup func()

	closeFIFO func()
	buf       *bufio.Writer
	tw        *tar.Writer
	acks      chan mover.Ack
	exited    chan struct{}
	exitCode  int64
	exitErr   error
	stderr    limitedText
	consumed  int
	done      bool
	peakRSS   int64
	// batch is the mover's batch; unackedBytes and unackedEntries count what was sent
	// since its last ack, as it counts them.
	batch          int64
	unackedBytes   int64
	unackedEntries int
	names          []indexedName
	skipped        []*tar.Header
}

type indexedName struct {
	index int
	name  string
}

// startMover starts the mover on volume and returns a writer feeding it. why says why the
// mover cannot run here (the restore then uses the archive API); nothing was changed.
func (a *Activities) startMover(ctx context.Context, volume, kind string, batch int64, saved func(int, int64) error) (*streamWriter, string, error) {
	if a.ArchiveOnly {
		return nil, "the native mover is turned off on this worker (worker.transfer: archive)", nil
	}
	image, why, err := a.moverImage(ctx)
	if err != nil || why != "" {
		return nil, why, err
	}
	parent := a.StateDir
	if parent != "" {
		if parent, err = filepath.Abs(parent); err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(parent, 0o750); err != nil {
			return nil, "", fmt.Errorf("create state folder: %w", err)
		}
	}
	dir, err := os.MkdirTemp(parent, "mover-")
	if err != nil {
		return nil, "", fmt.Errorf("make the mover's folder: %w", err)
	}
	removeDir := func() { _ = os.RemoveAll(dir) }
	fifoPath := filepath.Join(dir, "stream")
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
		removeDir()
		return nil, "", fmt.Errorf("make the mover's FIFO: %w", err)
	}
	// A container of this name is left by this attempt's earlier call: it reads another FIFO.
	name := "rewind-mover-" + attemptKey(ctx) + "-restore"
	if err := retry(ctx, func() error {
		_, err := a.Engine.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
		return err
	}); err != nil && !gone(err) {
		removeDir()
		return nil, "", fmt.Errorf("remove mover %s left by this attempt: %w", name, err)
	}
	id, err := a.createOnce(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:  image,
			Cmd:    []string{"restore", "--stream", "/stream/stream", "--into", "/data", "--batch", strconv.FormatInt(batch, 10)},
			Labels: map[string]string{HelperLabel: "true", VolumeLabel: volume},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: dir, Target: "/stream"},
			{Type: mount.TypeVolume, Source: volume, Target: "/data"},
		}},
	})
	if cerrdefs.IsInvalidArgument(err) {
		removeDir()
		return nil, "the engine cannot see this worker's folder " + dir + " (run the worker on the Docker host, or mount its state folder at the same path): " + err.Error(), nil
	}
	if err != nil {
		removeDir()
		return nil, "", fmt.Errorf("create the mover for volume %s: %w", volume, err)
	}
	w := &streamWriter{a: a, ctx: ctx, volume: volume, kind: kind, saved: saved, batch: batch, acks: make(chan mover.Ack, 64), exited: make(chan struct{})}
	var removed sync.Once
	w.cleanup = func() {
		removed.Do(func() {
			rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = a.Engine.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
			removeDir()
		})
	}
	attach, err := a.Engine.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		w.cleanup()
		return nil, "", fmt.Errorf("attach to the mover of volume %s: %w", volume, err)
	}
	wait := a.Engine.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if err := retry(ctx, func() error { _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); return err }); err != nil {
		attach.Close()
		w.cleanup()
		return nil, "", fmt.Errorf("start the mover for volume %s: %w", volume, err)
	}
	go func() {
		select {
		case res := <-wait.Result:
			w.exitCode = res.StatusCode
		case err := <-wait.Error:
			w.exitErr = err
		}
		close(w.exited)
	}()
	stdout, stdoutW := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(stdoutW, &w.stderr, attach.Reader)
		attach.Close()
		stdoutW.CloseWithError(err)
	}()
	go func() {
		defer close(w.acks)
		dec := json.NewDecoder(stdout)
		for {
			var ack mover.Ack
			if dec.Decode(&ack) != nil {
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
			w.acks <- ack
		}
	}()
	fifo, err := openWriter(fifoPath, w.exited)
	if err != nil {
		err = w.failed(err)
		w.cleanup()
		return nil, "", err
	}
	_, _ = unix.FcntlInt(fifo.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	var once sync.Once
	w.closeFIFO = func() { once.Do(func() { fifo.Close() }) }
	w.buf = bufio.NewWriterSize(fifo, 1<<20)
	w.tw = tar.NewWriter(w.buf)
	return w, "", nil
}

// openWriter opens the FIFO for writing once the mover has opened it for reading (bytes
// written before would be lost with the pipe), or fails when the mover exits first.
func openWriter(fifo string, exited <-chan struct{}) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-exited:
		// Our blocked open needs a reader to return.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			defer r.Close()
		}
		if o := <-ch; o.f != nil {
			o.f.Close()
		}
		return nil, errors.New("the mover exited before it read anything")
	}
}

func (w *streamWriter) write(e archive.Entry, content io.Reader) error {
	if err := w.writeSkipped(); err != nil {
		return err
	}
	hdr := tagged(archive.Normalize(e.Header, e), e)
	if err := w.tw.WriteHeader(hdr); err != nil {
		return w.failed(fmt.Errorf("send %s to the mover: %w", e.Path, err))
	}
	if hdr.Size > 0 {
		if _, err := io.Copy(w.tw, meter.For(w.ctx, w.kind).Reader(content)); err != nil {
			return w.failed(fmt.Errorf("send %s to the mover: %w", e.Path, err))
		}
	}
	w.names = append(w.names, indexedName{e.Index, e.Path})
	return w.sent(hdr)
}

// sent counts an entry toward the mover's batch; once the batch is full, it waits for
// the mover's ack of it.
func (w *streamWriter) sent(hdr *tar.Header) error {
	w.unackedEntries++
	if hdr.Typeflag == tar.TypeReg {
		w.unackedBytes += hdr.Size
	}
	if w.unackedBytes < w.batch && w.unackedEntries < 4096 {
		return w.drain(false)
	}
	if err := w.buf.Flush(); err != nil {
		return w.failed(fmt.Errorf("send a batch to the mover: %w", err))
	}
	w.unackedBytes, w.unackedEntries = 0, 0
	if ack, ok := <-w.acks; ok {
		if err := w.take(ack); err != nil {
			return err
		}
	}
	return w.drain(false)
}

// remember keeps a skipped folder: the mover sets its metadata again at the end.
func (w *streamWriter) remember(e archive.Entry) {
	if e.Header.Typeflag == tar.TypeDir {
		w.skipped = append(w.skipped, tagged(archive.Normalize(e.Header, e), e))
	}
}

func (w *streamWriter) writeSkipped() error {
	for _, hdr := range w.skipped {
		if err := w.tw.WriteHeader(hdr); err != nil {
			return w.failed(fmt.Errorf("send %s to the mover: %w", hdr.Name, err))
		}
		if err := w.sent(hdr); err != nil {
			return err
		}
	}
	w.skipped = nil
	return nil
}

// tagged adds the entry's index, and its sparseness, for the mover.
func tagged(hdr *tar.Header, e archive.Entry) *tar.Header {
	rec := make(map[string]string, len(hdr.PAXRecords)+2)
	for k, v := range hdr.PAXRecords {
		rec[k] = v
	}
	rec[mover.IndexRecord] = strconv.Itoa(e.Index)
	if e.Sparse {
		rec[mover.SparseRecord] = "1"
	}
	hdr.PAXRecords = rec
	return hdr
}

// drain checkpoints the batches the mover acked; block waits for all of them.
func (w *streamWriter) drain(block bool) error {
	for {
		var ack mover.Ack
		var ok bool
		if block {
			ack, ok = <-w.acks
		} else {
			select {
			case ack, ok = <-w.acks:
			default:
				return nil
			}
		}
		if !ok {
			return nil
		}
		if err := w.take(ack); err != nil {
			return err
		}
	}
}

// take checkpoints one ack.
func (w *streamWriter) take(ack mover.Ack) error {
	if err := w.ctx.Err(); err != nil {
		return err // a cancelled restore stops at once; the retry writes the rest again
	}
	w.consumed = max(w.consumed, ack.Index+1)
	w.done = w.done || ack.Done
	w.peakRSS = max(w.peakRSS, ack.PeakRSS)
	if w.a.onBatch != nil {
		var names []string
		for len(w.names) > 0 && w.names[0].index <= ack.Index {
			names = append(names, w.names[0].name)
			w.names = w.names[1:]
		}
		w.a.onBatch(names)
	}
	return w.saved(w.consumed, ack.Bytes)
}

func (w *streamWriter) finish() error {
	defer w.cleanup()
	if err := w.writeSkipped(); err != nil {
		return err
	}
	err := w.tw.Close()
	if err == nil {
		err = w.buf.Flush()
	}
	w.closeFIFO()
	if err != nil {
		return w.failed(fmt.Errorf("send the last entries to the mover: %w", err))
	}
	if err := w.drain(true); err != nil {
		return err
	}
	<-w.exited
	if w.exitErr != nil || w.exitCode != 0 || !w.done {
		return w.failed(errors.New("the mover stopped before the end"))
	}
	return nil
}

// failed explains a failure by what the mover said.
func (w *streamWriter) failed(err error) error {
	if w.closeFIFO != nil {
		w.closeFIFO()
	}
	<-w.exited
	for range w.acks {
	}
	if w.exitErr != nil {
		return fmt.Errorf("%w; waiting for the mover of volume %s: %v", err, w.volume, w.exitErr)
	}
	if msg := w.stderr.String(); msg != "" {
		return fmt.Errorf("%w; the mover of volume %s exited %d: %s", err, w.volume, w.exitCode, strings.Join(strings.Fields(msg), " "))
	}
	return fmt.Errorf("%w; the mover of volume %s exited %d", err, w.volume, w.exitCode)
}

func (w *streamWriter) abort(error) {
	w.closeFIFO()
	w.cleanup()
}

// limitedText keeps the first 4 KiB written to it, safe for one writer and later readers.
type limitedText struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedText) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.b) < 4096 {
		l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	}
	return len(p), nil
}

func (l *limitedText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
