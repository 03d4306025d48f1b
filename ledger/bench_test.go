package ledger

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// BenchmarkAppendWitnessed measures sustained appends through the whole
// path: members' signed entries posted over loopback HTTP, signature and
// membership checks, Tessera POSIX batching, checkpoints cosigned by 2 of 3
// witnesses over HTTP, and a commitment (with inclusion proof) back to each
// submitter, which verifies it. Reports appends/s and the submit-to-
// commitment latency median and p99, for one submitter at a time (latency)
// and 512 at once (throughput, batched by Tessera).
func BenchmarkAppendWitnessed(b *testing.B) {
	for _, workers := range []int{1, 512} {
		b.Run(fmt.Sprintf("submitters=%d", workers), func(b *testing.B) { benchAppend(b, workers) })
	}
}

func benchAppend(b *testing.B, workers int) {
	n := newTestNet(b, netOptions{witnesses: 3, quorum: 2})
	n.startOperator(b.Context())
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}
	b.Cleanup(tr.CloseIdleConnections)
	c := &Client{URL: n.opSrv.URL, HTTPClient: &http.Client{Transport: tr}, Verifiers: n.verifiers()}
	// One published dataset; the entries are access requests from the lab.
	if _, err := c.Submit(b.Context(), sign(b, publishEntry(manifestCID("bench"), "hospital-a/bench", 1, "registered"), n.hospitalA)); err != nil {
		b.Fatal(err)
	}
	entries := make([][]byte, b.N)
	for i := range entries {
		e := NewEntry(KindRequest, time.Now())
		e.Dataset, e.Purpose = "hospital-a/bench", fmt.Sprintf("benchmark request %d", i)
		entries[i] = sign(b, e, n.lab)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := c.Submit(b.Context(), entries[i]); err != nil {
					failed.Add(1)
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkVerifyInclusion measures checking one inclusion proof in a log of
// 4096 entries, and a whole commitment offline (checkpoint signature, 2 of 3
// cosignatures, entry decoding and signature, inclusion).
func BenchmarkVerifyInclusion(b *testing.B) {
	n := newTestNet(b, netOptions{witnesses: 3, quorum: 2})
	op := n.startOperator(b.Context())
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	c := &Client{URL: n.opSrv.URL, HTTPClient: &http.Client{Transport: tr}}
	_ = op
	cms := fill(b, b.Context(), c, n.hospitalA, "hospital-a", 4096, 256)
	cm := cms[len(cms)/2]
	for _, x := range cms {
		if s, _ := checkpointSize([]byte(x.Checkpoint)); s == 4096 {
			cm = x
			break
		}
	}
	cp, err := checkpointUnverified([]byte(cm.Checkpoint))
	if err != nil {
		b.Fatal(err)
	}
	v := n.verifiers()
	leaf := LeafHash(cm.Entry)
	b.Run("proof", func(b *testing.B) {
		for b.Loop() {
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, cm.Index, cp.Size, leaf, cm.Proof, cp.Hash); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cp.Size), "log-size")
	})
	b.Run("commitment", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := VerifyCommitment(cm, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
