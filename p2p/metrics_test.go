package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMetricsCountFetchAndServe(t *testing.T) {
	storeDir := t.TempDir()
	f := storeFile(t, storeDir, 2<<20+1)
	serverMetrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	good, srv := serve(t, DirSource{Dir: storeDir}, func(c *ServerConfig) { c.Metrics = serverMetrics })
	bad, _ := serve(t, corruptSource{DirSource{Dir: storeDir}}, nil)
	fetchMetrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	req := testHost(t, nil)
	connect(t, req, good)
	connect(t, req, bad)
	res, err := Fetch(t.Context(), req, &DirSink{Dir: t.TempDir()}, []File{f}, []peer.ID{bad.ID(), good.ID()},
		FetchConfig{Metrics: fetchMetrics, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // ends the session
	for _, tc := range []struct {
		name string
		c    prometheus.Counter
		want float64
	}{
		{"chunks fetched", fetchMetrics.chunksFetched, float64(f.Chunks())},
		{"bytes fetched", fetchMetrics.bytesFetched, float64(f.Size)},
		{"providers dropped for bad chunks", fetchMetrics.dropped.WithLabelValues("bad_chunk"), 1},
		{"chunks served by the good provider", serverMetrics.chunksServed, float64(res.Providers[good.ID()].Chunks)},
		{"bytes served by the good provider", serverMetrics.bytesServed, float64(res.Providers[good.ID()].Bytes)},
		{"sessions ended", serverMetrics.sessionsEnded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m dto.Metric
			if err := tc.c.Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
