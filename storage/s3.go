package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/meter"
)

// S3 is a bucket (and prefix) of an S3 or S3-compatible server, reached with the default
// AWS credential chain.
type S3 struct {
	loc    Location
	client *s3.Client
}

// NewS3 builds a client from the default AWS credential chain.
func NewS3(ctx context.Context, l Location) (*S3, error) {
	if l.Bucket == "" {
		return nil, errors.New("an S3 store needs a bucket")
	}
	region := l.Region
	if region == "" {
		region = "us-east-1"
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("load AWS credentials for s3://%s: %w", l.Bucket, err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = l.UsePathStyle
		if l.Endpoint != "" {
			o.BaseEndpoint = aws.String(l.Endpoint)
			// S3-compatible servers often lack the newer flexible checksums.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	if l.PartSize <= 0 {
		l.PartSize = defaultPartSize
	}
	return &S3{loc: l, client: client}, nil
}

// Describe names the bucket and prefix.
func (s *S3) Describe() string { return "s3://" + s.loc.Bucket + "/" + s.loc.Prefix }

// Location is the object's address.
func (s *S3) Location(name string) string { return strings.TrimRight(s.Describe(), "/") + "/" + name }

func (s *S3) key(name string) *string { return aws.String(s.loc.Prefix + name) }

// explain adds what an operator should check to S3's own error.
func (s *S3) explain(verb, name string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s %s%s: %w", verb, s.Describe(), name, ErrNotFound)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "AllAccessDisabled":
			// Retrying cannot fix a bucket name or credentials: say so at once.
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s %s%s: %s: %s; check the bucket name and the worker's AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, instance role)",
				verb, s.Describe(), name, apiErr.ErrorCode(), apiErr.ErrorMessage()), failure.StoreConfig, err)
		}
	}
	return fmt.Errorf("%s %s%s: %w", verb, s.Describe(), name, err)
}

// List returns the objects under the store's prefix whose names start with prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.loc.Bucket, Prefix: s.key(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.explain("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{
				Name: strings.TrimPrefix(aws.ToString(o.Key), s.loc.Prefix), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	return out, nil
}

// Stat describes one object.
func (s *S3) Stat(ctx context.Context, name string) (Object, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: s.key(name)})
	if err != nil {
		return Object{}, s.explain("stat", name, err)
	}
	return Object{Name: name, Size: aws.ToInt64(h.ContentLength), ModTime: aws.ToTime(h.LastModified)}, nil
}

// Open reads an object from offset on with a ranged GET.
func (s *S3) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: s.key(name)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, s.explain("read", name, err)
	}
	return out.Body, nil
}

// Put stores r: in one PUT when it fits a part, else staged in a temporary file and
// uploaded in parts.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	head, err := io.ReadAll(io.LimitReader(contextReader{ctx, r}, s.loc.PartSize+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(head)) <= s.loc.PartSize {
		return s.upload(ctx, name, bytes.NewReader(head), int64(len(head)), UploadCheckpoint{}, func(UploadCheckpoint) {})
	}
	f, err := os.CreateTemp("", "rewind-put-*")
	if err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, io.MultiReader(bytes.NewReader(head), contextReader{ctx, r})); err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	return s.PutFile(ctx, name, f.Name(), UploadCheckpoint{}, func(UploadCheckpoint) {})
}

// Create stores body with a conditional PUT (If-None-Match: *): S3 refuses it with 412
// Precondition Failed when the key exists, whoever wrote it.
func (s *S3) Create(ctx context.Context, name string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.loc.Bucket, Key: s.key(name),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), IfNoneMatch: aws.String("*")})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" {
		return fmt.Errorf("create %s%s: %w", s.Describe(), name, ErrExists)
	}
	if err != nil {
		return s.explain("create", name, err)
	}
	return nil
}

// PutFile uploads file, continuing from cp.
func (s *S3) PutFile(ctx context.Context, name, file string, cp UploadCheckpoint, saved func(UploadCheckpoint)) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return s.upload(ctx, name, f, st.Size(), cp, saved)
}

// upload stores src as one object: a single PUT when small, else a multipart upload that
// continues from the checkpoint's upload ID and finished parts.
func (s *S3) upload(ctx context.Context, name string, src io.ReaderAt, size int64, cp UploadCheckpoint, saved func(UploadCheckpoint)) error {
	key := s.key(name)
	if size <= s.loc.PartSize {
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.loc.Bucket, Key: key, Body: sentOnce(ctx, src, 0, size), ContentLength: aws.Int64(size)}); err != nil {
			return s.explain("upload", name, err)
		}
		saved(UploadCheckpoint{Offset: size})
		return nil
	}
	if cp.UploadID != "" {
		// The server's list of parts is the truth; heartbeats may lag behind it.
		var err error
		if cp, err = s.storedParts(ctx, key, cp.UploadID); err != nil {
			// The upload expired or was aborted: start over.
			cp = UploadCheckpoint{}
		}
	}
	if cp.UploadID == "" {
		out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.loc.Bucket, Key: key})
		if err != nil {
			return s.explain("start upload of", name, err)
		}
		cp = UploadCheckpoint{UploadID: aws.ToString(out.UploadId)}
		saved(cp)
	}
	for cp.Offset < size {
		n := min(s.loc.PartSize, size-cp.Offset)
		num := int32(len(cp.Parts) + 1)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.loc.Bucket, Key: key, UploadId: &cp.UploadID, PartNumber: aws.Int32(num),
			Body: sentOnce(ctx, src, cp.Offset, n), ContentLength: aws.Int64(n),
		})
		if err != nil {
			return s.explain(fmt.Sprintf("upload part %d of", num), name, err)
		}
		cp.Parts = append(cp.Parts, Part{Number: num, ETag: aws.ToString(out.ETag), Size: n})
		cp.Offset += n
		saved(cp)
	}
	parts := make([]types.CompletedPart, len(cp.Parts))
	for i, p := range cp.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.loc.Bucket, Key: key, UploadId: &cp.UploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return s.explain("finish upload of", name, err)
	}
	return nil
}

// storedParts rebuilds a checkpoint from the parts the server holds: the run of whole parts
// numbered 1, 2, 3... A part cut short by a crash ends the run and is sent again.
func (s *S3) storedParts(ctx context.Context, key *string, uploadID string) (UploadCheckpoint, error) {
	cp := UploadCheckpoint{UploadID: uploadID}
	byNumber := map[int32]types.Part{}
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.loc.Bucket, Key: key, UploadId: &uploadID})
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
		if !ok || aws.ToInt64(part.Size) != s.loc.PartSize {
			return cp, nil
		}
		cp.Parts = append(cp.Parts, Part{Number: n, ETag: aws.ToString(part.ETag), Size: s.loc.PartSize})
		cp.Offset += s.loc.PartSize
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
