package volume_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/activities/volume"
)

// fakeEngine keeps volumes as maps of files and answers the calls a transfer through the
// archive API makes: helpers are records of which volume they mount, and a batch sent to
// one lands in that volume. Calls a test does not expect reach the nil Engine and panic.
type fakeEngine struct {
	volume.Engine

	mu      sync.Mutex
	volumes map[string]*fakeVolume
	helpers map[string]string // container ID → the volume it mounts at /data
	// batches counts the batches sent into volumes; before, when set, runs before batch n
	// (from 1) is taken, and an error it returns refuses the batch, as a dropped
	// connection would.
	batches int
	before  func(n int) error
}

// fakeVolume is a volume's regular files by name, and how many times each was written.
type fakeVolume struct {
	files  map[string][]byte
	writes map[string]int
}

func newFakeEngine(volumes ...string) *fakeEngine {
	e := &fakeEngine{volumes: map[string]*fakeVolume{}, helpers: map[string]string{}}
	for _, v := range volumes {
		e.volumes[v] = &fakeVolume{files: map[string][]byte{}, writes: map[string]int{}}
	}
	return e
}

func (e *fakeEngine) VolumeInspect(_ context.Context, name string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.volumes[name] == nil {
		return client.VolumeInspectResult{}, fmt.Errorf("volume %s: %w", name, cerrdefs.ErrNotFound)
	}
	return client.VolumeInspectResult{Volume: volumetypes.Volume{Name: name, Driver: "local"}}, nil
}

// ContainerList finds no container: nothing mounts the volumes, no helper is left over.
func (e *fakeEngine) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}

func (e *fakeEngine) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	bind := strings.Split(o.HostConfig.Binds[0], ":")
	if bind[1] != "/data" {
		return client.ContainerCreateResult{}, fmt.Errorf("a helper mounts its volume at /data, not %s", bind[1])
	}
	id := fmt.Sprintf("helper%d", len(e.helpers))
	e.helpers[id] = bind[0]
	return client.ContainerCreateResult{ID: id}, nil
}

func (e *fakeEngine) ContainerRemove(_ context.Context, id string, _ client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.helpers[id]; !ok {
		return client.ContainerRemoveResult{}, fmt.Errorf("container %s: %w", id, cerrdefs.ErrNotFound)
	}
	delete(e.helpers, id)
	return client.ContainerRemoveResult{}, nil
}

// ImageInspect finds the helper image: it is there.
func (e *fakeEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, nil
}

// CopyToContainer takes one batch: every entry under data/ lands in the helper's volume,
// or, when before refuses the batch, none does.
func (e *fakeEngine) CopyToContainer(_ context.Context, id string, o client.CopyToContainerOptions) (client.CopyToContainerResult, error) {
	batch, err := io.ReadAll(o.Content)
	if err != nil {
		return client.CopyToContainerResult{}, err
	}
	e.mu.Lock()
	e.batches++
	n, before := e.batches, e.before
	e.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return client.CopyToContainerResult{}, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.volumes[e.helpers[id]]
	tr := tar.NewReader(bytes.NewReader(batch))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return client.CopyToContainerResult{}, nil
		}
		if err != nil {
			return client.CopyToContainerResult{}, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return client.CopyToContainerResult{}, err
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "data/")
		v.files[name] = body
		v.writes[name]++
	}
}

// CopyFromContainer reads a volume as the engine's archive of /data does: the root
// folder, then its files in the same order every time.
func (e *fakeEngine) CopyFromContainer(_ context.Context, id string, _ client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.volumes[e.helpers[id]]
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return client.CopyFromContainerResult{}, err
	}
	names := make([]string, 0, len(v.files))
	for name := range v.files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		body := v.files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "data/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			return client.CopyFromContainerResult{}, err
		}
		if _, err := tw.Write(body); err != nil {
			return client.CopyFromContainerResult{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return client.CopyFromContainerResult{}, err
	}
	return client.CopyFromContainerResult{Content: io.NopCloser(&buf)}, nil
}

// volume returns a copy of a volume's files and of how often each was written.
func (e *fakeEngine) volume(name string) (map[string][]byte, map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.volumes[name]
	files, writes := map[string][]byte{}, map[string]int{}
	for k, b := range v.files {
		files[k] = b
	}
	for k, n := range v.writes {
		writes[k] = n
	}
	return files, writes
}
