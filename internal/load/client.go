package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// maxLine bounds one SSE line. A cumulative /generate chunk repeats all text
// so far, so lines grow with output length; 16 MiB covers any real output.
const maxLine = 16 << 20

// Client sends requests to SGLang's native /generate endpoint with
// streaming on and records what happens.
type Client struct {
	HTTP *http.Client
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string
}

// NewHTTPClient returns an http.Client suited to a load generator: no
// overall timeout (a stream lasts as long as generation does; cancellation
// comes from the context), no compression, and enough idle connections per
// host that an open-loop burst reuses connections instead of dialling anew.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// prepared is a request whose body is encoded before the run starts, so that
// nothing but the send itself happens between arrival and Sent.
type prepared struct {
	req  Request
	rid  string
	body []byte
}

func prepare(req Request, rid string) (prepared, error) {
	maxNew := req.OutputTokens
	temp := 0.0
	body, err := json.Marshal(api.GenerateRequest{
		InputIDs: req.InputIDs,
		SamplingParams: &api.SamplingParams{
			MaxNewTokens: &maxNew,
			Temperature:  &temp,
			IgnoreEOS:    true,
		},
		Stream: true,
		RID:    rid,
	})
	return prepared{req: req, rid: rid, body: body}, err
}

// do sends p to target and fills rec. now reads the run's monotonic clock.
// Every failure is recorded in rec.Error; do itself never fails.
func (c *Client) do(ctx context.Context, target string, p prepared, now func() time.Duration, rec *metrics.Record) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/generate", bytes.NewReader(p.body))
	if err != nil {
		rec.Sent = now()
		rec.Done = rec.Sent
		rec.Error = "building request: " + err.Error()
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if c.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	rec.Sent = now()
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		rec.Done = now()
		rec.Error = "transport: " + err.Error()
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		rec.Done = now()
		rec.Error = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		return
	}
	if err := ParseStream(resp.Body, now, rec); err != nil {
		rec.Error = err.Error()
	}
}

// streamChunk is one /generate SSE payload: a GenerateResponse or, when the
// request failed after the stream began, an error object.
type streamChunk struct {
	api.GenerateResponse
	Error *api.ErrorDetail `json:"error"`
}

// ParseStream reads a /generate SSE stream, timestamping each line with now
// as soon as it is read. It appends a Chunk for every event whose
// meta_info.completion_tokens grew (the count is cumulative; one chunk may
// carry several tokens), sets FirstToken at the first such chunk, and sets
// Done when [DONE] is read or the stream fails. It returns an error for
// anything but a complete, successful stream: a malformed line, an error
// object or an abort inside the stream, a count that goes backwards, a
// stream that ends before [DONE], or one that ends without a finish reason.
func ParseStream(body io.Reader, now func() time.Duration, rec *metrics.Record) error {
	br := bufio.NewReaderSize(body, 64<<10)
	var (
		tokens   int
		finished bool
		line     []byte
	)
	fail := func(format string, a ...any) error {
		rec.Done = now()
		rec.OutputTokens = tokens
		return fmt.Errorf(format, a...)
	}
	for lineNo := 1; ; lineNo++ {
		var err error
		line, err = readLine(br, line[:0])
		at := now()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fail("stream ended before [DONE] after %d tokens", tokens)
			}
			return fail("reading stream: %v", err)
		}
		payload, ok := api.EventPayload(line)
		if !ok {
			continue
		}
		if string(payload) == api.DonePayload {
			rec.Done = at
			rec.OutputTokens = tokens
			if !finished {
				return fmt.Errorf("stream reached [DONE] without a finish_reason after %d tokens", tokens)
			}
			return nil
		}
		if finished {
			return fail("stream line %d: data after the finishing chunk", lineNo)
		}
		var ch streamChunk
		if err := json.Unmarshal(payload, &ch); err != nil {
			return fail("stream line %d: malformed chunk: %v", lineNo, err)
		}
		if ch.Error != nil {
			return fail("error in stream: %s", ch.Error.Message)
		}
		mi := ch.MetaInfo
		if n := mi.CompletionTokens - tokens; n > 0 {
			if rec.FirstToken == 0 {
				rec.FirstToken = at
			}
			rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: n})
			tokens = mi.CompletionTokens
		} else if n < 0 {
			return fail("stream line %d: completion_tokens went back from %d to %d", lineNo, tokens, mi.CompletionTokens)
		}
		rec.CachedTokens = mi.CachedTokens
		if fr := mi.FinishReason; fr != nil {
			if fr.Type == api.FinishAbort {
				return fail("aborted by server: %s", fr.Message)
			}
			finished = true
		}
	}
}

// readLine reads one line of any length up to maxLine into buf.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return buf, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if err == nil {
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			// A final line without its newline still counts; EOF comes next call.
			return buf, nil
		}
		return buf, err
	}
}
