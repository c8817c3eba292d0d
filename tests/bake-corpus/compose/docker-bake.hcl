target "web" {
  args = { EXTRA = "from-hcl" }
  tags = ["reg.example/web:hcl"]
}
