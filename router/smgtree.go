package router

import (
	"container/heap"
	"slices"
)

// symTree is smg's approximate radix tree (kv_index's string_tree and
// token_tree): one tree of routing history shared by all workers, over
// symbols, which are a text's characters (page 1) or a request's token ids
// (page BlockSize). Edges split only at whole pages, so only whole pages
// of ids ever match, as in SGLang's paged radix cache. Unlike 0.3.2's tree
// it hands back every tenant of the deepest node a match reached, and its
// size bound is the tree's total, not each worker's share.
type symTree struct {
	page  int
	root  *symNode
	clock uint64
	// total is Σ over tenants of the symbols each holds, the quantity
	// max-tree-size bounds.
	total int
	held  []int // per tenant
}

type symNode struct {
	syms     []int32 // a whole number of pages, empty only at the root
	parent   *symNode
	children map[uint64]*symNode // by the digest of the edge's first page
	tenants  []access
}

// matchedTenantsCap is how many tenants of the deepest node a match
// returns (smg's MATCHED_TENANTS_CAP).
const matchedTenantsCap = 8

func newSymTree(page int) *symTree {
	return &symTree{page: page, root: &symNode{children: map[uint64]*symNode{}}}
}

func (n *symNode) find(t tenant) int {
	for i := range n.tenants {
		if n.tenants[i].t == t {
			return i
		}
	}
	return -1
}

// pageKey is the children key of the page starting syms: the symbol
// itself for page 1, else a multiply-mix digest as smg's page_key_of.
func (tr *symTree) pageKey(syms []int32) uint64 {
	if tr.page == 1 {
		return uint64(uint32(syms[0]))
	}
	var acc uint64
	for _, s := range syms[:tr.page] {
		acc = (acc + uint64(uint32(s))) * 0x517cc1b727220a95
	}
	return acc
}

// aligned is n rounded down to whole pages.
func (tr *symTree) aligned(n int) int { return n / tr.page * tr.page }

func sharedSyms(a, b []int32) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

func (tr *symTree) grow(t tenant) {
	for int(t) >= len(tr.held) {
		tr.held = append(tr.held, 0)
	}
}

// match walks syms (cut to whole pages) down the tree and returns how many
// symbols matched, in whole pages, and the deepest node reached (a partly
// matched edge counts, as long as a whole page of it matched); nil when
// nothing matched.
func (tr *symTree) match(syms []int32) (matched int, deepest *symNode) {
	rest := syms[:tr.aligned(len(syms))]
	cur := tr.root
	for len(rest) >= tr.page {
		child := cur.children[tr.pageKey(rest)]
		if child == nil || len(child.tenants) == 0 {
			break
		}
		k := tr.aligned(sharedSyms(rest, child.syms))
		if k == 0 {
			break
		}
		matched += k
		deepest = child
		if k < len(child.syms) {
			break
		}
		cur = child
		rest = rest[k:]
	}
	return matched, deepest
}

// tenantsOf appends up to matchedTenantsCap tenants of n to out.
func tenantsOf(out []tenant, n *symNode) []tenant {
	for _, a := range n.tenants[:min(len(n.tenants), matchedTenantsCap)] {
		out = append(out, a.t)
	}
	return out
}

// attach makes t a tenant of n at epoch at, counting n's symbols for t the
// first time; an existing tenancy keeps its epoch unless at is non-zero.
func (tr *symTree) attach(n *symNode, t tenant, at uint64) {
	if i := n.find(t); i >= 0 {
		if at != 0 {
			n.tenants[i].at = at
		}
		return
	}
	n.tenants = append(n.tenants, access{t, at})
	tr.held[t] += len(n.syms)
	tr.total += len(n.syms)
}

// insert records that syms (cut to whole pages) were routed to t: t
// becomes a tenant of every node on the path, intermediate nodes at epoch
// 0 and the last one at a fresh epoch, splitting an edge at the page where
// syms leave it.
func (tr *symTree) insert(syms []int32, t tenant) {
	tr.grow(t)
	rest := syms[:tr.aligned(len(syms))]
	if len(rest) == 0 {
		return
	}
	cur := tr.root
	for {
		key := tr.pageKey(rest)
		child := cur.children[key]
		if child == nil {
			tr.clock++
			n := &symNode{syms: slices.Clone(rest), parent: cur, children: map[uint64]*symNode{}}
			cur.children[key] = n
			tr.attach(n, t, tr.clock)
			return
		}
		k := tr.aligned(sharedSyms(rest, child.syms))
		if k == 0 {
			// A digest collision with a different page: smg treats it as
			// no match and inserts nothing further.
			return
		}
		if k < len(child.syms) {
			mid := &symNode{syms: child.syms[:k:k], parent: cur, children: map[uint64]*symNode{},
				tenants: slices.Clone(child.tenants)}
			child.syms = child.syms[k:]
			child.parent = mid
			mid.children[tr.pageKey(child.syms)] = child
			cur.children[key] = mid
			child = mid
		}
		rest = rest[k:]
		if len(rest) == 0 {
			tr.clock++
			tr.attach(child, t, tr.clock)
			return
		}
		tr.attach(child, t, 0)
		cur = child
	}
}

// remove drops tenant t from n, and n from the tree once it holds no
// tenant and no child.
func (tr *symTree) remove(n *symNode, t tenant) {
	i := n.find(t)
	if i < 0 {
		return
	}
	n.tenants = slices.Delete(n.tenants, i, i+1)
	tr.held[t] -= len(n.syms)
	tr.total -= len(n.syms)
	if len(n.tenants) == 0 && len(n.children) == 0 && n.parent != nil {
		delete(n.parent.children, tr.pageKey(n.syms))
	}
}

func leafFor(n *symNode, t tenant) bool {
	if n.find(t) < 0 {
		return false
	}
	for _, c := range n.children {
		if c.find(t) >= 0 {
			return false
		}
	}
	return true
}

// evict removes, least recently inserted first over all tenants, one
// tenant's hold on one of its leaves at a time until the tree's total is
// within maxSyms (smg's evict_tenant_by_size, which bounds the whole
// tree).
func (tr *symTree) evict(maxSyms int) {
	if tr.total <= maxSyms {
		return
	}
	h := &evictHeap{}
	var walk func(n *symNode)
	walk = func(n *symNode) {
		for _, c := range n.children {
			walk(c)
		}
		if n == tr.root {
			return
		}
		for _, a := range n.tenants {
			if leafFor(n, a.t) {
				h.items = append(h.items, evictItem{a.at, a.t, n})
			}
		}
	}
	walk(tr.root)
	heap.Init(h)
	for tr.total > maxSyms && h.Len() > 0 {
		it := heap.Pop(h).(evictItem)
		if !leafFor(it.n, it.t) {
			continue
		}
		parent := it.n.parent
		tr.remove(it.n, it.t)
		if parent != nil && parent != tr.root && leafFor(parent, it.t) {
			heap.Push(h, evictItem{parent.tenants[parent.find(it.t)].at, it.t, parent})
		}
	}
}

// removeTenant drops t from the whole tree (a worker that went away).
func (tr *symTree) removeTenant(t tenant) {
	var held []*symNode
	var walk func(n *symNode)
	walk = func(n *symNode) {
		if n != tr.root && n.find(t) >= 0 {
			held = append(held, n)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(tr.root)
	for i := len(held) - 1; i >= 0; i-- {
		tr.remove(held[i], t)
	}
}

type evictItem struct {
	at uint64
	t  tenant
	n  *symNode
}

type evictHeap struct{ items []evictItem }

func (h *evictHeap) Len() int           { return len(h.items) }
func (h *evictHeap) Less(i, j int) bool { return h.items[i].at < h.items[j].at }
func (h *evictHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *evictHeap) Push(x any)         { h.items = append(h.items, x.(evictItem)) }
func (h *evictHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
