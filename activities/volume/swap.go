package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker/mover"
	"github.com/algotrendy/rewind/failure"
)

// ForensicLabel marks a forensic volume with the rollback run that moved a volume's
// damaged content into it; only that run's stored snapshot lets it go.
const ForensicLabel = "io.rewind.forensic"

// Ways a swap puts the staged data in place.
const (
	SwapRename = "rename"
	SwapCopy   = "copy"
)

// SwapInput names the stack's volume, its staging volume and the forensic volume of the
// run that keeps the damaged content.
type SwapInput struct {
	Volume   string
	Staging  string
	Forensic string
	Project  string
	Run      string
	// Inodes, for an undo, are what the swap recorded.
	Inodes mover.Inodes `json:",omitzero"`
}

// SwapResult says how the staged data got in place: renamed (Method rename, the damaged
// content whole in the forensic volume), or not at all (Method copy, Why says why, and
// nothing was changed: the rollback copies instead).
type SwapResult struct {
	Method string
	Why    string `json:",omitempty"`
	Inodes mover.Inodes
}

// PlanSwap finds out whether a volume's content can be swapped with its staging volume's
// by renaming their folders, and readies it: the forensic volume made, the mover image
// built, the folders' inodes recorded. It moves nothing. A swap needs the local volume
// driver, one volumes folder for all three volumes, and a worker binary that runs in a
// FROM-scratch image (static); otherwise the result says why and the rollback copies.
func (a *Activities) PlanSwap(ctx context.Context, in SwapInput) (SwapResult, error) {
	if in.Volume == "" || in.Staging == "" || in.Forensic == "" || in.Run == "" {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("a swap needs a volume, its staging volume, a forensic volume and a run", failure.BadInput, nil)
	}
	if a.NoRename {
		return SwapResult{Method: SwapCopy, Why: "renames are turned off on this worker (worker.swap: copy)"}, nil
	}
	live, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Volume})
	if err != nil {
		return SwapResult{}, err
	}
	if !live.Exists {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("no volume "+in.Volume+" to swap", failure.NoSuchVolume, nil)
	}
	if why := renameable(live); why != "" {
		return SwapResult{Method: SwapCopy, Why: why}, nil
	}
	labels := map[string]string{ForensicLabel: in.Run, VolumeLabel: in.Volume, ProjectLabelRewind: in.Project}
	forensic, err := a.CreateVolume(ctx, VolumeInfo{Name: in.Forensic, Labels: labels})
	if err != nil {
		return SwapResult{}, err
	}
	staging, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Staging})
	if err != nil {
		return SwapResult{}, err
	}
	root := volumesRoot(live)
	if root != volumesRoot(staging) || root != volumesRoot(forensic) {
		return SwapResult{Method: SwapCopy, Why: "the volumes are not in one folder of the engine's"}, nil
	}
	image, why, err := a.moverImage(ctx)
	if err != nil {
		return SwapResult{}, err
	}
	if why != "" {
		return SwapResult{Method: SwapCopy, Why: why}, nil
	}
	v := mover.Volumes{Root: "/volumes", Live: in.Volume, Staging: in.Staging, Forensic: in.Forensic}
	out, err := a.runMover(ctx, image, root, "inodes", v, mover.Inodes{})
	if err != nil {
		return SwapResult{}, err
	}
	res := SwapResult{Method: SwapRename}
	if err := json.Unmarshal(out, &res.Inodes); err != nil {
		return SwapResult{}, fmt.Errorf("read what the mover found: %w", err)
	}
	return res, nil
}

// SwapVolume renames the volume's content into the forensic volume and the staged content
// into the volume, as PlanSwap readied it; done renames are not done again.
func (a *Activities) SwapVolume(ctx context.Context, in SwapInput) (SwapResult, error) {
	return a.mover(ctx, "swap", in)
}

// UnswapVolume undoes a swap, whole or begun: the damaged content back into the volume
// from the forensic volume, the staged content back into staging.
func (a *Activities) UnswapVolume(ctx context.Context, in SwapInput) (SwapResult, error) {
	return a.mover(ctx, "unswap", in)
}

func (a *Activities) mover(ctx context.Context, command string, in SwapInput) (SwapResult, error) {
	if in.Inodes == (mover.Inodes{}) {
		return SwapResult{}, temporal.NewNonRetryableApplicationError(command+" needs the inodes PlanSwap recorded", failure.BadInput, nil)
	}
	live, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Volume})
	if err != nil {
		return SwapResult{}, err
	}
	if !live.Exists {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("no volume "+in.Volume+" to put back", failure.NoSuchVolume, nil)
	}
	// A server runs on the folder it opened, wherever it is renamed to: a rename under it
	// leaves it writing into the staging or forensic volume, which is then removed.
	if err := a.refuseRunning(ctx, command+" volume "+in.Volume+" by rename", in.Volume, in.Staging, in.Forensic); err != nil {
		return SwapResult{}, err
	}
	image, why, err := a.moverImage(ctx)
	if err != nil {
		return SwapResult{}, err
	}
	if why != "" {
		return SwapResult{}, temporal.NewNonRetryableApplicationError(command+" of "+in.Volume+" by rename: "+why+"; the damaged content is whole in volume "+in.Forensic, failure.BadInput, nil)
	}
	v := mover.Volumes{Root: "/volumes", Live: in.Volume, Staging: in.Staging, Forensic: in.Forensic}
	if _, err := a.runMover(ctx, image, volumesRoot(live), command, v, in.Inodes); err != nil {
		return SwapResult{}, err
	}
	return SwapResult{Method: SwapRename, Inodes: in.Inodes}, nil
}

// renameable says why a volume's folder cannot be renamed, or "" when it can: the local
// driver without options keeps a volume as a plain folder of the engine's.
func renameable(v VolumeInfo) string {
	switch {
	case v.Driver != "local":
		return "volume " + v.Name + " uses the " + v.Driver + " driver"
	case len(v.DriverOpts) > 0:
		return "volume " + v.Name + " is mounted from elsewhere (driver options)"
	case filepath.Base(v.Mountpoint) != "_data":
		return "volume " + v.Name + " is not kept as <volumes>/<name>/_data"
	}
	return ""
}

// volumesRoot is the engine's volumes folder a volume lies in, as the engine reports it.
func volumesRoot(v VolumeInfo) string { return filepath.Dir(filepath.Dir(v.Mountpoint)) }

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

// PrepareMover builds the mover image ahead of the first rollback, as the worker starts.
// why says why restores and swaps will take the archive API instead.
func (a *Activities) PrepareMover(ctx context.Context) (string, error) {
	if a.ArchiveOnly {
		return "worker.transfer: archive", nil
	}
	_, why, err := a.moverImage(ctx)
	return why, err
}

// moverImageCache remembers the mover image of this process's binary.
type moverImageCache struct {
	mu   sync.Mutex
	name string
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
	} else if !gone(err) {
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

// createOnce creates a container by name, sending the request again when the connection
// failed; one the engine made before its answer got lost is found by its name.
func (a *Activities) createOnce(ctx context.Context, opts client.ContainerCreateOptions) (string, error) {
	var id string
	err := retry(ctx, func() error {
		res, err := a.Engine.ContainerCreate(ctx, opts)
		if cerrdefs.IsConflict(err) {
			found, ierr := a.Engine.ContainerInspect(ctx, opts.Name, client.ContainerInspectOptions{})
			if ierr != nil {
				return ierr
			}
			id = found.Container.ID
			return nil
		}
		if err == nil {
			id = res.ID
		}
		return err
	})
	return id, err
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

// runMover runs the mover in a helper container that mounts the engine's volumes folder,
// and returns what it printed.
func (a *Activities) runMover(ctx context.Context, image, root, command string, v mover.Volumes, in mover.Inodes) ([]byte, error) {
	args := []string{command, "--root", "/volumes", "--live", v.Live, "--staging", v.Staging, "--forensic", v.Forensic,
		"--live-inode", fmt.Sprint(in.Live), "--staging-inode", fmt.Sprint(in.Staging)}
	if command == "swap" && a.StopSwapBetweenMoves {
		args = append(args, "--stop-between-moves")
	}
	return a.runHelperMover(ctx, image, command, v.Live, args, &container.HostConfig{Binds: []string{root + ":/volumes"}, NetworkMode: "none"})
}

// runHelperMover runs the mover with args in a helper container for volume, and returns
// what it printed.
func (a *Activities) runHelperMover(ctx context.Context, image, command, volume string, args []string, hc *container.HostConfig) ([]byte, error) {
	name := "rewind-mover-" + attemptKey(ctx) + "-" + command + "-" + volume
	id, err := a.createOnce(ctx, client.ContainerCreateOptions{
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
	if err := retry(ctx, func() error { _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); return err }); err != nil {
		return nil, fmt.Errorf("start the mover for volume %s: %w", volume, err)
	}
	var code int64
	err = retry(ctx, func() error {
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
	err = retry(ctx, func() error {
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
