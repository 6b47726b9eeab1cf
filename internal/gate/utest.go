package gate

import (
	"math"
	"slices"
)

// exactWork bounds the exact rank-sum distribution's cost (items × subset
// size × rank-sum range); beyond it the normal approximation is used. Two
// samples of 50 cost 5·10⁷ and stay exact.
const exactWork = 6e7

// uResult is a U test's outcome.
type uResult struct {
	U     float64 // Mann-Whitney U of y: pairs (x_i, y_j) with y_j > x_i, ties counting ½
	P     float64 // one-sided p-value
	Exact bool
}

// uTest is the one-sided Mann-Whitney U (Wilcoxon rank-sum) test of
// whether y is stochastically larger than x (greater true) or smaller
// (greater false). Ties get mid-ranks. The p-value is exact — the
// permutation distribution of y's rank sum over every way of choosing
// len(y) of the pooled mid-ranks, which stays exact with ties — whenever
// exactWork allows, and otherwise the normal approximation with tie and
// continuity corrections.
func uTest(x, y []float64, greater bool) uResult {
	n1, n2 := len(x), len(y)
	n := n1 + n2
	// Doubled mid-ranks are integers: the rank sum's distribution is then
	// over integers and the exact count is a plain subset-sum.
	type item struct {
		v  float64
		iy bool
	}
	pool := make([]item, 0, n)
	for _, v := range x {
		pool = append(pool, item{v, false})
	}
	for _, v := range y {
		pool = append(pool, item{v, true})
	}
	slices.SortStableFunc(pool, func(a, b item) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	ranks2 := make([]int, n) // doubled mid-ranks, in pool order
	var w2 int               // y's doubled rank sum
	var tieTerm float64      // Σ (t³ − t) over tie groups
	for i := 0; i < n; {
		j := i
		for j < n && pool[j].v == pool[i].v {
			j++
		}
		r2 := i + j + 1 // 2 × mean of ranks i+1 … j
		for k := i; k < j; k++ {
			ranks2[k] = r2
			if pool[k].iy {
				w2 += r2
			}
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	u := float64(w2)/2 - float64(n2*(n2+1))/2
	res := uResult{U: u}
	maxSum := n * (n + 1) // ≥ any doubled rank sum
	if float64(n)*float64(n2)*float64(maxSum) <= exactWork {
		res.P, res.Exact = exactTail(ranks2, n2, w2, greater), true
		return res
	}
	res.P = normalTail(u, n1, n2, tieTerm, greater)
	return res
}

// exactTail returns P(S ≥ w) (greater) or P(S ≤ w) for S the sum of k
// scores drawn without replacement from scores, every subset equally
// likely: the subset sums are counted by dynamic programming.
func exactTail(scores []int, k, w int, greater bool) float64 {
	total := 0
	for _, s := range scores {
		total += s
	}
	// count[j][s]: subsets of size j of the items seen so far summing to s.
	count := make([][]float64, k+1)
	for j := range count {
		count[j] = make([]float64, total+1)
	}
	count[0][0] = 1
	for i, s := range scores {
		for j := min(i+1, k); j >= 1; j-- {
			prev, cur := count[j-1], count[j]
			for t := total; t >= s; t-- {
				if prev[t-s] != 0 {
					cur[t] += prev[t-s]
				}
			}
		}
	}
	var tail, all float64
	for t, c := range count[k] {
		all += c
		if (greater && t >= w) || (!greater && t <= w) {
			tail += c
		}
	}
	return min(1, tail/all)
}

// normalTail is the large-sample tail of U with the tie-corrected
// variance and a continuity correction of ½ towards the mean.
func normalTail(u float64, n1, n2 int, tieTerm float64, greater bool) float64 {
	m1, m2 := float64(n1), float64(n2)
	n := m1 + m2
	mean := m1 * m2 / 2
	sd := math.Sqrt(m1 * m2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	if sd == 0 {
		return 1 // every value tied: no evidence either way
	}
	if greater {
		return 1 - normCDF((u-mean-0.5)/sd)
	}
	return normCDF((u - mean + 0.5) / sd)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// minP is the smallest one-sided p-value the exact U test can give for
// samples of n1 and n2 without ties: 1 / C(n1+n2, n1), by a product that
// is exact while the binomial fits in 2⁵³.
func minP(n1, n2 int) float64 {
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return 1 / c
}
