# The Rewind worker image (docker-compose.temporal.yml). Build it where images can be
# pulled: docker build -t rewind-worker .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./worker && CGO_ENABLED=0 go build -trimpath -o /out/rewind ./starter

# What the rollbacks run on the host: the docker CLI with compose (quick, git, full),
# git (the code rollbacks), isal's igzip and pigz (restores and snapshots faster than
# tar) and CA certificates (S3, Slack, PagerDuty, Temporal Cloud over TLS). Git would refuse the host's checkouts,
# owned by another user than the container's.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends docker-cli docker-compose git isal pigz gzip tar ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*'
COPY --from=build /out/worker /out/rewind /usr/local/bin/
# Mounts it needs (see docker-compose.temporal.yml): /var/run/docker.sock, rewind.yaml,
# the stacks' checkouts and backups at their host paths, and /var/lib/rewind.
ENTRYPOINT ["/usr/local/bin/worker"]
