// Package probe runs the runbook's post-rollback checks: health endpoints, the functional
// endpoint, and the data query over QuestDB's HTTP /exec API or PostgreSQL's wire protocol.
package probe

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/algotrendy/rewind/holds"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Activities probe the stack from the Docker host.
type Activities struct {
	HTTP *http.Client
	// Holds records each backup's checkpoint before it is created, so a run that ends
	// without its release (terminated) is let go by the worker.
	Holds holds.Ledger
}

// Result is one check's verdict and what it saw.
type Result struct {
	Name     string
	Passed   bool
	Evidence string
}

// HTTPCheck wants 200 from URL, with Expect in the body or, with JSONArray, a non-empty array.
type HTTPCheck struct {
	Name      string
	URL       string
	Expect    string
	JSONArray bool
}

func (a *Activities) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (a *Activities) get(ctx context.Context, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// CheckHTTP is `curl URL` with the runbook's expectation. A PostgreSQL URL is checked
// over the wire instead: rollbacks that began before "database answers" became its own
// check send their database URL here.
func (a *Activities) CheckHTTP(ctx context.Context, c HTTPCheck) (Result, error) {
	if isPostgres(c.URL) {
		return a.CheckDatabase(ctx, DatabaseCheck{Name: c.Name, URL: c.URL})
	}
	res := Result{Name: c.Name}
	code, body, err := a.get(ctx, c.URL)
	if err != nil {
		res.Evidence = fmt.Sprintf("GET %s: %v", c.URL, err)
		return res, nil
	}
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	res.Evidence = fmt.Sprintf("GET %s → %d %s", c.URL, code, snippet)
	switch {
	case code != http.StatusOK:
	case c.JSONArray:
		var arr []json.RawMessage
		res.Passed = json.Unmarshal(body, &arr) == nil && len(arr) > 0
		res.Evidence = fmt.Sprintf("GET %s → %d, JSON array of %d items", c.URL, code, len(arr))
	default:
		res.Passed = strings.Contains(string(body), c.Expect)
	}
	return res, nil
}

// DatabaseCheck wants the stack's database to answer: a PostgreSQL URL (postgres://) over
// the wire protocol, QuestDB's HTTP API (http://host:9000) with 200 to a GET.
type DatabaseCheck struct {
	Name string
	URL  string
}

// CheckDatabase is the runbook's "database answers" in the database's own protocol: a
// PostgreSQL server must accept a connection and answer a ping; an HTTP API must answer 200.
func (a *Activities) CheckDatabase(ctx context.Context, c DatabaseCheck) (Result, error) {
	res := Result{Name: c.Name}
	if !isPostgres(c.URL) {
		code, _, err := a.get(ctx, c.URL)
		if err != nil {
			res.Evidence = fmt.Sprintf("GET %s: %v", c.URL, err)
			return res, nil
		}
		res.Passed = code == http.StatusOK
		res.Evidence = fmt.Sprintf("GET %s → %d", c.URL, code)
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		res.Evidence = fmt.Sprintf("connect to PostgreSQL at %s: %v", redact(c.URL), err)
		return res, nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.Ping(ctx); err != nil {
		res.Evidence = fmt.Sprintf("ping PostgreSQL at %s: %v", redact(c.URL), err)
		return res, nil
	}
	res.Passed = true
	res.Evidence = fmt.Sprintf("PostgreSQL %s at %s answers", conn.PgConn().ParameterStatus("server_version"), redact(c.URL))
	return res, nil
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// redact is a database URL as evidence shows it: without a password, should one be set.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the configured database"
	}
	return p.Redacted()
}

// DataCheck runs the stack's data query and wants its first value above zero, or, with
// Want, exactly that row: a fingerprint of the data recorded when the backup was made.
type DataCheck struct {
	Name string
	// URL is QuestDB's HTTP API (http://host:9000) or PostgreSQL (postgres://user@host/db,
	// the password from the worker's PGPASSWORD or ~/.pgpass).
	URL   string
	Query string
	Want  string `json:",omitempty"`
}

// CheckData is the runbook's `curl -G .../exec --data-urlencode 'query=SELECT COUNT(*) FROM
// market_data'`, or the same query over the PostgreSQL wire protocol.
func (a *Activities) CheckData(ctx context.Context, c DataCheck) (Result, error) {
	res := Result{Name: c.Name}
	row, err := QueryRow(ctx, a.client(), c.URL, c.Query)
	if err != nil {
		res.Evidence = fmt.Sprintf("%s: %v", c.Query, err)
		return res, nil
	}
	got := Row(row)
	res.Evidence = fmt.Sprintf("%s → %s", c.Query, got)
	if c.Want != "" {
		res.Passed = got == c.Want
		if !res.Passed {
			res.Evidence += fmt.Sprintf(", the backup recorded %s", c.Want)
		}
		return res, nil
	}
	if len(row) > 0 {
		n, err := strconv.ParseFloat(Row(row[:1]), 64)
		res.Passed = err == nil && n > 0
	}
	return res, nil
}

// QueryRow runs query against the database at url and returns its first row.
func QueryRow(ctx context.Context, hc *http.Client, dbURL, query string) ([]any, error) {
	rows, err := run(ctx, hc, dbURL, query)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows")
	}
	return rows[0], nil
}

// Exec runs a statement that returns no rows (an INSERT).
func Exec(ctx context.Context, hc *http.Client, dbURL, statement string) error {
	_, err := run(ctx, hc, dbURL, statement)
	return err
}

func run(ctx context.Context, hc *http.Client, dbURL, query string) ([][]any, error) {
	if isPostgres(dbURL) {
		return queryPostgres(ctx, dbURL, query)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(dbURL, "/")+"/exec?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Dataset [][]any `json:"dataset"`
		Error   string  `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.Error != "" {
		return nil, fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(cmp.Or(out.Error, string(body))))
	}
	return out.Dataset, nil
}

func queryPostgres(ctx context.Context, dbURL, query string) ([][]any, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Row writes a row as people read it and as a fingerprint is recorded: values joined by
// " | ", numbers without exponents or trailing zeros.
func Row(values []any) string {
	out := make([]string, len(values))
	for i, v := range values {
		switch n := v.(type) {
		case float64:
			out[i] = strconv.FormatFloat(n, 'f', -1, 64)
		case float32:
			out[i] = strconv.FormatFloat(float64(n), 'f', -1, 32)
		case int64, int32, int16, int, uint64, uint32:
			out[i] = fmt.Sprint(n)
		case pgtype.Numeric:
			f, err := n.Float64Value()
			if err == nil && f.Valid {
				out[i] = strconv.FormatFloat(f.Float64, 'f', -1, 64)
			} else {
				out[i] = "NULL"
			}
		case nil:
			out[i] = "NULL"
		default:
			out[i] = fmt.Sprint(n)
		}
	}
	return strings.Join(out, " | ")
}
