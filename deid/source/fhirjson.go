package source

import (
	"encoding/json"
	"strings"
)

// The parts of FHIR R4 resources the adapter reads. Fields whose JSON type
// differs between resource types are kept raw and decoded by type.

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding"`
	Text   string       `json:"text"`
}

type fhirRef struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

type fhirPeriod struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type fhirQuantity struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	Code  string   `json:"code"`
}

type fhirExtension struct {
	URL          string          `json:"url"`
	Extension    []fhirExtension `json:"extension"`
	ValueCoding  *fhirCoding     `json:"valueCoding"`
	ValueString  string          `json:"valueString"`
	ValueDecimal *float64        `json:"valueDecimal"`
	ValueAddress *fhirAddress    `json:"valueAddress"`
	ValueCode    string          `json:"valueCode"`
}

type fhirAddress struct {
	Extension  []fhirExtension `json:"extension"`
	Line       []string        `json:"line"`
	City       string          `json:"city"`
	District   string          `json:"district"`
	State      string          `json:"state"`
	PostalCode string          `json:"postalCode"`
	Country    string          `json:"country"`
}

type fhirName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
}

type fhirIdentifier struct {
	Type   fhirConcept `json:"type"`
	System string      `json:"system"`
	Value  string      `json:"value"`
}

type fhirContact struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirAttachment struct {
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
	URL         string `json:"url"`
}

// fhirResource is the union of the fields read from any resource type.
type fhirResource struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Identifier   json.RawMessage   `json:"identifier"` // array (Patient) or object (AdverseEvent)
	Extension    []fhirExtension   `json:"extension"`
	Contained    []json.RawMessage `json:"contained"`

	// Patient
	Name             []fhirName    `json:"name"`
	Telecom          []fhirContact `json:"telecom"`
	Gender           string        `json:"gender"`
	BirthDate        string        `json:"birthDate"`
	DeceasedDateTime string        `json:"deceasedDateTime"`
	Address          []fhirAddress `json:"address"`

	// references
	Subject   fhirRef         `json:"subject"`
	Patient   fhirRef         `json:"patient"`
	Encounter fhirRef         `json:"encounter"`
	Context   json.RawMessage `json:"context"` // Reference (MedicationStatement) or object (DocumentReference)

	// Encounter
	Class  *fhirCoding     `json:"class"`
	Type   json.RawMessage `json:"type"` // array (Encounter) or CodeableConcept (DocumentReference)
	Period fhirPeriod      `json:"period"`

	Code                      fhirConcept  `json:"code"`
	VaccineCode               fhirConcept  `json:"vaccineCode"`
	MedicationCodeableConcept *fhirConcept `json:"medicationCodeableConcept"`
	MedicationReference       *fhirRef     `json:"medicationReference"`

	OnsetDateTime     string      `json:"onsetDateTime"`
	OnsetPeriod       *fhirPeriod `json:"onsetPeriod"`
	RecordedDate      string      `json:"recordedDate"`
	AbatementDateTime string      `json:"abatementDateTime"`
	AbatementPeriod   *fhirPeriod `json:"abatementPeriod"`

	AuthoredOn      string `json:"authoredOn"`
	DispenseRequest *struct {
		ValidityPeriod fhirPeriod `json:"validityPeriod"`
	} `json:"dispenseRequest"`
	EffectiveDateTime  string      `json:"effectiveDateTime"`
	EffectivePeriod    *fhirPeriod `json:"effectivePeriod"`
	OccurrenceDateTime string      `json:"occurrenceDateTime"`
	PerformedDateTime  string      `json:"performedDateTime"`
	PerformedPeriod    *fhirPeriod `json:"performedPeriod"`
	Issued             string      `json:"issued"`

	ValueQuantity *fhirQuantity `json:"valueQuantity"`
	Component     []struct {
		Code          fhirConcept   `json:"code"`
		ValueQuantity *fhirQuantity `json:"valueQuantity"`
	} `json:"component"`

	// AdverseEvent
	Event         fhirConcept `json:"event"`
	Date          string      `json:"date"`
	Seriousness   fhirConcept `json:"seriousness"`
	Outcome       fhirConcept `json:"outcome"`
	SuspectEntity []struct {
		Instance fhirRef `json:"instance"`
	} `json:"suspectEntity"`

	// DocumentReference
	Content []struct {
		Attachment fhirAttachment `json:"attachment"`
	} `json:"content"`

	// Bundle
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// code is a coded value in the CDM: vocabulary, code and name.
type code struct{ vocab, code, name string }

// pickCoding takes the coding whose system is SNOMED CT, RxNorm, LOINC or
// CVX; else the first coding, with its system as the vocabulary; else only
// the concept's text as the name.
func pickCoding(c fhirConcept) code {
	for _, cd := range c.Coding {
		if v, ok := vocabOf(cd.System); ok {
			return code{v, cd.Code, firstOf(cd.Display, c.Text)}
		}
	}
	if len(c.Coding) > 0 {
		cd := c.Coding[0]
		return code{cd.System, cd.Code, firstOf(cd.Display, c.Text)}
	}
	return code{name: c.Text}
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// refID is the id a reference points at: "Encounter/x" and "urn:uuid:x" are x.
func refID(ref string) string {
	if strings.HasPrefix(ref, "urn:uuid:") {
		return ref[len("urn:uuid:"):]
	}
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// encounterClass names the visit type of an Encounter class code.
func encounterClass(c *fhirCoding) string {
	if c == nil {
		return ""
	}
	switch c.Code {
	case "AMB":
		return "ambulatory"
	case "EMER":
		return "emergency"
	case "IMP", "ACUTE", "NONAC":
		return "inpatient"
	case "HH":
		return "home"
	case "VR":
		return "virtual"
	case "OBSENC":
		return "observation"
	case "SS":
		return "short stay"
	case "PRENC":
		return "pre-admission"
	case "FLD":
		return "field"
	}
	return strings.ToLower(firstOf(c.Code, c.Display))
}
