# The Rewind worker image for docker-compose.temporal.yml. Build it where a Go toolchain
# image can be pulled: docker build -t rewind-worker .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./worker && CGO_ENABLED=0 go build -trimpath -o /out/rewind ./starter

FROM scratch
COPY --from=build /out/worker /out/rewind /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/worker"]
