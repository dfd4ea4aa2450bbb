// The mover is Rewind's own program for a volume's bytes (package mover): the worker's
// binary, run in mover mode in a helper container from an image of that binary. This file
// builds that image, starts the mover and follows it while it runs.

package volume

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
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
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/meter"
)

// moverImageCache remembers the mover image of this process's binary.
type moverImageCache struct {
	mu   sync.Mutex
	name string
}

// moverImage makes sure the helper image that carries this worker's own binary exists:
// FROM scratch, built through the Engine API, named after the binary's hash so each build
// of the worker brings its own. why says why it cannot be built (no error: the swap copies).
func (a *Activities) moverImage(ctx context.Context) (string, string, error) {
	a.builtMover.mu.Lock()
	defer a.builtMover.mu.Unlock()
	if name := a.builtMover.name; name != "" {
		if _, err := a.Engine.ImageInspect(ctx, name); err == nil {
			return name, "", nil
		}
	}
	name, why, err := a.buildMoverImage(ctx)
	if err == nil && why == "" {
		a.builtMover.name = name
	}
	return name, why, err
}

// PrepareMover builds the mover image of a's worker ahead of the first rollback, as the
// worker starts. why says why restores and swaps will take the archive API instead. It is
// no method of Activities: those are the steps the worker registers.
func PrepareMover(ctx context.Context, a *Activities) (string, error) {
	if a.ArchiveOnly {
		return "worker.transfer: archive", nil
	}
	_, why, err := a.moverImage(ctx)
	return why, err
}

// buildMoverImage hashes the binary and imports its image unless the engine has it.
func (a *Activities) buildMoverImage(ctx context.Context) (string, string, error) {
	exe := a.Mover
	if exe == "" {
		self, err := os.Executable()
		if err != nil {
			return "", "this worker cannot find its own binary: " + err.Error(), nil
		}
		exe = self
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", "this worker cannot read its own binary: " + err.Error(), nil
	}
	defer f.Close()
	if why := staticBinary(f); why != "" {
		return "", why, nil
	}
	h := sha256.New()
	st, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return "", "", fmt.Errorf("hash the worker binary: %w", err)
	}
	image := "rewind-mover:" + hex.EncodeToString(h.Sum(nil))[:12]
	if _, err := a.Engine.ImageInspect(ctx, image); err == nil {
		return image, "", nil
	} else if !engine.Gone(err) {
		return "", "", fmt.Errorf("inspect helper image %s: %w", image, err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "volumes/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()})
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: "mover", Mode: 0o755, Size: st.Size(), ModTime: time.Now()})
		}
		if err == nil {
			_, err = io.Copy(tw, io.NewSectionReader(f, 0, st.Size()))
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	res, err := a.Engine.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, image,
		client.ImageImportOptions{Changes: []string{`ENTRYPOINT ["/mover", "mover"]`}, Message: "Rewind volume mover"})
	if err != nil {
		return "", "", fmt.Errorf("import helper image %s: %w", image, err)
	}
	defer res.Close()
	if _, err := io.Copy(io.Discard, res); err != nil {
		return "", "", fmt.Errorf("import helper image %s: %w", image, err)
	}
	return image, "", nil
}

// staticBinary says why a binary cannot run in a FROM-scratch image, or "" when it can.
func staticBinary(r io.ReaderAt) string {
	f, err := elf.NewFile(r)
	if err != nil {
		return "this worker's binary is not an ELF program"
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "this worker's binary is linked dynamically (build it with CGO_ENABLED=0 to swap by rename)"
		}
	}
	return ""
}

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

// runningMover is one run of the mover that writes into a volume, in a helper container:
// a restore, fed through a FIFO on this host (the worker reads, hashes and decompresses
// the backup with the host's gzip tool; the mover checks every entry with the same rules
// and writes the volume's files itself), or a copy from another volume. It acks each
// batch on stdout; only acked batches are checkpointed.
type runningMover struct {
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

// startMover starts the mover. A restore returns with a writer feeding it. why says why
// the mover cannot run here (the caller then uses the archive API); nothing was changed.
func (a *Activities) startMover(ctx context.Context, t moverTask, saved func(int, int64) error, beat func()) (*runningMover, string, error) {
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
	// Named by attempt and volume: engine.CreateOnce takes a container of this name for its own.
	name := "rewind-mover-" + attemptKey(ctx) + "-" + t.Command + "-" + volume
	id, err := engine.CreateOnce(ctx, a.Engine, client.ContainerCreateOptions{
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
	w := &runningMover{a: a, ctx: ctx, volume: volume, kind: t.Kind, saved: saved, beat: beat, consumed: t.Skip, acks: make(chan mover.Ack, 64), exited: make(chan struct{})}
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
	if err := engine.Retry(ctx, func() error { _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); return err }); err != nil {
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

// drain checkpoints the batches the mover acked; block waits for all of them.
func (w *runningMover) drain(block bool) error {
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
func (w *runningMover) take(ack mover.Ack) error {
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
func (w *runningMover) failed(err error) error {
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

// runMoverOnce runs the mover with args in a helper container for volume, and returns
// what it printed.
func (a *Activities) runMoverOnce(ctx context.Context, image, command, volume string, args []string, hc *container.HostConfig) ([]byte, error) {
	name := "rewind-mover-" + attemptKey(ctx) + "-" + command + "-" + volume
	id, err := engine.CreateOnce(ctx, a.Engine, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: image, Cmd: args, Labels: map[string]string{HelperLabel: "true", VolumeLabel: volume}},
		HostConfig: hc,
	})
	if err != nil {
		return nil, fmt.Errorf("create the mover for volume %s: %w", volume, err)
	}
	defer func() {
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = a.Engine.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
	}()
	if err := engine.Retry(ctx, func() error { _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); return err }); err != nil {
		return nil, fmt.Errorf("start the mover for volume %s: %w", volume, err)
	}
	var code int64
	err = engine.Retry(ctx, func() error {
		wait := a.Engine.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case res := <-wait.Result:
			code = res.StatusCode
			return nil
		case err := <-wait.Error:
			return err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the mover of volume %s: %w", volume, err)
	}
	var out, errOut bytes.Buffer
	err = engine.Retry(ctx, func() error {
		out.Reset()
		errOut.Reset()
		logs, err := a.Engine.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return err
		}
		defer logs.Close()
		_, err = stdcopy.StdCopy(&out, &errOut, logs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the mover's answer: %w", err)
	}
	if code != 0 {
		msg := strings.TrimSpace(errOut.String())
		if code == 1 {
			// The mover refused (content it did not record): no retry changes that.
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s of volume %s: %s", command, volume, msg), failure.BadInput, nil)
		}
		return nil, fmt.Errorf("%s of volume %s: exit %d: %s", command, volume, code, msg)
	}
	return out.Bytes(), nil
}
