package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
)

// ChunkProtocol is the chunk protocol's id. A stream carries any number of
// request/response pairs, one at a time.
//
// Request:  uvarint len(cid) | cid bytes | uvarint chunk index | uvarint chunk size
// | uvarint len(manifest) | manifest CID bytes (dag-cbor; length 0 when the
// request names no manifest)
// Response: status byte, then for [statusOK] uvarint length | that many bytes
// of the chunk, else uvarint length | a short reason in UTF-8.
//
// Version 2 added the manifest: the dataset version the requester fetches the
// file for, so that a server holding the same file under several manifests
// counts the request under the right one.
const ChunkProtocol = "/cohortnet/chunk/2.0.0"

// Size caps of the chunk protocol.
const (
	// MaxChunkSize is the largest chunk a request may ask for.
	MaxChunkSize = 16 << 20
	maxCIDLen    = 128
	maxReasonLen = 256
)

// status is the first byte of a response.
type status byte

const (
	statusOK         status = 0
	statusDenied     status = 1 // the access check refused the requester
	statusNotFound   status = 2 // the server does not hold the file
	statusBadRequest status = 3 // index or size out of range
	statusInternal   status = 4 // the server failed reading the file
)

func (s status) String() string {
	switch s {
	case statusOK:
		return "ok"
	case statusDenied:
		return "access denied"
	case statusNotFound:
		return "not found"
	case statusBadRequest:
		return "bad request"
	case statusInternal:
		return "server error"
	}
	return fmt.Sprintf("status %d", byte(s))
}

// chunkRequest asks for chunk Index of File cut into chunks of Size bytes,
// fetched for the dataset version Manifest (cid.Undef: none named).
type chunkRequest struct {
	File     cid.Cid
	Index    uint64
	Size     uint64
	Manifest cid.Cid
}

func (r chunkRequest) append(b []byte) []byte {
	c := r.File.Bytes()
	b = binary.AppendUvarint(b, uint64(len(c)))
	b = append(b, c...)
	b = binary.AppendUvarint(b, r.Index)
	b = binary.AppendUvarint(b, r.Size)
	if !r.Manifest.Defined() {
		return binary.AppendUvarint(b, 0)
	}
	m := r.Manifest.Bytes()
	b = binary.AppendUvarint(b, uint64(len(m)))
	return append(b, m...)
}

var errMalformed = errors.New("malformed message")

// readRequest reads one request. io.EOF means the peer closed the stream
// cleanly between requests.
func readRequest(r *bufio.Reader) (chunkRequest, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return chunkRequest{}, io.EOF
		}
		return chunkRequest{}, fmt.Errorf("read request: cid length: %w", noEOF(err))
	}
	if n == 0 || n > maxCIDLen {
		return chunkRequest{}, fmt.Errorf("read request: cid length %d: %w", n, errMalformed)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return chunkRequest{}, fmt.Errorf("read request: cid: %w", noEOF(err))
	}
	c, err := cid.Cast(buf)
	if err != nil {
		return chunkRequest{}, fmt.Errorf("read request: cid: %w: %v", errMalformed, err)
	}
	idx, err := binary.ReadUvarint(r)
	if err != nil {
		return chunkRequest{}, fmt.Errorf("read request: chunk index: %w", noEOF(err))
	}
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return chunkRequest{}, fmt.Errorf("read request: chunk size: %w", noEOF(err))
	}
	if size == 0 || size > MaxChunkSize {
		return chunkRequest{}, fmt.Errorf("read request: chunk size %d: %w", size, errMalformed)
	}
	req := chunkRequest{File: c, Index: idx, Size: size}
	n, err = binary.ReadUvarint(r)
	if err != nil {
		return chunkRequest{}, fmt.Errorf("read request: manifest length: %w", noEOF(err))
	}
	if n == 0 {
		return req, nil
	}
	if n > maxCIDLen {
		return chunkRequest{}, fmt.Errorf("read request: manifest length %d: %w", n, errMalformed)
	}
	buf = make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return chunkRequest{}, fmt.Errorf("read request: manifest: %w", noEOF(err))
	}
	if req.Manifest, err = cid.Cast(buf); err != nil {
		return chunkRequest{}, fmt.Errorf("read request: manifest: %w: %v", errMalformed, err)
	}
	if req.Manifest.Type() != cid.DagCBOR {
		return chunkRequest{}, fmt.Errorf("read request: manifest %s is not dag-cbor: %w", req.Manifest, errMalformed)
	}
	return req, nil
}

// responseHeader is a response up to its payload.
type responseHeader struct {
	Status status
	Length uint64 // of the chunk, for statusOK
	Reason string // for every other status
}

func appendOKHeader(b []byte, length int) []byte {
	b = append(b, byte(statusOK))
	return binary.AppendUvarint(b, uint64(length))
}

func appendError(b []byte, s status, reason string) []byte {
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b = append(b, byte(s))
	b = binary.AppendUvarint(b, uint64(len(reason)))
	return append(b, reason...)
}

// readResponseHeader reads a response's status and length; for an error
// status it reads the reason too. max caps the chunk length accepted.
func readResponseHeader(r *bufio.Reader, max uint64) (responseHeader, error) {
	sb, err := r.ReadByte()
	if err != nil {
		return responseHeader{}, fmt.Errorf("read response: status: %w", noEOF(err))
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return responseHeader{}, fmt.Errorf("read response: length: %w", noEOF(err))
	}
	s := status(sb)
	if s == statusOK {
		if n > max {
			return responseHeader{}, fmt.Errorf("read response: chunk of %d bytes, at most %d expected: %w", n, max, errMalformed)
		}
		return responseHeader{Status: s, Length: n}, nil
	}
	if s > statusInternal {
		return responseHeader{}, fmt.Errorf("read response: unknown status %d: %w", sb, errMalformed)
	}
	if n > maxReasonLen {
		return responseHeader{}, fmt.Errorf("read response: reason of %d bytes: %w", n, errMalformed)
	}
	reason := make([]byte, n)
	if _, err := io.ReadFull(r, reason); err != nil {
		return responseHeader{}, fmt.Errorf("read response: reason: %w", noEOF(err))
	}
	return responseHeader{Status: s, Reason: string(reason)}, nil
}

// noEOF turns a clean end of stream in the middle of a message into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
