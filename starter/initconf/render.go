package initconf

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteSection writes the stack's section of rewind.yaml: a stacks: block to paste into
// an existing file.
func (s Stack) WriteSection(w io.Writer) error {
	var b yamlBuilder
	b.comment(0, "The stack `rewind init` wrote from the compose project, as `docker compose` resolves it.")
	b.comment(0, "Put "+s.Name+": under stacks: in the worker's rewind.yaml, check each TODO, then run")
	b.comment(0, "`rewind config check` and `rewind plan full --stack "+s.Name+" --severity P1`.")
	s.writeStack(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFile writes a whole rewind.yaml around the stack: Temporal, the worker, evidence,
// the stack, approvers to name and the runbook's approval policy.
func (s Stack) WriteFile(w io.Writer) error {
	var b yamlBuilder
	b.comment(0, "rewind.yaml written by `rewind init` from the compose project of stack "+s.Name+".")
	b.comment(0, "Check each TODO, then run `rewind config check --config <this file>` and")
	b.comment(0, "`rewind plan full --stack "+s.Name+" --severity P1 --config <this file>`.")
	b.comment(0, "rewind.example.yaml in Rewind's source explains every key; REWIND_<KEY> variables override any.")
	b.blank()
	b.line(0, "temporal:", "")
	b.line(2, "address: 127.0.0.1:7233", "TODO: the Temporal frontend; `make devserver` serves here, production: docker-compose.temporal.yml")
	b.line(2, "namespace: default", "")
	b.line(2, "task_queue: rewind", "")
	b.line(2, "ui_url: http://127.0.0.1:8233", "for the links the CLI prints")
	b.blank()
	b.line(0, "worker:", "")
	b.line(2, "host: "+scalar(s.Host), "this machine's name for the worker; stacks name theirs under host:")
	b.line(2, "listen: 127.0.0.1:9464", "/metrics and /healthz")
	b.line(2, "state_dir: .rewind/state", "transfer checkpoints, so a crashed restore resumes")
	b.blank()
	b.line(0, "evidence:", "")
	b.line(2, "dir: .rewind/evidence", "incidents/YYYYMMDD/<workflow>/ go below it; every worker of a namespace must share it")
	b.blank()
	s.writeStack(&b)
	b.blank()
	b.comment(0, "TODO: the people who start and approve rollbacks, by the runbook's roles, each with the SSH")
	b.comment(0, "public keys they sign with (`cat ~/.ssh/id_ed25519.pub`); one key, one person.")
	b.line(0, "approvers:", "")
	for _, a := range []struct{ name, role string }{
		{"todo-on-call", "on-call"}, {"todo-senior", "senior"}, {"todo-tech-lead", "tech-lead"}, {"todo-engineering-manager", "engineering-manager"},
	} {
		b.line(2, "- name: "+a.name, "TODO: their name, as they type it in `rewind approve --as`")
		b.line(4, "role: "+a.role, "")
		b.line(4, "keys: []", "TODO: [\"ssh-ed25519 AAAA... "+a.role+"@laptop\"]")
	}
	b.blank()
	b.line(0, "policy:", "")
	b.comment(2, "TODO: turn on once every approver has keys: until then anyone who can write to the")
	b.comment(2, "namespace can start and approve as a person without keys (`rewind config check` warns).")
	b.line(2, "require_signatures: false", "")
	b.line(2, `allowed_signers: ""`, "an OpenSSH allowed signers file with more keys, read at every start and decision")
	b.blank()
	b.line(0, "severity:", "the runbook's \"Rollback Authority & Escalation\"")
	b.line(2, "escalation: [on-call, senior, tech-lead, engineering-manager]", "")
	b.line(2, "levels:", "")
	b.line(4, "P1: {role: on-call, decision_time: 0s, hard_deadline: 0s}", "")
	b.line(4, "P2: {role: senior, decision_time: 15m, hard_deadline: 1h}", "")
	b.line(4, "P3: {role: tech-lead, decision_time: 1h, hard_deadline: 4h}", "")
	_, err := io.WriteString(w, b.String())
	return err
}

func (s Stack) writeStack(b *yamlBuilder) {
	b.line(0, "stacks:", "")
	b.line(2, s.Name+":", "")
	b.line(4, "project: "+scalar(s.Project), "compose project (label com.docker.compose.project)")
	b.line(4, "compose_files:", "in this order, as `docker compose -f` takes them")
	for _, f := range s.ComposeFiles {
		b.line(6, "- "+scalar(f), "")
	}
	b.line(4, "working_dir: "+scalar(s.WorkingDir), "")
	if s.Host == "" {
		b.line(4, `host: ""`, "TODO: the Docker host it runs on (`hostname` there); its worker polls rewind@<host>")
	} else {
		b.line(4, "host: "+scalar(s.Host), "where `rewind init` ran; its worker polls rewind@"+s.Host)
	}
	s.writeServices(b)
	s.writeVolumes(b)
	s.writeGrace(b)
	s.writeImage(b)
	s.writeBackups(b)
	s.writeChecks(b)
}

func (s Stack) writeServices(b *yamlBuilder) {
	names := make([]string, len(s.Services))
	for i, svc := range s.Services {
		names[i] = scalar(svc.Name)
	}
	b.line(4, "services: ["+strings.Join(names, ", ")+"]", "the stack is up when each runs and is healthy")
	for _, svc := range s.Services {
		var about []string
		if svc.Image != "" {
			about = append(about, "image "+svc.Image)
		}
		switch svc.Health {
		case "", "disabled":
			about = append(about, "no health check (Rewind can only see it run; add a healthcheck: to the compose file)")
		default:
			about = append(about, "health check `"+svc.Health+"`")
		}
		if len(svc.Ports) > 0 {
			var ports []string
			for _, p := range svc.Ports {
				ports = append(ports, p.String())
			}
			about = append(about, "publishes "+strings.Join(ports, ", "))
		}
		b.comment(4, "  "+svc.Name+": "+strings.Join(about, "; "))
	}
}

func (s Stack) writeVolumes(b *yamlBuilder) {
	if len(s.Volumes) == 0 {
		b.line(4, "volumes: []", "")
		b.comment(4, "TODO: no service mounts a named volume, and a full rollback restores named volumes only")
		b.comment(4, "(quick, git and emergency need none). To restore data with Rewind, keep it in a named")
		b.comment(4, "volume (top-level volumes: in the compose file) and list it here as `docker volume ls` names it.")
	} else {
		b.line(4, "volumes:", "")
	}
	for i, v := range s.Volumes {
		for _, line := range v.about(s.Project) {
			b.comment(6, line)
		}
		switch {
		case v.Guessed:
			b.comment(6, fmt.Sprintf("TODO: confirm its backups: none is named like %s; %s (%s) is the folder's only other family", backupPatterns(v)[0], v.Pattern, plural(v.Found, "backup")))
		case v.Found == 0 && s.Backups.Found:
			b.comment(6, "TODO: no backup in "+s.Backups.Dir+" matches "+v.Pattern+"; set the pattern of this volume's backups (`ls "+s.Backups.Dir+"`)")
		}
		b.line(6, "- name: "+scalar(v.Name), "")
		if i > 0 {
			b.line(8, "pattern: "+scalar(v.Pattern), v.patternNote())
		}
	}
	if len(s.Unused) > 0 {
		b.comment(4, "not listed, as no service mounts them: "+strings.Join(s.Unused, ", "))
	}
	for _, svc := range s.Services {
		if len(svc.Binds) > 0 {
			b.comment(4, "not listed, as Rewind restores named volumes only: "+svc.Name+" mounts host folder(s) "+strings.Join(svc.Binds, ", "))
		}
	}
}

// about says, in comment lines, how Docker names the volume, where its files are and
// which backups are its.
func (v Volume) about(project string) []string {
	var first string
	switch {
	case v.External:
		first = "external (made outside compose, named " + v.Name + " as is)"
	case v.Name == project+"_"+v.Key:
		first = "Docker names it <project>_" + v.Key
	default:
		first = "the compose file names it " + v.Name
	}
	first = v.Key + ", mounted by " + strings.Join(v.MountedBy, ", ") + ": " + first
	if v.Found > 0 && !v.Guessed {
		first += fmt.Sprintf("; %s match %s", plural(v.Found, "backup"), v.Pattern)
	}
	lines := []string{first}
	switch {
	case v.BindDevice() != "":
		lines = append(lines, "bind-backed (driver_opts type=none, o=bind): its files live in "+v.BindDevice()+" on the Docker",
			"host, so a full rollback copies restored data into it rather than renaming it")
	case len(v.DriverOpts) > 0 || cmp.Or(v.Driver, "local") != "local":
		var opts []string
		for _, k := range slices.Sorted(maps.Keys(v.DriverOpts)) {
			opts = append(opts, k+"="+v.DriverOpts[k])
		}
		what := "driver " + cmp.Or(v.Driver, "local")
		if len(opts) > 0 {
			what += " with " + strings.Join(opts, ", ")
		}
		lines = append(lines, what+": not a plain folder of the engine's, so a full rollback copies restored data into it")
	}
	return lines
}

// patternNote asks to confirm a pattern no backup was found to match.
func (v Volume) patternNote() string {
	if v.Found > 0 {
		return ""
	}
	return "TODO: confirm: the runbook's naming of " + v.Key + "'s backups"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func (s Stack) writeGrace(b *yamlBuilder) {
	if s.StopGracePeriod > 0 {
		b.line(4, "stop_grace_period: "+duration(s.StopGracePeriod), "the longest a service's stop_grace_period asks for")
		return
	}
	b.line(4, "stop_grace_period: 30s", "SIGTERM, then SIGKILL after this long (no service sets its own)")
}

func (s Stack) writeImage(b *yamlBuilder) {
	// The image a quick rollback removes is the application's: the service a health URL
	// would be on, else the first with an image.
	app, _, _ := s.healthPort()
	for _, svc := range s.Services {
		if app.Image == "" && svc.Image != "" {
			app = svc
		}
	}
	if app.Image != "" {
		b.comment(4, "image: "+scalar(app.Image)+"   # TODO (optional): the deployed image a quick rollback removes ("+app.Name+"'s)")
	}
	for _, svc := range s.Services {
		if svc.BuildContext == "" {
			continue
		}
		dockerfile := filepath.Join(svc.BuildContext, svc.Dockerfile)
		rel, err := filepath.Rel(s.WorkingDir, dockerfile)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = dockerfile
		}
		repo, _, _ := strings.Cut(cmp.Or(svc.Image, s.Project+"-"+svc.Name), ":")
		b.comment(4, "TODO (optional): build: {dockerfile: "+scalar(filepath.ToSlash(rel))+", image: "+scalar(repo)+"} rebuilds "+svc.Name+" in a git rollback (from working_dir)")
	}
}

func (s Stack) writeBackups(b *yamlBuilder) {
	bk := s.Backups
	b.line(4, "backups:", "")
	if bk.Found {
		b.comment(6, fmt.Sprintf("found by the runbook's naming: %s, %d with a .sha256 sidecar", plural(len(bk.Archives), "*.tar.gz backup"), bk.Sidecars))
	} else {
		b.comment(6, "TODO: no folder named like *backup* holding *.tar.gz was found in "+strings.Join(bk.Searched, ", ")+";")
		b.comment(6, "set the folder the backup job writes to (the runbook's is <app>/backups), or s3: {bucket: ..., prefix: ...}")
	}
	if len(bk.Others) > 0 {
		b.comment(6, "backups in the folder no volume above claims: "+strings.Join(bk.Others, ", "))
	}
	b.line(6, "dir: "+scalar(bk.Dir), "")
	if len(s.Volumes) > 0 {
		b.line(6, "pattern: "+scalar(s.Volumes[0].Pattern), cmp.Or(s.Volumes[0].patternNote(), "the backups of "+s.Volumes[0].Name))
	}
	switch {
	case bk.Found && bk.Sidecars == 0:
		b.line(6, "require_checksum: false", "TODO: no backup has a .sha256 sidecar; have the backup job write one (sha256sum b.tar.gz > b.tar.gz.sha256), then set true")
	default:
		b.line(6, "require_checksum: true", "refuse a backup without its .sha256 sidecar, as the runbook checks sha256")
	}
}

func (s Stack) writeChecks(b *yamlBuilder) {
	b.line(4, "checks:", "")
	if svc, port, ok := s.healthPort(); ok {
		url := "http://" + port.localHost() + ":" + port.Published + "/health"
		b.comment(6, "TODO: confirm: suggested by "+svc.Name+"'s published port "+port.Published+"; `curl -i "+url+"` should answer 200")
		b.line(6, "health_url: "+scalar(url), "")
		b.comment(6, "health_expect: Healthy           # optional: text the health answer must hold")
	} else {
		b.comment(6, "TODO: no service publishes a port, so no health URL is suggested; set health_url: to an")
		b.comment(6, "endpoint the worker's host reaches, or rely on the compose health checks")
	}
	if svc, port, kind, ok := s.databasePort(); ok {
		b.comment(6, "TODO (optional): check the data after a restore, through "+svc.Name+"'s "+kind+":")
		switch kind {
		case "PostgreSQL":
			b.comment(6, "database_url: postgres://USER@"+port.localHost()+":"+port.Published+"/DATABASE   # the password from PGPASSWORD or ~/.pgpass, never here")
		default:
			b.comment(6, "database_url: http://"+port.localHost()+":"+port.Published)
		}
		b.comment(6, "data_query: SELECT COUNT(*) FROM <a table that is never empty>")
	}
	b.line(6, "health_timeout: 5m", "the runbook's \"services fail to start after 5 minutes\"")
}

// healthPort picks the port a health URL is most likely on: the first published TCP port
// of a service that keeps no data (an API rather than its database), else of any service.
func (s Stack) healthPort() (Service, Port, bool) {
	for _, stateless := range []bool{true, false} {
		for _, svc := range s.Services {
			if stateless && len(svc.Volumes) > 0 {
				continue
			}
			for _, p := range svc.Ports {
				if p.Protocol == "tcp" {
					return svc, p, true
				}
			}
		}
	}
	return Service{}, Port{}, false
}

// databasePort finds a database the data check could ask, by its image and port.
func (s Stack) databasePort() (Service, Port, string, bool) {
	for _, svc := range s.Services {
		for _, p := range svc.Ports {
			switch {
			case strings.Contains(svc.Image, "postgres") && p.Target == 5432:
				return svc, p, "PostgreSQL", true
			case strings.Contains(svc.Image, "questdb") && p.Target == 9000:
				return svc, p, "QuestDB HTTP API", true
			}
		}
	}
	return Service{}, Port{}, "", false
}

// String is the port as `docker ps` shows it.
func (p Port) String() string {
	host := p.Published
	if p.HostIP != "" {
		host = p.HostIP + ":" + p.Published
	}
	return fmt.Sprintf("%s->%d/%s", host, p.Target, p.Protocol)
}

// localHost is where the worker on the Docker host reaches the port.
func (p Port) localHost() string {
	switch p.HostIP {
	case "", "0.0.0.0", "::":
		return "127.0.0.1"
	}
	if strings.Contains(p.HostIP, ":") {
		return "[" + p.HostIP + "]"
	}
	return p.HostIP
}

func duration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

var plainScalar = regexp.MustCompile(`^[A-Za-z0-9/_.][A-Za-z0-9_./@+:-]*$`)

// scalar is s as a YAML value: bare when YAML reads it back as the same string, else
// double-quoted (a JSON string is a YAML double-quoted scalar).
func scalar(s string) string {
	_, numErr := strconv.ParseFloat(s, 64)
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		numErr = nil
	}
	if plainScalar.MatchString(s) && numErr != nil && !strings.HasSuffix(s, ":") && !strings.Contains(s, ": ") {
		return s
	}
	q, _ := json.Marshal(s)
	return string(q)
}

// yamlBuilder writes lines at an indent, with comments aligned after the value.
type yamlBuilder struct{ strings.Builder }

const commentColumn = 36

func (b *yamlBuilder) line(indent int, text, comment string) {
	l := strings.Repeat(" ", indent) + text
	if comment != "" {
		l += strings.Repeat(" ", max(2, commentColumn-len(l))) + "# " + comment
	}
	b.WriteString(l + "\n")
}

func (b *yamlBuilder) comment(indent int, text string) {
	b.WriteString(strings.Repeat(" ", indent) + "# " + text + "\n")
}

func (b *yamlBuilder) blank() { b.WriteString("\n") }
