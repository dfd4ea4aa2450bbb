// Package probe runs the runbook's post-rollback checks over HTTP: health endpoints, the
// market database's row count through QuestDB's /exec API, and the functional endpoint.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Activities probe the stack from the Docker host.
type Activities struct {
	HTTP *http.Client
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

// CheckHTTP is `curl URL` with the runbook's expectation.
func (a *Activities) CheckHTTP(ctx context.Context, c HTTPCheck) (Result, error) {
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

// DataCheck runs a count query on QuestDB's HTTP API and wants more than zero.
type DataCheck struct {
	Name  string
	URL   string
	Query string
}

// CheckData is the runbook's `curl -G .../exec --data-urlencode 'query=SELECT COUNT(*) FROM market_data'`.
func (a *Activities) CheckData(ctx context.Context, c DataCheck) (Result, error) {
	res := Result{Name: c.Name}
	u := strings.TrimRight(c.URL, "/") + "/exec?query=" + url.QueryEscape(c.Query)
	code, body, err := a.get(ctx, u)
	if err != nil {
		res.Evidence = fmt.Sprintf("%s: %v", c.Query, err)
		return res, nil
	}
	var out struct {
		Dataset [][]any `json:"dataset"`
		Error   string  `json:"error"`
	}
	if err := json.Unmarshal(body, &out); err != nil || code != http.StatusOK {
		res.Evidence = fmt.Sprintf("%s → %d %s %s", c.Query, code, out.Error, strings.TrimSpace(string(body)))
		return res, nil
	}
	var count float64
	if len(out.Dataset) > 0 && len(out.Dataset[0]) > 0 {
		count, _ = out.Dataset[0][0].(float64)
	}
	res.Passed = count > 0
	res.Evidence = fmt.Sprintf("%s → %.0f", c.Query, count)
	return res, nil
}
