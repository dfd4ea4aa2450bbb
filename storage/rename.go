package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Renamer is a store that gives a whole file its final name without sending its bytes
// again: a file written under a temporary name until whole and re-read, then published.
type Renamer interface {
	// Rename moves from to to, replacing to; from is gone afterwards. Renaming a from that
	// is gone when to exists succeeds, so a retry after a crash does no harm.
	Rename(ctx context.Context, from, to string) error
}

// maxCopyObject is the largest object S3 copies in one CopyObject call.
const maxCopyObject = 5 << 30

// ErrTooLargeToRename is returned (wrapped) when the store cannot rename an object of
// this size in one step; the caller stores the file again under its final name.
var ErrTooLargeToRename = errors.New("too large to rename in one step")

// Rename renames the file in the folder (atomic on one filesystem).
func (s *Folder) Rename(_ context.Context, from, to string) error {
	src, err := s.path(from)
	if err != nil {
		return err
	}
	dst, err := s.mkdirFor(to)
	if err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		if _, serr := os.Stat(dst); os.IsNotExist(err) && serr == nil {
			return nil
		}
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

// Rename copies the object inside the bucket (no bytes through this host), then deletes
// the old name.
func (s *S3) Rename(ctx context.Context, from, to string) error {
	obj, err := s.Stat(ctx, from)
	if err != nil {
		if _, terr := s.Stat(ctx, to); terr == nil {
			return nil
		}
		return err
	}
	if obj.Size > maxCopyObject {
		return fmt.Errorf("rename %s: %w (%d bytes)", from, ErrTooLargeToRename, obj.Size)
	}
	source := url.PathEscape(s.loc.Bucket) + "/" + url.PathEscape(*s.key(from))
	if _, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.loc.Bucket, Key: s.key(to), CopySource: &source}); err != nil {
		return s.explain("copy to "+to, from, err)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.loc.Bucket, Key: s.key(from)}); err != nil {
		return s.explain("delete", from, err)
	}
	return nil
}
