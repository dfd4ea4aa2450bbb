package integration

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
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

	requests, dropped, lost, delayed, denied atomic.Int64
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
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport:     &http.Transport{DialContext: dial, DisableCompression: true},
		FlushInterval: -1, // events and logs stream as they come
	}
	p.socket = filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", p.socket)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.armed.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		n := p.requests.Add(1)
		switch {
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
