package cloudsiem_test

import (
	"io"
	"net/http"
	"strings"
)

// readAll copies the request body into b and returns a fresh reader over it.
func readAll(r *http.Request, b *strings.Builder) io.ReadCloser {
	_, _ = io.Copy(b, r.Body)
	return io.NopCloser(strings.NewReader(b.String()))
}
