variable "TAG" {
  default = "override"
}
target "default" {
  args      = { B = "3", C = "4" }
  platforms = ["linux/arm64"]
}
