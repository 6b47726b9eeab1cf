package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// A one-pass scanner for /generate stream chunks, the client's hot path:
// encoding/json validates each payload in a first pass and decodes it in a
// second, through reflection, which was a third of the client's CPU at a
// few thousand requests per second. scanNative reads only the fields the
// parser uses and skips the rest (the cumulative text, output_ids) while
// still validating them. It accepts and rejects exactly what
// json.Unmarshal into nativeChunk does, and yields the same fields; the
// differential fuzz test FuzzScanNativeMatchesEncodingJSON holds it to that.

// nativeFields are the parts of a /generate chunk the parser reads.
type nativeFields struct {
	hasMeta    bool
	completion int
	cached     int
	finish     bool // finish_reason present and not null
	finishType string
	finishMsg  string
	errRaw     []byte // the top-level "error" value, nil when absent
}

var errSyntax = errors.New("invalid JSON")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// scanNative fills f from one chunk payload.
func scanNative(b []byte, f *nativeFields) error {
	*f = nativeFields{}
	s := scanner{b: b}
	var typeErr error
	switch s.peek() {
	case '{':
		err := s.object(func(key []byte) error {
			switch {
			case keyIs(key, "meta_info"):
				if s.null() {
					return nil
				}
				if s.peek() != '{' {
					typeErr = errType
					return s.skip()
				}
				f.hasMeta = true
				return s.object(func(key []byte) error {
					switch {
					case keyIs(key, "completion_tokens"):
						return s.int(&f.completion, &typeErr)
					case keyIs(key, "cached_tokens"):
						return s.int(&f.cached, &typeErr)
					case keyIs(key, "prompt_tokens"), keyIs(key, "num_retractions"):
						var n int
						return s.int(&n, &typeErr)
					case keyIs(key, "id"):
						return s.str(nil, &typeErr)
					case keyIs(key, "e2e_latency"):
						return s.float(&typeErr)
					case keyIs(key, "finish_reason"):
						if s.null() {
							f.finish, f.finishType, f.finishMsg = false, "", ""
							return nil
						}
						if s.peek() != '{' {
							typeErr = errType
							return s.skip()
						}
						if !f.finish {
							f.finishType, f.finishMsg = "", ""
						}
						f.finish = true
						return s.object(func(key []byte) error {
							switch {
							case keyIs(key, "type"):
								return s.str(&f.finishType, &typeErr)
							case keyIs(key, "message"):
								return s.str(&f.finishMsg, &typeErr)
							case keyIs(key, "err_type"):
								return s.str(nil, &typeErr)
							case keyIs(key, "length"), keyIs(key, "status_code"):
								var n int
								return s.int(&n, &typeErr)
							}
							return s.skip()
						})
					}
					return s.skip()
				})
			case keyIs(key, "error"):
				start := s.i
				if err := s.skip(); err != nil {
					return err
				}
				f.errRaw = bytes.TrimSpace(s.b[start:s.i])
				return nil
			}
			return s.skip()
		})
		if err != nil {
			return err
		}
	case 'n':
		if !s.null() {
			return errSyntax
		}
	default:
		if err := s.skip(); err != nil {
			return err
		}
		typeErr = errType
	}
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return typeErr
}

var errType = errors.New("value of the wrong type")

// keyIs matches a key as encoding/json does: exactly, else case-folded.
func keyIs(key []byte, name string) bool {
	return string(key) == name || bytes.EqualFold(key, []byte(name))
}

// null consumes a null literal if one is next.
func (s *scanner) null() bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
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

// stringEnd consumes a string starting at s.i ('"') and reports whether it
// held escapes.
func (s *scanner) stringEnd() (escaped bool, err error) {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return escaped, errSyntax
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return escaped, errSyntax
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
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
			s.i++
		}
	}
	return escaped, errSyntax
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

// str consumes a string (or null) into dst, if not nil; any other value
// sets *typeErr.
func (s *scanner) str(dst *string, typeErr *error) error {
	switch s.peek() {
	case 'n':
		if !s.null() {
			return errSyntax
		}
		return nil
	case '"':
		start := s.i
		escaped, err := s.stringEnd()
		if err != nil || dst == nil {
			return err
		}
		if escaped {
			return json.Unmarshal(s.b[start:s.i], dst)
		}
		*dst = string(s.b[start+1 : s.i-1])
		return nil
	}
	*typeErr = errType
	return s.skip()
}

// int consumes an integer (or null, leaving dst) into dst.
func (s *scanner) int(dst *int, typeErr *error) error {
	switch c := s.peek(); {
	case c == 'n':
		if !s.null() {
			return errSyntax
		}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.number(); err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
		if err != nil || int64(int(n)) != n {
			*typeErr = errType
			return nil
		}
		*dst = int(n)
		return nil
	}
	*typeErr = errType
	return s.skip()
}

// float consumes a number (or null); out of float64's range is a type error.
func (s *scanner) float(typeErr *error) error {
	switch c := s.peek(); {
	case c == 'n':
		if !s.null() {
			return errSyntax
		}
		return nil
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.number(); err != nil {
			return err
		}
		if _, err := strconv.ParseFloat(string(s.b[start:s.i]), 64); err != nil {
			*typeErr = errType
		}
		return nil
	}
	*typeErr = errType
	return s.skip()
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
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skipDepth(depth + 1); err != nil {
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
	case c == '"':
		_, err := s.stringEnd()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
	}
	return errSyntax
}

// openAIFields are the parts of an OpenAI stream chunk (or non-streamed
// response) the parser reads, as scanOpenAI extracts them.
type openAIFields struct {
	hasChoices bool // "choices" present and not null (possibly empty)
	choices    []openAIChoiceFields
	hasUsage   bool
	completion int
	cached     int
	errRaw     []byte
}

type openAIChoiceFields struct {
	index     int
	finish    bool
	finishStr string
	// Whether each text field is a non-empty string, kept per field so that
	// a duplicate key or object replaces or merges as encoding/json does.
	text, dc, drc, dr, mc, mrc bool
}

// content reports whether the choice carries any text: completions text,
// chat content or reasoning.
func (c *openAIChoiceFields) content() bool {
	return c.text || c.dc || c.drc || c.dr || c.mc || c.mrc
}

// scanOpenAI fills f from one payload, accepting and rejecting exactly what
// json.Unmarshal into openAIChunk does (FuzzScanOpenAIMatchesEncodingJSON).
// f.choices is reused across calls.
func scanOpenAI(b []byte, f *openAIFields) error {
	choices := f.choices[:0]
	*f = openAIFields{}
	used := 0 // elements written in this payload: a repeated "choices" key
	// decodes into them again, as encoding/json reuses a slice's elements
	s := scanner{b: b}
	var typeErr error
	switch s.peek() {
	case '{':
		err := s.object(func(key []byte) error {
			switch {
			case keyIs(key, "choices"):
				if s.null() {
					f.hasChoices = false
					choices, used = choices[:0], 0
					return nil
				}
				if s.peek() != '[' {
					typeErr = errType
					return s.skip()
				}
				f.hasChoices = true
				choices = choices[:0]
				defer func() {
					if len(choices) == 0 {
						used = 0 // an empty array is a new, empty slice
					}
				}()
				return s.array(func() error {
					k := len(choices)
					if k < used {
						choices = choices[:k+1]
					} else {
						choices = append(choices, openAIChoiceFields{})
						used++
					}
					c := &choices[k]
					if s.null() {
						return nil
					}
					if s.peek() != '{' {
						typeErr = errType
						return s.skip()
					}
					return s.object(func(key []byte) error {
						switch {
						case keyIs(key, "index"):
							return s.int(&c.index, &typeErr)
						case keyIs(key, "text"):
							return s.nonEmpty(&c.text, &typeErr)
						case keyIs(key, "finish_reason"):
							if s.null() {
								c.finish, c.finishStr = false, ""
								return nil
							}
							if s.peek() != '"' {
								typeErr = errType
								return s.skip()
							}
							c.finish = true
							return s.str(&c.finishStr, &typeErr)
						case keyIs(key, "delta"), keyIs(key, "message"):
							delta := keyIs(key, "delta")
							if s.null() {
								if delta {
									c.dc, c.drc, c.dr = false, false, false
								} else {
									c.mc, c.mrc = false, false
								}
								return nil
							}
							if s.peek() != '{' {
								typeErr = errType
								return s.skip()
							}
							return s.object(func(key []byte) error {
								switch {
								case keyIs(key, "content"):
									if delta {
										return s.nonEmpty(&c.dc, &typeErr)
									}
									return s.nonEmpty(&c.mc, &typeErr)
								case keyIs(key, "reasoning_content"):
									if delta {
										return s.nonEmpty(&c.drc, &typeErr)
									}
									return s.nonEmpty(&c.mrc, &typeErr)
								case delta && keyIs(key, "reasoning"):
									return s.nonEmpty(&c.dr, &typeErr)
								}
								return s.skip()
							})
						}
						return s.skip()
					})
				})
			case keyIs(key, "usage"):
				if s.null() {
					f.hasUsage, f.completion, f.cached = false, 0, 0
					return nil
				}
				if s.peek() != '{' {
					typeErr = errType
					return s.skip()
				}
				if !f.hasUsage {
					f.completion, f.cached = 0, 0
				}
				f.hasUsage = true
				return s.object(func(key []byte) error {
					switch {
					case keyIs(key, "completion_tokens"):
						return s.int(&f.completion, &typeErr)
					case keyIs(key, "prompt_tokens"):
						var n int
						return s.int(&n, &typeErr)
					case keyIs(key, "prompt_tokens_details"):
						if s.null() {
							f.cached = 0
							return nil
						}
						if s.peek() != '{' {
							typeErr = errType
							return s.skip()
						}
						return s.object(func(key []byte) error {
							if keyIs(key, "cached_tokens") {
								return s.int(&f.cached, &typeErr)
							}
							return s.skip()
						})
					}
					return s.skip()
				})
			case keyIs(key, "error"):
				start := s.i
				if err := s.skip(); err != nil {
					return err
				}
				f.errRaw = bytes.TrimSpace(s.b[start:s.i])
				return nil
			}
			return s.skip()
		})
		if err != nil {
			return err
		}
	case 'n':
		if !s.null() {
			return errSyntax
		}
	default:
		if err := s.skip(); err != nil {
			return err
		}
		typeErr = errType
	}
	f.choices = choices
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return typeErr
}

// nonEmpty consumes a string (or null) and sets *dst to whether it is a
// non-empty string; null sets it false.
func (s *scanner) nonEmpty(dst *bool, typeErr *error) error {
	switch s.peek() {
	case 'n':
		if !s.null() {
			return errSyntax
		}
		*dst = false
		return nil
	case '"':
		start := s.i
		_, err := s.stringEnd()
		*dst = s.i-start > 2
		return err
	}
	*typeErr = errType
	return s.skip()
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
