# A static bindsync in a minimal non-root image.
#   docker build -t bindsync:0.1.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/bindsync ./cmd/bindsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bindsync /usr/local/bin/bindsync
USER 65532:65532
EXPOSE 9810
ENTRYPOINT ["/usr/local/bin/bindsync"]
CMD ["run", "--file", "/etc/bindsync/desired-state.yaml", "--log-format", "json"]
