// Command market-db is the demo stack's market database: a SQLite file in the data volume,
// served over QuestDB's HTTP API shape (GET /exec?query=... runs SELECT and INSERT, and
// CHECKPOINT CREATE / CHECKPOINT RELEASE as QuestDB does (checkpoint.go); GET / answers
// 200). It never makes data up: a new database starts empty.
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
	cps := newCheckpoints(nil, filepath.Dir(file))
	if err := discardCopiedWAL(file, cps); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(2000)")
	if err != nil {
		return err
	}
	defer db.Close()
	cps.db = db
	if err := schema(db); err != nil {
		// A broken file is reported by every query, not hidden: the server keeps answering.
		log.Printf("market-db: database %s is unusable: %v", file, err)
	} else {
		log.Printf("server started on :9000, database %s", file)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "market-db (QuestDB HTTP shape)") })
	mux.HandleFunc("GET /exec", func(w http.ResponseWriter, r *http.Request) { exec(w, r, db, cps) })
	srv := &http.Server{Addr: ":9000", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// schema makes the market_data table when the database is new. It inserts nothing: the
// demo's data comes from `democtl seed`, so a restore that brought back nothing shows as an
// empty table, not as rows the service made up.
func schema(db *sql.DB) error {
	_, err := db.Exec(`CREATE TABLE IF NOT EXISTS market_data (
		ts TEXT NOT NULL, exchange TEXT NOT NULL, symbol TEXT NOT NULL, price REAL NOT NULL, volume REAL NOT NULL)`)
	return err
}

// exec answers like QuestDB: {"query","columns":[{"name","type"}],"dataset":[[...]],"count"}.
func exec(w http.ResponseWriter, r *http.Request, db *sql.DB, cps *checkpoints) {
	q := strings.TrimSpace(r.URL.Query().Get("query"))
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, err error) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"query": q, "error": err.Error()})
	}
	verb := strings.ToUpper(strings.Fields(q + " x")[0])
	if verb == "CHECKPOINT" {
		err := errors.New("want CHECKPOINT CREATE or CHECKPOINT RELEASE")
		switch strings.ToUpper(strings.Join(strings.Fields(q), " ")) {
		case "CHECKPOINT CREATE":
			err = cps.create(r.Context())
		case "CHECKPOINT RELEASE":
			err = cps.release()
		}
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ddl": "OK"})
		return
	}
	if verb == "INSERT" {
		cps.writes.Lock()
		res, err := db.ExecContext(r.Context(), q)
		cps.writes.Unlock()
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		n, _ := res.RowsAffected()
		_ = json.NewEncoder(w).Encode(map[string]any{"ddl": "OK", "count": n})
		return
	}
	if verb != "SELECT" {
		fail(http.StatusBadRequest, errors.New("only SELECT, INSERT and CHECKPOINT queries are served"))
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
