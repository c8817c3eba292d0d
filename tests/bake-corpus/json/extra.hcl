target "db" {
  tags = ["db:extra"]
  no-cache-filter = ["deps", "deps", "build"]
}
