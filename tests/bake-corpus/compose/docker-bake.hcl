variable "REGION" {}
target "web" {
  args = { EXTRA = "from-hcl", REGION = REGION }
  tags = ["reg.example/web:hcl"]
}
