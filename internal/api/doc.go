// Package api holds SGLang's wire types: the JSON bodies of /generate, the
// info endpoints and the error shapes, the server-sent-events framing of
// streamed responses, and the Prometheus metric names that SGLang exports.
//
// The simulator writes these shapes and the load generator reads them, so
// both sides agree by construction. Read generate.go first, then sse.go and
// metrics.go. The authority for every field is ../shared/sglang-reference.md
// (sections 2 and 4); a field here is named exactly as SGLang names it.
package api
