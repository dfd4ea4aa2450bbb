// Package s3store is the backup store in an S3 bucket or any S3-compatible server, through
// aws-sdk-go-v2 with the default credential chain (credentials never enter Rewind's config
// or workflow history).
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/meter"
)

// Config names the bucket; it holds no credentials.
type Config struct {
	Bucket       string
	Prefix       string
	Region       string
	Endpoint     string
	UsePathStyle bool
	// PartSize of multipart uploads; 0: 16 MiB. S3 wants at least 5 MiB.
	PartSize int64
}

// Store is a bucket (and prefix) of backups.
type Store struct {
	cfg    Config
	client *s3.Client
}

// New builds a client from the default AWS credential chain.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store needs a bucket")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("load AWS credentials for s3://%s: %w", cfg.Bucket, err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.UsePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			// S3-compatible servers often lack the newer flexible checksums.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	if cfg.PartSize <= 0 {
		cfg.PartSize = 16 << 20
	}
	return &Store{cfg: cfg, client: client}, nil
}

// Describe names the bucket and prefix.
func (s *Store) Describe() string { return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix }

func (s *Store) key(name string) string { return s.cfg.Prefix + name }

// explain adds what an operator should check to S3's own error.
func (s *Store) explain(verb, name string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s %s%s: %w", verb, s.Describe(), name, backup.ErrNotFound)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "AllAccessDisabled":
			// Retrying cannot fix a bucket name or credentials: say so at once.
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %s%s: %s: %s; check the bucket name and the worker's AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, instance role)",
				verb, s.Describe(), name, apiErr.ErrorCode(), apiErr.ErrorMessage()), backup.ErrStoreConfig, err)
		}
	}
	return fmt.Errorf("%s %s%s: %w", verb, s.Describe(), name, err)
}

// List returns the objects under the store's prefix whose names start with prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]backup.Object, error) {
	var out []backup.Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(s.key(prefix))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.explain("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, backup.Object{
				Name: strings.TrimPrefix(aws.ToString(o.Key), s.cfg.Prefix), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	return out, nil
}

// Stat describes one object.
func (s *Store) Stat(ctx context.Context, name string) (backup.Object, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.key(name))})
	if err != nil {
		return backup.Object{}, s.explain("stat", name, err)
	}
	return backup.Object{Name: name, Size: aws.ToInt64(h.ContentLength), ModTime: aws.ToTime(h.LastModified)}, nil
}

// Open reads an object from offset on with a ranged GET.
func (s *Store) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: aws.String(s.key(name))}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, s.explain("read", name, err)
	}
	return out.Body, nil
}

// Upload stores src as one object: a single PUT when small, else a multipart upload that
// continues from the checkpoint's upload ID and finished parts.
func (s *Store) Upload(ctx context.Context, name string, src io.ReaderAt, size int64, cp backup.UploadCheckpoint, saved func(backup.UploadCheckpoint)) error {
	key := aws.String(s.key(name))
	if size <= s.cfg.PartSize {
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: key, Body: sentOnce(ctx, src, 0, size), ContentLength: aws.Int64(size)}); err != nil {
			return s.explain("upload", name, err)
		}
		saved(backup.UploadCheckpoint{Offset: size})
		return nil
	}
	if cp.UploadID != "" {
		// The server's list of parts is the truth; heartbeats may lag behind it.
		var err error
		if cp, err = s.storedParts(ctx, key, cp.UploadID); err != nil {
			// The upload expired or was aborted: start over.
			cp = backup.UploadCheckpoint{}
		}
	}
	if cp.UploadID == "" {
		out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: key})
		if err != nil {
			return s.explain("start upload of", name, err)
		}
		cp = backup.UploadCheckpoint{UploadID: aws.ToString(out.UploadId)}
		saved(cp)
	}
	for cp.Offset < size {
		n := min(s.cfg.PartSize, size-cp.Offset)
		num := int32(len(cp.Parts) + 1)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.cfg.Bucket, Key: key, UploadId: &cp.UploadID, PartNumber: aws.Int32(num),
			Body: sentOnce(ctx, src, cp.Offset, n), ContentLength: aws.Int64(n),
		})
		if err != nil {
			return s.explain(fmt.Sprintf("upload part %d of", num), name, err)
		}
		cp.Parts = append(cp.Parts, backup.Part{Number: num, ETag: aws.ToString(out.ETag), Size: n})
		cp.Offset += n
		saved(cp)
	}
	parts := make([]types.CompletedPart, len(cp.Parts))
	for i, p := range cp.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.cfg.Bucket, Key: key, UploadId: &cp.UploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return s.explain("finish upload of", name, err)
	}
	return nil
}

// storedParts rebuilds a checkpoint from the parts the server holds: the run of whole parts
// numbered 1, 2, 3... A part cut short by a crash ends the run and is sent again.
func (s *Store) storedParts(ctx context.Context, key *string, uploadID string) (backup.UploadCheckpoint, error) {
	cp := backup.UploadCheckpoint{UploadID: uploadID}
	byNumber := map[int32]types.Part{}
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.cfg.Bucket, Key: key, UploadId: &uploadID})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return cp, err
		}
		for _, part := range page.Parts {
			byNumber[aws.ToInt32(part.PartNumber)] = part
		}
	}
	for n := int32(1); ; n++ {
		part, ok := byNumber[n]
		if !ok || aws.ToInt64(part.Size) != s.cfg.PartSize {
			return cp, nil
		}
		cp.Parts = append(cp.Parts, backup.Part{Number: n, ETag: aws.ToString(part.ETag), Size: s.cfg.PartSize})
		cp.Offset += s.cfg.PartSize
	}
}

// sentOnce is one part's body, counted for the transfer meter the first time the SDK reads
// each byte: it reads a body more than once (checksum, signature, then the send).
func sentOnce(ctx context.Context, src io.ReaderAt, off, n int64) io.ReadSeeker {
	return &countedSection{SectionReader: io.NewSectionReader(src, off, n), sent: meter.For(ctx, meter.Upload)}
}

type countedSection struct {
	*io.SectionReader
	sent meter.Counter
	high int64
}

func (c *countedSection) Read(p []byte) (int, error) {
	n, err := c.SectionReader.Read(p)
	if pos, _ := c.Seek(0, io.SeekCurrent); pos > c.high {
		c.sent.Add(pos - c.high)
		c.high = pos
	}
	return n, err
}
