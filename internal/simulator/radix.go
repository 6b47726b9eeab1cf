package simulator

import (
	"container/heap"
)

// radixTree is SGLang's radix prefix cache (mem_cache/radix_cache.py) at
// page size 1, reduced to what the scheduler needs: which prompt prefixes
// hold KV, which of those a running request pins (lock counts), and which
// to free first when the pool runs short (least recently used unlocked
// leaves). It stores token ids, not KV: the engine counts the KV slots.
type radixTree struct {
	root *radixNode
	// size is every token in the tree; evictable those on unlocked nodes.
	size      int
	evictable int
	tick      uint64 // logical clock for last access; orders LRU
	nextID    uint64 // creation order, breaks LRU ties deterministically
}

type radixNode struct {
	key        []int
	children   map[int]*radixNode
	parent     *radixNode
	lockRef    int
	lastAccess uint64
	id         uint64
}

func newRadixTree() *radixTree {
	return &radixTree{root: &radixNode{children: map[int]*radixNode{}, lockRef: 1}}
}

func commonPrefix(a, b []int) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// split cuts child so that its first n tokens become a new parent node and
// returns that parent. Lock counts and access time carry over, so the
// evictable total does not change.
func (t *radixTree) split(child *radixNode, n int) *radixNode {
	t.nextID++
	mid := &radixNode{
		key:        child.key[:n:n],
		children:   map[int]*radixNode{child.key[n]: child},
		parent:     child.parent,
		lockRef:    child.lockRef,
		lastAccess: child.lastAccess,
		id:         t.nextID,
	}
	mid.parent.children[child.key[0]] = mid
	child.key = child.key[n:]
	child.parent = mid
	return mid
}

// match returns the deepest node whose path from the root is a prefix of
// ids and that prefix's length, touching every node on the path (LRU).
// Like SGLang it splits a node that only partly matches.
func (t *radixTree) match(ids []int) (*radixNode, int) {
	t.tick++
	node, n := t.root, 0
	for n < len(ids) {
		child := node.children[ids[n]]
		if child == nil {
			break
		}
		k := commonPrefix(child.key, ids[n:])
		if k < len(child.key) {
			child = t.split(child, k)
		}
		child.lastAccess = t.tick
		node, n = child, n+k
	}
	return node, n
}

// insert adds ids to the tree and returns the node holding its last token
// and how many tokens were new (the others were already cached, so their
// KV is a duplicate the caller frees).
func (t *radixTree) insert(ids []int) (*radixNode, int) {
	node, n := t.match(ids)
	if n == len(ids) {
		return node, 0
	}
	t.nextID++
	leaf := &radixNode{
		key:        append([]int(nil), ids[n:]...),
		children:   map[int]*radixNode{},
		parent:     node,
		lastAccess: t.tick,
		id:         t.nextID,
	}
	node.children[leaf.key[0]] = leaf
	added := len(leaf.key)
	t.size += added
	t.evictable += added
	return leaf, added
}

// lock pins the path from node to the root so eviction cannot take it.
func (t *radixTree) lock(node *radixNode) {
	for ; node != t.root; node = node.parent {
		if node.lockRef == 0 {
			t.evictable -= len(node.key)
		}
		node.lockRef++
	}
}

func (t *radixTree) unlock(node *radixNode) {
	for ; node != t.root; node = node.parent {
		node.lockRef--
		if node.lockRef == 0 {
			t.evictable += len(node.key)
		}
	}
}

// evict frees at least n tokens, if that many are evictable, taking the
// least recently used unlocked leaf each time; a parent left as an
// unlocked leaf joins the candidates, as in SGLang. It returns the tokens
// freed.
func (t *radixTree) evict(n int) int {
	if n <= 0 || t.evictable == 0 {
		return 0
	}
	var h lruHeap
	var walk func(*radixNode)
	walk = func(x *radixNode) {
		if len(x.children) == 0 {
			if x != t.root && x.lockRef == 0 {
				h = append(h, x)
			}
			return
		}
		for _, c := range x.children {
			walk(c)
		}
	}
	walk(t.root)
	heap.Init(&h)
	freed := 0
	for freed < n && len(h) > 0 {
		x := heap.Pop(&h).(*radixNode)
		delete(x.parent.children, x.key[0])
		freed += len(x.key)
		t.size -= len(x.key)
		t.evictable -= len(x.key)
		if p := x.parent; p != t.root && len(p.children) == 0 && p.lockRef == 0 {
			heap.Push(&h, p)
		}
	}
	return freed
}

// lruHeap orders nodes by last access, then by creation.
type lruHeap []*radixNode

func (h lruHeap) Len() int { return len(h) }
func (h lruHeap) Less(i, j int) bool {
	if h[i].lastAccess != h[j].lastAccess {
		return h[i].lastAccess < h[j].lastAccess
	}
	return h[i].id < h[j].id
}
func (h lruHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *lruHeap) Push(x any)   { *h = append(*h, x.(*radixNode)) }
func (h *lruHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
