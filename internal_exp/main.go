package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

func main() {
	for _, name := range []string{"pgzip", "kgzip"} {
		f, _ := os.Open(os.Args[1])
		start := time.Now()
		var r io.Reader
		if name == "pgzip" {
			z, _ := pgzip.NewReader(f)
			r = z
		} else {
			z, _ := kgzip.NewReader(f)
			r = z
		}
		tr := tar.NewReader(r)
		n := 0
		for {
			_, err := tr.Next()
			if err != nil {
				break
			}
			io.Copy(io.Discard, tr)
			n++
		}
		fmt.Println(name, n, time.Since(start))
		f.Close()
	}
}
