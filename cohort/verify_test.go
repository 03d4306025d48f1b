package cohort

import (
	"os"
	"strings"
	"testing"
)

func TestVerifyDatasetDetects(t *testing.T) {
	const target = "person/part-0000.parquet"
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, st *Store, p *Published)
		file   string
		check  string
		quick  string // what CheckDataset, which does not read the bytes, finds
	}{
		{"flipped byte", func(t *testing.T, st *Store, p *Published) {
			damage(t, st.Path(fileByPath(p, target).CID), func(b []byte) []byte { b[100] ^= 0x01; return b })
		}, target, "cid", ""},
		{"truncated", func(t *testing.T, st *Store, p *Published) {
			damage(t, st.Path(fileByPath(p, target).CID), func(b []byte) []byte { return b[:len(b)-10] })
		}, target, "size", "size"},
		{"missing", func(t *testing.T, st *Store, p *Published) {
			os.Remove(st.Path(fileByPath(p, target).CID))
		}, target, "missing", "missing"},
		{"swapped for a file of the same size", func(t *testing.T, st *Store, p *Published) {
			// Other bytes of exactly the same size in the file's place.
			f := fileByPath(p, target)
			other := randomBytes(int(f.Size), 9)
			damage(t, st.Path(f.CID), func([]byte) []byte { return other })
		}, target, "cid", "schema"}, // random bytes are no Parquet file
		{"chunk digest changed", func(t *testing.T, st *Store, p *Published) {
			damage(t, st.chunksPath(fileByPath(p, target).CID), func(b []byte) []byte { b[len(b)-5] ^= 0x10; return b })
		}, target, "chunk list", "chunk list"},
		{"policy changed", func(t *testing.T, st *Store, p *Published) {
			damage(t, st.Path(p.Manifest.Deid.Policy.CID), func(b []byte) []byte { return append(b, '\n') })
		}, "policy.yaml", "size", "size"},
		{"manifest signature", func(t *testing.T, st *Store, p *Published) {
			damage(t, st.manifestPath(p.CID), func(b []byte) []byte { b[len(b)-3] ^= 0x01; return b })
		}, "manifest", "signature", "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			p, err := Publish(t.Context(), st, testSigner(t), PublishOptions{Dir: writeDataset(t, ModeExpert), Name: "synthea", Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, st, p)
			probs, err := VerifyDataset(t.Context(), st, p.CID)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) != 1 {
				t.Fatalf("problems = %v, want exactly one", probs)
			}
			if probs[0].File != tc.file || probs[0].Check != tc.check || !strings.HasPrefix(probs[0].String(), tc.file+": ") {
				t.Errorf("problem = %q (check %q), want file %s, check %s", probs[0], probs[0].Check, tc.file, tc.check)
			}
			quick, err := CheckDataset(t.Context(), st, p.CID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.quick == "" && len(quick) != 0:
				t.Errorf("CheckDataset found %v in what it does not read", quick)
			case tc.quick != "" && (len(quick) != 1 || quick[0].File != tc.file || quick[0].Check != tc.quick):
				t.Errorf("CheckDataset found %v, want %s: %s", quick, tc.file, tc.quick)
			}
		})
	}
}

func fileByPath(p *Published, path string) *File {
	for _, f := range p.Manifest.Files() {
		if f.Path == path {
			return f
		}
	}
	panic("no file " + path)
}

// A publisher's manifest whose schema or row count does not match its files
// is caught even though every CID holds.
func TestVerifyDatasetSchemaAndRows(t *testing.T) {
	st := newStore(t)
	who := testSigner(t)
	p, err := Publish(t.Context(), st, who, PublishOptions{Dir: writeDataset(t, ModeExpert), Name: "synthea", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	m := *p.Manifest
	m.Tables = append([]Table(nil), m.Tables...)
	m.Tables[1].Schema = append([]Field(nil), m.Tables[1].Schema...)
	m.Tables[1].Schema[2].Type = "int64"
	m.Tables[0].Files = append([]File(nil), m.Tables[0].Files...)
	m.Tables[0].Files[0].Rows++
	m.Version, m.Previous = 2, &p.CID
	sm, c, err := Sign(&m, who.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddManifest(sm); err != nil {
		t.Fatal(err)
	}
	probs, err := VerifyDataset(t.Context(), st, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.File+" "+p.Check)
	}
	want := []string{"condition_occurrence/part-0000.parquet rows", "person/part-0000.parquet schema"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("problems = %v, want %v", probs, want)
	}
}
