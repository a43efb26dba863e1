package plan

import (
	"hash/maphash"
	"math/bits"
	"sync"
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
}

// newKeyIndex indexes the observed bindings of one part (see splitIndex);
// dups holds identities seen more than once.
// hashes[i] is the hash of observed[i]'s normalised accountId.
func newKeyIndex(observed []Binding, hashes []uint64, splitBits uint, part uint64) (x *keyIndex, dups map[Key]bool) {
	// A load of at most 0.8: linear probing reads neighbouring slots of one
	// cache line, so a fuller, smaller table is the faster one.
	size := uint64(16)
	for size*4 < uint64(len(observed)>>splitBits)*5 {
		size *= 2
	}
	x = &keyIndex{observed: observed, slots: make([]uint32, size), mask: size - 1,
		idxMask: uint32(1)<<bits.Len(uint(len(observed))) - 1, next: make([]int32, len(observed))}
	for i := range observed {
		h := hashes[i]
		if h>>(64-splitBits) != part {
			continue
		}
		id := trim(observed[i].AccountID)
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

// findHashed returns the index of the last observed binding with key k
// (normalised), whose accountId hashes to h, or -1.
func (x *keyIndex) findHashed(k Key, h uint64) int32 {
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

// splitIndex is the index over the observed bindings in 1 << bits parts,
// by the top bits of the accountId's hash: an identity is in one part, so
// the parts can be built and searched on as many cores.
type splitIndex struct {
	seed  maphash.Seed
	bits  uint
	parts []*keyIndex
}

func newSplitIndex(observed []Binding, bits uint) (s *splitIndex, dups map[Key]bool) {
	s = &splitIndex{seed: maphash.MakeSeed(), bits: bits, parts: make([]*keyIndex, 1<<bits)}
	hashes := make([]uint64, len(observed))
	s.hashAll(len(observed), func(i int) string { return trim(observed[i].AccountID) }, hashes)
	found := make([]map[Key]bool, len(s.parts))
	inParallel(len(s.parts), func(part int) {
		s.parts[part], found[part] = newKeyIndex(observed, hashes, bits, uint64(part))
	})
	for _, d := range found {
		for k := range d {
			if dups == nil {
				dups = map[Key]bool{}
			}
			dups[k] = true
		}
	}
	return s, dups
}

// hashAll sets out[i] to the hash of accountID(i), for i < n, in as many
// slices of the range as there are parts.
func (s *splitIndex) hashAll(n int, accountID func(int) string, out []uint64) {
	per := (n + len(s.parts) - 1) / len(s.parts)
	inParallel(len(s.parts), func(part int) {
		for i := part * per; i < min(n, (part+1)*per); i++ {
			out[i] = maphash.String(s.seed, accountID(i))
		}
	})
}

// partOf is the part of a hash.
func (s *splitIndex) partOf(h uint64) int { return int(h >> (64 - s.bits)) }

func (s *splitIndex) find(k Key) int32 {
	h := maphash.String(s.seed, k.AccountID)
	return s.parts[s.partOf(h)].findHashed(k, h)
}

// inParallel runs f(0) … f(n-1), each on its own goroutine when n > 1.
func inParallel(n int, f func(int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// sameKey reports whether an observed key, once normalised, is k: compared
// as it is first, because the API's answers are normalised already.
func sameKey(observed, k Key) bool {
	return observed == k || normalKey(observed) == k
}
