package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// engineProxy stands between a worker and the Docker Engine's socket and injects faults
// into the requests it passes on, once armed: every dropEvery-th request is cut before it
// reaches the engine, every loseEvery-th change has its answer lost after the engine acted on it,
// every delayEvery-th waits delay first, and requests deny matches are refused with 403,
// as an authorization plugin refuses them.
type engineProxy struct {
	socket                           string
	armed                            atomic.Bool
	dropEvery, loseEvery, delayEvery int64
	delay                            time.Duration
	deny                             func(*http.Request) bool
	// refuseWritesInto refuses the first write into this volume, an archive upload into a
	// container that mounts it or the create of a container that mounts it for writing
	// (Rewind's mover): "the engine refuses the move" at one chosen step.
	refuseWritesInto string
	// uploadBytesPerSecond slows archive uploads down to this rate; 0: full speed.
	uploadBytesPerSecond int64

	requests, dropped, lost, delayed, denied atomic.Int64
	// buildBytes counts the build contexts sent to the engine, armed or not.
	buildBytes atomic.Int64
	mu         sync.Mutex
	// mounts are the volumes each container created through the proxy mounts.
	mounts  map[string][]string
	refused bool
}

func startEngineProxy(t *testing.T, upstream string, p *engineProxy) *engineProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	require.Equal(t, "unix", u.Scheme, "the proxy stands in front of a unix socket")
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", u.Path)
	}
	p.mounts = map[string][]string{}
	rp := &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport:      &http.Transport{DialContext: dial, DisableCompression: true},
		FlushInterval:  -1, // events and logs stream as they come
		ModifyResponse: p.learnMounts,
	}
	p.socket = filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", p.socket)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteMounts(r)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/build") {
			r.Body = &countedBody{ReadCloser: r.Body, n: &p.buildBytes}
		}
		if !p.armed.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		n := p.requests.Add(1)
		if p.uploadBytesPerSecond > 0 && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/archive") {
			r.Body = &slowBody{ReadCloser: r.Body, rate: p.uploadBytesPerSecond, start: time.Now()}
		}
		switch {
		case p.refusesWrite(r):
			p.denied.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"message":"authorization denied by plugin rewind-test-authz: writes into volume ` + p.refuseWritesInto + ` are not allowed"}`))
			return
		case p.deny != nil && p.deny(r):
			p.denied.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"message":"authorization denied by plugin rewind-test-authz: ` + r.Method + ` ` + r.URL.Path + ` is not allowed"}`))
			return
		case p.dropEvery > 0 && n%p.dropEvery == 0:
			p.dropped.Add(1)
			hangUp(w)
			return
		case p.delayEvery > 0 && n%p.delayEvery == 0:
			p.delayed.Add(1)
			time.Sleep(p.delay) // the injected fault: a slow engine
		}
		// Answers of reads are kept: a lost answer matters where the engine changed something.
		if p.loseEvery > 0 && n%p.loseEvery == 0 && r.Method != http.MethodGet && r.Header.Get("Upgrade") == "" {
			p.lost.Add(1)
			rec := &discard{header: http.Header{}}
			rp.ServeHTTP(rec, r) // the engine acts on it ...
			hangUp(w)            // ... and its answer never arrives
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// learnMounts records which volumes a container created through the proxy mounts.
func (p *engineProxy) learnMounts(resp *http.Response) error {
	r := resp.Request
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/containers/create") || resp.StatusCode != http.StatusCreated {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var created struct{ Id string }
	if json.Unmarshal(body, &created) != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mounts[created.Id] = strings.Split(r.Header.Get(mountsHeader), ",")
	return nil
}

// mountsHeader carries the volumes a create request mounts to learnMounts.
const mountsHeader = "X-Rewind-Test-Mounts"

// noteMounts reads the volumes a container create request mounts.
func noteMounts(r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/containers/create") {
		return
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var create struct {
		HostConfig struct {
			Binds  []string
			Mounts []struct {
				Type, Source string
				ReadOnly     bool
			}
		}
	}
	if json.Unmarshal(body, &create) != nil {
		return
	}
	var volumes, writable []string
	for _, b := range create.HostConfig.Binds {
		parts := strings.Split(b, ":")
		volumes = append(volumes, parts[0])
		if len(parts) < 3 || !slices.Contains(strings.Split(parts[2], ","), "ro") {
			writable = append(writable, parts[0])
		}
	}
	for _, m := range create.HostConfig.Mounts {
		if m.Type == "volume" {
			volumes = append(volumes, m.Source)
			if !m.ReadOnly {
				writable = append(writable, m.Source)
			}
		}
	}
	r.Header.Set(mountsHeader, strings.Join(volumes, ","))
	r.Header.Set(writableMountsHeader, strings.Join(writable, ","))
}

// writableMountsHeader carries the volumes a create request mounts for writing.
const writableMountsHeader = "X-Rewind-Test-Writable-Mounts"

// refusesWrite reports whether r is the archive upload into the chosen volume to refuse.
func (p *engineProxy) refusesWrite(r *http.Request) bool {
	if p.refuseWritesInto == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Rewind's mover writes through a mount: its create is the write to refuse.
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/containers/create") {
		if p.refused || !slices.Contains(strings.Split(r.Header.Get(writableMountsHeader), ","), p.refuseWritesInto) {
			return false
		}
		p.refused = true
		return true
	}
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/archive") {
		return false
	}
	id := strings.TrimSuffix(r.URL.Path[strings.LastIndex(r.URL.Path, "/containers/")+len("/containers/"):], "/archive")
	if p.refused || !slices.Contains(p.mounts[id], p.refuseWritesInto) {
		return false
	}
	p.refused = true
	return true
}

// slowBody reads no faster than rate bytes a second: an engine on a slow disk.
type slowBody struct {
	io.ReadCloser
	rate  int64
	start time.Time
	n     int64
}

func (s *slowBody) Read(b []byte) (int, error) {
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	n, err := s.ReadCloser.Read(b)
	s.n += int64(n)
	if ahead := time.Duration(float64(s.n)/float64(s.rate)*float64(time.Second)) - time.Since(s.start); ahead > 0 {
		time.Sleep(ahead) // the injected fault: a slow engine
	}
	return n, err
}

// countedBody adds what is read through it to n.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countedBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// host is the DOCKER_HOST of the proxy.
func (p *engineProxy) host() string { return "unix://" + p.socket }

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// discard is a ResponseWriter that throws the engine's answer away.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// pathHas matches requests of a method whose path contains part.
func pathHas(method, part string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == method && strings.Contains(r.URL.Path, part) }
}
