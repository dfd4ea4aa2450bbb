package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// postgresStores parses a postgres:// URL into the stores of a Temporal cluster: the
// database named in the URL (default temporal) and <name>_visibility beside it, as
// Temporal's own compose setup names them.
func postgresStores(rawURL string) (main, visibility *config.SQL, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, nil, fmt.Errorf("--postgres %q: want a URL like postgres://temporal:secret@127.0.0.1:5432/temporal", redact(rawURL))
	}
	name := u.Path
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	if name == "" {
		name = "temporal"
	}
	base := config.SQL{
		PluginName:        postgresplugin.PluginName,
		ConnectAddr:       u.Host,
		ConnectProtocol:   "tcp",
		User:              u.User.Username(),
		ConnectAttributes: map[string]string{},
		MaxConns:          20,
		MaxIdleConns:      20,
		MaxConnLifetime:   time.Hour,
	}
	base.Password, _ = u.User.Password()
	for k, v := range u.Query() {
		base.ConnectAttributes[k] = v[0]
	}
	m, v := base, base
	m.DatabaseName, v.DatabaseName = name, name+"_visibility"
	m.ConnectAttributes, v.ConnectAttributes = clone(base.ConnectAttributes), clone(base.ConnectAttributes)
	return &m, &v, nil
}

// setupPostgres creates both databases when missing and brings their schemas to this
// server's version with the server's own SQL tooling (temporal-sql-tool's create-database,
// setup-schema -v 0.0 and update-schema), so a new or an older cluster both start.
func setupPostgres(main, visibility *config.SQL, logger log.Logger) error {
	for _, db := range []struct {
		cfg    *config.SQL
		schema string
	}{{main, "postgresql/v12/temporal"}, {visibility, "postgresql/v12/visibility"}} {
		create := *db.cfg
		if err := sqltool.DoCreateDatabase(&create, "postgres", logger); err != nil {
			return fmt.Errorf("create database %s on %s: %w", db.cfg.DatabaseName, db.cfg.ConnectAddr, err)
		}
		conn, err := sqltool.NewConnection(db.cfg, logger)
		if err != nil {
			return fmt.Errorf("connect to database %s on %s: %w", db.cfg.DatabaseName, db.cfg.ConnectAddr, err)
		}
		err = migrate(conn, db.schema, logger)
		conn.Close()
		if err != nil {
			return fmt.Errorf("schema of database %s: %w", db.cfg.DatabaseName, err)
		}
	}
	return nil
}

func migrate(conn *sqltool.Connection, name string, logger log.Logger) error {
	// A database that has a schema version keeps it: setting up again would reset it.
	if _, err := conn.ReadSchemaVersion(); err != nil {
		if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{SchemaName: name}, logger).Run(); err != nil {
		return fmt.Errorf("update to %s: %w", name, err)
	}
	return nil
}

// registerNamespace creates the namespace with its retention and Rewind's search
// attributes through the running server, as admin-tools does for Temporal's compose.
func registerNamespace(ctx context.Context, hostPort, namespace string, retention time.Duration) error {
	c, err := sdkclient.Dial(sdkclient.Options{HostPort: hostPort, Namespace: namespace, Logger: quietSDKLogger{}})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", hostPort, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	if _, exists := errors.AsType[*serviceerror.NamespaceAlreadyExists](err); err != nil && !exists {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	// A new namespace reaches every service's cache within seconds.
	for {
		existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil {
			missing := map[string]enumspb.IndexedValueType{}
			for name, kind := range SearchAttributes {
				if _, ok := existing.GetCustomAttributes()[name]; !ok {
					missing[name] = kind
				}
			}
			if len(missing) == 0 {
				return nil
			}
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("add Rewind's search attributes to %s: %w", namespace, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// quietSDKLogger drops the SDK client's own log lines while the namespace is set up.
type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
