package metrics

import "time"

// blockBits sizes the blocks of a column: 4096 values each. A column grows
// a block at a time, so it never copies what it holds and wastes at most
// one partly filled block (unlike a slice, which doubles).
const (
	blockBits = 12
	blockLen  = 1 << blockBits
)

// column is an append-only sequence of values stored in fixed-size blocks.
type column[T any] struct {
	blocks [][]T
	n      int
}

func (c *column[T]) add(v T) {
	if c.n&(blockLen-1) == 0 {
		c.blocks = append(c.blocks, make([]T, 0, blockLen))
	}
	b := &c.blocks[len(c.blocks)-1]
	*b = append(*b, v)
	c.n++
}

func (c *column[T]) at(i int) T { return c.blocks[i>>blockBits][i&(blockLen-1)] }

func (c *column[T]) len() int { return c.n }

// bytes is the memory the column's blocks hold, for the memory benchmark.
func (c *column[T]) bytes(size int) int { return len(c.blocks) * blockLen * size }

// durations is a column of durations in 4 bytes each: a duration of 0 to
// 2^32−2 ns (4.29 s) is stored as is, and any other (longer, or negative)
// goes to a sparse side table, so every value reads back exactly.
type durations struct {
	short column[uint32]
	long  map[int]time.Duration // index -> value, for values that do not fit
}

const durationSpill = 1<<32 - 1

func (d *durations) add(v time.Duration) {
	if v >= 0 && v < durationSpill {
		d.short.add(uint32(v))
		return
	}
	if d.long == nil {
		d.long = map[int]time.Duration{}
	}
	d.long[d.short.len()] = v
	d.short.add(durationSpill)
}

func (d *durations) at(i int) time.Duration {
	v := d.short.at(i)
	if v == durationSpill {
		return d.long[i]
	}
	return time.Duration(v)
}

func (d *durations) len() int { return d.short.len() }
