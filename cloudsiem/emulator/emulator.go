// Package emulator is a faithful local stand-in for the cloud-siem
// bind-account API. It speaks the same wire protocol as the real service
// (POST /, form body, x-acs-* headers, V3 signature) and keeps real state with
// the documented semantics, so a client that passes against it has exercised
// signing, error decoding and the binding rules end to end. The official SDK
// core's requests are accepted (a test sends them).
//
// # The model
//
// Each data center (RegionId cn-hangzhou or ap-southeast-1) holds one set of
// bindings. A binding belongs to an account: the caller's own (0) or a member
// of its enterprise (the RoleFor it was bound with). The view parameters
// select from that one set:
//
//	RoleFor=X             the bindings of member X (lists and changes)
//	RoleType=1, no RoleFor every binding of every account in the data center
//	neither               the caller's own bindings
//
// An AccessKey ID is bound at most once per data center, whatever the view
// (documented: "access ak %s already bound"; the per-data-center scope is
// inferred). A key can only be bound once it is registered in Security
// Center's multi-cloud assets: the emulator keeps that registry per data
// center (the keys of seeded bindings, Config.Keys, Register and POST
// /_emulator/keys); BindAccount, or ModifyBindAccount to a new AccessId, for
// a key that is not registered is refused with 400
// InvalidAccessId.NotRegistered. That code is inferred (the documentation
// names none); Config.AnyKey turns the check off. ListAccountAccessId answers
// the registry with Bound derived from the bindings; with AnyKey there is no
// registry and it is refused as for a caller without the permission. What RoleFor combined
// with RoleType=1 means is not documented: here RoleFor wins (inferred).
//
// Answers follow the documented shapes; Answers switches on the success
// envelope ("Code": 200, "Success": true, "Message": "success") that cloud-siem
// documents on many operations, omits an empty Data, or masks AccessId in
// ListAccountAccessId, so clients can be tested against each shape.
//
// Beyond the API it offers what a test or a demo needs: a per-second request
// quota that answers like the real flow control, fault injection (latency,
// 500 and 503 rates, dropped connections, Count-0 answers), and an inspection
// surface (Bindings, Requests, and /_emulator/ over HTTP) kept apart from the
// API path.
package emulator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"golang.org/x/time/rate"
)

// Scope is where a binding lives: its data center and the account that owns
// it (RoleFor; 0 is the caller's own). RoleType is a view, not a place: it is
// ignored when seeding.
type Scope struct {
	RegionID string
	RoleFor  int64
	RoleType int32
}

// Key is an AccessKey registered in Security Center's multi-cloud assets for
// Threat Analysis, in one data center.
type Key struct {
	RegionID    string `json:"regionId"`
	CloudCode   string `json:"cloudCode"`
	AccessID    string `json:"accessId"`
	AccountID   string `json:"accountId"`
	AccountName string `json:"accountName,omitempty"`
}

// Answers selects optional answer shapes.
type Answers struct {
	Envelope      bool `json:"envelope"`      // Code 200, Success, Message on every 2xx
	OmitEmptyData bool `json:"omitEmptyData"` // leave out a Data that is an empty list
	MaskAccessID  bool `json:"maskAccessId"`  // ListAccountAccessId shows AccessId masked
}

// Binding is one stored binding with its scope.
type Binding struct {
	Scope
	cloudsiem.BoundAccount
}

// Faults are injected failures; the zero value injects none. Rates are
// probabilities in [0,1] drawn per API request.
type Faults struct {
	Latency        time.Duration  `json:"latency"`        // added to every API request
	LatencySpike   time.Duration  `json:"latencySpike"`   // added with probability SpikeRate
	SpikeRate      float64        `json:"spikeRate"`      //
	InternalError  float64        `json:"internalError"`  // 500 InternalError
	Unavailable    float64        `json:"unavailable"`    // 503 ServiceUnavailable
	Drop           float64        `json:"drop"`           // connection closed before the request is processed
	DropAfterApply float64        `json:"dropAfterApply"` // connection closed after a mutating request was applied
	CountZero      map[int64]bool `json:"countZero"`      // BindIds whose Modify/Delete answer Count 0
	MalformedRate  float64        `json:"malformedRate"`  // 200 with a body that is not JSON
}

// Config configures an Emulator.
type Config struct {
	// Credentials maps AccessKey ID to the key pair accepted for it. A pair
	// with a SecurityToken accepts only requests carrying that token.
	Credentials []cloudsiem.Credential
	// QuotaPerSecond is the API request quota; 0 means unlimited.
	QuotaPerSecond int
	// SkipSignature accepts unsigned requests (only for tests of other layers).
	SkipSignature bool
	Faults        Faults
	// CreateUser is recorded on new bindings; default "1234567890123456".
	CreateUser string
	Seed       int64 // seeds the fault dice; 0 picks 1
	Now        func() time.Time
	// Keys are registered from the start (besides the keys of seeded bindings).
	Keys []Key
	// AnyKey binds keys that are not registered (turns the registry off).
	AnyKey bool
	// Answers selects optional answer shapes.
	Answers Answers
}

// Emulator is an http.Handler serving the API on "/" and inspection on /_emulator/.
type Emulator struct {
	mu         sync.Mutex
	creds      map[string]cloudsiem.Credential
	skipSig    bool
	quota      *rate.Limiter
	faults     Faults
	createUser string
	now        func() time.Time
	dice       *rand.Rand
	bindings   map[int64]*Binding
	nextID     int64
	nonces     map[string]time.Time
	nonceOrder []nonceSeen
	log        []Request
	keys       map[keyID]Key
	anyKey     bool
	answers    Answers
}

// keyID is a registered key's identity: an AccessKey ID in a data center.
type keyID struct{ region, accessID string }

type nonceSeen struct {
	nonce string
	at    time.Time
}

// Request is one API request as the emulator saw it.
type Request struct {
	Time    time.Time         `json:"time"`
	Action  string            `json:"action"`
	Params  map[string]string `json:"params"`
	Status  int               `json:"status"`
	Outcome string            `json:"outcome"` // "ok", an error Code, "count0", "dropped", "malformed", "client_gone"
	Applied bool              `json:"applied"` // a mutation changed state
}

// Mutating reports whether the request asked to change state (whatever the
// answer): the witness tests use to prove nothing was changed.
func (r Request) Mutating() bool {
	switch r.Action {
	case cloudsiem.ActionBindAccount, cloudsiem.ActionModifyBindAccount, cloudsiem.ActionDeleteBindAccount:
		return true
	}
	return false
}

// New returns an emulator with an empty state.
func New(cfg Config) *Emulator {
	e := &Emulator{
		creds:      map[string]cloudsiem.Credential{},
		skipSig:    cfg.SkipSignature,
		faults:     cfg.Faults,
		createUser: cfg.CreateUser,
		now:        cfg.Now,
		bindings:   map[int64]*Binding{},
		nextID:     1000,
		nonces:     map[string]time.Time{},
		keys:       map[keyID]Key{},
		anyKey:     cfg.AnyKey,
		answers:    cfg.Answers,
	}
	for _, k := range cfg.Keys {
		e.register(k)
	}
	for _, c := range cfg.Credentials {
		e.creds[c.AccessKeyID] = c
	}
	if e.createUser == "" {
		e.createUser = "1234567890123456"
	}
	if e.now == nil {
		e.now = time.Now
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	e.dice = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	e.SetQuota(cfg.QuotaPerSecond)
	return e
}

// SetQuota changes the per-second quota (0: unlimited). The bucket holds one
// second's worth of requests.
func (e *Emulator) SetQuota(perSecond int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if perSecond <= 0 {
		e.quota = nil
		return
	}
	e.quota = rate.NewLimiter(rate.Limit(perSecond), perSecond)
}

// SetFaults replaces the injected faults while running.
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
}

// SetCredentials replaces the accepted key pairs (to revoke or rotate keys).
func (e *Emulator) SetCredentials(creds ...cloudsiem.Credential) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creds = map[string]cloudsiem.Credential{}
	for _, c := range creds {
		e.creds[c.AccessKeyID] = c
	}
}

// SetAnswers changes the answer shapes while running.
func (e *Emulator) SetAnswers(a Answers) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers = a
}

// Register adds keys to the registry, as registering them in Security
// Center's multi-cloud assets would.
func (e *Emulator) Register(keys ...Key) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range keys {
		e.register(k)
	}
}

// Unregister removes keys from the registry (by data center and AccessId).
func (e *Emulator) Unregister(keys ...Key) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range keys {
		delete(e.keys, keyID{normScope(Scope{RegionID: k.RegionID}).RegionID, k.AccessID})
	}
}

// Keys returns the registry, ordered by data center, cloud code and AccessId.
func (e *Emulator) Keys() []Key {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Key, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.RegionID != b.RegionID {
			return a.RegionID < b.RegionID
		}
		if a.CloudCode != b.CloudCode {
			return a.CloudCode < b.CloudCode
		}
		return a.AccessID < b.AccessID
	})
	return out
}

// register adds one key; e.mu must be held.
func (e *Emulator) register(k Key) {
	k.RegionID = normScope(Scope{RegionID: k.RegionID}).RegionID
	e.keys[keyID{k.RegionID, k.AccessID}] = k
}

// Seed adds bindings as if they had been bound earlier. A zero BindID gets the
// next free one; ModifyTime and CreateUser are filled when empty.
func (e *Emulator) Seed(bs ...Binding) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range bs {
		b.Scope = normScope(b.Scope)
		if b.BindID == 0 {
			b.BindID = e.newID()
		} else if b.BindID >= e.nextID {
			e.nextID = b.BindID + 1
		}
		if b.CreateUser == "" {
			b.CreateUser = e.createUser
		}
		if b.ModifyTime == "" {
			b.ModifyTime = e.modifyTime()
		}
		if b.AccessID != "" {
			e.register(Key{RegionID: b.RegionID, CloudCode: b.CloudCode, AccessID: b.AccessID, AccountID: b.AccountID, AccountName: b.AccountName})
		}
		e.bindings[b.BindID] = &b
	}
}

// Delete removes a binding, as a change made outside bindsync would.
func (e *Emulator) Delete(bindID int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.bindings, bindID)
}

// Bindings returns a copy of the state, ordered by scope, cloud code, account.
func (e *Emulator) Bindings() []Binding {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Binding, 0, len(e.bindings))
	for _, b := range e.bindings {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return fmt.Sprint(a.Scope) < fmt.Sprint(b.Scope)
		}
		if a.CloudCode != b.CloudCode {
			return a.CloudCode < b.CloudCode
		}
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		return a.BindID < b.BindID
	})
	return out
}

// Requests returns a copy of the request log.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.log...)
}

// Counts returns how many requests each action got, by outcome.
func (e *Emulator) Counts() map[string]map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]map[string]int{}
	for _, r := range e.log {
		if out[r.Action] == nil {
			out[r.Action] = map[string]int{}
		}
		out[r.Action][r.Outcome]++
	}
	return out
}

// ResetLog forgets the request log.
func (e *Emulator) ResetLog() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = nil
}

func (e *Emulator) newID() int64 {
	id := e.nextID
	e.nextID++
	return id
}

// modifyTime is formatted as the API shows it: no zone, UTC+8 (inferred).
func (e *Emulator) modifyTime() string {
	return e.now().In(time.FixedZone("UTC+8", 8*3600)).Format("2006-01-02 15:04:05")
}

// normScope fills the default data center and drops the view type: a
// binding is stored by data center and owner only.
func normScope(s Scope) Scope {
	if s.RegionID == "" {
		s.RegionID = cloudsiem.RegionMainland
	}
	s.RoleType = 0
	return s
}

// Serve listens on addr (e.g. "127.0.0.1:0") and serves until ctx ends. ready
// receives the bound address once listening.
func (e *Emulator) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("emulator: %w", err)
	}
}

// ServeHTTP routes API requests (POST /) and inspection (/_emulator/).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		e.serveInspect(w, r)
		return
	}
	e.serveAPI(w, r)
}
