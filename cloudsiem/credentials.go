package cloudsiem

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aliyun/credentials-go/credentials"
)

// Credential is one resolved key pair, with a security token for STS.
type Credential struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// String never prints the secret or the token, so a Credential that ends up
// in a log line or an error leaks nothing.
func (c Credential) String() string {
	return fmt.Sprintf("Credential{AccessKeyID:%s, AccessKeySecret:<redacted>, STS:%t}", MaskAccessID(c.AccessKeyID), c.SecurityToken != "")
}

// GoString is the %#v form; it redacts as String does.
func (c Credential) GoString() string { return c.String() }

// CredentialSource hands out the credential to sign one attempt with. It is
// asked before every attempt, so a source may refresh (STS, RRSA).
type CredentialSource interface {
	Credential(ctx context.Context) (Credential, error)
}

// StaticCredentials is a fixed key pair (tests, the emulator, the demo).
type StaticCredentials Credential

// Credential returns the fixed pair.
func (s StaticCredentials) Credential(context.Context) (Credential, error) {
	return Credential(s), nil
}

// String redacts as Credential.String does.
func (s StaticCredentials) String() string { return Credential(s).String() }

// GoString is the %#v form; it redacts as String does.
func (s StaticCredentials) GoString() string { return s.String() }

// ChainCredentials resolves credentials with credentials-go's default chain
// (environment, OIDC/RRSA, CLI profile, credentials file, ECS RAM role,
// credentials URI). The chain refreshes lazily inside GetCredential and holds
// no lock of its own, so calls are serialised here.
//
// After a failure the chain is rebuilt, so the next call starts from the top
// again: credentials-go's default chain remembers the provider it tried last,
// and once every provider has failed (say RRSA's first AssumeRoleWithOIDC
// failed while the pod started) it would ask only that one for ever, or pin
// itself to the node's ECS role.
type ChainCredentials struct {
	mu    sync.Mutex
	build func() (credentials.Credential, error)
	cred  credentials.Credential // nil: build before the next call
}

// NewChainCredentials builds the default chain. The environment must be set
// before this call: the chain is assembled now (and again after a failure).
func NewChainCredentials() (*ChainCredentials, error) {
	return newChainCredentials(func() (credentials.Credential, error) { return credentials.NewCredential(nil) })
}

func newChainCredentials(build func() (credentials.Credential, error)) (*ChainCredentials, error) {
	cred, err := build()
	if err != nil {
		return nil, fmt.Errorf("credentials chain: %w", err)
	}
	return &ChainCredentials{build: build, cred: cred}, nil
}

// String names the type only: the chain may hold a secret or a token.
func (c *ChainCredentials) String() string { return "ChainCredentials{default chain}" }

// GoString is the %#v form; it redacts as String does.
func (c *ChainCredentials) GoString() string { return c.String() }

// Credential asks the chain for the current credential. It is cheap until a
// refresh is due.
func (c *ChainCredentials) Credential(ctx context.Context) (Credential, error) {
	if err := ctx.Err(); err != nil {
		return Credential{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cred == nil {
		cred, err := c.build()
		if err != nil {
			return Credential{}, fmt.Errorf("credentials chain: %w", err)
		}
		c.cred = cred
	}
	out, err := c.get()
	if err != nil {
		c.cred = nil // start from the top of the chain next time
		return Credential{}, err
	}
	return out, nil
}

func (c *ChainCredentials) get() (Credential, error) {
	m, err := c.cred.GetCredential()
	if err != nil {
		return Credential{}, fmt.Errorf("credentials chain: %w", err)
	}
	var out Credential
	if m.AccessKeyId != nil {
		out.AccessKeyID = *m.AccessKeyId
	}
	if m.AccessKeySecret != nil {
		out.AccessKeySecret = *m.AccessKeySecret
	}
	if m.SecurityToken != nil {
		out.SecurityToken = *m.SecurityToken
	}
	if out.AccessKeyID == "" || out.AccessKeySecret == "" {
		return Credential{}, errors.New("credentials chain: returned an empty AccessKey pair")
	}
	return out, nil
}
