package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Remover deletes objects: only retention uses it, on backups Rewind wrote itself.
type Remover interface {
	// Remove deletes name; a name already gone is no error, so a retry does no harm.
	Remove(ctx context.Context, name string) error
}

// Remove deletes the file from the folder.
func (s *Folder) Remove(_ context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// Remove deletes the object from the bucket (S3 answers a missing key with success).
func (s *S3) Remove(ctx context.Context, name string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.loc.Bucket, Key: s.key(name)}); err != nil {
		return s.explain("delete", name, err)
	}
	return nil
}
