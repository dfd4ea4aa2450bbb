// Package s3test starts a real S3-protocol server for tests (gofakes3, in memory, on
// 127.0.0.1) that counts the bytes it sends and receives, so a test sees what a resumed
// transfer sent again.
package s3test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
)

// Server is one S3-protocol server.
type Server struct {
	URL string
	// Sent and Received count the bytes of every answer and request body.
	Sent, Received atomic.Int64
	onSent         atomic.Value // func(total int64)
	mu             sync.Mutex
	// sentByRange counts the bytes sent in answer to each Range header, so a resumed
	// download is measured apart from the one it replaced.
	sentByRange map[string]int64
}

// Credentials are what a client of the server (the test, or a worker it starts) uses.
func Credentials(dir string) map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "rewind-test",
		"AWS_SECRET_ACCESS_KEY":       "rewind-test-secret",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
	}
}

// UseCredentials points this test's AWS credentials at the servers of this package.
func UseCredentials(t testing.TB) {
	for k, v := range Credentials(t.TempDir()) {
		t.Setenv(k, v)
	}
}

// Start runs a server with the buckets named until the test ends. Its clients need
// Credentials in their environment (UseCredentials).
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	mem := s3mem.New()
	for _, b := range buckets {
		require.NoError(t, mem.CreateBucket(b))
	}
	fake := gofakes3.New(mem).Server()
	s := &Server{sentByRange: map[string]int64{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = countingBody{r.Body, &s.Received}
		}
		fake.ServeHTTP(&countingWriter{ResponseWriter: w, s: s, rng: r.Header.Get("Range")}, r)
	}))
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// OnSent calls f with the total bytes sent after each write of an answer.
func (s *Server) OnSent(f func(total int64)) { s.onSent.Store(f) }

// SentFor is what the server sent in answer to requests with this Range header.
func (s *Server) SentFor(rng string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentByRange[rng]
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	s   *Server
	rng string
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.s.mu.Lock()
	c.s.sentByRange[c.rng] += int64(n)
	c.s.mu.Unlock()
	total := c.s.Sent.Add(int64(n))
	if hook, ok := c.s.onSent.Load().(func(int64)); ok && hook != nil {
		hook(total)
	}
	return n, err
}
