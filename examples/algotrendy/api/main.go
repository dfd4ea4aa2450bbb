// Command api is the demo stack's trading API: /health says Healthy only while the market
// database answers, and it logs the lines the runbook's verification greps for.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	if err := run(); err != nil {
		log.Fatalf("api: %v", err)
	}
}

func healthcheck() int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:5002/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		return 1
	}
	resp.Body.Close()
	return 0
}

type marketDB struct {
	base string
	http *http.Client
}

func (m marketDB) query(ctx context.Context, q string) ([][]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/exec?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Dataset [][]any `json:"dataset"`
		Error   string  `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("market database: %s: %s", resp.Status, body.Error)
	}
	return body.Dataset, nil
}

func run() error {
	db := marketDB{base: envOr("DATABASE_URL", "http://questdb:9000"), http: &http.Client{Timeout: 3 * time.Second}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("IGNORE_SIGTERM") != "" {
		// A hung process the runbook's "containers won't stop" is about.
		stop()
		signal.Ignore(syscall.SIGTERM)
		ctx = context.Background()
	}
	log.Printf("Connected to Binance (exchange connectivity ok)")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if _, err := db.query(r.Context(), "SELECT COUNT(*) FROM market_data"); err != nil {
			log.Printf("ERROR health check failed: %v", err)
			http.Error(w, "Unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "Healthy")
	})
	mux.HandleFunc("GET /api/market-data/{exchange}/{symbol}", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.query(r.Context(), fmt.Sprintf(
			"SELECT ts, price, volume FROM market_data WHERE exchange = '%s' AND symbol = '%s' ORDER BY ts DESC LIMIT 20",
			sqlQuote(r.PathValue("exchange")), sqlQuote(r.PathValue("symbol"))))
		if err != nil {
			log.Printf("ERROR market data: %v", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			out = append(out, map[string]any{"ts": r[0], "price": r[1], "volume": r[2]})
		}
		log.Printf("Market data fetched: %d rows", len(out))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := &http.Server{Addr: ":5002", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func sqlQuote(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\'' {
			out = append(out, '\'')
		}
		out = append(out, r)
	}
	return string(out)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
