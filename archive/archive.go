// Package archive reads the tar.gz backups Rewind restores into Docker volumes, and holds
// the one set of rules every entry must pass before any of it is written.
//
// Walk gunzips a backup, reads every entry once, checks it (Checker) and hands the caller
// each entry mapped into the volume (Layout), the same walk at pick time and at restore
// time. Normalize turns an entry's header into one the Docker Engine's extraction accepts:
// GNU tar's sparse entries (type 'S', refused by the engine as "unhandled tar header type
// 83") become regular files of their logical size.
//
// Refusals are typed (*UnsafeError, *CorruptError, *LimitError); ErrorType maps them to
// the Temporal error types declared here once.
package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
)

// Normalize returns the header to write for entry e (read as hdr) into the volume through
// the Docker Engine's archive API, or any tar extractor, with Go's tar writer:
//
//   - name and hard-link target mapped into the volume (the root is "./"), a symlink's
//     target as it was;
//   - a sparse file (GNU 'S', PAX sparse 0.0/0.1/1.0) or other regular type as a plain
//     regular file of its logical size, whose content is what Walk hands over (holes as
//     zeros); the GNU.sparse.* records are dropped. The engine's extraction has no sparse
//     support, so such a file comes back dense;
//   - mode, owner (ids and names), times, extended attributes (SCHILY.xattr.*) and any
//     other PAX record kept;
//   - format PAX, which Go's writer narrows to USTAR per entry when nothing needs more,
//     so long and non-ASCII names and link targets, sub-second times and xattrs survive.
//
// hdr is not changed; the result shares its Xattrs map, which Go's writer only reads.
func Normalize(hdr *tar.Header, e Entry) *tar.Header {
	out := *hdr
	out.Name = e.Path
	switch hdr.Typeflag {
	case tar.TypeReg, typeRegV7, tar.TypeCont, tar.TypeGNUSparse:
		out.Typeflag = tar.TypeReg
	case tar.TypeDir, typeGNUDumpDir:
		out.Typeflag = tar.TypeDir
		out.Name = dirName(e.Path)
		out.Size = 0
	case tar.TypeLink:
		out.Linkname = e.LinkPath
		out.Size = 0
	default:
		out.Size = 0
	}
	out.PAXRecords = keptPAXRecords(hdr.PAXRecords)
	out.Format = tar.FormatPAX
	return &out
}

func dirName(p string) string {
	if p == "." || p == "" {
		return "./"
	}
	return p + "/"
}

// keptPAXRecords drops the sparse map (the content is handed over whole) and the records
// the header's own fields carry.
func keptPAXRecords(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if strings.HasPrefix(k, "GNU.sparse.") || isHeaderFieldRecord(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(in))
		}
		out[k] = v
	}
	return out
}

// isHeaderFieldRecord says whether Go's writer derives record k from a Header field; a
// copy left in PAXRecords would be stale once Name or Linkname are mapped.
func isHeaderFieldRecord(k string) bool {
	switch k {
	case "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime":
		return true
	}
	return false
}

// Under returns a copy of hdr, a Normalize'd header, with its name and a hard link's
// target moved under dir ("data": "./" becomes "data/", "db/x" becomes "data/db/x").
//
// The Docker Engine's extraction skips an entry named "." (moby pkg/archive Unpack), so
// uploaded to /data the volume's root keeps the owner, mode and mtime it was created
// with — a PostgreSQL volume's 0700 999:999 root comes back 0755 root:root. Uploaded to
// "/" of the helper container with every name under "data", the root is an ordinary
// folder entry and comes back as the backup holds it.
func Under(dir string, hdr *tar.Header) *tar.Header {
	out := *hdr
	out.Name = path.Join(dir, hdr.Name)
	if hdr.Typeflag == tar.TypeDir {
		out.Name += "/"
	}
	if hdr.Typeflag == tar.TypeLink {
		out.Linkname = path.Join(dir, hdr.Linkname)
	}
	return &out
}

// WriteEntry writes e, normalized and moved under dir ("" for none, see Under), and its
// content to tw: the body of a visit that copies a backup into the engine's archive API.
// It returns the content bytes written.
func WriteEntry(tw *tar.Writer, dir string, e Entry, content io.Reader) (int64, error) {
	hdr := Normalize(e.Header, e)
	if dir != "" {
		hdr = Under(dir, hdr)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, fmt.Errorf("write header of %s: %w", e.Path, err)
	}
	if hdr.Size == 0 {
		return 0, nil
	}
	n, err := io.Copy(tw, content)
	if err != nil {
		return n, fmt.Errorf("write content of %s: %w", e.Path, err)
	}
	return n, nil
}
