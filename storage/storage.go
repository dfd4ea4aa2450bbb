// Package storage keeps files in a folder or an S3 bucket behind one small interface:
// Rewind reads backups from it and writes incident evidence and forensic snapshots to it.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Location says where a store is: a folder, or a bucket and prefix. It holds no
// credentials: S3 ones come from the worker's AWS credential chain.
type Location struct {
	Dir          string
	Bucket       string
	Prefix       string
	Region       string
	Endpoint     string
	UsePathStyle bool
	// PartSize of multipart uploads in bytes; 0: 16 MiB.
	PartSize int64
}

func (l Location) String() string {
	if l.Bucket != "" {
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return l.Dir
}

// Remote reports whether the store is away from this host, so files are fetched first.
func (l Location) Remote() bool { return l.Bucket != "" }

// Object is one stored file.
type Object struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Part is one finished part of a resumable upload.
type Part struct {
	Number int32
	ETag   string
	Size   int64
}

// UploadCheckpoint is how far an upload got; a retry continues from it. It holds no secret.
type UploadCheckpoint struct {
	UploadID string
	Parts    []Part
	// Offset is the number of source bytes stored so far.
	Offset int64
}

// Store is a place files live. Writes replace whole files, so a retried activity leaves
// the same files as one that ran once.
type Store interface {
	// Describe names the store for messages, like "s3://bucket/prefix" or "/backups".
	Describe() string
	// Location says where name is, for people reading an incident.
	Location(name string) string
	// List returns every object whose name (relative to the store) starts with prefix.
	List(ctx context.Context, prefix string) ([]Object, error)
	Stat(ctx context.Context, name string) (Object, error)
	// Open reads an object from offset on.
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Put stores r under name; a failed Put leaves the old object or none.
	Put(ctx context.Context, name string, r io.Reader) error
	// PutFile stores a file of this host under name, continuing from cp; it calls saved
	// after every part that is durably stored, so a retry after a crash sends at most
	// one part again.
	PutFile(ctx context.Context, name, file string, cp UploadCheckpoint, saved func(UploadCheckpoint)) error
	// Create stores a small body under name only if no object of that name exists, in
	// one atomic step no other writer can interleave with: the loser of a race gets
	// ErrExists (wrapped), and a crash leaves the whole body or nothing.
	Create(ctx context.Context, name string, body []byte) error
}

// ErrNotFound is returned (wrapped) for a missing object or store.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) by Create when the name is taken.
var ErrExists = errors.New("already exists")

// defaultPartSize is what an upload sends between checkpoints.
const defaultPartSize = 16 << 20

// Open returns the store of l: its folder, or its bucket through the AWS SDK.
func Open(ctx context.Context, l Location) (Store, error) {
	if l.Bucket == "" {
		return NewFolder(l.Dir)
	}
	return NewS3(ctx, l)
}
