package config

import (
	"net/url"
	"slices"
	"strings"
)

// backupProblems checks how `rewind backup` makes the stack's backups: the consistency
// mode, and for a checkpoint the database URL it is taken through.
func backupProblems(key string, s Stack, add func(key, got, want string)) {
	b := s.Backups
	modes := ConsistencyModes()
	if b.Consistency != "" && !slices.Contains(modes, b.Consistency) {
		add(key+".consistency", quote(b.Consistency), strings.Join(modes, ", ")+
			" (checkpoint: the database's own CHECKPOINT CREATE/RELEASE; pause: docker pause of the database's containers, the default; stop: the stack's services stopped for the copy)")
	}
	if b.DatabaseURL != "" {
		if u, err := url.Parse(b.DatabaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(key+".database_url", quote(b.DatabaseURL), "the database's HTTP API that answers /exec?query=, like http://127.0.0.1:9000")
		} else if secret := urlSecret(b.DatabaseURL); secret != "" {
			add(key+".database_url", "a URL with "+secret, "a URL without the secret: it would be recorded in every backup's history")
		}
	}
	if err := b.Keep.Validate(); err != nil {
		add(key+".keep", err.Error(), "counts of 0 or more (last, daily, weekly, monthly), as restic's forget --keep-* takes")
	}
	if b.MaxAge < 0 {
		add(key+".max_age", b.MaxAge.String(), "a duration like 26h (page when the newest proven backup is older), or 0 for never")
	}
	if b.Consistency == ConsistencyCheckpoint {
		if u, err := url.Parse(s.CheckpointURL()); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			add(key+".database_url", quote(s.CheckpointURL()), "the database's HTTP /exec API (like http://127.0.0.1:9000) for consistency: checkpoint; checks.database_url is used when this is empty")
		}
	}
}
