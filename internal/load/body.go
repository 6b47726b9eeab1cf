package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// maxLine bounds one SSE line. A cumulative /generate chunk repeats all text
// and token ids so far, so lines grow with output length; 16 MiB covers any
// real output.
const maxLine = 16 << 20

// initialBuf is a body reader's first buffer: a few SSE events. It grows
// for longer lines (cumulative /generate text) and keeps its size.
const initialBuf = 4 << 10

// How a response body is delimited.
const (
	bodyToEOF        = iota // until the source ends (a decoded net/http body, HTTP/1.0)
	bodyLength              // Content-Length bytes
	bodyChunked             // Transfer-Encoding: chunked
	bodyResponseHead        // not in a body yet: reading the response head
)

// Chunked decoding states.
const (
	chunkSize = iota // reading "<hex size>[;ext]\r\n"
	chunkData
	chunkDataEnd // the CRLF after a chunk's data
	chunkTrailer // trailer lines after the last chunk, up to a blank one
)

// bodyReader reads one HTTP response at a time from its source, in one
// buffer it keeps between responses: the response head, then the body,
// decoded in place (chunk framing is removed as bytes arrive), as SSE
// lines or as plain bytes. Every line carries the time its last byte was
// read from the source: lines are only looked for once the buffer has no
// complete line left, so a line is always completed by the latest read,
// and lines that arrived together share that read's time.
type bodyReader struct {
	src io.Reader
	now func() time.Duration

	buf []byte
	r   int // next unread decoded byte
	w   int // end of decoded bytes; buf[w:raw] are read but not yet decoded
	raw int

	mode   int
	left   int64 // bytes left in the body (bodyLength) or chunk (chunkData)
	state  int   // chunked decoding state
	ended  bool  // the body's last byte has been decoded
	srcErr error // the source's error, once it returned one
	// junk is set when bytes arrived after the body ended: the
	// connection is out of step and must not be reused.
	junk bool

	at     time.Duration // when the latest read returned
	lineNo int           // of the last line returned, from 1

	st stream // the stream being parsed, kept to reuse its buffers
}

// newStream starts the accounting of a stream read from b.
func (b *bodyReader) newStream(openAI bool, requested int, rec *metrics.Record) *stream {
	b.st = stream{openAI: openAI, requested: requested, rec: rec, now: b.now, oa: openAIFields{choices: b.st.oa.choices[:0]}}
	return &b.st
}

func newBodyReader() *bodyReader {
	return &bodyReader{buf: make([]byte, initialBuf)}
}

// reset starts a new body from src delimited by mode, with no bytes read.
func (b *bodyReader) reset(src io.Reader, now func() time.Duration, mode int) {
	b.src, b.now, b.mode = src, now, mode
	b.r, b.w, b.raw = 0, 0, 0
	b.left, b.state, b.ended, b.srcErr, b.junk = 0, chunkSize, false, nil, false
	b.at, b.lineNo = 0, 0
	if len(b.buf) > 1<<20 {
		b.buf = make([]byte, initialBuf) // do not pin a huge cumulative line
	}
}

// fill reads once from the source and decodes what arrived. It returns an
// error only when it could read nothing: the source's error, or
// io.ErrUnexpectedEOF for a source that ended inside a delimited body.
func (b *bodyReader) fill() error {
	if b.srcErr != nil {
		return b.srcErr
	}
	if b.r > 0 {
		n := copy(b.buf, b.buf[b.r:b.raw])
		b.w -= b.r
		b.raw = n
		b.r = 0
	}
	if b.raw == len(b.buf) {
		if len(b.buf) >= maxLine+64 {
			b.srcErr = fmt.Errorf("line longer than %d bytes", maxLine)
			return b.srcErr
		}
		nb := make([]byte, min(2*len(b.buf), maxLine+64))
		copy(nb, b.buf[:b.raw])
		b.buf = nb
	}
	n, err := b.src.Read(b.buf[b.raw:])
	b.at = b.now()
	b.raw += n
	if b.mode != bodyResponseHead {
		if derr := b.decode(); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) && b.mode != bodyResponseHead {
			if b.mode == bodyToEOF {
				b.ended = true
			} else if !b.ended {
				err = io.ErrUnexpectedEOF
			}
		}
		b.srcErr = err
		if n == 0 {
			return err
		}
	}
	return nil
}

// decode moves the raw bytes buf[w:raw] into the decoded region as the
// body's framing allows.
func (b *bodyReader) decode() error {
	switch b.mode {
	case bodyToEOF:
		b.w = b.raw
		return nil
	case bodyLength:
		n := min(b.left, int64(b.raw-b.w))
		b.w += int(n)
		b.left -= n
		if b.left == 0 {
			b.ended = true
		}
		if b.w < b.raw {
			b.junk = true
			b.raw = b.w
		}
		return nil
	}
	p := b.w // next raw byte
	for p < b.raw && !b.ended {
		switch b.state {
		case chunkData:
			n := min(b.left, int64(b.raw-p))
			copy(b.buf[b.w:], b.buf[p:p+int(n)])
			b.w += int(n)
			p += int(n)
			b.left -= n
			if b.left == 0 {
				b.state = chunkDataEnd
			}
		case chunkDataEnd:
			if b.buf[p] == '\r' {
				if p+1 >= b.raw {
					goto partial
				}
				p++
			}
			if b.buf[p] != '\n' {
				return errors.New("chunked body: no line end after a chunk")
			}
			p++
			b.state = chunkSize
		case chunkSize, chunkTrailer:
			i := bytes.IndexByte(b.buf[p:b.raw], '\n')
			if i < 0 {
				if b.raw-p > 4096 {
					return errors.New("chunked body: chunk header longer than 4096 bytes")
				}
				goto partial
			}
			line := bytes.TrimRight(b.buf[p:p+i], "\r")
			p += i + 1
			if b.state == chunkTrailer {
				if len(line) == 0 {
					b.ended = true
				}
				continue
			}
			if j := bytes.IndexByte(line, ';'); j >= 0 {
				line = line[:j]
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil || size < 0 {
				return fmt.Errorf("chunked body: bad chunk size %q", line)
			}
			if size == 0 {
				b.state = chunkTrailer
			} else {
				b.state, b.left = chunkData, size
			}
		}
	}
partial:
	if b.ended && p < b.raw {
		b.junk = true
		p = b.raw
	}
	n := copy(b.buf[b.w:], b.buf[p:b.raw])
	b.raw = b.w + n
	return nil
}

// event returns the payload of the next SSE data line (valid until the
// next call) and when its last byte was read. Blank lines, comments and
// other fields are skipped. At the body's end it returns io.EOF.
func (b *bodyReader) event() (payload []byte, at time.Duration, err error) {
	for {
		line, err := b.line()
		if err != nil {
			return nil, b.at, err
		}
		if payload, ok := api.EventPayload(line); ok {
			return payload, b.at, nil
		}
	}
}

// line returns the next line with its line end. A last line without one
// still counts when the body ended cleanly.
func (b *bodyReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(b.buf[b.r:b.w], '\n'); i >= 0 {
			line := b.buf[b.r : b.r+i+1]
			b.r += i + 1
			b.lineNo++
			return line, nil
		}
		switch {
		case b.ended && b.r < b.w:
			line := b.buf[b.r:b.w]
			b.r = b.w
			b.lineNo++
			return line, nil
		case b.ended:
			return nil, io.EOF
		case b.srcErr != nil:
			return nil, b.srcErr
		case b.w-b.r > maxLine:
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		_ = b.fill() // its error is kept in srcErr
	}
}

// Read reads decoded body bytes, for bodies that are not streams.
func (b *bodyReader) Read(p []byte) (int, error) {
	for b.r == b.w {
		switch {
		case b.ended:
			return 0, io.EOF
		case b.srcErr != nil:
			return 0, b.srcErr
		}
		_ = b.fill()
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// drain reads the rest of the body, at most limit more bytes, so that
// its connection can carry the next request; it reports whether the body
// ended cleanly with nothing after it.
func (b *bodyReader) drain(limit int) bool {
	for {
		limit -= b.w - b.r
		b.r = b.w
		if limit < 0 {
			return false
		}
		if b.ended {
			return !b.junk
		}
		if b.srcErr != nil {
			return false
		}
		_ = b.fill()
	}
}

// maxHead bounds a response head.
const maxHead = 64 << 10

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errNoResponse is a connection that ended before any byte of a response:
// a kept-alive connection the server had closed.
var errNoResponse = errors.New("connection closed before any response")

// responseHead is what the client reads from a response head.
type responseHead struct {
	status    int
	keepAlive bool
}

// readHead reads one response head (skipping 1xx interim responses) from
// a reader reset with bodyResponseHead, and sets the reader up for the
// body that follows.
func (b *bodyReader) readHead() (responseHead, error) {
	for {
		end := headEnd(b.buf[b.r:b.raw])
		if end < 0 {
			if b.raw-b.r > maxHead {
				return responseHead{}, fmt.Errorf("response head longer than %d bytes", maxHead)
			}
			got := b.raw
			b.w = b.r
			if err := b.fill(); err != nil {
				if got == 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isConnReset(err)) {
					return responseHead{}, errNoResponse
				}
				return responseHead{}, fmt.Errorf("reading response head: %w", err)
			}
			continue
		}
		h, mode, length, err := parseHead(b.buf[b.r : b.r+end])
		if err != nil {
			return responseHead{}, err
		}
		b.r += end
		if h.status >= 100 && h.status < 200 && h.status != 101 {
			continue
		}
		b.w = b.r
		b.mode, b.left = mode, length
		if mode == bodyLength && length == 0 {
			b.ended = true
		}
		if mode == bodyToEOF {
			h.keepAlive = false
		}
		if err := b.decode(); err != nil {
			return responseHead{}, err
		}
		if b.srcErr != nil && errors.Is(b.srcErr, io.EOF) {
			// The source ended together with the head.
			if mode == bodyToEOF {
				b.ended = true
			} else if !b.ended {
				b.srcErr = io.ErrUnexpectedEOF
			}
		}
		return h, nil
	}
}

// headEnd returns the length of the head at the start of p, blank line
// included, or -1 when it is not complete.
func headEnd(p []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(p) && p[i] == '\n':
			return i + 1
		case i+1 < len(p) && p[i] == '\r' && p[i+1] == '\n':
			return i + 2
		}
	}
}

// parseHead parses a status line and header fields.
func parseHead(head []byte) (h responseHead, mode int, length int64, err error) {
	lines := bytes.Split(bytes.TrimRight(head, "\r\n"), []byte("\n"))
	status := bytes.TrimRight(lines[0], "\r")
	var proto []byte
	if sp := bytes.IndexByte(status, ' '); sp > 0 {
		proto, status = status[:sp], status[sp+1:]
	}
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(status) < 3 {
		return h, 0, 0, fmt.Errorf("malformed response status line %q", lines[0])
	}
	code, err := strconv.Atoi(string(status[:3]))
	if err != nil || code < 100 || code > 999 {
		return h, 0, 0, fmt.Errorf("malformed response status line %q", lines[0])
	}
	h.status = code
	http10 := string(proto) == "HTTP/1.0"
	h.keepAlive = !http10
	mode, length = bodyToEOF, -1
	for _, l := range lines[1:] {
		l = bytes.TrimRight(l, "\r")
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return h, 0, 0, fmt.Errorf("malformed response header line %q", l)
		}
		name, value := l[:colon], bytes.TrimSpace(l[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
				mode = bodyChunked
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return h, 0, 0, fmt.Errorf("malformed Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Connection")):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				h.keepAlive = false
			} else if http10 && bytes.Contains(v, []byte("keep-alive")) {
				h.keepAlive = true
			}
		}
	}
	switch {
	case code == 204 || code == 304 || code == 101:
		mode, length = bodyLength, 0
	case mode == bodyChunked:
	case length >= 0:
		mode = bodyLength
	}
	return h, mode, length, nil
}
