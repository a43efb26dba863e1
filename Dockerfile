# A static bindsync in a minimal non-root image.
#   docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t bindsync:0.1.0 .
# The commit and date end up in `bindsync --version`, in bindsync_build_info
# and in the image's OCI labels.
FROM golang:1.26 AS build
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags="-s -w -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/bindsync ./cmd/bindsync

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="bindsync" \
      org.opencontainers.image.description="Keeps Alibaba Cloud Threat Analysis multicloud account bindings in line with a YAML file" \
      org.opencontainers.image.source="https://github.com/bindsync/bindsync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/bindsync /usr/local/bin/bindsync
USER 65532:65532
EXPOSE 9810
ENTRYPOINT ["/usr/local/bin/bindsync"]
CMD ["run", "--file", "/etc/bindsync/desired-state.yaml", "--log-format", "json"]
