target "pair" {
  name   = "pair-${os}-${arch}"
  matrix = { os = ["linux", "windows"], arch = ["amd64", "arm64"] }
  args   = { OS = os, ARCH = arch }
}
