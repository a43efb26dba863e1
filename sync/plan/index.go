package plan

import (
	"hash/maphash"
	"math/bits"
)

// keyIndex finds observed bindings by identity, for plans over 100,000
// bindings a side. It is an open-addressing table of observed indexes keyed
// by the accountId alone, with a chain through the rare bindings that share
// an accountId across cloud codes or views.
//
// Why not a map[Key]int32 or map[string]int32: a lookup at this size is a
// cache miss, and the time a plan takes is mostly those misses. A slot here
// is 4 bytes (the index, and in the bits the index leaves free a
// fingerprint of the hash, compared before any string is touched), so a
// 100,000 binding index is 512 KiB where a string-keyed map takes 3 MiB;
// it holds no pointers, so the garbage collector never scans it; and an
// insert that finds its accountId taken links the chain in the same probe.
// BENCHMARKS.md has the figures.
type keyIndex struct {
	observed []Binding
	slots    []uint32 // tag | (index+1); 0 is empty
	mask     uint64   // len(slots)-1
	idxMask  uint32   // the bits of a slot that hold index+1; the rest is the tag
	next     []int32  // the previous observed binding with the same accountId, or -1
	seed     maphash.Seed
}

// newKeyIndex indexes observed; dups holds identities seen more than once.
func newKeyIndex(observed []Binding) (x *keyIndex, dups map[Key]bool) {
	// A load of at most 0.8: linear probing reads neighbouring slots of one
	// cache line, so a fuller, smaller table is the faster one.
	size := uint64(16)
	for size*4 < uint64(len(observed))*5 {
		size *= 2
	}
	x = &keyIndex{observed: observed, slots: make([]uint32, size), mask: size - 1,
		idxMask: uint32(1)<<bits.Len(uint(len(observed))) - 1, next: make([]int32, len(observed)), seed: maphash.MakeSeed()}
	for i := range observed {
		id := trim(observed[i].AccountID)
		h := maphash.String(x.seed, id)
		tag := uint32(h>>32) &^ x.idxMask
		for pos := h & x.mask; ; pos = (pos + 1) & x.mask {
			slot := x.slots[pos]
			if slot == 0 {
				x.next[i] = -1
				x.slots[pos] = tag | uint32(i+1)
				break
			}
			j := int32(slot&x.idxMask) - 1
			if slot&^x.idxMask != tag || trim(observed[j].AccountID) != id {
				continue
			}
			// The accountId is taken: chain, and find whether the whole
			// identity is too.
			k := normalKey(observed[i].Key)
			for c := j; c >= 0; c = x.next[c] {
				if normalKey(observed[c].Key) == k {
					if dups == nil {
						dups = map[Key]bool{}
					}
					dups[k] = true
					break
				}
			}
			x.next[i] = j
			x.slots[pos] = tag | uint32(i+1)
			break
		}
	}
	return x, dups
}

// find returns the index of the last observed binding with key k (which is
// normalised), or -1.
func (x *keyIndex) find(k Key) int32 {
	h := maphash.String(x.seed, k.AccountID)
	tag := uint32(h>>32) &^ x.idxMask
	for pos := h & x.mask; ; pos = (pos + 1) & x.mask {
		slot := x.slots[pos]
		if slot == 0 {
			return -1
		}
		j := int32(slot&x.idxMask) - 1
		if slot&^x.idxMask != tag || trim(x.observed[j].AccountID) != k.AccountID {
			continue
		}
		for ; j >= 0; j = x.next[j] {
			if sameKey(x.observed[j].Key, k) {
				return j
			}
		}
		return -1
	}
}

// sameKey reports whether an observed key, once normalised, is k: compared
// as it is first, because the API's answers are normalised already.
func sameKey(observed, k Key) bool {
	return observed == k || normalKey(observed) == k
}
