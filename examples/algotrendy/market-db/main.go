// Command market-db is the demo stack's market database: a SQLite file in the data volume,
// served over QuestDB's HTTP API shape (GET /exec?query=..., GET / answers 200).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck("http://127.0.0.1:9000/exec?query=SELECT%20COUNT(*)%20FROM%20market_data"))
	}
	if err := run(); err != nil {
		log.Fatalf("market-db: %v", err)
	}
}

func healthcheck(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

func run() error {
	dir := envOr("QDB_ROOT", "/var/lib/questdb")
	file := filepath.Join(dir, "db", "market.sqlite")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(2000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seed(db); err != nil {
		// A broken file is reported by every query, not hidden: the server keeps answering.
		log.Printf("market-db: database %s is unusable: %v", file, err)
	} else {
		log.Printf("server started on :9000, database %s", file)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "market-db (QuestDB HTTP shape)") })
	mux.HandleFunc("GET /exec", func(w http.ResponseWriter, r *http.Request) { exec(w, r, db) })
	srv := &http.Server{Addr: ":9000", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func seed(db *sql.DB) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS market_data (
		ts TEXT NOT NULL, exchange TEXT NOT NULL, symbol TEXT NOT NULL, price REAL NOT NULL, volume REAL NOT NULL)`); err != nil {
		return err
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM market_data`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	start := time.Date(2025, 10, 19, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 500; i++ {
		price := 67000 + float64(i%97)*3.5
		if _, err := tx.Exec(`INSERT INTO market_data VALUES (?, 'binance', 'btcusdt', ?, ?)`,
			start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), price, 1+float64(i%13)/10); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// exec answers like QuestDB: {"query","columns":[{"name","type"}],"dataset":[[...]],"count"}.
func exec(w http.ResponseWriter, r *http.Request, db *sql.DB) {
	q := strings.TrimSpace(r.URL.Query().Get("query"))
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, err error) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"query": q, "error": err.Error()})
	}
	if !strings.HasPrefix(strings.ToUpper(q), "SELECT") {
		fail(http.StatusBadRequest, errors.New("only SELECT queries are served"))
		return
	}
	rows, err := db.QueryContext(r.Context(), q)
	if err != nil {
		fail(http.StatusInternalServerError, err)
		return
	}
	defer rows.Close()
	cols, _ := rows.ColumnTypes()
	type column struct{ Name, Type string }
	out := struct {
		Query   string   `json:"query"`
		Columns []column `json:"columns"`
		Dataset [][]any  `json:"dataset"`
		Count   int      `json:"count"`
	}{Query: q, Dataset: [][]any{}}
	for _, c := range cols {
		out.Columns = append(out.Columns, column{c.Name(), c.DatabaseTypeName()})
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			fail(http.StatusInternalServerError, err)
			return
		}
		out.Dataset = append(out.Dataset, vals)
	}
	if err := rows.Err(); err != nil {
		fail(http.StatusInternalServerError, err)
		return
	}
	out.Count = len(out.Dataset)
	_ = json.NewEncoder(w).Encode(out)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
