package sdc

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Laplace adds Laplace noise to each count for epsilon-differential
// privacy, where one person changes at most l0 counts by at most lInf each.
// Noisy counts below zero become zero (post-processing, no privacy cost).
func Laplace(counts []int64, epsilon float64, l0, lInf int64) ([]int64, error) {
	if epsilon <= 0 {
		return nil, fmt.Errorf("sdc: epsilon %g must be positive", epsilon)
	}
	out := make([]int64, len(counts))
	lap := noise.Laplace()
	for i, c := range counts {
		v, err := lap.AddNoiseInt64(c, l0, lInf, epsilon, 0)
		if err != nil {
			return nil, fmt.Errorf("sdc: laplace noise: %w", err)
		}
		out[i] = max(v, 0)
	}
	return out, nil
}

// ErrBudgetExhausted is returned when a release would spend more privacy
// budget than a requester has left for a dataset; the request must be
// refused (or asked again without noise where the tier allows).
var ErrBudgetExhausted = errors.New("sdc: privacy budget exhausted")

// Budget tracks the epsilon spent per requester and dataset against a
// limit. It is safe for concurrent use. Spending already recorded elsewhere
// (the ledger's release entries) is loaded with [Budget.Add].
type Budget struct {
	// Limit is the total epsilon per requester and dataset. Zero means 1.
	Limit float64

	mu    sync.Mutex
	spent map[[2]string]float64
}

func (b *Budget) limit() float64 {
	if b.Limit > 0 {
		return b.Limit
	}
	return 1
}

// Add records spending without checking the limit.
func (b *Budget) Add(requester, dataset string, epsilon float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent == nil {
		b.spent = map[[2]string]float64{}
	}
	b.spent[[2]string{requester, dataset}] += epsilon
}

// Spent returns what requester has spent on dataset.
func (b *Budget) Spent(requester, dataset string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent[[2]string{requester, dataset}]
}

// Charge spends epsilon on every dataset for requester, all or nothing:
// if any dataset lacks the budget, nothing is spent and the error wraps
// [ErrBudgetExhausted].
func (b *Budget) Charge(requester string, datasets []string, epsilon float64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent == nil {
		b.spent = map[[2]string]float64{}
	}
	for _, d := range datasets {
		if s := b.spent[[2]string{requester, d}]; s+epsilon > b.limit()+1e-12 {
			return fmt.Errorf("%w: %s has spent %g of %g on %s", ErrBudgetExhausted, requester, s, b.limit(), d)
		}
	}
	for _, d := range datasets {
		b.spent[[2]string{requester, d}] += epsilon
	}
	return nil
}
