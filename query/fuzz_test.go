package query

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// FuzzAggregateRequest decodes requests as they arrive from peers. Whatever
// validates must be answered without a panic, and nothing outside the
// allowed columns reaches SQL: a filter value is a parameter, never text of
// the statement.
func FuzzAggregateRequest(f *testing.F) {
	f.Add(`{"table":"person","group_by":["gender"]}`)
	f.Add(`{"table":"person","group_by":["gender","zip3"],"filters":[{"column":"race","value":"x' OR 1=1 --"}]}`)
	f.Add(`{"table":"condition_occurrence","group_by":["condition_start_year"],"measure":"events","min_cell":3}`)
	f.Add(`{"table":"adverse_event","group_by":["drug_code","event_code"],"filters":[{"column":"serious","value":"true"}]}`)
	f.Add(`{"table":"note","group_by":["note_text"]}`)
	f.Add(`{"table":"person","group_by":["gender\"; DROP VIEW cohorts.person; --"]}`)
	ds, _ := threeSites(f, f.TempDir(), 40)
	e, err := Open(f.Context(), Config{Threads: 1}, ds[:1])
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	answerer := &Answerer{Engine: e, Key: key, Institution: "hospital-a", Releases: &MemoryReleases{}}
	f.Fuzz(func(t *testing.T, s string) {
		var req AggregateRequest
		if json.Unmarshal([]byte(s), &req) != nil || req.Validate() != nil {
			return
		}
		req.Epsilon = 0
		ans, err := answerer.Answer(t.Context(), req)
		if err != nil {
			if !strings.Contains(err.Error(), "no own dataset") {
				t.Fatalf("valid request %s failed: %v", s, err)
			}
			return
		}
		if err := ans.Verify(); err != nil {
			t.Fatalf("own answer does not verify: %v", err)
		}
		for _, c := range ans.Cells {
			if c.Value != nil && *c.Value > 0 && *c.Value < ans.MinCell {
				t.Fatalf("small cell released: %+v", c)
			}
		}
	})
}

// FuzzAnswerSignature: any change to a signed answer's JSON either fails to
// decode or fails to verify, unless it decodes to the same answer.
func FuzzAnswerSignature(f *testing.F) {
	// A fixed key: fuzzing workers must sign the seeds the same way.
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	v := int64(42)
	a := &AggregateAnswer{Request: "r", Institution: "hospital-a", GroupBy: []string{"gender"}, Cells: []Cell{{Group: []string{"F"}, Value: &v}}, MinCell: 11}
	pid, _ := peerIDOf(key)
	a.Peer = pid
	if err := a.Sign(key); err != nil {
		f.Fatal(err)
	}
	orig, _ := json.Marshal(a)
	f.Add(string(orig))
	f.Add(strings.Replace(string(orig), "42", "43", 1))
	f.Add(strings.Replace(string(orig), "hospital-a", "hospital-b", 1))
	f.Fuzz(func(t *testing.T, s string) {
		var got AggregateAnswer
		if json.Unmarshal([]byte(s), &got) != nil {
			return
		}
		if got.Verify() != nil {
			return
		}
		b1, _ := got.signedBytes()
		b2, _ := a.signedBytes()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("a different answer verifies: %s", s)
		}
	})
}

// FuzzSandbox runs arbitrary SQL in the sandbox: whatever runs, the canary
// beside the datasets' files never appears in a result and no file is
// created.
func FuzzSandbox(f *testing.F) {
	root := f.TempDir()
	ds, _ := threeSites(f, root, 10)
	dir := filepath.Dir(ds[0].Tables["person"][0])
	canaryPath := filepath.Join(dir, "canary.txt")
	if err := os.WriteFile(canaryPath, []byte(canary), 0o644); err != nil {
		f.Fatal(err)
	}
	e, err := Open(f.Context(), Config{Threads: 1, MemoryLimit: 64 << 20}, ds)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	for _, s := range []string{
		"SELECT * FROM cohorts.person",
		"SELECT * FROM read_text('" + canaryPath + "')",
		"SELECT * FROM '" + canaryPath + "'",
		"COPY (SELECT 1) TO '" + filepath.Join(dir, "out.csv") + "'",
		"SELECT 1; SET enable_external_access = true; SELECT * FROM read_text('" + canaryPath + "')",
		"WITH t AS (SELECT * FROM query('SELECT content FROM read_text(''" + canaryPath + "'')')) SELECT * FROM t",
	} {
		f.Add(s)
	}
	before := countFiles(f, root)
	f.Fuzz(func(t *testing.T, q string) {
		rows, err := e.Query(t.Context(), q, Options{Timeout: 2 * time.Second})
		if err != nil {
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("canary in error of %q", q)
			}
			return
		}
		var buf bytes.Buffer
		Write(&buf, rows, FormatJSONL, WriteOptions{})
		if strings.Contains(buf.String(), canary) {
			t.Fatalf("canary leaked by %q", q)
		}
		if n := countFiles(t, root); n != before {
			t.Fatalf("%q changed the number of files: %d to %d", q, before, n)
		}
	})
}

func countFiles(t testing.TB, root string) int {
	n := 0
	filepath.WalkDir(root, func(string, fs.DirEntry, error) error { n++; return nil })
	return n
}

// FuzzAEAnswer: an adverse-event answer as a peer sends it (JSON). Pooling
// whatever decodes never panics and rejects what does not verify; an answer
// that verifies is the signed one (so its method and counts cannot change
// in transit); pooled with a self-controlled answer, an exposures one is
// refused.
func FuzzAEAnswer(f *testing.F) {
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	pid, _ := peerIDOf(key)
	v := func(x int64) *int64 { return &x }
	sign := func(a *AEAnswer) *AEAnswer {
		b, err := a.signedBytes()
		if err != nil {
			f.Fatal(err)
		}
		if a.Signature, err = key.Sign(b); err != nil {
			f.Fatal(err)
		}
		return a
	}
	a := sign(&AEAnswer{Institution: "hospital-a", Peer: pid, Config: SignalConfig{Source: SourceSelfControlled, Window: 30},
		Method: SourceSelfControlled, MinCell: 5, N: v(900), Drugs: map[string]*int64{"D1": v(40), "D2": nil},
		Pairs: []AEPair{{Pair: Pair{"D1", "E1"}, A: v(12), EventTotal: v(15)}, {Pair: Pair{"D2", "E1"}, A: nil, EventTotal: v(6)}}})
	ex := sign(&AEAnswer{Institution: "hospital-b", Peer: pid, Config: SignalConfig{Source: SourceExposures}, Method: SourceExposures,
		Warnings: []string{"hospital-b/x: expert mode: " + WarnExposuresShifted}, MinCell: 5, N: v(900), Drugs: map[string]*int64{"D1": v(40)},
		Pairs: []AEPair{{Pair: Pair{"D1", "E1"}, A: v(12), EventTotal: v(30)}}})
	orig, _ := json.Marshal(a)
	f.Add(string(orig))
	f.Add(strings.Replace(string(orig), `"method":"self-controlled"`, `"method":"exposures"`, 1))
	f.Add(strings.Replace(string(orig), `"a":12`, `"a":13`, 1))
	f.Add(strings.Replace(string(orig), `"n":900`, `"n":null`, 1))
	f.Add(`{"method":"reports","pairs":[{"drug":"D","event":"E","a":null,"event_total":null}],"drugs":{"D":null}}`)
	want, _ := a.signedBytes()
	f.Fuzz(func(t *testing.T, s string) {
		var got AEAnswer
		if json.Unmarshal([]byte(s), &got) != nil {
			return
		}
		sig, rejected := PooledSignals([]*AEAnswer{&got}, 1, "", "")
		if got.Verify() != nil {
			if len(rejected) != 1 || len(sig) != 0 {
				t.Fatalf("an answer that does not verify pooled: %d signals, rejected %v", len(sig), rejected)
			}
			return
		}
		if b, _ := got.signedBytes(); !bytes.Equal(b, want) {
			t.Fatalf("a different answer verifies: %s", s)
		}
		if sig, rejected := PooledSignals([]*AEAnswer{&got, ex}, 1, "", ""); len(sig) != 0 || len(rejected) != 2 {
			t.Fatalf("self-controlled and exposures pooled: %d signals, rejected %v", len(sig), rejected)
		}
	})
}
