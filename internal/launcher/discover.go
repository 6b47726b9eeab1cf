package launcher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Discover finds what answers at url, a deployment sgltest did not start:
// a router (its GET /workers lists workers, whose URLs it returns) or a
// single SGLang server (GET /health answers 200; it returns url itself).
// apiKey, when set, is sent as a bearer token.
func Discover(ctx context.Context, url, apiKey string) (workers []string, router bool, err error) {
	url = strings.TrimRight(url, "/")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &authTransport{key: apiKey}}
	ws, werr := listWorkers(ctx, client, url)
	if werr == nil && len(ws) > 0 {
		for _, w := range ws {
			workers = append(workers, strings.TrimRight(w.URL, "/"))
		}
		return workers, true, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("the deployment at %s does not answer: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // unwanted: read so the connection is reused
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("the deployment at %s is not ready: GET /health answered %s (and /workers: %v)", url, resp.Status, werr)
	}
	return []string{url}, false, nil
}

// authTransport adds a bearer token to every request.
type authTransport struct{ key string }

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.key)
	}
	return (&http.Transport{Proxy: nil}).RoundTrip(r)
}
