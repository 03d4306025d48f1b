package bench

import (
	"context"
	crand "crypto/rand"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/p2p"
)

// bareProtocol streams a whole file as is: the unavoidable work of a
// transfer (read, Noise encryption, yamux, decryption, write).
const bareProtocol = "/cohortnet/bench/bare/1.0.0"

// BenchmarkFetch fetches one file (1 GiB of random bytes; override with
// COHORTNET_FETCH_MIB) between hosts on loopback TCP (Noise, yamux) three
// ways in each iteration:
//
//   - bare: one libp2p stream copying the file from the provider's disk into
//     a file on the receiver, synced (the baseline);
//   - fetch: [p2p.Fetch] from one provider (4 MiB chunks, each verified
//     as it arrives against the manifest's chained digests, which also
//     proves the whole file matches its CID without a second pass; written
//     at its offset, synced, renamed into place);
//   - fetch2: the same from two providers at once.
//
// It reports MB/s of each, the ratios to bare, and CPU seconds per GiB.
func BenchmarkFetch(b *testing.B) {
	size := int64(1 << 30)
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_FETCH_MIB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	dir := b.TempDir()
	storeDir := filepath.Join(dir, "store")
	if err := os.Mkdir(storeDir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := filepath.Join(dir, "file")
	writeRandom(b, tmp, size)
	f, err := p2p.DescribeFile(tmp, p2p.DefaultChunkSize)
	if err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(storeDir, f.CID.String())
	if err := os.Rename(tmp, src); err != nil {
		b.Fatal(err)
	}

	keys := make([]crypto.PrivKey, 3)
	members := p2p.NewMemberSet()
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(crand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		keys[i], members[id] = k, struct{}{}
	}
	hosts := make([]*p2p.Host, 3)
	for i := range hosts {
		h, err := p2p.New(p2p.Config{Identity: keys[i], Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Members: members, Consortium: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		hosts[i] = h
	}
	recv, prov1, prov2 := hosts[0], hosts[1], hosts[2]
	allow := p2p.AuthorizerFunc(func(context.Context, peer.ID, cid.Cid) error { return nil })
	for _, h := range []*p2p.Host{prov1, prov2} {
		s, err := p2p.NewChunkServer(h, p2p.ServerConfig{Source: p2p.DirSource{Dir: storeDir}, Authorize: allow})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := recv.Connect(b.Context(), h.AddrInfo()); err != nil {
			b.Fatal(err)
		}
	}
	prov1.SetStreamHandler(bareProtocol, func(st network.Stream) {
		fh, err := os.Open(src)
		if err != nil {
			st.Reset()
			return
		}
		defer fh.Close()
		if _, err := io.Copy(st, fh); err != nil {
			st.Reset()
			return
		}
		st.Close()
	})

	var bare, fetch1, fetch2 cost
	out := filepath.Join(dir, "out")
	for b.Loop() {
		bare.add(func() { bareCopy(b, recv, prov1.ID(), filepath.Join(out, "bare"), size) })
		os.RemoveAll(out)
		fetch1.add(func() { fetchOnce(b, recv, f, out, prov1.ID()) })
		os.RemoveAll(out)
		fetch2.add(func() { fetchOnce(b, recv, f, out, prov1.ID(), prov2.ID()) })
		os.RemoveAll(out)
	}
	gib := float64(size) * float64(b.N) / (1 << 30)
	mbs := func(c cost) float64 { return float64(size) * float64(b.N) / c.wall.Seconds() / 1e6 }
	b.ReportMetric(mbs(bare), "bare-MB/s")
	b.ReportMetric(mbs(fetch1), "fetch-MB/s")
	b.ReportMetric(mbs(fetch2), "fetch2-MB/s")
	b.ReportMetric(bare.wall.Seconds()/fetch1.wall.Seconds(), "fetch/bare")
	b.ReportMetric(bare.wall.Seconds()/fetch2.wall.Seconds(), "fetch2/bare")
	// CPU seconds per GiB, both ends together (they share the process):
	// steadier than wall time on a machine shared with other work.
	b.ReportMetric(bare.cpu.Seconds()/gib, "bare-cpu-s/GiB")
	b.ReportMetric(fetch1.cpu.Seconds()/gib, "fetch-cpu-s/GiB")
	b.ReportMetric(fetch2.cpu.Seconds()/gib, "fetch2-cpu-s/GiB")
}

// cost accumulates the wall and CPU time of runs.
type cost struct{ wall, cpu time.Duration }

func (c *cost) add(fn func()) {
	start, cpu0 := time.Now(), cpuTime()
	fn()
	c.wall += time.Since(start)
	c.cpu += cpuTime() - cpu0
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeRandom(b *testing.B, path string, size int64) {
	b.Helper()
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	var seed [32]byte
	crand.Read(seed[:])
	if _, err := io.CopyN(fh, rand.NewChaCha8(seed), size); err != nil {
		b.Fatal(err)
	}
}

func bareCopy(b *testing.B, h *p2p.Host, from peer.ID, path string, size int64) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	st, err := h.NewStream(b.Context(), from, bareProtocol)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fh, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	n, err := io.Copy(fh, st)
	if err != nil || n != size {
		b.Fatalf("bare copy: %d bytes, %v", n, err)
	}
	if err := fh.Sync(); err != nil {
		b.Fatal(err)
	}
}

func fetchOnce(b *testing.B, h *p2p.Host, f p2p.File, dir string, providers ...peer.ID) {
	sink := &p2p.DirSink{Dir: dir}
	res, err := p2p.Fetch(b.Context(), h, sink, []p2p.File{f}, providers, p2p.FetchConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if res.Bytes != f.Size {
		b.Fatalf("fetched %d bytes, want %d", res.Bytes, f.Size)
	}
}
