package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

func TestStaticBatchesSendTheNextBatchWhenTheLastOneHasEnded(t *testing.T) {
	srv := slowServer(t, 10*time.Millisecond)
	reqs, _ := Random{Count: 12, InputTokens: 2, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	b, err := NewBatches(4)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}).Play(context.Background(), reqs, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k < 3; k++ {
		var lastDone time.Duration
		for _, r := range res.Records[(k-1)*4 : k*4] {
			lastDone = max(lastDone, r.Done)
		}
		for _, r := range res.Records[k*4 : (k+1)*4] {
			if r.Scheduled != lastDone || r.Sent < lastDone {
				t.Errorf("batch %d request %d due %v, sent %v; the batch before ended at %v", k, r.Index, r.Scheduled, r.Sent, lastDone)
			}
		}
	}
	if _, err := NewBatches(0); err == nil {
		t.Error("batches of 0 accepted")
	}
}

func TestConversationsSendEachTurnAfterItsPreviousWithoutWaitingForOthers(t *testing.T) {
	// Conversation 0 is slow (every request whose index is a multiple of
	// 3); the others must not wait for it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ RID string }
		_ = decodeRID(r, &body.RID)
		if i, _ := strconv.Atoi(strings.TrimPrefix(body.RID, "x-")); i%3 == 0 {
			time.Sleep(60 * time.Millisecond)
		}
		Stub{}.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	reqs, err := MultiTurn{Conversations: 3, Turns: 4, QuestionTokens: 4, AnswerTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	if err != nil {
		t.Fatal(err)
	}
	conv, err := NewConversations(len(reqs), 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, RIDPrefix: "x-"}).Play(context.Background(), reqs, conv, nil)
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int]metrics.Record{}
	for _, r := range res.Records {
		if !r.OK() {
			t.Fatalf("request %d failed: %s", r.Index, r.Error)
		}
		byIndex[r.Index] = r
	}
	for i := 3; i < 12; i++ {
		prev, cur := byIndex[i-3], byIndex[i]
		if cur.Scheduled != prev.Done || cur.Sent < prev.Done {
			t.Errorf("turn %d of conversation %d due %v, sent %v; its previous turn ended at %v", i/3, i%3, cur.Scheduled, cur.Sent, prev.Done)
		}
	}
	if byIndex[10].Done > byIndex[6].Sent {
		t.Errorf("conversation 1 finished at %v, after slow conversation 0's third turn was sent at %v: it waited for it", byIndex[10].Done, byIndex[6].Sent)
	}
}

func TestRequestTimeoutFailsTheRequestNamingTheTimeout(t *testing.T) {
	srv := slowServer(t, 300*time.Millisecond)
	reqs, _ := Random{Count: 2, InputTokens: 2, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, RequestTimeout: 50 * time.Millisecond}
	res, err := g.Play(context.Background(), reqs, Offsets(make([]time.Duration, 2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Records {
		if r.OK() || r.Cancelled || !strings.Contains(r.Error, "timed out after 50ms (request timeout)") {
			t.Errorf("record %+v: want a failure naming the timeout", r)
		}
	}
}

func TestACancelledRunMarksRequestsCancelledWithItsCause(t *testing.T) {
	srv := slowServer(t, 2*time.Second)
	reqs, _ := Random{Count: 3, InputTokens: 2, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	ctx, cancel := context.WithCancelCause(context.Background())
	var started time.Time
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, Discard: true,
		OnStart: func(s time.Time) {
			started = s
			time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("server-2 exited at 0.1 s")) })
		}}
	var mu sync.Mutex
	var got []metrics.Record
	sink := func(r metrics.Record) error { mu.Lock(); got = append(got, r); mu.Unlock(); return nil }
	res, err := g.Play(ctx, reqs, Offsets(make([]time.Duration, 3)), sink)
	if err != nil {
		t.Fatal(err) // every request had arrived: nothing was cut short of arriving
	}
	if started.IsZero() {
		t.Error("OnStart was not called")
	}
	if len(res.Records) != 0 {
		t.Errorf("Discard kept %d records", len(res.Records))
	}
	if len(got) != 3 {
		t.Fatalf("the sink got %d records, want 3", len(got))
	}
	for _, r := range got {
		if !r.Cancelled || r.Error != "cancelled: server-2 exited at 0.1 s" {
			t.Errorf("record %d: cancelled %v, error %q", r.Index, r.Cancelled, r.Error)
		}
	}
}

// decodeRID reads the rid field of a request body, leaving the body for
// the stub to read again.
func decodeRID(r *http.Request, rid *string) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var v struct {
		RID string `json:"rid"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*rid = v.RID
	return nil
}
