package docker

import (
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

	"github.com/algotrendy/rewind/activities/docker/mover"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/meter"
)

// Ways a restore writes into a volume.
const (
	// TransferNative: Rewind's mover, in a helper container with the volume mounted,
	// reads the checked entries from a FIFO on this host and writes them itself.
	TransferNative = "native"
	// TransferArchive: the entries go in batches through the engine's archive API.
	TransferArchive = "archive"
)

// moverRun is Rewind's mover restoring a backup into a volume, in a helper container, fed
// through a FIFO on this host: the worker reads, hashes and decompresses the backup (with
// the host's gzip tool), the mover checks every entry with the same rules and writes the
// volume's files itself, acking each batch on stdout. Only acked batches are
// checkpointed.
type moverRun struct {
	a       *Activities
	ctx     context.Context
	volume  string
	kind    string
	id      string
	detach  func() // ends this worker's attach, as its death would
	saved   func(consumed int, bytes int64) error
	beat    func()
	cleanup func()

	fifo      *os.File
	closeFIFO func()
	acks      chan mover.Ack
	exited    chan struct{}
	exitCode  int64
	exitErr   error
	stderr    limitedText
	consumed  int
	done      bool
	peakRSS   int64
	sum       archive.Summary
	refused   *mover.Ack
}

// MoverLabel marks a mover that writes into a volume (VolumeLabel), by its command.
const MoverLabel = "io.rewind.mover"

// moverTask is one run of the mover: a restore, fed through a FIFO, or a copy from one
// volume into another. Args are the command's own flags.
type moverTask struct {
	Command string // restore or copy
	Volume  string // written, mounted at /data
	From    string // copy: read, mounted read-only at /from
	Args    []string
	Skip    int    // entries an earlier attempt wrote
	Kind    string // what the bytes count as (meter)
}

// startMover starts the mover. A restore returns with a writer feeding it. why says why
// the mover cannot run here (the caller then uses the archive API); nothing was changed.
func (a *Activities) startMover(ctx context.Context, t moverTask, saved func(int, int64) error, beat func()) (*moverRun, string, error) {
	if a.ArchiveOnly {
		return nil, "the native mover is turned off on this worker (worker.transfer: archive)", nil
	}
	image, why, err := a.moverImage(ctx)
	if err != nil || why != "" {
		return nil, why, err
	}
	volume := t.Volume
	cmd := append([]string{t.Command, "--into", "/data", "--skip", strconv.Itoa(t.Skip)}, t.Args...)
	mounts := []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: "/data"}}
	lifeline := t.From != ""
	if t.From != "" {
		// A copy reads nothing from this worker: it stops when the worker's attached stdin
		// closes, as a restore stops when its FIFO does, so a killed worker's mover does
		// not write on beside the next attempt's.
		cmd = append(cmd, "--from", "/from", "--stdin-lifeline")
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: t.From, Target: "/from", ReadOnly: true})
	}
	dir, fifoPath := "", ""
	if t.Command == "restore" {
		if dir, err = a.moverFolder(); err != nil {
			return nil, "", err
		}
		fifoPath = filepath.Join(dir, "stream")
		if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
			_ = os.RemoveAll(dir)
			return nil, "", fmt.Errorf("make the mover's FIFO: %w", err)
		}
		cmd = append(cmd, "--stream", "/stream/stream")
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/stream"})
	}
	removeDir := func() {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	// A mover still writing into this volume is an earlier attempt's (one rollback of a
	// stack runs at a time): a copy's would go on after its worker died, beside this one.
	if err := a.removeMovers(ctx, volume); err != nil {
		removeDir()
		return nil, "", err
	}
	// Named by attempt and volume: createOnce takes a container of this name for its own.
	name := "rewind-mover-" + attemptKey(ctx) + "-" + t.Command + "-" + volume
	id, err := a.createOnce(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:  image,
			Cmd:    cmd,
			Labels: map[string]string{HelperLabel: "true", VolumeLabel: volume, MoverLabel: t.Command},
			// StdinOnce: the engine closes the mover's stdin when this worker's attach ends.
			OpenStdin: lifeline, StdinOnce: lifeline, AttachStdin: lifeline,
		},
		HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: mounts},
	})
	if cerrdefs.IsInvalidArgument(err) {
		removeDir()
		return nil, "the engine cannot see this worker's folder " + dir + " (run the worker on the Docker host, or mount its state folder at the same path): " + err.Error(), nil
	}
	if err != nil {
		removeDir()
		return nil, "", fmt.Errorf("create the mover for volume %s: %w", volume, err)
	}
	w := &moverRun{a: a, ctx: ctx, volume: volume, kind: t.Kind, saved: saved, beat: beat, consumed: t.Skip, acks: make(chan mover.Ack, 64), exited: make(chan struct{})}
	var removed sync.Once
	w.cleanup = func() {
		removed.Do(func() {
			rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = a.Engine.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
			removeDir()
		})
	}
	attach, err := a.Engine.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: lifeline, Stdout: true, Stderr: true})
	if err != nil {
		w.cleanup()
		return nil, "", fmt.Errorf("attach to the mover of volume %s: %w", volume, err)
	}
	w.id, w.detach = id, attach.Close
	if err := retry(ctx, func() error { _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); return err }); err != nil {
		attach.Close()
		w.cleanup()
		return nil, "", fmt.Errorf("start the mover for volume %s: %w", volume, err)
	}
	// Waited on once started (not-running answers at once for one that already exited),
	// and off this goroutine: the client sends a wait before it returns, and an answer
	// that does not come must not keep the worker from feeding the mover.
	go func() {
		wait := a.Engine.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
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
	if fifoPath == "" {
		return w, "", nil
	}
	fifo, err := openWriter(fifoPath, w.exited)
	if err != nil {
		err = w.failed(err)
		w.cleanup()
		return nil, "", err
	}
	_, _ = unix.FcntlInt(fifo.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	var once sync.Once
	w.fifo = fifo
	w.closeFIFO = func() { once.Do(func() { fifo.Close() }) }
	return w, "", nil
}

// removeMovers removes the movers that write into volume.
func (a *Activities) removeMovers(ctx context.Context, volume string) error {
	return a.removeContainers(ctx, make(client.Filters).Add("label", MoverLabel).Add("label", VolumeLabel+"="+volume), "movers of volume "+volume)
}

// moverFolder makes the folder the restore's FIFO lives in, under the state folder: the
// engine must see it at the same path.
func (a *Activities) moverFolder() (string, error) {
	parent := a.StateDir
	if parent != "" {
		var err error
		if parent, err = filepath.Abs(parent); err != nil {
			return "", err
		}
		if err := os.MkdirAll(parent, 0o750); err != nil {
			return "", fmt.Errorf("create state folder: %w", err)
		}
	}
	dir, err := os.MkdirTemp(parent, "mover-")
	if err != nil {
		return "", fmt.Errorf("make the mover's folder: %w", err)
	}
	return dir, nil
}

// copy waits for the mover's copy to end, checkpointing its acks as they come; between
// acks (a batch can take a while on a slow disk) it beats while the mover runs.
func (w *moverRun) copy() error {
	defer w.cleanup()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var err error
	for acks := w.acks; acks != nil && err == nil; {
		select {
		case ack, ok := <-acks:
			if !ok {
				acks = nil
				break
			}
			err = w.take(ack)
		case <-tick.C:
			w.beat()
		case <-w.ctx.Done():
			err = w.ctx.Err() // the mover is removed on the way out
		}
	}
	if err != nil {
		return w.failed(err)
	}
	<-w.exited
	switch {
	case w.ctx.Err() != nil:
		return w.ctx.Err()
	case w.refused != nil || w.exitErr != nil || w.exitCode != 0 || !w.done:
		return w.failed(errors.New("the mover stopped before the end of the copy"))
	}
	return nil
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

// restore decompresses the backup into the FIFO until its end, checkpointing the
// mover's acks as they come, and returns what the mover's walk found.
func (w *moverRun) restore(backup io.Reader) (archive.Summary, error) {
	defer w.cleanup()
	src := &archive.Source{R: backup}
	raw, err := archive.Gunzip(w.ctx, src)
	if err != nil {
		w.closeFIFO()
		_ = w.drain(true)
		<-w.exited
		return archive.Summary{}, &archive.CorruptError{Err: fmt.Errorf("open gzip: %w", err)}
	}
	buf := make([]byte, 1<<20)
	var gzErr, stopErr error
	for {
		n, rerr := raw.Read(buf)
		if n > 0 {
			if _, err := w.fifo.Write(buf[:n]); err != nil {
				stopErr = fmt.Errorf("send the backup to the mover: %w", err)
				break
			}
		}
		if err := w.drain(false); err != nil {
			stopErr = err
			break
		}
		w.beat()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			gzErr = rerr
			break
		}
	}
	w.closeFIFO()
	raw.Close()
	if err := w.drain(true); err != nil && stopErr == nil {
		stopErr = err
	}
	<-w.exited
	switch {
	case w.ctx.Err() != nil:
		return archive.Summary{}, fmt.Errorf("read backup: %w", w.ctx.Err())
	case src.Failure() != nil:
		return archive.Summary{}, fmt.Errorf("read backup: %w", src.Failure()) // worth a retry
	case w.refused != nil:
		return archive.Summary{}, &moverRefusal{kind: w.refused.Refused, msg: w.refused.Error}
	case gzErr != nil:
		return archive.Summary{}, &archive.CorruptError{Entries: w.consumed, Err: gzErr}
	case stopErr != nil:
		return archive.Summary{}, w.failed(stopErr)
	case w.exitErr != nil || w.exitCode != 0 || !w.done:
		return archive.Summary{}, w.failed(errors.New("the mover stopped before the end"))
	}
	return w.sum, nil
}

// moverRefusal is a backup the mover's walk refused, by the rule it broke.
type moverRefusal struct{ kind, msg string }

func (e *moverRefusal) Error() string { return e.msg }

// drain checkpoints the batches the mover acked; block waits for all of them.
func (w *moverRun) drain(block bool) error {
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
func (w *moverRun) take(ack mover.Ack) error {
	if ack.Refused != "" {
		w.refused = &ack
	}
	if ack.Error != "" {
		return nil // the mover stopped; what it wrote since its last ack is not counted
	}
	if err := w.ctx.Err(); err != nil {
		return err // a cancelled restore stops at once; the retry writes the rest again
	}
	from := w.consumed
	w.consumed = max(w.consumed, ack.Index+1)
	w.done = w.done || ack.Done
	w.peakRSS = max(w.peakRSS, ack.PeakRSS)
	if ack.Summary != nil {
		w.sum = *ack.Summary
	}
	if err := w.saved(w.consumed, ack.Bytes); err != nil {
		return err
	}
	if w.a.onBatch != nil {
		w.a.onBatch(from, w.consumed)
	}
	// Counted once checkpointed: the bytes a crash after this point makes the next attempt
	// write again are the next batch's, not these.
	meter.For(w.ctx, w.kind).Add(ack.Bytes)
	return nil
}

// failed explains a failure by what the mover said.
func (w *moverRun) failed(err error) error {
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
