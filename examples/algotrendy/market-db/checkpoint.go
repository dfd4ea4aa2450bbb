package main

// QuestDB's CHECKPOINT CREATE / CHECKPOINT RELEASE, honoured by this SQLite stand-in.
//
// The first CHECKPOINT CREATE moves the database to WAL mode; each CREATE, with inserts
// held back for a moment, moves everything committed so far into the main file (wal_checkpoint(TRUNCATE)), then
// opens a read transaction and keeps it open. While a reader that took its snapshot from
// the main file alone is open, SQLite copies no WAL frame into the main file: inserts go
// on being accepted, into the WAL only, and market.sqlite stays a consistent image of the
// rows committed before CREATE. CHECKPOINT RELEASE ends the read transaction; the WAL is
// copied back as usual.
//
// A copy of the files taken in between carries a WAL of rows committed after CREATE (and
// perhaps a torn tail). To restore exactly the checkpoint, CREATE writes a marker into the
// volume (db/checkpoint) and the same random ID into this container's own filesystem
// (outside the volume); RELEASE removes both. On start, a marker in the volume without
// its twin in the container means the files are a copy taken in checkpoint mode: the WAL
// and its index are discarded (as QuestDB restores a checkpoint on its _restore file). A
// marker with its twin means this very container died in checkpoint mode: the WAL holds
// rows it committed and is kept. (A new container on a volume whose database died in
// checkpoint mode cannot tell itself from a restore and discards the WAL: release the
// checkpoint, as Rewind always does, before replacing the container.)

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
)

// checkpoints holds the database's checkpoint mode.
type checkpoints struct {
	db *sql.DB
	// volumeMark is in the data volume; liveMark in this container's own filesystem.
	volumeMark, liveMark string
	// writes serialises inserts with CREATE, so nothing commits between the TRUNCATE and
	// the reader's snapshot.
	writes sync.Mutex

	mu     sync.Mutex
	reader *sql.Conn
	tx     *sql.Tx
}

func newCheckpoints(db *sql.DB, dir string) *checkpoints {
	return &checkpoints{db: db, volumeMark: filepath.Join(dir, "checkpoint"), liveMark: filepath.Join(os.TempDir(), "market-db-checkpoint")}
}

// discardCopiedWAL runs before the database is opened: files copied in checkpoint mode
// restore to the checkpoint, without the WAL written after it.
func discardCopiedWAL(file string, c *checkpoints) error {
	id, err := os.ReadFile(c.volumeMark)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint marker: %w", err)
	}
	if live, err := os.ReadFile(c.liveMark); err == nil && string(live) == string(id) {
		log.Printf("market-db: this container stopped in checkpoint mode; its WAL is kept")
	} else {
		for _, f := range []string{file + "-wal", file + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("discard %s of a copy taken in checkpoint mode: %w", f, err)
			}
		}
		log.Printf("market-db: files copied in checkpoint mode: restored to the checkpoint, the WAL after it discarded")
	}
	_ = os.Remove(c.liveMark)
	return os.Remove(c.volumeMark)
}

// create enters checkpoint mode; entering it twice is refused as QuestDB refuses it.
func (c *checkpoints) create(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tx != nil {
		return errors.New("checkpoint already in progress")
	}
	c.writes.Lock()
	defer c.writes.Unlock()
	// The database runs in SQLite's rollback-journal mode, whose files stay byte for byte
	// as they are while nobody writes; the first checkpoint moves it to WAL mode (it stays
	// there), which lets inserts go on while the main file holds still.
	var mode string
	if err := c.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("move the database to WAL mode for the checkpoint (it is %q): %v", mode, err)
	}
	var busy, logFrames, done int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint the WAL: %w", err)
	}
	if busy != 0 {
		return errors.New("the WAL could not be checkpointed whole (readers busy); try again")
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{ReadOnly: true})
	if err == nil {
		// The snapshot is taken at the first read, from the main file alone.
		err = tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM market_data").Scan(new(int64))
	}
	if err != nil {
		if tx != nil {
			_ = tx.Rollback()
		}
		conn.Close()
		return fmt.Errorf("hold the checkpoint's snapshot: %w", err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	mark := []byte(hex.EncodeToString(id))
	// A FROM-scratch image has no /tmp until someone makes it.
	err = os.MkdirAll(filepath.Dir(c.liveMark), 0o755)
	if err == nil {
		err = os.WriteFile(c.liveMark, mark, 0o644)
	}
	if err == nil {
		err = writeSynced(c.volumeMark, mark)
	}
	if err != nil {
		_ = tx.Rollback()
		conn.Close()
		return fmt.Errorf("mark checkpoint mode: %w", err)
	}
	c.reader, c.tx = conn, tx
	return nil
}

// release leaves checkpoint mode; releasing none is done.
func (c *checkpoints) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.Remove(c.volumeMark); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unmark checkpoint mode: %w", err)
	}
	_ = os.Remove(c.liveMark)
	if c.tx == nil {
		return nil
	}
	_ = c.tx.Rollback()
	err := c.reader.Close()
	c.reader, c.tx = nil, nil
	return err
}

func writeSynced(name string, body []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
