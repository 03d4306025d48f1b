package p2p

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the network layer does, for the node's /metrics.
// Create one with [NewMetrics] and hand it to [Config], [ServerConfig] and
// [FetchConfig]; a nil *Metrics counts nothing.
type Metrics struct {
	chunksServed   prometheus.Counter
	bytesServed    prometheus.Counter
	refused        prometheus.Counter
	sessionsEnded  prometheus.Counter
	chunksFetched  prometheus.Counter
	bytesFetched   prometheus.Counter
	dropped        *prometheus.CounterVec
	gossipRejected *prometheus.CounterVec
}

// NewMetrics creates the network metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cohortnet", Subsystem: "p2p", Name: name, Help: help})
	}
	m := &Metrics{
		chunksServed:  c("chunks_served_total", "Chunks sent to requesters."),
		bytesServed:   c("bytes_served_total", "Chunk bytes sent to requesters."),
		refused:       c("chunk_requests_refused_total", "Chunk requests refused by the access check."),
		sessionsEnded: c("fetch_sessions_ended_total", "Fetch sessions ended and handed to accounting."),
		chunksFetched: c("chunks_fetched_total", "Chunks received and verified."),
		bytesFetched:  c("bytes_fetched_total", "Chunk bytes received and verified."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cohortnet", Subsystem: "p2p", Name: "providers_dropped_total",
			Help: "Providers dropped from a fetch, by reason (bad_chunk, refused, unreachable, failures).",
		}, []string{"reason"}),
		gossipRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cohortnet", Subsystem: "p2p", Name: "gossip_rejected_total",
			Help: "Gossip messages rejected by validation, by topic.",
		}, []string{"topic"}),
	}
	for _, col := range []prometheus.Collector{m.chunksServed, m.bytesServed, m.refused, m.sessionsEnded,
		m.chunksFetched, m.bytesFetched, m.dropped, m.gossipRejected} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) served(bytes int) {
	if m != nil {
		m.chunksServed.Inc()
		m.bytesServed.Add(float64(bytes))
	}
}

func (m *Metrics) refusedRequest() {
	if m != nil {
		m.refused.Inc()
	}
}

func (m *Metrics) sessionEnded() {
	if m != nil {
		m.sessionsEnded.Inc()
	}
}

func (m *Metrics) fetched(bytes int) {
	if m != nil {
		m.chunksFetched.Inc()
		m.bytesFetched.Add(float64(bytes))
	}
}

func (m *Metrics) providerDropped(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) rejected(t Topic) {
	if m != nil {
		m.gossipRejected.WithLabelValues(string(t)).Inc()
	}
}
