package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

const testChunk = 256 << 10

// storeFile writes size random bytes into dir as a content-addressed file
// and returns its description.
func storeFile(t testing.TB, dir string, size int) File {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DescribeFile(tmp, testChunk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, f.CID.String())); err != nil {
		t.Fatal(err)
	}
	return f
}

var allowAll = AuthorizerFunc(func(context.Context, peer.ID, cid.Cid) error { return nil })

// serve starts a provider host serving src.
func serve(t testing.TB, src ChunkSource, mod func(*ServerConfig)) (*Host, *ChunkServer) {
	t.Helper()
	h := testHost(t, nil)
	cfg := ServerConfig{Source: src, Authorize: allowAll}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewChunkServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return h, s
}

// corruptSource flips a byte in every chunk it reads.
type corruptSource struct{ ChunkSource }

func (c corruptSource) ReadAt(ctx context.Context, f cid.Cid, p []byte, off int64) (int, error) {
	n, err := c.ChunkSource.ReadAt(ctx, f, p, off)
	if n > 0 {
		p[n/2] ^= 0x55
	}
	return n, err
}

// stoppingSource stops its host after serving a number of chunks, as a
// publisher that goes offline in the middle of a transfer.
type stoppingSource struct {
	ChunkSource
	after  int64
	served atomic.Int64
	stop   func()
	once   sync.Once
}

func (s *stoppingSource) ReadAt(ctx context.Context, f cid.Cid, p []byte, off int64) (int, error) {
	if s.served.Add(1) > s.after {
		s.once.Do(func() { go s.stop() })
		return 0, errors.New("shutting down")
	}
	return s.ChunkSource.ReadAt(ctx, f, p, off)
}

// sameBytes checks the fetched file equals the provider's.
func sameBytes(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("fetched file: %v", err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("fetched file differs from the original (%d vs %d bytes)", len(b), len(a))
	}
}

func TestFetchAroundBadProviders(t *testing.T) {
	storeDir := t.TempDir()
	f := storeFile(t, storeDir, 6<<20+12345)
	good := DirSource{Dir: storeDir}
	goodHost, _ := serve(t, good, nil)

	for _, tc := range []struct {
		name     string
		bad      func(t *testing.T) *Host
		mustDrop bool  // the fetch must notice: a stopped provider may finish its part before
		wantErr  error // why the bad provider must be dropped
	}{
		{"corrupting provider", func(t *testing.T) *Host {
			h, _ := serve(t, corruptSource{good}, nil)
			return h
		}, true, ErrBadChunk},
		{"provider stopped mid-transfer", func(t *testing.T) *Host {
			src := &stoppingSource{ChunkSource: good, after: 3}
			h, _ := serve(t, src, nil)
			src.stop = func() { h.Close() }
			return h
		}, false, nil},
		{"provider without the file", func(t *testing.T) *Host {
			h, _ := serve(t, DirSource{Dir: t.TempDir()}, nil)
			return h
		}, true, ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.bad(t)
			req := testHost(t, nil)
			connect(t, req, goodHost)
			connect(t, req, bad)
			sink := &DirSink{Dir: t.TempDir()}
			var last Progress
			res, err := Fetch(t.Context(), req, sink, []File{f}, []peer.ID{bad.ID(), goodHost.ID()},
				FetchConfig{RequestTimeout: 5 * time.Second, Progress: func(p Progress) { last = p }})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			sameBytes(t, filepath.Join(storeDir, f.CID.String()), sink.Path(f.CID))
			st := res.Providers[bad.ID()]
			if tc.mustDrop && st.Dropped == nil {
				t.Fatalf("bad provider was not dropped: %+v", st)
			}
			if tc.wantErr != nil && !errors.Is(st.Dropped, tc.wantErr) {
				t.Fatalf("bad provider dropped for %v, want %v", st.Dropped, tc.wantErr)
			}
			if res.Providers[goodHost.ID()].Dropped != nil {
				t.Fatalf("good provider dropped: %v", res.Providers[goodHost.ID()].Dropped)
			}
			if res.Bytes != f.Size || last.Bytes != f.Size || last.Chunks != f.Chunks() || last.TotalBytes != f.Size {
				t.Fatalf("fetched %d bytes, progress %+v; want %d bytes in %d chunks", res.Bytes, last, f.Size, f.Chunks())
			}
		})
	}
}

func TestFetchFromTwoProvidersAndResume(t *testing.T) {
	storeDir := t.TempDir()
	files := []File{storeFile(t, storeDir, 3<<20), storeFile(t, storeDir, 5<<20+1), storeFile(t, storeDir, 0)}
	src := &stoppingSource{ChunkSource: DirSource{Dir: storeDir}, after: 7}
	// Over TCP only, so the redial of the stopped provider is refused at
	// once instead of waiting for a QUIC handshake timeout.
	first := testHost(t, func(c *Config) { c.Listen = loopback[:1] })
	srv, err := NewChunkServer(first, ServerConfig{Source: src, Authorize: allowAll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	src.stop = func() { first.Close() }
	req := testHost(t, nil)
	connect(t, req, first)
	sink := &DirSink{Dir: t.TempDir()}

	// The only provider stops after 7 chunks: the fetch fails and keeps them.
	res, err := Fetch(t.Context(), req, sink, files, []peer.ID{first.ID()}, FetchConfig{RequestTimeout: 3 * time.Second, StreamsPerProvider: 1})
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("fetch from a stopped provider: got %v, want ErrNoProviders", err)
	}
	// Chunks in flight when it stopped may be lost; what arrived is kept.
	firstBytes := res.Bytes
	if firstBytes == 0 || firstBytes > 7*testChunk || firstBytes%testChunk != 0 {
		t.Fatalf("first attempt wrote %d bytes, want 1 to 7 chunks of %d", firstBytes, testChunk)
	}

	// Resumed from two providers, only the missing chunks are fetched.
	a, _ := serve(t, DirSource{Dir: storeDir}, nil)
	b, _ := serve(t, DirSource{Dir: storeDir}, nil)
	connect(t, req, a)
	connect(t, req, b)
	res, err = Fetch(t.Context(), req, sink, files, []peer.ID{a.ID(), b.ID(), a.ID(), req.ID()}, FetchConfig{})
	if err != nil {
		t.Fatalf("resumed fetch: %v", err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
		sameBytes(t, filepath.Join(storeDir, f.CID.String()), sink.Path(f.CID))
	}
	if res.Resumed != firstBytes || res.Bytes != total-firstBytes {
		t.Fatalf("resumed %d and fetched %d bytes, want %d and %d", res.Resumed, res.Bytes, firstBytes, total-firstBytes)
	}
	if len(res.Providers) != 2 {
		t.Errorf("stats for %d providers, want 2 (duplicates and self are skipped)", len(res.Providers))
	}
	for _, p := range []peer.ID{a.ID(), b.ID()} {
		if res.Providers[p].Chunks == 0 {
			t.Errorf("provider %s served nothing: chunks are not spread over providers", p)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(sink.Dir, "*.part")); len(ents) != 0 {
		t.Errorf("partial files left: %v", ents)
	}
}

func TestUnauthorizedGetsNoBytes(t *testing.T) {
	storeDir := t.TempDir()
	f := storeFile(t, storeDir, 1<<20)
	var granted sync.Map // peer.ID -> bool
	sessions := make(chan Session, 8)
	prov, _ := serve(t, DirSource{Dir: storeDir}, func(c *ServerConfig) {
		c.Authorize = AuthorizerFunc(func(_ context.Context, p peer.ID, _ cid.Cid) error {
			if _, ok := granted.Load(p); ok {
				return nil
			}
			return errors.New("no grant")
		})
		c.Accounting = AccountingFunc(func(s Session) { sessions <- s })
		c.IdleTimeout = 100 * time.Millisecond
	})
	req := testHost(t, nil)
	connect(t, req, prov)

	t.Run("fetch", func(t *testing.T) {
		sink := &DirSink{Dir: t.TempDir()}
		res, err := Fetch(t.Context(), req, sink, []File{f}, []peer.ID{prov.ID()}, FetchConfig{})
		if !errors.Is(err, ErrNoProviders) || !errors.Is(err, ErrRefused) {
			t.Fatalf("fetch without a grant: got %v", err)
		}
		if res.Bytes != 0 {
			t.Fatalf("got %d bytes without a grant", res.Bytes)
		}
		if _, err := os.Stat(sink.Path(f.CID)); err == nil {
			t.Fatal("file written without a grant")
		}
	})

	t.Run("every request is checked", func(t *testing.T) {
		granted.Store(req.ID(), true)
		if data, err := rawRequest(t, req, prov.ID(), f, 0); err != nil || len(data) != testChunk {
			t.Fatalf("granted request: %d bytes, %v", len(data), err)
		}
		granted.Delete(req.ID()) // revoked: the next request is refused
		data, err := rawRequest(t, req, prov.ID(), f, 1)
		if !errors.Is(err, ErrRefused) || len(data) != 0 {
			t.Fatalf("request after revoke: %d bytes, %v", len(data), err)
		}
	})

	t.Run("session accounting", func(t *testing.T) {
		// The refused fetch and the raw requests may fall into one session or
		// two, depending on timing; together they count one chunk served.
		var total, lastServed Session
		for total.Chunks < 1 || total.Denied < 2 {
			select {
			case s := <-sessions:
				if s.Requester != req.ID() || s.Key != f.CID {
					t.Fatalf("session %+v: want requester %s and file %s", s, req.ID(), f.CID)
				}
				if s.Chunks > 0 {
					lastServed = s
				}
				total.Chunks += s.Chunks
				total.Bytes += s.Bytes
				total.Denied += s.Denied
			case <-time.After(5 * time.Second):
				t.Fatalf("sessions reported so far count %+v: want one chunk of %d bytes and at least 2 refusals", total, testChunk)
			}
		}
		if total.Chunks != 1 || total.Bytes != testChunk {
			t.Fatalf("sessions count %d chunks, %d bytes: want 1 chunk of %d bytes", total.Chunks, total.Bytes, testChunk)
		}
		// The one request served was chunk 0 of f.
		if want := sha256.Sum256(binary.BigEndian.AppendUint64(f.CID.Bytes(), 0)); lastServed.Requests != want {
			t.Fatalf("requests digest %x, want %x", lastServed.Requests, want)
		}
	})
}

// rawRequest asks for one chunk on a fresh stream, as a client other than
// Fetch would.
func rawRequest(t *testing.T, h *Host, p peer.ID, f File, index int) ([]byte, error) {
	t.Helper()
	st, err := h.NewStream(t.Context(), p, ChunkProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write(chunkRequest{File: f.CID, Index: uint64(index), Size: uint64(f.ChunkSize), Manifest: f.Manifest}.append(nil)); err != nil {
		return nil, err
	}
	fe := &fetch{cfg: FetchConfig{RequestTimeout: 5 * time.Second}}
	return fe.readVerified(bufio.NewReader(st), job{&fetchFile{desc: &f}, index}, make([]byte, f.ChunkSize))
}

func TestSessionsByManifest(t *testing.T) {
	storeDir := t.TempDir()
	files := []File{storeFile(t, storeDir, 1<<20), storeFile(t, storeDir, 300<<10)}
	manifest := files[0].CID // stands for the manifest both files belong to
	sessions := make(chan Session, 8)
	prov, srv := serve(t, DirSource{Dir: storeDir}, func(c *ServerConfig) {
		c.Accounting = AccountingFunc(func(s Session) { sessions <- s })
		c.SessionKey = func(cid.Cid) cid.Cid { return manifest }
	})
	req := testHost(t, nil)
	connect(t, req, prov)
	// The requester names a manifest; a plain Authorizer cannot check that
	// the files belong to it, so the server ignores the name.
	for i := range files {
		files[i].Manifest = testManifestCID(t, "a manifest the server cannot vouch for")
	}
	if _, err := Fetch(t.Context(), req, &DirSink{Dir: t.TempDir()}, files, []peer.ID{prov.ID()}, FetchConfig{}); err != nil {
		t.Fatal(err)
	}
	srv.Close() // ends open sessions
	select {
	case s := <-sessions:
		if s.Key != manifest || len(s.Files) != 2 || s.Chunks != int64(files[0].Chunks()+files[1].Chunks()) || s.Bytes != files[0].Size+files[1].Size {
			t.Fatalf("session %+v: want both files, %d bytes", s, files[0].Size+files[1].Size)
		}
	default:
		t.Fatal("no session reported on close")
	}
	if len(sessions) != 0 {
		t.Fatalf("%d extra sessions: one per requester and manifest expected", len(sessions))
	}
}

// vouchingPolicy is a [ManifestAuthorizer] as a node implements it: it
// knows the manifests the node published or holds and their files, and
// counts a request only under one of those that lists the file.
type vouchingPolicy struct {
	own   map[cid.Cid][]cid.Cid // manifest -> files
	order []cid.Cid             // the node's manifests, in a set order
}

func (v vouchingPolicy) Authorize(context.Context, peer.ID, cid.Cid) error {
	return errors.New("the server must ask AuthorizeManifest")
}

func (v vouchingPolicy) AuthorizeManifest(_ context.Context, _ peer.ID, file, manifest cid.Cid) (cid.Cid, error) {
	if manifest.Defined() {
		if slices.Contains(v.own[manifest], file) {
			return manifest, nil
		}
		return cid.Undef, fmt.Errorf("%s is not served for %s: %w", file, manifest, ErrNotFound)
	}
	for _, m := range v.order {
		if slices.Contains(v.own[m], file) {
			return m, nil
		}
	}
	return cid.Undef, fmt.Errorf("%s: %w", file, ErrNotFound)
}

// Two hospitals publish the same file (an identical policy.yaml) in their
// datasets A and B. A researcher fetching A's dataset asks both; hospital B
// holds the file only as part of B, so it must not serve it as part of A nor
// record an access to A: it answers "not found" and the researcher gets the
// file from A. Fetching B's dataset from B is counted under B, and a request
// naming no manifest under B's own.
func TestSessionsNameOnlyManifestsTheServerVouchesFor(t *testing.T) {
	aDir, bDir := t.TempDir(), t.TempDir()
	shared := storeFile(t, aDir, 300<<10)
	data, err := os.ReadFile(filepath.Join(aDir, shared.CID.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bDir, shared.CID.String()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	own := storeFile(t, bDir, 100<<10) // a file of B's dataset only
	mA, mB := testManifestCID(t, "hospital-a/diabetes@1"), testManifestCID(t, "hospital-b/diabetes@1")

	aSessions, bSessions := make(chan Session, 16), make(chan Session, 16)
	provA, srvA := serve(t, DirSource{Dir: aDir}, func(c *ServerConfig) {
		c.Authorize = vouchingPolicy{own: map[cid.Cid][]cid.Cid{mA: {shared.CID}}, order: []cid.Cid{mA}}
		c.Accounting = AccountingFunc(func(s Session) { aSessions <- s })
	})
	provB, srvB := serve(t, DirSource{Dir: bDir}, func(c *ServerConfig) {
		c.Authorize = vouchingPolicy{own: map[cid.Cid][]cid.Cid{mB: {shared.CID, own.CID}}, order: []cid.Cid{mB}}
		c.Accounting = AccountingFunc(func(s Session) { bSessions <- s })
	})
	req := testHost(t, nil)
	connect(t, req, provA)
	connect(t, req, provB)

	forA := shared
	forA.Manifest = mA
	res, err := Fetch(t.Context(), req, &DirSink{Dir: t.TempDir()}, []File{forA}, []peer.ID{provB.ID(), provA.ID()}, FetchConfig{})
	if err != nil {
		t.Fatalf("fetch for A: %v", err)
	}
	if got := res.Providers[provB.ID()]; got.Bytes != 0 {
		t.Fatalf("B served %d bytes of a file requested for A's manifest", got.Bytes)
	}
	if data, err := rawRequest(t, req, provB.ID(), forA, 0); !errors.Is(err, ErrRefused) || len(data) != 0 {
		t.Fatalf("B asked for the file as part of A: %d bytes, %v; want not found", len(data), err)
	}
	forB := []File{shared, own}
	for i := range forB {
		forB[i].Manifest = mB
	}
	if _, err := Fetch(t.Context(), req, &DirSink{Dir: t.TempDir()}, forB, []peer.ID{provB.ID()}, FetchConfig{}); err != nil {
		t.Fatalf("fetch for B: %v", err)
	}
	if data, err := rawRequest(t, req, provB.ID(), own, 0); err != nil || len(data) != int(own.Size) {
		t.Fatalf("request naming no manifest: %d bytes, %v", len(data), err)
	}
	srvA.Close()
	srvB.Close()

	collect := func(ch chan Session) map[cid.Cid]int64 {
		bytes := map[cid.Cid]int64{}
		for len(ch) > 0 {
			s := <-ch
			bytes[s.Key] += s.Bytes
		}
		return bytes
	}
	a, b := collect(aSessions), collect(bSessions)
	if len(a) != 1 || a[mA] != shared.Size {
		t.Errorf("A's sessions count %v: want %d bytes under A's manifest", a, shared.Size)
	}
	if len(b) != 1 || b[mB] != shared.Size+2*own.Size {
		t.Errorf("B's sessions count %v: want %d bytes under B's manifest and nothing under A's", b, shared.Size+2*own.Size)
	}
}

// slowSource paces reads, so a fetch is still running when the test acts.
type slowSource struct {
	ChunkSource
	delay time.Duration
}

func (s slowSource) ReadAt(ctx context.Context, f cid.Cid, p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.ChunkSource.ReadAt(ctx, f, p, off)
}

// TestFetchSurvivesRemovedMember: a new consortium configuration that
// removes a provider cuts it off in the middle of a fetch; the fetch
// completes from the remaining member.
func TestFetchSurvivesRemovedMember(t *testing.T) {
	storeDir := t.TempDir()
	f := storeFile(t, storeDir, 4<<20)
	src := slowSource{DirSource{Dir: storeDir}, 20 * time.Millisecond}
	removed, _ := serve(t, src, nil)
	stays, _ := serve(t, src, nil)
	req := testHost(t, nil)
	connect(t, req, removed)
	connect(t, req, stays)

	var once sync.Once
	without := make(MemberSet)
	for id := range members.snapshot() {
		if id != removed.ID() {
			without[id] = struct{}{}
		}
	}
	res, err := Fetch(t.Context(), req, &DirSink{Dir: t.TempDir()}, []File{f}, []peer.ID{removed.ID(), stays.ID()}, FetchConfig{
		RequestTimeout: 5 * time.Second,
		Progress: func(p Progress) {
			if p.Chunks == 2 {
				once.Do(func() { go req.SetMembers(without) })
			}
		},
	})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Providers[removed.ID()].Dropped == nil {
		t.Fatalf("removed member was not dropped: %+v", res.Providers[removed.ID()])
	}
	if got := res.Providers[removed.ID()].Chunks + res.Providers[stays.ID()].Chunks; got != f.Chunks() {
		t.Fatalf("%d chunks fetched, want %d", got, f.Chunks())
	}
	if req.Network().Connectedness(removed.ID()) == network.Connected {
		t.Fatal("still connected to the removed member")
	}
}
