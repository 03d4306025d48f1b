package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func testCID(t testing.TB, data string) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func TestRequestRoundTrip(t *testing.T) {
	c := testCID(t, "file")
	for _, tc := range []struct {
		name string
		req  chunkRequest
	}{
		{"first chunk", chunkRequest{File: c, Index: 0, Size: DefaultChunkSize}},
		{"far chunk", chunkRequest{File: c, Index: 1 << 40, Size: 1}},
		{"largest chunk", chunkRequest{File: c, Index: 7, Size: MaxChunkSize}},
		{"for a manifest", chunkRequest{File: c, Index: 2, Size: DefaultChunkSize, Manifest: testManifestCID(t, "m")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readRequest(bufio.NewReader(bytes.NewReader(tc.req.append(nil))))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.req {
				t.Fatalf("got %+v, want %+v", got, tc.req)
			}
		})
	}
}

// testManifestCID is a dag-cbor CID, as manifests have.
func testManifestCID(t testing.TB, data string) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagCBOR, mh)
}

func TestRequestRejects(t *testing.T) {
	c := testCID(t, "file")
	good := chunkRequest{File: c, Index: 3, Size: 1024}.append(nil)
	withManifest := chunkRequest{File: c, Index: 3, Size: 1024, Manifest: testManifestCID(t, "m")}.append(nil)
	// A raw (file) CID where the manifest goes.
	rawManifest := slices.Concat(good[:len(good)-1], []byte{byte(len(c.Bytes()))}, c.Bytes())
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"truncated cid", good[:5], io.ErrUnexpectedEOF},
		{"truncated size", good[:len(good)-2], io.ErrUnexpectedEOF},
		{"no manifest length", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"truncated manifest", withManifest[:len(withManifest)-3], io.ErrUnexpectedEOF},
		{"manifest not dag-cbor", rawManifest, errMalformed},
		{"huge manifest length", slices.Concat(good[:len(good)-1], []byte{0xff, 0x01}), errMalformed},
		{"zero size", chunkRequest{File: c, Size: 0}.append(nil), errMalformed},
		{"oversized chunk", chunkRequest{File: c, Size: MaxChunkSize + 1}.append(nil), errMalformed},
		{"huge cid length", []byte{0xff, 0xff, 0x03}, errMalformed},
		{"not a cid", append([]byte{4}, "abcd"...), errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readRequest(bufio.NewReader(bytes.NewReader(tc.in)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestResponseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		max  uint64
		want responseHeader
		err  error
	}{
		{"ok", appendOKHeader(nil, 1000), 1000, responseHeader{Status: statusOK, Length: 1000}, nil},
		{"too long", appendOKHeader(nil, 1001), 1000, responseHeader{}, errMalformed},
		{"denied", appendError(nil, statusDenied, "access denied"), 10, responseHeader{Status: statusDenied, Reason: "access denied"}, nil},
		{"unknown status", []byte{9, 0}, 10, responseHeader{}, errMalformed},
		{"long reason", append([]byte{1, 0xff, 0x7f}, make([]byte, 300)...), 10, responseHeader{}, errMalformed},
		{"truncated reason", []byte{2, 5, 'a'}, 10, responseHeader{}, io.ErrUnexpectedEOF},
		{"nothing", nil, 10, responseHeader{}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readResponseHeader(bufio.NewReader(bytes.NewReader(tc.in)), tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	c := testCID(f, "seed")
	f.Add(chunkRequest{File: c, Index: 0, Size: DefaultChunkSize}.append(nil))
	f.Add(chunkRequest{File: c, Index: 1 << 62, Size: MaxChunkSize}.append(nil))
	f.Add(chunkRequest{File: c, Index: 5, Size: 64, Manifest: testManifestCID(f, "m")}.append(nil))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := readRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if req.Size == 0 || req.Size > MaxChunkSize || !req.File.Defined() {
			t.Fatalf("accepted out-of-range request %+v", req)
		}
		// What was accepted encodes back to a request that decodes the same.
		again, err := readRequest(bufio.NewReader(bytes.NewReader(req.append(nil))))
		if err != nil || again != req {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, req)
		}
	})
}

func FuzzReadResponseHeader(f *testing.F) {
	f.Add(appendOKHeader(nil, DefaultChunkSize))
	f.Add(appendError(nil, statusNotFound, "file not held here"))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := readResponseHeader(bufio.NewReader(bytes.NewReader(in)), DefaultChunkSize)
		if err != nil {
			return
		}
		if h.Status == statusOK && h.Length > DefaultChunkSize {
			t.Fatalf("accepted %d bytes over the cap", h.Length)
		}
		if len(h.Reason) > maxReasonLen {
			t.Fatalf("accepted a reason of %d bytes", len(h.Reason))
		}
	})
}
