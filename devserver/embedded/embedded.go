// Package embedded runs a real Temporal server and its Web UI inside one process: on
// SQLite, so a fresh machine, the demo and the integration tests need nothing else, or on
// PostgreSQL, as a production cluster keeps its data.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	standaloneactivity "go.temporal.io/server/chasm/lib/activity"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// SearchAttributes are the attributes Rewind sets on every rollback so operators can filter
// the Web UI by stack, option, severity and phase.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	"RewindStack":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"RewindOption":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"RewindSeverity": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"RewindPhase":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

// Options say where the server listens and keeps its data.
type Options struct {
	// DBFile is the SQLite file; empty keeps everything in memory (tests).
	DBFile string
	// Postgres, a postgres:// URL, keeps the data in PostgreSQL instead: the databases
	// are created and their schemas set up or updated at start.
	Postgres string
	// Retention is how long a closed rollback stays in a PostgreSQL-backed namespace
	// (default 30 days, so `rewind list` and `report` find last month's incidents).
	Retention time.Duration
	// IP is the address gRPC and the UI bind to.
	IP string
	// GRPCPort of the frontend; 0 picks a free port.
	GRPCPort int
	// UIPort of the Web UI; 0 picks a free port, -1 runs no UI.
	UIPort int
	// Namespace is created when missing.
	Namespace string
	// LogLevel of the server's own log (debug, info, warn, error).
	LogLevel string
	// StandaloneActivities lets clients start activities with no workflow, as the server
	// allows by default. Rewind turns them off: each would be a step no rollback asked
	// for. Tests turn them on to prove the worker refuses them too.
	StandaloneActivities bool
}

// Server is a running Temporal server with its Web UI.
type Server struct {
	server   temporal.Server
	ui       *uiserver.Server
	uiDone   chan error
	grpcAddr string
	uiAddr   string
}

// Start brings the server up and returns once the frontend accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.Retention == 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	var err error
	ports := newPortPicker()
	if opts.GRPCPort == 0 {
		if opts.GRPCPort, err = ports.pick(opts.IP); err != nil {
			return nil, err
		}
	}
	if opts.UIPort == 0 {
		if opts.UIPort, err = ports.pick(opts.IP); err != nil {
			return nil, err
		}
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: opts.LogLevel, Format: "console"}))
	conf, hosts, err := serverConfig(opts, ports, logger)
	if err != nil {
		return nil, err
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		// One process holds every service: static hosts instead of ringpop membership,
		// which can fail to bootstrap when servers start and stop quickly in one process.
		temporal.WithStaticHosts(hosts),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			standaloneactivity.Enabled.Key(): opts.StandaloneActivities,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server on %s:%d: %w", opts.IP, opts.GRPCPort, err)
	}
	s := &Server{server: server, grpcAddr: net.JoinHostPort(opts.IP, strconv.Itoa(opts.GRPCPort))}
	if opts.UIPort > 0 {
		s.uiAddr = net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort))
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                opts.IP,
			Port:                opts.UIPort,
			TemporalGRPCAddress: s.grpcAddr,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
		}))
		s.uiDone = make(chan error, 1)
		go func() { s.uiDone <- s.ui.Start() }()
	}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.Postgres != "" {
		if err := registerNamespace(ctx, s.grpcAddr, opts.Namespace, opts.Retention); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// GRPCAddr is host:port of the frontend, for SDK clients.
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// UIAddr is host:port of the Web UI, empty when it runs without one.
func (s *Server) UIAddr() string { return s.uiAddr }

// Stop shuts the UI and the server down; the SQLite file keeps every workflow.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.server.Stop()
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	addrs := []string{s.grpcAddr}
	if s.uiAddr != "" {
		addrs = append(addrs, s.uiAddr)
	}
	for _, addr := range addrs {
		for {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				_ = conn.Close()
				break
			}
			select {
			case err := <-s.uiDone:
				return fmt.Errorf("web ui on %s stopped: %w", s.uiAddr, err)
			case <-ctx.Done():
				return fmt.Errorf("wait for %s to accept connections: %w", addr, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func serverConfig(opts Options, ports *portPicker, logger log.Logger) (*config.Config, map[primitives.ServiceName]static.Hosts, error) {
	hosts := map[primitives.ServiceName]static.Hosts{}
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = "127.0.0.1"
	if opts.Postgres != "" {
		main, visibility, err := postgresStores(opts.Postgres)
		if err != nil {
			return nil, nil, err
		}
		if err := setupPostgres(main, visibility, logger); err != nil {
			return nil, nil, err
		}
		conf.Persistence.DefaultStore = "postgres"
		conf.Persistence.VisibilityStore = "postgres-visibility"
		// Fixed when the cluster is created: four shards serve a team's rollbacks.
		conf.Persistence.NumHistoryShards = 4
		conf.Persistence.DataStores = map[string]config.DataStore{"postgres": {SQL: main}, "postgres-visibility": {SQL: visibility}}
	} else {
		sqlConf, err := sqliteConfig(opts)
		if err != nil {
			return nil, nil, err
		}
		conf.Persistence.DefaultStore = "sqlite"
		conf.Persistence.VisibilityStore = "sqlite"
		conf.Persistence.NumHistoryShards = 1
		conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             net.JoinHostPort(opts.IP, strconv.Itoa(opts.GRPCPort)),
				ClusterID:              "3f5c7a52-9d1e-4b6a-8c0f-2e7d9b4a6c11", // fixed: one dev cluster per file
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		var svc config.Service
		var err error
		if name == primitives.FrontendService {
			svc.RPC.GRPCPort = opts.GRPCPort
			svc.RPC.BindOnIP = opts.IP
			hosts[name] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(opts.GRPCPort)))
		} else {
			if svc.RPC.GRPCPort, err = ports.pick("127.0.0.1"); err != nil {
				return nil, nil, err
			}
			svc.RPC.BindOnLocalHost = true
			hosts[name] = static.SingleLocalHost(net.JoinHostPort("127.0.0.1", strconv.Itoa(svc.RPC.GRPCPort)))
		}
		conf.Services[string(name)] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(opts.IP, strconv.Itoa(opts.GRPCPort))
	return &conf, hosts, nil
}

func sqliteConfig(opts Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DBFile == "" {
		// The SQLite plugin creates the schema of an in-memory database itself.
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = fmt.Sprintf("rewind-%d", time.Now().UnixNano())
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = opts.DBFile
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", opts.DBFile, err)
		}
		if _, err := os.Stat(opts.DBFile); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("create schema in %s: %w", opts.DBFile, err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("describe namespace %s: %w", opts.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", opts.Namespace, err)
	}
	return conf, nil
}
