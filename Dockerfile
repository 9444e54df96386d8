# Builds the naq CLI; the compose stack runs its demo (docker-compose.yaml).
#   docker build -t naq .
#   docker run --rm naq naq health --url nats://host.docker.internal:4222

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/naq ./cmd/naq

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/naq /usr/local/bin/naq
EXPOSE 9464
USER nonroot:nonroot
CMD ["naq", "demo", "--url", "nats://nats:4222", "--metrics-addr", "0.0.0.0:9464"]
