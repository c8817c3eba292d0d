variable "TAG" { default = "dev" }
variable "REGISTRY" { default = "reg.example" }
variable "DEBUG" { default = false }
variable "N" { default = 3 }
variable "EMPTY" {}
IMAGE = "${REGISTRY}/app"
group "default" { targets = ["app", "all"] }
group "all" { targets = ["api", "worker"] }
target "base" {
  dockerfile = "base.Dockerfile"
  args = { BASE = "alpine", DEBUG = DEBUG, N = N }
  platforms = ["linux/amd64"]
  cache-from = ["type=registry,ref=${IMAGE}:cache"]
  secret = ["id=npm,src=.npmrc"]
  labels = { "org.opencontainers.image.title" = upper("app") }
}
target "app" {
  inherits = ["base"]
  tags = ["${IMAGE}:${TAG}", "${IMAGE}:latest", join("-", ["a", "b"])]
  args = { EXTRA = "x${N + 1}", EMPTY = EMPTY }
  contexts = { deps = "target:deps" }
  cache-from = ["type=gha"]
  attest = ["type=provenance,mode=min", "type=sbom"]
  no-cache = DEBUG
}
target "deps" {
  output = ["type=local,dest=out"]
  target = "deps"
}
target "api" {
  inherits = ["app"]
  tags = [format("%s/api:%s", REGISTRY, TAG)]
  platforms = ["linux/amd64", "linux/arm64", "linux/amd64"]
}
target "worker" {
  context = "worker"
  dockerfile-inline = "FROM scratch\n"
  pull = true
}
