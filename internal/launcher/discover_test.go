package launcher

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestDiscoverFindsARoutersWorkersOrAPlainServer(t *testing.T) {
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/workers" {
			w.Write([]byte(`{"workers":[{"url":"http://w1:1","is_healthy":true},{"url":"http://w2:2/","is_healthy":true}],"total":2}`))
		}
	}))
	defer router.Close()
	ws, isRouter, err := Discover(t.Context(), router.URL+"/", "k")
	if err != nil || !isRouter || !slices.Equal(ws, []string{"http://w1:1", "http://w2:2"}) {
		t.Errorf("router: %v %v %v", ws, isRouter, err)
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	}))
	defer server.Close()
	ws, isRouter, err = Discover(t.Context(), server.URL, "")
	if err != nil || isRouter || !slices.Equal(ws, []string{server.URL}) {
		t.Errorf("server: %v %v %v", ws, isRouter, err)
	}
	server.Close()
	if _, _, err := Discover(t.Context(), server.URL, ""); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("a closed server: %v", err)
	}
}
