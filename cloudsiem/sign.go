package cloudsiem

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// Algorithm is the V3 signature algorithm name that starts the string to sign
// and the Authorization header.
const Algorithm = "ACS3-HMAC-SHA256"

// EmptyPayloadHash is hex(sha256("")), the x-acs-content-sha256 of an empty body.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// SignInput is everything the V3 signature covers. Header names may be in any
// case; only host, content-type and x-acs-* headers are signed.
type SignInput struct {
	Method      string
	Path        string // "/" for RPC
	Query       url.Values
	Headers     map[string]string
	PayloadHash string // hex sha256 of the body, equal to x-acs-content-sha256
}

// HashPayload returns the lowercase hex SHA-256 of body.
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// CanonicalRequest builds the V3 canonical request and the SignedHeaders list.
// It is pure so that the client signs and the emulator verifies with the same
// code, and so the published test vectors can pin it.
func CanonicalRequest(in SignInput) (canonical, signedHeaders string) {
	type header struct{ name, value string }
	var hs []header
	for k, v := range in.Headers {
		name := strings.ToLower(strings.TrimSpace(k))
		if name == "host" || name == "content-type" || strings.HasPrefix(name, "x-acs-") {
			hs = append(hs, header{name, strings.TrimSpace(v)})
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })

	var canonHeaders strings.Builder
	names := make([]string, len(hs))
	for i, h := range hs {
		canonHeaders.WriteString(h.name)
		canonHeaders.WriteByte(':')
		canonHeaders.WriteString(h.value)
		canonHeaders.WriteByte('\n')
		names[i] = h.name
	}
	signedHeaders = strings.Join(names, ";")

	path := in.Path
	if path == "" {
		path = "/"
	}
	canonical = strings.Join([]string{
		in.Method,
		path,
		canonicalQuery(in.Query),
		canonHeaders.String(),
		signedHeaders,
		in.PayloadHash,
	}, "\n")
	return canonical, signedHeaders
}

// StringToSign returns the V3 string to sign for a canonical request.
func StringToSign(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + hex.EncodeToString(sum[:])
}

// Signature returns hex(HMAC-SHA256(secret, StringToSign(canonical))).
func Signature(secret, canonical string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(StringToSign(canonical)))
	return hex.EncodeToString(mac.Sum(nil))
}

// Authorization formats the Authorization header value.
func Authorization(accessKeyID, signedHeaders, signature string) string {
	return Algorithm + " Credential=" + accessKeyID + ",SignedHeaders=" + signedHeaders + ",Signature=" + signature
}

// Sign computes the Authorization header for in with the given key pair.
func Sign(in SignInput, accessKeyID, accessKeySecret string) string {
	canonical, signed := CanonicalRequest(in)
	return Authorization(accessKeyID, signed, Signature(accessKeySecret, canonical))
}

// canonicalQuery sorts parameters by name and RFC 3986-encodes names and
// values (space as %20, '*' as %2A, '~' kept).
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(PercentEncode(k))
			b.WriteByte('=')
			b.WriteString(PercentEncode(v))
		}
	}
	return b.String()
}

// PercentEncode is RFC 3986 encoding as the V3 signature requires it.
func PercentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	e = strings.ReplaceAll(e, "%7E", "~")
	return e
}

// ParseAuthorization splits an Authorization header into its parts. ok is
// false when the header is not a well-formed V3 authorization.
func ParseAuthorization(h string) (accessKeyID, signedHeaders, signature string, ok bool) {
	rest, found := strings.CutPrefix(h, Algorithm+" ")
	if !found {
		return "", "", "", false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", "", "", false
		}
		switch k {
		case "Credential":
			accessKeyID = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		default:
			return "", "", "", false
		}
	}
	ok = accessKeyID != "" && signedHeaders != "" && signature != ""
	return accessKeyID, signedHeaders, signature, ok
}
