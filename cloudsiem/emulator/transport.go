package emulator

import (
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
)

// Transport serves requests in-process, without sockets. Tests use it to run
// the real client against the emulator inside a testing/synctest bubble, where
// loopback network IO would not count as durably blocked; benchmarks use it to
// measure the client's own cost. A dropped connection surfaces as a reset.
func (e *Emulator) Transport() http.RoundTripper { return transport{e} }

type transport struct{ e *Emulator }

func (t transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	req = req.Clone(req.Context())
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	rec := httptest.NewRecorder()
	defer func() {
		if r := recover(); r != nil {
			if r != http.ErrAbortHandler {
				panic(r)
			}
			resp, err = nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		}
	}()
	t.e.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp = rec.Result()
	resp.Request = req
	return resp, nil
}
