package cloudsiem

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeAnswer reads a success body into out. The two list answers, which
// are megabytes for 10,000 bindings and are read on every pass, go through a
// reader made for their shape (an object whose Data is an array of flat
// objects): encoding/json spent most of a daemon's CPU on them (~100 ms a
// pass at 10,000 bindings, against ~20 ms now; BenchmarkDecodeList5k). That
// reader gives up on anything it was not made for (an escape in a string, a
// nested value where a scalar is expected, a number where a string is
// expected, a key that is not plain ASCII, ...) and the body is then read by
// encoding/json, exactly as before, so an answer means what encoding/json
// makes of it either way: FuzzFastDecodeAgrees holds the two to the same
// result on every input the fast reader accepts.
func decodeAnswer(data string, out any) error {
	if f, ok := out.(fastDecoder); ok && f.decodeFast(data) {
		return nil
	}
	// A fast reader may have written part of out before it gave up.
	switch v := out.(type) {
	case *listResponse:
		*v = listResponse{}
	case *knownKeysResponse:
		*v = knownKeysResponse{}
	}
	// One value is read and what follows it is ignored, as when the body
	// was decoded from the stream.
	return json.NewDecoder(strings.NewReader(data)).Decode(out)
}

// fastDecoder is a success body with a reader for its usual shape. It
// reports false, having written anything, when the input is not that shape.
type fastDecoder interface {
	decodeFast(s string) bool
}

func (r *listResponse) decodeFast(s string) bool {
	return decodeList(s, &r.envelope, &r.Data, (*listItem).set)
}

func (r *knownKeysResponse) decodeFast(s string) bool {
	return decodeList(s, &r.envelope, &r.Data, (*KnownAccessKey).set)
}

// set reads one field of a ListBindAccount entry.
func (it *listItem) set(key string, v scalar) bool {
	switch fieldName(key, listItemFields[:]) {
	case "BindId":
		return v.requiredInt64(&it.BindID, &it.hasBindID)
	case "AccountId":
		return v.requiredString(&it.AccountID, &it.hasAccountID)
	case "AccountName":
		return v.string(&it.AccountName)
	case "AccessId":
		return v.string(&it.AccessID)
	case "CloudCode":
		return v.requiredString(&it.CloudCode, &it.hasCloudCode)
	case "CreateUser":
		return v.string(&it.CreateUser)
	case "ModifyTime":
		return v.string(&it.ModifyTime)
	case "DataSourceCount":
		return v.int64(&it.DataSourceCount)
	}
	return v.kind != kindComposite
}

var listItemFields = [...]string{"BindId", "AccountId", "AccountName", "AccessId", "CloudCode", "CreateUser", "ModifyTime", "DataSourceCount"}

// set reads one field of a ListAccountAccessId entry.
func (k *KnownAccessKey) set(key string, v scalar) bool {
	switch fieldName(key, knownKeyFields[:]) {
	case "AccessId":
		return v.string(&k.AccessID)
	case "AccessIdMd5":
		return v.string(&k.AccessIDMd5)
	case "AccountId":
		return v.string(&k.AccountID)
	case "AccountStr":
		return v.string(&k.AccountStr)
	case "Bound":
		return v.int32(&k.Bound)
	case "CloudCode":
		return v.string(&k.CloudCode)
	case "SubUserId":
		return v.int64(&k.SubUserID)
	}
	return v.kind != kindComposite
}

var knownKeyFields = [...]string{"AccessId", "AccessIdMd5", "AccountId", "AccountStr", "Bound", "CloudCode", "SubUserId"}

// fieldName is the name of names that key stands for, or "". encoding/json
// matches a key to a field without regard to case, and so does this (keys
// are plain ASCII here); the exact spelling, the usual one, is tried first
// because it is the cheaper test.
func fieldName(key string, names []string) string {
	for _, n := range names {
		if key == n {
			return n
		}
	}
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return n
		}
	}
	return ""
}

// decodeList reads {"Code":…, "RequestId":…, "Data":[{…}, …], …}. Strings
// are slices of s (one copy of the body, not one per field).
func decodeList[T any](s string, env *envelope, data *[]T, set func(*T, string, scalar) bool) bool {
	sc := scanner{s: s}
	seenData := false
	return sc.object(func(key string) bool {
		switch {
		case strings.EqualFold(key, "Data"):
			if seenData { // a repeated Data: left to encoding/json
				return false
			}
			seenData = true
			if sc.literal("null") {
				*data = nil
				return true
			}
			// Sized once: one item per object in the body, give or take the
			// envelope (growing a slice of 5,000 copied it a dozen times).
			items := make([]T, 0, max(strings.Count(s, "{")-1, 0))
			ok := sc.array(func() bool {
				// Read in place, with no function per entry: a closure
				// capturing an entry put each on the heap.
				items = append(items, *new(T))
				item := &items[len(items)-1]
				if !sc.next('{') {
					return false
				}
				for first := true; ; first = false {
					key, end, ok := sc.key(first)
					if !ok || end {
						return ok
					}
					v, ok := sc.scalar()
					if !ok || !set(item, key, v) {
						return false
					}
				}
			})
			*data = items
			return ok
		case strings.EqualFold(key, "Code"):
			v, ok := sc.scalar()
			return ok && v.loose(&env.Code)
		case strings.EqualFold(key, "RequestId"):
			v, ok := sc.scalar()
			return ok && v.string(&env.RequestID)
		}
		v, ok := sc.scalar()
		return ok && v.kind != kindComposite
	})
}

// scalarKind is what a JSON value is, as far as the fast reader cares.
type scalarKind uint8

const (
	kindString scalarKind = iota
	kindNumber
	kindBool
	kindNull
	kindComposite // an object or array: the fast reader does not read one as a field
)

// scalar is one value: the text of a string (unquoted), or the literal.
type scalar struct {
	kind scalarKind
	text string
}

func (v scalar) string(dst *string) bool {
	switch v.kind {
	case kindString:
		*dst = v.text
	case kindNull: // encoding/json leaves the field as it was
	default:
		return false
	}
	return true
}

// requiredString reads a field that must be there: null is as if absent
// (encoding/json sets the pointer it reads such a field into to nil).
func (v scalar) requiredString(dst *string, has *bool) bool {
	switch v.kind {
	case kindString:
		*dst, *has = v.text, true
	case kindNull:
		*dst, *has = "", false
	default:
		return false
	}
	return true
}

// integer reads a number as an integer of bitSize bits, as encoding/json
// does; null is said, anything else (a fraction, an exponent, a string,
// too large) is not read.
func (v scalar) integer(bitSize int) (n int64, null, ok bool) {
	switch v.kind {
	case kindNumber:
		n, err := strconv.ParseInt(v.text, 10, bitSize)
		return n, false, err == nil
	case kindNull:
		return 0, true, true
	}
	return 0, false, false
}

func (v scalar) int64(dst *int64) bool {
	n, null, ok := v.integer(64)
	if ok && !null { // null leaves the field as it was
		*dst = n
	}
	return ok
}

func (v scalar) int32(dst *int32) bool {
	n, null, ok := v.integer(32)
	if ok && !null {
		*dst = int32(n)
	}
	return ok
}

// requiredInt64 reads a field that must be there: null is as if absent.
func (v scalar) requiredInt64(dst *int64, has *bool) bool {
	n, null, ok := v.integer(64)
	if ok {
		*dst, *has = n, !null
	}
	return ok
}

// loose is looseString's UnmarshalJSON: a string's text, a number's or a
// boolean's literal, nothing for null.
func (v scalar) loose(dst *looseString) bool {
	switch v.kind {
	case kindNull:
		*dst = ""
	case kindComposite:
		return false
	default:
		*dst = looseString(v.text)
	}
	return true
}

// scanner walks s. Every method reports false where the input is not what
// the fast reader handles; the caller then gives up.
type scanner struct {
	s string
	i int
}

func (sc *scanner) space() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips space and consumes c if it is next.
func (sc *scanner) next(c byte) bool {
	sc.space()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

func (sc *scanner) literal(lit string) bool {
	sc.space()
	if strings.HasPrefix(sc.s[sc.i:], lit) {
		sc.i += len(lit)
		return true
	}
	return false
}

// object reads {"key": value, ...}; member reads each value.
func (sc *scanner) object(member func(key string) bool) bool {
	if !sc.next('{') {
		return false
	}
	for first := true; ; first = false {
		key, end, ok := sc.key(first)
		if !ok || end {
			return ok
		}
		if !member(key) {
			return false
		}
	}
}

// key reads the next key of an object whose '{' is read, and its ':'; end
// reports the object's '}' instead.
func (sc *scanner) key(first bool) (key string, end, ok bool) {
	if sc.next('}') {
		return "", true, true
	}
	if !first && !sc.next(',') {
		return "", false, false
	}
	sc.space()
	key, ok = sc.str()
	// A key matched without regard to case must be plain ASCII:
	// encoding/json's folding of other letters is not repeated here.
	if !ok || !isASCII(key) || !sc.next(':') {
		return "", false, false
	}
	return key, false, true
}

// array reads [elem, ...].
func (sc *scanner) array(elem func() bool) bool {
	if !sc.next('[') {
		return false
	}
	if sc.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if sc.next(']') {
			return true
		}
		if !sc.next(',') {
			return false
		}
	}
}

// scalar reads a string, number, true, false or null. An object or array
// is reported as kindComposite, unread.
func (sc *scanner) scalar() (scalar, bool) {
	sc.space()
	if sc.i >= len(sc.s) {
		return scalar{}, false
	}
	switch c := sc.s[sc.i]; {
	case c == '"':
		text, ok := sc.str()
		return scalar{kind: kindString, text: text}, ok
	case c == '-' || c >= '0' && c <= '9':
		text, ok := sc.number()
		return scalar{kind: kindNumber, text: text}, ok
	case c == '{' || c == '[':
		return scalar{kind: kindComposite}, true
	}
	for _, lit := range [...]struct {
		text string
		kind scalarKind
	}{{"true", kindBool}, {"false", kindBool}, {"null", kindNull}} {
		if sc.literal(lit.text) {
			return scalar{kind: lit.kind, text: lit.text}, true
		}
	}
	return scalar{}, false
}

// str reads a string with no escape sequence: those are rare in these
// answers and left to encoding/json. Invalid UTF-8 is left to it too (it
// replaces bad bytes).
func (sc *scanner) str() (string, bool) {
	if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
		return "", false
	}
	start := sc.i + 1
	ascii := true
	for i := start; i < len(sc.s); i++ {
		c := sc.s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			continue
		}
		switch {
		case c == '"':
			text := sc.s[start:i]
			if !ascii && !utf8.ValidString(text) {
				return "", false
			}
			sc.i = i + 1
			return text, true
		case c >= 0x80:
			ascii = false
		default: // an escape, or a control character JSON does not allow
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (sc *scanner) number() (string, bool) {
	s, i := sc.s, sc.i
	start := i
	digits := func() bool {
		n := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return "", false
		}
	}
	sc.i = i
	return s[start:i], true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
