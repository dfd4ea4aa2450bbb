// Package temporalconn connects Rewind's worker and CLI to Temporal as rewind.yaml says.
package temporalconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/algotrendy/rewind/config"
)

// Dial connects and checks the server answers, so a wrong address fails at once with a
// message that names it. base carries interceptors and metrics; its address is replaced.
func Dial(cfg config.Temporal, base client.Options, logger *slog.Logger) (client.Client, error) {
	base.HostPort = cfg.Address
	base.Namespace = cfg.Namespace
	if logger != nil {
		base.Logger = sdklog.NewStructuredLogger(logger)
	}
	if cfg.TLS.Enabled || cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		base.ConnectionOptions.TLS = tc
	}
	if cfg.APIKeyEnv != "" {
		key := os.Getenv(cfg.APIKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("temporal.api_key_env names %s, but that environment variable is empty", cfg.APIKeyEnv)
		}
		base.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	c, err := client.Dial(base)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is it running? `make devserver` starts one", cfg.Address, cfg.Namespace, err)
	}
	return c, nil
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read temporal.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal.tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load temporal.tls.cert_file and key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
