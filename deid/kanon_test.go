package deid

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const ageHierarchy = `22;20-29;*
25;20-29;*
27;20-29;*
31;30-39;*
35;30-39;*
38;30-39;*
42;40-49;*
44;40-49;*
`

func sexHierarchy(t *testing.T) *Hierarchy {
	h, err := ParseHierarchy(strings.NewReader("M;*\nF;*\n"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func handProblem(t *testing.T, maxSupp float64) *Problem {
	age, err := ParseHierarchy(strings.NewReader(ageHierarchy))
	if err != nil {
		t.Fatal(err)
	}
	p := &Problem{Attrs: []Attribute{{"age", age}, {"sex", sexHierarchy(t)}}, K: 2, MaxSuppression: maxSupp}
	for _, r := range [][2]string{{"25", "M"}, {"27", "M"}, {"22", "M"}, {"31", "F"}, {"35", "F"}, {"38", "F"}, {"42", "M"}, {"44", "F"}} {
		p.Add([]*string{&r[0], &r[1]}, "")
	}
	return p
}

// The 8-record table worked out by hand (k = 2):
//   - no suppression: ages to "*", sex kept (levels 2,0): two classes of 4, loss 0.5;
//     decades with sex generalized (1,1) would be anonymous too but lose 0.75;
//   - up to 2 of 8 suppressed: decades with sex kept (1,0): 20-29 M and
//     30-39 F have 3 each, 40-49 M and 40-49 F are suppressed; loss
//     (6 × 0.25 + 2) / 8 = 0.4375.
func TestSearchHandWorked(t *testing.T) {
	tests := []struct {
		supp       float64
		levels     []int
		loss       float64
		suppressed int64
		k          int
		classes    int
	}{
		{0, []int{2, 0}, 0.5, 0, 4, 2},
		{0.25, []int{1, 0}, 0.4375, 2, 3, 2},
		{0.5, []int{1, 0}, 0.4375, 2, 3, 2},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.supp, 'g', -1, 64), func(t *testing.T) {
			r, err := handProblem(t, tt.supp).Search()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Levels, tt.levels) || math.Abs(r.Loss-tt.loss) > 1e-9 || r.Suppressed != tt.suppressed || r.KAchieved != tt.k || r.Classes != tt.classes {
				t.Errorf("got levels %v loss %v suppressed %d k %d classes %d, want %v %v %d %d %d",
					r.Levels, r.Loss, r.Suppressed, r.KAchieved, r.Classes, tt.levels, tt.loss, tt.suppressed, tt.k, tt.classes)
			}
			wantRisk := 1 / float64(tt.k)
			if math.Abs(r.Risk.Prosecutor.Highest-wantRisk) > 1e-9 {
				t.Errorf("prosecutor risk %v, want %v", r.Risk.Prosecutor.Highest, wantRisk)
			}
		})
	}
}

func TestSearchValues(t *testing.T) {
	p := handProblem(t, 0.25)
	r, err := p.Search()
	if err != nil {
		t.Fatal(err)
	}
	// tuple 0 is (25, M): released as 20-29, M; tuple 6 (42, M) suppressed
	if v, _ := r.Value(0, 0); v != "20-29" || !r.Kept(0) {
		t.Errorf("tuple 0: %q kept %v", v, r.Kept(0))
	}
	if r.Kept(6) || r.Kept(7) {
		t.Error("40-49 records released")
	}
}

func TestSearchUnreachable(t *testing.T) {
	p := handProblem(t, 0)
	p.K = 9
	if _, err := p.Search(); !errors.Is(err, ErrKUnreachable) {
		t.Errorf("err = %v, want ErrKUnreachable", err)
	}
}

func TestSearchMissingValue(t *testing.T) {
	p := handProblem(t, 0)
	v, s := "57", "M"
	p.Add([]*string{&v, &s}, "")
	_, err := p.Search()
	if !errors.Is(err, ErrHierarchy) || !strings.Contains(err.Error(), `"57"`) {
		t.Errorf("err = %v, want a hierarchy error naming the value", err)
	}
}

// On many random small tables the search finds the same least loss as
// evaluating every transformation.
func TestSearchMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 150 {
		nattr := 1 + rng.IntN(4)
		var attrs []Attribute
		var values [][]string
		for a := range nattr {
			nv := 2 + rng.IntN(7)
			height := 2 + rng.IntN(3)
			var rows [][]string
			var vals []string
			for v := range nv {
				val := "v" + strconv.Itoa(v)
				row := []string{val}
				for lv := 1; lv < height-1; lv++ {
					row = append(row, "g"+strconv.Itoa(lv)+"-"+strconv.Itoa(v>>lv))
				}
				row = append(row, "*")
				rows = append(rows, row)
				vals = append(vals, val)
			}
			h, err := NewHierarchy(rows)
			if err != nil {
				t.Fatal(err)
			}
			attrs = append(attrs, Attribute{Name: "a" + strconv.Itoa(a), Hierarchy: h})
			values = append(values, vals)
		}
		mk := func() *Problem {
			return &Problem{Attrs: attrs, K: 2 + rng.IntN(4), MaxSuppression: []float64{0, 0.02, 0.1, 0.3}[rng.IntN(4)]}
		}
		p := mk()
		n := 5 + rng.IntN(60)
		recs := make([][]*string, n)
		for i := range recs {
			for a := range attrs {
				v := values[a][rng.IntN(len(values[a]))]
				recs[i] = append(recs[i], &v)
			}
			p.Add(recs[i], "")
		}
		q := &Problem{Attrs: attrs, K: p.K, MaxSuppression: p.MaxSuppression}
		for _, r := range recs {
			q.Add(r, "")
		}
		want, wantLevels, errB := q.BruteForce()
		got, errS := p.Search()
		if errors.Is(errB, ErrKUnreachable) {
			if !errors.Is(errS, ErrKUnreachable) {
				t.Fatalf("trial %d: brute force finds nothing, search found %v", trial, got.Levels)
			}
			continue
		}
		if errS != nil {
			t.Fatalf("trial %d: %v", trial, errS)
		}
		if math.Abs(got.Loss-want) > 1e-9 || !slices.Equal(got.Levels, wantLevels) {
			t.Fatalf("trial %d: search %v loss %v, brute force %v loss %v", trial, got.Levels, got.Loss, wantLevels, want)
		}
		if got.Evaluated > got.NodesTotal {
			t.Fatalf("trial %d: evaluated %d of %d nodes", trial, got.Evaluated, got.NodesTotal)
		}
	}
}

func TestLDiversity(t *testing.T) {
	age, _ := ParseHierarchy(strings.NewReader(ageHierarchy))
	p := &Problem{Attrs: []Attribute{{"age", age}}, K: 2, L: 2}
	// 20-29: two diagnoses; 30-39: one diagnosis only, so it must join others
	for _, r := range [][2]string{{"25", "flu"}, {"27", "cold"}, {"31", "flu"}, {"35", "flu"}} {
		p.Add([]*string{&r[0]}, r[1])
	}
	r, err := p.Search()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Levels, []int{2}) || r.LAchieved != 2 {
		t.Errorf("levels %v l %d, want [2] and 2", r.Levels, r.LAchieved)
	}
}

func TestParseHierarchy(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
		height            int
	}{
		{"ok", "a;x;*\nb;x;*\nc;y;*\n", "", 3},
		{"quoted", "\"a;b\";x\n\"c\"\"d\";x\n", "", 2},
		{"crlf and bom", "\ufeffa;*\r\nb;*\r\n", "", 2},
		{"ragged", "a;x;*\nb;*\n", "line 2: 2 fields, the first row has 3", 0},
		{"duplicate", "a;*\na;*\n", `line 2: value "a" listed twice`, 0},
		{"not a hierarchy", "a;x;p;*\nb;x;q;*\n", "not a hierarchy", 0},
		{"empty", "\n\n", "no rows", 0},
		{"open quote", "\"a;*\n", "unterminated quote", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHierarchy(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrHierarchy) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Height() != tt.height {
				t.Errorf("height %d, want %d", h.Height(), tt.height)
			}
		})
	}
	h, _ := ParseHierarchy(strings.NewReader("\"a;b\";x\n"))
	if v, ok := h.Generalize("a;b", 1); !ok || v != "x" {
		t.Errorf("Generalize = %q %v", v, ok)
	}
}

func FuzzParseHierarchy(f *testing.F) {
	f.Add([]byte(ageHierarchy))
	f.Add([]byte("a;x;*\nb;x;*\n"))
	f.Add([]byte("\"a;b\";\"x\"\"y\";*\n"))
	f.Add([]byte("a;x;p;*\nb;x;q;*\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHierarchy(strings.NewReader(string(data)))
		if err != nil {
			if !errors.Is(err, ErrHierarchy) {
				t.Fatalf("error does not wrap ErrHierarchy: %v", err)
			}
			return
		}
		h2, err := ParseHierarchy(strings.NewReader(string(h.Marshal())))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", h.Marshal(), err)
		}
		if h2.Height() != h.Height() || len(h2.order) != len(h.order) {
			t.Fatalf("round trip changed the hierarchy")
		}
		for _, v := range h.order {
			for lv := range h.Height() {
				a, _ := h.Generalize(v, lv)
				b, ok := h2.Generalize(v, lv)
				if !ok || a != b {
					t.Fatalf("round trip changed %q at level %d: %q -> %q", v, lv, a, b)
				}
			}
		}
	})
}
