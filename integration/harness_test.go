// Package integration runs Rewind end to end on the real parts: the embedded Temporal
// server, the worker and the rewind CLI as separate processes, and the Docker Engine.
package integration

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/examples/postgres/pgimage"
	"github.com/algotrendy/rewind/storage/s3test"
	"github.com/algotrendy/rewind/workflows/api"
)

// suite holds what every test shares: binaries built once and the engine, if one runs.
type suite struct {
	report    chaosReport
	portsMu   sync.Mutex
	ports     map[int]bool
	bin       string
	engine    *client.Client
	noDocker  error
	compose   []string
	composeYm string
	// pgImage builds the PostgreSQL example's image once per run, for the tests that
	// need it (built once per machine: the engine keeps it by its tag).
	pgImage struct {
		once sync.Once
		err  error
	}
}

// postgresImage makes sure the PostgreSQL example's image exists, building it from
// Debian's packages (debootstrap) when the engine does not have it.
func (s *suite) postgresImage(t testing.TB) {
	t.Helper()
	s.pgImage.once.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var built bool
		built, s.pgImage.err = pgimage.Ensure(ctx, s.engine)
		if built {
			fmt.Fprintf(os.Stderr, "integration: built %s in %s\n", pgimage.Image, time.Since(start).Round(time.Second))
		}
	})
	require.NoError(t, s.pgImage.err, "build the PostgreSQL example's image (%s)", pgimage.Image)
}

// claimPort reports whether port was not handed out before, and claims it.
func (s *suite) claimPort(port int) bool {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	if s.ports[port] {
		return false
	}
	if s.ports == nil {
		s.ports = map[int]bool{}
	}
	s.ports[port] = true
	return true
}

func (s *suite) close() {
	if s.engine != nil {
		s.engine.Close()
	}
	os.RemoveAll(s.bin)
}

func newSuite(ctx context.Context) (*suite, error) {
	bin, err := os.MkdirTemp("", "rewind-itest-bin-")
	if err != nil {
		return nil, err
	}
	s := &suite{bin: bin}
	for name, pkg := range map[string]string{"worker": "../worker", "rewind": "../starter"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, name), pkg)
		// Static, as operators are told to build it: the worker's binary is also the mover
		// it runs in FROM-scratch helper containers.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", pkg, err, out)
		}
	}
	s.engine, s.noDocker = engine.New(ctx)
	if s.noDocker != nil {
		return s, nil
	}
	if s.compose, err = docker.DetectCompose(ctx); err != nil {
		return nil, err
	}
	if s.composeYm, err = demostack.ComposeFile(); err != nil {
		return nil, err
	}
	if err := demostack.BuildImages(ctx, s.engine); err != nil {
		return nil, fmt.Errorf("build demo images: %w", err)
	}
	return s, nil
}

var shared *suite

func TestMain(m *testing.M) {
	// Workers started by the tests inherit these, and reach the tests' S3 server with them.
	for k, v := range s3test.Credentials(os.TempDir()) {
		os.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	s, err := newSuite(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration setup:", err)
		os.Exit(1)
	}
	if s.noDocker != nil && os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
		fmt.Fprintln(os.Stderr, "REWIND_REQUIRE_DOCKER=1 but no Docker Engine answers:", s.noDocker)
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	if path := os.Getenv("REWIND_CHAOS_REPORT"); path != "" {
		if f, err := os.Create(path); err == nil {
			s.report.write(f)
			f.Close()
		}
	}
	s.close()
	os.Exit(code)
}

// needDocker skips on a laptop without a Docker Engine; CI sets REWIND_REQUIRE_DOCKER=1,
// where TestMain has already failed instead.
func needDocker(t testing.TB) *suite {
	t.Helper()
	if shared.noDocker != nil {
		t.Skipf("no Docker Engine: %v", shared.noDocker)
	}
	return shared
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// freePort returns a port nothing listens on that no other test of this run was given:
// the kernel hands a closed port out again, and two parallel tests publishing the same
// port make compose fail with "port is already allocated".
func freePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if shared.claimPort(port) {
			return port
		}
	}
}

// startTemporal runs an in-memory Temporal server with its Web UI for one test.
func startTemporal(t testing.TB) (*embedded.Server, sdkclient.Client) {
	t.Helper()
	srv, err := embedded.Start(context.Background(), embedded.Options{LogLevel: "fatal"})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv, dial(t, srv.GRPCAddr())
}

// dial connects the test to Temporal until it ends.
func dial(t testing.TB, addr string) sdkclient.Client {
	t.Helper()
	c, err := sdkclient.Dial(sdkclient.Options{HostPort: addr})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// env is one test's Rewind installation: a config file, a demo project, a worker host.
type env struct {
	t       testing.TB
	s       *suite
	dir     string
	config  string
	stack   string
	project string
	host    string
	// taskQueue is the workflows' task queue (temporal.task_queue).
	taskQueue string
	evidence  string
	backups   string
	// composeFile is the demo's compose file copied beside a .env with this test's ports,
	// so the test and the worker's compose up start the same stack.
	composeFile string
	overrides   []string
	// bin holds the worker and rewind binaries the env runs.
	bin             string
	apiPort, dbPort int
	repo            string
	s3              *s3test.Server
}

// makeRepo lays out the checkout as the runbook's server has it and commits it twice: v2.5
// runs algotrendy-api:v2.5, v2.6 (HEAD) runs v2.6-prod. The Dockerfile rebuilds the api
// image with the checkout's conf/ folder, which holds a symlink; .dockerignore keeps
// backups/, where the stack's backups live untracked, out of the build context.
func (e *env) makeRepo(compose string) {
	e.t.Helper()
	write := func(name, body string) {
		require.NoError(e.t, os.MkdirAll(filepath.Dir(filepath.Join(e.repo, name)), 0o755))
		require.NoError(e.t, os.WriteFile(filepath.Join(e.repo, name), []byte(body), 0o644))
	}
	write("Dockerfile", "FROM "+demostack.APIImage+":v2.6-prod\nCOPY conf /conf/\n")
	write(".dockerignore", "# the backups stay on the host\nbackups/\n.git\n")
	write("conf/app.conf", "workers=4\n")
	require.NoError(e.t, os.Symlink("app.conf", filepath.Join(e.repo, "conf/current.conf")))
	v25 := strings.ReplaceAll(compose, "${API_TAG:-v2.6-prod}", "v2.5")
	require.NoError(e.t, os.WriteFile(e.composeFile, []byte(v25), 0o644))
	e.git("init", "-q")
	e.git("add", ".")
	e.git("commit", "-q", "-m", "AlgoTrendy v2.5")
	e.git("tag", "v2.5")
	require.NoError(e.t, os.WriteFile(e.composeFile, []byte(strings.ReplaceAll(compose, "${API_TAG:-v2.6-prod}", "v2.6-prod")), 0o644))
	e.git("commit", "-q", "-am", "AlgoTrendy v2.6")
	e.git("tag", "v2.6")
}

// hotFix edits a tracked file of the checkout, as an on-call engineer does on the server.
func (e *env) hotFix() {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.repo, "conf/app.conf"), []byte("workers=16 # tuned by hand during the incident\n"), 0o644))
}

func (e *env) git(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Rewind Test", "-c", "user.email=test@rewind.local"}, args...)...)
	cmd.Dir = e.repo
	out, err := cmd.CombinedOutput()
	require.NoError(e.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// apiImage is the image the project's api container was created from.
func (e *env) apiImage() string {
	e.t.Helper()
	res, err := e.s.engine.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+e.project).Add("label", docker.ServiceLabel+"=api"),
	})
	require.NoError(e.t, err)
	require.Len(e.t, res.Items, 1)
	// The name it was created from: another test rebuilding the shared v2.5 tag moves the
	// tag, and the list would show the old image's ID instead.
	info, err := e.s.engine.ContainerInspect(context.Background(), res.Items[0].ID, client.ContainerInspectOptions{})
	require.NoError(e.t, err)
	return info.Container.Config.Image
}

type stackOptions struct {
	grace time.Duration
	// stack names the stack (default demo); tests sharing a Temporal server need their own.
	stack string
	// s3 keeps the backups and the evidence in buckets of this S3-protocol server, with
	// 5 MiB upload parts.
	s3 *s3test.Server
	// transferBatch is worker.transfer_batch (0: the defaults).
	transferBatch int64
	// volume is the stack's volume (default: the demo's).
	volume string
	// config is more top-level YAML for rewind.yaml.
	config string
	// approvers are more entries of the approvers list, as YAML flow maps.
	approvers []string
	// backupBucket replaces the S3 backups bucket (to name one that does not exist).
	backupBucket string
	// repo puts the compose file in a git checkout with tags v2.5 and v2.6 (HEAD), for the
	// quick and git rollbacks, with the backups in its backups/ folder.
	repo bool
	// override is a compose file applied over the demo's (more volumes, a logging driver).
	override string
	// volumes are more entries of the stack's volumes, as YAML flow values; {project}
	// stands for the compose project's name.
	volumes []string
	// webhook receives the worker's notifications as JSON.
	webhook string
	// heartbeat is worker.heartbeat_timeout (default 20s).
	heartbeat time.Duration
	// legacyConfig leaves out the keys earlier releases do not know, for their binaries.
	legacyConfig bool
	// swapCopy makes the worker copy staged data in instead of renaming (worker.swap: copy).
	swapCopy bool
	// archiveTransfer makes restores go through the engine's archive API
	// (worker.transfer: archive) instead of Rewind's mover.
	archiveTransfer bool
	// keys are the SSH public keys (authorized_keys lines) of alice, bob and carol.
	keys map[string]string
	// stackHost is the stack's host (default: none, the worker's own); scheduleToStart is
	// worker.schedule_to_start.
	stackHost       string
	scheduleToStart time.Duration
	// stackYAML is more keys of the stack, as YAML lines indented four spaces.
	stackYAML string
}

// keysOf is the keys entry of an approver in rewind.yaml, or nothing.
func keysOf(key string) string {
	if key == "" {
		return ""
	}
	return fmt.Sprintf(", keys: [%q]", strings.TrimSpace(key))
}

func newEnv(t testing.TB, s *suite, temporalAddr string, o stackOptions) *env {
	t.Helper()
	e := &env{t: t, s: s, bin: s.bin, dir: t.TempDir(), stack: cmp.Or(o.stack, "demo"), project: uniqueName("rwit"), host: uniqueName("host-"), taskQueue: uniqueName("rewind-"),
		apiPort: freePort(t), dbPort: freePort(t), s3: o.s3}
	e.evidence = filepath.Join(e.dir, "evidence")
	e.backups = filepath.Join(e.dir, "backups")
	e.config = filepath.Join(e.dir, "rewind.yaml")
	work := e.dir
	if o.repo {
		// The runbook's layout: the stack's backups inside its checkout, untracked.
		work = filepath.Join(e.dir, "app")
		e.repo = work
		e.backups = filepath.Join(work, "backups")
	}
	e.composeFile = filepath.Join(work, "docker-compose.prod.yml")
	if s.composeYm != "" {
		yml, err := os.ReadFile(s.composeYm)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(work, 0o755))
		require.NoError(t, os.WriteFile(e.composeFile, yml, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(work, ".env"), []byte(fmt.Sprintf("API_PORT=%d\nQUESTDB_PORT=%d\n", e.apiPort, e.dbPort)), 0o600))
		if o.override != "" {
			e.overrides = []string{filepath.Join(work, "docker-compose.override.yml")}
			require.NoError(t, os.WriteFile(e.overrides[0], []byte(o.override), 0o600))
		}
		if o.repo {
			e.makeRepo(string(yml))
		}
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", e.apiPort)
	db := fmt.Sprintf("http://127.0.0.1:%d", e.dbPort)
	backups := fmt.Sprintf("{dir: %q, require_checksum: true}", e.backups)
	evidence := fmt.Sprintf("{dir: %q}", e.evidence)
	if o.s3 != nil {
		s3 := func(bucket string) string {
			return fmt.Sprintf("{bucket: %s, prefix: %s/, endpoint: %q, use_path_style: true, region: us-east-1, part_size: %d}", bucket, e.project, o.s3.URL, 5<<20)
		}
		backups = fmt.Sprintf("{s3: %s, require_checksum: true}", s3(cmp.Or(o.backupBucket, "backups")))
		evidence = fmt.Sprintf("{dir: %q, s3: %s}", e.evidence, s3("evidence"))
	}
	body := fmt.Sprintf(`temporal: {address: %q, task_queue: %q}
worker: {host: %q, drain_timeout: 5s, state_dir: %q, transfer_batch: %d, heartbeat_timeout: %s, swap: %s%s}
evidence: %s
stacks:
  %s:
    project: %s
    compose_files: [%s]
    working_dir: %q
    image: algotrendy-api:%s
    build: {dockerfile: Dockerfile, image: algotrendy-api}
    volumes: [%s]
    stop_grace_period: %s
    backups: %s
    checks:
      health_url: %s/health
      database_url: %s
      data_query: SELECT COUNT(*) FROM market_data
      fingerprint_query: %q
      functional_url: %s/api/market-data/binance/btcusdt
      logs_must_have: ["Connected to Binance"]
      logs_must_lack: ["(?i)panic"]
      health_timeout: 2m
approvers:
  - {name: alice, role: on-call%s}
  - {name: bob, role: senior%s}
  - {name: carol, role: on-call%s}
`, temporalAddr, e.taskQueue, e.host, filepath.Join(e.dir, "state"), o.transferBatch, cmp.Or(o.heartbeat, 20*time.Second), map[bool]string{true: "copy", false: "auto"}[o.swapCopy], map[bool]string{true: ", transfer: archive"}[o.archiveTransfer], evidence,
		e.stack, e.project, strings.Join(quoteAll(append([]string{e.composeFile}, e.overrides...)), ", "), work, e.project,
		strings.ReplaceAll(strings.Join(append([]string{cmp.Or(o.volume, demostack.Volume(e.project))}, o.volumes...), ", "), "{project}", e.project), o.grace, backups, api, db, demostack.FingerprintQuery, api,
		keysOf(o.keys["alice"]), keysOf(o.keys["bob"]), keysOf(o.keys["carol"]))
	for _, a := range o.approvers {
		body += "  - " + a + "\n"
	}
	if o.webhook != "" {
		body += "notify: {webhook: {url_env: REWIND_TEST_WEBHOOK}}\n"
	}
	if o.stackYAML != "" {
		body = strings.Replace(body, "    project: "+e.project+"\n", "    project: "+e.project+"\n"+o.stackYAML, 1)
	}
	if o.stackHost != "" {
		body = strings.Replace(body, "    project: "+e.project+"\n", "    project: "+e.project+"\n    host: "+o.stackHost+"\n", 1)
	}
	if o.scheduleToStart != 0 {
		workerLine, _, _ := strings.Cut(body[strings.Index(body, "worker: {"):], "\n")
		body = strings.Replace(body, workerLine, strings.TrimSuffix(workerLine, "}")+", schedule_to_start: "+o.scheduleToStart.String()+"}", 1)
	}
	body += o.config
	if o.legacyConfig {
		body = strings.ReplaceAll(body, ", heartbeat_timeout: "+cmp.Or(o.heartbeat, 20*time.Second).String()+", swap: auto", "")
		body = strings.ReplaceAll(body, "      fingerprint_query: "+strconv.Quote(demostack.FingerprintQuery)+"\n", "")
	}
	require.NoError(t, os.WriteFile(e.config, []byte(body), 0o600))
	return e
}

func (e *env) compose(extraEnv ...string) demostack.Compose {
	return demostack.Compose{Command: e.s.compose, Project: e.project, File: e.composeFile, Overrides: e.overrides, Env: extraEnv}
}

// up starts the demo stack under the test's project, seeds its market database with 500
// trades (it starts empty) and removes it all when the test ends.
func (e *env) up(extraEnv ...string) {
	e.t.Helper()
	c := e.compose(extraEnv...)
	e.t.Cleanup(func() { _ = c.Run(context.Background(), "down", "-v", "--remove-orphans", "-t", "0") })
	require.NoError(e.t, c.Run(context.Background(), "up", "-d"))
	require.NoError(e.t, demostack.WaitHealthy(context.Background(), e.s.engine, e.project))
	require.NoError(e.t, demostack.Seed(context.Background(), e.dbURL(), 500))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func (e *env) dbURL() string { return fmt.Sprintf("http://127.0.0.1:%d", e.dbPort) }

// fingerprint is the market data's fingerprint as the stack serves it now.
func (e *env) fingerprint() string {
	e.t.Helper()
	fp, err := demostack.Fingerprint(context.Background(), e.dbURL())
	require.NoError(e.t, err)
	return fp
}

func (e *env) containers() []string {
	e.t.Helper()
	res, err := e.s.engine.ContainerList(context.Background(), client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+e.project),
	})
	require.NoError(e.t, err)
	var names []string
	for _, c := range res.Items {
		names = append(names, c.Names...)
	}
	return names
}

func (e *env) networks() []string {
	e.t.Helper()
	res, err := e.s.engine.NetworkList(context.Background(), client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+e.project),
	})
	require.NoError(e.t, err)
	var names []string
	for _, n := range res.Items {
		names = append(names, n.Name)
	}
	return names
}

// worker is a worker process started from the built binary.
type worker struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
	// metrics is the worker's Prometheus endpoint.
	metrics string
}

// syncBuffer is a worker's log, written by the process and read by the test meanwhile.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (e *env) startWorker(environ ...string) *worker {
	e.t.Helper()
	port := freePort(e.t)
	cmd := exec.Command(filepath.Join(e.bin, "worker"), "--config", e.config, "--listen", "127.0.0.1:"+strconv.Itoa(port))
	cmd.Env = append(os.Environ(), environ...)
	w := &worker{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	require.NoError(e.t, cmd.Start())
	go func() { w.done <- cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if e.t.Failed() {
			e.t.Logf("worker log:\n%s", w.logs.String())
		}
	})
	require.EventuallyWithT(e.t, func(c *assert.CollectT) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if !assert.NoError(c, err) {
			return
		}
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 30*time.Second, 50*time.Millisecond, "worker /healthz; log:\n%s", w.logs)
	return w
}

// kill ends the worker with SIGKILL: no clean-up, no drain, as a crashed host would.
func (w *worker) kill(t testing.TB) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
	err := <-w.done
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "worker exit: %v", err)
	w.done <- err // let the cleanup see it ended
}

// crashed waits for the worker to die at its crash point.
func (w *worker) crashed(t testing.TB) {
	t.Helper()
	select {
	case err := <-w.done:
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "worker exit: %v", err)
		require.Regexp(t, `crash point .* reached.*: SIGKILL`, w.logs.String())
		w.done <- err
	case <-time.After(2 * time.Minute):
		t.Fatalf("the worker did not reach its crash point; log:\n%s", w.logs)
	}
}

// rewind runs the CLI and returns its exit code and output.
func (e *env) rewind(args ...string) (int, string, string) {
	e.t.Helper()
	return e.rewindWith(nil, args...)
}

// rewindWith runs the CLI with more environment. No ssh-agent is used unless environ
// names one.
func (e *env) rewindWith(environ []string, args ...string) (int, string, string) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "rewind"), append([]string{"--config", e.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "SSH_AUTH_SOCK="), environ...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	return code, out.String(), errOut.String()
}

// activityRuns counts, per activity type, how often it was scheduled and completed, the
// attempt that finally ran, and the event IDs of its last scheduling and completion.
type activityRuns struct {
	scheduled, completed, attempt map[string]int
	scheduledAt, completedAt      map[string]int64
	// results holds each activity's last result, as JSON.
	results map[string][]byte
}

// result decodes an activity's result.
func (r activityRuns) result(t testing.TB, name string, v any) {
	t.Helper()
	require.Contains(t, r.results, name, "%s completed", name)
	require.NoError(t, json.Unmarshal(r.results[name], v))
}

func history(t testing.TB, c sdkclient.Client, id string) activityRuns {
	t.Helper()
	runs := activityRuns{scheduled: map[string]int{}, completed: map[string]int{}, attempt: map[string]int{},
		scheduledAt: map[string]int64{}, completedAt: map[string]int64{}, results: map[string][]byte{}}
	typeOf := map[int64]string{}
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch a := ev.GetAttributes().(type) {
		case *historypb.HistoryEvent_ActivityTaskScheduledEventAttributes:
			name := a.ActivityTaskScheduledEventAttributes.GetActivityType().GetName()
			typeOf[ev.GetEventId()] = name
			runs.scheduled[name]++
			runs.scheduledAt[name] = ev.GetEventId()
		case *historypb.HistoryEvent_ActivityTaskStartedEventAttributes:
			runs.attempt[typeOf[a.ActivityTaskStartedEventAttributes.GetScheduledEventId()]] = int(a.ActivityTaskStartedEventAttributes.GetAttempt())
		case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
			name := typeOf[a.ActivityTaskCompletedEventAttributes.GetScheduledEventId()]
			runs.completed[name]++
			runs.completedAt[name] = ev.GetEventId()
			if p := a.ActivityTaskCompletedEventAttributes.GetResult().GetPayloads(); len(p) > 0 {
				runs.results[name] = p[0].GetData()
			}
		}
	}
	return runs
}

// execGunzip decompresses with the Go reader, for reading snapshots in tests.
func execGunzip(r io.Reader) io.Reader {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return strings.NewReader("")
	}
	return zr
}

// recordHistory saves a finished rollback's history for the replay tests in workflows/
// when REWIND_RECORD_HISTORY names a folder (make record-histories).
func recordHistory(t testing.TB, c sdkclient.Client, id, name string) {
	t.Helper()
	dir := os.Getenv("REWIND_RECORD_HISTORY")
	if dir == "" {
		return
	}
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
}

// safeOrder checks invariant 1 in the history: the stack stopped only after the backup
// restored whole into staging, and the volume was removed only after its snapshot was
// stored and checked.
func (r activityRuns) safeOrder(t testing.TB) {
	t.Helper()
	require.Positive(t, r.completedAt["PrepareVolume"])
	require.Greater(t, r.scheduledAt["StopProject"], r.completedAt["PrepareVolume"],
		"the stack stopped only once the backup had restored whole into staging")
	require.Positive(t, r.completedAt["SnapshotVolume"])
	require.Greater(t, r.scheduledAt["RemoveVolume"], r.completedAt["SnapshotVolume"],
		"the volume was removed only after its snapshot was stored and checked")
}

// awaitRestored waits for a full rollback to complete and checks the data served is the
// newest backup's: its fingerprint, not only a row count.
func (e *env) awaitRestored(c sdkclient.Client, id string) {
	e.t.Helper()
	e.awaitCompleted(c, id)
	rows, err := e.rowCount()
	require.NoError(e.t, err)
	require.Equal(e.t, float64(500), rows)
	recorded, err := filepath.Glob(filepath.Join(e.backups, "*.fingerprint"))
	require.NoError(e.t, err)
	if len(recorded) > 0 {
		slices.Sort(recorded)
		want, err := os.ReadFile(recorded[len(recorded)-1])
		require.NoError(e.t, err)
		require.Equal(e.t, strings.TrimSpace(string(want)), e.fingerprint(), "the data served is the backup's")
	}
}

// awaitCompleted waits for a rollback to end and checks it completed.
func (e *env) awaitCompleted(c sdkclient.Client, id string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res api.Result
	require.NoError(e.t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
	require.Equal(e.t, "completed", res.Outcome)
}

// awaitApprovalGate waits until a rollback waits for approval.
func (e *env) awaitApprovalGate(id string) {
	e.t.Helper()
	require.EventuallyWithT(e.t, func(c *assert.CollectT) {
		code, out, _ := e.rewind("status", id)
		assert.Equal(c, 0, code)
		assert.Contains(c, out, "(waiting for approval)")
	}, time.Minute, 200*time.Millisecond)
}

// fileTemporal starts Temporal on a SQLite file and a fixed port, so a test can stop it
// and start it again where it was; start returns the running server.
func fileTemporal(t testing.TB) (start func() *embedded.Server) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "temporal.db")
	port := freePort(t)
	return func() *embedded.Server {
		srv, err := embedded.Start(context.Background(), embedded.Options{DBFile: db, GRPCPort: port, UIPort: -1, LogLevel: "fatal"})
		require.NoError(t, err)
		return srv
	}
}
