package synth

import "errors"

func newFHIRSink(dir string, g *generator) (sink, error) {
	return nil, errors.New("synth: format fhir-ndjson is not available yet")
}
