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
	"runtime"
	"runtime/debug"
	"sync"
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

	bad := &misbehaviour{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/misbehave", bad.handle)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if _, err := db.query(r.Context(), "SELECT COUNT(*) FROM market_data"); err != nil {
			log.Printf("ERROR health check failed: %v", err)
			http.Error(w, "Unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "Healthy")
	})
	mux.HandleFunc("GET /api/market-data/{exchange}/{symbol}", func(w http.ResponseWriter, r *http.Request) {
		if bad.serve(w) {
			return
		}
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

// misbehaviour makes the demo API fail the ways the runbook's "When to Execute Rollback"
// lists, on request, so a guard can be shown and tested on the real stack:
// POST /admin/misbehave?mode=500s|slow|leak|spike|disconnect|ok.
type misbehaviour struct {
	mu     sync.Mutex
	mode   string
	leaked [][]byte
	stop   chan struct{}
}

func (m *misbehaviour) handle(w http.ResponseWriter, r *http.Request) {
	mode := r.URL.Query().Get("mode")
	m.mu.Lock()
	defer m.mu.Unlock()
	switch mode {
	case "ok":
		m.reset()
	case "500s", "slow":
		m.mode = mode
	case "leak":
		// 2 MiB every 250 ms, held: memory that only grows.
		if m.stop == nil {
			m.stop = make(chan struct{})
			go m.leak(m.stop)
		}
	case "spike":
		// 128 MiB for two seconds, then handed back to the system.
		go func(spike []byte) {
			time.Sleep(2 * time.Second)
			runtime.KeepAlive(spike) // held until here, then garbage
			debug.FreeOSMemory()
		}(touch(make([]byte, 128<<20)))
	case "disconnect":
		log.Printf("ERROR Lost connection to Binance (exchange connectivity lost)")
	default:
		http.Error(w, "mode must be one of 500s, slow, leak, spike, disconnect, ok", http.StatusBadRequest)
		return
	}
	log.Printf("misbehaving: %s", mode)
	fmt.Fprintf(w, "mode %s\n", mode)
}

// reset goes back to behaving and gives the leaked memory back.
func (m *misbehaviour) reset() {
	m.mode = ""
	if m.stop != nil {
		close(m.stop)
		m.stop = nil
	}
	m.leaked = nil
	debug.FreeOSMemory()
}

func (m *misbehaviour) leak(stop chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.mu.Lock()
			if len(m.leaked) < 256 { // at most 512 MiB
				m.leaked = append(m.leaked, touch(make([]byte, 2<<20)))
			}
			m.mu.Unlock()
		}
	}
}

// serve answers a request the misbehaving way and reports whether it did.
func (m *misbehaviour) serve(w http.ResponseWriter) bool {
	m.mu.Lock()
	mode := m.mode
	m.mu.Unlock()
	switch mode {
	case "500s":
		http.Error(w, "internal error", http.StatusInternalServerError)
		return true
	case "slow":
		time.Sleep(250 * time.Millisecond)
	}
	return false
}

// touch writes every page, so the memory is really in use.
func touch(b []byte) []byte {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
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
