package source

import (
	"encoding/json"

	gojson "github.com/goccy/go-json"
)

// fastDecode decodes a resource with goccy/go-json, about three times as
// fast as encoding/json on FHIR resources (it is already in the module graph
// through arrow-go). It reports false on any error, or panic, and the
// caller then decodes with encoding/json, whose errors name the field.
func fastDecode(raw []byte, r any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return gojson.Unmarshal(raw, r) == nil
}

// unmarshal decodes fast and, on failure, again with encoding/json for an
// error that names the field.
func unmarshal(raw []byte, v any) error {
	if fastDecode(raw, v) {
		return nil
	}
	return json.Unmarshal(raw, v)
}
