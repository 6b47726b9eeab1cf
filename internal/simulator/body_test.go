package simulator

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBodiesThatStallOrOverflowAreRefusedWithSGLangsErrorShape: a client
// that stops sending mid-body, or sends more than the simulator reads, gets
// a 400 in SGLang's error shape instead of holding a handler forever.
func TestBodiesThatStallOrOverflowAreRefusedWithSGLangsErrorShape(t *testing.T) {
	ts := bodyServer(t, 200*time.Millisecond)

	for _, path := range []string{"/generate", "/v1/completions", "/v1/chat/completions"} {
		t.Run("stalled body "+path, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard against a hang, not a speed check.
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			_, err = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response to a stalled body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "request body not received within 200ms") {
				t.Errorf("got %d %s, want 400 naming the body timeout", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), `"object":"error"`) && !strings.Contains(string(body), `"error"`) {
				t.Errorf("body %s is not in SGLang's error shape", body)
			}
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		ts := bodyServer(t, 0) // the default: reading 64 MiB under -race takes a while
		big := bytes.Repeat([]byte("a"), maxBodyBytes+1)
		resp, err := http.Post(ts.URL+"/generate", "application/json", bytes.NewReader(append(append([]byte(`{"text":"`), big...), '"', '}')))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "request body too large") {
			t.Errorf("got %d %s, want 400 request body too large", resp.StatusCode, body)
		}
	})
}

func bodyServer(t *testing.T, timeout time.Duration) *httptest.Server {
	t.Helper()
	_, ts := serve(t, Options{
		Config:      Config{ModelPath: "m", HealthPoll: time.Millisecond},
		Profile:     mustProfile(t, fastProfile),
		BodyTimeout: timeout,
	})
	return ts
}
