package api

import (
	"bytes"
	"io"
)

// SSE framing as SGLang writes it: each event is one "data: <json>" line
// followed by a blank line, with no event: or id: lines, and the stream ends
// with the literal "data: [DONE]".
var (
	dataPrefix = []byte("data: ")
	doneLine   = []byte("data: [DONE]")
)

// DonePayload is the payload of the stream's final event.
const DonePayload = "[DONE]"

// WriteEvent writes one SSE event carrying payload.
func WriteEvent(w io.Writer, payload []byte) error {
	buf := make([]byte, 0, len(dataPrefix)+len(payload)+2)
	buf = append(buf, dataPrefix...)
	buf = append(buf, payload...)
	buf = append(buf, '\n', '\n')
	_, err := w.Write(buf)
	return err
}

// WriteDone writes the terminating data: [DONE] event.
func WriteDone(w io.Writer) error {
	_, err := w.Write(append(doneLine[:len(doneLine):len(doneLine)], '\n', '\n'))
	return err
}

// EventPayload returns the payload of one SSE line and whether the line is a
// data line. Blank lines, comments and other fields return ok == false.
func EventPayload(line []byte) (payload []byte, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	if !bytes.HasPrefix(line, []byte("data:")) {
		return nil, false
	}
	payload = bytes.TrimPrefix(line[len("data:"):], []byte(" "))
	return payload, true
}
