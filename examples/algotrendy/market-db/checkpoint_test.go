package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// openAt opens the database in dir as run does, discarding a WAL copied in checkpoint mode.
func openAt(t *testing.T, dir string) (*sql.DB, *checkpoints) {
	t.Helper()
	file := filepath.Join(dir, "market.sqlite")
	cps := newCheckpoints(nil, dir)
	if err := discardCopiedWAL(file, cps); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(2000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := schema(db); err != nil {
		t.Fatal(err)
	}
	cps.db = db
	return db, cps
}

func query(t *testing.T, srv *httptest.Server, q string) map[string]any {
	t.Helper()
	resp, err := http.Get(srv.URL + "/exec?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v %v", q, resp.StatusCode, out, err)
	}
	return out
}

func TestFilesCopiedInCheckpointModeRestoreToTheRowsCommittedBeforeCreate(t *testing.T) {
	dir := t.TempDir()
	db, cps := openAt(t, dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { exec(w, r, db, cps) }))
	defer srv.Close()
	insert := func(i int) {
		query(t, srv, fmt.Sprintf("INSERT INTO market_data VALUES ('t', 'x', 'BTC', %d, 1)", i))
	}
	for i := 1; i <= 300; i++ {
		insert(i)
	}
	query(t, srv, "CHECKPOINT CREATE")
	for i := 301; i <= 600; i++ {
		insert(i) // accepted while in checkpoint mode
	}
	// The copy: every file of the volume, as a backup reads them mid-checkpoint.
	copyDir := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, e.Name()), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(copyDir, "market.sqlite-wal")); err != nil {
		t.Fatalf("the copy carries no WAL, so it proves nothing: %v", err)
	}
	for i := 601; i <= 700; i++ {
		insert(i)
	}
	query(t, srv, "CHECKPOINT RELEASE")
	query(t, srv, "CHECKPOINT RELEASE") // releasing none is done

	live := query(t, srv, "SELECT COUNT(*), MAX(price) FROM market_data")["dataset"]
	if fmt.Sprint(live) != "[[700 700]]" {
		t.Fatalf("the live database lost rows: %v", live)
	}
	restored, _ := openAt(t, copyDir)
	var n, most int
	if err := restored.QueryRow("SELECT COUNT(*), MAX(price) FROM market_data").Scan(&n, &most); err != nil {
		t.Fatal(err)
	}
	if n != 300 || most != 300 {
		t.Fatalf("the copy restored %d rows up to %d, want exactly the 300 committed before CHECKPOINT CREATE", n, most)
	}
}
