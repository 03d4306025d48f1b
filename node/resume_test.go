package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/p2p"
)

// slowSource serves from a store, pausing before the first bytes of every
// chunk, so a fetch over loopback takes long enough to be interrupted in
// the middle.
type slowSource struct {
	storeSource
	pause time.Duration
}

func (s slowSource) ReadAt(ctx context.Context, f cid.Cid, p []byte, off int64) (int, error) {
	if off%cohort.ChunkSize == 0 {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(s.pause):
		}
	}
	return s.storeSource.ReadAt(ctx, f, p, off)
}

// A researcher's node closed in the middle of a fetch keeps the chunks it
// had received: reopened, it fetches the same version again, transfers only
// what it lacked, and ends with a copy that verifies.
func TestFetchResumesAfterRestart(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a, lab := nw.hospA, nw.lab
	start := time.Now()

	// Two files of about 10 MiB, three 4 MiB chunks each.
	dir := writeFolder(t, 250_000)
	addPart(t, dir, filepath.Join(writeFolder(t, 250_000), "person", "part-0000.parquet"))
	p := publishDir(t, a, dir, "resume-study", cohort.AccessRestricted)
	files := p.Manifest.Files()
	var total int64
	chunks := 0
	for _, f := range files {
		total += f.Size
		chunks += len(f.Chunks)
	}
	if len(files) < 2 || chunks < 5 {
		t.Fatalf("want a dataset of several files and chunks, got %d files, %d chunks", len(files), chunks)
	}

	// Hospital-a grants the lab nothing, so it refuses to serve it; the only
	// provider is a mirror (the rogue member's identity) serving hospital-a's
	// copy slowly.
	rogue := rogueHost(t, nw)
	srv, err := p2p.NewChunkServer(rogue.Host, p2p.ServerConfig{
		Source:    slowSource{storeSource{a.node.Store()}, 300 * time.Millisecond},
		Authorize: p2p.AuthorizerFunc(func(context.Context, peer.ID, cid.Cid) error { return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := rogue.Connect(ctx, lab.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the lab lists the dataset", func() bool {
		ok, _, _ := listed(lab.node, p.CID.String())
		return ok
	})

	t.Logf("%s: the lab lists the dataset", time.Since(start).Round(time.Millisecond))
	j1, err := lab.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, _ := lab.node.Job(j1.ID)
		if j.State != JobRunning {
			t.Fatalf("the first fetch ended before it could be interrupted: %+v", j)
		}
		if j.Chunks >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first fetch made no progress: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The researcher's node stops in the middle of the job.
	lab.node.Close()
	if j1, err = lab.node.Wait(ctx, j1.ID); err != nil || j1.State == JobDone {
		t.Fatalf("the interrupted fetch: %+v %v", j1, err)
	}
	lab.node = nil
	defer func() {
		if lab.node == nil {
			if err := reopen(nw, lab); err != nil {
				t.Error(err)
			}
		}
	}()

	// What the closed node left on disk: whole files in the store and, for
	// the others, the partial chunks that verify.
	st, err := cohort.OpenDataStore(lab.d)
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	for _, f := range files {
		r, err := st.Receive(ctx, f.CID, f.Hashes())
		if err != nil {
			t.Fatal(err)
		}
		held += f.Size
		for _, i := range r.Missing() {
			held -= min(f.ChunkSize, f.Size-int64(i)*f.ChunkSize)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: interrupted: job %d/%d chunks, %d of %d bytes verify on disk", time.Since(start).Round(time.Millisecond), j1.Chunks, j1.TotalChunks, held, total)
	if held == total {
		t.Fatalf("every chunk was on disk before the interruption; want part of the dataset")
	}
	if held == 0 || held < j1.Bytes {
		t.Fatalf("the interrupted job had written %d bytes; %d verify on disk after its node closed", j1.Bytes, held)
	}

	if err := reopen(nw, lab); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Connect(ctx, lab.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: reopened", time.Since(start).Round(time.Millisecond))
	j2, err := lab.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	if j2, err = lab.node.Wait(ctx, j2.ID); err != nil || j2.State != JobDone {
		t.Fatalf("the resumed fetch: %+v %v", j2, err)
	}
	var sent int64
	for _, b := range j2.Providers {
		sent += b
	}
	t.Logf("%s: resumed: %d bytes from providers %v", time.Since(start).Round(time.Millisecond), sent, j2.Providers)
	if sent == 0 || sent > total-held {
		t.Errorf("the resumed fetch transferred %d bytes; the dataset has %d and %d were already on disk", sent, total, held)
	}
	if j2.Bytes != total || j2.Chunks != chunks {
		t.Errorf("the resumed job reports %d/%d bytes and %d/%d chunks", j2.Bytes, total, j2.Chunks, chunks)
	}
	if probs, err := cohort.VerifyDataset(ctx, lab.node.Store(), p.CID); err != nil || len(probs) > 0 {
		t.Fatalf("the lab's copy does not verify: %v %v", probs, err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(lab.node.Store().Dir(), "partial", f.CID.String())); !os.IsNotExist(err) {
			t.Errorf("file %s: partial copy left after the fetch completed (%v)", f.CID, err)
		}
	}
}
