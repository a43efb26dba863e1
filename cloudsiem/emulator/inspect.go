package emulator

import (
	"encoding/json"
	"net/http"
)

// serveInspect is the inspection surface, apart from the API path:
//
//	GET  /_emulator/state     the bindings
//	GET  /_emulator/requests  the request log
//	GET  /_emulator/counts    requests by action and outcome
//	PUT  /_emulator/faults    replace the injected faults (JSON Faults)
//	PUT  /_emulator/quota     {"perSecond": N}
//	POST /_emulator/seed      add bindings (JSON []Binding)
//	GET  /_emulator/keys      the registered AccessKeys
//	POST /_emulator/keys      register AccessKeys (JSON []Key), as Security Center would
//	PUT  /_emulator/answers   answer shapes (JSON Answers)
func (e *Emulator) serveInspect(w http.ResponseWriter, r *http.Request) {
	// apply decodes the JSON body into v and, if it parses, runs set.
	apply := func(v any, set func()) {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		set()
		w.WriteHeader(http.StatusNoContent)
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /_emulator/state":
		writeJSON(w, "", http.StatusOK, e.Bindings())
	case "GET /_emulator/requests":
		writeJSON(w, "", http.StatusOK, e.Requests())
	case "GET /_emulator/counts":
		writeJSON(w, "", http.StatusOK, e.Counts())
	case "PUT /_emulator/faults":
		var f Faults
		apply(&f, func() { e.SetFaults(f) })
	case "PUT /_emulator/quota":
		var q struct {
			PerSecond int `json:"perSecond"`
		}
		apply(&q, func() { e.SetQuota(q.PerSecond) })
	case "POST /_emulator/seed":
		var bs []Binding
		apply(&bs, func() { e.Seed(bs...) })
	case "GET /_emulator/keys":
		writeJSON(w, "", http.StatusOK, e.Keys())
	case "POST /_emulator/keys":
		var ks []Key
		apply(&ks, func() { e.Register(ks...) })
	case "PUT /_emulator/answers":
		var a Answers
		apply(&a, func() { e.SetAnswers(a) })
	default:
		http.NotFound(w, r)
	}
}
