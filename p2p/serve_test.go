package p2p

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// TestServerProtocolErrors: a malformed request gets the stream reset and
// no bytes; an idle stream is closed at the deadline.
func TestServerProtocolErrors(t *testing.T) {
	storeDir := t.TempDir()
	f := storeFile(t, storeDir, 1<<20)
	prov, _ := serve(t, DirSource{Dir: storeDir}, func(c *ServerConfig) { c.RequestTimeout = 300 * time.Millisecond })
	req := testHost(t, nil)
	connect(t, req, prov)

	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"oversized chunk", chunkRequest{File: f.CID, Index: 0, Size: MaxChunkSize + 1}.append(nil)},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"idle", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := req.NewStream(t.Context(), prov.ID(), ChunkProtocol)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Reset()
			if tc.send != nil {
				if _, err := st.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			got, err := io.ReadAll(st)
			if len(got) != 0 {
				t.Fatalf("server answered %d bytes", len(got))
			}
			if err == nil && tc.send != nil {
				t.Fatal("stream closed cleanly after a malformed request, want a reset")
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("server kept the stream open %v", time.Since(start))
			}
		})
	}
}

// TestChunkStreamLimit: the resource manager caps the chunk streams one peer
// may hold open at a provider.
func TestChunkStreamLimit(t *testing.T) {
	storeDir := t.TempDir()
	storeFile(t, storeDir, 1<<10)
	h := testHost(t, func(c *Config) { c.Limits.ChunkStreamsPerPeer = 2 })
	s, err := NewChunkServer(h, ServerConfig{Source: DirSource{Dir: storeDir}, Authorize: allowAll})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := testHost(t, nil)
	connect(t, req, h)
	var open []network.Stream
	defer func() {
		for _, st := range open {
			st.Reset()
		}
	}()
	refused := 0
	for range 4 {
		st, err := req.NewStream(t.Context(), h.ID(), ChunkProtocol)
		if err != nil {
			refused++
			continue
		}
		open = append(open, st)
		// Negotiation is lazy: the provider sees the stream on first write
		// and resets it when over the limit.
		st.Write(chunkRequest{File: testCID(t, "x"), Size: 1}.append(nil))
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(st).ReadByte(); err != nil {
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d of 4 chunk streams refused, want 2 with a limit of 2", refused)
	}
}
