variable "TAG" {
  default = "dev"
}
target "default" {
  tags       = ["app:${TAG}"]
  args       = { A = "1", B = "2" }
  cache-from = ["type=registry,ref=app:cache"]
  platforms  = ["linux/amd64"]
}
