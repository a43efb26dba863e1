package plan

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
)

// KnownKeys are the AccessKey IDs Threat Analysis knows (registered in
// Security Center's multi-cloud assets with the Threat Analysis module, as
// ListAccountAccessId answers them). Only a known key can be bound. Whether
// the API answers an ID in clear or masked is not documented, so a key is
// matched on its ID when that is in clear and on the MD5 of the ID otherwise.
type KnownKeys struct {
	clear map[string]bool
	md5   map[string]bool
	// entries keeps what was listed, for reports of keys no binding uses.
	entries []KnownKey
}

// KnownKey is one listed key.
type KnownKey struct {
	AccessID    string // as listed: in clear, or masked
	AccessIDMd5 string
	AccountID   string
	CloudCode   string
	Bound       bool
}

// NewKnownKeys returns an empty set.
func NewKnownKeys() *KnownKeys {
	return &KnownKeys{clear: map[string]bool{}, md5: map[string]bool{}}
}

// Add records a listed key.
func (k *KnownKeys) Add(key KnownKey) {
	if key.AccessID != "" && !strings.Contains(key.AccessID, "*") {
		k.clear[key.AccessID] = true
	}
	if key.AccessIDMd5 != "" {
		k.md5[strings.ToLower(key.AccessIDMd5)] = true
	}
	k.entries = append(k.entries, key)
}

// Knows reports whether Threat Analysis knows accessID.
func (k *KnownKeys) Knows(accessID string) bool {
	return k.clear[accessID] || k.md5[MD5Hex(accessID)]
}

// Unused returns the listed keys that no binding in ids uses (in the order
// they were listed).
func (k *KnownKeys) Unused(ids []string) []KnownKey {
	used := NewKnownKeys()
	for _, id := range ids {
		used.Add(KnownKey{AccessID: id, AccessIDMd5: MD5Hex(id)})
	}
	var out []KnownKey
	for _, e := range k.entries {
		if e.AccessIDMd5 != "" && used.md5[strings.ToLower(e.AccessIDMd5)] || used.clear[e.AccessID] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// MD5Hex is the hex MD5 of an AccessKey ID, as ListAccountAccessId's
// AccessIdMd5 carries it.
func MD5Hex(accessID string) string {
	sum := md5.Sum([]byte(accessID))
	return hex.EncodeToString(sum[:])
}
