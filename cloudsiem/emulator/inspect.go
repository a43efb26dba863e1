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
	switch r.Method + " " + r.URL.Path {
	case "GET /_emulator/state":
		writeJSON(w, "", http.StatusOK, e.Bindings())
	case "GET /_emulator/requests":
		writeJSON(w, "", http.StatusOK, e.Requests())
	case "GET /_emulator/counts":
		writeJSON(w, "", http.StatusOK, e.Counts())
	case "PUT /_emulator/faults":
		var f Faults
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	case "PUT /_emulator/quota":
		var q struct {
			PerSecond int `json:"perSecond"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.SetQuota(q.PerSecond)
		w.WriteHeader(http.StatusNoContent)
	case "POST /_emulator/seed":
		var bs []Binding
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&bs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.Seed(bs...)
		w.WriteHeader(http.StatusNoContent)
	case "GET /_emulator/keys":
		writeJSON(w, "", http.StatusOK, e.Keys())
	case "POST /_emulator/keys":
		var ks []Key
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&ks); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.Register(ks...)
		w.WriteHeader(http.StatusNoContent)
	case "PUT /_emulator/answers":
		var a Answers
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.SetAnswers(a)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}
