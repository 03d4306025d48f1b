package query

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

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
