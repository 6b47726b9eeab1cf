package simulator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// openAICall is one OpenAI-API request after validation.
type openAICall struct {
	chat         bool
	req          Request
	model        string // echoed back
	created      int64
	includeUsage bool
	// continuousUsage puts the cumulative usage on every content chunk.
	continuousUsage bool
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	received := s.clock.Now()
	var body api.CompletionRequest
	var extra openAIExtras
	if !s.decodeOpenAI(w, r, &body, &extra) {
		return
	}
	ids, input, verr := s.completionPrompt(body.Prompt)
	if verr == nil {
		verr = s.checkContext(input)
	}
	maxNew := api.DefaultCompletionMaxTokens
	if body.MaxTokens != nil {
		maxNew = *body.MaxTokens
	}
	sp := api.SamplingParams{
		MaxNewTokens: &maxNew, MinNewTokens: body.MinTokens, Temperature: body.Temperature, TopP: body.TopP,
		TopK: body.TopK, MinP: body.MinP, FrequencyPenalty: body.FrequencyPenalty, PresencePenalty: body.PresencePenalty,
		RepetitionPenalty: body.RepetitionPenalty, N: body.N, IgnoreEOS: body.IgnoreEOS,
	}
	if verr == nil {
		verr = s.checkLimits(input, sp, maxNew)
	}
	eosAfter := 0
	if verr == nil {
		eosAfter, verr = parseCustomParams(extra.CustomParams)
	}
	var boot *Bootstrap
	if verr == nil {
		boot, verr = extra.parse()
	}
	if verr != nil {
		writeOpenAIError(w, http.StatusBadRequest, verr.msg)
		return
	}
	req := s.newRequest(body.RID, input, maxNew, samplingParams{SamplingParams: sp, eosAfter: eosAfter}, body.Stream)
	req.InputIDs, req.Bootstrap = ids, boot
	s.serveOpenAI(w, r, received, openAICall{
		req:   req,
		model: cmp.Or(body.Model, "default"), created: time.Now().Unix(),
		includeUsage:    body.StreamOptions != nil && body.StreamOptions.IncludeUsage,
		continuousUsage: body.StreamOptions != nil && body.StreamOptions.ContinuousUsageStats,
	})
}

func (s *Server) handleChatCompletions(w http.ResponseWriter, r *http.Request) {
	received := s.clock.Now()
	var body api.ChatCompletionRequest
	var extra openAIExtras
	if !s.decodeOpenAI(w, r, &body, &extra) {
		return
	}
	ids, verr := s.chatPrompt(body.Messages)
	input := len(ids)
	if verr == nil {
		verr = s.checkContext(input)
	}
	// Null max tokens means "until EOS or the context limit": the engine
	// clamps an unbounded request.
	maxNew := -1
	limit := body.MaxCompletionTokens
	if limit == nil {
		limit = body.MaxTokens
	}
	if limit != nil {
		maxNew = *limit
	}
	sp := api.SamplingParams{
		MaxNewTokens: limit, MinNewTokens: body.MinTokens, Temperature: body.Temperature, TopP: body.TopP,
		TopK: body.TopK, MinP: body.MinP, FrequencyPenalty: body.FrequencyPenalty, PresencePenalty: body.PresencePenalty,
		RepetitionPenalty: body.RepetitionPenalty, N: body.N, IgnoreEOS: body.IgnoreEOS,
	}
	if verr == nil {
		verr = s.checkLimits(input, sp, maxNew)
	}
	eosAfter := 0
	if verr == nil {
		eosAfter, verr = parseCustomParams(extra.CustomParams)
	}
	var boot *Bootstrap
	if verr == nil {
		boot, verr = extra.parse()
	}
	if verr != nil {
		writeOpenAIError(w, http.StatusBadRequest, verr.msg)
		return
	}
	req := s.newRequest(body.RID, input, maxNew, samplingParams{SamplingParams: sp, eosAfter: eosAfter}, body.Stream)
	req.InputIDs, req.Bootstrap = ids, boot
	s.serveOpenAI(w, r, received, openAICall{
		chat:  true,
		req:   req,
		model: cmp.Or(body.Model, "default"), created: time.Now().Unix(),
		includeUsage:    body.StreamOptions != nil && body.StreamOptions.IncludeUsage,
		continuousUsage: body.StreamOptions != nil && body.StreamOptions.ContinuousUsageStats,
	})
}

// openAIExtras are the SGLang request fields the simulator reads beyond
// internal/api's request types.
type openAIExtras struct {
	CustomParams json.RawMessage `json:"custom_params"`
	bootstrapFields
}

// decodeOpenAI reads an OpenAI request body into each of vs. SGLang
// requires Content-Type: application/json on these endpoints and answers
// anything else, like malformed JSON, with 400.
func (s *Server) decodeOpenAI(w http.ResponseWriter, r *http.Request, vs ...any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeOpenAIError(w, http.StatusBadRequest, "Unsupported Media Type: Only 'application/json' is allowed")
		return false
	}
	data, err := s.readBody(w, r)
	for _, v := range vs {
		if err == nil {
			err = json.Unmarshal(data, v)
		}
	}
	if err != nil {
		writeOpenAIError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func writeOpenAIError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.ErrorResponse{Object: "error", Message: msg, Type: api.ErrorTypeBadRequest, Code: status})
}

// completionPrompt returns a completion prompt's token ids: a string's from
// the tokenizer (tokens.go), a list of ids as given. A one-element list of
// either is the same prompt; longer lists are batches, not simulated.
func (s *Server) completionPrompt(raw json.RawMessage) ([]int, int, *valueError) {
	if !present(raw) {
		return nil, 0, valueErrorf("prompt is required")
	}
	text := func(t string) ([]int, int, *valueError) {
		if t == "" {
			return nil, 0, valueErrorf("prompt must not be empty")
		}
		ids := s.tok.prompt(t)
		return ids, len(ids), nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return text(one)
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return s.checkIDs(ids)
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil && len(texts) == 1 {
		return text(texts[0])
	}
	var idLists [][]int
	if json.Unmarshal(raw, &idLists) == nil && len(idLists) == 1 {
		return s.checkIDs(idLists[0])
	}
	return nil, 0, valueErrorf("prompt must be one non-empty string or one list of token ids: batch requests are not simulated")
}

func (s *Server) checkIDs(ids []int) ([]int, int, *valueError) {
	if len(ids) == 0 {
		return nil, 0, valueErrorf("prompt must not be empty")
	}
	vocab := int(s.prof.Model.VocabSize.Value)
	if slices.ContainsFunc(ids, func(id int) bool { return id < 0 || id >= vocab }) {
		return nil, 0, valueErrorf("The input_ids %v contains values greater than the vocab size (%d).", ids, vocab)
	}
	return ids, len(ids), nil
}

// chatPrompt renders a conversation with the profile's chat template into
// token ids (tokens.go): a message's text is its string content or the
// concatenated text parts of its list content.
func (s *Server) chatPrompt(msgs []api.ChatMessage) ([]int, *valueError) {
	if len(msgs) == 0 {
		return nil, valueErrorf("messages must not be empty")
	}
	rendered := make([]chatMessage, 0, len(msgs))
	for i, m := range msgs {
		var all strings.Builder
		if !present(m.Content) {
			rendered = append(rendered, chatMessage{role: m.Role})
			continue
		}
		var text string
		if json.Unmarshal(m.Content, &text) == nil {
			rendered = append(rendered, chatMessage{role: m.Role, text: text})
			continue
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(m.Content, &parts); err != nil {
			return nil, valueErrorf("messages[%d].content must be a string or a list of content parts", i)
		}
		for j, p := range parts {
			if p.Type != "text" {
				return nil, valueErrorf("messages[%d].content[%d]: only text parts are simulated, got type %q", i, j, p.Type)
			}
			all.WriteString(p.Text)
		}
		rendered = append(rendered, chatMessage{role: m.Role, text: all.String()})
	}
	return s.tok.chat(rendered), nil
}

// serveOpenAI runs a validated request and writes its response. A streamed
// response's head is sent only once the first output exists, as SGLang
// does, so errors found before it are still plain JSON responses.
func (s *Server) serveOpenAI(w http.ResponseWriter, r *http.Request, received time.Duration, call openAICall) {
	ctx := r.Context()
	st, err := s.enqueue(ctx, received, call.req)
	if err != nil {
		if ctx.Err() == nil {
			writeOpenAIError(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	gen := newTokenGen(s.cfg.RandomSeed, call.req.ID, int(s.prof.Model.VocabSize.Value))
	if !call.req.Stream {
		state, err := st.wait(ctx)
		var abort *abortError
		switch {
		case ctx.Err() != nil:
			s.abort(call.req.ID)
		case errors.As(err, &abort):
			writeJSON(w, abort.status, abortResponse(abort))
		case err != nil:
			writeOpenAIError(w, http.StatusBadRequest, err.Error())
		default:
			s.extendOutput(gen, state)
			writeJSON(w, http.StatusOK, s.openAIResponse(call, state, gen.text.String()))
		}
		return
	}

	var sse *sseWriter
	sent := 0
	for {
		state, err := st.next(ctx, sent)
		if ctx.Err() != nil {
			s.abort(call.req.ID)
			return
		}
		var abort *abortError
		if err != nil && !errors.As(err, &abort) {
			if sse == nil {
				writeOpenAIError(w, http.StatusBadRequest, err.Error())
				return
			}
			if sse.event(map[string]any{"error": api.ErrorResponse{Object: "error", Message: err.Error(), Type: api.ErrorTypeBadRequest, Code: http.StatusBadRequest}}) == nil {
				_ = sse.done()
			}
			return
		}
		if sse == nil {
			sse = newSSEWriter(w)
		}
		if abort != nil {
			// A scheduler abort ends the stream with finish_reason "abort".
			state = streamState{generated: sent, cachedTokens: state.cachedTokens, finished: true, finishReason: api.FinishAbort}
		}
		s.extendOutput(gen, state)
		if err := s.writeOpenAIChunks(sse, call, state, gen.textBetween(sent, state.generated), sent == 0); err != nil {
			s.abort(call.req.ID)
			return
		}
		sent = state.generated
		if state.finished {
			if call.includeUsage {
				_ = sse.event(s.usageChunk(call, state))
			}
			_ = sse.done()
			return
		}
	}
}

// writeOpenAIChunks writes the events one output makes. Chat: the
// role-only delta before the first content, the content delta, and the
// finish as a separate event with an empty delta. Completions: one chunk
// with the text delta and, when finished, the finish reason.
func (s *Server) writeOpenAIChunks(sse *sseWriter, call openAICall, state streamState, delta string, first bool) error {
	var finish *string
	if state.finished {
		finish = &state.finishReason
	}
	matched := s.matchedStop(state)
	var usage *api.Usage
	if call.continuousUsage {
		u := s.usage(call, state)
		usage = &u
	}
	if !call.chat {
		return sse.event(api.CompletionResponse{
			ID: call.req.ID, Object: api.ObjectCompletion, Created: call.created, Model: call.model,
			Choices: []api.CompletionChoice{{Text: delta, FinishReason: finish, MatchedStop: matched}}, Usage: usage,
		})
	}
	chunk := func(d api.ChatDelta, finish *string) api.ChatCompletionChunk {
		var m any
		if finish != nil {
			m = matched
		}
		return api.ChatCompletionChunk{
			ID: call.req.ID, Object: api.ObjectChatCompletionChunk, Created: call.created, Model: call.model,
			Choices: []api.ChatChunkChoice{{Delta: d, FinishReason: finish, MatchedStop: m}}, Usage: usage,
		}
	}
	if first {
		empty := ""
		if err := sse.event(chunk(api.ChatDelta{Role: "assistant", Content: &empty}, nil)); err != nil {
			return err
		}
	}
	if delta != "" {
		if err := sse.event(chunk(api.ChatDelta{Content: &delta}, nil)); err != nil {
			return err
		}
	}
	if finish != nil {
		return sse.event(chunk(api.ChatDelta{}, finish))
	}
	return nil
}

// matchedStop is a finished choice's matched_stop: the EOS token id when the
// response stopped at it, else null.
func (s *Server) matchedStop(state streamState) any {
	if state.finished && state.finishReason == api.FinishStop {
		return s.tok.eos
	}
	return nil
}

// usage is the request's usage so far. Cached prompt tokens are reported
// only with --enable-cache-report, and only when there are some.
func (s *Server) usage(call openAICall, state streamState) api.Usage {
	u := api.Usage{
		PromptTokens:     call.req.InputTokens,
		CompletionTokens: state.generated,
		TotalTokens:      call.req.InputTokens + state.generated,
	}
	if s.cfg.EnableCacheReport && state.cachedTokens > 0 {
		u.PromptTokensDetails = &api.PromptTokensDetails{CachedTokens: state.cachedTokens}
	}
	return u
}

// usageChunk is the stream's final usage event, with no choices. SGLang
// dumps the completions one without null fields and the chat one with
// them.
func (s *Server) usageChunk(call openAICall, state streamState) any {
	u := s.usage(call, state)
	if call.chat {
		return api.ChatCompletionChunk{
			ID: call.req.ID, Object: api.ObjectChatCompletionChunk, Created: call.created, Model: call.model,
			Choices: []api.ChatChunkChoice{}, Usage: &u,
		}
	}
	usage := map[string]any{
		"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
		"total_tokens": u.TotalTokens, "reasoning_tokens": u.ReasoningTokens,
	}
	if u.PromptTokensDetails != nil {
		usage["prompt_tokens_details"] = u.PromptTokensDetails
	}
	return map[string]any{
		"id": call.req.ID, "object": api.ObjectCompletion, "created": call.created, "model": call.model,
		"choices": []any{}, "usage": usage,
	}
}

func (s *Server) openAIResponse(call openAICall, state streamState, text string) any {
	finish := state.finishReason
	if !call.chat {
		u := s.usage(call, state)
		return api.CompletionResponse{
			ID: call.req.ID, Object: api.ObjectCompletion, Created: call.created, Model: call.model,
			Choices: []api.CompletionChoice{{Text: text, FinishReason: &finish, MatchedStop: s.matchedStop(state)}},
			Usage:   &u,
		}
	}
	return api.ChatCompletionResponse{
		ID: call.req.ID, Object: api.ObjectChatCompletion, Created: call.created, Model: call.model,
		Choices: []api.ChatChoice{{Message: api.ChatOutputMessage{Role: "assistant", Content: &text}, FinishReason: &finish,
			MatchedStop: s.matchedStop(state)}},
		Usage: s.usage(call, state),
	}
}

// next waits until the stream has more than sent tokens, has finished or
// has failed, and returns its state.
func (s *stream) next(ctx context.Context, sent int) (streamState, error) {
	for {
		st := s.state()
		if st.err != nil {
			return st, st.err
		}
		if st.finished || st.generated > sent {
			return st, nil
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}
