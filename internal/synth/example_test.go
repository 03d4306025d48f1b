package synth_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cohortnet/cohortnet/internal/synth"
)

func ExampleParseSignal() {
	s, err := synth.ParseSignal("314076:41291007:4")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Drug, s.Event, s.RR)
	// Output: 314076 41291007 4
}

func ExampleGenerate() {
	dir, err := os.MkdirTemp("", "synth-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	res, err := synth.Generate(context.Background(), synth.Config{
		Patients: 100, Seed: 1, Institution: "Hospital A", Out: filepath.Join(dir, "export"),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Files[0].Name, res.Files[0].Rows)
	fmt.Println(res.Files[len(res.Files)-1].Name)
	// Output:
	// patients.csv 100
	// truth.json
}
