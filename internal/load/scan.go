package load

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// A one-pass scanner for stream chunks, the client's hot path: it reads
// only the fields the parsers use and skips the rest (the cumulative text,
// output_ids), while still rejecting anything that is not valid JSON.
// encoding/json validates in one pass and decodes in a second, through
// reflection, which was a third of the client's CPU at a few thousand
// requests per second.
//
// Keys match exactly, as SGLang writes them; a key that appears twice
// replaces its earlier value (last wins, as a JSON object decoded into a
// map). null means absent. A field of the wrong type is an error. The
// differential fuzz tests in scan_test.go hold both scanners to a
// reference decoder built on encoding/json with these rules.

// nativeFields are the parts of a /generate chunk the parser reads.
type nativeFields struct {
	hasMeta    bool
	completion int
	cached     int
	prompt     int
	hasPrompt  bool // meta_info.prompt_tokens present and not null
	finish     bool // finish_reason an object (not null)
	finishType string
	finishMsg  string
	errRaw     []byte // the top-level "error" value, nil when absent
}

var (
	errSyntax = errors.New("invalid JSON")
	errType   = errors.New("value of the wrong type")
)

type scanner struct {
	b []byte
	i int
	// typeErr is the first field of the wrong type; scanning goes on so
	// that a syntax error later in the payload still wins.
	typeErr error
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		// SGLang writes no whitespace between tokens: one compare for it.
		if c := s.b[s.i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		s.i++
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// wrongType notes a type error and skips the value.
func (s *scanner) wrongType() error {
	s.typeErr = errType
	return s.skip()
}

// done checks that nothing but whitespace follows the top-level value.
func (s *scanner) done() error {
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return s.typeErr
}

// scanNative fills f from one chunk payload.
func scanNative(b []byte, f *nativeFields) error {
	*f = nativeFields{}
	s := scanner{b: b}
	if err := s.top(func(key []byte) error {
		switch string(key) {
		case "meta_info":
			f.hasMeta, f.completion, f.cached, f.prompt, f.hasPrompt = false, 0, 0, 0, false
			f.finish, f.finishType, f.finishMsg = false, "", ""
			ok, err := s.objectOrNull(func(key []byte) error {
				switch string(key) {
				case "completion_tokens":
					return s.int(&f.completion, nil)
				case "cached_tokens":
					return s.int(&f.cached, nil)
				case "prompt_tokens":
					return s.int(&f.prompt, &f.hasPrompt)
				case "finish_reason":
					f.finishType, f.finishMsg = "", ""
					ok, err := s.objectOrNull(func(key []byte) error {
						switch string(key) {
						case "type":
							return s.str(&f.finishType)
						case "message":
							return s.str(&f.finishMsg)
						}
						return s.skip()
					})
					f.finish = ok
					return err
				}
				return s.skip()
			})
			f.hasMeta = ok
			return err
		case "error":
			return s.raw(&f.errRaw)
		}
		return s.skip()
	}); err != nil {
		return err
	}
	return s.done()
}

// top scans the top-level value: an object, whose keys go to each, or
// null. Anything else is a type error.
func (s *scanner) top(each func(key []byte) error) error {
	_, err := s.objectOrNull(each)
	return err
}

// objectOrNull scans an object (calling each per key) or null; any other
// value is a type error. ok reports an object.
func (s *scanner) objectOrNull(each func(key []byte) error) (ok bool, err error) {
	switch s.peek() {
	case '{':
		return true, s.object(each)
	case 'n':
		return false, s.null()
	}
	return false, s.wrongType()
}

// null consumes a null literal.
func (s *scanner) null() error {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return nil
	}
	return errSyntax
}

// raw consumes any value and keeps its bytes (valid until b changes).
func (s *scanner) raw(dst *[]byte) error {
	s.ws()
	start := s.i
	if err := s.skip(); err != nil {
		return err
	}
	*dst = s.b[start:s.i]
	return nil
}

// object scans {"key": value, ...}, calling each with the unescaped key
// and the scanner positioned at the value, which it must consume.
func (s *scanner) object(each func(key []byte) error) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return errSyntax
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return errSyntax
		}
		start := s.i
		escaped, err := s.stringEnd()
		if err != nil {
			return err
		}
		key := s.b[start+1 : s.i-1]
		if escaped {
			var k string
			if err := json.Unmarshal(s.b[start:s.i], &k); err != nil {
				return errSyntax
			}
			key = []byte(k)
		}
		if s.peek() != ':' {
			return errSyntax
		}
		s.i++
		if err := each(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// array scans [v, ...], calling each with the scanner at an element, which
// it must consume.
func (s *scanner) array(each func() error) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return errSyntax
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := each(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// SWAR masks for specialMask: strings are mostly plain text, so
// stringEnd skips eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stringEnd consumes a string starting at s.i ('"') and reports whether it
// held escapes.
func (s *scanner) stringEnd() (escaped bool, err error) {
	s.i++
	b := s.b
	for {
		// Go to the next quote, backslash or control byte, eight bytes at
		// a time while eight remain.
		for s.i+8 <= len(b) {
			if m := specialMask(binary.LittleEndian.Uint64(b[s.i:])); m != 0 {
				s.i += bits.TrailingZeros64(m) >> 3
				break
			}
			s.i += 8
		}
		if s.i >= len(b) {
			return escaped, errSyntax
		}
		c := b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(b) {
				return escaped, errSyntax
			}
			switch b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(b) {
					return escaped, errSyntax
				}
				for _, h := range b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return escaped, errSyntax
					}
				}
				s.i += 6
			default:
				return escaped, errSyntax
			}
		case c < 0x20:
			return escaped, errSyntax
		default:
			s.i++ // fewer than eight bytes left
		}
	}
}

// specialMask marks the bytes of w (little-endian) that are below 0x20, a
// '"' or a '\' by their high bits. Its lowest set bit is exact: a byte x
// is zero exactly when (x - 1) &^ x has its high bit set, and below n
// (n <= 0x80) exactly when (x - n) &^ x has it, and a borrow only ever
// marks a byte above one that already matched.
func specialMask(w uint64) uint64 {
	quote := w ^ (ones * '"')
	slash := w ^ (ones * '\\')
	return ((w-ones*0x20)&^w | (quote-ones)&^quote | (slash-ones)&^slash) & highs
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

// str consumes a string into dst (null gives ""); any other value is a
// type error.
func (s *scanner) str(dst *string) error {
	switch s.peek() {
	case 'n':
		*dst = ""
		return s.null()
	case '"':
		start := s.i
		escaped, err := s.stringEnd()
		if err != nil {
			return err
		}
		raw := s.b[start+1 : s.i-1]
		if escaped || !utf8.Valid(raw) {
			// encoding/json's rules: escapes decoded, invalid UTF-8
			// replaced by U+FFFD.
			return json.Unmarshal(s.b[start:s.i], dst)
		}
		*dst = string(raw)
		return nil
	}
	*dst = ""
	return s.wrongType()
}

// nonEmpty consumes a string and sets *dst to whether it is not empty
// (null gives false); any other value is a type error.
func (s *scanner) nonEmpty(dst *bool) error {
	*dst = false
	switch s.peek() {
	case 'n':
		return s.null()
	case '"':
		start := s.i
		_, err := s.stringEnd()
		*dst = s.i-start > 2
		return err
	}
	return s.wrongType()
}

// int consumes an integer into dst (null gives 0) and, if present is not
// nil, records whether it was present; a number that is not an int (a
// fraction, an exponent, out of range) or any other value is a type error.
func (s *scanner) int(dst *int, present *bool) error {
	*dst = 0
	if present != nil {
		*present = false
	}
	switch c := s.peek(); {
	case c == 'n':
		return s.null()
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.number(); err != nil {
			return err
		}
		lit := s.b[start:s.i]
		n, ok := smallInt(lit)
		if !ok {
			v, err := strconv.ParseInt(string(lit), 10, 64)
			if err != nil || int64(int(v)) != v {
				s.typeErr = errType
				return nil
			}
			n = int(v)
		}
		*dst = n
		if present != nil {
			*present = true
		}
		return nil
	}
	return s.wrongType()
}

// smallInt parses a literal of at most 18 digits and no sign, fraction or
// exponent, the common case, without strconv.
func smallInt(lit []byte) (int, bool) {
	if len(lit) == 0 || len(lit) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// number consumes a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(b) && b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return errSyntax
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// skip consumes and validates any one value.
func (s *scanner) skip() error {
	return s.skipDepth(0)
}

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

func (s *scanner) skipDepth(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skipDepth(depth + 1) })
	case c == '[':
		return s.skipArray(depth)
	case c == '"':
		_, err := s.stringEnd()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 'n':
		return s.null()
	case c == 't' || c == 'f':
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			s.i += len(lit)
			return nil
		}
	}
	return errSyntax
}

// skipArray skips an array, taking elements that are plain integers (the
// token ids of output_ids) in one tight loop.
func (s *scanner) skipArray(depth int) error {
	b := s.b
	s.i++ // '['
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		j := s.i
		if j < len(b) && b[j] >= '0' && b[j] <= '9' {
			if b[j] == '0' {
				j++
			} else {
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					j++
				}
			}
		}
		if j > s.i && j < len(b) && (b[j] == ',' || b[j] == ']') {
			s.i = j
		} else if err := s.skipDepth(depth + 1); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// openAIFields are the parts of an OpenAI stream chunk (or non-streamed
// response) the parser reads.
type openAIFields struct {
	hasChoices bool // "choices" an array (possibly empty)
	choices    []openAIChoiceFields
	hasUsage   bool
	completion int
	cached     int
	prompt     int
	hasPrompt  bool
	errRaw     []byte
}

type openAIChoiceFields struct {
	index     int
	finish    bool // finish_reason a string (possibly empty)
	finishStr string
	// Whether each text field is a non-empty string, one flag per key so
	// that a repeated key replaces only its own value.
	text, dc, drc, dr, mc, mrc bool
}

// content reports whether the choice carries any text: completions text,
// chat content or reasoning.
func (c *openAIChoiceFields) content() bool {
	return c.text || c.dc || c.drc || c.dr || c.mc || c.mrc
}

// scanOpenAI fills f from one payload; f.choices is reused across calls.
func scanOpenAI(b []byte, f *openAIFields) error {
	choices := f.choices[:0]
	*f = openAIFields{}
	s := scanner{b: b}
	err := s.top(func(key []byte) error {
		switch string(key) {
		case "choices":
			choices = choices[:0]
			f.hasChoices = false
			switch s.peek() {
			case 'n':
				return s.null()
			case '[':
			default:
				return s.wrongType()
			}
			f.hasChoices = true
			return s.array(func() error {
				choices = append(choices, openAIChoiceFields{})
				c := &choices[len(choices)-1]
				_, err := s.objectOrNull(func(key []byte) error {
					switch string(key) {
					case "index":
						return s.int(&c.index, nil)
					case "text":
						return s.nonEmpty(&c.text)
					case "finish_reason":
						c.finish, c.finishStr = false, ""
						if s.peek() == '"' {
							c.finish = true
						}
						return s.str(&c.finishStr)
					case "delta":
						c.dc, c.drc, c.dr = false, false, false
						_, err := s.objectOrNull(func(key []byte) error {
							switch string(key) {
							case "content":
								return s.nonEmpty(&c.dc)
							case "reasoning_content":
								return s.nonEmpty(&c.drc)
							case "reasoning":
								return s.nonEmpty(&c.dr)
							}
							return s.skip()
						})
						return err
					case "message":
						c.mc, c.mrc = false, false
						_, err := s.objectOrNull(func(key []byte) error {
							switch string(key) {
							case "content":
								return s.nonEmpty(&c.mc)
							case "reasoning_content":
								return s.nonEmpty(&c.mrc)
							}
							return s.skip()
						})
						return err
					}
					return s.skip()
				})
				return err
			})
		case "usage":
			f.completion, f.cached, f.prompt, f.hasPrompt = 0, 0, 0, false
			ok, err := s.objectOrNull(func(key []byte) error {
				switch string(key) {
				case "completion_tokens":
					return s.int(&f.completion, nil)
				case "prompt_tokens":
					return s.int(&f.prompt, &f.hasPrompt)
				case "prompt_tokens_details":
					f.cached = 0
					_, err := s.objectOrNull(func(key []byte) error {
						if string(key) == "cached_tokens" {
							return s.int(&f.cached, nil)
						}
						return s.skip()
					})
					return err
				}
				return s.skip()
			})
			f.hasUsage = ok
			return err
		case "error":
			return s.raw(&f.errRaw)
		}
		return s.skip()
	})
	f.choices = choices
	if err != nil {
		return err
	}
	return s.done()
}
