package router

import (
	"container/heap"
	"unicode/utf8"
)

// tree is sglang-router 0.3.2's approximate radix tree (src/policies/tree.rs):
// one tree of routing text shared by all workers ("tenants"). Each node
// holds an edge label and the tenants that have been routed text passing
// through it, with the logical time of their last access. It records
// routing history, not the workers' real KV caches, hence "approximate".
// Keys are Unicode characters; sizes are counted in characters.
type tree struct {
	root  *node
	clock uint64
	// chars is each tenant's characters in the tree, the quantity
	// max-tree-size bounds.
	chars []int
}

type tenant = int32

type node struct {
	text     string // edge label, never empty except at the root
	nchars   int
	parent   *node
	children map[rune]*node
	tenants  []access
	// last is the tenant a match returns while it is still a tenant of the
	// node: the tenant that created the node (a split copies it), or the
	// one a match last fell back to. -1 for none.
	last tenant
}

// access is a tenant's last access epoch at a node: set when an insert
// ends at the node, 0 when an insert only passes through, and refreshed by
// one match in eight (0.3.2's approximate LRU).
type access struct {
	t  tenant
	at uint64
}

func newTree() *tree { return &tree{root: &node{children: map[rune]*node{}, last: -1}} }

func (n *node) find(t tenant) int {
	for i := range n.tenants {
		if n.tenants[i].t == t {
			return i
		}
	}
	return -1
}

// add makes t a tenant of n with access epoch 0 if it is not one yet, and
// reports whether it was added.
func (n *node) add(t tenant) bool {
	if n.find(t) >= 0 {
		return false
	}
	n.tenants = append(n.tenants, access{t, 0})
	return true
}

func (n *node) setAt(t tenant, at uint64) {
	if i := n.find(t); i >= 0 {
		n.tenants[i].at = at
	}
}

func (tr *tree) addTenant(t tenant) {
	for int(t) >= len(tr.chars) {
		tr.chars = append(tr.chars, 0)
	}
	tr.root.add(t)
}

// sharedPrefix is the length in bytes of the longest common prefix of a
// and b that ends on a character boundary.
func sharedPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	// Whole blocks first: string equality compiles to a vectorised memequal.
	for i+32 <= n && a[i:i+32] == b[i:i+32] {
		i += 32
	}
	for i < n && a[i] == b[i] {
		i++
	}
	if i < len(a) && i < len(b) {
		for i > 0 && !utf8.RuneStart(a[i]) {
			i--
		}
	}
	return i
}

func countChars(s string) int { return utf8.RuneCountInString(s) }

// insert records that text was routed to t: t becomes a tenant of every
// node on text's path, splitting an edge where text leaves it. Only the
// node where text ends gets a fresh access epoch.
func (tr *tree) insert(text string, t tenant) {
	cur := tr.root
	cur.add(t)
	for rest := text; rest != ""; {
		r, _ := utf8.DecodeRuneInString(rest)
		child := cur.children[r]
		if child == nil {
			tr.clock++
			n := &node{text: rest, nchars: countChars(rest), parent: cur, children: map[rune]*node{},
				tenants: []access{{t, tr.clock}}, last: t}
			tr.chars[t] += n.nchars
			cur.children[r] = n
			return
		}
		k := sharedPrefix(child.text, rest)
		if k < len(child.text) {
			mid := &node{
				text: child.text[:k], nchars: countChars(child.text[:k]), parent: cur,
				children: map[rune]*node{}, tenants: append([]access(nil), child.tenants...), last: child.last,
			}
			tail := child.text[k:]
			tr0, _ := utf8.DecodeRuneInString(tail)
			child.text, child.nchars, child.parent = tail, child.nchars-mid.nchars, mid
			mid.children[tr0] = child
			cur.children[r] = mid
			child = mid
		}
		if child.add(t) {
			tr.chars[t] += child.nchars
		}
		cur = child
		rest = rest[k:]
	}
	tr.clock++
	cur.setAt(t, tr.clock)
}

// match walks text down the tree and returns how many characters matched
// and a tenant of the deepest node reached (a partly matched edge counts as
// reached): its cached last tenant while that is still a tenant, else its
// first (which becomes the cached one); -1 for a node without tenants.
// One match in eight refreshes that tenant's access epoch at the node.
func (tr *tree) match(text string) (matched int, t tenant) {
	cur := tr.root
	for rest := text; rest != ""; {
		r, _ := utf8.DecodeRuneInString(rest)
		child := cur.children[r]
		if child == nil {
			break
		}
		k := sharedPrefix(child.text, rest)
		if k == len(child.text) {
			matched += child.nchars
		} else {
			matched += countChars(rest[:k])
		}
		cur = child
		if k < len(child.text) {
			break
		}
		rest = rest[k:]
	}
	t = -1
	switch {
	case cur.last >= 0 && cur.find(cur.last) >= 0:
		t = cur.last
	case len(cur.tenants) > 0:
		t = cur.tenants[0].t
		cur.last = t
	}
	tr.clock++
	if tr.clock&7 == 0 && t >= 0 {
		cur.setAt(t, tr.clock)
	}
	return matched, t
}

// isLeafFor reports whether n holds t and none of its children does.
func isLeafFor(n *node, t tenant) bool {
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

// removeAt drops t from n, and n from the tree if no tenant is left.
func (tr *tree) removeAt(n *node, t tenant) {
	i := n.find(t)
	if i < 0 {
		return
	}
	n.tenants = append(n.tenants[:i], n.tenants[i+1:]...)
	tr.chars[t] -= n.nchars
	if len(n.tenants) == 0 && n.parent != nil {
		r, _ := utf8.DecodeRuneInString(n.text)
		delete(n.parent.children, r)
	}
}

// evict removes, for every tenant over maxChars characters, that tenant's
// least recently accessed leaves until it is within the bound (0.3.2's
// evict_tenant_by_size).
func (tr *tree) evict(maxChars int) {
	for t := range tr.chars {
		if tr.chars[t] <= maxChars {
			continue
		}
		tt := tenant(t)
		h := &leafHeap{t: tt}
		tr.walk(tr.root, func(n *node) {
			if n.parent != nil && isLeafFor(n, tt) {
				h.nodes = append(h.nodes, n)
			}
		})
		heap.Init(h)
		for tr.chars[t] > maxChars && h.Len() > 0 {
			n := heap.Pop(h).(*node)
			parent := n.parent
			tr.removeAt(n, tt)
			if parent != nil && parent.parent != nil && isLeafFor(parent, tt) {
				heap.Push(h, parent)
			}
		}
	}
}

// removeTenant drops t from the whole tree (a worker that went away).
func (tr *tree) removeTenant(t tenant) {
	var held []*node
	tr.walk(tr.root, func(n *node) {
		if n.find(t) >= 0 {
			held = append(held, n)
		}
	})
	// Children come after their parents in walk order; remove them first.
	for i := len(held) - 1; i >= 0; i-- {
		tr.removeAt(held[i], t)
	}
}

func (tr *tree) walk(n *node, f func(*node)) {
	f(n)
	for _, c := range n.children {
		tr.walk(c, f)
	}
}

// leafHeap orders a tenant's leaves by that tenant's access time, oldest first.
type leafHeap struct {
	t     tenant
	nodes []*node
}

func (h *leafHeap) at(n *node) uint64 { return n.tenants[n.find(h.t)].at }
func (h *leafHeap) Len() int          { return len(h.nodes) }
func (h *leafHeap) Less(i, j int) bool {
	return h.at(h.nodes[i]) < h.at(h.nodes[j])
}
func (h *leafHeap) Swap(i, j int) { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *leafHeap) Push(x any)    { h.nodes = append(h.nodes, x.(*node)) }
func (h *leafHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}
