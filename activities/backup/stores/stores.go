// Package stores opens the backup store a Location names: a folder or an S3 bucket.
package stores

import (
	"context"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/backup/local"
	"github.com/algotrendy/rewind/activities/backup/s3store"
)

// Open returns the store of l.
func Open(ctx context.Context, l backup.Location) (backup.Store, error) {
	if l.Bucket == "" {
		return local.New(l.Dir), nil
	}
	return s3store.New(ctx, s3store.Config{Bucket: l.Bucket, Prefix: l.Prefix, Region: l.Region, Endpoint: l.Endpoint, UsePathStyle: l.UsePathStyle, PartSize: l.PartSize})
}
